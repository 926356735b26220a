/*
 * http: a real server on 127.0.0.1 (port 0) driven by libcurl and raw
 * sockets. No mocks: the deferred routes are answered by a worker thread,
 * read transactions come from a real evlog in a temporary directory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "core/core.h"
#include "evlog/evlog.h"
#include "http/http.h"
#include "metrics/metrics.h"

#define MAX_BODY 4096
#define WAIT_MS 10000

/* ------------------------------------------------------------------ */
/* A worker thread that answers deferred requests, like the writer.     */
/* ------------------------------------------------------------------ */

struct work {
    struct work *next;
    struct chatd_req *req;
    unsigned delay_ms;
};

struct worker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct work *head;
    bool stop;
    pthread_t thread;
    unsigned batches;
};

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Answers with the request's body echoed:
 * {"echo":<body>,"rid":"...","x":"<X-Test header>"}; the accessors work on
 * this thread while the request is deferred. */
static void work_answer(struct chatd_req *req)
{
    struct chatd_val body = http_req_body(req);
    const char *x = http_req_header(req, "X-Test");
    char out[1024];
    int n;

    n = snprintf(out, sizeof(out),
                 "{\"echo\":%.*s,\"rid\":\"%s\",\"x\":\"%s\"}",
                 body.len ? (int)body.len : 4,
                 body.len ? (const char *)body.data : "null",
                 http_req_correlation_id(req), x == NULL ? "(null)" : x);
    http_reply_json(req, 200, out, (size_t)n);
    http_req_finish(req);
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct work *batch, *next;
    unsigned delay;

    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->head == NULL && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        batch = w->head;
        w->head = NULL;
        pthread_mutex_unlock(&w->mu);
        if (batch == NULL)
            return NULL; /* stopping and drained */
        w->batches++;
        for (delay = 0, next = batch; next != NULL; next = next->next)
            if (next->delay_ms > delay)
                delay = next->delay_ms;
        sleep_ms(delay);
        for (; batch != NULL; batch = next) {
            next = batch->next;
            work_answer(batch->req);
            free(batch);
        }
    }
}

static void worker_push(struct worker *w, struct chatd_req *req,
                        unsigned delay_ms)
{
    struct work *wk = calloc(1, sizeof(*wk));

    assert_non_null(wk);
    wk->req = req;
    wk->delay_ms = delay_ms;
    pthread_mutex_lock(&w->mu);
    wk->next = w->head;
    w->head = wk;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* ------------------------------------------------------------------ */
/* The fixture: one server for the whole group.                        */
/* ------------------------------------------------------------------ */

struct upgraded {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;
    int sock;
    void *urh;
    char extra[256];
    size_t extra_len;
    struct http_principal who;
    char token[64]; /* "" when the callee got none */
};

struct fixture {
    struct http_server *s;
    struct metrics *m;
    struct evlog *log;
    char dir[64];
    uint16_t port;
    struct worker w;
    struct upgraded up;
    int handler_calls;
};

static int on_auth(void *ctx, const char *token, struct http_principal *out)
{
    static const struct {
        const char *token;
        enum chatd_principal_kind kind;
        const char *id;
    } known[] = {
        {"user-token", CHATD_PRINCIPAL_USER, "u1"},
        {"svc-token", CHATD_PRINCIPAL_SERVICE, "svc1"},
        {"admin-token", CHATD_PRINCIPAL_ADMIN, "admin"},
    };
    size_t i;

    if (strcmp(token, "broken") == 0)
        return CHATD_EIO;
    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(token, known[i].token) == 0) {
            out->kind = known[i].kind;
            snprintf(out->id, sizeof(out->id), "%s", known[i].id);
            return CHATD_OK;
        }
    }
    return CHATD_ENOTFOUND;
}

static void h_sync(void *ctx, struct chatd_req *req)
{
    static const char body[] = "{\"ok\":true}";

    http_reply_json(req, 200, body, sizeof(body) - 1);
}

static const char *or_null(const char *s)
{
    return s == NULL ? "(null)" : s;
}

/* Reports what the request carries. */
static void h_echo(void *ctx, struct chatd_req *req)
{
    struct chatd_val body = http_req_body(req);
    struct chatd_principal who = http_req_principal(req);
    char out[2048];
    int n;

    n = snprintf(out, sizeof(out),
                 "{\"room\":\"%s\",\"seq\":\"%s\",\"q\":\"%s\",\"flag\":\"%s\","
                 "\"nope\":\"%s\",\"who\":\"%s\",\"kind\":%d,\"owner\":\"%s\","
                 "\"method\":\"%s\",\"path\":\"%s\",\"ua\":\"%s\","
                 "\"body\":%.*s}",
                 or_null(http_req_param(req, "room_id")),
                 or_null(http_req_param(req, "seq")),
                 or_null(http_req_query(req, "q")),
                 or_null(http_req_query(req, "flag")),
                 or_null(http_req_param(req, "nope")), or_null(who.id),
                 (int)who.kind, http_req_owner(req), http_req_method(req),
                 http_req_path(req), or_null(http_req_header(req, "X-Test")),
                 body.len > 512 ? 5
                 : body.len     ? (int)body.len
                                : 4,
                 body.len > 512 ? "\"big\""
                 : body.len     ? (const char *)body.data
                                : "null");
    http_reply_header(req, "X-Echo", "1");
    http_reply_json(req, 201, out, (size_t)n);
}

static void h_room(void *ctx, struct chatd_req *req)
{
    char out[256];
    int n = snprintf(out, sizeof(out), "{\"room\":\"%s\"}",
                     http_req_param(req, "room_id"));

    http_reply_json(req, 200, out, (size_t)n);
}

static void h_search(void *ctx, struct chatd_req *req)
{
    static const char body[] = "{\"search\":true}";

    http_reply_json(req, 200, body, sizeof(body) - 1);
}

static void h_deferred(void *ctx, struct chatd_req *req)
{
    struct fixture *fx = ctx;

    /* Suspend first, then hand over: the worker may finish at once. */
    http_req_defer(req);
    worker_push(&fx->w, req, 5);
}

/* The worker answers while this handler is still running. */
static void h_race(void *ctx, struct chatd_req *req)
{
    struct fixture *fx = ctx;

    http_req_defer(req);
    worker_push(&fx->w, req, 0);
    sleep_ms(30);
}

/* Defers and finishes on the handler's own thread before returning. */
static void h_quick(void *ctx, struct chatd_req *req)
{
    static const char body[] = "{\"quick\":true}";

    http_req_defer(req);
    http_reply_json(req, 201, body, sizeof(body) - 1);
    http_req_finish(req);
}

static void h_forget(void *ctx, struct chatd_req *req)
{
    struct fixture *fx = ctx;

    fx->handler_calls++;
}

/* Opens the read transaction twice (same one) and says whether it got
 * one. LMDB allows one read txn per thread, so the next request on the
 * same thread gets one only if the server ended this one. */
static void h_txn(void *ctx, struct chatd_req *req)
{
    struct evlog_txn *a = http_req_txn(req), *b = http_req_txn(req);
    char out[64];
    int n = snprintf(out, sizeof(out), "{\"txn\":%s,\"same\":%s}",
                     a != NULL ? "true" : "false", a == b ? "true" : "false");

    http_reply_json(req, 200, out, (size_t)n);
}

static void h_level(void *ctx, struct chatd_req *req)
{
    char out[128];
    int n = snprintf(out, sizeof(out), "{\"who\":\"%s\"}",
                     or_null(http_req_principal(req).id));

    http_reply_json(req, 200, out, (size_t)n);
}

