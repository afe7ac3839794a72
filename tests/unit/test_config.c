/* Configuration parsing: defaults, units, bounds, required keys, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_sharing.h"
#include "config_viewer.h"
#include "tr_error.h"

static char path[] = "/tmp/trellis-test-config-XXXXXX";

static int load(const char *text, config_t *cfg, char *err, size_t err_len)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    config_defaults(cfg);
    return config_load(cfg, path, err, err_len);
}

#define REQUIRED                                                                                   \
    "[tls]\ncert = node.crt\nkey = /abs/node.key\nca = ca.crt\n[database]\nurl = "                 \
    "postgresql://x/y\n"

static void test_minimal_and_defaults(void **state)
{
    config_t cfg;
    char err[512] = "";
    assert_int_equal(load(REQUIRED, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.listen_host, "127.0.0.1");
    assert_int_equal(cfg.listen_port, 8443);
    assert_int_equal(cfg.max_header_bytes, 16384);
    assert_int_equal(cfg.max_body_bytes, 8 * 1024 * 1024);
    assert_int_equal(cfg.idle_timeout_ms, 60000);
    /* the public listener's own pool, well below the mutual-TLS listener's */
    assert_int_equal(cfg.public_max_connections, 500);
    assert_int_equal(cfg.public_max_per_address, 8);
    assert_true(cfg.public_max_connections * 10 <= cfg.max_connections);
    /* the small-number rule: NHS Digital's, 1-7 hidden and the rest to the nearest 5 */
    assert_int_equal(cfg.viewer_small_number_threshold, 8);
    assert_int_equal(cfg.viewer_rounding, 5);
    assert_string_equal(cfg.tls_key, "/abs/node.key");
    /* relative paths are taken from the file's folder */
    assert_string_equal(cfg.tls_cert, "/tmp/node.crt");
    assert_int_equal(cfg.workers, 0); /* auto: one per CPU */
    config_free(&cfg);
}

