/*
 * chatd module API — the one public header.
 *
 * Anything that is not declared in this file is not API: a module reaches the
 * host only through the `struct chatd_host` table handed to its `init`, and
 * exports exactly one symbol, `chatd_module_info()`, made by CHATD_MODULE().
 * No libevent, libmicrohttpd, LMDB, jansson or wslay type appears here, so the
 * host may change libraries and a module may later run out of process behind
 * the same interface.
 *
 * Conventions used in every comment below:
 *  - Status: functions that act return CHATD_OK (0) or a negative CHATD_E*
 *    code; chatd_host.strerror() names it. Predicates return bool; lookups
 *    return a pointer or NULL.
 *  - Ownership words: "borrowed" (valid for the duration of the call),
 *    "valid until <event>", "copied" (the host copies it before returning).
 *    The host never takes ownership of module memory and never hands a module
 *    memory it must free, unless a comment says so.
 *  - Threads: each callback type says on which thread it runs. Host
 *    functions may be called from any thread that runs a callback of the
 *    calling module, unless their comment restricts them.
 *
 * ABI rules (docs/MODULES.md has the long version):
 *  - CHATD_ABI_MAJOR changes when anything here changes incompatibly
 *    (a field or function removed, reordered or changes meaning). The host
 *    refuses a module whose major differs.
 *  - CHATD_ABI_MINOR grows when something is appended (a function at the end
 *    of chatd_host, a field at the end of a struct that carries `size`). The
 *    host refuses a module built for a newer minor than its own.
 */
#ifndef CHATD_MODULE_H
#define CHATD_MODULE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CHATD_ABI_MAJOR 1
#define CHATD_ABI_MINOR 0

/* Build facts that must agree between host and module: pointer, time_t,
 * off_t and long sizes. Compared as a string at load. */
#define CHATD_STR_(x) #x
#define CHATD_STR(x) CHATD_STR_(x)
#define CHATD_ABI_TAG                                                          \
    "p" CHATD_STR(__SIZEOF_POINTER__) "-l" CHATD_STR(__SIZEOF_LONG__) "-le"    \
        CHATD_STR(__ORDER_LITTLE_ENDIAN__)

#if defined(__GNUC__)
#define CHATD_EXPORT __attribute__((visibility("default")))
#define CHATD_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CHATD_EXPORT
#define CHATD_PRINTF(fmt, args)
#endif

/* ------------------------------------------------------------------------ */
/* Status codes. Append-only: a code is never renumbered or reused.          */
/* ------------------------------------------------------------------------ */

enum chatd_status {
    CHATD_OK = 0,
    CHATD_EINVAL = -1,     /* an argument is malformed or out of range */
    CHATD_ENOMEM = -2,     /* out of memory */
    CHATD_ENOTFOUND = -3,  /* no such key, event, store, route */
    CHATD_ECONFLICT = -4,  /* expected stream version did not match */
    CHATD_EEXIST = -5,     /* already registered / already exists */
    CHATD_EIO = -6,        /* storage or system I/O failed */
    CHATD_EFULL = -7,      /* a configured limit or the map size is reached */
    CHATD_EPERM = -8,      /* not allowed: foreign store, unowned event type */
    CHATD_ESTATE = -9,     /* called at the wrong time or on the wrong thread */
    CHATD_EABI = -10,      /* module/host ABI mismatch */
    CHATD_EAGAIN = -11,    /* temporary: try again later */
    CHATD_EREJECTED = -12, /* a command refused itself; its reply says why */
    CHATD_ECLOSED = -13,   /* the host is shutting down */
};

/* ------------------------------------------------------------------------ */
/* Opaque handles. A module never sees their layout.                         */
/* ------------------------------------------------------------------------ */

struct chatd_module; /* this module's registration handle; valid until fini */
struct chatd_req;    /* one API request (HTTP or a WebSocket client frame) */
struct chatd_txn;    /* a storage transaction (read, or the writer's) */
struct chatd_store;  /* one of this module's named key/value stores */
struct chatd_cursor; /* an ordered iterator over one store */
struct chatd_metric; /* a counter or gauge */

/* A byte range borrowed from the host. */
struct chatd_val {
    const void *data;
    size_t len;
};

