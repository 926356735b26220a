/*
 * sub — async subscribers: after-commit consumers with a persisted
 * checkpoint. Each runner owns one thread that reads the log from its
 * checkpoint, hands events to the handler in order, and persists its
 * position ("ckpt:<name>" in meta) through the commit writer at most every
 * 50 ms (or its spec's interval) while it advances. Delivery is at least once: after a crash the
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
    /* May be NULL. On the runner's thread, before every checkpoint is
     * persisted (so it covers every event handled so far) and once more
     * when the thread stops: CHATD_OK lets the position be persisted;
     * anything else keeps the previous one (logged), so the events after it
     * are handled again after a restart. Retried after twice the
     * interval, doubling up to 10 s while it fails; the handler keeps
     * running meanwhile. Also called about once per interval while the
     * runner is caught up and has nothing to persist (failures then only
     * logged), for buffered work that waits for time, not events. */
    int (*flush)(void *ctx);
    /* Checkpoint at most this often while advancing; 0 = every 50 ms.
     * Longer means fewer flushes and more events handled again after a
     * crash. */
    unsigned persist_every_ms;
    void *ctx;
};

/* Reads the checkpoint (on the calling thread, which must hold no txn)
 * and starts the thread; it catches up from the checkpoint at once. The
 * handler gets events borrowed for the call, copied out of the log, with
 * no txn open on the runner's thread (so it may open its own). The thread
 * starts with every signal blocked. log and c must outlive the runner.
 * CHATD_EINVAL for a missing name/handle or a name over 395 bytes. */
int sub_runner_start(struct sub_runner **out, struct evlog *log,
                     struct commit *c, const struct sub_spec *spec);
/* Any thread, cheap: new events up to `last` exist (typically from the
 * commit's after_commit hook). Takes the runner's mutex briefly; the
 * runner never holds it while calling out. A runner also polls once a
 * second, so a missed notify only delays. */
void sub_runner_notify(struct sub_runner *r, uint64_t last);
/* Last seq handled (in memory) and last seq persisted. Any thread. */
uint64_t sub_runner_position(const struct sub_runner *r);
uint64_t sub_runner_persisted(const struct sub_runner *r);
const char *sub_runner_name(const struct sub_runner *r);
/* Stops the thread after the current event (or during a backoff), calls
 * flush on it (if the position moved since the last checkpoint), persists
 * the position if flush succeeded (through the commit writer, which must still be
 * open; waits for it), frees. Not from the writer thread nor from the
 * runner's own handler. NULL is a no-op. */
void sub_runner_stop(struct sub_runner *r);

#endif /* BUS_SUB_H */
