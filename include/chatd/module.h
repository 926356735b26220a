/*
 * chatd module API — the one public header.
 *
 * Anything that is not declared in this file is not API: a module reaches the
 * host only through the `struct chatd_host` table handed to its `init`, and
 * exports exactly one symbol, `chatd_module_info()`, made by CHATD_MODULE().
 * No libevent, libmicrohttpd, LMDB, jansson or wslay type appears here, so the
 * host may change libraries and a module may later run out of process behind
 * the same interface. docs/MODULES.md is the tutorial (built around the
 * example module modules/wordfilter) and the long reference.
 *
 * Building a module: `cc $(pkg-config --cflags chatd-module) -o x.so x.c
 * $(pkg-config --libs chatd-module)`; the flags give -fPIC,
 * -fvisibility=hidden and -shared. A module links against nothing of
 * chatd (the binary exports no symbols); it may link libc and libraries of
 * its own (jansson, say), privately.
 *
 * Loading: the host dlopen()s the file (RTLD_NOW | RTLD_LOCAL) and checks,
 * in order, each refusal one log line naming the file, what was expected
 * and what was found: the file loads → it exports chatd_module_info →
 * descriptor size → ABI major equal and minor not newer than the host's →
 * ABI tag → valid, unique name → init succeeds → everything init
 * registered is consistent (all or nothing). `chatd check-module PATH`
 * runs the same checks (and init, with an empty config) and prints the
 * verdict; modules are never unloaded while the server runs.
 *
 * Conventions used in every comment below:
 *  - Status: functions that act return CHATD_OK (0) or a negative CHATD_E*
 *    code; chatd_host.strerror() names it. Predicates return bool; lookups
 *    return a pointer or NULL. Every refusal is also logged by the host
 *    with the reason, so a module need not log it again.
 *  - Ownership words: "borrowed" (valid for the duration of the call),
 *    "valid until <event>", "copied" (the host copies it before returning).
 *    The host never takes ownership of module memory and never hands a module
 *    memory it must free, unless a comment says so (only the upcaster's
 *    output crosses the other way: the host free()s it).
 *  - Threads: each callback type says on which thread it runs, and each
 *    host function says from where it may be called. "Any thread" means
 *    any thread, including threads the module made itself.
 *  - Callbacks: if a function that takes a callback fails, the callback
 *    never runs; if it succeeds, the callback runs as documented.
 *
 * ABI rules (docs/MODULES.md, "ABI versions", has the long version):
 *  - A module built against ABI M.m loads into any host M.n with n >= m.
 *    So every entry a module's header declares exists in the host table it
 *    receives; `size` and `abi_minor` are there for checks and tools.
 *  - CHATD_ABI_MAJOR changes when anything here changes incompatibly: a
 *    field or host entry removed, reordered, retyped or given another
 *    meaning; a status code or enum value renumbered; a struct without a
 *    `size` field grown (modules pass arrays of chatd_route,
 *    chatd_config_item..., so their stride is ABI); CHATD_ABI_TAG's
 *    contents changed. The host refuses a module whose major differs.
 *  - CHATD_ABI_MINOR grows when something is appended: a function at the
 *    end of chatd_host, a field at the end of a struct that carries
 *    `size` (chatd_event, chatd_append, chatd_module_info), a status code,
 *    an enum value, a macro. The host refuses a module built for a newer
 *    minor than its own.
 *  - Neither changes for comments or for host fixes that keep a contract
 *    written here. tests/unit/abi/test_abi_snapshot.c pins every offset.
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
#define CHATD_ABI_MINOR 3

/* Build facts that must agree between host and module: pointer and long
 * sizes and the byte order (so also time_t and off_t on Linux). Compared
 * as a string at load; "p8-l8-le1234" on x86_64 and aarch64. */
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

/*
 * When a command (see chatd_command_fn) fails without having answered,
 * the host answers for it: CHATD_ECONFLICT and CHATD_EEXIST → 409
 * conflict, CHATD_ENOTFOUND → 404 not_found, CHATD_EINVAL → 400
 * invalid_argument, CHATD_EPERM → 403 forbidden, CHATD_EFULL → 503
 * unavailable, anything else → 500 internal.
 */
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

