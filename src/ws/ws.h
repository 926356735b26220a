/*
 * ws — real-time delivery over WebSocket (RFC 6455, framing by wslay's
 * wslay_event API) on the HTTP port: GET /v1/ws.
 *
 * Sockets upgraded by the HTTP server are driven by one plain libevent
 * `struct event` each (recv/send, no bufferevent) on the host's loop
 * thread. Every event delivered to a user (userfeed.h) is pushed to every
 * live connection of that user in pos order; a client resumes with
 * `after: POS` without gap or repeat (docs/API.md "WebSocket" has the
 * protocol: frames, close codes, limits).
 *
 * Close codes sent: 1001 going away (shutdown, idle timeout), 1002
 * protocol error, 1007 invalid UTF-8 in a text frame, 1008 policy (auth
 * failed or missing, first frame not auth), 1009 message too big, 4008
 * slow consumer (the connection's outbound buffer went past
 * ws_options.max_outbuf; resume from the last pos received).
 *
 * Memory: per idle connection this layer keeps one small struct with its
 * `struct event` (a few hundred bytes). The wslay context (~8.8 KB of
 * fixed buffers) exists only while bytes are moving and is freed once the
 * connection has been quiet for a sweep period, at a message boundary.
 *
 * Threads: ws_open/ws_close on the main thread (ws_open before
 * http_start; ws_close after the loop stopped and http_close). Everything
 * else says where it may be called.
 */
#ifndef WS_WS_H
#define WS_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chatd/module.h"
#include "evlog/evlog.h"
#include "http/http.h"
#include "metrics/metrics.h"
#include "ws/userfeed.h"

struct event_base;
struct ws_server;

struct ws_options {
    size_t max_outbuf;         /* bytes queued per connection; 0 = 1 MiB */
    size_t max_message;        /* largest client message; 0 = 64 KiB */
    unsigned ping_interval_s;  /* 0 = 30 */
    unsigned idle_timeout_s;   /* nothing received for this long; 0 = 75 */
    unsigned auth_timeout_s;   /* wait for the auth frame; 0 = 10 */
    unsigned resume_window_ms; /* header-auth clients: live delivery starts
                                  at their first frame or after this;
                                  0 = 1000 */
    unsigned close_linger_ms;  /* how long a closing connection may take
                                  to flush its close frame; 0 = 5000 */
    unsigned max_inflight;     /* client frames awaiting their answer per
                                  connection; 0 = 32 */
};

/*
 * Optional: turns stored event data into the current schema version
 * (the module host's upcasters). On the loop thread. Return CHATD_OK with
 * *out = NULL to use the stored data, or with a malloc()ed *out (ws frees
 * it) of *out_len bytes.
 */
typedef int (*ws_upcast_fn)(void *ctx, const struct chatd_event *ev,
                            char **out, size_t *out_len);

struct ws_deps {
    struct http_server *http;  /* borrowed; ws_open registers /v1/ws */
    struct evlog *log;         /* borrowed; read txns on the loop thread */
    struct userfeed *feed;     /* borrowed */
    struct event_base *base;   /* the host loop; evthread_use_pthreads() */
    struct metrics *metrics;   /* may be NULL */
    http_auth_fn auth;         /* Bearer token -> principal (auth frame,
                                  hand-off) */
    void *auth_ctx;
    ws_upcast_fn upcast;       /* may be NULL */
    void *upcast_ctx;
};

/* Creates the server and registers GET /v1/ws with http_upgrade_add.
 * Main thread, before http_start. Both structs are copied. *out freed by
 * ws_close. CHATD_EINVAL (missing dependency), CHATD_ENOMEM, or
 * http_upgrade_add's error. */
int ws_open(struct ws_server **out, const struct ws_options *opt,
            const struct ws_deps *deps);

/* After a durable commit of events first_seq..last_seq: their deliveries
 * go out. Any thread (the writer's); never blocks, allocates nothing. */
void ws_notify(struct ws_server *ws, uint64_t first_seq, uint64_t last_seq);

/* Sends one JSON object (json[0..len), copied) to the live connections of
 * `user_id`; not logged, not resumable, skipped for connections whose
 * buffer is half full. Any thread. CHATD_ENOTFOUND if the user has no live
 * connection, CHATD_EFULL if too many are pending, CHATD_ENOMEM,
 * CHATD_ECLOSED after ws_shutdown, CHATD_EINVAL for bad arguments. */
int ws_ephemeral(struct ws_server *ws, const char *user_id, const char *json,
                 size_t len);

/* Closes every connection of `user_id` (NULL: of every authenticated
 * user) with 1008 "token revoked": tokens were revoked, and connections
 * do not know which token let them in. Those whose token still holds
 * reconnect and resume. Any thread. CHATD_ECLOSED after ws_shutdown,
 * CHATD_ENOMEM, CHATD_EINVAL for a bad id. */
int ws_close_user(struct ws_server *ws, const char *user_id);

/* Whether the user has at least one live (authenticated) connection.
 * Any thread. */
bool ws_online(struct ws_server *ws, const char *user_id);

/* Number of live connections (authenticated or not). Any thread. */
size_t ws_connection_count(struct ws_server *ws);

/* Closes every connection with 1001, releases every upgraded socket
 * (http_upgrade_close) and refuses new ones. Loop thread (or the main
 * thread once the loop has stopped), before http_close. Idempotent. */
void ws_shutdown(struct ws_server *ws);

/* Frees everything (calls ws_shutdown if needed). Main thread, loop not
 * running. NULL is a no-op. */
void ws_close(struct ws_server *ws);

#endif /* WS_WS_H */
