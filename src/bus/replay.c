/*
 * replay.c — the log fed to projections outside the live write path.
 *
 * evlog's rule is one transaction per thread at a time (evlog.h), so a
 * read txn on the source and a write txn on a scratch target are never
 * open together on this thread. So each step copies a bounded
 * chunk of events (evlog_batch, at most `chunk` events and 64 MiB) and
 * applies it in one write txn of the target:
 *   src != dst: read txn on src -> copy -> end; write txn on dst -> apply
 *   src == dst: write txn -> copy through it -> apply -> commit
 * The same path for both also means `apply` gets events in heap memory
 * that no write (not even a child txn or a log append) can move.
 */
#include "bus/replay.h"
#include "core/core.h"

#define DEFAULT_CHUNK 40000
#define CHUNK_BYTES ((size_t)64 << 20)

static int fill_from(struct evlog_batch *b, struct evlog *src,
                     struct evlog_txn *dst_txn, uint64_t after,
                     unsigned chunk)
{
    struct evlog_txn *txn;
    int rc;

    if (dst_txn) /* same environment: read through the write txn */
        return evlog_batch_fill(b, dst_txn, after, chunk, CHUNK_BYTES, NULL);
    rc = evlog_txn_begin(src, false, &txn);
    if (rc != CHATD_OK)
        return rc;
    rc = evlog_batch_fill(b, txn, after, chunk, CHUNK_BYTES, NULL);
    evlog_txn_abort(txn);
    return rc;
}

static int apply_all(const struct evlog_batch *b, struct evlog_txn *txn,
                     replay_apply_fn apply, void *ctx)
{
    struct chatd_event ev;
    size_t n = evlog_batch_count(b);

    for (size_t i = 0; i < n; i++) {
        int rc = evlog_batch_event(b, i, &ev);

        if (rc == CHATD_OK)
            rc = apply(ctx, txn, &ev);
        if (rc != CHATD_OK) {
            core_log(CORE_LOG_ERROR, "replay",
                     "event %llu (%s) could not be applied: %s",
                     (unsigned long long)ev.seq, ev.type ? ev.type : "?",
                     core_strerror(rc));
            return rc;
        }
    }
    return apply(ctx, txn, NULL); /* the chunk's end, before its commit */
}

/* One chunk: *pos advances and *n grows by what was applied; *more is
 * false at the end of the log. */
static int replay_chunk(struct evlog_batch *b, struct evlog *src,
                        struct evlog *dst, uint64_t *pos, unsigned chunk,
                        bool views, replay_apply_fn apply, void *ctx,
                        uint64_t *n, bool *more)
{
    struct evlog_txn *txn = NULL;
    int rc = src == dst ? CHATD_OK : fill_from(b, src, NULL, *pos, chunk);

    if (rc == CHATD_OK)
        rc = evlog_txn_begin(dst, true, &txn);
    if (rc == CHATD_OK && src == dst)
        rc = fill_from(b, src, txn, *pos, chunk);
    if (rc != CHATD_OK)
        goto out_abort_txn;
    *more = evlog_batch_last_seq(b) != 0;
    if (!*more)
        goto out_abort_txn;
    rc = apply_all(b, txn, apply, ctx);
    if (rc == CHATD_OK && views)
        rc = evlog_views_advance(txn, b);
    if (rc != CHATD_OK)
        goto out_abort_txn;
    rc = evlog_txn_commit(txn);
    if (rc == CHATD_OK) {
        *pos = evlog_batch_last_seq(b);
        *n += evlog_batch_count(b);
    }
    return rc;

out_abort_txn:
    evlog_txn_abort(txn);
    return rc;
}

static int run(struct evlog *src, struct evlog *dst, uint64_t after,
               unsigned chunk, bool views, replay_apply_fn apply, void *ctx,
               uint64_t *count_out)
{
    struct evlog_batch *b;
    uint64_t pos = after, n = 0;
    bool more = true;
    int rc;

    if (!src || !dst || !apply)
        return CHATD_EINVAL;
    rc = evlog_batch_new(&b);
    if (rc != CHATD_OK)
        return rc;
    while (rc == CHATD_OK && more)
        rc = replay_chunk(b, src, dst, &pos, chunk ? chunk : DEFAULT_CHUNK,
                          views, apply, ctx, &n, &more);
    evlog_batch_free(b);
    if (count_out)
        *count_out = n;
    return rc;
}

int replay_run(struct evlog *src, struct evlog *dst, uint64_t after,
               unsigned chunk, replay_apply_fn apply, void *ctx,
               uint64_t *count_out)
{
    return run(src, dst, after, chunk, false, apply, ctx, count_out);
}

int replay_run_views(struct evlog *log, uint64_t after, replay_apply_fn apply,
                     void *ctx, uint64_t *count_out)
{
    return run(log, log, after, 0, true, apply, ctx, count_out);
}