/* A byte range borrowed from the host; how long it stays valid is said by
 * the function that fills it. Not NUL-terminated: use `len`. */
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
 * it (copy what you keep). Strings are NUL-terminated. `data` is a JSON
 * object (UTF-8); for projections and subscribers it is already upcast to
 * the schema version the owning module registered (see chatd_upcast_fn),
 * so `v` is that version. Events are never changed or deleted once
 * committed.
 */
struct chatd_event {
    uint32_t size;              /* sizeof(struct chatd_event) of the host */
    uint64_t seq;               /* global sequence number, from 1, no gaps */
    int64_t time_ms;            /* append time, Unix epoch milliseconds */
    const char *type;           /* "<module>.<noun>_<past participle>" */
    uint32_t v;                 /* schema version of `data` */
    const char *stream;         /* e.g. "room:r_7f3a"; the aggregate */
    uint64_t stream_ver;        /* 1 for the first event of the stream */
    const char *correlation_id; /* the X-Request-Id that caused it; may be
                                   "" */
    const char *actor;          /* "user:<id>", "service:<id>", "admin",
                                   "module:<name>" or "anonymous" */
    const char *data;           /* JSON object text */
    size_t data_len;
};

/* Expected stream version for chatd_append.expected_ver. */
#define CHATD_ANY_VERSION UINT64_MAX /* no check */
#define CHATD_NO_STREAM 0            /* the stream must not exist yet */

/*
 * What a command appends. All pointers borrowed; the host copies. Limits
 * (longer is CHATD_EINVAL): type 64 bytes, stream 1..200 bytes, data up
 * to 1 MiB and a JSON object in valid UTF-8. The event's schema version,
 * time, actor and correlation id are set by the host.
 */
struct chatd_append {
    uint32_t size;         /* sizeof(struct chatd_append) */
    const char *type;      /* must be an event type this module owns */
    const char *stream;    /* non-empty, at most 200 bytes */
    uint64_t expected_ver; /* CHATD_ANY_VERSION, CHATD_NO_STREAM or N: the
                              stream's current version must equal it */
    const char *data;      /* JSON object text */
    size_t data_len;
};

/*
 * Upcaster: turns `data` written with an older schema version (ev->v, from
 * 1 to the registered version - 1) into the current one; it must handle
 * every older version it may meet, usually by chaining v1→v2→v3 in one
 * function. The host calls it whenever it hands an older event to a
 * projection or subscriber (live, during a rebuild, and for WebSocket
 * frames), never for current events.
 *
 * Writes a malloc()ed JSON object text to *out and its length to *out_len;
 * the host frees it with free(), so allocate with malloc (jansson's
 * json_dumps does, unless someone called json_set_alloc_funcs, which no
 * module may: it is process-wide). `ev` and its strings are borrowed.
 * Runs on whichever thread is reading the event, possibly on several at
 * once: it must be pure (same input, same output; no state, no I/O).
 * Return CHATD_OK, or an error (with *out untouched) to make the read fail
 * loudly: the projection, rebuild or subscriber that needed it fails.
 */
typedef int (*chatd_upcast_fn)(const struct chatd_event *ev, char **out,
                               size_t *out_len);

/* An event type this module owns: only its owner may append it. */
struct chatd_event_type {
    const char *type;       /* "<module>.<noun>_<past participle>": the
                               module's name, a dot, then [a-z0-9_]; at most
                               64 bytes in all */
    uint32_t version;       /* current schema version, from 1 */
    chatd_upcast_fn upcast; /* NULL if there never was an older version;
                               required when version > 1 */
};

/*
 * Inline projection: applies one event to this module's stores inside the
 * writer's transaction, so the read model commits with the event (read your
 * writes). Called on the writer thread for every event of the log, of
 * every module, in order: during live appends (from inside chatd_host.append,
 * before it returns), at start when the projection is new or its version
 * changed, during `chatd rebuild` and, into a scratch copy, `chatd verify`.
 * Must be deterministic (only `ev` and the stores decide; no clock, no
 * randomness, no config that may change the result, no I/O) and touch
 * nothing but its own stores through `txn`: get/cursors on any store of
 * its module, put/del on the stores it declared, deliver(). It may not
 * append. Return CHATD_OK for events it does not care about; an error
 * aborts the command that appended the event (or fails the rebuild) and
 * is logged with the event's seq.
 */
