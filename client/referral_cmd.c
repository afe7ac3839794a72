/* Caseworker referral commands: trellis refer, trellis referral update,
 * trellis referrals, and the outbox of inbound referrals (referral_cmd.h). */
#include "referral_cmd.h"

#include "cli.h"
#include "spool.h"
#include "submit.h"
#include "tr_anon.h"
#include "tr_check.h"

#include <csv.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Body members and the options that set them, for error messages. */
static const char *const referral_names[] = {
    "from_service", "--from",     "to_service", "--to",    "to_org", "--to-org", "week",
    "--week",       "needs",      "--needs",    "risk",    "--risk", "age_band", "--age-band",
    "district",     "--district", "route",      "--route", NULL};
static const char *const event_names[] = {"referral", "ID",   "status", "--status", "reason",
                                          "--reason", "days", "--days", NULL};

static int load_config(agent_config_t *c, int *argc, char **argv)
{
    bool is_usage;
    char err[512];
    if (agent_config_load(c, argc, argv, &is_usage, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        agent_config_free(c);
        return is_usage ? CLI_EXIT_USAGE : CLI_EXIT_LOCAL;
    }
    return -1;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return true;
    return false;
}

static void usage_refer(FILE *out)
{
    fprintf(out,
            "usage: trellis refer --from SERVICE --to SERVICE --needs N[,N...] --risk R\n"
            "                     --age-band B --district D --route R [--week YYYY-Www]\n"
            "                     [--to-org ORG]\n\n"
            "Make a referral from one of this charity's services to another service, and\n"
            "print its id (give it to `trellis referral update`). Services are directory\n"
            "ids (trellis directory pull). Only coarse, allow-listed values are sent:\n"
            "  --to-org    the organisation the --to service belongs to; by default the\n"
            "              node's directory says (service ids are owned per organisation)\n"
            "  --needs     refuge, housing, legal, advocacy, counselling, children, finance,\n"
            "              immigration, health, substance_use, sexual_violence, peer_support,\n"
            "              helpline, mental_health, disability, employment\n"
            "  --risk      standard, medium, high, unknown\n"
            "  --age-band  under_16, 16_17, 18_24, 25_34, 35_44, 45_54, 55_64, 65_plus, unknown\n"
            "  --district  a postcode district (LS6) or local authority code; a full postcode\n"
            "              is cut to its district here, before anything is stored\n"
            "  --route     self, professional, marac, police, health, other\n"
            "  --week      the ISO week of the referral (default: this week)\n\n"
            "exit status: 0 ok, 2 a value is wrong (each named), 3 refused by the node,\n"
            "4 node unreachable (the referral is kept and sent later), 5 local error.\n"
            "Settings (--config, --node, --cert ...): trellis agent --help.\n");
}

/* The organisation whose directory service id is, as the node knows it,
 * into owner (64 bytes). An exit status, with a line saying what to do. */
static int service_owner(const agent_config_t *c, const char *id, char *owner)
{
    char path[96];
    json_t *doc = NULL;
    snprintf(path, sizeof(path), "/v1/records/directory.service/%s", id);
    int rc = submit_get(c, path, &doc);
    const char *origin = json_string_value(json_object_get(doc, "origin"));
    if (rc == CLI_EXIT_OK && origin && strlen(origin) < 64)
        snprintf(owner, 64, "%s", origin);
    else
        cli_error("cannot tell which organisation the --to service belongs to%s: give "
                  "--to-org ORG",
                  rc == CLI_EXIT_UNREACHABLE ? " while the node is unreachable" : "");
    json_decref(doc);
    return rc == CLI_EXIT_OK && !origin ? CLI_EXIT_LOCAL : rc;
}

int refer_main(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        usage_refer(stdout);
        return CLI_EXIT_OK;
    }
    agent_config_t c;
    int n = argc - 1;
    char **a = argv + 1;
    int rc = load_config(&c, &n, a);
    if (rc >= 0)
        return rc;
    const char *from = NULL, *to = NULL, *needs = NULL, *risk = NULL, *band = NULL,
               *district = NULL, *route = NULL, *week = NULL, *to_org = NULL;
    /* The last two are optional. */
    struct {
        const char *flag;
        const char **slot;
    } opts[] = {{"--from", &from},   {"--to", &to},         {"--needs", &needs},
                {"--risk", &risk},   {"--age-band", &band}, {"--district", &district},
                {"--route", &route}, {"--week", &week},     {"--to-org", &to_org}};
    rc = CLI_EXIT_USAGE;
    for (int i = 0; i < n; i++) {
        size_t k;
        for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
            if (!strcmp(a[i], opts[k].flag) && i + 1 < n) {
                *opts[k].slot = a[++i];
                break;
            }
        if (k == sizeof(opts) / sizeof(opts[0])) {
            cli_error("unknown argument '%s' (see trellis refer --help)", a[i]);
            goto done;
        }
    }
    for (size_t k = 0; k + 2 < sizeof(opts) / sizeof(opts[0]); k++) {
        if (!*opts[k].slot) {
            cli_error("%s is missing (see trellis refer --help)", opts[k].flag);
            goto done;
        }
    }
    char org[64], id[37], wk[9], dist[16], owner[64];
    if ((rc = submit_origin(&c, org)) != 0)
        goto done;
    if (!to_org && tr_is_uuid(to)) {
        if ((rc = service_owner(&c, to, owner)) != 0)
            goto done;
        to_org = owner;
    }
    if (!week) {
        submit_this_week(wk);
        week = wk;
    }
    /* A full postcode never leaves this machine: keep its district. */
    if (tr_anon_district(district, dist, sizeof(dist)) == 0)
        district = dist;
    submit_uuid(id);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s}", "from_service", from,
                             "to_service", to, "to_org", to_org ? to_org : "", "week", week,
                             "needs", submit_list(needs), "risk", risk, "age_band", band,
                             "district", district, "route", route);
    json_t *recs = json_pack("[{s:s, s:s, s:s, s:i, s:o}]", "kind", "pathway.referral", "id", id,
                             "origin", org, "version", 1, "body", body);
    rc = submit_records(&c, recs, referral_names);
    json_decref(recs);
    if (rc == CLI_EXIT_OK || rc == CLI_EXIT_UNREACHABLE) {
        char err[256];
        spool_t *s = spool_open(c.spool, err, sizeof(err));
        if (s) {
            long day = tr_date_days((tr_date_t){1970, 1, 1}) + (long)(time(NULL) / 86400);
            spool_made_here(s, id, day);
            spool_close(s);
        }
        printf("%s\n", id);
    }
