/*
 * evlog — the append-only event log and the named stores of the read
 * models, in two LMDB environments. The only code that calls mdb_*.
 *
 * DIR/db, the log (every commit synced, unless relaxed):
 *   "log"          8-byte big-endian seq -> encoded event (codec.c: a
 *                  format byte first, so every old record stays readable)
 *   "meta"         "epoch", "format", "views_boot" (views.c),
 *                  "ckpt:<name>" -> 8-byte BE seq (async subscribers)
 * DIR/views, the read models (commits never synced; a function of the log,
 * caught up or rebuilt from it at open — views.c says when):
 *   "streams"      stream id -> 8-byte big-endian current version
 *   "vmeta"        "applied" -> last seq reflected, "proj:<name>" -> version
 *   "s:<module>/<store>"  one per read-model store
 *
 * A top-level write txn appends to the log and writes the read models;
 * its commit writes the log first (synced), then the read models, so when
 * it returns both hold its work, and a crash in between leaves the read
 * models behind the log, never ahead.
 *
 * Threads: one write transaction at a time, opened only by the commit
 * writer (src/commit) or by offline commands (rebuild). Read transactions
 * from any thread, one per thread at a time. (The environments use
 * MDB_NOTLS only so reset read txns can be pooled across threads; the
 * rule stays, because LMDB's is "one txn per thread" for anything but
 * read-only txns.) A thread must never hold two transactions of any evlog
 * at once (not even of two different evlogs); code that must call out
 * while reading copies events first (struct evlog_batch below).
 *
 * Errors: every int-returning function returns CHATD_OK or a negative
 * CHATD_E* code: CHATD_ENOTFOUND (no such key/event), CHATD_EINVAL (bad
 * argument or limit), CHATD_ESTATE (read-only txn/env, or a parent used
 * while its child is open), CHATD_EFULL (map, readers or DB slots full),
 * CHATD_ENOMEM, CHATD_EIO (system error or a corrupt record).
 */
#ifndef EVLOG_EVLOG_H
#define EVLOG_EVLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chatd/module.h"

struct evlog;
struct evlog_txn;
struct evlog_store;
struct evlog_cursor;

struct evlog_options {
    const char *dir;    /* data directory; created (0700) if missing */
    size_t map_size;    /* bytes; 0 = default 64 GiB (sparse) */
    bool nosync;        /* relaxed durability: no fsync on commit */
    bool read_only;     /* open for verify/dump/backup without writing */
    /* Added: the read models in a writable map (src/evlog/vspace.c);
     * ignored when read_only. */
    bool views_writable_map;
    /* Added: optional buffer (may be NULL) that receives a one-line message
     * for the operator when evlog_open fails. Owned by the caller. */
    char *err;
    size_t err_size;
    /* Added: this machine boot's id (NULL: /proc/sys/kernel/random/
     * boot_id); a marker of another boot means the machine went down
     * under a writer (views.c). */
    const char *boot_id;
    /* Added: start the read models empty, their old contents never read
     * (views.c, reset_views_files): `chatd rebuild` of everything, which
     * then works even on damaged ones. Ignored when read_only. */
    bool fresh_views;
};

/* Limits of one appended event (bytes, excluding the NUL): longer gives
 * CHATD_EINVAL. Added. */
#define EVLOG_TYPE_MAX 64
#define EVLOG_STREAM_MAX 200
#define EVLOG_CORR_MAX 128
#define EVLOG_ACTOR_MAX 128
#define EVLOG_DATA_MAX (1024u * 1024u)
/* Store keys are 1..EVLOG_KEY_MAX bytes, else CHATD_EINVAL. Added. */
#define EVLOG_KEY_MAX 400

/* Opens (creating if needed, unless read_only) the data directory
 * opt->dir (0700) and the LMDB environments in opt->dir/db/ and
 * opt->dir/views/ (0700) with their databases; creates the epoch and
 * "format" on first open. A read-only open of a directory that was never
 * initialised gives CHATD_ENOTFOUND; a data directory of a newer format
 * gives CHATD_EIO, of an older one CHATD_ESTATE (read-only) or is upgraded
 * (writable). A writable open empties read models that cannot be trusted
 * (evlog_views_were_reset); the caller then replays the log into them
 * (evlog_views_applied says from where). Main thread; an environment must
 * not be opened twice in one process (an LMDB rule). *out freed by
 * evlog_close, which syncs the read models. */
