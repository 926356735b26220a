/*
 * log.c — the append-only log and stream versions.
 *
 * Records are only ever added with MDB_APPEND at the end of "log" (by the
 * top-level commit, txn.c) and never rewritten or deleted: nothing calls
 * mdb_del on it. Stream versions live with the read models: they are what
 * the log says, and are rebuilt from it with them; like the records they
 * wait in the txn until the top-level commit.
 */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "evlog/internal.h"

static bool stream_ok(const char *stream)
{
    size_t len = stream ? strlen(stream) : 0;

    return len > 0 && len <= EVLOG_STREAM_MAX;
}

static int stream_get(struct evlog_txn *txn, const char *stream,
                      uint64_t *out)
{
    for (const struct evlog_txn *t = txn; t; t = t->parent)
        for (const struct evlog_stream_op *op = t->streams; op; op = op->next)
            if (strcmp(op->stream, stream) == 0) {
                *out = op->ver;
                return CHATD_OK;
            }
    return evlog_mdb_get_u64(txn->mdb, txn->log->streams_dbi, stream,
                             strlen(stream), true, out);
}

int evlog_stream_version(struct evlog_txn *txn, const char *stream,
                         uint64_t *out)
{
    int rc = evlog_txn_check(txn, false);

    if (rc != CHATD_OK)
        return rc;
    if (!stream_ok(stream) || !out)
        return CHATD_EINVAL;
    return stream_get(txn, stream, out);
}

/* Kept with the txn until the top-level commit (txn.c writes it). */
static int stream_put(struct evlog_txn *txn, const char *stream,
                      uint64_t ver)
{
    size_t len = strlen(stream);
    struct evlog_stream_op *op = malloc(sizeof *op + len + 1);

    if (!op)
        return CHATD_ENOMEM;
    op->ver = ver;
    memcpy(op->stream, stream, len + 1);
    op->next = txn->streams;
    txn->streams = op;
    return CHATD_OK;
}

/* The record waits in the txn until the top-level commit writes it to
 * the log; `out` points into that copy, which no later write moves. */
static int put_record(struct evlog_txn *txn, const struct chatd_event *e,
                      struct chatd_event *out)
{
    size_t size = evlog_codec_size(e);
    struct evlog_keep *keep = malloc(sizeof *keep + size);
    int rc = CHATD_OK;

    if (!keep)
        return CHATD_ENOMEM;
    keep->seq = e->seq;
    keep->len = size;
    evlog_codec_encode(e, keep->rec);
    if (out)
        rc = evlog_decode(e->seq, keep->rec, size, out);
    if (rc != CHATD_OK) {
        free(keep);
        return rc;
    }
    keep->next = txn->keep;
    txn->keep = keep;
    return CHATD_OK;
}

int evlog_append(struct evlog_txn *txn, const struct chatd_event *ev,
                 uint64_t expected_ver, struct chatd_event *out)
{
    uint64_t cur;
    int rc = evlog_txn_check(txn, true);

    if (rc != CHATD_OK)
        return rc;
    if (!ev || evlog_codec_check(ev) != CHATD_OK)
        return CHATD_EINVAL;
    rc = stream_get(txn, ev->stream, &cur);
    if (rc != CHATD_OK)
        return rc;
    if (expected_ver != CHATD_ANY_VERSION && expected_ver != cur)
        return CHATD_ECONFLICT;

    struct chatd_event e = *ev;
    e.seq = txn->next_seq;
    e.stream_ver = cur + 1;
    if (e.time_ms == 0)
        e.time_ms = core_now_ms();
    /* Room in the log first; the record before the stream version, whose
     * failure (out of memory) then takes the record back. */
    rc = evlog_reserve(txn, evlog_codec_size(&e));
    if (rc == CHATD_OK)
        rc = put_record(txn, &e, out);
    if (rc != CHATD_OK)
        return rc;
    rc = stream_put(txn, e.stream, e.stream_ver);
    if (rc != CHATD_OK) {
        struct evlog_keep *k = txn->keep;

        txn->keep = k->next;
        free(k);
        return rc;
    }
    txn->next_seq++;
    return CHATD_OK;
}

/* An event appended by txn or its parents and not yet committed. */
static const struct evlog_keep *pending_find(const struct evlog_txn *txn,
                                             uint64_t seq)
{
    for (; txn; txn = txn->parent)
        for (const struct evlog_keep *k = txn->keep; k; k = k->next)
            if (k->seq == seq)
                return k;
    return NULL;
}

int evlog_get(struct evlog_txn *txn, uint64_t seq, struct chatd_event *out)
{
    unsigned char key[8];
    const struct evlog_keep *kept;
    MDB_val k = {8, key}, v;
    MDB_txn *lt;
    int rc = evlog_txn_check(txn, false);

    if (rc != CHATD_OK)
        return rc;
    if (!out)
        return CHATD_EINVAL;
    kept = txn->write ? pending_find(txn, seq) : NULL;
    if (kept)
        return evlog_decode(seq, kept->rec, kept->len, out);
    rc = evlog_log_snapshot(txn, &lt);
    if (rc != CHATD_OK)
        return rc;
    core_be64_put(key, seq);
    rc = mdb_get(lt, txn->log->log_dbi, &k, &v);
    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    return evlog_decode(seq, v.mv_data, v.mv_size, out);
}

/* Positions mc on the first record with seq > after. */
static int seek_after(MDB_cursor *mc, uint64_t after, MDB_val *k, MDB_val *v)
{
    unsigned char key[8];

    if (after == UINT64_MAX)
        return MDB_NOTFOUND;
    core_be64_put(key, after + 1);
    *k = (MDB_val){8, key};
    return mdb_cursor_get(mc, k, v, MDB_SET_RANGE);
}

static int record_decode(const MDB_val *k, const MDB_val *v,
                         struct chatd_event *out)
{
    if (k->mv_size != 8)
        return CHATD_EIO;
    return evlog_decode(core_be64_get(k->mv_data), v->mv_data, v->mv_size,
                        out);
}

int evlog_scan(struct evlog_txn *txn, uint64_t after, uint64_t limit,
               evlog_scan_fn fn, void *arg)
{
    MDB_cursor *mc;
    MDB_val k, v;
    struct chatd_event ev;
    uint64_t seen = 0;
    MDB_txn *lt;
    int rc = evlog_txn_check(txn, false);

    if (rc != CHATD_OK)
        return rc;
    if (!fn)
        return CHATD_EINVAL;
    rc = evlog_log_snapshot(txn, &lt);
    if (rc != CHATD_OK)
        return rc;
    rc = mdb_cursor_open(lt, txn->log->log_dbi, &mc);
    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    for (rc = seek_after(mc, after, &k, &v); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(mc, &k, &v, MDB_NEXT)) {
        int st = record_decode(&k, &v, &ev);

        if (st == CHATD_OK)
            st = fn(arg, &ev);
        if (st != CHATD_OK) {
            mdb_cursor_close(mc);
            return st;
        }
        if (limit && ++seen >= limit)
            break;
    }
    mdb_cursor_close(mc);
    return rc == MDB_NOTFOUND || rc == MDB_SUCCESS ? CHATD_OK
                                                   : evlog_status(rc);
}
