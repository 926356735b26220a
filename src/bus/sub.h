/*
 * sub — async subscribers: after-commit consumers with a persisted
 * checkpoint. Each runner owns one thread that reads the log from its
 * checkpoint, hands events to the handler in order, and persists its
 * position ("ckpt:<name>" in meta) through the commit writer at most every
 * 50 ms while it advances. Delivery is at least once: after a crash the
 * events after the last persisted position are handled again.
 */
#ifndef BUS_SUB_H
#define BUS_SUB_H

#include <stdint.h>

#include "commit/commit.h"
#include "evlog/evlog.h"

struct sub_runner;

struct sub_spec {
    const char *name;   /* checkpoint name, e.g. "chat.payment_notices";
                           copied */
    const char *prefix; /* only event types starting with it; NULL = all;
                           copied */
    /* On the runner's thread. CHATD_OK advances; anything else retries the
     * same event after a backoff (100 ms doubling up to 10 s). */
    int (*handle)(void *ctx, const struct chatd_event *ev);
    void *ctx;
};

/* Starts the thread; it catches up from the checkpoint at once. */
int sub_runner_start(struct sub_runner **out, struct evlog *log,
                     struct commit *c, const struct sub_spec *spec);
/* Any thread, cheap, never blocks: new events up to `last` exist. */
void sub_runner_notify(struct sub_runner *r, uint64_t last);
/* Last seq handled (in memory) and last seq persisted. Any thread. */
uint64_t sub_runner_position(const struct sub_runner *r);
uint64_t sub_runner_persisted(const struct sub_runner *r);
const char *sub_runner_name(const struct sub_runner *r);
/* Stops the thread after the current event, persists the position
 * (through the commit writer, which must still be open), frees. */
void sub_runner_stop(struct sub_runner *r);

#endif /* BUS_SUB_H */
