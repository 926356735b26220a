/*
 * conn — one upgraded socket: a plain libevent event, recv/send through
 * wslay's callbacks, a wslay context that exists only while bytes move,
 * the bounded outbound buffer, and the close sequence (free our state,
 * then http_upgrade_close exactly once — STACK-NOTES "Close").
 */
#include "ws/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "core/core.h"

/* Socket send buffer of an upgraded connection (the kernel doubles it). */
#define WS_SNDBUF (128 * 1024)
/* The largest out buffer kept once drained; a bigger one (a burst, a
 * catch-up) is freed as soon as it has gone. */
#define PEND_KEEP_MAX (64 * 1024)

static void conn_cb(evutil_socket_t fd, short what, void *arg);

/* --- wslay callbacks --- */

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                       int flags, void *user)
{
    struct conn *c = user;
    if (c->extra) {
        size_t n = c->extra_len - c->extra_off;
        if (n > len)
            n = len;
        memcpy(buf, c->extra + c->extra_off, n);
        c->extra_off += (uint32_t)n;
        if (c->extra_off == c->extra_len) {
            free(c->extra);
            c->extra = NULL;
        }
        tracker_feed(&c->ft, buf, n);
        return (ssize_t)n;
    }
    ssize_t r = recv(c->fd, buf, len, 0);
    if (r > 0) {
        tracker_feed(&c->ft, buf, (size_t)r);
        c->last_rx_ms = ws_now_ms();
        c->io_recent = true;
        return r;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    } else {
        c->eof = true;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

/*
 * wslay hands us each frame in two calls (its header, then its payload)
 * and each queued message as its own frame. Written as they come, every
 * frame would cost a syscall and a TCP segment or two, and on loopback the
 * sender also pays for the peer's receive path. So on_send only copies
 * into ws->stage, and conn_write sends the stage: every frame the
 * connection has queued leaves in one send(2) per WS_STAGE bytes. What the
 * socket refuses stays in c->pend (allocated only then) and goes first
 * when the socket is writable again; wslay is not asked for more until it
 * has gone.
 */
static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data,
                       size_t len, int flags, void *user)
{
    struct conn *c = user;
    struct ws_server *ws = c->ws;
    size_t room = sizeof ws->stage - ws->stage_len;
    (void)flags;
    if (room == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > room)
        len = room;
    memcpy(ws->stage + ws->stage_len, data, len);
    ws->stage_len += len;
    return (ssize_t)len;
}

/* Sends p[0..n); returns the bytes the socket took (0 when it is full) or
 * -1 when the connection is broken (c->eof set). */
static ssize_t send_some(struct conn *c, const uint8_t *p, size_t n)
{
    ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
    if (r > 0) {
        c->io_recent = true;
        return r;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    c->eof = true;
    return -1;
}

/* Room for n more bytes at the end of c->pend (moving what is left of it
 * to the front first). False if out of memory. */
static bool pend_reserve(struct conn *c, size_t n)
{
    size_t used = c->pend_len - c->pend_off;
    if (c->pend_off > 0 && c->pend_len + n > c->pend_cap) {
        memmove(c->pend, c->pend + c->pend_off, used);
        c->pend_len = (uint32_t)used;
        c->pend_off = 0;
    }
    if (used + n <= c->pend_cap)
        return true;
    if (used + n > UINT32_MAX)
        return false;
    /* small at first: most connections only ever hold a frame or two */
    size_t cap = c->pend_cap ? (size_t)c->pend_cap * 2 : 512;
    while (cap < used + n)
        cap *= 2;
    if (cap > UINT32_MAX)
        cap = UINT32_MAX;
    char *np = realloc(c->pend, cap);
    if (!np)
        return false;
    c->pend = np;
    c->pend_cap = (uint32_t)cap;
    return true;
}

static void pend_free(struct conn *c)
{
    free(c->pend);
    c->pend = NULL;
    c->pend_len = c->pend_off = c->pend_cap = 0;
}

/* Whether c->pend is empty (sent now or already). Its buffer (up to
 * PEND_KEEP_MAX) stays for the next round (freeing and growing it again
 * each time costs more than the sending); conn_sweep frees it once the
 * connection is quiet. */
static bool write_pend(struct conn *c)
{
    if (c->pend_len == 0)
        return true;
    ssize_t r = send_some(c, (const uint8_t *)c->pend + c->pend_off,
                          c->pend_len - c->pend_off);
    if (r < 0)
        return false;
    c->pend_off += (uint32_t)r;
    if (c->pend_off < c->pend_len)
        return false;
    c->pend_len = c->pend_off = 0;
    if (c->pend_cap > PEND_KEEP_MAX) /* a burst's: not kept for ever */
        pend_free(c);
    return true;
}

/* Keeps the stage's unsent tail [off, stage_len) in c->pend (empty). */
static void keep_rest(struct conn *c, size_t off)
{
    struct ws_server *ws = c->ws;
    size_t n = ws->stage_len - off;
    if (!pend_reserve(c, n)) {
        c->eof = true;
        return;
    }
    memcpy(c->pend + c->pend_len, ws->stage + off, n);
    c->pend_len += (uint32_t)n;
}

/*
 * Our own text messages (feed entries, answers, presence) do not go
 * through wslay's queue, which allocates and copies every message twice
 * and frees it again once sent: one shared wslay frame encoder writes each
 * frame straight to the end of the connection's c->pend, which goes out
 * before anything more of wslay's. wslay's queue keeps what wslay sends by
 * itself (pong, close) and our ping, and our text too while it holds
 * anything (so nothing overtakes a message it has begun).
 */
static ssize_t framer_send(const uint8_t *data, size_t len, int flags,
                           void *user)
{
    struct conn *c = ((struct ws_server *)user)->framer_conn;
    (void)flags;
    /* conn_queue_text reserved the whole frame: this always fits */
    memcpy(c->pend + c->pend_len, data, len);
    c->pend_len += (uint32_t)len;
    return (ssize_t)len;
}

static const struct wslay_frame_callbacks framer_callbacks = {
    .send_callback = framer_send,
};

int conn_framer_init(struct ws_server *ws)
{
    return wslay_frame_context_init(&ws->framer, &framer_callbacks, ws) == 0
               ? CHATD_OK
               : CHATD_ENOMEM;
}

void conn_framer_free(struct ws_server *ws)
{
    if (ws->framer)
        wslay_frame_context_free(ws->framer);
    ws->framer = NULL;
}

/* Frames text s[0..n) into c->pend; false if out of memory. */
static bool frame_into_pend(struct conn *c, const char *s, size_t n)
{
    struct ws_server *ws = c->ws;
    if (!pend_reserve(c, n + 14)) /* the longest server frame header */
        return false;
    struct wslay_frame_iocb io = {.fin = 1,
                                  .opcode = WSLAY_TEXT_FRAME,
                                  .payload_length = n,
                                  .data = (const uint8_t *)s,
                                  .data_length = n};
    ws->framer_conn = c;
    ssize_t r = wslay_frame_send(ws->framer, &io);
    ws->framer_conn = NULL;
    return r == (ssize_t)n;
}

/* Moves what is queued to the socket until it is empty or full. */
static void conn_write(struct conn *c)
{
    struct ws_server *ws = c->ws;
    if (c->eof || !write_pend(c))
        return;
    while (c->wctx && wslay_event_want_write(c->wctx)) {
        ws->stage_len = 0;
        if (wslay_event_send(c->wctx) != 0) {
            c->eof = true;
            return;
        }
        if (ws->stage_len == 0)
            return;
        ssize_t r = send_some(c, ws->stage, ws->stage_len);
        if (r < 0)
            return;
        if ((size_t)r < ws->stage_len) {
            keep_rest(c, (size_t)r);
            return;
        }
    }
}

static void on_msg(wslay_event_context_ptr ctx,
                   const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
    struct conn *c = user;
    if (c->state == CONN_CLOSING || c->state == CONN_DEAD)
        return;
    if (arg->opcode == WSLAY_TEXT_FRAME) {
        proto_handle_text(c, (const char *)arg->msg, arg->msg_length);
    } else if (arg->opcode == WSLAY_BINARY_FRAME) {
        conn_close(c, WSLAY_CODE_UNSUPPORTED_DATA, "text frames only");
    }
    /* Close and ping are answered by wslay itself. */
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = on_recv,
    .send_callback = on_send,
    .on_msg_recv_callback = on_msg,
};

static wslay_event_context_ptr conn_ctx(struct conn *c)
{
    if (!c->wctx) {
        if (wslay_event_context_server_init(&c->wctx, &callbacks, c) != 0) {
            c->wctx = NULL;
            return NULL;
        }
        wslay_event_config_set_max_recv_msg_length(c->wctx,
                                                   c->ws->opt.max_message);
    }
    return c->wctx;
}

/* --- life cycle --- */

struct conn *conn_new(struct ws_server *ws, int sock, void *urh,
                      const char *extra, size_t extra_len)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ws = ws;
    c->fd = sock;
    c->urh = urh;
    c->refs = 1;
    c->state = CONN_AUTH;
    c->last_rx_ms = c->last_ping_ms = ws_now_ms();
    c->deadline_ms = c->last_rx_ms + (int64_t)ws->opt.auth_timeout_s * 1000;
    if (extra_len > 0) {
        c->extra = malloc(extra_len);
        if (!c->extra) {
            free(c);
            return NULL;
        }
        memcpy(c->extra, extra, extra_len);
        c->extra_len = (uint32_t)extra_len;
    }
    /* Bound the kernel's share too: autotuning would let a stalled reader
     * park megabytes in the socket before max_outbuf is ever reached. */
    int sndbuf = WS_SNDBUF, one = 1, zero = 0;
    setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    /* Small frames must leave at once: no Nagle, and no cork left over
     * from the HTTP response (each would add up to 40-200 ms). */
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(sock, IPPROTO_TCP, TCP_CORK, &zero, sizeof zero);
    c->next = ws->conns;
    if (ws->conns)
        ws->conns->prev = c;
    ws->conns = c;
    atomic_fetch_add(&ws->nconns, 1);
    event_assign(&c->ev, ws->deps.base, sock, EV_READ | EV_PERSIST, conn_cb, c);
    if (event_add(&c->ev, NULL) == 0)
        c->evflags = EV_READ;
    if (c->extra) /* pipelined bytes: parse them without waiting */
        event_active(&c->ev, EV_READ, 0);
    return c;
}

void conn_unref(struct conn *c)
{
    if (--c->refs > 0)
        return;
    pend_free(c);
    free(c->extra);
    free(c);
}

size_t conn_queued(const struct conn *c)
{
    return (c->pend_len - c->pend_off) +
           (c->wctx ? wslay_event_get_queued_msg_length(c->wctx) : 0);
}

/* Reads what the kernel still holds, so close(2) by MHD sends FIN rather
 * than RST (an RST can destroy our close frame in the peer's buffer). */
static void drain_input(int fd)
{
    char buf[4096];
    for (int i = 0; i < 16; i++) {
        if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0)
            break;
    }
}

