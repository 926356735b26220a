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
};

/*
 * Resolves a Bearer token to a principal. Called on an HTTP worker thread
 * (or the WebSocket thread), must not block beyond an LMDB read. Returns
 * CHATD_OK, or CHATD_ENOTFOUND for an unknown token (-> 401).
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
 * them), `who` is the principal from an Authorization header or kind NONE.
 */
typedef void (*http_upgrade_fn)(void *ctx, int sock, const char *extra,
                                size_t extra_len, void *urh,
                                const struct http_principal *who);

struct http_options {
    const char *address; /* "127.0.0.1"; IPv4 or IPv6 literal */
    uint16_t port;       /* 0 = ephemeral; see http_port */
    size_t max_body;     /* bytes; 0 = default 1 MiB; larger -> 413 */
    unsigned max_connections; /* 0 = default 10000 */
    size_t connection_memory; /* MHD pool per connection; 0 = 8192 */
    unsigned timeout_s;  /* idle keep-alive timeout; 0 = default 60 */
};

struct http_deps {
    http_auth_fn auth;
    void *auth_ctx;
    struct evlog *log;        /* for read transactions (http_req_txn) */
    struct metrics *metrics;  /* request counters and latency; may be NULL */
};

/* Creates the server; it does not listen until http_start. */
int http_open(struct http_server **out, const struct http_options *opt,
              const struct http_deps *deps);

/*
 * Adds a route before http_start. `pattern` segments in braces are
 * parameters ("/v1/rooms/{room_id}"). `owner` (copied) names the module
 * for logs and metrics. CHATD_EEXIST if method+pattern exists,
 * CHATD_EINVAL for a malformed pattern, CHATD_ESTATE after start.
 */
int http_route_add(struct http_server *s, const char *method,
                   const char *pattern, enum chatd_auth auth,
                   http_handler_fn fn, void *ctx, const char *owner);
/* Registers the upgrade handler for GET `path` (before start). */
int http_upgrade_add(struct http_server *s, const char *path,
                     http_upgrade_fn fn, void *ctx);

int http_start(struct http_server *s);
/* The bound port (useful with port 0). */
uint16_t http_port(const struct http_server *s);
/* /readyz answers 200 only while ready (set after modules started). */
void http_set_ready(struct http_server *s, bool ready);
/* Stops accepting new connections; in-flight requests may still finish. */
void http_quiesce(struct http_server *s);
/* Stops the daemon and frees. Every deferred request must have finished
 * (http_req_finish) before this is called. */
void http_close(struct http_server *s);

/* --- a request, in its handler (or in a command while deferred) --- */

const char *http_req_method(const struct chatd_req *req);
const char *http_req_path(const struct chatd_req *req);
const char *http_req_param(struct chatd_req *req, const char *name);
const char *http_req_query(struct chatd_req *req, const char *name);
struct chatd_val http_req_body(struct chatd_req *req);
const char *http_req_header(struct chatd_req *req, const char *name);
struct chatd_principal http_req_principal(struct chatd_req *req);
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
 * a command's answer into 503 when its commit failed). */
void http_reply_json(struct chatd_req *req, unsigned status, const char *body,
                     size_t len);
void http_reply_error(struct chatd_req *req, unsigned status,
                      const char *code, const char *message);
void http_reply_header(struct chatd_req *req, const char *name,
                       const char *value);
/* Status of the answer set so far, 0 if none. */
unsigned http_reply_status(const struct chatd_req *req);

/* Inside the handler only: the answer comes later. The connection is
 * suspended at once (before anything is queued elsewhere). */
void http_req_defer(struct chatd_req *req);
/* Any thread, exactly once after defer: the answer is set; send it. */
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
 */
int http_dispatch(struct http_server *s, const char *method, const char *path,
                  const char *body, size_t len, const struct http_principal *who,
                  const char *correlation_id, http_done_fn done, void *arg);

/* Releases an upgraded socket (MHD_UPGRADE_ACTION_CLOSE). Any thread, once.
 * Free your own event/wslay state for the socket first. */
void http_upgrade_close(void *urh);

#endif /* HTTP_HTTP_H */
