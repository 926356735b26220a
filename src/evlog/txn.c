/*
 * txn.c — read, write and child transactions over the two environments.
 *
 * The next seq lives in the txn, not in the log: a top-level write txn reads
 * the last key of "log" when it begins, a child starts from its parent's
 * counter, committing a child hands the counter back to the parent, and
 * aborting a child simply drops it. So a discarded job leaves no gap.
 *
 * No LMDB transaction is nested (too costly per command, internal.h): a
 * child is a savepoint over its parent's LMDB txn. A
 * child's appends, stream versions and meta writes are kept in memory;
 * committing the child moves them to the parent, aborting it frees them;
 * a child that wrote to the stores cannot be undone and poisons the
 * top-level txn (internal.h). The log environment sees the appends once,
 * at the top-level commit, in one synced write transaction of sequential
 * MDB_APPEND puts: a few pages per batch, where syncing the read models
 * (scattered B-tree pages, tens of KiB per message) was the cost of every
 * acknowledged write.
 *
 * Writers never overlap: every top-level write txn holds the views
 * environment's write lock from begin to commit, and the log is written
 * only inside that window.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "core/core.h"
#include "evlog/internal.h"

int evlog_txn_check(const struct evlog_txn *txn, bool need_write)
{
    if (!txn || !txn->mdb)
        return CHATD_EINVAL;
    if (txn->child)
        return CHATD_ESTATE;
    if (need_write && !txn->write)
        return CHATD_ESTATE;
    return CHATD_OK;
}

int evlog_rtxn_get(MDB_env *env, struct evlog_rpool *p, MDB_txn **out)
{
    MDB_txn *txn = NULL;

    pthread_mutex_lock(&p->mu);
    if (p->n > 0)
        txn = p->idle[--p->n];
    pthread_mutex_unlock(&p->mu);
    if (txn) {
        if (mdb_txn_renew(txn) == MDB_SUCCESS) {
            *out = txn;
            return CHATD_OK;
        }
        mdb_txn_abort(txn);
    }
    return evlog_status(mdb_txn_begin(env, NULL, MDB_RDONLY, out));
}

void evlog_rtxn_put(struct evlog_rpool *p, MDB_txn *txn)
{
    mdb_txn_reset(txn);
    pthread_mutex_lock(&p->mu);
    if (p->n < EVLOG_POOL_MAX) {
        p->idle[p->n++] = txn;
        txn = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    if (txn)
        mdb_txn_abort(txn);
}

void evlog_rpool_drain(struct evlog_rpool *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->n > 0)
        mdb_txn_abort(p->idle[--p->n]);
    pthread_mutex_unlock(&p->mu);
}

int evlog_log_snapshot(struct evlog_txn *txn, MDB_txn **out)
{
    struct evlog_txn *top = txn;

    while (top->parent)
        top = top->parent;
    if (!top->ltxn) {
        int rc = evlog_rtxn_get(top->log->env, &top->log->lpool, &top->ltxn);

        if (rc != CHATD_OK) {
            top->ltxn = NULL;
            return rc;
        }
    }
    *out = top->ltxn;
    return CHATD_OK;
}

static void end_snapshot(struct evlog_txn *txn)
{
    if (txn->ltxn) {
        evlog_rtxn_put(&txn->log->lpool, txn->ltxn);
        txn->ltxn = NULL;
    }
}

static int last_key(struct evlog_txn *txn, uint64_t *out)
{
    MDB_txn *lt;
    int rc = evlog_log_snapshot(txn, &lt);

    if (rc != CHATD_OK)
        return rc;
    return evlog_last_key(lt, txn->log->log_dbi, out);
}

static int txn_new(struct evlog *log, struct evlog_txn *parent, bool write,
                   struct evlog_txn **out)
{
    struct evlog_txn *txn = calloc(1, sizeof *txn);
    int rc;

    if (!txn)
        return CHATD_ENOMEM;
    txn->log = log;
    txn->parent = parent;
    txn->write = write;
    txn->id = parent ? parent->id : atomic_fetch_add(&log->txn_ids, 1) + 1;
    if (parent) { /* a savepoint */
        txn->mdb = parent->mdb;
        *out = txn;
        return CHATD_OK;
    }
    if (!write) {
        rc = evlog_rtxn_get(log->venv, &log->vpool, &txn->mdb);
        if (rc != CHATD_OK) {
            free(txn);
            return rc;
        }
        *out = txn;
        return CHATD_OK;
    }
    rc = evlog_views_begin(log, &txn->mdb); /* never read-only here */
    if (rc != CHATD_OK) {
        free(txn);
        return rc;
    }
    *out = txn;
    return CHATD_OK;
}

