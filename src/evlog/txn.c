/*
 * txn.c — read, write and child transactions.
 *
 * The next seq lives in the txn, not in the log: a top-level write txn reads
 * the last key of "log" when it begins, a child starts from its parent's
 * counter, committing a child hands the counter back to the parent, and
 * aborting a child simply drops it. So a discarded job leaves no gap.
 */
#include <stdlib.h>

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

static int last_key(struct evlog_txn *txn, uint64_t *out)
{
    MDB_cursor *mc;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn->mdb, txn->log->log_dbi, &mc);

    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    rc = mdb_cursor_get(mc, &k, &v, MDB_LAST);
    mdb_cursor_close(mc);
    if (rc == MDB_NOTFOUND) {
        *out = 0;
        return CHATD_OK;
    }
    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    if (k.mv_size != 8)
        return CHATD_EIO;
    *out = evlog_be64_get(k.mv_data);
    return CHATD_OK;
}

static int txn_new(struct evlog *log, struct evlog_txn *parent, bool write,
                   struct evlog_txn **out)
{
    struct evlog_txn *txn = calloc(1, sizeof *txn);
    unsigned flags = write ? 0 : MDB_RDONLY;
    int rc;

    if (!txn)
        return CHATD_ENOMEM;
    txn->log = log;
    txn->parent = parent;
    txn->write = write;
    rc = mdb_txn_begin(log->env, parent ? parent->mdb : NULL, flags,
                       &txn->mdb);
    if (rc != MDB_SUCCESS) {
        free(txn);
        return evlog_status(rc);
    }
    *out = txn;
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
        rc = last_key(txn, &last);
        if (rc != CHATD_OK) {
            mdb_txn_abort(txn->mdb);
            free(txn);
            return rc;
        }
        txn->next_seq = last + 1;
    }
    *out = txn;
    return CHATD_OK;
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

static void free_keep(struct evlog_keep *k)
{
    for (struct evlog_keep *next; k; k = next) {
        next = k->next;
        free(k);
    }
}

static void txn_free(struct evlog_txn *txn)
{
    if (txn->parent)
        txn->parent->child = NULL;
    free_keep(txn->keep);
    free(txn);
}

/* Ending a parent while a child lives is a caller's bug, but LMDB would
 * free the child's MDB_txn under our wrapper. So end the child (and its
 * own children) here and leave its wrapper empty: the caller's later
 * commit/abort of it only frees the wrapper. */
static void end_live_child(struct evlog_txn *txn)
{
    struct evlog_txn *c = txn->child;

    if (!c)
        return;
    end_live_child(c);
    close_cursors(c);
    mdb_txn_abort(c->mdb);
    c->mdb = NULL;
    free_keep(c->keep);
    c->keep = NULL;
    c->parent = NULL;
    txn->child = NULL;
}

/* A child's appends become the parent's: its seq counter and the copies
 * its `out` events point into. */
static void child_merge(struct evlog_txn *child)
{
    struct evlog_txn *parent = child->parent;
    struct evlog_keep **tail = &child->keep;

    parent->next_seq = child->next_seq;
    while (*tail)
        tail = &(*tail)->next;
    *tail = parent->keep;
    parent->keep = child->keep;
    child->keep = NULL;
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
    rc = evlog_status(mdb_txn_commit(txn->mdb));
    if (rc == CHATD_OK && txn->parent)
        child_merge(txn);
    else if (rc == CHATD_OK && txn->write)
        atomic_store_explicit(&txn->log->last_seq, txn->next_seq - 1,
                              memory_order_release);
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
    close_cursors(txn);
    mdb_txn_abort(txn->mdb);
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
