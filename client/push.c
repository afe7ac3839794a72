/* trellis push / trellis sync (push.h). */
#include "push.h"

#include "agent_identity.h"
#include "anonymise.h"
#include "cli.h"
#include "csv_reader.h"
#include "json_reader.h"
#include "node_http.h"
#include "push_sender.h"
#include "send.h"

#include "tr_canon.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_REPORTED 20 /* row messages per file; the rest are counted */
/* A file's first chunk is chunk_rows rows, so that sending starts at once;
 * each next one twice the last, up to this many times chunk_rows. Why: the
 * queue's key table takes rows at random places, so a commit writes nearly
 * every page of it to the WAL, however few rows the chunk holds, once the
 * table outgrows the page cache. Fewer, larger commits write it less often. */
#define CHUNK_GROWTH 4

typedef struct {
    push_ctx_t *x;
    anon_t *anon;
    const char *path;
    push_stats_t *st;
    char *err;
    size_t err_len;
    int64_t reported;
    size_t since_commit; /* rows since the last chunk's commit */
    size_t chunk;        /* rows in this chunk (CHUNK_GROWTH) */
} file_t;

static void report(file_t *f, const char *what, long line, const char *column, const char *why)
{
    if (!f->x->report)
        return;
    if (f->reported++ < MAX_REPORTED)
        fprintf(f->x->report, "%s line %ld%s%s%s: %s: %s\n", f->path, line,
                column && column[0] ? ", column '" : "", column && column[0] ? column : "",
                column && column[0] ? "'" : "", what, why);
}

static int on_header(void *ctx, const char *const *names, size_t n, long line)
{
    file_t *f = ctx;
    char msg[400];
    if (anon_bind_header(f->anon, names, n, line, msg, sizeof(msg)) != 0) {
        snprintf(f->err, f->err_len, "%s %s", f->path, msg);
        return -2;
    }
    return 0;
}

/* A directory service is replaced by a higher version (docs/agent.md): set
 * each one's from the spool (a dry run, which has none, shows now's). */
static int set_versions(file_t *f, json_t *records)
{
    size_t i;
    json_t *doc;
    json_array_foreach(records, i, doc)
    {
        const char *kind = json_string_value(json_object_get(doc, "kind"));
        if (!kind || strcmp(kind, tr_kind_name(TR_KIND_DIRECTORY_SERVICE)) != 0)
            continue;
        char hash[65];
        int64_t version = (int64_t)time(NULL);
        if (tr_canon_hash(json_object_get(doc, "body"), hash) != 0) {
            snprintf(f->err, f->err_len, "%s: a directory service that cannot be hashed", f->path);
            return -1;
        }
        if (f->x->spool &&
            spool_version(f->x->spool, kind, json_string_value(json_object_get(doc, "id")), hash,
                          version, &version, f->err, f->err_len) != 0)
            return -1;
        json_object_set_new(doc, "version", json_integer((json_int_t)version));
    }
    return 0;
}

/* Commit the rows read so far and tell the sender; begin the next chunk
 * unless the file is at its end. */
static int commit_chunk(file_t *f, bool more)
{
    push_ctx_t *x = f->x;
    if (spool_commit(x->spool, f->err, f->err_len) != 0)
        return -1;
    f->st->committed_rows = f->st->rows;
    f->since_commit = 0;
    if (f->chunk < x->chunk_rows * CHUNK_GROWTH)
        f->chunk *= 2;
    if (x->on_chunk)
        x->on_chunk(x->chunk_ctx);
    return more ? spool_begin(x->spool, f->err, f->err_len) : 0;
}

