/*
 * http internals: the server, the route table and the request object,
 * shared by the files of src/http only.
 *
 * Files: server.c (MHD daemon, access handler, life cycle), router.c
 * (patterns, matching, percent-decoding, query arguments), req.c (the
 * request object, accessors, replies, defer/finish, running a handler),
 * auth.c (Bearer tokens and route levels), errors.c (JSON error bodies),
 * upgrade.c (WebSocket handshake and hand-off), dispatch.c (synthetic
 * requests), builtin.c (/healthz, /readyz, /metrics), stats.c (request
 * metrics and the access log).
 */
#ifndef HTTP_INTERNAL_H
#define HTTP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "http/http.h"

#define HTTP_MAX_SEGMENTS 32 /* path segments; deeper paths never match */
#define HTTP_METHOD_MAX 16   /* method incl. NUL; longer ones never match */
#define HTTP_MAX_ARGS 64     /* query arguments kept; the rest ignored */
#define HTTP_STATUS_SLOTS 8  /* cached counters per route */
#define HTTP_DEFAULT_MAX_BODY (1024u * 1024u)
#define HTTP_DEFAULT_CONNECTIONS 10000u
#define HTTP_DEFAULT_MEMORY 8192u
#define HTTP_DEFAULT_TIMEOUT 60u
#define HTTP_ID_BYTES 16     /* random bytes in a generated request id */
#define HTTP_ID_POOL 4096    /* random bytes fetched from the kernel at once */

enum route_kind {
    ROUTE_HANDLER,
    ROUTE_UPGRADE,
};

/* A counter handle cached for one status of one route, filled lock-free
 * on first use (a lost race only costs one registry lookup). */
struct status_slot {
    _Atomic unsigned status; /* 0 = free */
    struct metrics_value *_Atomic value;
};

struct http_route {
    char method[HTTP_METHOD_MAX];
    char *pattern;
    char *owner;
    char *seg_buf;                      /* the segments, NUL-separated */
    const char *seg[HTTP_MAX_SEGMENTS]; /* literal text or parameter name */
    uint32_t param_mask;                /* bit i: seg[i] is a parameter */
    size_t nseg;
    uint64_t rank; /* literal segments outrank parameters, earlier first */
    enum chatd_auth auth;
    enum route_kind kind;
    http_handler_fn fn;
    http_upgrade_fn upgrade;
    void *ctx;
    struct metrics_hist *duration;
    struct status_slot statuses[HTTP_STATUS_SLOTS];
};

struct http_server {
    char *address;
    uint16_t port;
    size_t max_body;
    unsigned max_connections;
    size_t connection_memory;
    unsigned threads;
    unsigned timeout_s;
    struct http_deps deps;
    struct MHD_Daemon *daemon;
    int quiesced_fd; /* listen socket handed back by MHD_quiesce_daemon */
    struct http_route **routes; /* read-only once started */
    size_t nroutes;
    size_t routes_cap;
    char **cors;  /* http.cors_origins, owned; ["*"] for any */
    size_t ncors;
    atomic_bool started;
    atomic_bool closing;
    atomic_bool ready;
    struct metrics_value *connections;
    struct metrics_value *deferred;
    /* Randomness for generated request ids, taken HTTP_ID_BYTES at a time
     * (MHD thread and synthetic requests' threads, under id_lock). */
    pthread_mutex_t id_lock;
    size_t id_used; /* bytes of id_pool already handed out */
    unsigned char id_pool[HTTP_ID_POOL];
};

enum req_kind {
    REQ_MHD,
    REQ_SYNTH,
};

/* Where an MHD request stands between access-handler calls. */
enum req_phase {
    PHASE_BODY,     /* routed and accepted, reading the body */
    PHASE_REJECTED, /* an error is set; discarding the body, sent at the end */
    PHASE_DEFERRED, /* the handler deferred; waiting for http_req_finish */
    PHASE_SENT,     /* a response is queued */
};

struct http_hdr {
    struct http_hdr *next;
    char *name;
    char *value;
};

struct http_arg {
    char *key;
    char *value;
};

struct chatd_req {
    struct http_server *srv;
    enum req_kind kind;
    struct MHD_Connection *conn; /* REQ_MHD only */
    struct http_route *route;    /* NULL until matched; its status slots are
                                  the only part written after start */
    const char *route_label;     /* the matched pattern, or "unmatched" */
    char method[HTTP_METHOD_MAX];
    char *path;    /* as received, without the query; owned */
    char *seg_buf; /* decoded segments, NUL-separated; owned */
    const char *seg[HTTP_MAX_SEGMENTS];
    size_t nseg;
    struct http_arg *args; /* decoded query arguments; owned */
    size_t nargs;
    char *body; /* owned, NUL-terminated when not NULL */
    size_t body_len;
    size_t body_cap;
    size_t discarded;   /* body bytes dropped after a rejection */
    bool body_expected; /* Content-Length > 0 or chunked */
    bool body_unread;   /* an early answer: close after sending it */
    bool ctype_checked;
    struct http_principal who;
    const char *cors_origin; /* the list's entry the Origin matched (lives
                                as long as the server), or NULL */
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    uint64_t start_ns;

    /* The answer. */
    unsigned status;
    char *reply; /* owned, or NULL */
    size_t reply_len;
    const char *reply_static; /* used when reply is NULL (static text) */
    const char *content_type; /* NULL = application/json */
    struct http_hdr *headers;

