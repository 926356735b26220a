/*
 * http — the only folder that includes <microhttpd.h>. One libmicrohttpd
 * daemon (internal polling thread, epoll) serves the REST API: a router
 * with path parameters, uniform JSON errors, request ids, body limits,
 * Bearer authentication through a callback, deferred answers (a request
 * suspended while its command waits for the group commit), synthetic
 * requests (WebSocket client frames mapped onto routes), and the WebSocket
 * upgrade hand-off.
 *
 * `struct chatd_req` (public, opaque) is defined here: the module API's
 * req_* / reply_* functions are the http_req_* functions below.
 *
 * Threads. An "MHD thread" is one of the daemon's internal polling threads
 * (one by default; opt->threads makes a pool, each thread serving its own
 * connections): it runs route handlers, the auth callback and the upgrade
 * callback for HTTP requests. http_dispatch runs them on its caller's
 * thread instead. So handlers run on several threads at once either way.
 * The route table is written only before http_start and read without locks
 * afterwards.
 *
 * What every answer carries: `Content-Type: application/json` (the
 * /metrics text excepted), `X-Request-Id` (the client's when it is 1..128
 * chars of [A-Za-z0-9._:-], else a new random one). Errors are
 * `{"error":{"code":"...","message":"..."}}`; the server itself answers:
 *   400 invalid_argument  bad percent-encoding or UTF-8 in the path or
 *                         query; a bad WebSocket handshake
 *   401 unauthenticated   missing/unknown Bearer token on a route that
 *                         needs one (with `WWW-Authenticate: Bearer`)
 *   403 forbidden         authenticated, but below the route's level
 *   404 not_found         no route has this path
 *   405 method_not_allowed  the path exists for other methods (`Allow`)
 *   413 too_large         body over max_body (from Content-Length at once)
 *   415 unsupported_media_type  POST/PUT/PATCH body without
 *                         `Content-Type: application/json[; params]`
 *   426 upgrade_required  Sec-WebSocket-Version is not 13 (with
 *                         `Sec-WebSocket-Version: 13`)
 *   500 internal          a handler returned without answering or deferring
 *   503 unavailable       /readyz before http_set_ready(true); the auth
 *                         callback failed with something else than
 *                         CHATD_ENOTFOUND
 * Built in (no auth): GET /healthz -> 200 {"status":"ok"}; GET /readyz;
 * GET /metrics -> metrics_render as `text/plain; version=0.0.4` (empty
 * when deps->metrics is NULL).
 *
 * Metrics (when deps->metrics is set): chatd_http_requests_total{route,
 * method,status} (route is the pattern, "unmatched" for 404s; methods
 * outside GET/HEAD/POST/PUT/PATCH/DELETE/OPTIONS count as "other"),
 * chatd_http_request_duration_seconds{route,method},
 * chatd_http_connections, chatd_http_deferred. Every request is logged at
 * DEBUG (5xx at WARN) with method, route, status, duration_ms, request_id.
 */
#ifndef HTTP_HTTP_H
#define HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chatd/module.h"
#include "evlog/evlog.h"
#include "metrics/metrics.h"

struct http_server;

/* A principal with its own storage for the id. */
#define HTTP_ID_MAX 64
struct http_principal {
    enum chatd_principal_kind kind;
    char id[HTTP_ID_MAX];
    int64_t expires_ms; /* when the token stops working (wall clock ms);
                           0: it does not expire */
};

/* Added: the longest X-Request-Id / correlation id kept (bytes, no NUL). */
#define HTTP_REQUEST_ID_MAX 128

/*
 * Resolves a Bearer token to a principal. Called on an HTTP worker thread
 * (or the WebSocket thread), must not block beyond an LMDB read. Returns
 * CHATD_OK, or CHATD_ENOTFOUND for an unknown token (-> 401).
 * Any other error gives 503 unavailable on routes that need a principal
 * (and is ignored on CHATD_AUTH_NONE routes). `token` is borrowed for the
 * call. An `out` left with kind NONE counts as unauthenticated; `out->id`
 * must be NUL-terminated.
 */
typedef int (*http_auth_fn)(void *ctx, const char *token,
                            struct http_principal *out);

/* Route handler; same contract as chatd_route_fn (answer at once or defer
 * exactly once). `ctx` is what was given to http_route_add. */
typedef void (*http_handler_fn)(void *ctx, struct chatd_req *req);

/*
 * The WebSocket upgrade hand-off, on the MHD thread, must not block: `sock`
 * is the non-blocking socket (owned by the callee from now on, but never
 * close(2)d: release it with http_upgrade_close(urh) exactly once),
 * `extra` are bytes the client sent after the handshake (borrowed: copy
 * them), `who` is the principal from an Authorization header or kind NONE
 * (borrowed for the call), `token` that header's bearer token (borrowed
 * for the call; NULL without one). The token was checked before the 101,
 * on this thread: a revocation that commits between that check and the
 * callee's use of the socket is only seen by checking it again there.
 */