static int on_row(void *ctx, const src_row_t *row)
{
    file_t *f = ctx;
    push_ctx_t *x = f->x;
    anon_out_t out;
    anon_result_t res = anon_row(f->anon, row, &out);
    f->st->rows++;
    if (x->progress)
        progress_row(x->progress);
    int rc = 0;
    if (res == ANON_ROW_ERROR) {
        f->st->row_errors++;
        report(f, "not sent", row->line, out.column, out.why);
    } else if (res == ANON_QUARANTINE) {
        f->st->quarantined++;
        if (x->progress)
            progress_quarantined(x->progress);
        report(f, "quarantined", row->line, out.column, out.why);
        if (x->spool) {
            rc = spool_quarantine(x->spool, out.records, f->path, row->line, out.column, out.why,
                                  f->err, f->err_len);
        } else if (x->dry_out) {
            json_t *q =
                json_pack("{s:{s:s, s:I, s:s, s:s}}", "quarantined", "file", f->path, "line",
                          (json_int_t)row->line, "column", out.column, "why", out.why);
            json_dumpf(q, x->dry_out, JSON_COMPACT);
            fputc('\n', x->dry_out);
            json_decref(q);
        }
    } else if ((rc = set_versions(f, out.records)) == 0) {
        f->st->records += (int64_t)json_array_size(out.records);
        if (x->spool) {
            rc = spool_queue(x->spool, out.records, f->path, row->line, f->err, f->err_len);
        } else if (x->dry_out) {
            size_t i;
            json_t *doc;
            json_array_foreach(out.records, i, doc)
            {
                json_dumpf(doc, x->dry_out, JSON_COMPACT);
                fputc('\n', x->dry_out);
            }
        }
    }
    json_decref(out.records);
    if (rc == 0 && x->chunk_rows && x->spool && ++f->since_commit >= f->chunk)
        rc = commit_chunk(f, true);
    return rc ? -2 : 0;
}

static bool is_json_name(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot &&
           (!strcasecmp(dot, ".json") || !strcasecmp(dot, ".ndjson") || !strcasecmp(dot, ".jsonl"));
}

static int read_file(const char *path, bool json, src_sink_t *sink, char *err, size_t err_len)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    int rc =
        json ? json_read(in, path, sink, err, err_len) : csv_read(in, path, sink, err, err_len);
    fclose(in);
    return rc;
}

static int on_row_check(void *ctx, const src_row_t *row)
{
    (void)ctx;
    (void)row;
    return 0;
}

/* The check before a chunked read: the file opens, parses to its end and
 * has every mapped column, or nothing of it is spooled. */
static int check_file(push_ctx_t *x, const mapping_t *m, const char *path, bool json,
                      push_stats_t *st, char *err, size_t err_len)
{
    file_t f = {x, anon_new(m, x->secret, x->origin), path, st, err, err_len, 0, 0, 0};
    src_sink_t sink = {on_header, on_row_check, &f};
    int rc = read_file(path, json, &sink, err, err_len);
    anon_free(f.anon);
    return rc;
}

int push_file(push_ctx_t *x, const mapping_t *m, const char *path, push_stats_t *st, char *err,
              size_t err_len)
{
    memset(st, 0, sizeof(*st));
    bool json =
        m->format == MAP_FORMAT_JSON || (m->format == MAP_FORMAT_AUTO && is_json_name(path));
    bool chunked = x->spool && x->chunk_rows;
    if (chunked && check_file(x, m, path, json, st, err, err_len) != 0)
        return -1;
    if (x->spool && spool_begin(x->spool, err, err_len) != 0)
        return -1;
    file_t f = {x, anon_new(m, x->secret, x->origin), path, st, err, err_len, 0, 0, x->chunk_rows};
    src_sink_t sink = {on_header, on_row, &f};
    int rc = read_file(path, json, &sink, err, err_len);
    anon_free(f.anon);
    if (f.reported > MAX_REPORTED && x->report)
        fprintf(x->report, "%s: %lld more rows not sent or quarantined\n", path,
                (long long)(f.reported - MAX_REPORTED));
    if (rc != 0) {
        if (x->spool)
            spool_rollback(x->spool);
        return -1;
    }
    if (chunked)
        return commit_chunk(&f, false);
    if (x->spool && spool_commit(x->spool, err, err_len) != 0)
        return -1;
    return 0;
}