    /* Life cycle. */
    enum req_phase phase;
    bool in_handler;
    bool deferred;
    atomic_bool finished;
    atomic_int refs; /* REQ_SYNTH: the dispatcher and a deferral */
    struct evlog_txn *txn;
    void *user;
    http_done_fn done;
    void *done_arg;
};

/* --- req.c --- */
struct chatd_req *http_req_alloc(struct http_server *s, enum req_kind kind);
void http_req_free(struct chatd_req *r);
/* Request id: the client's if valid, else a new random one. */
void http_req_set_id(struct chatd_req *r, const char *client_id);
bool http_req_id_valid(const char *id);
/* Runs the route's handler on the calling thread, then ends the read txn;
 * a handler that neither answered nor deferred gets a 500. Returns true
 * if the request was deferred. */
bool http_req_run(struct chatd_req *r);
/* Takes ownership of `text` (malloc()ed) as the body. */
void http_reply_owned(struct chatd_req *r, unsigned status, char *text,
                      size_t len, const char *content_type);
/* A header whose name equals `name` (case-insensitive), or NULL. */
const struct http_hdr *http_reply_header_find(const struct chatd_req *r,
                                              const char *name);
/* Appends to the body: CHATD_OK, CHATD_EFULL past max_body, CHATD_ENOMEM. */
int http_req_body_append(struct chatd_req *r, const char *data, size_t len);

/* --- cors.c --- */
/* Copies the NULL-terminated list (none or NULL: no CORS). CHATD_EINVAL
 * for an invalid origin or "*" beside others, CHATD_ENOMEM. */
int http_cors_set(struct http_server *s, const char *const *origins);
void http_cors_free(struct http_server *s);
/* The list's entry that allows `origin` (may be NULL), or NULL. */
const char *http_cors_match(const struct http_server *s, const char *origin);
/* An OPTIONS preflight from an allowed origin: sets the 204 (or a 400 or
 * 404 for the path) and returns true; false if it is not one. */
bool http_cors_preflight(struct chatd_req *r, const char *asked_method);
/* Vary, and for an allowed origin the Access-Control-* answer headers. */
void http_cors_headers(const struct chatd_req *r, struct MHD_Response *resp);

/* --- router.c --- */
/* Exactly one of fn (a handler) and up (an upgrade) is set. */
int http_router_add(struct http_server *s, const char *method,
                    const char *pattern, enum chatd_auth auth,
                    http_handler_fn fn, http_upgrade_fn up, void *ctx,
                    const char *owner);
void http_router_free(struct http_server *s);
/* Splits and decodes r->path, finds the route for r->method. Sets r->route
 * and r->route_label and returns true, or sets an error reply (400, 404,
 * 405 with Allow, 500 on ENOMEM) and returns false. */
bool http_router_resolve(struct chatd_req *r);
/* For a CORS preflight: the methods the path's routes answer ("GET, POST")
 * into allow, r->route_label set; or false with a reply set (400, 404). */
bool http_router_methods(struct chatd_req *r, char *allow, size_t cap);
/* Percent-decodes in place; false on a bad escape or a decoded NUL. */
bool http_url_decode(char *s, bool plus_is_space);
/* Adds one decoded query argument (copies); false on a bad escape,
 * invalid UTF-8 or ENOMEM (then an error reply is set). */
bool http_router_add_arg(struct chatd_req *r, const char *key,
                         const char *value, bool plus_is_space);
/* Parses "a=1&b=2" (a synthetic request's query). */
bool http_router_parse_query(struct chatd_req *r, const char *query);

/* --- auth.c --- */
/* Resolves the Authorization header (may be NULL) and checks the route's
 * level. False if an error reply (401/403/503) was set. */
/* The token of an "Authorization: Bearer <token>" value into buf (cap
 * bytes, NUL-terminated); false if it is not one or does not fit. */
#define HTTP_TOKEN_MAX 1024
bool http_bearer_token(const char *h, char *buf, size_t cap);
bool http_auth_check(struct chatd_req *r, const char *authorization);
/* Optional Bearer for the upgrade: absent -> NONE, bad -> 401. */
bool http_auth_optional(struct chatd_req *r, const char *authorization);
/* The route's level against an already known principal (synthetic). */
bool http_auth_level(struct chatd_req *r);

/* --- errors.c --- */
/* `{"error":{"code":"...","message":"..."}}`, malloc()ed; NULL on ENOMEM. */
char *http_error_body(const char *code, const char *message, size_t *len);
/* The body used when even the error body cannot be allocated. */
extern const char http_error_oom_body[];

/* --- upgrade.c --- */
/* First access-handler call on an upgrade route (MHD thread): checks the
 * handshake and queues the 101 or an error. */
enum MHD_Result http_upgrade_begin(struct chatd_req *r, const char *version);

/* --- builtin.c --- */
int http_builtin_add(struct http_server *s);

/* --- stats.c --- */
void http_stats_open(struct http_server *s);
void http_stats_route(struct http_server *s, struct http_route *rt);
/* Counts the request and logs the access line; call once, when the
 * answer leaves. */
void http_stats_request(struct chatd_req *r);

/* --- dispatch.c --- */
/* Hands a synthetic request's answer to its `done` (once). */
void http_dispatch_deliver(struct chatd_req *r);
/* Drops one reference; frees at zero. */
void http_dispatch_release(struct chatd_req *r);

/* --- server.c --- */
/* Builds and queues the MHD response for r's answer (MHD thread). */
enum MHD_Result http_server_send(struct chatd_req *r);

#endif /* HTTP_INTERNAL_H */