typedef void (*http_upgrade_fn)(void *ctx, int sock, const char *extra,
                                size_t extra_len, void *urh,
                                const struct http_principal *who,
                                const char *token);

struct http_options {
    const char *address; /* "127.0.0.1"; IPv4 or IPv6 literal */
    uint16_t port;       /* 0 = ephemeral; see http_port */
    size_t max_body;     /* bytes; 0 = default 1 MiB; larger -> 413 */
    unsigned max_connections; /* 0 = default 10000 */
    size_t connection_memory; /* MHD pool per connection; 0 = 8192 */
    unsigned timeout_s;  /* idle keep-alive timeout; 0 = default 60 */
    unsigned threads;    /* MHD polling threads; 0 or 1 = one */
    /* Origins whose pages may read answers and open WebSockets
     * ("https://app.example.com", or just "*"), NULL-terminated; NULL =
     * no CORS. Copied. See http_cors_origin_valid. */
    const char *const *cors_origins;
};

/* "*", or "http(s)://host[:port]" in lower case with no path: what a
 * browser sends as Origin. */
bool http_cors_origin_valid(const char *origin);

/* Borrowed: every pointer must stay valid until http_close. */
struct http_deps {
    http_auth_fn auth;        /* NULL: every token is unknown */
    void *auth_ctx;
    struct evlog *log;        /* for read transactions (http_req_txn) */
    struct metrics *metrics;  /* request counters and latency; may be NULL */
};

/* Creates the server; it does not listen until http_start. `opt` is
 * copied. CHATD_EINVAL if opt->address is not an IPv4/IPv6 literal,
 * CHATD_ENOMEM. Registers /healthz, /readyz and /metrics. Main thread. */
int http_open(struct http_server **out, const struct http_options *opt,
              const struct http_deps *deps);

/*
 * Adds a route before http_start. `pattern` segments in braces are
 * parameters ("/v1/rooms/{room_id}"). `owner` (copied) names the module
 * for logs and metrics. CHATD_EEXIST if method+pattern exists,
 * CHATD_EINVAL for a malformed pattern, CHATD_ESTATE after start.
 * `method` is an upper-case token ("GET", at most 15 chars). A pattern is
 * "/" or "/seg/seg..." with non-empty segments, at most 32; a parameter
 * name is [A-Za-z_][A-Za-z0-9_]*, unique within the pattern; literal
 * segments are matched against the percent-decoded path. Two patterns
 * that differ only in parameter names are the same route (EEXIST). When
 * several routes match a path, literal segments win over parameters,
 * leftmost first ("/v1/rooms/search" over "/v1/rooms/{id}"). Main thread.
 */
int http_route_add(struct http_server *s, const char *method,
                   const char *pattern, enum chatd_auth auth,
                   http_handler_fn fn, void *ctx, const char *owner);
/* Registers the upgrade handler for GET `path` (before start). `path` is a
 * pattern as for http_route_add, normally without parameters. Same errors.
 * The handshake is checked per RFC 6455; an Authorization header is
 * optional but must be valid if sent (else 401). Main thread. */
int http_upgrade_add(struct http_server *s, const char *path,
                     http_upgrade_fn fn, void *ctx);

/* Binds and starts the daemon. CHATD_EIO if it cannot listen (logged with
 * the address), CHATD_ESTATE if already started. Main thread. */
int http_start(struct http_server *s);
/* The bound port (useful with port 0); 0 before start. Any thread. */
uint16_t http_port(const struct http_server *s);
/* /readyz answers 200 only while ready (set after modules started).
 * Any thread. */
void http_set_ready(struct http_server *s, bool ready);
/* Stops accepting new connections; in-flight requests may still finish.
 * http_dispatch refuses new requests from now on (CHATD_ECLOSED). Main
 * thread; once. */
void http_quiesce(struct http_server *s);
/* Stops the daemon and frees. Every deferred request must have finished
 * (http_req_finish) before this is called: libmicrohttpd aborts the
 * process if a suspended, non-upgraded connection remains. Upgraded
 * sockets still open are closed by libmicrohttpd; close them first with
 * http_upgrade_close. No other thread may use `s` any more. NULL is a
 * no-op. Main thread. */
void http_close(struct http_server *s);

/* --- a request, in its handler (or in a command while deferred) --- */

/*
 * Threads: these run on the thread that runs the handler, or, after
 * http_req_defer, on the one thread that owns the deferred request (the
 * writer) until it calls http_req_finish. Never after http_req_finish.
 * Returned strings are borrowed until the answer is sent.
 */