done:
    agent_config_free(&c);
    return rc;
}

static void usage_update(FILE *out)
{
    fprintf(out,
            "usage: trellis referral update ID --status S [--reason R] [--days N]\n\n"
            "Record what happened to referral ID (sent by this charity, or to one of its\n"
            "services): --status received, accepted, declined, contacted, closed or\n"
            "withdrawn. declined, closed and withdrawn need --reason:\n"
            "  declined   no_capacity, not_eligible, outside_area, unsafe_area, needs_not_met,\n"
            "             no_recourse, person_declined, unable_to_contact, other\n"
            "  closed     support_completed, safety_achieved, moved_on, transferred,\n"
            "             disengaged, other\n"
            "  withdrawn  referrer_withdrew, person_withdrew, duplicate, other\n"
            "--days: whole days since the referral (default: counted from the day it was\n"
            "made here, else from the Monday of its week).\n\n"
            "exit status: 0 ok, 2 a value is wrong, 3 refused by the node, 4 node\n"
            "unreachable (kept and sent later), 5 local error.\n"
            "Settings (--config, --node, --cert ...): trellis agent --help.\n");
}

int referral_main(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        usage_update(stdout);
        return CLI_EXIT_OK;
    }
    agent_config_t c;
    int n = argc - 1;
    char **a = argv + 1;
    int rc = load_config(&c, &n, a);
    if (rc >= 0)
        return rc;
    rc = CLI_EXIT_USAGE;
    const char *ref = NULL, *status = NULL, *reason = NULL;
    long days = -1;
    if (n < 2 || strcmp(a[0], "update") != 0) {
        cli_error("usage: trellis referral update ID --status S [--reason R] (see --help)");
        goto done;
    }
    ref = a[1];
    for (int i = 2; i < n; i++) {
        if (!strcmp(a[i], "--status") && i + 1 < n) {
            status = a[++i];
        } else if (!strcmp(a[i], "--reason") && i + 1 < n) {
            reason = a[++i];
        } else if (!strcmp(a[i], "--days") && i + 1 < n) {
            if (cli_parse_int(a[++i], 0, 3650, &days) != 0) {
                cli_error("--days must be whole days from 0 to 3650");
                goto done;
            }
        } else {
            cli_error("unknown argument '%s' (see trellis referral --help)", a[i]);
            goto done;
        }
    }
    if (!status) {
        cli_error("--status is missing (see trellis referral --help)");
        goto done;
    }
    char org[64], id[37];
    if ((rc = submit_origin(&c, org)) != 0)
        goto done;
    if (days < 0) {
        char err[256];
        spool_t *s = spool_open(c.spool, err, sizeof(err));
        long made = s ? spool_made_day(s, ref) : -1;
        spool_close(s);
        if (made >= 0) {
            days = (long)(time(NULL) / 86400) - made;
        } else {
            char path[128];
            json_t *doc = NULL;
            snprintf(path, sizeof(path), "/v1/records/pathway.referral/%.40s", ref);
            rc = submit_get(&c, path, &doc);
            if (rc != 0) {
                cli_error("cannot find referral %.40s on the node; give --days", ref);
                goto done;
            }
            json_t *rec = json_object_get(doc, "record") ? json_object_get(doc, "record") : doc;
            days = submit_days_since_week(
                json_string_value(json_object_get(json_object_get(rec, "body"), "week")));
            json_decref(doc);
            if (days < 0)
                days = 0;
        }
    }
    submit_uuid(id);
    json_t *body = json_pack("{s:s, s:s, s:I}", "referral", ref, "status", status, "days",
                             (json_int_t)(days > 3650 ? 3650 : days));
    if (reason)
        json_object_set_new(body, "reason", json_string(reason));
    json_t *recs = json_pack("[{s:s, s:s, s:s, s:i, s:o}]", "kind", "pathway.event", "id", id,
                             "origin", org, "version", 1, "body", body);
    rc = submit_records(&c, recs, event_names);
    json_decref(recs);
    if (rc == CLI_EXIT_OK)
        printf("%s %s after %ld days\n", ref, status, days);
