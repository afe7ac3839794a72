/* Reading the agent's identity from its certificate chain and the root. */
#include "agent_identity.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

static int read_certs(const char *path, STACK_OF(X509) * sk, int max, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    X509 *x;
    int n = 0;
    while (n < max && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        sk_X509_push(sk, x);
        n++;
    }
    ERR_clear_error();
    fclose(f);
    if (n == 0) {
        snprintf(err, err_len, "%s holds no PEM certificate", path);
        return -1;
    }
    return n;
}

int agent_identity(const agent_config_t *c, tr_identity_t *id, char *err, size_t err_len)
{
    if (!c->cert || !c->ca) {
        snprintf(err, err_len, "which certificate? set [node] cert and ca (--cert, --ca)");
        return -1;
    }
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (!sk)
        abort();
    int rc = -1;
    int n = read_certs(c->cert, sk, 3, err, err_len);
    if (n < 0)
        goto done;
    if (n < 3 && read_certs(c->ca, sk, 1, err, err_len) < 0)
        goto done;
    char why[160] = "";
    if (tr_identity_from_chain(sk, id, why, sizeof(why)) != 0) {
        snprintf(err, err_len, "%s is not a Trellis agent certificate chain: %s", c->cert, why);
        goto done;
    }
    if (id->role != TR_ROLE_AGENT) {
        snprintf(err, err_len,
                 "%s is a %s certificate; the agent needs an agent certificate "
                 "(trellis pki issue-agent)",
                 c->cert, tr_role_name(id->role));
        goto done;
    }
    rc = 0;
done:
    sk_X509_pop_free(sk, X509_free);
    return rc;
}