int evlog_open(struct evlog **out, const struct evlog_options *opt);
/* No transaction, cursor or store of `log` may be in use. NULL is a
 * no-op. */
void evlog_close(struct evlog *log);

/* The epoch id, a random 16-hex-char string made when the data directory
 * was created. Borrowed, valid until evlog_close. */
const char *evlog_epoch(const struct evlog *log);
/* Highest committed seq (0 if empty). Any thread (atomic). */
uint64_t evlog_last_seq(const struct evlog *log);
/* Path of the LMDB environment directory (DIR/db). Borrowed. */
const char *evlog_path(const struct evlog *log);
/* The data directory as given in evlog_options.dir; valid until close. */
const char *evlog_dir(const struct evlog *log);

/* --- transactions --- */

/* Returned by evlog_txn_commit of a top-level txn in which a child that
 * had written to the read models (stores, not appends) was aborted: its
 * writes cannot be taken back, so nothing was committed and the caller
 * redoes the work without that child. Not a CHATD_* code: it never leaves
 * the host. */
#define EVLOG_EREDO (-100)

/* Read (write=false) or write transaction. A child of a write transaction
 * (evlog_txn_child) can be aborted without losing the parent's work, as
 * long as it only appended (and read); aborting one that also wrote to
 * the read models makes the top-level commit fail with EVLOG_EREDO.
 * Beginning a write txn blocks while another one is open. While a child
 * is open its parent may only be committed or aborted after the child
 * ended; other calls on the parent give CHATD_ESTATE. CHATD_ESTATE for a
 * write txn on a read-only log. *out ends with commit or abort, on the
 * thread that began it. */
int evlog_txn_begin(struct evlog *log, bool write, struct evlog_txn **out);
int evlog_txn_child(struct evlog_txn *parent, struct evlog_txn **out);
/* An id no other top-level txn of this evlog has had (never 0); a child
 * has its top-level txn's. Lets a caller keep per-transaction state
 * (src/ws/userfeed.c) that an abort or a redone batch must not outlive. */
uint64_t evlog_txn_id(const struct evlog_txn *txn);
/* Added. True once a child that wrote to the read models was aborted
 * under this top-level txn (its commit will give EVLOG_EREDO). */
bool evlog_txn_poisoned(const struct evlog_txn *txn);
/* For a caller that keeps per-transaction state an abort cannot take back
 * (src/ws/userfeed.c's journal): counts as a write to the read models, so
 * aborting txn, if it is a child, poisons its top-level txn. */
void evlog_txn_mark_written(struct evlog_txn *txn);
/* Commit frees the txn whatever the result; on a top-level write txn its
 * appends and meta writes are durable (fsync'd unless nosync) and its
 * read-model writes visible when this returns CHATD_OK, and
 * evlog_last_seq has been raised to cover its appends. If the log part
 * commits and the read-model part then fails, the process aborts (the
 * events are durable; the next open replays them). EVLOG_EREDO: see
 * above. Committing a child hands its appends and writes to the parent;
 * aborting a child rolls back its appends, its stream versions, its meta
 * writes and its seq numbers (its store writes: EVLOG_EREDO). Open
 * cursors of the txn are closed. */
int evlog_txn_commit(struct evlog_txn *txn);
void evlog_txn_abort(struct evlog_txn *txn);
bool evlog_txn_writable(const struct evlog_txn *txn);
/* Added. Highest seq this txn sees: for a write txn including its own
 * (and its parents') pending appends; for a read txn the last committed
 * seq of its log snapshot (which may be newer than its read models). 0 if
 * the log is empty. */
uint64_t evlog_txn_last_seq(struct evlog_txn *txn);

/* --- the log --- */

/*
 * Appends one event: assigns seq = last+1 (counting appends in this txn and
 * its parents) and stream_ver = current+1, checks expected_ver
 * (CHATD_ANY_VERSION, CHATD_NO_STREAM, or N) -> CHATD_ECONFLICT. In `ev`,
 * seq and stream_ver are ignored (outputs go to the filled `out`),
 * time_ms 0 means now, correlation_id/actor NULL mean "", data NULL with
 * data_len 0 means "". Strings are copied. Limits: EVLOG_*_MAX above,
 * type and stream non-empty -> CHATD_EINVAL. Write txn only
 * (CHATD_ESTATE). If `out` is not NULL it receives the stored event; its
 * pointers point into a copy owned by the txn, valid until the top-level
 * txn ends (or until `txn` is aborted, if it is a child).
 */