typedef int (*chatd_project_fn)(void *state, struct chatd_txn *txn,
                                const struct chatd_event *ev);

struct chatd_projection {
    const char *name;       /* unique within the module, [a-z][a-z0-9_]{0,31} */
    uint32_t version;       /* from 1; bump to make the host drop and rebuild */
    const char *const *stores; /* NULL-terminated: the stores it writes, all
                                  declared before with chatd_host.store */
    chatd_project_fn apply;
};

/*
 * Async subscriber: sees every committed event whose type starts with its
 * prefix, after the commit, in log order, at least once, on its own
 * thread (one per subscriber, with no transaction open: it may call
 * read_begin and exec). A new subscriber starts at the beginning of the
 * log. The host persists the position (at most every 50 ms while it
 * advances, once a second with a flush hook, and at stop) after the handler returns CHATD_OK; on any other
 * return it retries the same event after 100 ms, doubling up to 10 s, for
 * as long as it fails, and the events after it wait. So effects must be
 * idempotent (key them by ev->seq), and an event the handler can never
 * accept (malformed data) must be logged and acknowledged with CHATD_OK,
 * not retried forever.
 */
typedef int (*chatd_subscribe_fn)(void *state, const struct chatd_event *ev);

struct chatd_subscriber {
    const char *name;   /* unique within the module, [a-z][a-z0-9_]{0,31};
                           names the checkpoint "<module>.<name>": renaming
                           it starts again from the beginning of the log */
    const char *prefix; /* only event types starting with this; NULL = all */
    chatd_subscribe_fn handle;
};

/* ------------------------------------------------------------------------ */
/* Requests and commands                                                     */
/* ------------------------------------------------------------------------ */

/* Who may call a route. The host checks it before the handler runs:
 * no or an unknown token → 401 unauthenticated, too low → 403 forbidden. */
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
    const char *id; /* user/service id, "admin", module name; NULL for NONE;
                       borrowed until the reply */
};

/*
 * Route handler. Runs on the HTTP thread (one thread serves every HTTP
 * request: blocking here stalls them all) or on the WebSocket thread when
 * a client frame is mapped onto the route; must not block. It either
 * answers at once with reply_json/reply_error, or hands the request to the
 * writer with submit(); exactly one of the two. A handler that returns
 * without doing either gets a 500 from the host. After submit() returns
 * the handler must not touch `req` again: the command may already have
 * answered it.
 *
 * The host has already checked the route's auth level, the body size and
 * (for POST/PUT/PATCH with a body) the JSON content type; the module
 * checks everything in the body.
 */
typedef void (*chatd_route_fn)(void *state, struct chatd_req *req);

struct chatd_route {
    const char *method;  /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *pattern; /* "/v1/rooms/{room_id}/messages"; under /v1/;
                            a {name} segment is a parameter (req_param) */
    enum chatd_auth auth;
    chatd_route_fn handle;
};

/*
 * Command: runs on the writer thread inside the group-commit transaction,
 * after every command queued before it (so it sees their effects), one
 * command at a time. It reads stores through `txn`, appends events (each
 * runs the inline projections at once, so later reads in the same command
 * see it) and sets the reply with reply_json/reply_error on `req`. `req`
 * is NULL for commands started by exec(); the reply functions ignore a
 * NULL req. Use `txn`, not req_txn(), here.
 *
 * Return CHATD_OK to keep what it appended. Any other return, or a reply
 * with status >= 400, discards everything the command appended (other
 * commands of the batch are not affected). An error return without a reply
 * is answered by the host (see enum chatd_status). The reply reaches the
 * client only after the batch is durably committed; if the commit fails the
 * host answers 503 instead. Every write of the server waits for the
 * writer: keep commands to a few keyed reads and appends; never block,
 * never call submit() or exec() from here.
 */
typedef int (*chatd_command_fn)(void *arg, struct chatd_txn *txn,
                                struct chatd_req *req);

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

enum chatd_config_type {
    CHATD_CONFIG_INT = 1,    /* JSON integer → int64_t *target */
    CHATD_CONFIG_STRING = 2, /* JSON string → const char **target */
    CHATD_CONFIG_BOOL = 3,   /* JSON true/false → bool *target */
};

