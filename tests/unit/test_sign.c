/* Record signatures: sign, verify, and every way a forgery must fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "tr_canon.h"
#include "tr_error.h"
#include "tr_identity.h"
#include "tr_sign.h"

static X509 *self_signed(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)"node", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_sign(x, key, EVP_sha256());
    return x;
}

static json_t *record(void)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:{s:s, s:[s, s], s:i}}", "kind", "pathway.referral",
                     "id", "0b6b6a3e-2f55-4b8e-9a0f-3f3c2f1d9a10", "origin", "alpha", "version", 1,
                     "body", "week", "2026-W47", "needs", "refuge", "legal", "n", 3);
}

typedef struct {
    EVP_PKEY *key, *other_key;
    X509 *cert, *other_cert;
    char fp[65];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->key = EVP_EC_gen("P-256");
    f->other_key = EVP_EC_gen("P-256");
    f->cert = self_signed(f->key);
    f->other_cert = self_signed(f->other_key);
    tr_cert_fingerprint(f->cert, f->fp);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    X509_free(f->cert);
    X509_free(f->other_cert);
    EVP_PKEY_free(f->key);
    EVP_PKEY_free(f->other_key);
    free(f);
    return 0;
}

static void test_sign_and_verify(void **state)
{
    fixture_t *f = *state;
    json_t *doc = record();
    assert_int_equal(tr_record_sign(doc, f->key, f->fp), 0);
    assert_string_equal(json_string_value(json_object_get(doc, "signer")), f->fp);
    assert_non_null(json_string_value(json_object_get(doc, "sig")));
    assert_int_equal(tr_record_verify(doc, f->cert), 0);
    /* Member order does not matter: the signature covers canonical JSON. */
    char *text = json_dumps(doc, JSON_COMPACT);
    json_t *again = json_loads(text, 0, NULL);
    assert_int_equal(tr_record_verify(again, f->cert), 0);
    free(text);
    json_decref(again);
    json_decref(doc);
}

static void test_forgeries_fail(void **state)
{
    fixture_t *f = *state;
    json_t *doc = record();
    assert_int_equal(tr_record_sign(doc, f->key, f->fp), 0);

    json_t *altered = json_deep_copy(doc);
    json_object_set_new(json_object_get(altered, "body"), "week", json_string("2026-W48"));
    assert_int_equal(tr_record_verify(altered, f->cert), TR_E_CERT);

    json_t *other_origin = json_deep_copy(doc);
    json_object_set_new(other_origin, "origin", json_string("beta"));
    assert_int_equal(tr_record_verify(other_origin, f->cert), TR_E_CERT);

    /* The right signature checked against another certificate. */
    assert_int_equal(tr_record_verify(doc, f->other_cert), TR_E_CERT);

    json_t *no_sig = json_deep_copy(doc);
    json_object_del(no_sig, "sig");
    assert_int_equal(tr_record_verify(no_sig, f->cert), TR_E_CERT);

    json_t *garbage = json_deep_copy(doc);
    json_object_set_new(garbage, "sig", json_string("not base64!"));
    assert_int_equal(tr_record_verify(garbage, f->cert), TR_E_CERT);

    json_decref(altered);
    json_decref(other_origin);
    json_decref(no_sig);
    json_decref(garbage);
    json_decref(doc);
}

static void test_content_hash_ignores_signature(void **state)
{
    fixture_t *f = *state;
    json_t *a = record(), *b = record();
    char fp2[65], ha[65], hb[65], hplain[65];
    tr_cert_fingerprint(f->other_cert, fp2);
    assert_int_equal(tr_record_content_hash(a, hplain), 0);
    assert_int_equal(tr_record_sign(a, f->key, f->fp), 0);
    assert_int_equal(tr_record_sign(b, f->other_key, fp2), 0);
    assert_int_equal(tr_record_content_hash(a, ha), 0);
    assert_int_equal(tr_record_content_hash(b, hb), 0);
    assert_string_equal(ha, hb);
    assert_string_equal(ha, hplain);
    json_decref(a);
    json_decref(b);
}

