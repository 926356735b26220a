/*
 * evlog internals — shared by the .c files of src/evlog only. Nothing
 * outside this folder includes it (LMDB types stay in this folder).
 */
#ifndef EVLOG_INTERNAL_H
#define EVLOG_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/core.h"

#include "evlog/evlog.h"

/* Version of the data directory layout, in meta "format": 1 kept the read
 * models in the log's environment; 2 has them in DIR/views. */
#define EVLOG_ENV_FORMAT 2

/* Read transactions kept reset between uses (mdb_txn_reset/renew): a
 * begin then costs neither the calloc of a txn sized for 256 databases
 * nor a search for a reader slot. Both environments use MDB_NOTLS, so a
 * reset txn may be renewed on any thread. */
#define EVLOG_POOL_MAX 32
struct evlog_rpool {
    pthread_mutex_t mu;
    unsigned n;
    MDB_txn *idle[EVLOG_POOL_MAX];
};

struct evlog {
    MDB_env *env;  /* DIR/db: "log" and "meta"; every commit synced */
    MDB_env *venv; /* DIR/views: "streams", "vmeta", "s:*"; never synced
                    * on commit (rebuilt from the log when untrusted) */
    MDB_dbi log_dbi;
    MDB_dbi meta_dbi;
    MDB_dbi streams_dbi;
    MDB_dbi vmeta_dbi;
    _Atomic uint64_t last_seq;
    _Atomic uint64_t txn_ids; /* the last top-level txn's id */
    size_t page_size, map_size; /* of the log environment */
    bool read_only;
    bool views_reset; /* emptied at open: see evlog_views_were_reset */
    char epoch[17];
    char boot_id[64];
    char *dir;   /* the data directory */
    char *path;  /* dir + "/db" */
    char *vpath; /* dir + "/views" */
    pthread_mutex_t stores_lock;
    struct evlog_store *stores; /* owned; freed by evlog_close */
    struct evlog_rpool lpool, vpool; /* of env and venv */
    /* The read models mapped writable, and their file written ahead of
     * LMDB (vspace.c); the rest only under venv's write lock. */
    bool vmap_writable;
    bool vfull_logged;
    int vfd;
    size_t vpage_size;
    size_t vused;       /* bytes up to LMDB's last page, last seen */
    size_t vready;      /* the file is written up to here */
    size_t vgrowth_max; /* largest growth of the file in one txn */
};

struct evlog_store {
    struct evlog_store *next;
    MDB_dbi dbi;
    char name[]; /* "owner/name" */
};

/* A copy of an appended event kept alive until the top-level txn ends, so
 * evlog_append's `out` does not point into a page a later write may move. */
struct evlog_keep {
    struct evlog_keep *next;
    uint64_t seq;
    size_t len;
    unsigned char rec[];
};

/* A stream's new version waiting for the top-level commit, like an
 * append: so a child that only appended leaves nothing to undo. */
struct evlog_stream_op {
    struct evlog_stream_op *next;
    uint64_t ver;
    char stream[];
};

/* A write to "meta" waiting for the top-level commit, like an append. */
struct evlog_meta_op {
    struct evlog_meta_op *next;
    size_t klen, vlen;
    unsigned char data[]; /* key, then value */
};

/*
 * A transaction spans both environments. Its views part (mdb) is one LMDB
 * write or read transaction of the top-level txn. A child is a savepoint
 * that shares its parent's mdb: an LMDB nested transaction costs a 2 MiB
 * and a 1 MiB allocation and a copy of the parent's database table, per
 * command, and merging its dirty pages at commit — about a sixth of the
 * writer's time. Its log part is only a read
 * snapshot (ltxn, on the top-level txn, begun on first use): appends,
 * stream versions and meta writes wait in `keep` / `streams` / `metas`
 * (newest first) and are written when the top-level txn commits, the log
 * (synced) before its views. So the log is never ahead of what was
 * acknowledged, and the views are never ahead of the log.
 *
 * Aborting a child drops its pending writes. Writes it made to the read
 * models (`wrote`) cannot be taken back in a shared mdb: the top-level
 * txn is then `poisoned` and its commit fails with EVLOG_EREDO, so the
 * caller redoes the batch without that child (src/commit does).
 */
struct evlog_txn {
    struct evlog *log;
    struct evlog_txn *parent;
    MDB_txn *mdb;  /* views environment (a child's is its parent's) */
    MDB_txn *ltxn; /* log environment, read-only; top-level txn only */
    uint64_t id;   /* see evlog_txn_id */
    bool write;
    bool wrote;    /* wrote to the read models (stores, views meta) */
    bool poisoned; /* top-level: a child that wrote was aborted */
    struct evlog_txn *child; /* live child: the parent waits for it */
    uint64_t next_seq;     /* write txns: seq the next append gets */
    struct evlog_cursor *cursors; /* open cursors, closed at txn end */
    struct evlog_keep *keep;         /* pending appends, newest first */
    struct evlog_stream_op *streams; /* pending stream versions */
    struct evlog_meta_op *metas;     /* pending meta writes, newest first */
    size_t log_pages_used; /* top-level: the log's size when it began */
    size_t pending_bytes;  /* small pending records, with their overhead */
    size_t pending_pages;  /* pages of pending records too big for a leaf */
};

