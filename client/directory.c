/* trellis directory pull|watch (directory.h). */
#include "directory.h"

#include "agent_config.h"
#include "cli.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void dir_state_init(dir_state_t *d)
{
    d->services = json_object();
    d->cursor = 0;
}

void dir_state_free(dir_state_t *d)
{
    json_decref(d->services);
    d->services = NULL;
}

int dir_format_parse(const char *s, dir_format_t *out)
{
    if (strcmp(s, "json") == 0)
        *out = DIR_FORMAT_JSON;
    else if (strcmp(s, "csv") == 0)
        *out = DIR_FORMAT_CSV;
    else
        return -1;
    return 0;
}

int dir_fetch(dir_state_t *d, node_http_t *h, long wait, bool *changed, char *err, size_t err_len)
{
    *changed = false;
    for (;;) {
        char path[128];
        snprintf(path, sizeof(path), "/v1/changes?since=%lld&limit=1000&wait=%ld",
                 (long long)d->cursor, wait);
        node_reply_t r;
        int rc = node_http_request(h, "GET", path, NULL, 0, &r, err, err_len);
        if (rc != NODE_OK)
            return rc;
        json_t *doc = r.status == 200 ? json_loadb(r.body, r.len, 0, NULL) : NULL;
        json_t *changes = json_object_get(doc, "changes");
        const char *cursor = json_string_value(json_object_get(doc, "cursor"));
        if (!json_is_array(changes) || !cursor) {
            snprintf(err, err_len, "the node answered %ld to %s", r.status, "/v1/changes");
            json_decref(doc);
            node_reply_free(&r);
            return r.status >= 500 || r.status == 429 ? NODE_E_UNREACHABLE : NODE_E_LOCAL;
        }
        node_reply_free(&r);
        size_t i;
        json_t *c;
        json_array_foreach(changes, i, c)
        {
            json_t *rec = json_object_get(c, "record");
            const char *kind = json_string_value(json_object_get(rec, "kind"));
            const char *id = json_string_value(json_object_get(rec, "id"));
            if (!kind || !id || strcmp(kind, "directory.service") != 0)
                continue;
            json_t *old = json_object_get(d->services, id);
            json_int_t v = json_integer_value(json_object_get(rec, "version"));
            if (old && json_integer_value(json_object_get(old, "version")) >= v)
                continue;
            json_object_set(d->services, id, rec);
            *changed = true;
        }
        d->cursor = strtoll(cursor, NULL, 10);
        bool more = json_is_true(json_object_get(doc, "more"));
        json_decref(doc);
        if (!more)
            return NODE_OK;
        wait = 0; /* catching up: no waiting between pages */
    }
}

/* Services sorted by name then id, for a stable file. */
static int cmp_service(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *nx = json_string_value(json_object_get(json_object_get(x, "body"), "name"));
    const char *ny = json_string_value(json_object_get(json_object_get(y, "body"), "name"));
    int c = strcmp(nx ? nx : "", ny ? ny : "");
    return c ? c
             : strcmp(json_string_value(json_object_get(x, "id")),
                      json_string_value(json_object_get(y, "id")));
}

static void csv_cell(FILE *f, const char *s, bool last)
{
    csv_fwrite(f, s ? s : "", s ? strlen(s) : 0);
    fputs(last ? "\r\n" : ",", f);
}

static char *joined(json_t *arr, const char *member)
{
    size_t len = 1, i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        const char *s =
            member ? json_string_value(json_object_get(it, member)) : json_string_value(it);
        len += (s ? strlen(s) : 0) + 1;
    }
    char *out = calloc(1, len);
    if (!out)
        abort();
    json_array_foreach(arr, i, it)
    {
        const char *s =
            member ? json_string_value(json_object_get(it, member)) : json_string_value(it);
        if (!s)
            continue;
        if (out[0])
            strcat(out, ";");
        strcat(out, s);
    }
    return out;
}