static void h_replace(void *ctx, struct chatd_req *req)
{
    static const char body[] = "{\"first\":true}";

    http_reply_json(req, 201, body, sizeof(body) - 1);
    http_reply_error(req, 503, "unavailable", "commit failed \"x\"\n");
}

/* ?n=N: a taken body of N bytes ({"pad":"xxx..."}), sent as it is;
 * ?replace=1: a taken body replaced by an error, so it must be freed
 * (LeakSanitizer in the sanitizer build). */
static void h_take(void *ctx, struct chatd_req *req)
{
    const char *n_arg = http_req_query(req, "n");
    size_t n = n_arg ? strtoul(n_arg, NULL, 10) : 0, len = n + 10;
    char *body = malloc(len + 1);

    (void)ctx;
    if (body == NULL || n > 1000000) {
        free(body);
        http_reply_error(req, 500, "internal", "test handler");
        return;
    }
    memcpy(body, "{\"pad\":\"", 8);
    memset(body + 8, 'x', n);
    memcpy(body + 8 + n, "\"}", 2);
    http_reply_json_take(req, 200, body, len);
    if (http_req_query(req, "replace") != NULL)
        http_reply_error(req, 503, "unavailable", "replaced");
}

/* What a command run again after a batch redo does: the route's own
 * header stays, the first run's answer and header go. */
static void h_reset(void *ctx, struct chatd_req *req)
{
    static const char body[] = "{\"second\":true}";
    size_t keep;

    http_reply_header(req, "X-Route", "kept");
    keep = http_reply_header_count(req);
    http_reply_header(req, "X-First-Run", "dropped");
    http_reply_error(req, 409, "conflict", "first run");
    http_reply_reset(req, keep);
    /* on the server's thread: no cmocka asserts, a wrong state shows as 500 */
    if (http_reply_status(req) != 0 || http_reply_header_count(req) != keep)
        http_reply_error(req, 500, "internal", "reset left state behind");
    else
        http_reply_json(req, 201, body, sizeof(body) - 1);
}

static void on_upgrade(void *ctx, int sock, const char *extra, size_t extra_len,
                       void *urh, const struct http_principal *who,
                       const char *token)
{
    struct upgraded *up = ctx;
    static const char hello[] = "hello";

    pthread_mutex_lock(&up->mu);
    up->sock = sock;
    up->urh = urh;
    up->extra_len = extra_len < sizeof(up->extra) ? extra_len : 0;
    memcpy(up->extra, extra, up->extra_len);
    up->who = *who;
    snprintf(up->token, sizeof(up->token), "%s", token ? token : "");
    up->count++;
    pthread_cond_broadcast(&up->cv);
    pthread_mutex_unlock(&up->mu);
    /* The socket is ours now: a first frame's worth of bytes. */
    if (send(sock, hello, sizeof(hello) - 1, MSG_NOSIGNAL) < 0)
        fprintf(stderr, "upgrade send: %s\n", strerror(errno));
}

static int add_routes(struct fixture *fx)
{
    struct http_server *s = fx->s;
    int rc = 0;

    rc |= http_route_add(s, "GET", "/v1/sync", CHATD_AUTH_NONE, h_sync, fx,
                         "test");
    rc |= http_route_add(s, "POST", "/v1/rooms/{room_id}/messages/{seq}",
                         CHATD_AUTH_USER, h_echo, fx, "chat");
    rc |= http_route_add(s, "GET", "/v1/rooms/{room_id}", CHATD_AUTH_USER,
                         h_room, fx, "chat");
    rc |= http_route_add(s, "GET", "/v1/rooms/search", CHATD_AUTH_USER,
                         h_search, fx, "chat");
    rc |= http_route_add(s, "POST", "/v1/open", CHATD_AUTH_NONE, h_echo, fx,
                         "test");
    rc |= http_route_add(s, "DELETE", "/v1/open", CHATD_AUTH_NONE, h_echo, fx,
                         "test");
    rc |= http_route_add(s, "POST", "/v1/deferred", CHATD_AUTH_NONE, h_deferred,
                         fx, "test");
    rc |= http_route_add(s, "POST", "/v1/race", CHATD_AUTH_NONE, h_race, fx,
                         "test");
    rc |= http_route_add(s, "POST", "/v1/quick", CHATD_AUTH_NONE, h_quick, fx,
                         "test");
    rc |= http_route_add(s, "GET", "/v1/forget", CHATD_AUTH_NONE, h_forget, fx,
                         "test");
    rc |=
        http_route_add(s, "GET", "/v1/txn", CHATD_AUTH_NONE, h_txn, fx, "test");
    rc |= http_route_add(s, "GET", "/v1/service", CHATD_AUTH_SERVICE, h_level,
                         fx, "test");
    rc |= http_route_add(s, "GET", "/v1/admin", CHATD_AUTH_ADMIN, h_level, fx,
                         "test");
    rc |= http_route_add(s, "GET", "/v1/replace", CHATD_AUTH_NONE, h_replace,
                         fx, "test");
    rc |= http_route_add(s, "GET", "/v1/reset", CHATD_AUTH_NONE, h_reset, fx,
                         "test");
    rc |=
        http_route_add(s, "GET", "/v1/take", CHATD_AUTH_NONE, h_take, fx, "test");
    rc |= http_upgrade_add(s, "/v1/ws", on_upgrade, &fx->up);
    return rc;
}

static int group_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct http_options opt = {.address = "127.0.0.1", .max_body = MAX_BODY};
    struct evlog_options lopt = {0};
    struct http_deps deps = {0};

    if (fx == NULL)
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_mutex_init(&fx->w.mu, NULL);
    pthread_cond_init(&fx->w.cv, NULL);
    pthread_mutex_init(&fx->up.mu, NULL);
    pthread_cond_init(&fx->up.cv, NULL);
    if (pthread_create(&fx->w.thread, NULL, worker_run, &fx->w) != 0)
        return -1;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/chatd-http-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    lopt.dir = fx->dir;
    lopt.map_size = 16u << 20;
    lopt.nosync = true;
    if (evlog_open(&fx->log, &lopt) != CHATD_OK ||
        metrics_open(&fx->m) != CHATD_OK)
        return -1;
    deps.auth = on_auth;
    deps.log = fx->log;
    deps.metrics = fx->m;
    if (http_open(&fx->s, &opt, &deps) != CHATD_OK || add_routes(fx) != 0 ||
        http_start(fx->s) != CHATD_OK)
        return -1;
    fx->port = http_port(fx->s);
    *state = fx;
    return 0;
}

static int group_teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[128];

    http_quiesce(fx->s);
    pthread_mutex_lock(&fx->w.mu);
    fx->w.stop = true;
    pthread_cond_signal(&fx->w.cv);
    pthread_mutex_unlock(&fx->w.mu);
    pthread_join(fx->w.thread, NULL);
    http_close(fx->s);
    metrics_close(fx->m);
    evlog_close(fx->log);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
    pthread_mutex_destroy(&fx->w.mu);
    pthread_cond_destroy(&fx->w.cv);
    pthread_mutex_destroy(&fx->up.mu);
    pthread_cond_destroy(&fx->up.cv);
    free(fx);
    curl_global_cleanup();
    return 0;
}

/* ------------------------------------------------------------------ */
/* libcurl helpers                                                     */
/* ------------------------------------------------------------------ */