static size_t log_pages_used(struct evlog *log)
{
    MDB_envinfo info;

    if (mdb_env_info(log->env, &info) != MDB_SUCCESS)
        return 0;
    return info.me_last_pgno + 1;
}

/* Appends reach the log only at the top-level commit, where running out of
 * map would fail the whole batch. So each append is checked here against
 * a generous estimate of the pages the pending records will take (their
 * bytes over a page's payload, whole pages for records too big for a leaf,
 * plus room for branch pages and the free list), and one that would not
 * fit fails alone, with CHATD_EFULL, like any failed put in a child txn.
 * The estimate ignores free pages LMDB could reuse: it refuses early,
 * never late. */
int evlog_reserve(struct evlog_txn *txn, size_t rec_len)
{
    const struct evlog_txn *t;
    size_t ps = txn->log->page_size, big = rec_len + 24 > ps / 2;
    size_t bytes = big ? 0 : rec_len + 24;
    size_t pages = big ? (rec_len + 16 + ps - 1) / ps : 0;
    size_t used = 0;

    for (t = txn; t; t = t->parent) {
        bytes += t->pending_bytes;
        pages += t->pending_pages;
        used = t->log_pages_used;
    }
    pages += bytes / (ps - 64) + 1 + 64;
    if ((used + pages) * ps > txn->log->map_size)
        return CHATD_EFULL;
    txn->pending_bytes += big ? 0 : rec_len + 24;
    txn->pending_pages += big ? (rec_len + 16 + ps - 1) / ps : 0;
    return CHATD_OK;
}

int evlog_txn_begin(struct evlog *log, bool write, struct evlog_txn **out)
{
    struct evlog_txn *txn;
    uint64_t last = 0;
    int rc;

    if (!log || !out)
        return CHATD_EINVAL;
    if (write && log->read_only)
        return CHATD_ESTATE;
    rc = txn_new(log, NULL, write, &txn);
    if (rc != CHATD_OK)
        return rc;
    if (write) {
        /* Begun under the views write lock, so no append can land
         * between this snapshot and our commit. */
        rc = last_key(txn, &last);
        if (rc != CHATD_OK) {
            end_snapshot(txn);
            mdb_txn_abort(txn->mdb);
            free(txn);
            return rc;
        }
        txn->next_seq = last + 1;
        txn->log_pages_used = log_pages_used(log);
    }
    *out = txn;
    return CHATD_OK;
}

uint64_t evlog_txn_id(const struct evlog_txn *txn)
{
    return txn->id;
}

int evlog_txn_child(struct evlog_txn *parent, struct evlog_txn **out)
{
    struct evlog_txn *txn;
    int rc = evlog_txn_check(parent, true);

    if (rc != CHATD_OK)
        return rc;
    rc = txn_new(parent->log, parent, true, &txn);
    if (rc != CHATD_OK)
        return rc;
    txn->next_seq = parent->next_seq;
    parent->child = txn;
    *out = txn;
    return CHATD_OK;
}

/* LMDB frees write-txn cursors at the end of the txn but not read-txn
 * ones; closing them all ourselves first works for both. */
static void close_cursors(struct evlog_txn *txn)
{
    for (struct evlog_cursor *c = txn->cursors, *next; c; c = next) {
        next = c->next;
        mdb_cursor_close(c->mc);
        free(c);
    }
    txn->cursors = NULL;
}

static void free_pending(struct evlog_txn *txn)
{
    for (struct evlog_keep *k = txn->keep, *next; k; k = next) {
        next = k->next;
        free(k);
    }
    for (struct evlog_stream_op *op = txn->streams, *next; op; op = next) {
        next = op->next;
        free(op);
    }
    txn->streams = NULL;
    for (struct evlog_meta_op *m = txn->metas, *next; m; m = next) {
        next = m->next;
        free(m);
    }
    txn->keep = NULL;
    txn->metas = NULL;
}

static void txn_free(struct evlog_txn *txn)
{
    if (txn->parent)
        txn->parent->child = NULL;
    end_snapshot(txn);
    free_pending(txn);
    free(txn);
}

static struct evlog_txn *top_of(struct evlog_txn *txn)
{
    while (txn->parent)
        txn = txn->parent;
    return txn;
}

/* A child ends without handing its work to the parent: its pending
 * writes go; store writes in the shared LMDB txn cannot, so they poison
 * the top-level txn. */