void conn_release(struct conn *c)
{
    struct ws_server *ws = c->ws;
    if (c->state == CONN_DEAD)
        return;
    c->state = CONN_DEAD;
    event_del(&c->ev);
    c->evflags = 0;
    if (c->wctx) {
        wslay_event_context_free(c->wctx);
        c->wctx = NULL;
    }
    ws_user_detach(ws, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        ws->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    atomic_fetch_sub(&ws->nconns, 1);
    if (ws->m_conns)
        metrics_set(ws->m_conns, (int64_t)atomic_load(&ws->nconns));
    if (!c->eof) {
        shutdown(c->fd, SHUT_WR);
        drain_input(c->fd);
    }
    http_upgrade_close(c->urh);
    c->urh = NULL;
    c->fd = -1;
    conn_unref(c);
}

void conn_close(struct conn *c, uint16_t code, const char *reason)
{
    if (c->state == CONN_CLOSING || c->state == CONN_DEAD)
        return;
    c->state = CONN_CLOSING;
    c->deadline_ms = ws_now_ms() + c->ws->opt.close_linger_ms;
    wslay_event_context_ptr ctx = conn_ctx(c);
    if (ctx)
        wslay_event_shutdown_read(ctx);
    if (!ctx || wslay_event_queue_close(ctx, code, (const uint8_t *)reason,
                                        reason ? strlen(reason) : 0) != 0)
        c->eof = true; /* cannot say goodbye: just release */
    conn_flush_later(c);
}

bool conn_queue_text(struct conn *c, const char *s, size_t n, bool droppable)
{
    struct ws_server *ws = c->ws;
    if (c->state == CONN_CLOSING || c->state == CONN_DEAD)
        return false;
    size_t queued = conn_queued(c);
    if (droppable && queued + n > ws->opt.max_outbuf / 2)
        return false;
    if (queued + n > ws->opt.max_outbuf) {
        ws_metric_add(ws->m_slow, 1);
        core_log(CORE_LOG_INFO, "ws",
                 "closing slow consumer (user %s): %zu bytes queued, limit "
                 "%zu",
                 c->user ? c->user->id : "-", queued, ws->opt.max_outbuf);
        conn_close(c, WS_CLOSE_SLOW_CONSUMER, "slow consumer");
        return false;
    }
    int rc;
    if (c->wctx && wslay_event_get_close_sent(c->wctx))
        return false;
    if (!c->wctx || !wslay_event_want_write(c->wctx)) {
        rc = frame_into_pend(c, s, n) ? 0 : WSLAY_ERR_NOMEM;
    } else {
        struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)s, n};
        rc = wslay_event_queue_msg(c->wctx, &m);
    }
    if (rc == WSLAY_ERR_NO_MORE_MSG) /* wslay is closing it already */
        return false;
    if (rc != 0) {
        c->eof = true;
        conn_flush_later(c);
        return false;
    }
    ws->frames_unpub++;
    return true;
}