struct resp {
    long status;
    char body[1 << 17];
    size_t len;
    char headers[8192];
    size_t hlen;
    long connects;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = size * n, room = sizeof(r->body) - 1 - r->len;

    memcpy(r->body + r->len, p, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = size * n, room = sizeof(r->headers) - 1 - r->hlen;

    memcpy(r->headers + r->hlen, p, len < room ? len : room);
    r->hlen += len < room ? len : room;
    r->headers[r->hlen] = '\0';
    return len;
}

/* The value of a response header (last response), or NULL. */
static const char *resp_header(const struct resp *r, const char *name,
                               char *buf, size_t cap)
{
    const char *line = r->headers, *end;
    size_t n = strlen(name), vlen;

    for (; *line != '\0'; line = end + (*end != '\0')) {
        end = strchr(line, '\n');
        if (end == NULL)
            end = line + strlen(line);
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            line += n + 1;
            while (*line == ' ')
                line++;
            vlen = (size_t)(end - line);
            while (vlen > 0 &&
                   (line[vlen - 1] == '\r' || line[vlen - 1] == ' '))
                vlen--;
            snprintf(buf, cap, "%.*s", (int)vlen, line);
            return buf;
        }
    }
    return NULL;
}

static void easy_prepare(CURL *c, struct fixture *fx, const char *method,
                         const char *path, struct curl_slist *hdrs,
                         const char *body, struct resp *out)
{
    char url[512];

    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", (unsigned)fx->port,
             path);
    memset(out, 0, sizeof(*out));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)WAIT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
}

static void easy_finish(CURL *c, struct resp *out)
{
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &out->connects);
}

/* One request on a fresh handle; `hdrs` is a NULL-terminated list. */
static long request(struct fixture *fx, const char *method, const char *path,
                    const char *const *hdrs, const char *body, struct resp *out)
{
    struct curl_slist *list = NULL;
    CURLcode rc;
    CURL *c = curl_easy_init();

    assert_non_null(c);
    for (; hdrs != NULL && *hdrs != NULL; hdrs++)
        list = curl_slist_append(list, *hdrs);
    easy_prepare(c, fx, method, path, list, body, out);
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    easy_finish(c, out);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    return out->status;
}

static const char *const json_ct[] = {"Content-Type: application/json", NULL};

static const char *const user_json[] = {
    "Content-Type: application/json", "Authorization: Bearer user-token", NULL};

/* ------------------------------------------------------------------ */
/* Plain requests                                                      */
/* ------------------------------------------------------------------ */

static void test_sync_route(void **state)
{
    struct resp r;
    char buf[128];

    assert_int_equal(request(*state, "GET", "/v1/sync", NULL, NULL, &r), 200);
    assert_string_equal(r.body, "{\"ok\":true}");
    assert_string_equal(resp_header(&r, "Content-Type", buf, sizeof(buf)),
                        "application/json");
    assert_non_null(resp_header(&r, "X-Request-Id", buf, sizeof(buf)));
}

static void test_params_query_body_principal(void **state)
{
    static const char *const hdrs[] = {
        "Content-Type: application/json; charset=utf-8",
        "Authorization: bearer   user-token", "X-Test: yes", NULL};
    struct resp r;
    char buf[64];

    assert_int_equal(request(*state, "POST",
                             "/v1/rooms/a%2Fb%20c%C3%A9/messages/7"
                             "?q=x+y%2Bz%26&flag&q=second",
                             hdrs, "{\"text\":\"hi\"}", &r),
                     201);
    assert_string_equal(
        r.body, "{\"room\":\"a/b c\xc3\xa9\",\"seq\":\"7\",\"q\":\"x y+z&\","
                "\"flag\":\"\",\"nope\":\"(null)\",\"who\":\"u1\",\"kind\":1,"
                "\"owner\":\"chat\",\"method\":\"POST\","
                "\"path\":\"/v1/rooms/a%2Fb%20c%C3%A9/messages/7\","
                "\"ua\":\"yes\",\"body\":{\"text\":\"hi\"}}");
    assert_string_equal(resp_header(&r, "X-Echo", buf, sizeof(buf)), "1");
}

static void test_literal_beats_parameter(void **state)
{
    static const char *const hdrs[] = {"Authorization: Bearer user-token",
                                       NULL};
    struct resp r;

    assert_int_equal(request(*state, "GET", "/v1/rooms/search", hdrs, NULL, &r),
                     200);
    assert_string_equal(r.body, "{\"search\":true}");
    assert_int_equal(request(*state, "GET", "/v1/rooms/r%201", hdrs, NULL, &r),
                     200);
    assert_string_equal(r.body, "{\"room\":\"r 1\"}");
}

static void test_not_found(void **state)
{
    struct resp r;

    assert_int_equal(request(*state, "GET", "/v1/nothing", NULL, NULL, &r),
                     404);
    assert_string_equal(
        r.body, "{\"error\":{\"code\":\"not_found\",\"message\":\"no such "
                "path\"}}");
    assert_int_equal(request(*state, "GET", "/v1/sync/", NULL, NULL, &r), 404);
    assert_int_equal(request(*state, "GET", "/", NULL, NULL, &r), 404);
    assert_int_equal(
        request(*state, "GET", "/v1/rooms/x/y/z/w", NULL, NULL, &r), 404);
}

static void test_bad_encoding_is_400(void **state)
{
    struct resp r;

    assert_int_equal(request(*state, "GET", "/v1/rooms/%zz", NULL, NULL, &r),
                     400);
    assert_non_null(strstr(r.body, "\"invalid_argument\""));
    assert_int_equal(request(*state, "GET", "/v1/rooms/a%00b", NULL, NULL, &r),
                     400);
    assert_int_equal(request(*state, "GET", "/v1/rooms/%ff", NULL, NULL, &r),
                     400);
    assert_int_equal(request(*state, "GET", "/v1/sync?q=%ff", NULL, NULL, &r),
                     400);
}

static void test_method_not_allowed(void **state)
{
    struct resp r;
    char buf[64];

    assert_int_equal(request(*state, "DELETE", "/v1/sync", NULL, NULL, &r),
                     405);
    assert_non_null(strstr(r.body, "\"code\":\"method_not_allowed\""));
    assert_string_equal(resp_header(&r, "Allow", buf, sizeof(buf)), "GET");
    assert_int_equal(request(*state, "PUT", "/v1/open", json_ct, "{}", &r),
                     405);
    assert_string_equal(resp_header(&r, "Allow", buf, sizeof(buf)),
                        "POST, DELETE");
    assert_int_equal(request(*state, "POST", "/v1/ws", json_ct, "{}", &r), 405);
    assert_string_equal(resp_header(&r, "Allow", buf, sizeof(buf)), "GET");
}

static void test_body_too_large(void **state)
{
    char *big = malloc(MAX_BODY + 2);
    struct resp r;

    assert_non_null(big);
    memset(big, 'x', MAX_BODY + 1);
    big[MAX_BODY + 1] = '\0';
    assert_int_equal(request(*state, "POST", "/v1/open", json_ct, big, &r),
                     413);
    assert_non_null(strstr(r.body, "\"code\":\"too_large\""));
    /* Exactly at the limit is fine. */
    big[0] = '"';
    memset(big + 1, 'x', MAX_BODY - 2);
    big[MAX_BODY - 1] = '"';
    big[MAX_BODY] = '\0';
    assert_int_equal(request(*state, "POST", "/v1/open", json_ct, big, &r),
                     201);
    free(big);
}

