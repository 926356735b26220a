/*
 * replay — feeds the log to projections outside the live write path: at
 * start (projections whose stored version differs) and for
 * `chatd rebuild` / `chatd verify`.
 */
#ifndef BUS_REPLAY_H
#define BUS_REPLAY_H

#include <stdint.h>

#include "evlog/evlog.h"

/* Applies one event of the source log inside `txn` (a write txn of the
 * target log, which may be the same environment or a scratch one). */
typedef int (*replay_apply_fn)(void *ctx, struct evlog_txn *txn,
                               const struct chatd_event *ev);

/*
 * Reads every event of `src` with seq > after in order and calls apply for
 * each inside write transactions of `dst`, committing every `chunk` events
 * (0 = 10000). `dst` may equal `src`. Must not run while a commit writer is
 * open on `dst`. *count_out (may be NULL) gets the number of events.
 */
int replay_run(struct evlog *src, struct evlog *dst, uint64_t after,
               unsigned chunk, replay_apply_fn apply, void *ctx,
               uint64_t *count_out);

#endif /* BUS_REPLAY_H */
