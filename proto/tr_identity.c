/* Reading a Trellis identity out of a verified certificate chain. The rules
 * are those of docs/certificate-profile.md; keep the two in step. */
#include "tr_identity.h"
#include "tr_error.h"

#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

bool tr_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TR_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
        if (!ok)
            return false;
    }
    return true;
}

const char *tr_role_name(tr_role_t role)
{
    switch (role) {
    case TR_ROLE_NODE:
        return "node";
    case TR_ROLE_AGENT:
        return "agent";
    default:
        return "none";
    }
}

int tr_cert_subject_field(X509 *cert, int nid, char *out, size_t out_len)
{
    X509_NAME *subj = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(subj, nid, -1);
    if (idx < 0)
        return TR_E_IDENTITY;
    /* Exactly one of each field: a second O or OU would make the profile ambiguous. */
    if (X509_NAME_get_index_by_NID(subj, nid, idx) >= 0)
        return TR_E_IDENTITY;
    ASN1_STRING *val = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, val);
    if (len < 0)
        return TR_E_IDENTITY;
    int rc = TR_E_IDENTITY;
    if ((size_t)len < out_len && memchr(utf8, '\0', (size_t)len) == NULL) {
        memcpy(out, utf8, (size_t)len);
        out[len] = '\0';
        rc = 0;
    }
    OPENSSL_free(utf8);
    return rc;
}

int tr_cert_fingerprint(X509 *cert, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!X509_digest(cert, EVP_sha256(), md, &n) || n != 32)
        return TR_E_CERT;
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static int fail(char *why, size_t why_len, const char *reason)
{
    if (why && why_len)
        snprintf(why, why_len, "%s", reason);
    return TR_E_IDENTITY;
}

int tr_identity_from_chain(STACK_OF(X509) * chain, tr_identity_t *id, char *why, size_t why_len)
{
    memset(id, 0, sizeof(*id));
    if (!chain || sk_X509_num(chain) != 3)
        return fail(why, why_len, "chain must be leaf, organisation CA, consortium root");
    X509 *leaf = sk_X509_value(chain, 0);
    X509 *org_ca = sk_X509_value(chain, 1);

    char ca_org[TR_NAME_MAX + 1], ca_ou[16], ou[16];
    if (tr_cert_subject_field(org_ca, NID_organizationName, ca_org, sizeof(ca_org)) != 0 ||
        !tr_name_valid(ca_org))
        return fail(why, why_len, "organisation CA has no valid O");
    if (tr_cert_subject_field(org_ca, NID_organizationalUnitName, ca_ou, sizeof(ca_ou)) != 0 ||
        strcmp(ca_ou, "ca") != 0)
        return fail(why, why_len, "organisation CA is not OU=ca");
    if (tr_cert_subject_field(leaf, NID_organizationName, id->org, sizeof(id->org)) != 0 ||
        strcmp(id->org, ca_org) != 0)
        /* An organisation can only issue for itself: the leaf's O must be its CA's O. */
        return fail(why, why_len, "leaf O differs from its organisation CA");
    if (tr_cert_subject_field(leaf, NID_commonName, id->name, sizeof(id->name)) != 0 ||
        !tr_name_valid(id->name))
        return fail(why, why_len, "leaf has no valid CN");
    if (tr_cert_subject_field(leaf, NID_organizationalUnitName, ou, sizeof(ou)) != 0)
        return fail(why, why_len, "leaf has no OU");
    if (strcmp(ou, "node") == 0)
        id->role = TR_ROLE_NODE;
    else if (strcmp(ou, "agent") == 0)
        id->role = TR_ROLE_AGENT;
    else
        return fail(why, why_len, "leaf OU is neither node nor agent");
    if (X509_check_ca(leaf) != 0)
        return fail(why, why_len, "leaf is a CA");
    if (!(X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) ||
        !(X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT))
        return fail(why, why_len, "leaf lacks clientAuth");
    if (tr_cert_fingerprint(leaf, id->fingerprint) != 0)
        return fail(why, why_len, "cannot fingerprint leaf");
    return 0;
}