/*
 * A typed configuration key of this module, read from the "<module>"
 * object of the config file ({"wordfilter": {"words": "spam"}}). Unknown
 * keys there, and a wrong type or an integer out of [min, max], are
 * refused at start with a log line naming "<module>.<key>" and what was
 * expected. `target` points into the module's state; the host writes the
 * value before chatd_host.config returns: the JSON value, else the default
 * (def_int for INT, def_int != 0 for BOOL, def_str for STRING, which may
 * be NULL). Strings are valid until fini.
 */
struct chatd_config_item {
    const char *key;     /* [a-z][a-z0-9_]{0,31}; kept by the host until
                            fini: use a string literal */
    enum chatd_config_type type;
    int64_t def_int;     /* default of INT; BOOL: 0 false, else true */
    const char *def_str; /* default of STRING (may be NULL) */
    int64_t min, max;    /* inclusive bounds of INT (the default too) */
    void *target;
};

enum chatd_log_level {
    CHATD_LOG_DEBUG = 0,
    CHATD_LOG_INFO = 1,
    CHATD_LOG_WARN = 2,
    CHATD_LOG_ERROR = 3,
};

enum chatd_seek {
    CHATD_SEEK_FIRST = 1, /* smallest key (the key argument is ignored) */
    CHATD_SEEK_LAST = 2,  /* largest key (the key argument is ignored) */
    CHATD_SEEK_GE = 3,    /* smallest key >= given key */
    CHATD_SEEK_LE = 4,    /* largest key <= given key */
};

enum chatd_metric_kind {
    CHATD_METRIC_COUNTER = 1, /* only goes up (negative adds are ignored) */
    CHATD_METRIC_GAUGE = 2,   /* any value */
};

/* Timer callback: on the host's loop thread, which also drives every
 * WebSocket connection, so it must be quick and must not block. */
typedef void (*chatd_timer_fn)(void *state);

/* ------------------------------------------------------------------------ */
/* The host table                                                            */
/* ------------------------------------------------------------------------ */

/*
 * Handed to init; valid until fini returns. Keep the pointer in the
 * module's state. Entries are only ever appended, and a module built for
 * minor m only loads into hosts of minor >= m, so every entry declared
 * here is present (a module may still check `size` or abi_minor).
 */
struct chatd_host {
    uint32_t size;      /* sizeof(struct chatd_host) of the host */
    uint16_t abi_major; /* the host's CHATD_ABI_MAJOR */
    uint16_t abi_minor; /* the host's CHATD_ABI_MINOR */

    /* --- registration: only during init (main thread), else CHATD_ESTATE.
     * Each copies what it needs from its arguments, so they may live on
     * init's stack (except config keys, see chatd_config_item). Errors:
     * CHATD_EINVAL for a malformed entry, CHATD_EEXIST for a duplicate,
     * CHATD_ENOMEM; each is logged naming the module and the entry. If
     * init then fails, everything it registered is dropped. --- */