static void child_drop(struct evlog_txn *c)
{
    if (c->wrote)
        top_of(c)->poisoned = true;
    close_cursors(c);
    free_pending(c);
}

/* Ending a parent while a child lives is a caller's bug; end the child
 * (and its own children) here and leave its wrapper empty: the caller's
 * later commit/abort of it only frees the wrapper. */
static void end_live_child(struct evlog_txn *txn)
{
    struct evlog_txn *c = txn->child;

    if (!c)
        return;
    end_live_child(c);
    child_drop(c);
    c->mdb = NULL;
    c->parent = NULL;
    txn->child = NULL;
}

void evlog_txn_mark_written(struct evlog_txn *txn)
{
    if (txn)
        evlog_txn_wrote(txn);
}

bool evlog_txn_poisoned(const struct evlog_txn *txn)
{
    while (txn && txn->parent)
        txn = txn->parent;
    return txn && txn->poisoned;
}

/* A child's pending writes become the parent's, newest first as before:
 * the child's list, then the parent's. */
static void child_merge(struct evlog_txn *child)
{
    struct evlog_txn *parent = child->parent;
    struct evlog_keep **kt = &child->keep;
    struct evlog_meta_op **mt = &child->metas;

    struct evlog_stream_op **st = &child->streams;

    parent->next_seq = child->next_seq;
    parent->pending_bytes += child->pending_bytes;
    parent->pending_pages += child->pending_pages;
    parent->wrote |= child->wrote;
    while (*st)
        st = &(*st)->next;
    *st = parent->streams;
    parent->streams = child->streams;
    child->streams = NULL;
    while (*kt)
        kt = &(*kt)->next;
    *kt = parent->keep;
    parent->keep = child->keep;
    child->keep = NULL;
    while (*mt)
        mt = &(*mt)->next;
    *mt = parent->metas;
    parent->metas = child->metas;
    child->metas = NULL;
}

/* Reverses a singly linked list through its first member `next`. */
#define REVERSE(type, head)                                                   \
    do {                                                                      \
        type *prev_ = NULL, *cur_ = (head), *next_;                           \
        while (cur_) {                                                        \
            next_ = cur_->next;                                               \
            cur_->next = prev_;                                               \
            prev_ = cur_;                                                     \
            cur_ = next_;                                                     \
        }                                                                     \
        (head) = prev_;                                                       \
    } while (0)

static int put_pending(struct evlog_txn *txn, MDB_txn *lw)
{
    unsigned char key[8];
    int rc = MDB_SUCCESS;

    REVERSE(struct evlog_keep, txn->keep);
    REVERSE(struct evlog_meta_op, txn->metas);
    for (struct evlog_keep *k = txn->keep; k && rc == MDB_SUCCESS;
         k = k->next) {
        MDB_val mk = {8, key}, mv = {k->len, k->rec};

        core_be64_put(key, k->seq);
        rc = mdb_put(lw, txn->log->log_dbi, &mk, &mv, MDB_APPEND);
    }
    for (struct evlog_meta_op *m = txn->metas; m && rc == MDB_SUCCESS;
         m = m->next) {
        MDB_val mk = {m->klen, m->data}, mv = {m->vlen, m->data + m->klen};

        rc = mdb_put(lw, txn->log->meta_dbi, &mk, &mv, 0);
    }
    return evlog_status(rc);
}

/* LMDB reports a short write as EIO ("filesystem full?" in its source):
 * with (almost) no room left where the log lives, it is a full disk. */
static int commit_status(const struct evlog *log, int rc)
{
    struct statvfs fs;

    if (rc == EIO && statvfs(log->path, &fs) == 0 &&
        (uint64_t)fs.f_bfree * fs.f_frsize < ((uint64_t)1 << 20))
        return CHATD_EFULL;
    return evlog_status(rc);
}

/* The durable part of a top-level commit: the pending appends and meta
 * writes in one log transaction, synced (unless relaxed). */
static int commit_log(struct evlog_txn *txn)
{
    MDB_txn *lw;
    int rc;

    end_snapshot(txn); /* one transaction per environment and thread */
    rc = mdb_txn_begin(txn->log->env, NULL, 0, &lw);
    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    rc = put_pending(txn, lw);
    if (rc != CHATD_OK) {
        mdb_txn_abort(lw);
        return rc;
    }
    return commit_status(txn->log, mdb_txn_commit(lw));
}

/* Whether `stream` is in the open-addressing set `seen` (cap a power of
 * two, never full); adds it if not. */
