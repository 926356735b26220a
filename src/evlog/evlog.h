/*
 * evlog — the append-only event log and the named stores of the read
 * models, in one LMDB environment. The only code that calls mdb_*.
 *
 * Layout of the environment (named databases):
 *   "log"          8-byte big-endian seq -> encoded event (evlog_codec.c)
 *   "streams"      stream id -> 8-byte big-endian current version
 *   "meta"         "epoch", "format", "proj:<name>" -> version,
 *                  "ckpt:<name>" -> 8-byte BE seq (async subscribers)
 *   "s:<module>/<store>"  one per read-model store
 *
 * Threads: one write transaction at a time, opened only by the commit
 * writer (src/commit) or by offline commands (rebuild). Read transactions
 * from any thread, one per thread at a time (LMDB's MDB_NOTLS is not used).
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
};

/* Opens (creating if needed) the environment at opt->dir/log.mdb and its
 * databases; creates the epoch on first open. *out freed by evlog_close. */
int evlog_open(struct evlog **out, const struct evlog_options *opt);
void evlog_close(struct evlog *log);

/* The epoch id, a random 16-hex-char string made when the data directory
 * was created. Borrowed, valid until evlog_close. */
const char *evlog_epoch(const struct evlog *log);
/* Highest committed seq (0 if empty). Any thread (atomic). */
uint64_t evlog_last_seq(const struct evlog *log);
/* Path of the LMDB environment directory. Borrowed. */
const char *evlog_path(const struct evlog *log);

/* --- transactions --- */

/* Read (write=false) or write transaction. A child of a write transaction
 * (evlog_txn_child) can be aborted without losing the parent's work. */
int evlog_txn_begin(struct evlog *log, bool write, struct evlog_txn **out);
int evlog_txn_child(struct evlog_txn *parent, struct evlog_txn **out);
/* Commit frees the txn whatever the result; on a top-level write txn it is
 * durable (fsync'd unless nosync) when this returns CHATD_OK. */
int evlog_txn_commit(struct evlog_txn *txn);
void evlog_txn_abort(struct evlog_txn *txn);
bool evlog_txn_writable(const struct evlog_txn *txn);

/* --- the log --- */

/*
 * Appends one event: assigns seq = last+1 (counting appends in this txn and
 * its parents) and stream_ver = current+1, checks expected_ver
 * (CHATD_ANY_VERSION, CHATD_NO_STREAM, or N) -> CHATD_ECONFLICT. In `ev`,
 * seq and stream_ver are ignored (outputs go to *seq_out / the filled
 * `out`), time_ms 0 means now. Strings are copied. If `out` is not NULL it
 * receives the stored event (pointers valid until the txn ends).
 */
int evlog_append(struct evlog_txn *txn, const struct chatd_event *ev,
                 uint64_t expected_ver, struct chatd_event *out);
/* Reads one event; pointers valid until the txn ends. */
int evlog_get(struct evlog_txn *txn, uint64_t seq, struct chatd_event *out);
/* Calls fn for each event with seq > after, in order, until fn returns
 * non-zero (returned as is) or `limit` events (0 = no limit) were seen. */
typedef int (*evlog_scan_fn)(void *arg, const struct chatd_event *ev);
int evlog_scan(struct evlog_txn *txn, uint64_t after, uint64_t limit,
               evlog_scan_fn fn, void *arg);
int evlog_stream_version(struct evlog_txn *txn, const char *stream,
                         uint64_t *out);

/* --- meta --- */

int evlog_meta_get_u64(struct evlog_txn *txn, const char *key,
                       uint64_t *out); /* CHATD_ENOTFOUND if absent */
int evlog_meta_put_u64(struct evlog_txn *txn, const char *key, uint64_t v);

/* --- named stores of the read models --- */

/* Opens (creating) store "<owner>/<name>"; handle valid until close. Only
 * before serving starts (main thread, no write txn open elsewhere). */
int evlog_store_open(struct evlog *log, const char *owner, const char *name,
                     struct evlog_store **out);
const char *evlog_store_name(const struct evlog_store *st); /* "owner/name" */
/* Empties a store (rebuild). Write txn only. */
int evlog_store_clear(struct evlog_txn *txn, struct evlog_store *st);

int evlog_get_kv(struct evlog_txn *txn, const struct evlog_store *st,
                 const void *key, size_t klen, struct chatd_val *out);
int evlog_put_kv(struct evlog_txn *txn, const struct evlog_store *st,
                 const void *key, size_t klen, const void *val, size_t vlen);
int evlog_del_kv(struct evlog_txn *txn, const struct evlog_store *st,
                 const void *key, size_t klen);

int evlog_cursor_open(struct evlog_txn *txn, const struct evlog_store *st,
                      struct evlog_cursor **out);
int evlog_cursor_seek(struct evlog_cursor *c, enum chatd_seek how,
                      const void *key, size_t klen, struct chatd_val *k,
                      struct chatd_val *v);
int evlog_cursor_step(struct evlog_cursor *c, int dir, struct chatd_val *k,
                      struct chatd_val *v);
void evlog_cursor_close(struct evlog_cursor *c);

/* A digest (e.g. 64-bit FNV-1a over keys and values in order) of a store's
 * contents, for `chatd verify`. */
int evlog_store_digest(struct evlog_txn *txn, const struct evlog_store *st,
                       uint64_t *out);

/* Consistent online copy of the environment to dest_dir (mdb_env_copy2
 * with compaction), plus the epoch. dest_dir must not exist or be empty. */
int evlog_backup(struct evlog *log, const char *dest_dir);

#endif /* EVLOG_EVLOG_H */