int evlog_append(struct evlog_txn *txn, const struct chatd_event *ev,
                 uint64_t expected_ver, struct chatd_event *out);
/* Reads one event (in a write txn also its own pending appends); pointers
 * point into the map or the pending copy (zero copy), valid until the txn
 * ends. CHATD_ENOTFOUND if there is none, CHATD_EIO if the record is
 * corrupt. */
int evlog_get(struct evlog_txn *txn, uint64_t seq, struct chatd_event *out);
/* Committed events only (not a write txn's pending appends). Calls fn for
 * each event with seq > after, in order, until fn returns
 * non-zero (returned as is) or `limit` events (0 = no limit) were seen.
 * Returns CHATD_OK at the end. `ev` as for evlog_get; fn must not write
 * to the log through `txn`. */
typedef int (*evlog_scan_fn)(void *arg, const struct chatd_event *ev);
int evlog_scan(struct evlog_txn *txn, uint64_t after, uint64_t limit,
               evlog_scan_fn fn, void *arg);
/* Current version of a stream, 0 if it has no events. */
int evlog_stream_version(struct evlog_txn *txn, const char *stream,
                         uint64_t *out);

/* Added. Decodes one encoded record (a value of "log") with sequence
 * number `seq` into *out, zero copy: pointers point into rec. Checks
 * every length and terminator: CHATD_EIO for a corrupt or truncated
 * record or an unknown format byte; it never reads outside rec[0..len). */
int evlog_decode(uint64_t seq, const void *rec, size_t len,
                 struct chatd_event *out);

/*
 * Added. A batch of events copied out of a transaction, so the caller can
 * end the txn before handing the events to code that may open its own
 * (subscribers, replay into another environment). One thread at a time.
 */
struct evlog_batch;
int evlog_batch_new(struct evlog_batch **out); /* free with evlog_batch_free */
void evlog_batch_free(struct evlog_batch *b);  /* NULL is a no-op */
/* Replaces b's contents with copies of the committed events (not a write
 * txn's pending appends) with seq > after whose type starts with
 * `prefix` (NULL = all), stopping after `max_events`
 * events were examined (0 = no limit) or once the copies exceed
 * `max_bytes` (0 = no limit; at least one event is always copied).
 * Events skipped by the prefix still count as examined. CHATD_EIO if a
 * record is corrupt (b is then empty). */
int evlog_batch_fill(struct evlog_batch *b, struct evlog_txn *txn,
                     uint64_t after, uint64_t max_events, size_t max_bytes,
                     const char *prefix);
/* Number of events copied, and the highest seq examined (0 if none): a
 * reader that handled every copied event may continue after it. */
size_t evlog_batch_count(const struct evlog_batch *b);
uint64_t evlog_batch_last_seq(const struct evlog_batch *b);
/* Event i (< count) of the batch; pointers valid until the next fill or
 * free of b. */
int evlog_batch_event(const struct evlog_batch *b, size_t i,
                      struct chatd_event *out);

/* --- meta (in the log environment: durable with the log) --- */

/* A write waits for the top-level commit; a get sees the txn's own
 * pending writes. */
int evlog_meta_get_u64(struct evlog_txn *txn, const char *key,
                       uint64_t *out); /* CHATD_ENOTFOUND if absent */
int evlog_meta_put_u64(struct evlog_txn *txn, const char *key, uint64_t v);

/* --- the read models' own state (views environment) --- */

/* The last seq the read models reflect (0: none). */
int evlog_views_applied(struct evlog_txn *txn, uint64_t *out);
/* True if evlog_open emptied untrustworthy read models. */
bool evlog_views_were_reset(const struct evlog *log);
/* Meta values that describe the read models ("proj:<name>" versions):
 * they go away with them. "applied" is not accessible here (EINVAL). */
int evlog_views_meta_get_u64(struct evlog_txn *txn, const char *key,
                             uint64_t *out);
int evlog_views_meta_put_u64(struct evlog_txn *txn, const char *key,
                             uint64_t v);