struct feed {
    size_t left;
};

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct feed *f = ud;
    size_t len = size * n < f->left ? size * n : f->left;

    if (len > 1000)
        len = 1000;
    memset(buf, ' ', len);
    f->left -= len;
    return len;
}

/* POSTs `total` bytes of spaces as a chunked body (no Content-Length). */
static CURLcode chunked_post(struct fixture *fx, const char *ctype,
                             size_t total, struct resp *r)
{
    struct curl_slist *list = NULL;
    struct feed feed = {total};
    CURL *c = curl_easy_init();
    CURLcode rc;

    list = curl_slist_append(list, ctype);
    list = curl_slist_append(list, "Transfer-Encoding: chunked");
    easy_prepare(c, fx, "POST", "/v1/open", list, NULL, r);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &feed);
    rc = curl_easy_perform(c);
    easy_finish(c, r);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    return rc;
}

/* A chunked body is measured as it arrives; MHD allows no answer before it
 * ends, so the server drops the rest and answers at the end, or closes if
 * the client sends far too much. */
static void test_chunked_bodies(void **state)
{
    struct fixture *fx = *state;
    struct resp r;

    assert_int_equal(
        chunked_post(fx, "Content-Type: application/json", 3000, &r), CURLE_OK);
    assert_int_equal(r.status, 201);
    assert_non_null(strstr(r.body, "\"body\":\"big\"}")); /* 3000 bytes */
    assert_int_equal(
        chunked_post(fx, "Content-Type: application/json", 3 * MAX_BODY, &r),
        CURLE_OK);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "\"too_large\""));
    assert_int_equal(chunked_post(fx, "Content-Type: text/plain", 100, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 415);
    /* Past 4 x max_body + 64 KiB the connection is closed unanswered. */
    assert_int_not_equal(chunked_post(fx, "Content-Type: application/json",
                                      4 * MAX_BODY + 65536 + 4096, &r),
                         CURLE_OK);
}

static void test_unsupported_media_type(void **state)
{
    static const char *const text[] = {"Content-Type: text/plain", NULL};
    static const char *const jsonx[] = {"Content-Type: application/jsonx",
                                        NULL};
    static const char *const upper[] = {
        "Content-Type: Application/JSON ; charset=utf-8", NULL};
    struct resp r;

    assert_int_equal(request(*state, "POST", "/v1/open", text, "{}", &r), 415);
    assert_non_null(strstr(r.body, "\"code\":\"unsupported_media_type\""));
    assert_int_equal(request(*state, "POST", "/v1/open", NULL, "{}", &r), 415);
    assert_int_equal(request(*state, "POST", "/v1/open", jsonx, "{}", &r), 415);
    assert_int_equal(request(*state, "POST", "/v1/open", upper, "{}", &r), 201);
    /* No body, no type needed; DELETE is not checked. */
    assert_int_equal(request(*state, "POST", "/v1/open", NULL, "", &r), 201);
    assert_string_equal(strstr(r.body, "\"body\""), "\"body\":null}");
    assert_int_equal(request(*state, "DELETE", "/v1/open", text, "{}", &r),
                     201);
}

static void test_unauthenticated(void **state)
{
    static const char *const bad[] = {"Content-Type: application/json",
                                      "Authorization: Bearer nope", NULL};
    static const char *const basic[] = {"Content-Type: application/json",
                                        "Authorization: Basic dTpw", NULL};
    static const char *const broken[] = {"Content-Type: application/json",
                                         "Authorization: Bearer broken", NULL};
    struct resp r;
    char buf[64];

    assert_int_equal(
        request(*state, "POST", "/v1/rooms/r/messages/1", json_ct, "{}", &r),
        401);
    assert_non_null(strstr(r.body, "\"code\":\"unauthenticated\""));
    assert_string_equal(resp_header(&r, "WWW-Authenticate", buf, sizeof(buf)),
                        "Bearer");
    assert_int_equal(
        request(*state, "POST", "/v1/rooms/r/messages/1", bad, "{}", &r), 401);
    assert_string_equal(resp_header(&r, "WWW-Authenticate", buf, sizeof(buf)),
                        "Bearer");
    assert_int_equal(
        request(*state, "POST", "/v1/rooms/r/messages/1", basic, "{}", &r),
        401);
    assert_int_equal(
        request(*state, "POST", "/v1/rooms/r/messages/1", broken, "{}", &r),
        503);
    assert_non_null(strstr(r.body, "\"code\":\"unavailable\""));
    /* On an open route a bad header is ignored. */
    assert_int_equal(request(*state, "POST", "/v1/open", bad, "{}", &r), 201);
    assert_non_null(strstr(r.body, "\"who\":\"(null)\",\"kind\":0"));
    assert_int_equal(request(*state, "POST", "/v1/open", user_json, "{}", &r),
                     201);
    assert_non_null(strstr(r.body, "\"who\":\"u1\",\"kind\":1"));
}

static void test_forbidden_levels(void **state)
{
    static const char *const user[] = {"Authorization: Bearer user-token",
                                       NULL};
    static const char *const svc[] = {"Authorization: Bearer svc-token", NULL};
    static const char *const admin[] = {"Authorization: Bearer admin-token",
                                        NULL};
    struct resp r;

    assert_int_equal(request(*state, "GET", "/v1/admin", user, NULL, &r), 403);
    assert_non_null(strstr(r.body, "\"code\":\"forbidden\""));
    assert_int_equal(request(*state, "GET", "/v1/admin", svc, NULL, &r), 403);
    assert_int_equal(request(*state, "GET", "/v1/admin", admin, NULL, &r), 200);
    assert_int_equal(request(*state, "GET", "/v1/service", user, NULL, &r),
                     403);
    assert_int_equal(request(*state, "GET", "/v1/service", svc, NULL, &r), 200);
    assert_string_equal(r.body, "{\"who\":\"svc1\"}");
    assert_int_equal(request(*state, "GET", "/v1/service", admin, NULL, &r),
                     200);
    assert_int_equal(request(*state, "GET", "/v1/rooms/x", svc, NULL, &r), 200);
    assert_int_equal(request(*state, "GET", "/v1/admin", NULL, NULL, &r), 401);
}

static bool hex_id(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");

    return n == 32 && s[n] == '\0';
}

static void test_request_id(void **state)
{
    static const char *const good[] = {"X-Request-Id: abc-1.2_3:Z", NULL};
    static const char *const bad[] = {"X-Request-Id: has space", NULL};
    struct resp r;
    char buf[200], *long_id, hdr[200];

    request(*state, "GET", "/v1/sync", good, NULL, &r);
    assert_string_equal(resp_header(&r, "X-Request-Id", buf, sizeof(buf)),
                        "abc-1.2_3:Z");
    request(*state, "GET", "/v1/sync", bad, NULL, &r);
    assert_true(hex_id(resp_header(&r, "X-Request-Id", buf, sizeof(buf))));
    request(*state, "GET", "/v1/nothing", NULL, NULL, &r);
    assert_true(hex_id(resp_header(&r, "X-Request-Id", buf, sizeof(buf))));
    /* 128 chars are kept, 129 are replaced. */
    long_id = hdr + snprintf(hdr, sizeof(hdr), "X-Request-Id: ");
    memset(long_id, 'a', 128);
    long_id[128] = '\0';
    {
        const char *const h[] = {hdr, NULL};

        request(*state, "GET", "/v1/sync", h, NULL, &r);
        assert_string_equal(resp_header(&r, "X-Request-Id", buf, sizeof(buf)),
                            long_id);
        long_id[128] = 'a';
        long_id[129] = '\0';
        request(*state, "GET", "/v1/sync", h, NULL, &r);
        assert_true(hex_id(resp_header(&r, "X-Request-Id", buf, sizeof(buf))));
    }
}