static void write_csv(FILE *f, json_t **svc, size_t n)
{
    static const char *const head[] = {"id",
                                       "name",
                                       "organisation",
                                       "status",
                                       "taking_referrals",
                                       "self_referral",
                                       "needs",
                                       "for_genders",
                                       "minimum_age",
                                       "maximum_age",
                                       "risk_levels",
                                       "areas",
                                       "phone",
                                       "email",
                                       "url",
                                       "location_confidential",
                                       "description"};
    size_t nh = sizeof(head) / sizeof(head[0]);
    fputs("\xef\xbb\xbf", f); /* Excel reads UTF-8 with a BOM */
    for (size_t i = 0; i < nh; i++)
        csv_cell(f, head[i], i + 1 == nh);
    for (size_t k = 0; k < n; k++) {
        json_t *b = json_object_get(svc[k], "body");
        json_t *t = json_object_get(b, "trellis");
        char minage[24] = "", maxage[24] = "";
        if (json_is_integer(json_object_get(b, "minimum_age")))
            snprintf(minage, sizeof(minage), "%lld",
                     (long long)json_integer_value(json_object_get(b, "minimum_age")));
        if (json_is_integer(json_object_get(b, "maximum_age")))
            snprintf(maxage, sizeof(maxage), "%lld",
                     (long long)json_integer_value(json_object_get(b, "maximum_age")));
        char *needs = joined(json_object_get(t, "needs"), NULL);
        char *genders = joined(json_object_get(t, "for_genders"), NULL);
        char *risks = joined(json_object_get(t, "risk_levels"), NULL);
        char *areas = joined(json_object_get(b, "service_areas"), "name");
        json_t *phone = json_array_get(json_object_get(b, "phones"), 0);
        csv_cell(f, json_string_value(json_object_get(svc[k], "id")), false);
        csv_cell(f, json_string_value(json_object_get(b, "name")), false);
        csv_cell(f, json_string_value(json_object_get(json_object_get(b, "organization"), "name")),
                 false);
        csv_cell(f, json_string_value(json_object_get(b, "status")), false);
        csv_cell(f, json_is_true(json_object_get(t, "taking_referrals")) ? "yes" : "no", false);
        csv_cell(f, json_is_true(json_object_get(t, "self_referral")) ? "yes" : "no", false);
        csv_cell(f, needs, false);
        csv_cell(f, genders, false);
        csv_cell(f, minage, false);
        csv_cell(f, maxage, false);
        csv_cell(f, risks, false);
        csv_cell(f, areas, false);
        csv_cell(f, json_string_value(json_object_get(phone, "number")), false);
        csv_cell(f, json_string_value(json_object_get(b, "email")), false);
        csv_cell(f, json_string_value(json_object_get(b, "url")), false);
        csv_cell(f, json_is_true(json_object_get(t, "location_confidential")) ? "yes" : "no",
                 false);
        csv_cell(f, json_string_value(json_object_get(b, "description")), true);
        free(needs);
        free(genders);
        free(risks);
        free(areas);
    }
}

