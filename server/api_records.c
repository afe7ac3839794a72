/* The records API: POST /v1/records (a batch, validated on the thread pool
 * and stored in one round trip) and GET /v1/records/{kind}/{id}. The change
 * feed is feed.c. */
#include "api.h"
#include "batch_scan.h"
#include "config_sharing.h"
#include "feed.h"
#include "log.h"
#include "query.h"
#include "record_arrays.h"
#include "response.h"
#include "strbuf.h"
#include "sync_pull.h"
#include "tr_canon.h"
#include "tr_check.h"
#include "tr_error.h"
#include "tr_record.h"
#include "tr_sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- POST /v1/records ---- */

/* What the reply says of one record. kind and id are echoed only once
 * validated: they are not refused values. */
typedef struct {
    const char *result; /* "stored", "unchanged", "refused"; NULL: not decided */
    json_t *errors;     /* refused: [{path, code, message}] */
    const char *kind;   /* NULL until validated */
    char id[TR_UUID_LEN + 1];
} result_t;

typedef struct {
    uv_work_t work;
    req_t *req; /* NULL once the connection went away */
    node_t *node;
    char caller_org[TR_NAME_MAX + 1];
    EVP_PKEY *sign_key; /* a reference: SIGHUP may swap the context meanwhile */
    char signer_fp[65];
    size_t max_records;
    json_t *audience[TR_KIND_COUNT_]; /* this node's [sharing], made for this job alone */
    json_int_t signed_at;             /* the time the batch is signed, signed into each */
    char *body;                       /* a copy: the request may be freed while the work runs */
    size_t body_len;
    /* results of the work */
    int status;
    const char *slug;
    char detail[160];
    result_t *results; /* one per record, in request order */
    size_t n_results;
    record_arrays_t records; /* the valid ones: trellis_store's parameters */
} store_job_t;

static void store_job_free(store_job_t *job)
{
    job->node->queued_body_bytes -= job->body_len;
    EVP_PKEY_free(job->sign_key);
    for (int k = 0; k < TR_KIND_COUNT_; k++)
        json_decref(job->audience[k]);
    free(job->body);
    record_arrays_free(&job->records);
    for (size_t i = 0; i < job->n_results; i++)
        json_decref(job->results[i].errors);
    free(job->results);
    free(job);
}

static void job_fail(store_job_t *job, int status, const char *slug, const char *detail)
{
    job->status = status;
    job->slug = slug;
    snprintf(job->detail, sizeof(job->detail), "%s", detail);
}

static void refuse(result_t *r, json_t *errors)
{
    r->result = "refused";
    json_decref(r->errors);
    r->errors = errors;
}

static json_t *one_error(const char *path, const char *code, const char *message)
{
    return json_pack("[{s:s, s:s, s:s}]", "path", path, "code", code, "message", message);
}

typedef struct {
    const char *kind, *id;
    size_t i;
} key_t_;

static int cmp_key(const void *a, const void *b)
{
    const key_t_ *x = a, *y = b;
    int c = strcmp(x->kind, y->kind);
    if (!c)
        c = strcmp(x->id, y->id);
    return c ? c : (x->i < y->i ? -1 : 1);
}

/* jansson takes about 10 times a real batch's bytes (12 for the densest seen); empty objects
 * take 80. A batch whose tree would pass this many times its size is refused unbuilt. */
#define TREE_BYTES_PER_BODY_BYTE 16
#define TREE_BYTES_MIN (1024 * 1024)

