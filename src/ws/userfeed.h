/*
 * userfeed — the per-user real-time feed: which committed events were
 * delivered to which user, at which per-user position ("pos"). Positions
 * start at 1 for each user and grow by one with no gaps; they are assigned
 * inside the writer's transaction, so they commit (or roll back) together
 * with the event that caused them, and a rebuild gives every user the same
 * positions again.
 *
 * Two host stores in the read models' environment:
 *   "host/feed"     user_id '\0' first(8 BE) -> seq(8 BE) x n: the seqs
 *                   at positions first .. first+n-1, first = 1 + k*128,
 *                   1 <= n <= 128 (only a user's last record is not full)
 *   "host/feedseq"  seq(8 BE) -> the event's recipients, each as
 *                   len(1) user_id(len) pos(8 BE), in delivery order
 * A user's last position ends its last record in "host/feed". Deliveries
 * are journaled and written by userfeed_flush at the end of the
 * transaction: one "host/feedseq" record per event, and per user one
 * write per record touched, however many deliveries it got (a batch of
 * ten messages to a 100-member room: 10 + 100 B-tree writes, not 2,000).
 * The records do not depend on how deliveries were split into
 * transactions, so a rebuild writes the same bytes as the live server.
 *
 * A user id is 1..USERFEED_USER_MAX bytes without NUL (CHATD_EINVAL
 * otherwise).
 *
 * Threads: userfeed_open/close on the main thread before serving / after
 * everything stopped. deliver/flush/clear only through a write txn (the
 * writer thread, or an offline rebuild), one write txn at a time: they
 * cache each user's last position for the txn (see evlog_txn_id), so a
 * user fed many times in one batch is looked up once, and journal the
 * txn's deliveries for userfeed_flush. The read helpers work in any txn
 * on the thread that owns it.
 */
#ifndef WS_USERFEED_H
#define WS_USERFEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evlog/evlog.h"

#define USERFEED_USER_MAX 128

struct userfeed;

/* Opens (creating) the two stores. Main thread, before serving (an
 * evlog_store_open rule). *out freed with userfeed_close. CHATD_ENOMEM or
 * evlog_store_open's errors. */
int userfeed_open(struct userfeed **out, struct evlog *log);
/* NULL is a no-op. The stores stay in the environment. */
void userfeed_close(struct userfeed *uf);

/*
 * Adds event `seq` to the feed of `user_id` (borrowed) at pos = last + 1.
 * Events must be delivered in log order (each while it is projected).
 * Idempotent: if the user's last entry is `seq` already, it returns
 * CHATD_OK and assigns nothing. Write txn only (CHATD_ESTATE otherwise);
 * may be a child txn that is later aborted (which poisons the top txn).
 * CHATD_EINVAL for a bad user id or seq 0. The (seq -> recipients) record
 * is written by userfeed_flush, which must run before the txn commits.
 */
int userfeed_deliver(struct userfeed *uf, struct evlog_txn *txn,
                     const char *user_id, uint64_t seq);
/* Same, and *pos_out (may be NULL) receives the entry's position, new or
 * existing. */
int userfeed_deliver_pos(struct userfeed *uf, struct evlog_txn *txn,
                         const char *user_id, uint64_t seq,
                         uint64_t *pos_out);

/* Writes the "host/feedseq" records of the deliveries made in `txn` (the
 * top-level write txn, after its last delivery, before its commit; a
 * no-op if it made none). Called by modhost at the end of every write
 * transaction, with the projections' own flushes. CHATD_ESTATE for a
 * read txn or deliveries out of log order, else evlog's errors (the txn
 * must then not commit). */
int userfeed_flush(struct userfeed *uf, struct evlog_txn *txn);
/* Forgets the journaled deliveries (a transaction about to be redone);
 * NULL is a no-op. */
void userfeed_discard(struct userfeed *uf);

/* Empties the stores (full rebuild). Write txn only. */
int userfeed_clear(struct userfeed *uf, struct evlog_txn *txn);

/* Last position of a user; *out = 0 (and CHATD_OK) if the user has none.
 * In the writer's txn, including what it delivered and did not flush yet;
 * the other readers below see flushed entries only. */
int userfeed_last_pos(struct userfeed *uf, struct evlog_txn *txn,
                      const char *user_id, uint64_t *out);

/* The seq at `pos` of a user; CHATD_ENOTFOUND if there is none. */
int userfeed_get(struct userfeed *uf, struct evlog_txn *txn,
                 const char *user_id, uint64_t pos, uint64_t *seq_out);

/*
 * Calls fn(arg, pos, seq) for the user's entries with pos > after, in
 * order, at most `max` of them (0 = no limit), until fn returns non-zero
 * (returned as is). CHATD_OK at the end. *count_out (may be NULL) gets the
 * number of entries passed to fn.
 */
typedef int (*userfeed_entry_fn)(void *arg, uint64_t pos, uint64_t seq);
int userfeed_range(struct userfeed *uf, struct evlog_txn *txn,
                   const char *user_id, uint64_t after, size_t max,
                   userfeed_entry_fn fn, void *arg, size_t *count_out);

/*
 * Calls fn(arg, seq, user_id, pos) for every delivery of an event with
 * first_seq <= seq <= last_seq, by seq and then in the order they were
 * made, until fn returns non-zero (returned as is). `user_id` is a
 * NUL-terminated copy valid for the call, `user_len` its length (the
 * record has it: the WebSocket delivery looks up thousands of users per
 * batch and a strlen of a string just copied stalls on the copy).
 * CHATD_OK at the end; CHATD_EIO for a record that does not decode.
 */
typedef int (*userfeed_seq_fn)(void *arg, uint64_t seq, const char *user_id,
                               size_t user_len, uint64_t pos);
int userfeed_by_seq(struct userfeed *uf, struct evlog_txn *txn,
                    uint64_t first_seq, uint64_t last_seq,
                    userfeed_seq_fn fn, void *arg);

#endif /* WS_USERFEED_H */
