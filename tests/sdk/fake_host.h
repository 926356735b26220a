/*
 * fake_host — a `struct chatd_host` in memory, for unit tests of modules
 * without a server: no threads, no storage, no HTTP. Link it with the
 * module's sources and drive the module by hand:
 *
 *   struct fake_host *fh;
 *   fake_host_init(&fh, chatd_module_info(), settings);  // runs init
 *   seq = fake_host_event(fh, "chat.message_posted", 1, "room:r_1", json);
 *   fake_host_notify(fh, seq);          // subscribers see it (again)
 *   fake_host_request(fh, "GET", "/v1/x", CHATD_PRINCIPAL_ADMIN, NULL,
 *                     &resp);           // a route, its command if any
 *   fake_host_free(fh);                 // runs fini
 *
 * What it does like the real host: registration only during init, names
 * and store ownership checked; append only from commands and only owned
 * types; put/del only from projections into their declared stores;
 * every appended event projected at once by every projection; a command
 * that fails or answers >= 400 leaves nothing behind (stores and log are
 * restored); older events upcast before projections and subscribers see
 * them; exec runs its command at once. What it does not: threads, group
 * commit, durability, auth levels, timers, real time (deliver is counted,
 * ephemeral and online answer "nobody is online").
 *
 * Everything here is single-threaded; the fake keeps copies of what it
 * is given and frees them in fake_host_free.
 */
#ifndef TESTS_SDK_FAKE_HOST_H
#define TESTS_SDK_FAKE_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "chatd/module.h"

struct fake_host;

/* A config value as text: "123", "true"/"false", or the string. */
struct fake_setting {
    const char *key; /* NULL ends the list */
    const char *value;
};

/* An answer to fake_host_request. `body` is malloc()ed (free it with
 * fake_response_free). */
struct fake_response {
    unsigned status;
    char *body;
};

/* Runs info->init with a fake host. Returns init's status; *out is set
 * (and must be freed with fake_host_free) in every case, so the log can
 * be inspected after a refused init. */
int fake_host_init(struct fake_host **out,
                   const struct chatd_module_info *info,
                   const struct fake_setting *settings);
/* Runs fini (if init succeeded) and frees everything. NULL is a no-op. */
void fake_host_free(struct fake_host *fh);

/* Appends an event as if another module (or an older version of this
 * one) had: any type, any version, and runs every projection on it (an
 * error from one is returned and the event is dropped). Returns its seq
 * (from 1), or 0 on failure. */
uint64_t fake_host_event(struct fake_host *fh, const char *type, uint32_t v,
                         const char *stream, const char *data);
/* Hands event `seq` to every subscriber whose prefix matches, as the
 * real host does after a commit (call it twice to simulate redelivery).
 * Returns the first non-OK status of a handler, else CHATD_OK. */
int fake_host_notify(struct fake_host *fh, uint64_t seq);

/* What the real host does before it persists a subscriber's checkpoint
 * and when it stops one: calls every subscriber's flush hook
 * (chatd_host.subscriber_hooks). Returns the first non-OK status, else
 * CHATD_OK. */
int fake_host_flush(struct fake_host *fh);
/* What chatd_host.data_dir answers (copied; NULL or never set: ""). Set
 * it after fake_host_init: the real host has no data directory in init
 * either. */
void fake_host_set_data_dir(struct fake_host *fh, const char *dir);

/* Serves one request: finds the route (method and pattern, {name}
 * segments as parameters; `path` may carry a ?query), runs the handler
 * with the given principal (id "u_test" for users, "admin" for the admin)
 * and, if it submitted, the command. 404 when no route matches, 500 when
 * the handler did not answer. Returns CHATD_OK or CHATD_ENOMEM. */
int fake_host_request(struct fake_host *fh, const char *method,
                      const char *path, enum chatd_principal_kind who,
                      const char *body, struct fake_response *out);
void fake_response_free(struct fake_response *r);

/* Makes the next exec() calls fail with `status` without running their
 * command (CHATD_OK restores normal behaviour). */
void fake_host_fail_exec(struct fake_host *fh, int status);

/* Inspection. */
uint64_t fake_host_last_seq(const struct fake_host *fh);
/* The event `seq` as stored (not upcast); NULL if none. Valid until the
 * next append. */
const struct chatd_event *fake_host_get_event(const struct fake_host *fh,
                                              uint64_t seq);
/* How many log lines contain `text` (every level is kept). */
size_t fake_host_log_count(const struct fake_host *fh, const char *text);
/* A metric's value by its short name ("flagged_total"); -1 if unknown. */
int64_t fake_host_metric(const struct fake_host *fh, const char *name);
/* Number of keys in the module's store `name`; -1 if unknown. */
long fake_host_store_size(const struct fake_host *fh, const char *name);
/* How many registrations of each kind init made. */
struct fake_counts {
    size_t event_types, stores, projections, subscribers, routes, timers,
        metrics, config_keys;
};
struct fake_counts fake_host_counts(const struct fake_host *fh);
/* The registered version of an event type; 0 if not registered. */
uint32_t fake_host_type_version(const struct fake_host *fh, const char *type);

#endif /* TESTS_SDK_FAKE_HOST_H */