static void update_events(struct conn *c)
{
    short want = 0;
    if (!c->eof && c->state != CONN_CLOSING)
        want |= EV_READ;
    if (c->pend_len > 0 || (c->wctx && wslay_event_want_write(c->wctx)))
        want |= EV_WRITE;
    if (want == c->evflags)
        return;
    event_del(&c->ev);
    event_assign(&c->ev, c->ws->deps.base, c->fd, want | EV_PERSIST, conn_cb,
                 c);
    c->evflags = 0;
    if (want && event_add(&c->ev, NULL) == 0)
        c->evflags = (uint8_t)want;
}

void conn_flush(struct conn *c)
{
    if (c->state == CONN_DEAD)
        return;
    conn_write(c);
    if (c->eof || (c->pend_len == 0 && c->wctx &&
                   wslay_event_get_close_sent(c->wctx))) {
        conn_release(c);
        return;
    }
    update_events(c);
    if (c->state == CONN_LIVE && conn_queued(c) < c->ws->low_water)
        deliver_want_pump(c);
}

void conn_flush_later(struct conn *c)
{
    if (c->flush_queued || c->state == CONN_DEAD)
        return;
    c->flush_queued = true;
    c->refs++;
    c->flush_next = c->ws->flush_list;
    c->ws->flush_list = c;
}