static int id_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Generated ids come from a pool of random bytes refilled every 256 ids:
 * across refills they stay well-formed and distinct. */
static void test_request_id_unique(void **state)
{
    enum { N = 600 };
    static char ids[N][40];
    struct resp r;
    char buf[200];
    size_t i;

    for (i = 0; i < N; i++) {
        request(*state, "GET", "/v1/nothing", NULL, NULL, &r);
        assert_true(hex_id(resp_header(&r, "X-Request-Id", buf, sizeof(buf))));
        assert_true(strlen(buf) < sizeof(ids[i]));
        memcpy(ids[i], buf, strlen(buf) + 1);
    }
    qsort(ids, N, sizeof(ids[0]), id_cmp);
    for (i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
}

/* Two requests on one handle; returns the second's NUM_CONNECTS. */
static long reuse(struct fixture *fx, const char *method, const char *path,
                  const char *body, long want_status)
{
    struct curl_slist *list =
        curl_slist_append(NULL, "Content-Type: application/json");
    struct resp r;
    CURL *c = curl_easy_init();
    int i;

    for (i = 0; i < 2; i++) {
        easy_prepare(c, fx, method, path, list, body, &r);
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        easy_finish(c, &r);
        assert_int_equal(r.status, want_status);
        assert_int_equal(r.connects, i == 0 ? 1 : r.connects);
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    return r.connects;
}

static void test_keep_alive(void **state)
{
    struct fixture *fx = *state;

    assert_int_equal(reuse(fx, "GET", "/v1/sync", NULL, 200), 0);
    assert_int_equal(reuse(fx, "POST", "/v1/open", "{\"a\":1}", 201), 0);
    assert_int_equal(reuse(fx, "POST", "/v1/deferred", "{}", 200), 0);
    /* Errors found from the headers keep the connection too... */
    assert_int_equal(reuse(fx, "GET", "/v1/nothing", NULL, 404), 0);
    assert_int_equal(reuse(fx, "GET", "/v1/admin", NULL, 401), 0);
    /* ...unless a body was coming: it is not read, the connection closes. */
    assert_int_equal(reuse(fx, "POST", "/v1/nothing", "{}", 404), 1);
}

static void test_forgotten_answer_is_500(void **state)
{
    struct fixture *fx = *state;
    struct resp r;

    assert_int_equal(request(*state, "GET", "/v1/forget", NULL, NULL, &r), 500);
    assert_string_equal(r.body, "{\"error\":{\"code\":\"internal\","
                                "\"message\":\"the handler did not answer "
                                "the request\"}}");
    assert_int_equal(fx->handler_calls, 1);
}

static void test_second_answer_replaces_first(void **state)
{
    struct resp r;

    assert_int_equal(request(*state, "GET", "/v1/replace", NULL, NULL, &r),
                     503);
    assert_string_equal(r.body, "{\"error\":{\"code\":\"unavailable\","
                                "\"message\":\"commit failed \\\"x\\\"\\u000a"
                                "\"}}");
}

static void test_reset_answer(void **state)
{
    struct resp r;
    char buf[64];

    assert_int_equal(request(*state, "GET", "/v1/reset", NULL, NULL, &r),
                     201);
    assert_string_equal(r.body, "{\"second\":true}");
    assert_string_equal(resp_header(&r, "X-Route", buf, sizeof(buf)),
                        "kept");
    assert_null(resp_header(&r, "X-First-Run", buf, sizeof(buf)));
}

static void test_taken_body(void **state)
{
    struct resp r;
    size_t i;

    assert_int_equal(request(*state, "GET", "/v1/take?n=100000", NULL, NULL,
                             &r),
                     200);
    assert_int_equal(strlen(r.body), 100010);
    assert_memory_equal(r.body, "{\"pad\":\"x", 9);
    for (i = 8; i < 100008; i++)
        if (r.body[i] != 'x')
            break;
    assert_int_equal(i, 100008);
    assert_string_equal(r.body + 100008, "\"}");
    assert_int_equal(request(*state, "GET", "/v1/take?n=3&replace=1", NULL,
                             NULL, &r),
                     503);
    assert_string_equal(r.body, "{\"error\":{\"code\":\"unavailable\","
                                "\"message\":\"replaced\"}}");
}

static void test_read_txn_is_ended(void **state)
{
    struct resp r;
    int i;

    for (i = 0; i < 3; i++) {
        assert_int_equal(request(*state, "GET", "/v1/txn", NULL, NULL, &r),
                         200);
        assert_string_equal(r.body, "{\"txn\":true,\"same\":true}");
    }
}

/* ------------------------------------------------------------------ */
/* Deferred answers                                                    */
/* ------------------------------------------------------------------ */

static void test_deferred_single(void **state)
{
    static const char *const hdrs[] = {"Content-Type: application/json",
                                       "X-Request-Id: def-1", "X-Test: t",
                                       NULL};
    struct resp r;

    assert_int_equal(
        request(*state, "POST", "/v1/deferred", hdrs, "{\"n\":1}", &r), 200);
    assert_string_equal(r.body,
                        "{\"echo\":{\"n\":1},\"rid\":\"def-1\",\"x\":\"t\"}");
}

static void test_finish_before_handler_returns(void **state)
{
    struct resp r;

    assert_int_equal(
        request(*state, "POST", "/v1/race", json_ct, "{\"n\":2}", &r), 200);
    assert_non_null(strstr(r.body, "{\"echo\":{\"n\":2}"));
    assert_int_equal(request(*state, "POST", "/v1/quick", json_ct, "{}", &r),
                     201);
    assert_string_equal(r.body, "{\"quick\":true}");
    /* And the connection is still usable afterwards. */
    assert_int_equal(request(*state, "GET", "/v1/sync", NULL, NULL, &r), 200);
}

#define CONCURRENT 64

static void test_deferred_concurrent(void **state)
{
    struct fixture *fx = *state;
    struct curl_slist *list =
        curl_slist_append(NULL, "Content-Type: application/json");
    struct resp *r = calloc(CONCURRENT, sizeof(*r));
    char bodies[CONCURRENT][32], want[64];
    CURL *c[CONCURRENT];
    CURLM *multi = curl_multi_init();
    int running = 1, i, rounds = 0, numfds;
    unsigned batches_before = fx->w.batches;

    for (i = 0; i < CONCURRENT; i++) {
        c[i] = curl_easy_init();
        snprintf(bodies[i], sizeof(bodies[i]), "{\"n\":%d}", i);
        easy_prepare(c[i], fx, "POST", "/v1/deferred", list, bodies[i], &r[i]);
        curl_easy_setopt(c[i], CURLOPT_FORBID_REUSE, 1L);
        curl_multi_add_handle(multi, c[i]);
    }
    while (running > 0 && rounds++ < 20000) {
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 100, &numfds);
    }
    assert_int_equal(running, 0);
    for (i = 0; i < CONCURRENT; i++) {
        easy_finish(c[i], &r[i]);
        assert_int_equal(r[i].status, 200);
        snprintf(want, sizeof(want), "{\"echo\":{\"n\":%d},", i);
        assert_non_null(strstr(r[i].body, want));
        curl_multi_remove_handle(multi, c[i]);
        curl_easy_cleanup(c[i]);
    }
    /* Batched like a group commit: fewer batches than requests. */
    assert_true(fx->w.batches - batches_before < CONCURRENT);
    curl_multi_cleanup(multi);
    curl_slist_free_all(list);
    free(r);
}

/* ------------------------------------------------------------------ */
/* Synthetic requests                                                  */
/* ------------------------------------------------------------------ */

struct answer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    unsigned status;
    char body[2048];
    pthread_t thread;
};