done:
    agent_config_free(&c);
    return rc;
}

/* ---- trellis referrals, and the outbox ---- */

static const char *const columns[] = {"referral_id",  "status",   "days_at_status", "days_waiting",
                                      "from_service", "from_org", "to_service",     "week",
                                      "needs",        "risk",     "age_band",       "district",
                                      "route"};
#define N_COLUMNS (sizeof(columns) / sizeof(columns[0]))

/* One referral's values, in columns' order (strings owned by vals). */
static void row_values(json_t *item, char vals[N_COLUMNS][256])
{
    json_t *ref = json_object_get(item, "referral");
    json_t *b = json_object_get(ref, "body");
    const char *status = json_string_value(json_object_get(item, "status"));
    bool open = status && (!strcmp(status, "sent") || !strcmp(status, "received") ||
                           !strcmp(status, "accepted") || !strcmp(status, "contacted"));
    long waiting =
        open ? submit_days_since_week(json_string_value(json_object_get(b, "week"))) : -1;
    snprintf(vals[0], 256, "%s", json_string_value(json_object_get(ref, "id")));
    snprintf(vals[1], 256, "%s", status ? status : "");
    snprintf(vals[2], 256, "%lld", (long long)json_integer_value(json_object_get(item, "days")));
    if (waiting >= 0)
        snprintf(vals[3], 256, "%ld", waiting);
    else
        vals[3][0] = '\0';
    snprintf(vals[4], 256, "%s", json_string_value(json_object_get(b, "from_service")));
    snprintf(vals[5], 256, "%s", json_string_value(json_object_get(ref, "origin")));
    snprintf(vals[6], 256, "%s", json_string_value(json_object_get(b, "to_service")));
    snprintf(vals[7], 256, "%s", json_string_value(json_object_get(b, "week")));
    vals[8][0] = '\0';
    size_t i;
    json_t *need;
    json_array_foreach(json_object_get(b, "needs"), i, need)
    {
        size_t l = strlen(vals[8]);
        snprintf(vals[8] + l, 256 - l, "%s%s", i ? ";" : "", json_string_value(need));
    }
    snprintf(vals[9], 256, "%s", json_string_value(json_object_get(b, "risk")));
    snprintf(vals[10], 256, "%s", json_string_value(json_object_get(b, "age_band")));
    snprintf(vals[11], 256, "%s", json_string_value(json_object_get(b, "district")));
    snprintf(vals[12], 256, "%s", json_string_value(json_object_get(b, "route")));
}

static void csv_row(FILE *f, char vals[][256], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        csv_fwrite(f, vals[i], strlen(vals[i]));
        fputs(i + 1 < n ? "," : "\r\n", f);
    }
}

