/* Canonical JSON: fixed byte vectors (the bytes are the contract signatures
 * depend on), key-order independence, the refusals, and a 1 MB document. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tr_canon.h"
#include "tr_error.h"

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!v)
        fail_msg("bad test JSON (%s): %s", err.text, text);
    return v;
}

static void assert_canon(const json_t *v, const char *want, size_t want_len)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(tr_canon_dump(v, &out, &len), 0);
    assert_non_null(out);
    if (len != want_len || memcmp(out, want, len) != 0)
        fail_msg("canonical form differs:\n got: %.*s\nwant: %.*s", (int)len, out, (int)want_len,
                 want);
    assert_int_equal(out[len], '\0');
    free(out);
    /* The writer into a kept buffer gives the same bytes: one buffer for
     * every vector, so that it is reused grown, and starts small. */
    static char *kept;
    static size_t kept_cap;
    assert_int_equal(tr_canon_dump_into(v, &kept, &kept_cap, &len), 0);
    if (len != want_len || memcmp(kept, want, len) != 0)
        fail_msg("canonical form into a kept buffer differs:\n got: %.*s\nwant: %.*s", (int)len,
                 kept, (int)want_len, want);
    assert_int_equal(kept[len], '\0');
    assert_true(kept_cap > len);
}

/* Input JSON text and its expected canonical bytes. */
static const struct {
    const char *in;
    const char *out;
} vectors[] = {
    {"{}", "{}"},
    {"[]", "[]"},
    {"{\"b\":1,\"a\":2}", "{\"a\":2,\"b\":1}"},
    {" { \"a\" : [ 1 , 2 , 3 ] ,\n\t\"b\" : { } } ", "{\"a\":[1,2,3],\"b\":{}}"},
    {"{\"z\":{\"y\":[3,{\"b\":true,\"a\":null}],\"x\":false},\"a\":[]}",
     "{\"a\":[],\"z\":{\"x\":false,\"y\":[3,{\"a\":null,\"b\":true}]}}"},
    /* Byte order of the keys: "" < "B" < "a" < "aa" < "\xc3\xa9" (é). */
    {"{\"\\u00e9\":4,\"aa\":3,\"a\":2,\"B\":1,\"\":0}",
     "{\"\":0,\"B\":1,\"a\":2,\"aa\":3,\"\xc3\xa9\":4}"},
    /* Arrays keep their order. */
    {"[3,1,2,[\"b\",\"a\"]]", "[3,1,2,[\"b\",\"a\"]]"},
    /* Integers: signs, zero, the extremes of JSON-safe and of 64-bit. */
    {"[0,-0,1,-1,9007199254740991,-9007199254740991]",
     "[0,0,1,-1,9007199254740991,-9007199254740991]"},
    {"[9223372036854775807,-9223372036854775808]", "[9223372036854775807,-9223372036854775808]"},
    /* Scalars at the top. */
    {"true", "true"},
    {"false", "false"},
    {"null", "null"},
    {"42", "42"},
    {"\"x\"", "\"x\""},
    /* The short escapes, other controls as lowercase \u00xx, and / and DEL as they are. */
    {"\"\\\"\\\\\\b\\f\\n\\r\\t\"", "\"\\\"\\\\\\b\\f\\n\\r\\t\""},
    {"\"\\u0001\\u001F\\u000b\\u001a/\\u007f\\/\"", "\"\\u0001\\u001f\\u000b\\u001a/\x7f/\""},
    /* Non-ASCII is written as UTF-8, never \u-escaped; a surrogate pair becomes
     * its four-byte character. */
    {"\"caf\\u00e9 \\u20ac \\ud83d\\ude00 \xe2\x9c\x93\"",
     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x9c\x93\""},
    {"\"Diolch yn fawr \xe2\x80\x94 g\xc3\xaawn\"", "\"Diolch yn fawr \xe2\x80\x94 g\xc3\xaawn\""},
    /* Keys are escaped like strings, and sorted by their unescaped bytes (\n < "). */
    {"{\"a\\\"b\":2,\"a\\nb\":1}", "{\"a\\nb\":1,\"a\\\"b\":2}"},
};

/* Objects of 1 to 40 members, inserted in a shuffled order, come out in
 * byte order on both sides of the small-object sort's limit (16), and the
 * kept-buffer writer agrees after a refusal left its buffer part-written. */