int dir_write(const dir_state_t *d, const char *path, dir_format_t format, char *err,
              size_t err_len)
{
    size_t n = json_object_size(d->services), i = 0;
    json_t **svc = calloc(n ? n : 1, sizeof(*svc));
    if (!svc)
        abort();
    const char *key;
    json_t *v;
    json_object_foreach(d->services, key, v) svc[i++] = v;
    qsort(svc, n, sizeof(*svc), cmp_service);
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, err_len, "cannot write %s: %s", tmp, strerror(errno));
        free(svc);
        return -1;
    }
    if (format == DIR_FORMAT_CSV) {
        write_csv(f, svc, n);
    } else {
        /* The ORUK service objects, with their Trellis extension, and the
         * record's origin and version for whoever keeps copies. */
        json_t *out = json_array();
        for (i = 0; i < n; i++) {
            json_t *s = json_deep_copy(json_object_get(svc[i], "body"));
            json_object_set(s, "trellis_origin", json_object_get(svc[i], "origin"));
            json_object_set(s, "trellis_version", json_object_get(svc[i], "version"));
            json_array_append_new(out, s);
        }
        json_dumpf(out, f, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', f);
        json_decref(out);
    }
    free(svc);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    /* The rename itself is durable once the folder is synced. */
    char dcopy[PATH_MAX];
    snprintf(dcopy, sizeof(dcopy), "%s", path);
    int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* Sleep up to s seconds, cut short by *stop. */
static void nap(double s, volatile int *stop)
{
    for (double t = 0; t < s && !(stop && *stop); t += 0.1) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
}

int dir_keep(const dir_keep_t *k, node_http_t *h, size_t *n, char *err, size_t err_len)
{
    dir_state_t d;
    dir_state_init(&d);
    bool written = false;
    int attempt = 0, rc = NODE_OK;
    char msg[700];
    do {
        bool changed = false;
        /* The long poll waits 25 s, under the node's own cap and the agent's timeout. */
        rc = dir_fetch(&d, h, written ? 25 : 0, &changed, err, err_len);
        if (rc == NODE_OK && (changed || !written)) {
            rc = dir_write(&d, k->out, k->format, err, err_len) == 0 ? NODE_OK : NODE_E_LOCAL;
            if (rc == NODE_OK) {
                if (k->watch && k->note) {
                    snprintf(msg, sizeof(msg), "directory%s: wrote %s (%zu services)",
                             written ? " changed" : "", k->out, json_object_size(d.services));
                    k->note(msg);
                }
                if (n)
                    *n = json_object_size(d.services);
                written = true;
            }
        }
        if (rc == NODE_OK) {
            attempt = 0;
            continue;
        }
        if (!k->watch || (k->stop && *k->stop))
            break; /* pull: the caller says why; watch: stopped mid-request */
        /* Watching: a node restarting is normal; try again, backing off. */
        double w = node_backoff(attempt++, -1, (double)(rand() % 1000) / 1000.0);
        if (k->note) {
            snprintf(msg, sizeof(msg), "directory: %s; retrying in %.1f s", err, w);
            k->note(msg);
        }
        nap(w, k->stop);
    } while (k->watch && !(k->stop && *k->stop));
    dir_state_free(&d);
    return k->watch ? NODE_OK : rc;
}

static volatile int stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void note(const char *msg)
{
    fprintf(stderr, "trellis: %s\n", msg);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: trellis directory pull --out FILE [--format json|csv] [SETTINGS]\n"
                 "       trellis directory watch --out FILE [--format json|csv] [SETTINGS]\n\n"
                 "pull   write the shared directory as this charity may see it: every\n"
                 "       directory.service of the consortium shared with it, sorted by name.\n"
                 "       json: an array of Open Referral UK service objects (with trellis_origin\n"
                 "       and trellis_version); csv: one row a service (UTF-8 with BOM, for Excel\n"
                 "       and CMS lookup lists).\n"
                 "watch  the same, then keep FILE current through the node's long-poll change\n"
                 "       feed until stopped (SIGTERM/SIGINT), carrying on across node restarts.\n"
                 "The file is replaced whole each time (write, fsync, rename).\n\n");
    agent_config_usage(out);
}

int directory_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
    }
    agent_config_t c;
    bool is_usage;
    char err[512];
    int n = argc - 1;
    char **args = argv + 1;
    if (agent_config_load(&c, &n, args, &is_usage, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        agent_config_free(&c);
        return is_usage ? CLI_EXIT_USAGE : CLI_EXIT_LOCAL;
    }
    const char *sub = n > 0 ? args[0] : "", *out = NULL;
    dir_format_t format = DIR_FORMAT_JSON;
    int rc = CLI_EXIT_USAGE;
    for (int i = 1; i < n; i++) {
        if (!strcmp(args[i], "--out") && i + 1 < n) {
            out = args[++i];
        } else if (!strcmp(args[i], "--format") && i + 1 < n) {
            if (dir_format_parse(args[++i], &format) != 0) {
                cli_error("--format must be json or csv");
                goto done_cfg;
            }
        } else {
            cli_error("unknown argument '%s' (see trellis directory --help)", args[i]);
            goto done_cfg;
        }
    }
    bool watch = !strcmp(sub, "watch");
    if ((!watch && strcmp(sub, "pull")) || !out) {
        cli_error("usage: trellis directory pull|watch --out FILE [--format json|csv]");
        goto done_cfg;
    }
    rc = CLI_EXIT_LOCAL;
    node_http_t *h = NULL;
    if (agent_config_require_node(&c, err, sizeof(err)) != 0 ||
        !(h = node_http_new(&c, err, sizeof(err)))) {
        cli_error("%s", err);
        goto done_cfg;
    }
    if (watch) {
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        node_http_set_stop_flag(&stopping); /* a long poll ends when stopped */
    }
    dir_keep_t k = {out, format, watch, &stopping, note};
    size_t n_services = 0;
    int fr = dir_keep(&k, h, &n_services, err, sizeof(err));
    if (fr == NODE_OK) {
        if (!watch)
            printf("wrote %s: %zu services\n", out, n_services);
        rc = CLI_EXIT_OK;
    } else {
        cli_error("%s", err);
        rc = fr == NODE_E_UNREACHABLE ? CLI_EXIT_UNREACHABLE : CLI_EXIT_LOCAL;
    }
    node_http_set_stop_flag(NULL);
    node_http_free(h);
done_cfg:
    agent_config_free(&c);
    return rc;
}
