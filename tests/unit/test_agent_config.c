/* The agent's settings: the file, TRELLIS_* and flags in that order of
 * precedence, paths relative to the file, bad values named; the local
 * secret's file; the retry back-off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_config.h"
#include "agent_secret.h"
#include "node_http.h"

static char dir[] = "/tmp/test_agent_config.XXXXXX";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    if (!mkdtemp(dir))
        return -1;
    unsetenv("TRELLIS_CONFIG");
    unsetenv("TRELLIS_NODE");
    unsetenv("TRELLIS_BATCH");
    unsetenv("TRELLIS_SPOOL");
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static void test_precedence(void **state)
{
    char conf[256];
    snprintf(conf, sizeof(conf), "%s/agent.conf", dir);
    write_file(conf, "; comment\n[node]\nurl = https://file:1\nbatch = 100\ncert = certs/a.crt\n"
                     "[agent]\nspool = spool\n[mappings]\nref*.csv = maps/ref.map\n");
    agent_config_t c;
    bool usage;
    char err[256];
    char *argv[] = {"--config", conf, "--batch", "300", "extra", "--node", "https://flag:3"};
    int argc = 7;
    setenv("TRELLIS_NODE", "https://env:2", 1);
    setenv("TRELLIS_BATCH", "200", 1);
    assert_int_equal(agent_config_load(&c, &argc, argv, &usage, err, sizeof(err)), 0);
    assert_int_equal(argc, 1);
    assert_string_equal(argv[0], "extra");
    assert_string_equal(c.node_url, "https://flag:3"); /* flag > env > file */
    assert_int_equal(c.batch, 300);
    char want[300];
    snprintf(want, sizeof(want), "%s/certs/a.crt", dir); /* relative to the file */
    assert_string_equal(c.cert, want);
    snprintf(want, sizeof(want), "%s/spool", dir);
    assert_string_equal(c.spool, want);
    assert_int_equal(c.n_mappings, 1);
    assert_string_equal(c.mappings[0].glob, "ref*.csv");
    assert_int_equal(c.timeout, 120); /* default */
    agent_config_free(&c);

    /* Without the flags the environment wins over the file. */
    char *argv2[] = {"--config", conf};
    argc = 2;
    assert_int_equal(agent_config_load(&c, &argc, argv2, &usage, err, sizeof(err)), 0);
    assert_string_equal(c.node_url, "https://env:2");
    assert_int_equal(c.batch, 200);
    agent_config_free(&c);

    /* And the file wins over the defaults. */
    unsetenv("TRELLIS_NODE");
    unsetenv("TRELLIS_BATCH");
    argc = 2;
    char *argv3[] = {"--config", conf};
    assert_int_equal(agent_config_load(&c, &argc, argv3, &usage, err, sizeof(err)), 0);
    assert_string_equal(c.node_url, "https://file:1");
    assert_int_equal(c.batch, 100);
    agent_config_free(&c);
}

static void test_errors(void **state)
{
    char conf[256];
    snprintf(conf, sizeof(conf), "%s/bad.conf", dir);
    agent_config_t c;
    bool usage;
    char err[256];

    write_file(conf, "[node]\nbatch = lots\n");
    char *argv[] = {"--config", conf};
    int argc = 2;
    assert_int_equal(agent_config_load(&c, &argc, argv, &usage, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "batch must be a whole number"));
    agent_config_free(&c);

    write_file(conf, "[node]\ncolour = blue\n");
    argc = 2;
    assert_int_equal(agent_config_load(&c, &argc, argv, &usage, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown setting [node] colour"));
    agent_config_free(&c);

    char *argv2[] = {"--node"};
    argc = 1;
    assert_int_equal(agent_config_load_no_file(&c, &argc, argv2, &usage, err, sizeof(err)), -1);
    assert_true(usage);
    agent_config_free(&c);

    char *argv3[] = {"--config", "/nonexistent/agent.conf"};
    argc = 2;
    assert_int_equal(agent_config_load(&c, &argc, argv3, &usage, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot read"));
    agent_config_free(&c);

    char *argv4[] = {"--proxy", "proxy.example.org"};
    argc = 2;
    assert_int_equal(agent_config_load_no_file(&c, &argc, argv4, &usage, err, sizeof(err)), -1);
    agent_config_free(&c);
    argc = 2;
    char *argv5[] = {"--batch", "0"};
    assert_int_equal(agent_config_load_no_file(&c, &argc, argv5, &usage, err, sizeof(err)), -1);
    agent_config_free(&c);
}

static void test_write_reads_back(void **state)
{
    agent_config_t c;
    bool usage;
    char err[256];
    char *argv[] = {"--node", "https://n:1", "--spool", "/var/tmp/s", "--batch", "42"};
    int argc = 6;
    assert_int_equal(agent_config_load_no_file(&c, &argc, argv, &usage, err, sizeof(err)), 0);
    char conf[256];
    snprintf(conf, sizeof(conf), "%s/written.conf", dir);
    FILE *f = fopen(conf, "w");
    agent_config_write(f, &c);
    fclose(f);
    agent_config_free(&c);
    char *argv2[] = {"--config", conf};
    argc = 2;
    assert_int_equal(agent_config_load(&c, &argc, argv2, &usage, err, sizeof(err)), 0);
    assert_string_equal(c.node_url, "https://n:1");
    assert_string_equal(c.spool, "/var/tmp/s");
    assert_int_equal(c.batch, 42);
    assert_null(c.proxy);
    agent_config_free(&c);
}

static void test_secret(void **state)
{
    char path[256], err[256];
    snprintf(path, sizeof(path), "%s/secret", dir);
    assert_int_equal(agent_secret_create(path, err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);
    uint8_t a[AGENT_SECRET_LEN], b[AGENT_SECRET_LEN];
    assert_int_equal(agent_secret_load(path, a, err, sizeof(err)), 0);
    assert_int_equal(agent_secret_load(path, b, err, sizeof(err)), 0);
    assert_memory_equal(a, b, sizeof(a));
    /* Never replaced. */
    assert_int_equal(agent_secret_create(path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "exists"));
    chmod(path, 0644);
    assert_int_equal(agent_secret_load(path, a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "chmod 600"));
    write_file(path, "not hex\n");
    chmod(path, 0600);
    assert_int_equal(agent_secret_load(path, a, err, sizeof(err)), -1);
}

static void test_backoff(void **state)
{
    assert_true(node_backoff(0, -1, 0.999) <= 0.5);
    assert_true(node_backoff(3, -1, 0.999) <= 4.0 && node_backoff(3, -1, 0.999) > 3.9);
    assert_true(node_backoff(30, -1, 0.999) <= 30.0);
    assert_true(node_backoff(5, -1, 0.0) == 0.0); /* full jitter reaches zero */
    assert_true(node_backoff(0, 7, 0.0) == 7.0);  /* Retry-After wins */
    assert_true(node_backoff(0, 100000, 0.5) == 300.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),       cmocka_unit_test(test_errors),
        cmocka_unit_test(test_write_reads_back), cmocka_unit_test(test_secret),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