/* Parse, validate every record, hash and sign it, build the batch. */
static void prepare_batch(store_job_t *job, tr_signer_t *signer)
{
    char d[160];
    switch (batch_scan(job->body, job->body_len, job->max_records,
                       TREE_BYTES_MIN + TREE_BYTES_PER_BODY_BYTE * job->body_len, NULL)) {
    case BATCH_SCAN_OK:
        break;
    case BATCH_SCAN_TOO_MANY:
        snprintf(d, sizeof(d), "a batch holds at most %zu records ([limits] max_batch_records)",
                 job->max_records);
        job_fail(job, 413, "too-many-records", d);
        return;
    case BATCH_SCAN_TOO_COSTLY:
        job_fail(job, 413, "batch-too-complex",
                 "the batch has too many JSON values for its size (empty objects or arrays by "
                 "the million); nothing was stored");
        return;
    }
    json_error_t jerr;
    json_t *root = json_loadb(job->body, job->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(d, sizeof(d), "the body is not valid JSON (line %d, column %d)", jerr.line,
                 jerr.column);
        job_fail(job, 400, "invalid-json", d);
        return;
    }
    json_t *records = json_object_get(root, "records");
    if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(records)) {
        job_fail(job, 400, "invalid-batch", "the body must be {\"records\": [...]}");
        json_decref(root);
        return;
    }
    size_t n = json_array_size(records);
    if (n > job->max_records) {
        snprintf(d, sizeof(d), "a batch holds at most %zu records ([limits] max_batch_records)",
                 job->max_records);
        job_fail(job, 413, "too-many-records", d);
        json_decref(root);
        return;
    }

    job->results = calloc(n ? n : 1, sizeof(*job->results));
    if (!job->results)
        abort();
    job->n_results = n;
    tr_record_t *recs = calloc(n ? n : 1, sizeof(*recs));
    key_t_ *keys = calloc(n ? n : 1, sizeof(*keys));
    if (!recs || !keys)
        abort();
    size_t n_keys = 0;
    for (size_t i = 0; i < n; i++) {
        tr_verrors_t errs;
        tr_verrors_init(&errs);
        json_t *doc = json_array_get(records, i);
        int rc = tr_record_validate(doc, &recs[i], &errs);
        if (rc == 0 && strcmp(recs[i].origin, job->caller_org) != 0) {
            tr_verrors_add(&errs, "$.origin", "not_your_origin",
                           "an agent may only write records of its own organisation");
            tr_record_clear(&recs[i]);
            rc = TR_E_INVAL;
        }
        if (rc == 0 && (json_object_get(doc, "audience") || json_object_get(doc, "signed_at"))) {
            tr_verrors_add(&errs, json_object_get(doc, "audience") ? "$.audience" : "$.signed_at",
                           "set_by_node",
                           "audience and signed_at are set by the node ([sharing] in its "
                           "configuration) when it signs the record");
            tr_record_clear(&recs[i]);
            rc = TR_E_INVAL;
        }
        result_t *r = &job->results[i];
        if (rc != 0) {
            refuse(r, tr_verrors_json(&errs));
        } else {
            r->kind = tr_kind_name(recs[i].kind);
            memcpy(r->id, recs[i].id, sizeof(r->id));
            keys[n_keys++] = (key_t_){r->kind, recs[i].id, i};
        }
        tr_verrors_free(&errs);
    }

    /* The same record twice in one batch: keep the first, refuse the others. */
    qsort(keys, n_keys, sizeof(*keys), cmp_key);
    for (size_t k = 1; k < n_keys; k++) {
        if (strcmp(keys[k].kind, keys[k - 1].kind) || strcmp(keys[k].id, keys[k - 1].id))
            continue;
        size_t i = keys[k].i;
        refuse(&job->results[i], one_error("$.id", "duplicate_in_batch",
                                           "the same record appears earlier in this batch"));
        tr_record_clear(&recs[i]);
    }

    record_arrays_init(&job->records);
    for (size_t i = 0; i < n; i++) {
        if (!recs[i].doc)
            continue;
        char hash[65], *text = NULL;
        size_t text_len;
        /* The origin's sharing decision and the signing time are part of
         * what is signed: relays honour the one, and the other says which
         * certificate was valid for the signature (docs/federation.md). */
        json_object_set(recs[i].doc, "audience", job->audience[recs[i].kind]);
        json_object_set_new(recs[i].doc, "signed_at", json_integer(job->signed_at));
        /* The hash identifies the content (a re-signed record is the same
         * record); the signature is this node's, as the records' origin node.
         * What is stored is the canonical text of the signed record. A
         * record that came with a signature of its own takes the long way. */
        int rc = tr_signer_seal(signer, recs[i].doc, hash, &text, &text_len);
        if (rc == TR_E_INVAL)
            rc = tr_record_content_hash(recs[i].doc, hash) || tr_signer_sign(signer, recs[i].doc) ||
                 tr_canon_dump(recs[i].doc, &text, &text_len);
        if (rc != 0) {
            refuse(&job->results[i],
                   one_error("$", "not_canonical", "the record cannot be put in canonical form"));
            tr_record_clear(&recs[i]);
            continue;
        }
        record_arrays_add(&job->records, (int)i, &recs[i], hash, text, text_len);
        free(text);
        tr_record_clear(&recs[i]);
    }
    free(recs);
    free(keys);
    json_decref(root);
}