static void test_member_counts(void **state)
{
    char *kept = NULL;
    size_t kept_cap = 0, len;
    unsigned seed = 11;
    for (int n = 1; n <= 40; n++) {
        int order[40];
        for (int i = 0; i < n; i++)
            order[i] = i;
        for (int i = n - 1; i > 0; i--) {
            seed = seed * 1103515245u + 12345u;
            int j = (int)((seed >> 8) % (unsigned)(i + 1));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        json_t *v = json_object();
        char key[8];
        for (int i = 0; i < n; i++) {
            snprintf(key, sizeof(key), "k%02d", order[i]);
            json_object_set_new(v, key, json_integer(order[i]));
        }
        char want[1024];
        size_t off = 0;
        want[off++] = '{';
        for (int i = 0; i < n; i++)
            off += (size_t)snprintf(want + off, sizeof(want) - off, "%s\"k%02d\":%d", i ? "," : "",
                                    i, i);
        want[off++] = '}';
        assert_canon(v, want, off);
        json_t *bad = json_pack("{s:o, s:f}", "v", json_incref(v), "real", 1.5);
        assert_int_equal(tr_canon_dump_into(bad, &kept, &kept_cap, &len), TR_E_INVAL);
        assert_int_equal(len, 0);
        assert_int_equal(tr_canon_dump_into(v, &kept, &kept_cap, &len), 0);
        assert_int_equal(len, off);
        assert_memory_equal(kept, want, off);
        json_decref(bad);
        json_decref(v);
    }
    free(kept);
}

static void test_vectors(void **state)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        json_t *v = load(vectors[i].in);
        assert_canon(v, vectors[i].out, strlen(vectors[i].out));
        json_decref(v);
    }
}

static void test_nul_in_string(void **state)
{
    json_t *v = load("[\"a\\u0000b\"]");
    static const char want[] = "[\"a\\u0000b\"]";
    assert_canon(v, want, sizeof(want) - 1);
    json_decref(v);
}

static void test_integer_extremes_built(void **state)
{
    json_t *v = json_pack("[I,I,I]", (json_int_t)LLONG_MIN, (json_int_t)LLONG_MAX, (json_int_t)0);
    static const char want[] = "[-9223372036854775808,9223372036854775807,0]";
    assert_canon(v, want, sizeof(want) - 1);
    json_decref(v);
}

/* The same members inserted in every order of a few keys give the same bytes. */
static void test_key_order_independence(void **state)
{
    static const char *keys[] = {"week", "needs", "district", "a", "Z", "\xc3\xa9t\xc3\xa9"};
    enum { N = sizeof(keys) / sizeof(keys[0]) };
    char *first = NULL;
    size_t first_len = 0;
    unsigned seed = 7;
    for (int round = 0; round < 50; round++) {
        int order[N];
        for (int i = 0; i < N; i++)
            order[i] = i;
        for (int i = N - 1; i > 0; i--) {
            seed = seed * 1103515245u + 12345u;
            int j = (int)((seed >> 8) % (unsigned)(i + 1));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        json_t *inner = json_object();
        json_t *v = json_object();
        for (int i = 0; i < N; i++) {
            json_object_set_new(v, keys[order[i]], json_integer(order[i]));
            json_object_set_new(inner, keys[order[N - 1 - i]], json_string(keys[order[N - 1 - i]]));
        }
        json_object_set_new(v, "inner", inner);
        char *out;
        size_t len;
        assert_int_equal(tr_canon_dump(v, &out, &len), 0);
        if (!first) {
            first = out;
            first_len = len;
        } else {
            assert_int_equal(len, first_len);
            assert_memory_equal(out, first, len);
            free(out);
        }
        json_decref(v);
    }
    free(first);
}

static void test_reals_refused(void **state)
{
    static const char *docs[] = {"1.0", "1e3", "[1,2,0.5]", "{\"a\":{\"b\":[{\"c\":-2.5}]}}",
                                 "{\"version\":1.0}"};
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_t *v = load(docs[i]);
        char *out = (char *)"sentinel";
        size_t len = 99;
        assert_int_equal(tr_canon_dump(v, &out, &len), TR_E_INVAL);
        assert_null(out);
        assert_int_equal(len, 0);
        char hex[65];
        assert_int_equal(tr_canon_hash(v, hex), TR_E_INVAL);
        json_decref(v);
    }
    assert_int_equal(tr_canon_dump(NULL, &(char *){NULL}, NULL), TR_E_INVAL);
}

/* depth containers nested, alternating arrays and objects. */
static json_t *nest(int depth)
{
    json_t *v = json_integer(1);
    for (int i = 0; i < depth; i++) {
        json_t *c;
        if (i % 2) {
            c = json_object();
            json_object_set_new(c, "k", v);
        } else {
            c = json_array();
            json_array_append_new(c, v);
        }
        v = c;
    }
    return v;
}