static void usage_push(FILE *out)
{
    fprintf(out,
            "usage: trellis push --mapping MAP [--dry-run] [--quiet] [SETTINGS] FILE...\n\n"
            "Read each export FILE (CSV, JSON or NDJSON) with the mapping file MAP,\n"
            "anonymise every row at source, spool the records and send them to the node\n"
            "until it has answered for every one, sending while it reads. A file that\n"
            "cannot be read to its end (malformed, a mapped column missing) is checked\n"
            "first and spools nothing.\n"
            "Rows whose free text carries personal data are quarantined here, never sent\n"
            "(trellis quarantine list); rows that cannot become a record are reported\n"
            "with their file, line and column, never their values.\n\n"
            "  --mapping MAP  the mapping file (deploy/examples/ has examples)\n"
            "  --dry-run      print the records that would be sent (one JSON a line) and the\n"
            "                 quarantined rows; send nothing, spool nothing\n"
            "  --quiet        no progress (errors still go to stderr)\n\n"
            "Progress goes to stderr: a status line on a terminal, else a line per batch.\n\n");
    agent_config_usage(out);
    fprintf(out, "\nexit status: 0 ok, 2 usage, 3 some records refused or quarantined,\n"
                 "4 node unreachable (what is spooled stays for `trellis sync`), 5 local error.\n");
}

static void usage_sync(FILE *out)
{
    fprintf(out, "usage: trellis sync [--quiet] [SETTINGS]\n\n"
                 "Send what the spool holds (after an interrupted push, or a node that was\n"
                 "down) until the node has answered for every record.\n\n");
    agent_config_usage(out);
    fprintf(out, "\nexit status: 0 ok, 2 usage, 3 some records refused, 4 node unreachable,\n"
                 "5 local error.\n");
}

static int exit_for_send(int rc)
{
    return rc == SEND_E_UNREACHABLE ? CLI_EXIT_UNREACHABLE : CLI_EXIT_LOCAL;
}

static void summary(const progress_t *p)
{
    printf("node: %lld sent, %lld stored, %lld unchanged, %lld refused\n", (long long)p->sent,
           (long long)p->stored, (long long)p->unchanged, (long long)p->refused);
}

/* The common start: config, help, spool. */
static int start(int argc, char **argv, void (*usage)(FILE *), agent_config_t *c, int *rest_argc)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return CLI_EXIT_OK + 100;
        }
    }
    bool is_usage;
    char err[512];
    *rest_argc = argc - 1;
    if (agent_config_load(c, rest_argc, argv + 1, &is_usage, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        return is_usage ? CLI_EXIT_USAGE : CLI_EXIT_LOCAL;
    }
    return -1;
}