/* ------------------------------------------------------------------------ */
/* Events                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * One event of the log, as delivered to projections and subscribers.
 * Every pointer is borrowed: valid only during the callback that receives
 * it. Strings are NUL-terminated. `data` is a JSON object (UTF-8), already
 * upcast to the schema version the owning module registered.
 */
struct chatd_event {
    uint32_t size;              /* sizeof(struct chatd_event) of the host */
    uint64_t seq;               /* global sequence number, from 1, no gaps */
    int64_t time_ms;            /* append time, Unix epoch milliseconds */
    const char *type;           /* "<module>.<noun>_<past participle>" */
    uint32_t v;                 /* schema version of `data` */
    const char *stream;         /* e.g. "room:r_7f3a"; the aggregate */
    uint64_t stream_ver;        /* 1 for the first event of the stream */
    const char *correlation_id; /* the X-Request-Id that caused it */
    const char *actor;          /* "user:<id>", "admin", "module:<name>" */
    const char *data;           /* JSON object text */
    size_t data_len;
};

/* Expected stream version for chatd_append.expected_ver. */
#define CHATD_ANY_VERSION UINT64_MAX /* no check */
#define CHATD_NO_STREAM 0            /* the stream must not exist yet */

/* What a command appends. All pointers borrowed; the host copies. */
struct chatd_append {
    uint32_t size;         /* sizeof(struct chatd_append) */
    const char *type;      /* must be an event type this module owns */
    const char *stream;    /* non-empty, at most 200 bytes */
    uint64_t expected_ver; /* CHATD_ANY_VERSION, CHATD_NO_STREAM or N */
    const char *data;      /* JSON object text */
    size_t data_len;
};

/*
 * Upcaster: turns `data` written with an older schema version (ev->v) into
 * the current one. Writes a malloc()ed JSON text to *out (the host frees it
 * with free()). Runs on whichever thread is reading the event; must be
 * pure. Return CHATD_OK, or an error to make the read fail loudly.
 */
typedef int (*chatd_upcast_fn)(const struct chatd_event *ev, char **out,
                               size_t *out_len);

struct chatd_event_type {
    const char *type;       /* "<module>.<noun>_<past participle>" */
    uint32_t version;       /* current schema version, from 1 */
    chatd_upcast_fn upcast; /* NULL if there never was an older version */
};

/*
 * Inline projection: applies one event to this module's stores inside the
 * writer's transaction, so the read model commits with the event (read your
 * writes). Called on the writer thread for every event of the log in order,
 * during live appends and during `chatd rebuild`. Must be deterministic and
 * touch nothing but its own stores through `txn`. Returning an error aborts
 * the command that appended the event (or fails the rebuild).
 */
typedef int (*chatd_project_fn)(void *state, struct chatd_txn *txn,
                                const struct chatd_event *ev);

struct chatd_projection {
    const char *name;       /* unique within the module */
    uint32_t version;       /* bump to make the host drop and rebuild */
    const char *const *stores; /* NULL-terminated: the stores it writes */
    chatd_project_fn apply;
};

/*
 * Async subscriber: sees every committed event after the commit, in order,
 * at least once, on its own thread. The host persists the position after
 * the handler returns CHATD_OK; on error it retries the same event with
 * backoff. Effects must therefore be idempotent (use ev->seq as the key).
 */
typedef int (*chatd_subscribe_fn)(void *state, const struct chatd_event *ev);

struct chatd_subscriber {
    const char *name;   /* unique within the module; names the checkpoint */
    const char *prefix; /* only event types starting with this; NULL = all */
    chatd_subscribe_fn handle;
};

/* ------------------------------------------------------------------------ */
/* Requests and commands                                                     */
/* ------------------------------------------------------------------------ */

enum chatd_auth {
    CHATD_AUTH_NONE = 0,    /* anyone; principal may be NONE */
    CHATD_AUTH_USER = 1,    /* any authenticated user, service or admin */
    CHATD_AUTH_SERVICE = 2, /* a service account or the admin */
    CHATD_AUTH_ADMIN = 3,   /* the admin only */
};

enum chatd_principal_kind {
    CHATD_PRINCIPAL_NONE = 0,
    CHATD_PRINCIPAL_USER = 1,
    CHATD_PRINCIPAL_SERVICE = 2,
    CHATD_PRINCIPAL_ADMIN = 3,
    CHATD_PRINCIPAL_MODULE = 4, /* a command run by chatd_host.exec */
};