static void test_depth_limit(void **state)
{
    json_t *ok = nest(64);
    char *out;
    size_t len;
    assert_int_equal(tr_canon_dump(ok, &out, &len), 0);
    assert_int_equal(len, 32 * strlen("[{\"k\":") + 1 + 32 * strlen("}]"));
    free(out);
    json_decref(ok);

    json_t *deep = nest(65);
    assert_int_equal(tr_canon_dump(deep, &out, &len), TR_E_INVAL);
    assert_null(out);
    json_decref(deep);
}

static void test_hash_vectors(void **state)
{
    static const struct {
        const char *in, *sha256;
    } rows[] = {
        {"{}", "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
        {"{ \"b\": 1, \"a\": 2 }",
         "d3626ac30a87e6f7a6428233b3c68299976865fa5508e4267c5415c76af7a772"},
        {"{\"\\u00e9\":4,\"aa\":3,\"a\":2,\"B\":1,\"\":0}",
         "6d4965903880fd3a1e26dd56b71ab7d0960a477024429c524c19cdb88ea338c1"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        json_t *v = load(rows[i].in);
        char hex[65];
        assert_int_equal(tr_canon_hash(v, hex), 0);
        assert_string_equal(hex, rows[i].sha256);
        json_decref(v);
    }
}

/* About 1 MB of record-like objects: the canonical bytes read back as the
 * same value, are a fixed point, and match jansson's own sorted compact dump
 * (which agrees with ours on text with no control characters). */
static void test_one_megabyte(void **state)
{
    json_t *doc = json_object();
    json_t *arr = json_array();
    char key[32], text[96];
    for (int i = 0; i < 9000; i++) {
        json_t *o = json_object();
        snprintf(key, sizeof(key), "k%05d", 8999 - i);
        snprintf(text, sizeof(text), "caf\xc3\xa9 \"%d\" / \\ week %d \xe2\x82\xac", i, i % 53);
        json_object_set_new(o, "week", json_string("2026-W47"));
        json_object_set_new(o, "text", json_string(text));
        json_object_set_new(o, key, json_integer(-i));
        json_object_set_new(o, "needs", json_pack("[s,s,b,n]", "refuge", "legal", i % 2));
        json_object_set_new(o, "nested", json_pack("{s:{s:i}}", "z", "a", i));
        json_array_append_new(arr, o);
    }
    json_object_set_new(doc, "records", arr);
    json_object_set_new(doc, "count", json_integer(9000));

    char *out;
    size_t len;
    assert_int_equal(tr_canon_dump(doc, &out, &len), 0);
    assert_true(len > 1000000);
    assert_int_equal(strlen(out), len);

    char *ref = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(ref);
    assert_int_equal(strlen(ref), len);
    assert_memory_equal(ref, out, len);
    free(ref);

    json_t *back = json_loadb(out, len, 0, NULL);
    assert_non_null(back);
    assert_true(json_equal(back, doc));
    char *again;
    size_t again_len;
    assert_int_equal(tr_canon_dump(back, &again, &again_len), 0);
    assert_int_equal(again_len, len);
    assert_memory_equal(again, out, len);

    char h1[65], h2[65];
    assert_int_equal(tr_canon_hash(doc, h1), 0);
    assert_int_equal(tr_canon_hash(back, h2), 0);
    assert_string_equal(h1, h2);

    free(again);
    free(out);
    json_decref(back);
    json_decref(doc);
}

/* One 1 MB string full of bytes that need escaping: the worst case of growth. */
static void test_big_escaped_string(void **state)
{
    size_t n = 1 << 20;
    char *s = malloc(n);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)(i % 3 == 0 ? 0x01 : i % 3 == 1 ? '"' : 'a');
    json_t *v = json_stringn(s, n);
    assert_non_null(v);
    char *out;
    size_t len;
    assert_int_equal(tr_canon_dump(v, &out, &len), 0);
    size_t ones = (n + 2) / 3, quotes = (n + 1) / 3, as = n / 3;
    assert_int_equal(len, 2 + ones * 6 + quotes * 2 + as);
    assert_memory_equal(out, "\"\\u0001\\\"a\\u0001", 16);
    json_t *back = json_loadb(out, len, JSON_DECODE_ANY, NULL);
    assert_non_null(back);
    assert_true(json_equal(back, v));
    json_decref(back);
    json_decref(v);
    free(out);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_member_counts),
        cmocka_unit_test(test_nul_in_string),
        cmocka_unit_test(test_integer_extremes_built),
        cmocka_unit_test(test_key_order_independence),
        cmocka_unit_test(test_reals_refused),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_hash_vectors),
        cmocka_unit_test(test_one_megabyte),
        cmocka_unit_test(test_big_escaped_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