/* The method as sent ("GET"). */
const char *http_req_method(const struct chatd_req *req);
/* The path as sent, still percent-encoded, without the query. */
const char *http_req_path(const struct chatd_req *req);
/* A path parameter, percent-decoded and valid UTF-8; NULL if the route has
 * no parameter of that name. */
const char *http_req_param(struct chatd_req *req, const char *name);
/* A query argument, decoded ('+' is a space), valid UTF-8; "" for "?k" or
 * "?k="; NULL if absent. The first one wins when repeated. */
const char *http_req_query(struct chatd_req *req, const char *name);
/* The body (NUL-terminated past len when not empty); data NULL, len 0 if
 * there is none. */
struct chatd_val http_req_body(struct chatd_req *req);
/* A request header, case-insensitive; NULL if absent, and always NULL for
 * synthetic requests. */
const char *http_req_header(struct chatd_req *req, const char *name);
/* kind NONE (id NULL) when unauthenticated. */
struct chatd_principal http_req_principal(struct chatd_req *req);
/* The request id (X-Request-Id); never NULL. */
const char *http_req_correlation_id(struct chatd_req *req);
/* Lazily opened read transaction; the server ends it after the handler
 * returns (on that same thread). NULL on failure or while deferred. */
struct evlog_txn *http_req_txn(struct chatd_req *req);
/* The owner (module name) of the route being served. Borrowed. */
const char *http_req_owner(const struct chatd_req *req);
/* One pointer of the route owner's own, kept with the request. */
void http_req_set_user(struct chatd_req *req, void *user);
void *http_req_user(const struct chatd_req *req);

/* Answers; bodies copied. A second answer replaces the first (used to turn
 * a command's answer into 503 when its commit failed). A status outside
 * 100..599 is answered as 500. If the copy fails (ENOMEM) the answer
 * becomes 500 internal. Headers accumulate (a second answer keeps them);
 * a Content-Type header replaces the default one; X-Request-Id cannot be
 * overridden. */
void http_reply_json(struct chatd_req *req, unsigned status, const char *body,
                     size_t len);
/* The same with `body` (from malloc, may be NULL) owned by the request
 * from this call on: no copy. */
void http_reply_json_take(struct chatd_req *req, unsigned status, char *body,
                          size_t len);
void http_reply_error(struct chatd_req *req, unsigned status,
                      const char *code, const char *message);
void http_reply_header(struct chatd_req *req, const char *name,
                       const char *value);
/* Status of the answer set so far, 0 if none. */
unsigned http_reply_status(const struct chatd_req *req);
/* Number of response headers added so far. */
size_t http_reply_header_count(const struct chatd_req *req);
/* Forgets the status and body set so far and every header after the
 * first keep_headers: a command run again by the writer answers afresh,
 * with the headers its route handler added before submitting it. */
void http_reply_reset(struct chatd_req *req, size_t keep_headers);

/* Inside the handler only: the answer comes later. The connection is
 * suspended at once (before anything is queued elsewhere). A second call
 * is ignored. */
void http_req_defer(struct chatd_req *req);
/* Any thread, exactly once after defer: the answer is set; send it. The
 * request may be freed before this returns: do not touch `req` after.
 * May be called before the handler that deferred has returned. Without a
 * prior defer it is logged and ignored. */
void http_req_finish(struct chatd_req *req);

/* --- synthetic requests: WebSocket frames routed like HTTP --- */

/* Called exactly once with the answer (status, JSON body borrowed for the
 * call) on the thread that finishes the request (the caller's thread for
 * immediate answers, the writer thread for deferred ones). */
typedef void (*http_done_fn)(void *arg, unsigned status, const char *body,
                             size_t len);

/*
 * Routes method+path (with query) to its handler as if it came over HTTP
 * from `who`, with `body` (copied) and `correlation_id` (copied; NULL makes
 * one). Auth levels are enforced as for HTTP. Any thread. Returns CHATD_OK
 * (done will run) or CHATD_ENOMEM/CHATD_ECLOSED (done will not).
 * `who` NULL means unauthenticated. Errors found before the handler (404,
 * 405, 401, 403, 413) go to `done` like any answer. Content-Type is not
 * checked (bodies are taken as JSON). An upgrade path answers 400.
 * CHATD_ECLOSED before http_start and after http_quiesce; CHATD_EINVAL if
 * method, path or done is NULL. An invalid correlation_id is replaced by a
 * new one.
 */
int http_dispatch(struct http_server *s, const char *method, const char *path,
                  const char *body, size_t len, const struct http_principal *who,
                  const char *correlation_id, http_done_fn done, void *arg);

/* Releases an upgraded socket (MHD_UPGRADE_ACTION_CLOSE). Any thread, once.
 * Free your own event/wslay state for the socket first. */
void http_upgrade_close(void *urh);

#endif /* HTTP_HTTP_H */
