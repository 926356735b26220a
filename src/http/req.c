#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "http/internal.h"

struct chatd_req *http_req_alloc(struct http_server *s, enum req_kind kind)
{
    struct chatd_req *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->srv = s;
    r->kind = kind;
    r->route_label = "unmatched";
    r->start_ns = core_mono_ns();
    r->phase = PHASE_BODY;
    atomic_init(&r->finished, false);
    atomic_init(&r->refs, 1);
    return r;
}

static void headers_free(struct http_hdr *h)
{
    for (struct http_hdr *next; h != NULL; h = next) {
        next = h->next;
        free(h->name);
        free(h->value);
        free(h);
    }
}

void http_req_free(struct chatd_req *r)
{
    size_t i;

    if (r == NULL)
        return;
    headers_free(r->headers);
    for (i = 0; i < r->nargs; i++) {
        free(r->args[i].key);
        free(r->args[i].value);
    }
    free(r->args);
    free(r->path);
    free(r->seg_buf);
    free(r->body);
    free(r->reply);
    free(r);
}

bool http_req_id_valid(const char *id)
{
    size_t n;

    if (id == NULL)
        return false;
    for (n = 0; id[n] != '\0'; n++) {
        char c = id[n];

        if (n >= HTTP_REQUEST_ID_MAX ||
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
              c == '-'))
            return false;
    }
    return n > 0;
}