void conn_flush_pending(struct ws_server *ws)
{
    if (ws->frames_unpub) {
        ws_metric_add(ws->m_frames, (int64_t)ws->frames_unpub);
        ws->frames_unpub = 0;
    }
    if (ws->deliveries_unpub) {
        ws_metric_add(ws->m_deliveries, (int64_t)ws->deliveries_unpub);
        ws->deliveries_unpub = 0;
    }
    while (ws->flush_list) {
        struct conn *c = ws->flush_list;
        ws->flush_list = c->flush_next;
        c->flush_next = NULL;
        c->flush_queued = false;
        conn_flush(c);
        conn_unref(c);
    }
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct ws_server *ws = c->ws;
    c->refs++; /* frame handlers may close it */
    if ((what & EV_READ) && c->state != CONN_CLOSING) {
        wslay_event_context_ptr ctx = conn_ctx(c);
        if (!ctx || wslay_event_recv(ctx) != 0) {
            c->eof = c->eof || !ctx;
            /* wslay queued a close (protocol error) or the peer is gone. */
            if (ctx && !c->eof && c->state != CONN_CLOSING) {
                c->state = CONN_CLOSING;
                c->deadline_ms = ws_now_ms() + ws->opt.close_linger_ms;
            }
        }
        if (ctx && !c->eof && !wslay_event_get_read_enabled(ctx) &&
            c->state != CONN_CLOSING) {
            /* wslay answered a protocol error or a close from the peer */
            c->state = CONN_CLOSING;
            c->deadline_ms = ws_now_ms() + ws->opt.close_linger_ms;
        }
    }
    conn_flush(c);
    conn_flush_pending(ws);
    conn_unref(c);
}

/* --- timers (the sweeper, every 250 ms) --- */

static void maybe_free_ctx(struct conn *c)
{
    if (!c->wctx || c->io_recent || c->extra || c->pend_len > 0 ||
        !tracker_at_boundary(&c->ft) || wslay_event_want_write(c->wctx) ||
        wslay_event_get_queued_msg_count(c->wctx) > 0)
        return;
    wslay_event_context_free(c->wctx);
    c->wctx = NULL;
}

void conn_sweep(struct conn *c, int64_t now)
{
    struct ws_server *ws = c->ws;
    const struct ws_options *o = &ws->opt;
    switch (c->state) {
    case CONN_AUTH:
        if (now >= c->deadline_ms) {
            conn_close(c, WSLAY_CODE_POLICY_VIOLATION, "auth timeout");
            return;
        }
        break;
    case CONN_HOLD:
        if (now >= c->deadline_ms) {
            c->state = CONN_LIVE;
            deliver_want_pump(c);
        }
        break;
    case CONN_CLOSING:
        if (now >= c->deadline_ms)
            conn_release(c);
        return;
    default:
        break;
    }
    if (now - c->last_rx_ms >= (int64_t)o->idle_timeout_s * 1000) {
        conn_close(c, WSLAY_CODE_GOING_AWAY, "idle timeout");
        return;
    }
    if (c->token_expires_ms > 0 && core_now_ms() >= c->token_expires_ms) {
        conn_close(c, WSLAY_CODE_POLICY_VIOLATION, "token expired");
        return;
    }
    if (now - c->last_ping_ms >= (int64_t)o->ping_interval_s * 1000) {
        wslay_event_context_ptr ctx = conn_ctx(c);
        struct wslay_event_msg ping = {WSLAY_PING, (const uint8_t *)"", 0};
        c->last_ping_ms = now;
        if (ctx && wslay_event_queue_msg(ctx, &ping) == 0)
            conn_flush_later(c);
        return;
    }
    maybe_free_ctx(c);
    if (!c->io_recent && c->pend_len == 0)
        pend_free(c); /* quiet: an idle connection keeps no buffer */
    c->io_recent = false;
}