static void on_done(void *arg, unsigned status, const char *body, size_t len)
{
    struct answer *a = arg;

    pthread_mutex_lock(&a->mu);
    a->calls++;
    a->status = status;
    snprintf(a->body, sizeof(a->body), "%.*s", (int)len, body);
    a->thread = pthread_self();
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void answer_init(struct answer *a)
{
    memset(a, 0, sizeof(*a));
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
}

static void answer_wait(struct answer *a)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&a->mu);
    while (a->calls == 0)
        if (pthread_cond_timedwait(&a->cv, &a->mu, &until) != 0)
            break;
    pthread_mutex_unlock(&a->mu);
    assert_int_equal(a->calls, 1);
}

static void answer_destroy(struct answer *a)
{
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
}

static void test_dispatch_sync(void **state)
{
    struct fixture *fx = *state;
    struct http_principal who = {.kind = CHATD_PRINCIPAL_USER, .id = "u7"};
    struct answer a;

    answer_init(&a);
    assert_int_equal(http_dispatch(fx->s, "POST",
                                   "/v1/rooms/r%201/messages/9?q=a+b",
                                   "{\"x\":1}", 7, &who, "corr-1", on_done, &a),
                     CHATD_OK);
    /* Answered at once, on this thread. */
    assert_int_equal(a.calls, 1);
    assert_true(pthread_equal(a.thread, pthread_self()));
    assert_int_equal(a.status, 201);
    assert_string_equal(
        a.body,
        "{\"room\":\"r 1\",\"seq\":\"9\",\"q\":\"a b\",\"flag\":\"(null)\","
        "\"nope\":\"(null)\",\"who\":\"u7\",\"kind\":1,\"owner\":\"chat\","
        "\"method\":\"POST\",\"path\":\"/v1/rooms/r%201/messages/9\","
        "\"ua\":\"(null)\",\"body\":{\"x\":1}}");
    answer_destroy(&a);
}

static void test_dispatch_deferred(void **state)
{
    struct fixture *fx = *state;
    struct answer a;

    answer_init(&a);
    assert_int_equal(http_dispatch(fx->s, "POST", "/v1/deferred", "{\"d\":1}",
                                   7, NULL, "corr-2", on_done, &a),
                     CHATD_OK);
    answer_wait(&a);
    assert_int_equal(a.status, 200);
    assert_string_equal(
        a.body, "{\"echo\":{\"d\":1},\"rid\":\"corr-2\",\"x\":\"(null)\"}");
    assert_false(pthread_equal(a.thread, pthread_self()));
    answer_destroy(&a);

    /* Finished by the worker while the handler still runs. */
    answer_init(&a);
    assert_int_equal(http_dispatch(fx->s, "POST", "/v1/race", "{}", 2, NULL,
                                   NULL, on_done, &a),
                     CHATD_OK);
    answer_wait(&a);
    assert_int_equal(a.status, 200);
    answer_destroy(&a);

    /* Finished on the handler's own thread. */
    answer_init(&a);
    assert_int_equal(http_dispatch(fx->s, "POST", "/v1/quick", NULL, 0, NULL,
                                   NULL, on_done, &a),
                     CHATD_OK);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, 201);
    answer_destroy(&a);
}

static void test_dispatch_errors(void **state)
{
    struct fixture *fx = *state;
    struct http_principal user = {.kind = CHATD_PRINCIPAL_USER,
                                  .id = "u1"};
    struct answer a;
    char big[MAX_BODY + 1];

    answer_init(&a);
    http_dispatch(fx->s, "GET", "/v1/none", NULL, 0, &user, NULL, on_done, &a);
    assert_int_equal(a.status, 404);
    a.calls = 0;
    http_dispatch(fx->s, "PUT", "/v1/sync", NULL, 0, &user, NULL, on_done, &a);
    assert_int_equal(a.status, 405);
    http_dispatch(fx->s, "GET", "/v1/rooms/x", NULL, 0, NULL, NULL, on_done,
                  &a);
    assert_int_equal(a.status, 401);
    http_dispatch(fx->s, "GET", "/v1/admin", NULL, 0, &user, NULL, on_done, &a);
    assert_int_equal(a.status, 403);
    assert_string_equal(a.body, "{\"error\":{\"code\":\"forbidden\","
                                "\"message\":\"only the admin may do this\"}}");
    memset(big, ' ', sizeof(big));
    http_dispatch(fx->s, "POST", "/v1/open", big, sizeof(big), NULL, NULL,
                  on_done, &a);
    assert_int_equal(a.status, 413);
    http_dispatch(fx->s, "GET", "/v1/ws", NULL, 0, NULL, NULL, on_done, &a);
    assert_int_equal(a.status, 400);
    http_dispatch(fx->s, "GET", "/v1/forget", NULL, 0, NULL, NULL, on_done, &a);
    assert_int_equal(a.status, 500);
    http_dispatch(fx->s, "GET", "/healthz", NULL, 0, NULL, NULL, on_done, &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "{\"status\":\"ok\"}");
    assert_int_equal(
        http_dispatch(fx->s, "GET", "/x", NULL, 0, NULL, NULL, NULL, NULL),
        CHATD_EINVAL);
    answer_destroy(&a);
}

/* ------------------------------------------------------------------ */
/* Built-in endpoints and metrics                                      */
/* ------------------------------------------------------------------ */

static void test_health_and_ready(void **state)
{
    struct fixture *fx = *state;
    struct resp r;

    assert_int_equal(request(*state, "GET", "/healthz", NULL, NULL, &r), 200);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    assert_int_equal(request(*state, "GET", "/readyz", NULL, NULL, &r), 503);
    assert_non_null(strstr(r.body, "\"code\":\"unavailable\""));
    http_set_ready(fx->s, true);
    assert_int_equal(request(*state, "GET", "/readyz", NULL, NULL, &r), 200);
    assert_string_equal(r.body, "{\"status\":\"ready\"}");
    http_set_ready(fx->s, false);
    assert_int_equal(request(*state, "GET", "/readyz", NULL, NULL, &r), 503);
}