struct chatd_principal {
    enum chatd_principal_kind kind;
    const char *id; /* user/service id, "admin", module name; borrowed */
};

/*
 * Route handler. Runs on an HTTP worker thread (or the WebSocket thread
 * when a client frame is mapped onto the route); must not block. It either
 * answers at once with reply_json/reply_error, or hands the request to the
 * writer with submit(); exactly one of the two. A handler that returns
 * without doing either gets a 500 from the host.
 */
typedef void (*chatd_route_fn)(void *state, struct chatd_req *req);

struct chatd_route {
    const char *method;  /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *pattern; /* "/v1/rooms/{room_id}/messages"; under /v1/ */
    enum chatd_auth auth;
    chatd_route_fn handle;
};

/*
 * Command: runs on the writer thread inside the group-commit transaction,
 * after every command queued before it (so it sees their effects). It
 * reads stores through `txn`, appends events (each runs the inline
 * projections at once, so later reads in the same command see it) and sets
 * the reply. `req` is NULL for commands started by exec().
 *
 * Return CHATD_OK to keep what it appended. Any other return, or a reply
 * with status >= 400, discards everything the command appended. The reply
 * reaches the client only after the batch is durably committed; if the
 * commit fails the host answers 503 instead.
 */
typedef int (*chatd_command_fn)(void *arg, struct chatd_txn *txn,
                                struct chatd_req *req);

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

enum chatd_config_type {
    CHATD_CONFIG_INT = 1,
    CHATD_CONFIG_STRING = 2,
    CHATD_CONFIG_BOOL = 3,
};

/*
 * A typed configuration key of this module, read from the "<module>"
 * object of the config file. Unknown keys there are refused at start.
 * `target` points into the module's state; the host writes the value
 * (int64_t, const char * valid until fini, or bool) before init returns.
 */
struct chatd_config_item {
    const char *key;
    enum chatd_config_type type;
    int64_t def_int;
    const char *def_str;
    int64_t min, max; /* for CHATD_CONFIG_INT */
    void *target;
};

enum chatd_log_level {
    CHATD_LOG_DEBUG = 0,
    CHATD_LOG_INFO = 1,
    CHATD_LOG_WARN = 2,
    CHATD_LOG_ERROR = 3,
};

enum chatd_seek {
    CHATD_SEEK_FIRST = 1, /* smallest key */
    CHATD_SEEK_LAST = 2,  /* largest key */
    CHATD_SEEK_GE = 3,    /* smallest key >= given key */
    CHATD_SEEK_LE = 4,    /* largest key <= given key */
};

enum chatd_metric_kind {
    CHATD_METRIC_COUNTER = 1,
    CHATD_METRIC_GAUGE = 2,
};

typedef void (*chatd_timer_fn)(void *state);

/* ------------------------------------------------------------------------ */
/* The host table                                                            */
/* ------------------------------------------------------------------------ */

/*
 * Handed to init; valid until fini returns. Entries are only ever appended:
 * check `size` (or abi_minor) before calling one added after your minor.
 */
struct chatd_host {
    uint32_t size;
    uint16_t abi_major;
    uint16_t abi_minor;

    /* --- registration: only during init, else CHATD_ESTATE --- */

    /* Declares an event type this module owns and may append. */
    int (*event_type)(struct chatd_module *mod,
                      const struct chatd_event_type *et);
    /* Declares a named store "<module>/<name>"; *out valid until fini.
     * A store written by a projection must be declared before it. */
    int (*store)(struct chatd_module *mod, const char *name,
                 struct chatd_store **out);
    int (*projection)(struct chatd_module *mod,
                      const struct chatd_projection *p);
    int (*subscriber)(struct chatd_module *mod,
                      const struct chatd_subscriber *s);
    /* Refused with CHATD_EEXIST if another module has method+pattern. */
    int (*route)(struct chatd_module *mod, const struct chatd_route *r);
    /* `items` ends with an entry whose key is NULL; values set on return. */
    int (*config)(struct chatd_module *mod,
                  const struct chatd_config_item *items);
    /* Runs fn(state) every interval_ms on the host's loop thread from
     * start to stop. Must not block. */
    int (*timer)(struct chatd_module *mod, unsigned interval_ms,
                 chatd_timer_fn fn);
    /* Registers chatd_<module>_<name>; *out valid until fini. */
    int (*metric)(struct chatd_module *mod, enum chatd_metric_kind kind,
                  const char *name, const char *help,
                  struct chatd_metric **out);

