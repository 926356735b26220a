/*
 * deliver — fan-out of committed feed entries and bounded catch-up.
 *
 * Each connection remembers `sent_pos`, the last feed position it was
 * given. An entry goes out live only if it is exactly sent_pos + 1 and the
 * connection is caught up; anything else switches the connection to
 * catch-up, which reads the feed from LMDB in chunks (PUMP_CHUNK entries,
 * and only while the outbound buffer is below the low-water mark) as the
 * socket drains. Live notification is thus an optimisation over reading
 * the feed: whatever order commits, notifications and reconnects happen
 * in, a connection receives pos sent_pos+1, +2, ... with no gap and no
 * repeat, and memory stays bounded by max_outbuf per connection.
 *
 * Read transactions are short and never span a call out of ws (no
 * dispatch, no release inside them: closes are deferred to the flush
 * list), because a thread may hold only one evlog transaction.
 */
#include "ws/internal.h"

#include <stdlib.h>

#include "core/core.h"

#define PUMP_CHUNK 64
/* Feed entries per notify callback, before the loop takes other events
 * (clients' frames, acks) and comes back. Each callback ends with one
 * send(2) per connection it queued frames for, so a group commit split
 * over several callbacks costs several sends per connection: with 10
 * rooms x 100 members a commit holds ~9,000 entries, and 16,384 instead
 * of 4,096 gave 4-6% more deliveries/s and a p50 of 39 instead of 54 ms
 * (bench/ws saturation, back to back), p99 unchanged. */
#define NOTIFY_BUDGET 16384

int deliver_read_last_pos(struct ws_server *ws, const char *user,
                          uint64_t *out)
{
    struct evlog_txn *txn;
    int rc = evlog_txn_begin(ws->deps.log, false, &txn);
    if (rc != CHATD_OK)
        return rc;
    rc = userfeed_last_pos(ws->deps.feed, txn, user, out);
    evlog_txn_abort(txn);
    return rc;
}

void deliver_want_pump(struct conn *c)
{
    struct ws_server *ws = c->ws;
    if (c->state != CONN_LIVE || c->caught_up || c->pump_queued ||
        conn_queued(c) >= ws->low_water)
        return;
    c->pump_queued = true;
    c->refs++;
    c->pump_next = ws->pump_list;
    ws->pump_list = c;
    event_active(ws->ev_pump, EV_READ, 0);
}

/* Formats event `seq` into ws->evcache (kept while the same seq is asked
 * for again: fan-out formats each event once). */
static int load_event(struct ws_server *ws, struct evlog_txn *txn,
                      uint64_t seq)
{
    struct chatd_event ev;
    char *up = NULL;
    size_t uplen = 0;

    if (ws->evcache_seq == seq)
        return CHATD_OK;
    ws->evcache_seq = 0;
    int rc = evlog_get(txn, seq, &ev);
    if (rc == CHATD_OK && ws->deps.upcast) {
        rc = ws->deps.upcast(ws->deps.upcast_ctx, &ev, &up, &uplen);
        if (rc == CHATD_ENOTFOUND) { /* nothing to upcast */
            free(up);
            up = NULL;
            rc = CHATD_OK;
        }
    }
    if (rc != CHATD_OK) {
        core_log(CORE_LOG_ERROR, "ws", "cannot read event %llu for delivery: %s",
                 (unsigned long long)seq, core_strerror(rc));
        return rc;
    }
    wsbuf_reset(&ws->evcache);
    frame_event_object(&ws->evcache, &ev, up ? up : ev.data,
                       up ? uplen : ev.data_len);
    free(up);
    if (ws->evcache.failed)
        return CHATD_ENOMEM;
    ws->evcache_seq = seq;
    return CHATD_OK;
}

/* Queues the cached event at `pos`; false if the connection closed. */
static bool deliver_one(struct conn *c, uint64_t pos)
{
    struct ws_server *ws = c->ws;
    wsbuf_reset(&ws->scratch);
    frame_event(&ws->scratch, pos, ws->evcache.data, ws->evcache.len);
    if (ws->scratch.failed || !conn_queue_text(c, ws->scratch.data,
                                               ws->scratch.len, false))
        return false;
    c->sent_pos = pos;
    ws->deliveries_unpub++;
    conn_flush_later(c);
    return true;
}

/* --- live: entries of newly committed events --- */

struct notify_ctx {
    struct ws_server *ws;
    struct evlog_txn *txn;
    size_t count;
    uint64_t cur_seq, stop_seq;
};