/* Full rebuild: forgets every stream version and sets applied to 0 (the
 * stores are cleared by their owners). Write txn. */
int evlog_views_reset(struct evlog_txn *txn);
/* Replay: the batch's events are now reflected in the read models: their
 * stream versions, and applied = the batch's last seq. Write txn. */
int evlog_views_advance(struct evlog_txn *txn, const struct evlog_batch *b);

/* --- named stores of the read models --- */

/* Opens (creating, unless read-only: then CHATD_ENOTFOUND if it does not
 * exist) store "<owner>/<name>"; handle valid until evlog_close. Opening
 * the same name again gives the same handle. owner and name: 1..100 bytes
 * without '/', else CHATD_EINVAL; CHATD_EFULL once LMDB's 128
 * database slots are used (2 are the read models' own).
 * Only before serving starts (main thread, no txn open in the process). */
int evlog_store_open(struct evlog *log, const char *owner, const char *name,
                     struct evlog_store **out);
const char *evlog_store_name(const struct evlog_store *st); /* "owner/name" */
/* Empties a store (rebuild). Write txn only. */
int evlog_store_clear(struct evlog_txn *txn, struct evlog_store *st);

/* Key/value access. Keys 1..EVLOG_KEY_MAX bytes. get: *out borrowed until
 * the txn ends (in a write txn until its next write), CHATD_ENOTFOUND if
 * absent. put/del: write txn only; del of an absent key gives
 * CHATD_ENOTFOUND. */
int evlog_get_kv(struct evlog_txn *txn, const struct evlog_store *st,
                 const void *key, size_t klen, struct chatd_val *out);
int evlog_put_kv(struct evlog_txn *txn, const struct evlog_store *st,
                 const void *key, size_t klen, const void *val, size_t vlen);
/* put only if the key is absent: CHATD_EEXIST otherwise, with *existing
 * (may be NULL) set to the stored value, borrowed like a get's. One
 * B-tree descent instead of a get and a put. */
int evlog_put_kv_new(struct evlog_txn *txn, const struct evlog_store *st,
                     const void *key, size_t klen, const void *val,
                     size_t vlen, struct chatd_val *existing);
int evlog_del_kv(struct evlog_txn *txn, const struct evlog_store *st,
                 const void *key, size_t klen);

/* Cursor over a store: valid until evlog_cursor_close or the end of the
 * txn (which closes it). seek: CHATD_SEEK_FIRST/LAST ignore key; GE/LE
 * find the smallest key >= / largest key <= `key`; CHATD_ENOTFOUND if
 * none. step: dir > 0 next, dir < 0 previous (from an unpositioned cursor:
 * first / last), CHATD_ENOTFOUND past the end, CHATD_EINVAL for dir 0.
 * k and v (either may be NULL) are borrowed like evlog_get_kv's. */
int evlog_cursor_open(struct evlog_txn *txn, const struct evlog_store *st,
                      struct evlog_cursor **out);
int evlog_cursor_seek(struct evlog_cursor *c, enum chatd_seek how,
                      const void *key, size_t klen, struct chatd_val *k,
                      struct chatd_val *v);
int evlog_cursor_step(struct evlog_cursor *c, int dir, struct chatd_val *k,
                      struct chatd_val *v);
void evlog_cursor_close(struct evlog_cursor *c);

/* A digest of a store's contents, for `chatd verify`: XXH3 (64-bit) over,
 * for each pair in key order, klen (8 bytes big-endian), key, vlen (8
 * bytes big-endian), value. Equal contents give equal digests. */
int evlog_store_digest(struct evlog_txn *txn, const struct evlog_store *st,
                       uint64_t *out);


/* Consistent online copy of both environments to dest_dir (mdb_env_copy2
 * with compaction; the read models first, then the log, so the copy's
 * read models are never ahead of its log) into dest_dir/views/ and
 * dest_dir/db/, so dest_dir is a valid data directory with the same epoch
 * (its read models catch up from its log when it is opened). dest_dir must not exist or be empty
 * (CHATD_EEXIST); it is created 0700. Any thread that holds no txn; runs
 * concurrently with the writer (it sees one committed snapshot). */
int evlog_backup(struct evlog *log, const char *dest_dir);

#endif /* EVLOG_EVLOG_H */
