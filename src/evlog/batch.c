/*
 * batch.c — events copied out of a transaction.
 *
 * evlog allows one transaction per thread (evlog.h). A
 * subscriber handler may open its own read txn, and replay into another
 * environment needs a write txn there; so both copy a bounded run of
 * encoded records here, end their read txn, and decode from the copy.
 */
#include <stdlib.h>
#include <string.h>

#include "evlog/internal.h"

struct batch_ent {
    uint64_t seq;
    size_t off, len;
};

struct evlog_batch {
    unsigned char *buf;
    size_t len, cap;
    struct batch_ent *ents;
    size_t n, ents_cap;
    uint64_t last_seq;
};

int evlog_batch_new(struct evlog_batch **out)
{
    struct evlog_batch *b = calloc(1, sizeof *b);

    if (!b)
        return CHATD_ENOMEM;
    *out = b;
    return CHATD_OK;
}

void evlog_batch_free(struct evlog_batch *b)
{
    if (!b)
        return;
    free(b->buf);
    free(b->ents);
    free(b);
}

static void batch_reset(struct evlog_batch *b)
{
    b->len = 0;
    b->n = 0;
    b->last_seq = 0;
}

static size_t next_cap(size_t cap, size_t need)
{
    size_t n = cap ? cap : 16;

    while (n < need)
        n *= 2;
    return n;
}

static int batch_add(struct evlog_batch *b, uint64_t seq, const MDB_val *v)
{
    if (b->len + v->mv_size > b->cap) {
        size_t cap = next_cap(b->cap, b->len + v->mv_size);
        unsigned char *nb = realloc(b->buf, cap);

        if (!nb)
            return CHATD_ENOMEM;
        b->buf = nb;
        b->cap = cap;
    }
    if (b->n == b->ents_cap) {
        size_t cap = next_cap(b->ents_cap, b->n + 1);
        struct batch_ent *ne = realloc(b->ents, cap * sizeof *ne);

        if (!ne)
            return CHATD_ENOMEM;
        b->ents = ne;
        b->ents_cap = cap;
    }
    memcpy(b->buf + b->len, v->mv_data, v->mv_size);
    b->ents[b->n++] = (struct batch_ent){seq, b->len, v->mv_size};
    b->len += v->mv_size;
    return CHATD_OK;
}

static bool has_prefix(const char *type, const char *prefix)
{
    return !prefix || strncmp(type, prefix, strlen(prefix)) == 0;
}

/* One record: validate it (so a corrupt record is found while reading,
 * not later), then copy it if its type matches. */
static int batch_take(struct evlog_batch *b, const MDB_val *k,
                      const MDB_val *v, const char *prefix)
{
    struct chatd_event ev;
    uint64_t seq;
    int rc;

    if (k->mv_size != 8)
        return CHATD_EIO;
    seq = core_be64_get(k->mv_data);
    rc = evlog_decode(seq, v->mv_data, v->mv_size, &ev);
    if (rc != CHATD_OK)
        return rc;
    b->last_seq = seq;
    return has_prefix(ev.type, prefix) ? batch_add(b, seq, v) : CHATD_OK;
}

int evlog_batch_fill(struct evlog_batch *b, struct evlog_txn *txn,
                     uint64_t after, uint64_t max_events, size_t max_bytes,
                     const char *prefix)
{
    MDB_cursor *mc;
    MDB_txn *lt;
    MDB_val k, v;
    unsigned char key[8];
    uint64_t seen = 0;
    int rc = evlog_txn_check(txn, false);

    if (rc != CHATD_OK || !b)
        return rc != CHATD_OK ? rc : CHATD_EINVAL;
    batch_reset(b);
    if (after == UINT64_MAX)
        return CHATD_OK;
    rc = evlog_log_snapshot(txn, &lt);
    if (rc != CHATD_OK)
        return rc;
    rc = mdb_cursor_open(lt, txn->log->log_dbi, &mc);
    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    core_be64_put(key, after + 1);
    k = (MDB_val){8, key};
    for (rc = mdb_cursor_get(mc, &k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(mc, &k, &v, MDB_NEXT)) {
        int st = batch_take(b, &k, &v, prefix);

        if (st != CHATD_OK) {
            rc = st;
            goto out_close_cursor;
        }
        if ((max_events && ++seen >= max_events) ||
            (max_bytes && b->len >= max_bytes))
            break;
    }
    rc = rc == MDB_NOTFOUND || rc == MDB_SUCCESS ? CHATD_OK
                                                 : evlog_status(rc);

out_close_cursor:
    mdb_cursor_close(mc);
    if (rc != CHATD_OK)
        batch_reset(b);
    return rc;
}

size_t evlog_batch_count(const struct evlog_batch *b)
{
    return b->n;
}

uint64_t evlog_batch_last_seq(const struct evlog_batch *b)
{
    return b->last_seq;
}

int evlog_batch_event(const struct evlog_batch *b, size_t i,
                      struct chatd_event *out)
{
    if (i >= b->n)
        return CHATD_EINVAL;

    const struct batch_ent *e = &b->ents[i];
    return evlog_decode(e->seq, b->buf + e->off, e->len, out);
}