static void test_units(void **state)
{
    config_t cfg;
    char err[512] = "";
    assert_int_equal(load(REQUIRED "[limits]\nmax_body_bytes = 2M\nmax_header_bytes = 8k\n"
                                   "idle_timeout = 500ms\nrequest_timeout = 2m\n"
                                   "[node]\nlisten = [::1]:9000\n",
                          &cfg, err, sizeof(err)),
                     0);
    assert_int_equal(cfg.max_body_bytes, 2 * 1024 * 1024);
    assert_int_equal(cfg.max_header_bytes, 8192);
    assert_int_equal(cfg.idle_timeout_ms, 500);
    assert_int_equal(cfg.request_timeout_ms, 120000);
    assert_string_equal(cfg.listen_host, "::1");
    assert_int_equal(cfg.listen_port, 9000);
    config_free(&cfg);
    assert_int_equal(load(REQUIRED "[viewer]\nsmall_number_threshold = 11\nrounding = 10\n", &cfg,
                          err, sizeof(err)),
                     0);
    assert_int_equal(cfg.viewer_small_number_threshold, 11);
    assert_int_equal(cfg.viewer_rounding, 10);
    config_free(&cfg);
    assert_int_equal(load(REQUIRED "[node]\nworkers = 3\n", &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.workers, 3);
    config_free(&cfg);
    assert_int_equal(load(REQUIRED "[node]\nworkers = auto\n", &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.workers, 0);
    config_free(&cfg);
}

static void test_errors(void **state)
{
    static const struct {
        const char *text;
        const char *want; /* a part of the one-line error */
    } rows[] = {
        {"[tls]\ncert = a\n", "missing required key [tls] key"},
        {REQUIRED "[limits]\nmax_body_bytes = lots\n", "[limits] max_body_bytes is not a size"},
        {REQUIRED "[limits]\nmax_headers = 2\n", "[limits] max_headers must be between 4"},
        {REQUIRED "[limits]\nidle_timeout = 5x\n", "idle_timeout is not a duration"},
        {REQUIRED "[limits]\nmax_queued_body_bytes = 1M\n",
         "[limits] max_queued_body_bytes must be at least max_body_bytes"},
        {REQUIRED "[public]\nmax_connections_per_address = 0\n",
         "[public] max_connections_per_address must be between 1"},
        {REQUIRED "[viewer]\nsmall_number_threshold = 0\n",
         "[viewer] small_number_threshold must be between 1 and 1000"},
        {REQUIRED "[viewer]\nrounding = 1001\n", "[viewer] rounding must be between 1 and 1000"},
        {REQUIRED "[viewer]\nrounding = five\n", "[viewer] rounding is not a whole number"},
        {REQUIRED "[nope]\nkey = 1\n", "unknown key [nope] key"},
        {REQUIRED "[tls]\nca = again\n", "[tls] ca is set twice"},
        {REQUIRED "[node]\nlisten = localhost\n", "[node] listen must be host:port"},
        {REQUIRED "[node]\nlisten = 1.2.3.4:70000\n", "[node] listen must be host:port"},
        {REQUIRED "[node]\nlog_level = loud\n", "log_level must be"},
        {REQUIRED "[node]\nworkers = lots\n", "[node] workers is not a whole number or auto"},
        {REQUIRED "[node]\nworkers = 257\n", "[node] workers must be between 0 and 256"},
        {REQUIRED "[node]\nworkers = -1\n", "[node] workers is not a whole number or auto"},
        {REQUIRED "this is not ini\n", "not an INI line"},
        {REQUIRED "[peer b]\nurl = https://10.0.0.2:8443\n", "[peer b] needs url and org"},
        {REQUIRED "[peer b]\nurl = http://x:1\norg = beta\n", "url must be https://"},
        {REQUIRED "[peer b]\nurl = https://x:1\norg = beta\nshare = gossip\n",
         "share lists record kinds"},
        {REQUIRED "[peer B!]\nurl = https://x:1\n", "peer names are like org ids"},
        {REQUIRED "[peer b]\nurl = https://x:1\norg = beta\n[peer c]\nurl = https://y:1\n"
                  "org = beta\n",
         "name the same org"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        config_t cfg;
        char err[512] = "";
        assert_int_equal(load(rows[i].text, &cfg, err, sizeof(err)), TR_E_CONFIG);
        if (!strstr(err, rows[i].want))
            fail_msg("row %zu: error '%s' lacks '%s'", i, err, rows[i].want);
        assert_non_null(strstr(err, path)); /* names the file */
        assert_null(strchr(err, '\n'));     /* one line */
        config_free(&cfg);
    }
}

/* [tls] key = %d/NAME reads systemd's credentials directory (LoadCredential=). */
static void test_credentials_directory(void **state)
{
    config_t cfg;
    char err[512] = "";
    const char *with_cred = "[tls]\ncert = /etc/trellis/node.crt\nkey = %d/node.key\n"
                            "ca = /etc/trellis/ca.crt\n[database]\nurl = postgresql://x/y\n";
    assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "/run/credentials/trellisd.service", 1), 0);
    assert_int_equal(load(with_cred, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.tls_key, "/run/credentials/trellisd.service/node.key");
    assert_string_equal(cfg.tls_cert, "/etc/trellis/node.crt");
    config_free(&cfg);

    /* A name with a folder in it, or none, is refused. */
    const char *bad[] = {"%d/\n", "%d/../etc/shadow\n", "%d/a/b\n", "%d/..\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof text, REQUIRED "[tls]\ncrl = %s", bad[i]);
        assert_int_equal(load(text, &cfg, err, sizeof(err)), TR_E_CONFIG);
        if (!strstr(err, "[tls] crl must name one credential after %d/"))
            fail_msg("row %zu: error '%s'", i, err);
        config_free(&cfg);
    }

    /* Outside systemd (no $CREDENTIALS_DIRECTORY) the error says why. */
    assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
    assert_int_equal(load(with_cred, &cfg, err, sizeof(err)), TR_E_CONFIG);
    assert_non_null(strstr(err, "[tls] key names a credential (%d/) but $CREDENTIALS_DIRECTORY"));
    assert_null(strchr(err, '\n'));
    config_free(&cfg);
}

static void test_peers(void **state)
{
    config_t cfg;
    char err[512] = "";
    assert_int_equal(load(REQUIRED "[peer riverside]\nurl = https://127.0.0.1:9000\n"
                                   "org = riverside-sv-centre\nshare = directory.service, "
                                   "pathway.referral\n[peer east]\nurl = https://[::1]:9001\n"
                                   "org = eastgate\nshare = all\npull = no\n",
                          &cfg, err, sizeof(err)),
                     0);
    assert_int_equal(cfg.n_peers, 2);
    assert_string_equal(cfg.peers[0].name, "riverside");
    assert_int_equal(cfg.peers[0].share, 0x3);
    assert_true(cfg.peers[0].pull);
    assert_int_equal(cfg.peers[1].share, 0x1f);
    assert_false(cfg.peers[1].pull);
    assert_ptr_equal(config_peer_by_org(&cfg, "eastgate"), &cfg.peers[1]);
    assert_null(config_peer_by_org(&cfg, "nobody"));
    config_free(&cfg);
}

/* The audience a node signs into its own records, per kind ([sharing]). */
static char *audience_of(const config_t *cfg, tr_kind_t kind)
{
    json_t *a = config_audience(cfg, "northside", kind);
    char *text = json_dumps(a, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(a);
    return text;
}

static void test_sharing(void **state)
{
    config_t cfg;
    char err[512] = "";
    /* Peers riverside (referrals) and east (everything); a list that names
     * this node's own organisation, another twice, and out of order. */
    assert_int_equal(load(REQUIRED "[sharing]\nfeedback.entry = none\n"
                                   "feedback.response = zeta, northside, alpha, zeta\n"
                                   "[peer riverside]\nurl = https://127.0.0.1:9000\n"
                                   "org = riverside-sv-centre\nshare = directory.service, "
                                   "pathway.referral\n[peer east]\nurl = https://[::1]:9001\n"
                                   "org = eastgate\nshare = all\n",
                          &cfg, err, sizeof(err)),
                     0);
    static const struct {
        tr_kind_t kind;
        const char *want;
    } cases[] = {
        {TR_KIND_DIRECTORY_SERVICE, "\"consortium\""},                        /* the default */
        {TR_KIND_PATHWAY_REFERRAL, "[\"eastgate\",\"riverside-sv-centre\"]"}, /* peers, sorted */
        {TR_KIND_PATHWAY_EVENT, "[\"eastgate\"]"},           /* only east is sent events */
        {TR_KIND_FEEDBACK_ENTRY, "[]"},                      /* none */
        {TR_KIND_FEEDBACK_RESPONSE, "[\"alpha\",\"zeta\"]"}, /* sorted, distinct, not us */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = audience_of(&cfg, cases[i].kind);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
    config_free(&cfg);

    static const char *const bad[] = {"[sharing]\npathway.referral = north_side\n",
                                      "[sharing]\npathway.referral = Riverside SV\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "%s%s", REQUIRED, bad[i]);
        assert_int_equal(load(text, &cfg, err, sizeof(err)), TR_E_CONFIG);
        assert_non_null(strstr(err, "[sharing]"));
        config_free(&cfg);
    }
}

/* [viewer]: off by default; loopback alone, or any address with a trusted proxy; never a
 * non-loopback address without one; proxies are IP literals. */
static void test_viewer(void **state)
{
    config_t cfg;
    char err[512] = "";
    assert_int_equal(load(REQUIRED, &cfg, err, sizeof(err)), 0);
    assert_string_equal(cfg.viewer_listen, "");
    assert_string_equal(cfg.viewer_user_header, "X-Forwarded-User");
    assert_int_equal(cfg.n_viewer_proxies, 0);
    config_free(&cfg);

    assert_int_equal(load(REQUIRED "[viewer]\nlisten = 127.0.0.1:8081\n", &cfg, err, sizeof(err)),
                     0);
    assert_string_equal(cfg.viewer_host, "127.0.0.1");
    assert_int_equal(cfg.viewer_port, 8081);
    config_free(&cfg);
    assert_int_equal(load(REQUIRED "[viewer]\nlisten = [::1]:8081\n", &cfg, err, sizeof(err)), 0);
    config_free(&cfg);

    static const char *const refused[] = {"0.0.0.0:8081", "192.0.2.10:8081", "[::]:8081"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), REQUIRED "[viewer]\nlisten = %s\n", refused[i]);
        assert_int_equal(load(text, &cfg, err, sizeof(err)), TR_E_CONFIG);
        assert_non_null(strstr(err, "[viewer] listen"));
        assert_non_null(strstr(err, "trusted_proxies"));
        config_free(&cfg);
    }

    assert_int_equal(load(REQUIRED "[viewer]\nlisten = 0.0.0.0:8081\n"
                                   "trusted_proxies = 10.0.0.5, ::1,192.0.2.7\n",
                          &cfg, err, sizeof(err)),
                     0);
    assert_int_equal(cfg.n_viewer_proxies, 3);
    unsigned char want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 5};
    assert_true(config_viewer_trusted(&cfg, want));
    want[15] = 6;
    assert_false(config_viewer_trusted(&cfg, want));
    assert_false(config_viewer_loopback(want));
    want[12] = 127;
    assert_true(config_viewer_loopback(want));
    config_free(&cfg);

    assert_int_equal(
        load(REQUIRED "[viewer]\ntrusted_proxies = proxy.example.org\n", &cfg, err, sizeof(err)),
        TR_E_CONFIG);
    assert_non_null(strstr(err, "trusted_proxies must list IP addresses"));
    config_free(&cfg);
    assert_int_equal(load(REQUIRED "[viewer]\nuser_header = X User\n", &cfg, err, sizeof(err)),
                     TR_E_CONFIG);
    assert_non_null(strstr(err, "user_header"));
    config_free(&cfg);
    assert_int_equal(load(REQUIRED "[viewer]\nlisten = localhost:8081\n", &cfg, err, sizeof(err)),
                     TR_E_CONFIG);
    assert_non_null(strstr(err, "not an IP address"));
    config_free(&cfg);
}

static void test_missing_file(void **state)
{
    config_t cfg;
    char err[512];
    config_defaults(&cfg);
    assert_int_equal(config_load(&cfg, "/nonexistent/trellisd.conf", err, sizeof(err)),
                     TR_E_CONFIG);
    assert_non_null(strstr(err, "cannot open"));
    config_free(&cfg);
}

static void test_example_lists_every_key(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_write_example(f);
    fclose(f);
    assert_non_null(strstr(buf, "[limits]"));
    assert_non_null(strstr(buf, "max_connections_per_identity"));
    assert_non_null(strstr(buf, "(required)"));
    free(buf);
}

static int setup(void **state)
{
    int fd = mkstemp(path);
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_and_defaults),
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_credentials_directory),
        cmocka_unit_test(test_peers),
        cmocka_unit_test(test_sharing),
        cmocka_unit_test(test_viewer),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_example_lists_every_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