    /* Declares an event type this module owns and may append.
     * CHATD_EINVAL: name not "<module>.[a-z0-9_]+" or over 64 bytes,
     * version 0, or version > 1 without an upcaster. CHATD_EEXIST:
     * declared twice. */
    int (*event_type)(struct chatd_module *mod,
                      const struct chatd_event_type *et);
    /* Declares a named store "<module>/<name>" (name [a-z][a-z0-9_]{0,31});
     * *out valid until fini. A store written by a projection must be
     * declared before it. Stores persist in the data directory; only this
     * module can reach them. CHATD_EEXIST: declared twice. */
    int (*store)(struct chatd_module *mod, const char *name,
                 struct chatd_store **out);
    /* Registers an inline projection (chatd_project_fn). CHATD_EINVAL:
     * bad name, version 0 or no apply. CHATD_EPERM: it lists a store this
     * module has not declared (another module's stores are never
     * reachable). */
    int (*projection)(struct chatd_module *mod,
                      const struct chatd_projection *p);
    /* Registers an async subscriber (chatd_subscribe_fn); it starts
     * after every init, before start. CHATD_EINVAL: bad name or no
     * handler. */
    int (*subscriber)(struct chatd_module *mod,
                      const struct chatd_subscriber *s);
    /* Registers a route (chatd_route_fn), served from start on.
     * CHATD_EINVAL: unknown method, pattern not under /v1/, no handler,
     * bad auth. Refused with CHATD_EEXIST if another module (or this one)
     * has method+pattern. */
    int (*route)(struct chatd_module *mod, const struct chatd_route *r);
    /* Reads this module's config keys (chatd_config_item); `items` ends
     * with an entry whose key is NULL; values set on return, so init may
     * use them at once. CHATD_EINVAL (logged: "<module>.<key>: expected
     * ...") for a wrong type, an out-of-range integer, a bad key name or a
     * NULL target. Keys never registered are refused at start. */
    int (*config)(struct chatd_module *mod,
                  const struct chatd_config_item *items);
    /* Runs fn(state) every interval_ms (> 0, else CHATD_EINVAL) on the
     * host's loop thread from start to stop, first after one interval.
     * Must not block (chatd_timer_fn). Timers do not run in offline
     * commands (rebuild, verify, check-module). */
    int (*timer)(struct chatd_module *mod, unsigned interval_ms,
                 chatd_timer_fn fn);
    /* Registers the Prometheus metric chatd_<module>_<name> (name
     * [a-z][a-z0-9_]{0,31}, `help` required, both copied); *out valid
     * until fini. CHATD_EEXIST if the full name is taken. */
    int (*metric)(struct chatd_module *mod, enum chatd_metric_kind kind,
                  const char *name, const char *help,
                  struct chatd_metric **out);

    /* --- any time, any thread --- */

    /* Writes one log line (JSON, component = the module's name) if
     * `level` is at or above the configured log_level. One line per call;
     * no trailing newline needed. For the operator: say what, with which
     * ids, and what to do. */
    void (*log)(struct chatd_module *mod, enum chatd_log_level level,
                const char *fmt, ...) CHATD_PRINTF(3, 4);
    /* A status code's name and meaning; static, never NULL ("unknown
     * status" for codes this host does not know). */
    const char *(*strerror)(int status);
    /* Adds to / sets a metric (atomic; NULL is a no-op; in offline
     * commands the value goes nowhere). A negative delta on a counter is
     * ignored. */
    void (*metric_add)(struct chatd_metric *m, int64_t delta);
    void (*metric_set)(struct chatd_metric *m, int64_t value);
    /* The data directory's epoch id (made at creation; a restored backup
     * keeps it, a new directory has a new one). Borrowed, valid until
     * fini. Empty during init (the storage is not open yet): use it from
     * start on, or in callbacks. */
    const char *(*epoch)(struct chatd_module *mod);

    /* --- requests: in the route handler (its thread), or in the command
     * that got `req` (the writer), until the reply is sent. `req` may be
     * NULL (commands run by exec): lookups then return NULL and answers do
     * nothing. --- */

    /* Path parameter by name ("room_id"), percent-decoded, valid UTF-8;
     * borrowed until the reply; NULL if the route has no such parameter.
     * It may contain any character: validate ids before using them. */
    const char *(*req_param)(struct chatd_req *req, const char *name);
    /* Query argument, decoded ('+' is a space), borrowed until the reply;
     * "" for "?k" or "?k="; NULL if absent; the first wins if repeated. */
    const char *(*req_query)(struct chatd_req *req, const char *name);
    /* The body; data NULL and len 0 if there is none. Borrowed until the
     * reply. Not validated beyond its size: parse it yourself. */
    struct chatd_val (*req_body)(struct chatd_req *req);
    /* A request header (case-insensitive), borrowed; NULL if absent, and
     * always NULL for WebSocket frames mapped onto a route. */
    const char *(*req_header)(struct chatd_req *req, const char *name);
    /* Who is calling, borrowed until the reply. kind NONE (id NULL) on a
     * CHATD_AUTH_NONE route without a token. */
    struct chatd_principal (*req_principal)(struct chatd_req *req);
    /* The request id (the client's X-Request-Id if valid, else a new
     * one), borrowed until the reply; never NULL for a request. Events
     * appended by its command carry it. */
    const char *(*req_correlation_id)(struct chatd_req *req);
    /* A read transaction for this request, opened on first call and closed
     * by the host right after the route handler returns: close cursors and
     * drop values read through it before returning. Route handler only:
     * NULL in a command (use its `txn`) and after submit(). NULL on
     * storage failure (answer 503). */
    struct chatd_txn *(*req_txn)(struct chatd_req *req);

