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
 * target log, which may be the same environment or a scratch one); with
 * ev NULL, once per chunk after its last event and before its commit
 * (projections flush what they deferred). */
typedef int (*replay_apply_fn)(void *ctx, struct evlog_txn *txn,
                               const struct chatd_event *ev);

/*
 * Reads every event of `src` with seq > after in order and calls apply for
 * each inside write transactions of `dst`, committing every `chunk` events
 * (0 = 40000; also at most 64 MiB of events per commit). `dst` may equal
 * `src`. Must not run while a commit writer is open on `dst`. *count_out
 * (may be NULL) gets the number of events applied and committed, also on
 * error.
 *
 * How it reads (LMDB allows one txn per thread, no MDB_NOTLS here): each
 * chunk is copied out of the source into memory first (struct
 * evlog_batch): for src == dst through the write txn itself, for
 * src != dst through a read txn on src that ends before the write txn on
 * dst begins. So `ev` given to apply is heap memory valid for the call,
 * and apply may do anything with `txn` (child txns included) except
 * ending it. The calling thread must hold no other txn.
 *
 * If apply fails, the current chunk is rolled back and its error returned
 * (chunks committed before stay). Errors: apply's, or evlog's (CHATD_EIO
 * for a corrupt record).
 */
int replay_run(struct evlog *src, struct evlog *dst, uint64_t after,
               unsigned chunk, replay_apply_fn apply, void *ctx,
               uint64_t *count_out);

/*
 * Added. replay_run(log, log, after, 0, ...) that also moves the read
 * models' own state with each chunk (evlog_views_advance: stream versions
 * and the applied seq), in the same commit: for catching the read models
 * up after an unclean stop and for a full rebuild (after
 * evlog_views_reset), where `apply` feeds every projection. A crash in
 * between leaves them consistent at a chunk boundary.
 */
int replay_run_views(struct evlog *log, uint64_t after, replay_apply_fn apply,
                     void *ctx, uint64_t *count_out);

#endif /* BUS_REPLAY_H */