/* Fills the pool from the kernel; false if getrandom fails. */
static bool id_pool_fill(struct http_server *s)
{
    size_t got = 0;
    ssize_t n;

    while (got < sizeof(s->id_pool)) {
        n = getrandom(s->id_pool + got, sizeof(s->id_pool) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    s->id_used = 0;
    return true;
}

/* HTTP_ID_BYTES random bytes from the server's pool: one getrandom per
 * HTTP_ID_POOL / HTTP_ID_BYTES requests instead of one per request. Each
 * byte is handed out once. */
static bool id_random(struct http_server *s, unsigned char *out)
{
    bool ok = true;

    pthread_mutex_lock(&s->id_lock);
    if (s->id_used + HTTP_ID_BYTES > sizeof(s->id_pool))
        ok = id_pool_fill(s);
    if (ok) {
        memcpy(out, s->id_pool + s->id_used, HTTP_ID_BYTES);
        s->id_used += HTTP_ID_BYTES;
    }
    pthread_mutex_unlock(&s->id_lock);
    return ok;
}

void http_req_set_id(struct chatd_req *r, const char *client_id)
{
    unsigned char b[HTTP_ID_BYTES];

    if (http_req_id_valid(client_id)) {
        strcpy(r->request_id, client_id);
        return;
    }
    /* 16 random bytes as hex; if getrandom fails, fall back to the clock so
     * the request still has a (less unique) id. */
    if (!id_random(r->srv, b)) {
        snprintf(r->request_id, sizeof(r->request_id), "t%llx",
                 (unsigned long long)core_mono_ns());
        return;
    }
    crypto_hex(b, HTTP_ID_BYTES, r->request_id);
}

/* --- accessors --- */

const char *http_req_method(const struct chatd_req *req)
{
    return req->method;
}

const char *http_req_path(const struct chatd_req *req)
{
    return req->path;
}

const char *http_req_param(struct chatd_req *req, const char *name)
{
    const struct http_route *rt = req->route;
    size_t i;

    if (rt == NULL || name == NULL)
        return NULL;
    for (i = 0; i < rt->nseg; i++)
        if ((rt->param_mask & (1u << i)) && strcmp(rt->seg[i], name) == 0)
            return req->seg[i];
    return NULL;
}

const char *http_req_query(struct chatd_req *req, const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; i < req->nargs; i++)
        if (strcmp(req->args[i].key, name) == 0)
            return req->args[i].value;
    return NULL;
}

struct chatd_val http_req_body(struct chatd_req *req)
{
    struct chatd_val v = {NULL, 0};

    if (req->body_len > 0) {
        v.data = req->body;
        v.len = req->body_len;
    }
    return v;
}

const char *http_req_header(struct chatd_req *req, const char *name)
{
    if (req->kind != REQ_MHD || name == NULL)
        return NULL;
    /* The header list lives in the connection's pool until the request
     * completes; MHD does not touch it while the connection is suspended,
     * so the writer may read it during a deferral. */
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

struct chatd_principal http_req_principal(struct chatd_req *req)
{
    struct chatd_principal p;

    p.kind = req->who.kind;
    p.id = req->who.kind == CHATD_PRINCIPAL_NONE ? NULL : req->who.id;
    return p;
}

const char *http_req_correlation_id(struct chatd_req *req)
{
    return req->request_id;
}

struct evlog_txn *http_req_txn(struct chatd_req *req)
{
    int rc;

    /* `deferred` first: after a deferral another thread may be asking,
     * and the other fields belong to the handler's thread. */
    if (req->deferred || !req->in_handler)
        return NULL;
    if (req->txn != NULL)
        return req->txn;
    if (req->srv->deps.log == NULL)
        return NULL;
    rc = evlog_txn_begin(req->srv->deps.log, false, &req->txn);
    if (rc != CHATD_OK) {
        core_log(CORE_LOG_ERROR, "http",
                 "read transaction for %s %s (request %s) failed: %s",
                 req->method, req->route_label, req->request_id,
                 core_strerror(rc));
        req->txn = NULL;
    }
    return req->txn;
}

const char *http_req_owner(const struct chatd_req *req)
{
    return req->route == NULL ? "http" : req->route->owner;
}

void http_req_set_user(struct chatd_req *req, void *user)
{
    req->user = user;
}

void *http_req_user(const struct chatd_req *req)
{
    return req->user;
}

/* --- answers --- */

static void reply_set(struct chatd_req *r, unsigned status, char *owned,
                      size_t len, const char *content_type)
{
    if (status < 100 || status > 599) {
        core_log(CORE_LOG_ERROR, "http",
                 "%s %s (request %s): handler answered with status %u; "
                 "expected 100..599, sending 500",
                 r->method, r->route_label, r->request_id, status);
        free(owned);
        owned = http_error_body("internal", "invalid status", &len);
        status = 500;
        content_type = NULL;
    }
    free(r->reply);
    r->reply = owned;
    r->reply_len = owned == NULL ? 0 : len;
    r->reply_static = NULL;
    r->status = status;
    r->content_type = content_type;
}

/* Out of memory: the answer becomes a static 500 body. */
static void reply_oom(struct chatd_req *r)
{
    free(r->reply);
    r->reply = NULL;
    r->reply_static = http_error_oom_body;
    r->reply_len = strlen(http_error_oom_body);
    r->status = 500;
    r->content_type = NULL;
}

void http_reply_owned(struct chatd_req *r, unsigned status, char *text,
                      size_t len, const char *content_type)
{
    reply_set(r, status, text, len, content_type);
}

void http_reply_json(struct chatd_req *req, unsigned status, const char *body,
                     size_t len)
{
    char *copy = NULL;

    if (body == NULL)
        len = 0;
    if (len > 0) {
        copy = malloc(len + 1);
        if (copy == NULL) {
            reply_oom(req);
            return;
        }
        memcpy(copy, body, len);
        copy[len] = '\0';
    }
    reply_set(req, status, copy, len, NULL);
}

void http_reply_json_take(struct chatd_req *req, unsigned status, char *body,
                          size_t len)
{
    reply_set(req, status, body, body == NULL ? 0 : len, NULL);
}

void http_reply_error(struct chatd_req *req, unsigned status, const char *code,
                      const char *message)
{
    size_t len = 0;
    char *body = http_error_body(code, message, &len);

    if (body == NULL) {
        reply_oom(req);
        return;
    }
    reply_set(req, status, body, len, NULL);
}

const struct http_hdr *http_reply_header_find(const struct chatd_req *r,
                                              const char *name)
{
    const struct http_hdr *h;

    for (h = r->headers; h != NULL; h = h->next)
        if (strcasecmp(h->name, name) == 0)
            return h;
    return NULL;
}

void http_reply_header(struct chatd_req *req, const char *name,
                       const char *value)
{
    struct http_hdr *h, **tail;

    if (name == NULL || value == NULL || *name == '\0')
        return;
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        goto oom;
    h->name = strdup(name);
    h->value = strdup(value);
    if (h->name == NULL || h->value == NULL)
        goto free_h;
    for (tail = &req->headers; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = h;
    return;

free_h:
    free(h->name);
    free(h->value);
    free(h);
oom:
    reply_oom(req);
}

size_t http_reply_header_count(const struct chatd_req *req)
{
    size_t n = 0;

    for (const struct http_hdr *h = req->headers; h != NULL; h = h->next)
        n++;
    return n;
}

void http_reply_reset(struct chatd_req *req, size_t keep_headers)
{
    struct http_hdr **link = &req->headers;

    while (*link != NULL && keep_headers > 0) {
        link = &(*link)->next;
        keep_headers--;
    }
    headers_free(*link);
    *link = NULL;
    free(req->reply);
    req->reply = NULL;
    req->reply_len = 0;
    req->reply_static = NULL;
    req->status = 0;
    req->content_type = NULL;
}

unsigned http_reply_status(const struct chatd_req *req)
{
    return req->status;
}

/* --- body --- */

int http_req_body_append(struct chatd_req *r, const char *data, size_t len)
{
    size_t cap;
    char *body;

    if (len > r->srv->max_body || r->body_len > r->srv->max_body - len)
        return CHATD_EFULL;
    if (r->body_len + len + 1 > r->body_cap) {
        cap = r->body_cap == 0 ? 1024 : r->body_cap;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        body = realloc(r->body, cap);
        if (body == NULL)
            return CHATD_ENOMEM;
        r->body = body;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return CHATD_OK;
}

/* --- deferral --- */

void http_req_defer(struct chatd_req *req)
{
    if (!req->in_handler || req->deferred) {
        core_log(CORE_LOG_ERROR, "http",
                 "%s %s (request %s): defer called %s; ignored", req->method,
                 req->route_label, req->request_id,
                 req->deferred ? "twice" : "outside its handler");
        return;
    }
    req->deferred = true;
    metrics_add(req->srv->deferred, 1);
    if (req->kind == REQ_MHD) {
        /* Suspend now, on the MHD thread inside the access handler, so a
         * writer that finishes before we return finds it suspended. */
        MHD_suspend_connection(req->conn);
    } else {
        /* The deferral holds its own reference until finish. */
        atomic_fetch_add(&req->refs, 1);
    }
}

void http_req_finish(struct chatd_req *req)
{
    struct MHD_Connection *conn;

    if (!req->deferred || atomic_load(&req->finished)) {
        core_log(CORE_LOG_ERROR, "http",
                 "%s %s (request %s): finish without a pending defer; "
                 "ignored",
                 req->method, req->route_label, req->request_id);
        return;
    }
    metrics_add(req->srv->deferred, -1);
    if (req->kind == REQ_SYNTH) {
        atomic_store(&req->finished, true);
        http_dispatch_deliver(req);
        http_dispatch_release(req);
        return;
    }
    /* Once resumed, the MHD thread may send and free the request at any
     * moment: read what we need first, touch nothing after. */
    conn = req->conn;
    atomic_store(&req->finished, true);
    MHD_resume_connection(conn);
}

bool http_req_run(struct chatd_req *r)
{
    const struct http_route *rt = r->route;

    r->in_handler = true;
    rt->fn(rt->ctx, r);
    r->in_handler = false;
    if (r->txn != NULL) {
        evlog_txn_abort(r->txn);
        r->txn = NULL;
    }
    if (r->deferred)
        return true;
    if (r->status == 0) {
        core_log(CORE_LOG_ERROR, "http",
                 "%s %s (owner %s, request %s): handler returned without "
                 "answering or deferring; sending 500",
                 r->method, rt->pattern, rt->owner, r->request_id);
        http_reply_error(r, 500, "internal",
                         "the handler did not answer the request");
    }
    return false;
}
