/*
 * modhost — loads modules (dlopen, ABI checks), implements the public
 * `struct chatd_host` table, keeps every module's registrations (event
 * types, stores, projections, subscribers, routes, config, timers,
 * metrics) and runs the write path: commands on the commit writer, inline
 * projections inside the same transaction, upcasting on every read.
 *
 * Lifecycle (main thread): modhost_new → modhost_add_builtin/_load (init
 * runs, registrations) → modhost_attach (the running subsystems) →
 * modhost_prepare (projection versions, catch-up) → modhost_start (routes,
 * subscribers, timers, module start) → serve → modhost_stop → modhost_free.
 * Offline commands (rebuild, verify) use modhost_rebuild / modhost_verify
 * between prepare-free loading and free.
 */
#ifndef MODHOST_MODHOST_H
#define MODHOST_MODHOST_H

#include <stdbool.h>
#include <stdint.h>

#include "chatd/module.h"

struct modhost;
struct evlog;
struct evlog_txn;
struct commit;
struct http_server;
struct metrics;
struct userfeed;
struct ws_server;
struct event_base;
struct json_t;

struct modhost_deps {
    struct evlog *log;
    struct commit *commit;      /* NULL for offline commands */
    struct http_server *http;   /* NULL for offline commands */
    struct metrics *metrics;    /* may be NULL */
    struct userfeed *userfeed;  /* may be NULL */
    struct ws_server *ws;       /* may be NULL */
    struct event_base *base;    /* loop for timers; NULL offline */
};

/* `config` (borrowed, valid until modhost_free) is the whole config
 * object; each module reads its own section. */
int modhost_new(struct modhost **out, const struct json_t *config,
                struct metrics *metrics);
void modhost_free(struct modhost *mh);

/*
 * Loads `path` and runs the checks in order, each refusal one log line
 * naming the file, what was expected and what was found: the file opens
 * (RTLD_NOW|RTLD_LOCAL) → symbol chatd_module_info → descriptor size →
 * ABI major equal, minor not newer → ABI tag → valid unique name → init
 * succeeds → registrations consistent. CHATD_EABI for ABI refusals,
 * CHATD_EINVAL/CHATD_EEXIST for bad names, init's own error otherwise.
 * `why` (may be NULL) receives the message (caller's buffer).
 */
int modhost_load(struct modhost *mh, const char *path, char *why,
                 size_t why_len);
/* Same checks for a module linked into the binary (identity). */
int modhost_add_builtin(struct modhost *mh,
                        const struct chatd_module_info *info);
/* Checks a module file without keeping it (chatd check-module). */
int modhost_check_file(const char *path, char *why, size_t why_len);

/* Resolves a module name to a file: `dir/<name>.so`, then
 * `dir/<name>/.libs/<name>.so` (the build tree). */
int modhost_find(const char *dir, const char *name, char *out,
                 size_t out_len);

/* Opens every declared store and checks config sections. Needs the log. */
int modhost_attach(struct modhost *mh, const struct modhost_deps *deps);
/* Brings the read models up to the log (modhost_recover), rebuilds
 * projections whose stored version differs (or that are new on a
 * non-empty log), then records versions. Before the commit writer opens. */
int modhost_prepare(struct modhost *mh);
/* Replays the events the read models have not seen (after an unclean
 * stop) into every projection, the real-time feed and the stream
 * versions; if they are empty and the log is not, rebuilds them all.
 * Before the commit writer opens; offline commands call it too. */
int modhost_recover(struct modhost *mh);
/* Adds routes to http, starts subscribers and timers, calls start. */
int modhost_start(struct modhost *mh);
/* Calls stop, stops timers and subscribers (the commit writer must still
 * be open). */
void modhost_stop(struct modhost *mh);

/* Drops and replays the read models: all of them (name NULL, including the
 * real-time feed) or one projection "<module>.<projection>" or every
 * projection of "<module>". *events_out = events replayed. */
int modhost_rebuild(struct modhost *mh, const char *name,
                    uint64_t *events_out);
/* Log integrity (gapless, decodes, stream versions) and read models equal
 * a rebuild into a scratch environment under `scratch_dir`. Writes a line
 * per problem through the log; CHATD_OK only if everything matches. */
int modhost_verify(struct modhost *mh, const char *scratch_dir);

/* Called from the commit writer's after_commit hook: wakes subscribers. */
void modhost_after_commit(struct modhost *mh, uint64_t first, uint64_t last);
/* The commit writer's before_batch and before_commit hooks: projections
 * drop what an abandoned transaction deferred / flush what this one did
 * (chatd_host.projection_hooks). Writer thread. */
void modhost_discard_deferred(struct modhost *mh);
int modhost_flush_deferred(struct modhost *mh, struct evlog_txn *top);
/* Adds the runtime pieces made after prepare (commit writer, ws). */
void modhost_attach_runtime(struct modhost *mh, struct commit *commit,
                            struct ws_server *ws);
/* Upcasts an event's data for readers outside modules (ws frames): a
 * malloc()ed copy in *out, or CHATD_ENOTFOUND when it is already current. */
int modhost_upcast_data(void *mh, const struct chatd_event *ev, char **out,
                        size_t *out_len);
/* Lag of every async subscriber, for /metrics: fills up to `max` names and
 * positions; returns how many there are. */
size_t modhost_subscriber_positions(const struct modhost *mh,
                                    const char **names, uint64_t *positions,
                                    size_t max);
/* True if `name` is a loaded module (config sections). */
bool modhost_has_module(const struct modhost *mh, const char *name);

/* The identity built-in's state (NULL if it is not loaded), for
 * identity_after_commit. */
void *modhost_identity_state(const struct modhost *mh);
/* The identity built-in's authentication, for http_deps.auth. */
struct http_principal;
int modhost_authenticate(void *mh, const char *token,
                         struct http_principal *out);
void modhost_set_admin_token(struct modhost *mh, const char *token);

size_t modhost_module_count(const struct modhost *mh);
const char *modhost_module_name(const struct modhost *mh, size_t i);
const char *modhost_module_version(const struct modhost *mh, size_t i);

#endif /* MODHOST_MODHOST_H */