/* On the thread pool. */
static void store_work(uv_work_t *w)
{
    store_job_t *job = w->data;
    tr_signer_t *signer = tr_signer_new(job->sign_key, job->signer_fp);
    if (!signer) {
        job_fail(job, 500, "internal", "this node cannot sign records now");
        return;
    }
    prepare_batch(job, signer);
    tr_signer_free(signer);
}

/* The reply, written straight out: kind and id are validated (a kind name
 * and a UUID) and need no escaping; only a refusal's errors go through
 * jansson. */
static void reply_results(store_job_t *job)
{
    size_t counts[3] = {0};
    static const char *const names[3] = {"stored", "unchanged", "refused"};
    for (size_t i = 0; i < job->n_results; i++)
        for (int k = 0; k < 3; k++)
            if (job->results[i].result && strcmp(job->results[i].result, names[k]) == 0)
                counts[k]++;
    strbuf_t out = {0};
    strbuf_printf(&out, "{\"stored\":%zu,\"unchanged\":%zu,\"refused\":%zu,\"results\":[",
                  counts[0], counts[1], counts[2]);
    for (size_t i = 0; i < job->n_results; i++) {
        const result_t *r = &job->results[i];
        strbuf_printf(&out, "%s{\"index\":%zu", i ? "," : "", i);
        if (r->kind)
            strbuf_printf(&out, ",\"kind\":\"%s\",\"id\":\"%s\"", r->kind, r->id);
        if (r->result)
            strbuf_printf(&out, ",\"result\":\"%s\"", r->result);
        if (r->errors) {
            char *e = json_dumps(r->errors, JSON_COMPACT);
            strbuf_puts(&out, ",\"errors\":");
            strbuf_puts(&out, e ? e : "[]");
            free(e);
        }
        strbuf_puts(&out, "}");
    }
    strbuf_puts(&out, "]}");
    if (counts[0]) {
        unsigned kinds = 0; /* of what was stored: the viewer keeps the other kinds' figures */
        for (size_t i = 0; i < job->n_results; i++) {
            tr_kind_t k;
            if (job->results[i].result && strcmp(job->results[i].result, "stored") == 0)
                kinds |= job->results[i].kind && tr_kind_parse(job->results[i].kind, &k) == 0
                             ? 1u << k
                             : FEED_KINDS_ALL;
        }
        feed_wake(job->node, kinds);
    }
    size_t len;
    char *body = strbuf_take(&out, &len);
    response_send(job->req, 200, "application/json", NULL, body, len);
    free(body);
}

/* trellis_store's decisions (sql/002_records.sql) as the API reports them. */
typedef struct {
    const char *decision, *kind; /* kind NULL: any */
    const char *result, *code, *message;
} decision_t;

static const decision_t decisions[] = {
    {"new", NULL, "stored", NULL, NULL},
    {"newer", NULL, "stored", NULL, NULL},
    {"same", NULL, "unchanged", NULL, NULL},
    {"older", NULL, "unchanged", NULL, NULL},
    {"conflict", NULL, "refused", "conflict",
     "a different body was already stored at this version"},
    {"write_once", NULL, "refused", "write_once",
     "records of this kind are written once; this id is taken"},
    {"no_referral", NULL, "refused", "no_referral",
     "the referral of this event is not known to this node"},
    {"no_entry", NULL, "refused", "no_entry",
     "the feedback entry of this response is not known to this node"},
    {"not_party", "pathway.event", "refused", "not_party",
     "only the referral's sending or receiving organisation may add events"},
    {"not_party", NULL, "refused", "not_party",
     "only the organisation that received the feedback may respond"},
    {"not_your_service", NULL, "refused", "not_your_service",
     "from_service must be one of this organisation's own directory services"},
    {"not_to_org", NULL, "refused", "not_to_org",
     "to_service is another organisation's service than to_org"},
};

static const decision_t *decision_of(const char *decision, const char *kind)
{
    for (size_t i = 0; i < sizeof(decisions) / sizeof(decisions[0]); i++)
        if (strcmp(decisions[i].decision, decision) == 0 &&
            (!decisions[i].kind || strcmp(decisions[i].kind, kind) == 0))
            return &decisions[i];
    static const decision_t unknown = {"", NULL, "refused", "internal", "not stored"};
    return &unknown;
}