/* Marks txn (and so each parent it is merged into) as having written to
 * the read models. */
static inline void evlog_txn_wrote(struct evlog_txn *txn)
{
    txn->wrote = true;
}

struct evlog_cursor {
    struct evlog_txn *txn;
    MDB_cursor *mc;
    struct evlog_cursor *prev, *next;
};

/* vspace.c: with vmap_writable, after venv is open (before any write
 * txn), and at the start of each write txn on venv, before it takes a
 * page: writes the file ahead of LMDB's last page. CHATD_EFULL: not even
 * the minimum margin could be written (the txn must not go on). */
int evlog_vspace_open(struct evlog *log);
int evlog_vspace_ensure(struct evlog *log);
/* A txn on venv: read-only when the evlog is, else a write txn checked
 * by evlog_vspace_ensure. */
int evlog_views_begin(struct evlog *log, MDB_txn **out);

/* Maps an LMDB or errno result to a CHATD_* status. */
int evlog_status(int rc);

/* Usable for reads/writes now (not finished, no live child). */
int evlog_txn_check(const struct evlog_txn *txn, bool need_write);

/* A read txn of env from pool p (renewed) or a new one; hand it back
 * with evlog_rtxn_put. evlog_rpool_drain aborts the idle ones (before the
 * environment closes). */
int evlog_rtxn_get(MDB_env *env, struct evlog_rpool *p, MDB_txn **out);
void evlog_rtxn_put(struct evlog_rpool *p, MDB_txn *txn);
void evlog_rpool_drain(struct evlog_rpool *p);

/* Room in the log's map for one more pending record (txn.c). */
int evlog_reserve(struct evlog_txn *txn, size_t rec_len);

/* The log snapshot of txn's top-level txn, begun on first use. */
int evlog_log_snapshot(struct evlog_txn *txn, MDB_txn **out);

/* One-line operator message for a failed evlog_open (opt->err). */
void evlog_set_err(const struct evlog_options *opt, const char *fmt, ...)
    CHATD_PRINTF(2, 3);

/* Creates and opens one LMDB environment at path with our limits (the
 * log's, or the read models' when `views`). */
int evlog_env_open(MDB_env **env, const char *path, bool views,
                   unsigned flags, const struct evlog_options *opt);

/* Drops (deletes) every named database of txn's environment whose name is
 * `exact` or starts with `prefix` (either may be NULL; "" matches all). */
int evlog_drop_named(MDB_txn *txn, const char *exact, const char *prefix);

/* The highest seq in the log database (0 if empty). */
int evlog_last_key(MDB_txn *txn, MDB_dbi log_dbi, uint64_t *out);

/* An 8-byte big-endian value of dbi: CHATD_ENOTFOUND if absent (0 when
 * absent_is_zero), CHATD_EIO if it has another size. */
int evlog_mdb_get_u64(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                      bool absent_is_zero, uint64_t *out);

/* Meta values of any size: pending writes of the txn chain first, then
 * the log snapshot. *out borrowed until the txn ends. */
int evlog_meta_get_raw(struct evlog_txn *txn, const char *key,
                       struct chatd_val *out);
int evlog_meta_put_raw(struct evlog_txn *txn, const char *key,
                       const void *val, size_t vlen);

/* --- views.c --- */

/* Opens DIR/views after the log (evlog_last_seq known); for a writer,
 * decides whether the read models can be trusted and marks them open. */
int evlog_views_open(struct evlog *log, const struct evlog_options *opt);
/* Syncs the views and clears the mark (writer); closes the environment. */
void evlog_views_close(struct evlog *log);
/* Records in the views txn that they reflect the log up to seq. */
int evlog_views_put_applied(struct evlog_txn *txn, uint64_t seq);

/* --- codec.c --- */

/* Size of the encoded form of `ev` (its strings must be validated). */
size_t evlog_codec_size(const struct chatd_event *ev);
/* Checks the limits of one event to append: CHATD_OK or CHATD_EINVAL. */
int evlog_codec_check(const struct chatd_event *ev);
/* Writes the encoded event into buf (evlog_codec_size bytes). */
void evlog_codec_encode(const struct chatd_event *ev, unsigned char *buf);

#endif /* EVLOG_INTERNAL_H */