static void notify_conn(struct notify_ctx *nc, struct conn *c, uint64_t seq,
                        uint64_t pos)
{
    if (c->state != CONN_LIVE || pos <= c->sent_pos)
        return;
    if (!c->caught_up || pos != c->sent_pos + 1) {
        c->caught_up = false;
        deliver_want_pump(c);
        return;
    }
    if (load_event(nc->ws, nc->txn, seq) != CHATD_OK) {
        conn_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "cannot read event");
        return;
    }
    /* Queued only: each connection's frames of this callback leave
     * together from conn_flush_pending, one send(2) for all of them. */
    deliver_one(c, pos);
}

static int notify_entry(void *arg, uint64_t seq, const char *user,
                        size_t user_len, uint64_t pos)
{
    struct notify_ctx *nc = arg;
    if (seq != nc->cur_seq) {
        if (nc->count >= NOTIFY_BUDGET) {
            nc->stop_seq = seq;
            return 1;
        }
        nc->cur_seq = seq;
    }
    nc->count++;
    struct wsuser *u = ws_user_find_n(nc->ws, user, user_len);
    for (struct conn *c = u ? u->conns : NULL; c; c = c->unext)
        notify_conn(nc, c, seq, pos);
    return 0;
}

void deliver_notify_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ws_server *ws = arg;
    uint64_t target = atomic_load(&ws->notified_seq);
    struct notify_ctx nc = {.ws = ws};

    if (target <= ws->processed_seq)
        return;
    if (!ws->conns) { /* nobody to tell: skip the read */
        ws->processed_seq = target;
        return;
    }
    int rc = evlog_txn_begin(ws->deps.log, false, &nc.txn);
    if (rc != CHATD_OK) {
        core_log(CORE_LOG_ERROR, "ws", "read txn for delivery: %s",
                 core_strerror(rc));
        return; /* retried at the next notify */
    }
    rc = userfeed_by_seq(ws->deps.feed, nc.txn, ws->processed_seq + 1, target,
                         notify_entry, &nc);
    evlog_txn_abort(nc.txn);
    if (rc == 1) {
        ws->processed_seq = nc.stop_seq - 1;
        event_active(ws->ev_notify, EV_READ, 0);
    } else {
        if (rc != CHATD_OK)
            core_log(CORE_LOG_ERROR, "ws", "reading the feed index: %s",
                     core_strerror(rc));
        ws->processed_seq = target;
    }
    conn_flush_pending(ws);
}

/* --- catch-up --- */

struct pump_ctx {
    struct ws_server *ws;
    struct evlog_txn *txn;
    struct conn *c;
    bool full;
};

static int pump_entry(void *arg, uint64_t pos, uint64_t seq)
{
    struct pump_ctx *pc = arg;
    struct conn *c = pc->c;
    if (pos <= c->sent_pos)
        return 0;
    if (load_event(pc->ws, pc->txn, seq) != CHATD_OK) {
        conn_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "cannot read event");
        return 1;
    }
    if (!deliver_one(c, pos))
        return 1;
    if (conn_queued(c) >= pc->ws->low_water) {
        pc->full = true;
        return 1;
    }
    return 0;
}

static void pump_one(struct pump_ctx *pc)
{
    struct conn *c = pc->c;
    size_t n = 0;
    pc->full = false;
    int rc = userfeed_range(pc->ws->deps.feed, pc->txn, c->user->id,
                            c->sent_pos, PUMP_CHUNK, pump_entry, pc, &n);
    if (c->state != CONN_LIVE)
        return;
    if (rc == CHATD_OK && n < PUMP_CHUNK)
        c->caught_up = true; /* later entries arrive by notification */
    else if (rc != CHATD_OK && rc != 1)
        conn_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "cannot read feed");
    /* Otherwise more is waiting: conn_flush asks again once the buffer is
     * below the low-water mark. */
}

void deliver_pump_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ws_server *ws = arg;
    struct conn *list = ws->pump_list;
    struct pump_ctx pc = {.ws = ws};
    ws->pump_list = NULL;

    int rc = evlog_txn_begin(ws->deps.log, false, &pc.txn);
    if (rc != CHATD_OK)
        core_log(CORE_LOG_ERROR, "ws", "read txn for catch-up: %s",
                 core_strerror(rc));
    for (struct conn *c = list; c; c = c->pump_next) {
        c->pump_queued = false;
        if (pc.txn && c->state == CONN_LIVE && !c->caught_up) {
            pc.c = c;
            pump_one(&pc);
        } else if (!pc.txn) {
            conn_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "storage error");
        }
    }
    if (pc.txn)
        evlog_txn_abort(pc.txn);
    while (list) {
        struct conn *next = list->pump_next;
        list->pump_next = NULL;
        conn_flush_later(list);
        conn_unref(list);
        list = next;
    }
    conn_flush_pending(ws);
}
