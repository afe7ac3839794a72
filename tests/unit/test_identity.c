/* Identity extraction from certificate chains: the profile's rules, one case
 * a row. Certificates are made here in memory with the OpenSSL API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "tr_error.h"
#include "tr_identity.h"

static EVP_PKEY *key;

static X509 *make_cert(X509 *issuer, const char *o, const char *ou, const char *cn, bool ca,
                       const char *eku)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    if (o)
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)o, -1, -1, 0);
    if (ou)
        X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_UTF8, (const unsigned char *)ou, -1, -1, 0);
    if (cn)
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                                              ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    if (eku) {
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, eku);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_sign(x, key, EVP_sha256());
    return x;
}

typedef struct {
    const char *what;
    const char *ca_o, *ca_ou;
    const char *o, *ou, *cn;
    bool leaf_is_ca;
    const char *eku;
    int chain_len;
    int want; /* 0 or TR_E_IDENTITY */
    tr_role_t role;
} row_t;

static const row_t rows[] = {
    {"agent", "alpha", "ca", "alpha", "agent", "laptop-1", false, "clientAuth", 3, 0,
     TR_ROLE_AGENT},
    {"node", "alpha", "ca", "alpha", "node", "node1", false, "serverAuth,clientAuth", 3, 0,
     TR_ROLE_NODE},
    {"leaf claims another org", "alpha", "ca", "beta", "agent", "x", false, "clientAuth", 3,
     TR_E_IDENTITY, TR_ROLE_NONE},
    {"CA not OU=ca", "alpha", "people", "alpha", "agent", "x", false, "clientAuth", 3,
     TR_E_IDENTITY, TR_ROLE_NONE},
    {"unknown role", "alpha", "ca", "alpha", "admin", "x", false, "clientAuth", 3, TR_E_IDENTITY,
     TR_ROLE_NONE},
    {"no OU", "alpha", "ca", "alpha", NULL, "x", false, "clientAuth", 3, TR_E_IDENTITY,
     TR_ROLE_NONE},
    {"no CN", "alpha", "ca", "alpha", "agent", NULL, false, "clientAuth", 3, TR_E_IDENTITY,
     TR_ROLE_NONE},
    {"bad CN", "alpha", "ca", "alpha", "agent", "Bad Name", false, "clientAuth", 3, TR_E_IDENTITY,
     TR_ROLE_NONE},
    {"bad org", "Alpha Org", "ca", "Alpha Org", "agent", "x", false, "clientAuth", 3, TR_E_IDENTITY,
     TR_ROLE_NONE},
    {"leaf is a CA", "alpha", "ca", "alpha", "agent", "x", true, "clientAuth", 3, TR_E_IDENTITY,
     TR_ROLE_NONE},
    {"server-only EKU", "alpha", "ca", "alpha", "node", "x", false, "serverAuth", 3, TR_E_IDENTITY,
     TR_ROLE_NONE},
    {"no EKU at all", "alpha", "ca", "alpha", "agent", "x", false, NULL, 3, TR_E_IDENTITY,
     TR_ROLE_NONE},
    {"chain too short", "alpha", "ca", "alpha", "agent", "x", false, "clientAuth", 2, TR_E_IDENTITY,
     TR_ROLE_NONE},
};

static void test_rows(void **state)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const row_t *r = &rows[i];
        X509 *root = make_cert(NULL, "consortium", "root", "Root", true, NULL);
        X509 *org = make_cert(root, r->ca_o, r->ca_ou, "org CA", true, NULL);
        X509 *leaf = make_cert(org, r->o, r->ou, r->cn, r->leaf_is_ca, r->eku);
        STACK_OF(X509) *chain = sk_X509_new_null();
        sk_X509_push(chain, leaf);
        if (r->chain_len >= 2)
            sk_X509_push(chain, org);
        if (r->chain_len >= 3)
            sk_X509_push(chain, root);
        tr_identity_t id;
        char why[96] = "";
        int rc = tr_identity_from_chain(chain, &id, why, sizeof(why));
        if (rc != r->want)
            fail_msg("%s: got %d (%s), want %d", r->what, rc, why, r->want);
        if (rc == 0) {
            assert_int_equal(id.role, r->role);
            assert_string_equal(id.org, r->o);
            assert_string_equal(id.name, r->cn);
            assert_int_equal(strlen(id.fingerprint), 64);
        } else {
            assert_true(why[0] != '\0');
        }
        sk_X509_free(chain);
        X509_free(leaf);
        X509_free(org);
        X509_free(root);
    }
}

static void test_duplicate_o_refused(void **state)
{
    X509 *x = make_cert(NULL, "alpha", "agent", "x", false, NULL);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_UTF8,
                               (const unsigned char *)"beta", -1, -1, 0);
    char out[64];
    assert_int_equal(tr_cert_subject_field(x, NID_organizationName, out, sizeof(out)),
                     TR_E_IDENTITY);
    X509_free(x);
}

static void test_names(void **state)
{
    assert_true(tr_name_valid("northside-refuge"));
    assert_true(tr_name_valid("a"));
    assert_true(tr_name_valid("node-01"));
    assert_false(tr_name_valid(""));
    assert_false(tr_name_valid("-lead"));
    assert_false(tr_name_valid("Upper"));
    assert_false(tr_name_valid("dot.name"));
    assert_false(tr_name_valid("slash/name"));
    char long_name[80];
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    assert_false(tr_name_valid(long_name));
    long_name[63] = '\0';
    assert_true(tr_name_valid(long_name));
}

static int setup(void **state)
{
    key = EVP_EC_gen("P-256");
    return key ? 0 : -1;
}

static int teardown(void **state)
{
    EVP_PKEY_free(key);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_duplicate_o_refused),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