/* The one-dump path gives exactly what the long way gives: the same hash,
 * canonical text, a signature that verifies; and it refuses what it cannot
 * do, for the caller to take the long way. */
static void test_seal_matches_the_long_way(void **state)
{
    fixture_t *f = *state;
    tr_signer_t *signer = tr_signer_new(f->key, f->fp);
    assert_non_null(signer);
    json_t *doc = record();
    /* A body key that sorts after "version" and a string that looks like the tail. */
    json_object_set_new(json_object_get(doc, "body"), "zz", json_string(",\"version\":9}"));
    char hash[65], want[65], *text;
    size_t len;
    assert_int_equal(tr_signer_seal(signer, doc, hash, &text, &len), 0);
    assert_null(json_object_get(doc, "sig"));
    assert_int_equal(tr_record_content_hash(doc, want), 0);
    assert_string_equal(hash, want);
    json_t *stored = json_loadb(text, len, 0, NULL);
    assert_non_null(stored);
    char *canon;
    size_t canon_len;
    assert_int_equal(tr_canon_dump(stored, &canon, &canon_len), 0);
    assert_int_equal(canon_len, len);
    assert_memory_equal(canon, text, len);
    assert_string_equal(json_string_value(json_object_get(stored, "signer")), f->fp);
    assert_int_equal(tr_record_verify(stored, f->cert), 0);
    assert_int_equal(tr_record_verify(stored, f->other_cert), TR_E_CERT);

    /* Already signed: not for this path. */
    assert_int_equal(tr_record_sign(doc, f->other_key, f->fp), 0);
    char *none = NULL;
    assert_int_equal(tr_signer_seal(signer, doc, hash, &none, &len), TR_E_INVAL);
    assert_null(none);
    free(canon);
    free(text);
    json_decref(stored);
    json_decref(doc);
    tr_signer_free(signer);
}

/* With the origin's audience and signing time, as a node seals its agents'
 * records: the stored text is canonical (sig sorts before signed_at), the
 * signature covers both, and the hash leaves both out (a record posted again
 * later is the same record). */
static void test_seal_with_audience_and_time(void **state)
{
    fixture_t *f = *state;
    tr_signer_t *signer = tr_signer_new(f->key, f->fp);
    assert_non_null(signer);
    json_t *doc = record();
    char plain[65], hash[65], *text;
    size_t len;
    assert_int_equal(tr_record_content_hash(doc, plain), 0);
    json_object_set_new(doc, "audience", json_pack("[s,s]", "a-org", "b-org"));
    json_object_set_new(doc, "signed_at", json_integer(1764806400));
    assert_int_equal(tr_signer_seal(signer, doc, hash, &text, &len), 0);
    assert_string_equal(hash, plain);
    json_t *stored = json_loadb(text, len, 0, NULL);
    assert_non_null(stored);
    char *canon;
    size_t canon_len;
    assert_int_equal(tr_canon_dump(stored, &canon, &canon_len), 0);
    assert_int_equal(canon_len, len);
    assert_memory_equal(canon, text, len);
    assert_int_equal(tr_record_verify(stored, f->cert), 0);
    /* Widening the audience or moving the time breaks the signature. */
    json_array_append_new(json_object_get(stored, "audience"), json_string("c-org"));
    assert_int_equal(tr_record_verify(stored, f->cert), TR_E_CERT);
    json_array_remove(json_object_get(stored, "audience"), 2);
    assert_int_equal(tr_record_verify(stored, f->cert), 0);
    json_object_set_new(stored, "signed_at", json_integer(1764806401));
    assert_int_equal(tr_record_verify(stored, f->cert), TR_E_CERT);
    free(canon);
    free(text);
    json_decref(stored);
    json_decref(doc);
    tr_signer_free(signer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_and_verify),
        cmocka_unit_test(test_forgeries_fail),
        cmocka_unit_test(test_content_hash_ignores_signature),
        cmocka_unit_test(test_seal_matches_the_long_way),
        cmocka_unit_test(test_seal_with_audience_and_time),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