    /* --- any time --- */

    void (*log)(struct chatd_module *mod, enum chatd_log_level level,
                const char *fmt, ...) CHATD_PRINTF(3, 4);
    const char *(*strerror)(int status);
    void (*metric_add)(struct chatd_metric *m, int64_t delta);
    void (*metric_set)(struct chatd_metric *m, int64_t value);
    /* The data directory's epoch id (made at creation). Borrowed, valid
     * until fini. */
    const char *(*epoch)(struct chatd_module *mod);

    /* --- requests (route handlers and commands) --- */

    /* Path parameter by name ("room_id"), borrowed until the reply. */
    const char *(*req_param)(struct chatd_req *req, const char *name);
    /* Query argument, decoded, borrowed until the reply; NULL if absent. */
    const char *(*req_query)(struct chatd_req *req, const char *name);
    /* The body; data NULL and len 0 if there is none. Borrowed. */
    struct chatd_val (*req_body)(struct chatd_req *req);
    /* A request header (case-insensitive), borrowed; NULL if absent. */
    const char *(*req_header)(struct chatd_req *req, const char *name);
    /* Who is calling, borrowed until the reply. */
    struct chatd_principal (*req_principal)(struct chatd_req *req);
    const char *(*req_correlation_id)(struct chatd_req *req);
    /* A read transaction for this request, opened on first call and closed
     * by the host after the reply. NULL on storage failure. */
    struct chatd_txn *(*req_txn)(struct chatd_req *req);

    /* Answers. Body is copied. Exactly one answer per request. */
    void (*reply_json)(struct chatd_req *req, unsigned status,
                       const char *body, size_t len);
    void (*reply_error)(struct chatd_req *req, unsigned status,
                        const char *code, const char *message);
    /* Adds a response header (copied); before the answer. */
    void (*reply_header)(struct chatd_req *req, const char *name,
                         const char *value);

    /* Queues fn(arg, txn, req) on the writer (see chatd_command_fn).
     * free_arg(arg), if not NULL, runs once after fn, on any outcome,
     * including when submit fails. Returns CHATD_OK or CHATD_ECLOSED /
     * CHATD_EFULL (the host then answers 503 itself). */
    int (*submit)(struct chatd_req *req, chatd_command_fn fn, void *arg,
                  void (*free_arg)(void *arg));
    /* Runs fn as a command with no request and waits until it is durably
     * committed (or discarded). Only from a subscriber or timer; never on
     * the writer thread. Returns fn's status, or the commit's error.
     * `correlation_id` (copied; may be NULL) goes into appended events. */
    int (*exec)(struct chatd_module *mod, chatd_command_fn fn, void *arg,
                const char *correlation_id);

    /* --- storage (commands, projections, req_txn, read_begin) --- */

    /* Appends one event; only inside a command. On success *seq_out (may
     * be NULL) holds its sequence number and the inline projections have
     * already run. CHATD_ECONFLICT if expected_ver does not match,
     * CHATD_EPERM if the type is not this module's. */
    int (*append)(struct chatd_txn *txn, const struct chatd_append *a,
                  uint64_t *seq_out);
    /* Current version of a stream (0 if it has no events). */
    int (*stream_version)(struct chatd_txn *txn, const char *stream,
                          uint64_t *out);

    /* The value is borrowed until the transaction ends or the next write
     * in it. CHATD_ENOTFOUND if absent. Reads work on any store of the
     * calling module. */
    int (*get)(struct chatd_txn *txn, const struct chatd_store *st,
               const void *key, size_t klen, struct chatd_val *out);
    /* Writes only from a projection, only to its declared stores. Keys are
     * 1..400 bytes. */
    int (*put)(struct chatd_txn *txn, const struct chatd_store *st,
               const void *key, size_t klen, const void *val, size_t vlen);
    int (*del)(struct chatd_txn *txn, const struct chatd_store *st,
               const void *key, size_t klen);