    /* Answers. `body` must be JSON text; copied. A status outside 100..599
     * becomes 500. Answer exactly once: a later answer replaces an
     * earlier one (the host uses that to turn a command's answer into 503
     * when the commit fails); do not rely on it. */
    void (*reply_json)(struct chatd_req *req, unsigned status,
                       const char *body, size_t len);
    /* Answers {"error": {"code": code, "message": message}} (both copied).
     * `code` is a stable snake_case word clients switch on
     * ("invalid_argument", "not_found", "conflict"...); `message` is for
     * people. */
    void (*reply_error)(struct chatd_req *req, unsigned status,
                        const char *code, const char *message);
    /* Adds a response header (name and value copied); before the answer.
     * Headers accumulate; a Content-Type replaces the default JSON one;
     * X-Request-Id cannot be overridden. */
    void (*reply_header)(struct chatd_req *req, const char *name,
                         const char *value);

    /* Queues fn(arg, txn, req) on the writer (see chatd_command_fn). Only
     * from a route handler, as its last use of `req`: the request is
     * suspended until the command's batch is durable. fn's effects count
     * exactly once if submit returns CHATD_OK; fn itself may be called
     * again before the commit (its batch redone after a batch-mate failed
     * past its store writes; only the last run counts), so it must depend
     * only on arg and txn. free_arg(arg), if not NULL, runs once after
     * fn's last run, on any outcome, including when submit fails (on the writer
     * or on this thread). Returns CHATD_OK; CHATD_ECLOSED / CHATD_EFULL
     * (shutting down / too many writes queued: the host then answers 503
     * itself, as it does for CHATD_ENOMEM); CHATD_ESTATE (not in a route
     * handler: nothing answered). */
    int (*submit)(struct chatd_req *req, chatd_command_fn fn, void *arg,
                  void (*free_arg)(void *arg));
    /* Runs fn as a command with no request and waits until it is durably
     * committed (or discarded); the principal is CHATD_PRINCIPAL_MODULE and
     * appended events get actor "module:<name>". From a subscriber or a
     * thread of the module's own; never on the writer thread (inside a
     * command or projection: CHATD_ESTATE). A timer may call it, but then
     * the loop thread (and every WebSocket) waits for one commit. `arg` is
     * borrowed for the call (it may live on the caller's stack). Returns
     * fn's status, or the commit's error, or CHATD_ESTATE when there is no
     * writer (during init, offline commands) or CHATD_ECLOSED after
     * shutdown began. `correlation_id` (copied; at most 128 bytes; may be
     * NULL for "") goes into appended events: pass the source event's. */
    int (*exec)(struct chatd_module *mod, chatd_command_fn fn, void *arg,
                const char *correlation_id);

    /* --- storage: `txn` is a command's, a projection's, req_txn()'s or
     * read_begin()'s; use it only on the thread that got it. --- */

    /* Appends one event; only inside a command (else CHATD_ESTATE). On
     * success *seq_out (may be NULL) holds its sequence number and the
     * inline projections have already run. CHATD_ECONFLICT if expected_ver
     * does not match, CHATD_EPERM if the type is not this module's,
     * CHATD_EINVAL for bad arguments (see chatd_append), or a projection's
     * error. Values read through `txn` before are invalid after it. On any
     * error return it from the command, so the command's events are
     * discarded. */
    int (*append)(struct chatd_txn *txn, const struct chatd_append *a,
                  uint64_t *seq_out);
    /* Current version of a stream (0 if it has no events) into *out; for
     * optimistic concurrency: read it, decide, append with expected_ver. */
    int (*stream_version)(struct chatd_txn *txn, const char *stream,
                          uint64_t *out);

    /* Looks a key up. The value is borrowed until the transaction ends or
     * the next write in it. CHATD_ENOTFOUND if absent. Reads work on any
     * store of the calling module (CHATD_EPERM otherwise). */
    int (*get)(struct chatd_txn *txn, const struct chatd_store *st,
               const void *key, size_t klen, struct chatd_val *out);
    /* Writes only from a projection, only to its declared stores (else
     * CHATD_EPERM). Keys are 1..400 bytes (else CHATD_EINVAL), compared as
     * bytes: encode numbers big-endian so that key order is numeric order.
     * CHATD_EFULL when the data file is full. */
    int (*put)(struct chatd_txn *txn, const struct chatd_store *st,
               const void *key, size_t klen, const void *val, size_t vlen);
    /* Deletes a key; same rules as put. Deleting an absent key is
     * CHATD_ENOTFOUND. */
    int (*del)(struct chatd_txn *txn, const struct chatd_store *st,
               const void *key, size_t klen);