int push_main(int argc, char **argv)
{
    agent_config_t c;
    int n;
    int rc = start(argc, argv, usage_push, &c, &n);
    if (rc == CLI_EXIT_OK + 100)
        return CLI_EXIT_OK;
    if (rc >= 0) {
        agent_config_free(&c);
        return rc;
    }
    char **args = argv + 1;
    const char *map_path = NULL;
    bool dry = false, quiet = false;
    int n_files = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(args[i], "--mapping") && i + 1 < n)
            map_path = args[++i];
        else if (!strcmp(args[i], "--dry-run"))
            dry = true;
        else if (!strcmp(args[i], "--quiet"))
            quiet = true;
        else if (args[i][0] == '-' && args[i][1]) {
            cli_error("unknown option '%s' (see trellis push --help)", args[i]);
            agent_config_free(&c);
            return CLI_EXIT_USAGE;
        } else
            args[n_files++] = args[i];
    }
    if (!map_path || n_files == 0) {
        cli_error("%s (see trellis push --help)",
                  !map_path ? "which mapping? give --mapping MAP" : "no export file given");
        agent_config_free(&c);
        return CLI_EXIT_USAGE;
    }
    char err[512];
    rc = CLI_EXIT_LOCAL;
    tr_identity_t me;
    push_ctx_t x = {0};
    progress_t p;
    progress_init(&p, quiet || dry);
    x.progress = &p;
    x.report = stderr;
    mapping_t *m = NULL;
    node_http_t *h = NULL;
    spool_gate_t *gate = NULL;
    push_sender_t *sender = NULL;
    if (agent_identity(&c, &me, err, sizeof(err)) != 0 ||
        agent_secret_load(c.secret, x.secret, err, sizeof(err)) != 0 ||
        !(m = mapping_load(map_path, err, sizeof(err)))) {
        cli_error("%s", err);
        goto done;
    }
    x.origin = me.org;
    if (dry) {
        x.dry_out = stdout;
    } else {
        if (agent_config_require_node(&c, err, sizeof(err)) != 0 ||
            !(x.spool = spool_open(c.spool, err, sizeof(err))) ||
            !(h = node_http_new(&c, err, sizeof(err)))) {
            cli_error("%s", err);
            goto done;
        }
        /* Stream: a sender thread takes each committed chunk while the
         * files are read on, one round of batches per chunk. */
        gate = spool_gate_new();
        spool_set_gate(x.spool, gate);
        if (!(sender = push_sender_start(&c, gate, h, &p, err, sizeof(err)))) {
            cli_error("%s", err);
            goto done;
        }
        x.chunk_rows = (size_t)c.batch * (size_t)(c.parallel > 0 ? c.parallel : 1);
        x.on_chunk = push_sender_wake;
        x.chunk_ctx = sender;
    }
    bool file_failed = false, held = false;
    for (int i = 0; i < n_files; i++) {
        push_stats_t st;
        if (push_file(&x, m, args[i], &st, err, sizeof(err)) != 0) {
            progress_end(&p);
            if (st.committed_rows)
                cli_error("%s (its first %lld rows were spooled before it)", err,
                          (long long)st.committed_rows);
            else
                cli_error("%s (nothing of this file was spooled)", err);
            file_failed = true;
            continue;
        }
        held = held || st.quarantined || st.row_errors;
        if (!dry)
            printf("%s: %lld rows read, %lld records spooled, %lld quarantined, %lld not sent\n",
                   args[i], (long long)st.rows, (long long)st.records, (long long)st.quarantined,
                   (long long)st.row_errors);
        else
            fprintf(stderr,
                    "trellis: %s: %lld rows, %lld records, %lld quarantined, %lld not sent "
                    "(dry run: nothing spooled or sent)\n",
                    args[i], (long long)st.rows, (long long)st.records, (long long)st.quarantined,
                    (long long)st.row_errors);
    }
    if (dry) {
        rc = file_failed ? CLI_EXIT_LOCAL : held ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
        goto done;
    }
    int sr = push_sender_finish(sender, err, sizeof(err));
    sender = NULL;
    progress_end(&p);
    summary(&p);
    if (sr != SEND_OK) {
        cli_error("%s", err);
        rc = exit_for_send(sr);
    } else {
        rc = file_failed ? CLI_EXIT_LOCAL : (held || p.refused) ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
    }
    if (p.refused)
        fprintf(stderr, "trellis: %lld records refused by the node: trellis refused list\n",
                (long long)p.refused);
done:
    if (sender) {
        char ignored[512];
        push_sender_finish(sender, ignored, sizeof(ignored));
    }
    node_http_free(h);
    spool_close(x.spool);
    spool_gate_free(gate);
    mapping_free(m);
    agent_config_free(&c);
    return rc;
}

int sync_main(int argc, char **argv)
{
    agent_config_t c;
    int n;
    int rc = start(argc, argv, usage_sync, &c, &n);
    if (rc == CLI_EXIT_OK + 100)
        return CLI_EXIT_OK;
    if (rc >= 0) {
        agent_config_free(&c);
        return rc;
    }
    bool quiet = false;
    for (int i = 0; i < n; i++) {
        if (!strcmp(argv[1 + i], "--quiet")) {
            quiet = true;
        } else {
            cli_error("unknown argument '%s' (see trellis sync --help)", argv[1 + i]);
            agent_config_free(&c);
            return CLI_EXIT_USAGE;
        }
    }
    char err[512];
    spool_t *s = NULL;
    node_http_t *h = NULL;
    progress_t p;
    progress_init(&p, quiet);
    rc = CLI_EXIT_LOCAL;
    if (agent_config_require_node(&c, err, sizeof(err)) != 0 ||
        !(s = spool_open(c.spool, err, sizeof(err))) ||
        !(h = node_http_new(&c, err, sizeof(err)))) {
        cli_error("%s", err);
        goto done;
    }
    int sr = send_queue(s, h, &c, &p, err, sizeof(err));
    progress_end(&p);
    summary(&p);
    if (sr != SEND_OK) {
        cli_error("%s", err);
        rc = exit_for_send(sr);
    } else {
        rc = p.refused ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
    }
done:
    node_http_free(h);
    spool_close(s);
    agent_config_free(&c);
    return rc;
}