    /* Ordered iteration (keys compare as bytes, memcmp order). The cursor
     * is valid until cursor_close or the end of the transaction. */
    int (*cursor_open)(struct chatd_txn *txn, const struct chatd_store *st,
                       struct chatd_cursor **out);
    /* Positions the cursor; CHATD_ENOTFOUND if no such key. */
    int (*cursor_seek)(struct chatd_cursor *c, enum chatd_seek how,
                       const void *key, size_t klen, struct chatd_val *k,
                       struct chatd_val *v);
    /* Moves forward (dir > 0) or backward (dir < 0); CHATD_ENOTFOUND at
     * the end. */
    int (*cursor_step)(struct chatd_cursor *c, int dir, struct chatd_val *k,
                       struct chatd_val *v);
    void (*cursor_close)(struct chatd_cursor *c);

    /* A read transaction outside a request (subscribers, timers). Close it
     * with read_end on the same thread. */
    struct chatd_txn *(*read_begin)(struct chatd_module *mod);
    void (*read_end)(struct chatd_txn *txn);

    /* Reads one event of the log by sequence number into *out (borrowed
     * until the transaction ends). CHATD_ENOTFOUND if there is none. */
    int (*event_get)(struct chatd_txn *txn, uint64_t seq,
                     struct chatd_event *out);

    /* --- real-time delivery --- */

    /* Only from a projection: adds the event being projected to the
     * real-time feed of `user_id` (copied). The host gives it the user's
     * next position `pos` and pushes it to the user's live WebSocket
     * connections after the commit; a reconnecting client resumes from its
     * last pos. Deterministic like the projection, so a rebuild gives every
     * user the same positions. */
    int (*deliver)(struct chatd_txn *txn, const char *user_id);
    /* Any time: sends one ephemeral JSON object (copied; e.g. typing) to
     * the live connections of `user_id`. Never logged, not resumable,
     * dropped for slow connections. CHATD_ENOTFOUND if the user has no
     * live connection. */
    int (*ephemeral)(struct chatd_module *mod, const char *user_id,
                     const char *json, size_t len);
    /* Whether `user_id` has at least one live connection now. */
    bool (*online)(struct chatd_module *mod, const char *user_id);
};

/* ------------------------------------------------------------------------ */
/* The module descriptor                                                     */
/* ------------------------------------------------------------------------ */

/*
 * init: runs once at start, on the main thread, before the host serves.
 *   Registers everything through `host` and sets *state (passed back to
 *   every callback). Return CHATD_OK, or an error to refuse the start; if
 *   init fails, nothing it registered stays and fini is not called.
 * start: after every module's init and after projections are caught up,
 *   before the first request. May be NULL.
 * stop: at shutdown, before the writer drains. May be NULL.
 * fini: last, in reverse load order. Frees the state. May be NULL.
 */
struct chatd_module_info {
    uint32_t size; /* sizeof(struct chatd_module_info) */
    uint16_t abi_major;
    uint16_t abi_minor;
    const char *abi_tag;
    const char *name;    /* [a-z][a-z0-9_]{0,31}; prefixes types, stores */
    const char *version; /* the module's own version, free text */
    const char *description;
    int (*init)(struct chatd_module *mod, const struct chatd_host *host,
                void **state);
    int (*start)(void *state);
    void (*stop)(void *state);
    void (*fini)(void *state);
};

#define CHATD_MODULE_SYMBOL "chatd_module_info"

/*
 * Defines the one exported symbol. Arguments are designated initialisers:
 *   CHATD_MODULE(.name = "chat", .version = "1.0.0", .init = chat_init);
 */
#define CHATD_MODULE(...)                                                      \
    CHATD_EXPORT const struct chatd_module_info *chatd_module_info(void);      \
    CHATD_EXPORT const struct chatd_module_info *chatd_module_info(void)       \
    {                                                                          \
        static const struct chatd_module_info info_ = {                        \
            .size = sizeof(struct chatd_module_info),                          \
            .abi_major = CHATD_ABI_MAJOR,                                      \
            .abi_minor = CHATD_ABI_MINOR,                                      \
            .abi_tag = CHATD_ABI_TAG,                                          \
            __VA_ARGS__};                                                      \
        return &info_;                                                         \
    }

#ifdef __cplusplus
}
#endif

#endif /* CHATD_MODULE_H */