    /* Ordered iteration (keys compare as bytes, memcmp order). The cursor
     * is valid until cursor_close or the end of the transaction; close it
     * before either (request transactions end when the handler returns).
     * CHATD_EPERM for another module's store, CHATD_ENOMEM. */
    int (*cursor_open)(struct chatd_txn *txn, const struct chatd_store *st,
                       struct chatd_cursor **out);
    /* Positions the cursor and fills *k and *v (borrowed until the next
     * call on the cursor or a write in the transaction); CHATD_ENOTFOUND
     * if no such key. */
    int (*cursor_seek)(struct chatd_cursor *c, enum chatd_seek how,
                       const void *key, size_t klen, struct chatd_val *k,
                       struct chatd_val *v);
    /* Moves forward (dir > 0) or backward (dir < 0); CHATD_ENOTFOUND at
     * the end. Stop at the end of your key range yourself (a prefix). */
    int (*cursor_step)(struct chatd_cursor *c, int dir, struct chatd_val *k,
                       struct chatd_val *v);
    /* Frees the cursor; NULL is a no-op. */
    void (*cursor_close)(struct chatd_cursor *c);

    /* A read transaction outside a request (subscribers, timers, the
     * module's own threads): a snapshot of the last commit. NULL on
     * failure. Not on a thread that already has one open (a route
     * handler's req_txn, a command, a projection): one per thread. Keep it
     * short (a long one keeps old pages from being reused) and close it
     * with read_end on the same thread. */
    struct chatd_txn *(*read_begin)(struct chatd_module *mod);
    /* Ends a read_begin transaction; NULL is a no-op. */
    void (*read_end)(struct chatd_txn *txn);

    /* Reads one event of the log by sequence number into *out (borrowed
     * until the transaction ends, in a command until its next append).
     * CHATD_ENOTFOUND if there is none. The event is as stored: it is NOT
     * upcast, so check out->v (call your own upcaster for older ones). */
    int (*event_get)(struct chatd_txn *txn, uint64_t seq,
                     struct chatd_event *out);

    /* --- real-time delivery --- */

    /* Only from a projection (else CHATD_ESTATE): adds the event being
     * projected to the real-time feed of `user_id` (copied; non-empty,
     * else CHATD_EINVAL). The host gives it the user's next position `pos`
     * and pushes it to the user's live WebSocket connections after the
     * commit; a reconnecting client resumes from its last pos. Deterministic
     * like the projection, so a rebuild gives every user the same
     * positions. While one projection alone is rebuilt, it does nothing
     * and returns CHATD_OK (the feed is kept). */
    int (*deliver)(struct chatd_txn *txn, const char *user_id);
    /* Any time, any thread: sends one ephemeral JSON object (copied; e.g.
     * typing) to the live connections of `user_id`. Never logged, not
     * resumable, dropped for slow connections. CHATD_ENOTFOUND if the user
     * has no live connection, CHATD_EFULL if too many are pending,
     * CHATD_ENOMEM, CHATD_ECLOSED at shutdown, CHATD_EINVAL for bad
     * arguments. */
    int (*ephemeral)(struct chatd_module *mod, const char *user_id,
                     const char *json, size_t len);
    /* Any thread: whether `user_id` has at least one live, authenticated
     * connection now (false in offline commands). */
    bool (*online)(struct chatd_module *mod, const char *user_id);

    /* --- ABI 1.1 --- */