static bool seen_before(const char **seen, size_t cap, const char *stream)
{
    for (size_t i = core_hash(stream, strlen(stream)) & (cap - 1);;
         i = (i + 1) & (cap - 1)) {
        if (!seen[i]) {
            seen[i] = stream;
            return false;
        }
        if (strcmp(seen[i], stream) == 0)
            return true;
    }
}

/* The batch's stream versions into the read models: only the newest of
 * each stream (the list is newest first), so a batch of 100 messages to
 * 10 rooms writes 10 keys, not 100. */
static int put_streams(struct evlog_txn *txn)
{
    unsigned char buf[8];
    size_t n = 0, cap = 16;
    int rc = MDB_SUCCESS;

    for (struct evlog_stream_op *op = txn->streams; op; op = op->next)
        n++;
    if (n == 0)
        return CHATD_OK;
    while (cap < 2 * n)
        cap *= 2;
    const char **seen = calloc(cap, sizeof *seen);
    if (!seen)
        return CHATD_ENOMEM;
    for (struct evlog_stream_op *op = txn->streams; op && rc == MDB_SUCCESS;
         op = op->next) {
        if (seen_before(seen, cap, op->stream))
            continue;
        MDB_val k = {strlen(op->stream), op->stream}, v = {8, buf};

        core_be64_put(buf, op->ver);
        rc = mdb_put(txn->mdb, txn->log->streams_dbi, &k, &v, 0);
    }
    free(seen);
    return evlog_status(rc);
}

static int commit_top(struct evlog_txn *txn)
{
    bool appended = txn->keep != NULL;
    int rc = CHATD_OK;

    if (txn->poisoned) {
        mdb_txn_abort(txn->mdb);
        return EVLOG_EREDO;
    }
    rc = put_streams(txn);
    if (rc == CHATD_OK && appended)
        rc = evlog_views_put_applied(txn, txn->next_seq - 1);
    if (rc == CHATD_OK && (appended || txn->metas))
        rc = commit_log(txn);
    if (rc != CHATD_OK) {
        mdb_txn_abort(txn->mdb);
        return rc;
    }
    rc = evlog_status(mdb_txn_commit(txn->mdb));
    if (rc != CHATD_OK && appended) {
        /* The events are durable and may be answered as failed: a client
         * retrying would then find no trace of them in the read models.
         * Stopping here is the only safe move; the next start replays
         * them into the read models from the log. */
        core_log(CORE_LOG_ERROR, "evlog",
                 "events %llu..%llu are in the log but their read models "
                 "could not be committed (%s); stopping so the restart "
                 "replays them",
                 (unsigned long long)evlog_last_seq(txn->log) + 1,
                 (unsigned long long)txn->next_seq - 1, core_strerror(rc));
        abort();
    }
    if (rc == CHATD_OK && appended)
        atomic_store_explicit(&txn->log->last_seq, txn->next_seq - 1,
                              memory_order_release);
    return rc;
}

int evlog_txn_commit(struct evlog_txn *txn)
{
    int rc;

    if (!txn)
        return CHATD_EINVAL;
    if (!txn->mdb || txn->child) {
        evlog_txn_abort(txn);
        return CHATD_ESTATE;
    }
    close_cursors(txn);
    if (txn->parent) {
        child_merge(txn);
        rc = CHATD_OK;
    } else if (txn->write) {
        rc = commit_top(txn);
    } else {
        evlog_rtxn_put(&txn->log->vpool, txn->mdb);
        rc = CHATD_OK;
    }
    txn_free(txn);
    return rc;
}

void evlog_txn_abort(struct evlog_txn *txn)
{
    if (!txn)
        return;
    if (!txn->mdb) { /* emptied by end_live_child */
        free(txn);
        return;
    }
    end_live_child(txn);
    if (txn->parent) {
        child_drop(txn);
        txn_free(txn);
        return;
    }
    close_cursors(txn);
    if (txn->write)
        mdb_txn_abort(txn->mdb);
    else
        evlog_rtxn_put(&txn->log->vpool, txn->mdb);
    txn_free(txn);
}

bool evlog_txn_writable(const struct evlog_txn *txn)
{
    return txn && txn->write;
}

uint64_t evlog_txn_last_seq(struct evlog_txn *txn)
{
    uint64_t last = 0;

    if (!txn || !txn->mdb)
        return 0;
    if (txn->write)
        return txn->next_seq - 1;
    if (last_key(txn, &last) != CHATD_OK)
        return 0;
    return last;
}