static void test_metrics_endpoint(void **state)
{
    struct resp r;
    char buf[64];

    request(*state, "GET", "/v1/sync", NULL, NULL, &r);
    request(*state, "GET", "/v1/no/such/thing", NULL, NULL, &r);
    request(*state, "GET", "/v1/rooms/abc", NULL, NULL, &r); /* 401 */
    assert_int_equal(request(*state, "GET", "/metrics", NULL, NULL, &r), 200);
    assert_string_equal(resp_header(&r, "Content-Type", buf, sizeof(buf)),
                        "text/plain; version=0.0.4");
    assert_non_null(
        strstr(r.body, "# TYPE chatd_http_requests_total counter\n"));
    assert_non_null(strstr(r.body,
                           "chatd_http_requests_total{route=\"/v1/sync\","
                           "method=\"GET\",status=\"200\"} "));
    assert_non_null(strstr(r.body,
                           "chatd_http_requests_total{route=\"unmatched\","
                           "method=\"GET\",status=\"404\"} "));
    /* The pattern, never the raw path. */
    assert_non_null(strstr(r.body,
                           "{route=\"/v1/rooms/{room_id}\",method=\"GET\","
                           "status=\"401\"} "));
    assert_null(strstr(r.body, "abc"));
    assert_non_null(strstr(r.body, "# TYPE chatd_http_request_duration_seconds "
                                   "histogram\n"));
    assert_non_null(strstr(r.body, "chatd_http_request_duration_seconds_bucket{"
                                   "route=\"/v1/sync\",method=\"GET\","
                                   "le=\"0.0005\"} "));
    /* At least the connection asking is open. */
    assert_non_null(strstr(r.body, "\nchatd_http_connections "));
    assert_true(atoi(strstr(r.body, "\nchatd_http_connections ") + 24) >= 1);
    assert_non_null(strstr(r.body, "chatd_http_deferred 0\n"));
}

/* ------------------------------------------------------------------ */
/* WebSocket upgrade over a raw socket                                 */
/* ------------------------------------------------------------------ */