static void on_stored(void *ud, const PGresult *res, const char *err)
{
    store_job_t *job = ud;
    req_t *req = job->req;
    req->dbq = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_event(LOG_ERROR, "store_failed",
                  json_pack("{s:s}", "error", res ? "query failed" : err));
        response_error(req, res ? TR_E_DB : TR_E_DB_UNAVAILABLE,
                       res ? "the records could not be stored; nothing was stored" : NULL);
        store_job_free(job);
        return;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        size_t i = strtoul(PQgetvalue(res, row, 0), NULL, 10);
        const decision_t *d = decision_of(PQgetvalue(res, row, 1), PQgetvalue(res, row, 2));
        if (i >= job->n_results)
            continue;
        if (d->code)
            refuse(&job->results[i], one_error("$", d->code, d->message));
        else
            job->results[i].result = d->result;
    }
    reply_results(job);
    store_job_free(job);
}

static void store_abort(req_t *req)
{
    store_job_t *job = req->ctx;
    if (req->dbq) {
        store_job_free(job); /* the query is cancelled; the work is over */
        return;
    }
    job->req = NULL; /* still on the thread pool: store_done frees it */
}

static void store_done(uv_work_t *w, int status)
{
    store_job_t *job = w->data;
    req_t *req = job->req;
    if (!req) {
        store_job_free(job);
        return;
    }
    if (job->status) {
        response_problem(req, job->status, job->slug, job->detail);
        store_job_free(job);
        return;
    }
    if (!job->records.n) {
        reply_results(job);
        store_job_free(job);
        return;
    }
    const char *values[RA_COLUMNS];
    int lengths[RA_COLUMNS], formats[RA_COLUMNS];
    record_arrays_params(&job->records, values, lengths, formats);
    int rc = db_query_params(req->conn->node->db,
                             "SELECT idx, decision, kind FROM trellis_store($1, $2, $3, $4, $5, "
                             "$6, $7, false)",
                             RA_COLUMNS, values, lengths, formats, on_stored, job, &req->dbq);
    if (rc != 0) {
        response_error(req, rc, NULL);
        store_job_free(job);
    }
}

void api_records_post(req_t *req)
{
    const char *ctype = http_request_header(req->http, "content-type");
    if (!http_media_type_is(ctype, "application/json")) {
        response_problem(req, 415, "unsupported-media-type",
                         "send the batch as Content-Type: application/json");
        return;
    }
    node_t *node = req->conn->node;
    const tr_identity_t *caller = conn_identity(req->conn);
    if (conn_visibility(req->conn) || caller->role != TR_ROLE_AGENT) {
        /* A node signs and stores only its own organisation's records, and
         * takes them only from that organisation's agents: another member's
         * records would be signed here and squat their ids. */
        response_problem(req, 403, "not-your-node",
                         "a node takes records only from its own organisation's agents");
        return;
    }
    char why[200];
    if (!sync_taking_writes(node, why, sizeof(why))) {
        /* Its database went back, or it does not know yet: a write now could
         * reuse an id or a version its peers hold (docs/federation.md). */
        response_problem_h(req, 503, "recovering", why, "Retry-After: 5\r\n");
        return;
    }
    store_job_t *job = calloc(1, sizeof(*job));
    if (!job)
        abort();
    job->req = req;
    job->node = node;
    job->max_records = node->cfg.max_batch_records;
    for (int k = 0; k < TR_KIND_COUNT_; k++) /* the job's own: only one thread uses it at once */
        job->audience[k] = config_audience(&node->cfg, node->org, (tr_kind_t)k);
    job->signed_at = (json_int_t)time(NULL);
    snprintf(job->caller_org, sizeof(job->caller_org), "%s", conn_identity(req->conn)->org);
    job->sign_key = SSL_CTX_get0_privatekey(node->ssl_ctx);
    EVP_PKEY_up_ref(job->sign_key);
    snprintf(job->signer_fp, sizeof(job->signer_fp), "%s", node->signer_fp);
    job->body_len = req->http->body_len;
    /* Counted until the job ends, which may be after its client has gone. */
    node->queued_body_bytes += job->body_len;
    job->body = malloc(job->body_len + 1);
    if (!job->body)
        abort();
    memcpy(job->body, req->http->body, job->body_len);
    job->work.data = job;
    req->ctx = job;
    req->on_abort = store_abort;
    int rc = uv_queue_work(node->loop, &job->work, store_work, store_done);
    if (rc != 0) {
        req->on_abort = NULL;
        store_job_free(job);
        response_problem(req, 503, "busy", "the node cannot take this batch now");
    }
}