static void csv_header(FILE *f)
{
    char head[N_COLUMNS][256];
    for (size_t i = 0; i < N_COLUMNS; i++)
        snprintf(head[i], 256, "%s", columns[i]);
    csv_row(f, head, N_COLUMNS);
}

/* Every referral of the node's view, a page at a time (the node gives at
 * most 500 a page and a `next` cursor while more may follow): fn for each
 * item, until it returns non-zero. 0, or submit_get's exit code. */
static int each_referral(const agent_config_t *c, const char *dir, const char *status,
                         int (*fn)(void *ctx, json_t *item), void *ctx)
{
    char after[128] = "";
    for (;;) {
        char path[320];
        snprintf(path, sizeof(path), "/v1/referrals?direction=%s&limit=500%s%s%s%s", dir,
                 status ? "&status=" : "", status ? status : "", after[0] ? "&after=" : "", after);
        json_t *doc;
        int rc = submit_get(c, path, &doc);
        if (rc != 0)
            return rc;
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(doc, "referrals"), i, item)
        {
            if (fn(ctx, item) != 0) {
                json_decref(doc);
                return 0;
            }
        }
        const char *next = json_string_value(json_object_get(doc, "next"));
        size_t len = next ? strlen(next) : 0;
        bool usable =
            next && len > 0 && len < sizeof(after) &&
            strspn(next, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == len;
        if (next && !usable) {
            cli_error("the node's referrals view gave a cursor this agent cannot use");
            json_decref(doc);
            return CLI_EXIT_LOCAL;
        }
        if (next)
            memcpy(after, next, len + 1);
        json_decref(doc);
        if (!next)
            return 0;
    }
}

typedef struct {
    const char *format;
    size_t n;
} listing_t;

static int list_one(void *ctx, json_t *item)
{
    listing_t *l = ctx;
    if (!strcmp(l->format, "json")) {
        fputs(l->n ? ",\n" : "", stdout);
        json_dumpf(item, stdout, JSON_INDENT(2));
    } else {
        char vals[N_COLUMNS][256];
        row_values(item, vals);
        if (!strcmp(l->format, "csv"))
            csv_row(stdout, vals, N_COLUMNS);
        else
            printf("%-36s %-9s %5s %7s  %-8s  %-9s %-8s %s\n", vals[0], vals[1], vals[2],
                   vals[3][0] ? vals[3] : "-", vals[7], vals[9], vals[11], vals[8]);
    }
    l->n++;
    return 0;
}

static void usage_referrals(FILE *out)
{
    fprintf(out, "usage: trellis referrals --in|--out [--status S] [--format table|csv|json]\n\n"
                 "List referrals this charity sent (--out) or that were sent to its services\n"
                 "(--in), with their current status folded from their events, the days at which\n"
                 "it was set, and for open referrals how many days each has waited since the\n"
                 "week it was made.\n"
                 "Settings (--config, --node, --cert ...): trellis agent --help.\n");
}

int referrals_main(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        usage_referrals(stdout);
        return CLI_EXIT_OK;
    }
    agent_config_t c;
    int n = argc - 1;
    char **a = argv + 1;
    int rc = load_config(&c, &n, a);
    if (rc >= 0)
        return rc;
    rc = CLI_EXIT_USAGE;
    const char *dir = NULL, *status = NULL, *format = "table";
    for (int i = 0; i < n; i++) {
        if (!strcmp(a[i], "--in") || !strcmp(a[i], "--out")) {
            dir = a[i] + 2;
        } else if (!strcmp(a[i], "--status") && i + 1 < n) {
            status = a[++i];
        } else if (!strcmp(a[i], "--format") && i + 1 < n) {
            format = a[++i];
        } else {
            cli_error("unknown argument '%s' (see trellis referrals --help)", a[i]);
            goto done;
        }
    }
    if (!dir || (strcmp(format, "table") && strcmp(format, "csv") && strcmp(format, "json"))) {
        cli_error("give --in or --out, and --format table, csv or json");
        goto done;
    }
    if (status && strspn(status, "abcdefghijklmnopqrstuvwxyz_") != strlen(status)) {
        cli_error("--status is a status word, e.g. accepted");
        goto done;
    }
    listing_t l = {format, 0};
    if (!strcmp(format, "json"))
        fputs("[\n", stdout);
    else if (!strcmp(format, "csv"))
        csv_header(stdout);
    else
        printf("%-36s %-9s %5s %7s  %-8s  %-9s %-8s %s\n", "REFERRAL", "STATUS", "DAYS", "WAITING",
               "WEEK", "RISK", "DISTRICT", "NEEDS");
    if ((rc = each_referral(&c, dir, status, list_one, &l)) != 0)
        goto done;
    if (!strcmp(format, "json"))
        fputs(l.n ? "\n]\n" : "]\n", stdout);
    rc = CLI_EXIT_OK;