static int raw_connect(uint16_t port)
{
    struct sockaddr_in sa = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void raw_send(int fd, const char *s)
{
    size_t n = strlen(s);

    assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads until `until` appears (or EOF / timeout); returns the length. */
static size_t raw_read_until(int fd, char *buf, size_t cap, const char *until)
{
    struct pollfd p = {fd, POLLIN, 0};
    size_t len = 0;
    ssize_t n;

    buf[0] = '\0';
    while (len + 1 < cap && strstr(buf, until) == NULL) {
        if (poll(&p, 1, WAIT_MS) <= 0)
            break;
        n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
    return len;
}

static int upgraded_wait(struct upgraded *up, int count)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&up->mu);
    while (up->count < count)
        if (pthread_cond_timedwait(&up->cv, &up->mu, &until) != 0)
            break;
    count = up->count;
    pthread_mutex_unlock(&up->mu);
    return count;
}

#define HANDSHAKE                                                              \
    "GET /v1/ws HTTP/1.1\r\n"                                                  \
    "Host: 127.0.0.1\r\n"                                                      \
    "Upgrade: WebSocket\r\n"                                                   \
    "Connection: keep-alive, Upgrade\r\n"

static void test_ws_handshake_101(void **state)
{
    struct fixture *fx = *state;
    char buf[2048];
    int fd = raw_connect(fx->port), before = fx->up.count;

    raw_send(fd, HANDSHAKE "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n"
                           "Authorization: Bearer user-token\r\n"
                           "\r\n");
    raw_read_until(fd, buf, sizeof(buf), "hello");
    assert_true(strncmp(buf, "HTTP/1.1 101 ", 13) == 0);
    assert_non_null(strcasestr(
        buf, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_non_null(strcasestr(buf, "Upgrade: websocket\r\n"));
    /* Exactly one Connection header, with the upgrade token once. */
    if (strcasestr(buf, "\r\nConnection: Upgrade\r\n") == NULL ||
        strcasestr(strcasestr(buf, "\r\nConnection:") + 2, "\r\nConnection:") !=
            NULL)
        fail_msg("expected one \"Connection: Upgrade\" in:\n%s", buf);
    assert_non_null(strstr(buf, "\r\n\r\nhello")); /* written by the callee */

    assert_int_equal(upgraded_wait(&fx->up, before + 1), before + 1);
    assert_int_equal(fx->up.who.kind, CHATD_PRINCIPAL_USER);
    assert_string_equal(fx->up.who.id, "u1");
    assert_string_equal(fx->up.token, "user-token"); /* to check it again */
    assert_int_equal(fx->up.extra_len, 0);
    /* Releasing the socket closes it. */
    http_upgrade_close(fx->up.urh);
    assert_int_equal(raw_read_until(fd, buf, sizeof(buf), "never"), 0);
    close(fd);
}

static void test_ws_pipelined_extra_bytes(void **state)
{
    struct fixture *fx = *state;
    char buf[2048];
    int fd = raw_connect(fx->port), before = fx->up.count;

    raw_send(fd, HANDSHAKE "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
                           "Sec-WebSocket-Version: 13\r\n"
                           "\r\n"
                           "\x81\x85PIPELINED");
    raw_read_until(fd, buf, sizeof(buf), "hello");
    assert_true(strncmp(buf, "HTTP/1.1 101 ", 13) == 0);
    assert_int_equal(upgraded_wait(&fx->up, before + 1), before + 1);
    assert_int_equal(fx->up.extra_len, 11);
    assert_memory_equal(fx->up.extra, "\x81\x85PIPELINED", 11);
    assert_int_equal(fx->up.who.kind, CHATD_PRINCIPAL_NONE);
    assert_string_equal(fx->up.token, "");
    http_upgrade_close(fx->up.urh);
    close(fd);
}

static void test_ws_bad_handshakes(void **state)
{
    struct fixture *fx = *state;
    char buf[2048];
    int fd, before = fx->up.count;

    fd = raw_connect(fx->port);
    raw_send(fd, HANDSHAKE "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 8\r\n\r\n");
    raw_read_until(fd, buf, sizeof(buf), "}}");
    assert_true(strncmp(buf, "HTTP/1.1 426 ", 13) == 0);
    assert_non_null(strcasestr(buf, "Sec-WebSocket-Version: 13\r\n"));
    assert_non_null(strstr(buf, "\"code\":\"upgrade_required\""));
    close(fd);

    fd = raw_connect(fx->port);
    raw_send(fd, HANDSHAKE "Sec-WebSocket-Version: 13\r\n\r\n");
    raw_read_until(fd, buf, sizeof(buf), "}}");
    assert_true(strncmp(buf, "HTTP/1.1 400 ", 13) == 0);
    assert_non_null(strstr(buf, "\"code\":\"invalid_argument\""));
    close(fd);

    fd = raw_connect(fx->port);
    raw_send(fd, HANDSHAKE "Sec-WebSocket-Key: c2hvcnQ=\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n");
    raw_read_until(fd, buf, sizeof(buf), "}}");
    assert_true(strncmp(buf, "HTTP/1.1 400 ", 13) == 0);
    close(fd);

    fd = raw_connect(fx->port);
    raw_send(fd, "GET /v1/ws HTTP/1.1\r\nHost: x\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n");
    raw_read_until(fd, buf, sizeof(buf), "}}");
    assert_true(strncmp(buf, "HTTP/1.1 400 ", 13) == 0);
    close(fd);

    fd = raw_connect(fx->port);
    raw_send(fd, HANDSHAKE "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n"
                           "Authorization: Bearer wrong\r\n\r\n");
    raw_read_until(fd, buf, sizeof(buf), "}}");
    assert_true(strncmp(buf, "HTTP/1.1 401 ", 13) == 0);
    close(fd);
    assert_int_equal(fx->up.count, before); /* nothing was handed over */
}

/* ------------------------------------------------------------------ */
/* Registration rules and life cycle (own servers)                     */
/* ------------------------------------------------------------------ */

static void test_route_registration(void **state)
{
    struct http_options opt = {.address = "127.0.0.1"};
    struct http_server *s;

    assert_int_equal(http_open(&s, &opt, NULL), CHATD_OK);
    assert_int_equal(
        http_route_add(s, "GET", "/v1/a/{id}", 0, h_sync, NULL, "m"), CHATD_OK);
    assert_int_equal(
        http_route_add(s, "GET", "/v1/a/{other}", 0, h_sync, NULL, "m"),
        CHATD_EEXIST);
    assert_int_equal(
        http_route_add(s, "POST", "/v1/a/{id}", 0, h_sync, NULL, "m"),
        CHATD_OK);
    assert_int_equal(http_route_add(s, "GET", "/healthz", 0, h_sync, NULL, "m"),
                     CHATD_EEXIST);
    assert_int_equal(http_route_add(s, "GET", "v1/a", 0, h_sync, NULL, "m"),
                     CHATD_EINVAL);
    assert_int_equal(http_route_add(s, "GET", "/v1//a", 0, h_sync, NULL, "m"),
                     CHATD_EINVAL);
    assert_int_equal(http_route_add(s, "GET", "/v1/a/", 0, h_sync, NULL, "m"),
                     CHATD_EINVAL);
    assert_int_equal(
        http_route_add(s, "GET", "/v1/{a}/{a}", 0, h_sync, NULL, "m"),
        CHATD_EINVAL);
    assert_int_equal(http_route_add(s, "GET", "/v1/{1a}", 0, h_sync, NULL, "m"),
                     CHATD_EINVAL);
    assert_int_equal(http_route_add(s, "GET", "/v1/a{b}", 0, h_sync, NULL, "m"),
                     CHATD_EINVAL);
    assert_int_equal(http_route_add(s, "get", "/v1/b", 0, h_sync, NULL, "m"),
                     CHATD_EINVAL);
    assert_int_equal(http_route_add(s, "GET", "/v1/b", 9, h_sync, NULL, "m"),
                     CHATD_EINVAL);
    assert_int_equal(http_upgrade_add(s, "/v1/a/{id}", on_upgrade, NULL),
                     CHATD_EEXIST);
    assert_int_equal(http_start(s), CHATD_OK);
    assert_int_equal(http_start(s), CHATD_ESTATE);
    assert_int_equal(http_route_add(s, "GET", "/v1/late", 0, h_sync, NULL, "m"),
                     CHATD_ESTATE);
    http_close(s);
    opt.address = "localhost"; /* not a literal */
    assert_int_equal(http_open(&s, &opt, NULL), CHATD_EINVAL);
}

static void test_quiesce_refuses_dispatch(void **state)
{
    struct http_options opt = {.address = "127.0.0.1"};
    struct http_server *s;
    struct answer a;

    answer_init(&a);
    assert_int_equal(http_open(&s, &opt, NULL), CHATD_OK);
    assert_int_equal(
        http_dispatch(s, "GET", "/healthz", NULL, 0, NULL, NULL, on_done, &a),
        CHATD_ECLOSED); /* not started */
    assert_int_equal(http_start(s), CHATD_OK);
    assert_true(http_port(s) != 0);
    assert_int_equal(
        http_dispatch(s, "GET", "/healthz", NULL, 0, NULL, NULL, on_done, &a),
        CHATD_OK);
    assert_int_equal(a.status, 200);
    http_quiesce(s);
    assert_int_equal(
        http_dispatch(s, "GET", "/healthz", NULL, 0, NULL, NULL, on_done, &a),
        CHATD_ECLOSED);
    assert_int_equal(a.calls, 1);
    http_close(s);
    answer_destroy(&a);
}

static void test_port_in_use(void **state)
{
    struct fixture *fx = *state;
    struct http_options opt = {.address = "127.0.0.1", .port = fx->port};
    struct http_server *s;

    assert_int_equal(http_open(&s, &opt, NULL), CHATD_OK);
    assert_int_equal(http_start(s), CHATD_EIO);
    http_close(s);
}

/* What http.cors_origins accepts: origins exactly as a browser sends
 * them, or "*" alone; http_open refuses anything else. */
static void test_cors_origins(void **state)
{
    static const char *const good[] = {
        "*", "https://app.example.com", "http://localhost:3000",
        "http://127.0.0.1:8080", "https://[::1]:443", "https://a-b.c9.io"};
    static const char *const bad[] = {
        "", "app.example.com", "https://", "https://app.example.com/",
        "https://App.example.com", "https://app.example.com:0",
        "https://app.example.com:123456", "https://app.example.com:",
        "ftp://app.example.com", "https://.example.com", "https://x.",
        "https://[]:1", "https://[::1", "https://a b", "null", "**"};
    const char *const star_and_more[] = {"*", "https://a.example", NULL};
    const char *const more_and_star[] = {"https://a.example", "*", NULL};
    struct http_options opt = {.address = "127.0.0.1"};
    struct http_server *s;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!http_cors_origin_valid(good[i]))
            fail_msg("refused %s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (http_cors_origin_valid(bad[i]))
            fail_msg("accepted \"%s\"", bad[i]);
    opt.cors_origins = star_and_more;
    assert_int_equal(http_open(&s, &opt, NULL), CHATD_EINVAL);
    opt.cors_origins = more_and_star;
    assert_int_equal(http_open(&s, &opt, NULL), CHATD_EINVAL);
    const char *const list[] = {"https://app.example.com", NULL};
    opt.cors_origins = list;
    assert_int_equal(http_open(&s, &opt, NULL), CHATD_OK);
    http_close(s);
}

static void test_ipv6(void **state)
{
    struct http_options opt = {.address = "::1"};
    struct http_server *s;
    struct resp r;
    char url[128];
    CURL *c;

    assert_int_equal(http_open(&s, &opt, NULL), CHATD_OK);
    if (http_start(s) != CHATD_OK) {
        http_close(s);
        skip(); /* no IPv6 loopback here */
    }
    c = curl_easy_init();
    snprintf(url, sizeof(url), "http://[::1]:%u/healthz",
             (unsigned)http_port(s));
    memset(&r, 0, sizeof(r));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)WAIT_MS);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    curl_easy_cleanup(c);
    http_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_route),
        cmocka_unit_test(test_cors_origins),
        cmocka_unit_test(test_params_query_body_principal),
        cmocka_unit_test(test_literal_beats_parameter),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_bad_encoding_is_400),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_body_too_large),
        cmocka_unit_test(test_chunked_bodies),
        cmocka_unit_test(test_unsupported_media_type),
        cmocka_unit_test(test_unauthenticated),
        cmocka_unit_test(test_forbidden_levels),
        cmocka_unit_test(test_request_id),
        cmocka_unit_test(test_request_id_unique),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_forgotten_answer_is_500),
        cmocka_unit_test(test_second_answer_replaces_first),
        cmocka_unit_test(test_reset_answer),
        cmocka_unit_test(test_taken_body),
        cmocka_unit_test(test_read_txn_is_ended),
        cmocka_unit_test(test_deferred_single),
        cmocka_unit_test(test_finish_before_handler_returns),
        cmocka_unit_test(test_deferred_concurrent),
        cmocka_unit_test(test_dispatch_sync),
        cmocka_unit_test(test_dispatch_deferred),
        cmocka_unit_test(test_dispatch_errors),
        cmocka_unit_test(test_health_and_ready),
        cmocka_unit_test(test_metrics_endpoint),
        cmocka_unit_test(test_ws_handshake_101),
        cmocka_unit_test(test_ws_pipelined_extra_bytes),
        cmocka_unit_test(test_ws_bad_handshakes),
        cmocka_unit_test(test_route_registration),
        cmocka_unit_test(test_quiesce_refuses_dispatch),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_ipv6),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