    /*
     * Only in init, after chatd_host.projection registered `name`: lets the
     * projection defer work from apply to the end of the transaction, e.g.
     * one update per key for a whole batch instead of one per event.
     *   flush(state, txn): once per write transaction in which apply ran,
     *     after its last event and before the commit: live group commits,
     *     each chunk of a rebuild or a verify, the catch-up at start. Same
     *     rights as apply (its stores; get/cursors on its module's), except
     *     deliver (CHATD_ESTATE). An error fails the transaction like an
     *     apply error.
     *   discard(state): before a write transaction starts applying events;
     *     drops what a transaction that never reached flush (a batch redone
     *     without a failed command, an error) had deferred.
     * Either may be NULL. The stores must end up exactly as if nothing had
     * been deferred, whatever the batching (a rebuild must equal the live
     * read models); until flush, reads inside the same transaction see the
     * deferred parts as they were. CHATD_ENOTFOUND for an unknown name,
     * CHATD_ESTATE outside init.
     */
    int (*projection_hooks)(struct chatd_module *mod, const char *name,
                            int (*flush)(void *state, struct chatd_txn *txn),
                            void (*discard)(void *state));

    /* --- ABI 1.2 --- */

    /* reply_json without the copy: `body` (JSON text, `len` bytes) was
     * allocated with malloc(3) and belongs to the host from this call on,
     * whatever happens (it is freed once sent, or at once if req is NULL
     * or an answer replaces it). For large answers, e.g. a history page. */
    void (*reply_json_take)(struct chatd_req *req, unsigned status,
                            char *body, size_t len);

    /* --- ABI 1.3 --- */

    /*
     * Only in init, after chatd_host.subscriber registered `name`: for a
     * subscriber that buffers its effects instead of making each durable
     * in its handler (files written per event, synced in batches).
     *   flush(state): on the subscriber's thread, never during a handler
     *     call, before the host persists a new position for it (at most
     *     once a second while it advances, instead of every 50 ms for a
     *     subscriber without a flush) and once when it stops (before the
     *     final checkpoint). It must make durable the effects of every
     *     event its handler has accepted so far. CHATD_OK lets the host
     *     persist the position of the last accepted event; any other
     *     return keeps the previous checkpoint (logged) and is retried at
     *     the next one, so after a crash the events since the last
     *     successful flush are delivered again (drop them by ev->seq).
     * The host also calls flush about once a second while the subscriber
     * is caught up and has nothing to checkpoint (a failure then is only
     * logged), so work that waits for time rather than for events gets
     * done on a quiet server. The handler keeps running between flushes.
     * NULL flush is allowed
     * (same as no hooks). CHATD_ENOTFOUND for an unknown name,
     * CHATD_ESTATE outside init.
     */
    int (*subscriber_hooks)(struct chatd_module *mod, const char *name,
                            int (*flush)(void *state));
    /* The server's data directory (the "data" setting, as configured; the
     * log lives in DIR/db). Borrowed, valid until fini. Empty during init
     * (the storage is not open yet): use it from start on, or in
     * callbacks. A module keeps files of its own under DIR/<module name>
     * or, if its contract says so, another subdirectory it owns. */
    const char *(*data_dir)(struct chatd_module *mod);
};

/* ------------------------------------------------------------------------ */
/* The module descriptor                                                     */
/* ------------------------------------------------------------------------ */

/*
 * The module's life, all on the main thread:
 *
 * init: runs once, before the host serves, in load order (the config's
 *   "modules" list). Also runs in `chatd check-module` (with an empty
 *   config), `rebuild` and `verify`, which then do not start anything.
 *   Allocates the state, registers everything through `host` (keep the
 *   pointer) and sets *state (passed back to every callback). Storage is
 *   not open yet. Return CHATD_OK, or an error to refuse the start (log
 *   why first); if init fails, nothing it registered stays and fini is
 *   not called, so free what you allocated.
 * start: after every module's init, after projections are caught up and
 *   after routes, subscribers and timers are started (so a subscriber may
 *   already run), before the first request is served. An error stops the
 *   server from starting. May be NULL.
 * stop: at shutdown, in reverse load order, while subscribers, timers and
 *   the writer still run (they stop right after). Only if start succeeded.
 *   May be NULL.
 * fini: last, in reverse load order, after everything stopped; also after
 *   offline commands. Frees the state. May be NULL.
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
 * Defines the one exported symbol (a function: dlsym is only guaranteed
 * for functions) returning a static descriptor with size, ABI numbers and
 * tag filled from this header. Arguments are designated initialisers:
 *   CHATD_MODULE(.name = "chat", .version = "1.0.0", .init = chat_init);
 * Use it once per module, at file scope.
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