done:
    agent_config_free(&c);
    return rc;
}

typedef struct {
    spool_t *s;
    FILE *f;
    const char *tmp;
    json_t *ids; /* written to the file, marked once it is in place */
    int failed;
} outbox_t;

static int outbox_one(void *ctx, json_t *item)
{
    outbox_t *o = ctx;
    const char *id = json_string_value(json_object_get(json_object_get(item, "referral"), "id"));
    if (!id || spool_outbox_written(o->s, id))
        return 0;
    if (!o->f) {
        o->f = fopen(o->tmp, "w");
        if (!o->f) {
            o->failed = errno;
            return 1;
        }
        csv_header(o->f);
    }
    char vals[N_COLUMNS][256];
    row_values(item, vals);
    csv_row(o->f, vals, N_COLUMNS);
    json_array_append_new(o->ids, json_string(id));
    return 0;
}

int outbox_write(const agent_config_t *c, spool_t *s, size_t *written, char *err, size_t err_len)
{
    *written = 0;
    char tmp[PATH_MAX], path[PATH_MAX];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(path, sizeof(path), "%s/referrals-in-%s.csv", c->outbox, stamp);
    snprintf(tmp, sizeof(tmp), "%s/.referrals-in-%s.csv.tmp", c->outbox, stamp);
    outbox_t o = {s, NULL, tmp, json_array(), 0};
    int rc = each_referral(c, "in", NULL, outbox_one, &o);
    if (rc != 0 || o.failed) {
        if (o.failed)
            snprintf(err, err_len, "cannot write %s: %s", tmp, strerror(o.failed));
        else
            snprintf(err, err_len, "cannot read the inbound referrals from the node");
        if (o.f) {
            fclose(o.f);
            unlink(tmp);
        }
        json_decref(o.ids);
        return -1;
    }
    if (o.f) {
        /* The file first (whole, synced, renamed), then the ids: a crash in
         * between writes a referral twice, never loses one. */
        if (fflush(o.f) != 0 || fsync(fileno(o.f)) != 0 || fclose(o.f) != 0 ||
            rename(tmp, path) != 0) {
            snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
            unlink(tmp);
            rc = -1;
        } else {
            size_t i;
            json_t *id;
            json_array_foreach(o.ids, i, id) spool_outbox_mark(s, json_string_value(id));
            *written = json_array_size(o.ids);
        }
    }
    json_decref(o.ids);
    return rc;
}

int outbox_main(int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        printf("usage: trellis outbox [SETTINGS]\n\n"
               "Write the referrals sent to this charity's services that the outbox folder\n"
               "([agent] outbox) has not had yet into one new CSV there,\n"
               "referrals-in-YYYYMMDD-HHMMSS.csv (each referral once, with its id for\n"
               "`trellis referral update`). The running agent does this at each look at the\n"
               "inbox.\n"
               "Settings (--config, --node, --cert ...): trellis agent --help.\n");
        return CLI_EXIT_OK;
    }
    agent_config_t c;
    int n = argc - 1;
    char **a = argv + 1;
    int rc = load_config(&c, &n, a);
    if (rc >= 0)
        return rc;
    rc = CLI_EXIT_USAGE;
    char err[512];
    spool_t *s = NULL;
    if (n > 0) {
        cli_error("unknown argument '%s' (see trellis outbox --help)", a[0]);
        goto done;
    }
    rc = CLI_EXIT_LOCAL;
    if (!c.outbox) {
        cli_error("no outbox folder: set [agent] outbox (--outbox, TRELLIS_OUTBOX)");
        goto done;
    }
    if (!(s = spool_open(c.spool, err, sizeof(err)))) {
        cli_error("%s", err);
        goto done;
    }
    size_t written;
    if (outbox_write(&c, s, &written, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        goto done;
    }
    printf("%zu new referral%s written to %s\n", written, written == 1 ? "" : "s", c.outbox);
    rc = CLI_EXIT_OK;
done:
    spool_close(s);
    agent_config_free(&c);
    return rc;
}