/* ---- GET /v1/records/{kind}/{id}[?origin=ORG] ---- */

/* Ids are owned per origin: the same id may be held by several
 * organisations, and ?origin= says whose. Rows: (doc, origin), the caller's
 * visible ones only, at most two (enough to tell one from several). */
static const char *const sql_get[TR_KIND_COUNT_] = {
#define GET_SQL(table, always_visible)                                                             \
    "SELECT doc::text, origin FROM " table " WHERE id = $1::uuid AND ($2::text IS NULL OR "        \
    "origin = $2) AND ($3::text IS NULL OR " always_visible " OR origin = $3 OR "                  \
    "audience && ARRAY[$3, '*']) ORDER BY origin LIMIT 2"
    [TR_KIND_DIRECTORY_SERVICE] = GET_SQL("directory_services", "audience IS NULL"),
    [TR_KIND_PATHWAY_REFERRAL] = GET_SQL("pathway_referrals", "false"),
    [TR_KIND_PATHWAY_EVENT] = GET_SQL("pathway_events", "false"),
    [TR_KIND_FEEDBACK_ENTRY] = GET_SQL("feedback_entries", "false"),
    [TR_KIND_FEEDBACK_RESPONSE] = GET_SQL("feedback_responses", "false"),
#undef GET_SQL
};

static void on_record(void *ud, const PGresult *res, const char *err)
{
    req_t *req = ud;
    req->dbq = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        response_error(req, res ? TR_E_DB : TR_E_DB_UNAVAILABLE, NULL);
        return;
    }
    /* A record the caller may not see is reported as absent: no existence leak. */
    if (PQntuples(res) == 0) {
        response_problem(req, 404, "not-found", "no such record");
        return;
    }
    if (PQntuples(res) > 1) {
        response_problem(req, 409, "ambiguous-id",
                         "several organisations hold a record with this id: add ?origin=ORG");
        return;
    }
    response_send(req, 200, "application/json", NULL, PQgetvalue(res, 0, 0),
                  (size_t)PQgetlength(res, 0, 0));
}

void api_records_get(req_t *req)
{
    static const char *const allowed[] = {"origin", NULL};
    char kind_name[32], id[64], origin[TR_NAME_MAX + 1];
    const char *p = req->http->path + strlen("/v1/records/");
    const char *slash = strchr(p, '/'), *bad;
    size_t bad_len;
    tr_kind_t kind;
    if (!slash || (size_t)(slash - p) >= sizeof(kind_name) || strlen(slash + 1) >= sizeof(id)) {
        response_problem(req, 404, "not-found", "no such record");
        return;
    }
    memcpy(kind_name, p, (size_t)(slash - p));
    kind_name[slash - p] = '\0';
    snprintf(id, sizeof(id), "%s", slash + 1);
    if (tr_kind_parse(kind_name, &kind) != 0) {
        response_problem(req, 404, "unknown-kind", "no such record kind");
        return;
    }
    if (!tr_is_uuid(id)) {
        response_problem(req, 404, "not-found", "record ids are lowercase UUIDs");
        return;
    }
    int has_origin = query_get(req->http->query, "origin", origin, sizeof(origin));
    if (!query_only(req->http->query, allowed, &bad, &bad_len) || has_origin < 0 ||
        (has_origin && !tr_name_valid(origin))) {
        response_problem(req, 400, "bad-parameter",
                         "the one parameter is origin, an organisation id");
        return;
    }
    const char *params[3] = {id, has_origin ? origin : NULL, conn_visibility(req->conn)};
    int rc = db_query(req->conn->node->db, sql_get[kind], 3, params, on_record, req, &req->dbq);
    if (rc != 0)
        response_error(req, rc, NULL);
}

/* GET /v1/changes: this organisation's view of the node, in change-log order. */
void api_changes(req_t *req)
{
    feed_filter_t f = {0};
    const char *vis = conn_visibility(req->conn);
    snprintf(f.vis_org, sizeof(f.vis_org), "%s", vis ? vis : "");
    feed_serve(req, &f);
}
