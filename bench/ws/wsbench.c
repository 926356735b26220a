/*
 * wsbench — WebSocket load client (libevent + wslay), 127.0.0.1 only. The
 * same client drives chatd and, for comparison, nats-server's WebSocket
 * listener (NATS protocol inside WebSocket frames). Every loop is bounded
 * in count and time.
 *
 *   wsbench fanout       PORT ADMIN_TOKEN ROOMS MEMBERS RATE SECONDS [PID]
 *   wsbench nats-fanout  PORT ROOMS MEMBERS RATE SECONDS [PID]
 *       ROOMS x MEMBERS connections (chatd: one user each, header auth;
 *       NATS: CONNECT + SUB room.R); the first member of each room posts
 *       so that RATE messages/s are posted in total (chatd: `send` frames,
 *       answered by an `ack` after the durable commit; NATS: PUB room.R).
 *       RATE 0 = as fast as possible (saturation) with at most 32 posts in
 *       flight per sender (chatd: unacknowledged `send`s, the server's
 *       limit; NATS: PUBs not yet confirmed by the PONG of a PING sent
 *       after them). Every member, the sender too, receives each message.
 *       Reports deliveries/s and post->deliver latency p50/p99 (the send
 *       time travels in the message text, read at the receiving client).
 *   wsbench idle         PORT ADMIN_TOKEN N1 N2 SERVER_PID
 *   wsbench nats-idle    PORT N1 N2 SERVER_PID
 *       opens N1 idle connections (chatd: authenticated, hello read;
 *       NATS: CONNECT, one SUB, PING answered), reads the server's VmRSS,
 *       then up to N2, reads it again: RSS per idle connection.
 *
 * Receiving: frames are parsed with wslay's frame API and text frames
 * checked for UTF-8 (RFC 6455 requires it) with the server's own
 * validator, which takes ASCII eight bytes at a time. wslay's event API
 * checks a byte at a time and copies every message into a fresh buffer:
 * with chatd's JSON text frames that was 58% of this client's CPU (NATS
 * frames are binary, so it never paid for it), and the client, not the
 * server, bounded the saturation figure.
 *
 * With PID, the server's CPU time over the measurement window is read
 * from /proc. The last line of every run is `RESULT {json}` for
 * bench/peers/compare.py.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "core/core.h"

#define MAX_LAT (4u << 20)
#define TEXT_LEN 160      /* message text: "t=<ns> " padded with 'x' */
#define SAT_INFLIGHT 32   /* saturation: posts in flight per sender */
#define NATS_PING_EVERY 8 /* NATS saturation: a PING after this many PUBs */
#define PINGQ 256

enum proto { P_CHATD, P_NATS };

static enum proto g_proto;
static uint16_t g_port;
static const char *g_admin;
static struct event_base *g_base;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of a process, seconds; -1 if unknown. */
static double proc_cpu_s(int pid)
{
    char path[64], buf[2048];
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                            "%lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* --- a tiny blocking HTTP client for chatd's set-up --- */

static int tcp_connect(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* POSTs body; copies the response body into out (NUL-terminated). */
static int http_post(const char *path, const char *token, const char *body,
                     char *out, size_t outsz)
{
    char req[8192], buf[65536];
    int fd = tcp_connect();
    int n = snprintf(req, sizeof req,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                     "Bearer %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     path, token, strlen(body), body);
    if (write(fd, req, (size_t)n) != n)
        exit(1);
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = 0;
    close(fd);
    int status = 0;
    sscanf(buf, "HTTP/1.1 %d", &status);
    char *b = strstr(buf, "\r\n\r\n");
    snprintf(out, outsz, "%s", b ? b + 4 : "");
    return status;
}

/* chatd's commit counters from GET /metrics: group commits, events, and
 * seconds spent in the synced commit. Zero if unavailable. */
struct commit_ctr {
    double batches, events, commit_s;
};

static double metric(const char *text, const char *name)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\n%s ", name);
    const char *p = strstr(text, pat);
    return p ? strtod(p + strlen(pat), NULL) : 0;
}

static struct commit_ctr chatd_commits(void)
{
    static char buf[1 << 16];
    struct commit_ctr c = {0};
    char req[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Connection: close\r\n\r\n";
    if (g_proto != P_CHATD)
        return c;
    int fd = tcp_connect();
    if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
        close(fd);
        return c;
    }
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = 0;
    close(fd);
    c.batches = metric(buf, "chatd_commit_batches_total");
    c.events = metric(buf, "chatd_events_appended_total");
    c.commit_s = metric(buf, "chatd_commit_duration_seconds_sum");
    return c;
}

/* Extracts the string value of "key" (first occurrence). */
static void json_str(const char *json, const char *key, char *out, size_t n)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    out[0] = 0;
    if (!p)
        return;
    p += strlen(pat);
    size_t i = 0;
    while (*p && *p != '"' && i + 1 < n)
        out[i++] = *p++;
    out[i] = 0;
}

struct user {
    char id[64], token[128];
};

static void make_user(struct user *u, int i)
{
    char body[128], resp[4096];
    snprintf(body, sizeof body, "{\"name\":\"b%d_%d\"}", (int)getpid(), i);
    if (http_post("/v1/users", g_admin, body, resp, sizeof resp) != 201) {
        fprintf(stderr, "create user: %s\n", resp);
        exit(1);
    }
    json_str(resp, "id", u->id, sizeof u->id);
    json_str(resp, "token", u->token, sizeof u->token);
}

/* --- connections --- */

struct conn {
    int fd;
    struct event *ev;
    wslay_event_context_ptr ctx;          /* sending (and pongs, close) */
    struct wslay_frame_context *rframe;  /* receiving */
    /* the message being received: its first frame's opcode, its bytes */
    uint8_t mop;
    char *mbuf;
    size_t mlen, mcap;
    uint64_t foff; /* bytes of the current frame's payload read */
    uint8_t cbuf[125]; /* a control frame's payload */
    size_t clen;
    struct user *u;  /* chatd */
    char room[64];   /* chatd room id, or the NATS subject */
    bool sender, hello;
    unsigned inflight;
    uint64_t received;
    /* NATS: the byte stream inside the frames, and flow control */
    char *nbuf;
    size_t nlen, ncap;
    unsigned unpinged;       /* PUBs sent since the last PING */
    unsigned pingq[PINGQ];   /* PUBs covered by each outstanding PING */
    unsigned ping_head, ping_n;
};

static uint64_t *g_lat;
static size_t g_nlat;
static uint64_t g_deliveries, g_acks, g_sent, g_errors, g_rejected;
static bool g_measure;

static ssize_t c_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                      int flags, void *user)
{
    struct conn *c = user;
    ssize_t r = recv(c->fd, buf, len, 0);
    if (r > 0)
        return r;
    wslay_event_set_error(ctx, (r < 0 && errno == EAGAIN)
                                   ? WSLAY_ERR_WOULDBLOCK
                                   : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t f_recv(uint8_t *buf, size_t len, int flags, void *user)
{
    struct conn *c = user;
    ssize_t r = recv(c->fd, buf, len, 0);
    (void)flags;
    if (r > 0)
        return r;
    return (r < 0 && errno == EAGAIN) ? WSLAY_ERR_WANT_READ : WSLAY_ERR_PROTO;
}

static ssize_t f_send_unused(const uint8_t *data, size_t len, int flags,
                             void *user)
{
    (void)data, (void)len, (void)flags, (void)user;
    return WSLAY_ERR_PROTO; /* this frame context only receives */
}

static int f_mask_unused(uint8_t *buf, size_t len, void *user)
{
    (void)buf, (void)len, (void)user;
    return 0;
}

static const struct wslay_frame_callbacks fcbs = {f_send_unused, f_recv,
                                                  f_mask_unused};

static ssize_t c_send(wslay_event_context_ptr ctx, const uint8_t *data,
                      size_t len, int flags, void *user)
{
    struct conn *c = user;
    ssize_t r = send(c->fd, data, len, MSG_NOSIGNAL);
    if (r >= 0)
        return r;
    wslay_event_set_error(ctx, errno == EAGAIN ? WSLAY_ERR_WOULDBLOCK
                                               : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static int c_mask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                  void *user)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)rand();
    return 0;
}

static void record_latency(const char *t)
{
    uint64_t sent = strtoull(t, NULL, 10);
    g_deliveries++;
    if (g_nlat < MAX_LAT)
        g_lat[g_nlat++] = now_ns() - sent;
}

static void c_update(struct conn *c);

static void c_queue(struct conn *c, int opcode, const char *s, size_t n)
{
    struct wslay_event_msg m = {(uint8_t)opcode, (const uint8_t *)s, n};
    wslay_event_queue_msg(c->ctx, &m);
}

static void c_flush(struct conn *c)
{
    wslay_event_send(c->ctx);
    c_update(c);
}

/* --- chatd frames --- */

static void chatd_msg(struct conn *c, const char *m, size_t n)
{
    if (n > 16 && memcmp(m, "{\"type\":\"hello\"", 15) == 0) {
        c->hello = true;
        return;
    }
    if (n > 16 && memcmp(m, "{\"type\":\"ack\"", 13) == 0) {
        c->inflight--;
        g_acks++;
        return;
    }
    if (n > 16 && memcmp(m, "{\"type\":\"error\"", 15) == 0) {
        /* rate_limited: the send was refused, it is not in flight */
        if (memmem(m, n, "\"rate_limited\"", 14) && c->inflight)
            c->inflight--;
        if (g_rejected++ < 3)
            fprintf(stderr, "server error frame: %.*s\n", (int)n, m);
        return;
    }
    if (!memmem(m, n, "\"chat.message_posted\"", 21))
        return;
    c->received++;
    const char *t = memmem(m, n, "\"text\":\"t=", 10);
    if (t && g_measure)
        record_latency(t + 10);
}

/* --- NATS protocol inside the frames --- */

static void nats_send(struct conn *c, const char *s, size_t n)
{
    c_queue(c, WSLAY_BINARY_FRAME, s, n);
}

static void nats_ping(struct conn *c)
{
    if (c->ping_n == PINGQ)
        return; /* the bound of the window keeps this from happening */
    c->pingq[(c->ping_head + c->ping_n++) % PINGQ] = c->unpinged;
    c->unpinged = 0;
    nats_send(c, "PING\r\n", 6);
}

static void nats_pong(struct conn *c)
{
    c->hello = true;
    if (c->ping_n == 0)
        return;
    unsigned k = c->pingq[c->ping_head];
    c->ping_head = (c->ping_head + 1) % PINGQ;
    c->ping_n--;
    c->inflight -= k < c->inflight ? k : c->inflight;
    g_acks += k;
}

/* Consumes complete protocol messages from c->nbuf. */
static void nats_parse(struct conn *c)
{
    size_t at = 0;
    while (at < c->nlen) {
        char *line = c->nbuf + at;
        char *eol = memmem(line, c->nlen - at, "\r\n", 2);
        if (!eol)
            break;
        size_t ll = (size_t)(eol - line);
        if (ll >= 4 && memcmp(line, "MSG ", 4) == 0) {
            /* MSG <subject> <sid> [reply-to] <#bytes> */
            char *sp = eol;
            while (sp > line && sp[-1] != ' ')
                sp--;
            size_t plen = strtoul(sp, NULL, 10);
            size_t need = ll + 2 + plen + 2;
            if (c->nlen - at < need)
                break;
            const char *pl = eol + 2;
            c->received++;
            if (plen > 2 && pl[0] == 't' && pl[1] == '=' && g_measure)
                record_latency(pl + 2);
            at += need;
            continue;
        }
        if (ll == 4 && memcmp(line, "PING", 4) == 0)
            nats_send(c, "PONG\r\n", 6);
        else if (ll == 4 && memcmp(line, "PONG", 4) == 0)
            nats_pong(c);
        else if (ll >= 4 && memcmp(line, "-ERR", 4) == 0) {
            if (g_errors++ < 5)
                fprintf(stderr, "nats: %.*s\n", (int)ll, line);
        }
        /* INFO, +OK: nothing to do */
        at += ll + 2;
    }
    memmove(c->nbuf, c->nbuf + at, c->nlen - at);
    c->nlen -= at;
}

static void nats_msg(struct conn *c, const char *m, size_t n)
{
    if (c->nlen + n > c->ncap) {
        size_t cap = c->ncap ? c->ncap : 4096;
        while (cap < c->nlen + n)
            cap *= 2;
        c->nbuf = realloc(c->nbuf, cap);
        if (!c->nbuf)
            exit(1);
        c->ncap = cap;
    }
    memcpy(c->nbuf + c->nlen, m, n);
    c->nlen += n;
    nats_parse(c);
}

/* One whole message. */
static void c_message(struct conn *c, uint8_t op, const char *m, size_t n)
{
    if (op == WSLAY_TEXT_FRAME && !core_utf8_valid(m, n)) {
        if (g_errors++ < 5)
            fprintf(stderr, "a text frame that is not UTF-8\n");
        return;
    }
    if (g_proto == P_NATS) {
        if (op == WSLAY_TEXT_FRAME || op == WSLAY_BINARY_FRAME)
            nats_msg(c, m, n);
        return;
    }
    if (op == WSLAY_TEXT_FRAME)
        chatd_msg(c, m, n);
}

/* Ping: pong. Close: answered, and the connection reads no more. */
static bool c_control(struct conn *c, uint8_t op)
{
    if (op == WSLAY_PING) {
        struct wslay_event_msg pong = {WSLAY_PONG, c->cbuf, c->clen};
        wslay_event_queue_msg(c->ctx, &pong);
    } else if (op == WSLAY_CONNECTION_CLOSE) {
        wslay_event_queue_close(c->ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
        return false;
    }
    return true;
}

static bool buf_add(struct conn *c, const uint8_t *p, size_t n)
{
    if (c->mlen + n > c->mcap) {
        size_t cap = c->mcap ? c->mcap : 4096;
        while (cap < c->mlen + n)
            cap *= 2;
        char *nb = realloc(c->mbuf, cap);
        if (!nb)
            return false;
        c->mbuf = nb;
        c->mcap = cap;
    }
    memcpy(c->mbuf + c->mlen, p, n);
    c->mlen += n;
    return true;
}

/* Reads every frame the socket holds; false once the connection is over
 * (closed by the server, EOF, a broken frame). */
static bool c_read(struct conn *c)
{
    struct wslay_frame_iocb iocb;

    for (;;) {
        memset(&iocb, 0, sizeof iocb);
        ssize_t r = wslay_frame_recv(c->rframe, &iocb);
        if (r == WSLAY_ERR_WANT_READ)
            return true;
        if (r < 0 || iocb.mask)
            return false;
        bool ctrl = wslay_is_ctrl_frame(iocb.opcode);
        if (c->foff == 0) { /* the frame's first chunk */
            if (ctrl)
                c->clen = 0;
            else if (iocb.opcode != WSLAY_CONTINUATION_FRAME) {
                c->mop = iocb.opcode;
                c->mlen = 0;
            }
        }
        if (ctrl) {
            if (c->clen + iocb.data_length > sizeof c->cbuf)
                return false;
            memcpy(c->cbuf + c->clen, iocb.data, iocb.data_length);
            c->clen += iocb.data_length;
        } else if (!buf_add(c, iocb.data, iocb.data_length)) {
            return false;
        }
        c->foff += iocb.data_length;
        if (c->foff < iocb.payload_length)
            continue;
        c->foff = 0;
        if (ctrl) {
            if (!c_control(c, iocb.opcode))
                return false;
        } else if (iocb.fin) {
            c_message(c, c->mop, c->mbuf, c->mlen);
            c->mlen = 0;
        }
    }
}

static const struct wslay_event_callbacks cbs = {
    .recv_callback = c_recv, .send_callback = c_send,
    .genmask_callback = c_mask};

static void c_update(struct conn *c)
{
    short want = EV_READ | EV_PERSIST;
    if (wslay_event_want_write(c->ctx))
        want |= EV_WRITE;
    if (event_get_events(c->ev) == want)
        return;
    event_del(c->ev);
    event_assign(c->ev, g_base, c->fd, want, event_get_callback(c->ev), c);
    event_add(c->ev, NULL);
}

static void c_io(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    bool open = !(what & EV_READ) || c_read(c);
    /* answers queued while reading (NATS PONG) go out at once */
    if (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0)
        g_errors++;
    if (!open) {
        event_del(c->ev);
        return;
    }
    c_update(c);
}

/* Blocking handshake (chatd: header auth), then non-blocking and evented. */
static void c_open(struct conn *c, struct user *u)
{
    char req[1024], buf[4096], auth[256] = "";
    c->u = u;
    c->fd = tcp_connect();
    if (u)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", u->token);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: "
                     "websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                     "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "%s\r\n",
                     g_proto == P_NATS ? "/" : "/v1/ws", auth);
    if (write(c->fd, req, (size_t)n) != n)
        exit(1);
    size_t got = 0;
    while (got < sizeof buf - 1) { /* byte by byte: stop at the header end */
        if (read(c->fd, buf + got, 1) != 1)
            break;
        got++;
        if (got >= 4 && memcmp(buf + got - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    buf[got] = 0;
    if (strncmp(buf, "HTTP/1.1 101", 12) != 0) {
        fprintf(stderr, "handshake failed: %.200s\n", buf);
        exit(1);
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    wslay_event_context_client_init(&c->ctx, &cbs, c);
    if (wslay_frame_context_init(&c->rframe, &fcbs, c) != 0)
        exit(1);
    c->ev = event_new(g_base, c->fd, EV_READ | EV_PERSIST, c_io, c);
    event_add(c->ev, NULL);
}

/* NATS: CONNECT, optionally SUB, then PING: its PONG means "ready". */
static void nats_start(struct conn *c, const char *subject)
{
    char s[256];
    int n = snprintf(s, sizeof s,
                     "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n");
    if (subject)
        n += snprintf(s + n, sizeof s - (size_t)n, "SUB %s 1\r\n", subject);
    nats_send(c, s, (size_t)n);
    c->ping_n = 0;
    nats_send(c, "PING\r\n", 6);
    c_flush(c);
}

/* Runs the loop for `ms` milliseconds. */
static void run_for(unsigned ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(g_base, &tv);
    event_base_dispatch(g_base);
}

static int count_hello(struct conn *cs, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += cs[i].hello;
    return k;
}

/* Runs the loop until every connection said hello, at most `ms`. */
static void wait_hello(struct conn *cs, int n, unsigned ms)
{
    for (unsigned t = 0; t < ms && count_hello(cs, n) < n; t += 100)
        run_for(100);
}

/* --- fan-out --- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct fanout {
    struct conn *conns;
    int rooms, members;
    unsigned rate;
    uint64_t start_ns, seqno;
    struct event *tick;
    unsigned max_inflight;
    uint64_t *sent_room;
};

static void make_text(char *out, uint64_t ns)
{
    int n = snprintf(out, TEXT_LEN + 1, "t=%llu ", (unsigned long long)ns);
    memset(out + n, 'x', (size_t)(TEXT_LEN - n));
    out[TEXT_LEN] = 0;
}

static void send_one(struct fanout *f, struct conn *c)
{
    char text[TEXT_LEN + 1], frame[512];
    make_text(text, now_ns());
    c->inflight++;
    g_sent++;
    if (g_proto == P_NATS) {
        int n = snprintf(frame, sizeof frame, "PUB %s %d\r\n%s\r\n", c->room,
                         TEXT_LEN, text);
        nats_send(c, frame, (size_t)n);
        c->unpinged++;
        if (f->rate == 0 && c->unpinged >= NATS_PING_EVERY)
            nats_ping(c);
        return;
    }
    snprintf(frame, sizeof frame,
             "{\"type\":\"send\",\"room\":\"%s\",\"client_msg_id\":\"c%llu\","
             "\"text\":\"%s\"}",
             c->room, (unsigned long long)f->seqno++, text);
    c_queue(c, WSLAY_TEXT_FRAME, frame, strlen(frame));
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fanout *f = arg;
    double el = (double)(now_ns() - f->start_ns) / 1e9;
    for (int r = 0; r < f->rooms; r++) {
        struct conn *c = &f->conns[r * f->members];
        /* Rooms are phase-shifted so posts are spread evenly in time:
         * room r posts its k-th message at (r + k * rooms) / rate s. */
        double slots = el * f->rate - r;
        uint64_t due = f->rate == 0 ? UINT64_MAX
                       : slots < 0  ? 0
                                    : (uint64_t)(slots / f->rooms) + 1;
        unsigned bound = 0, sent = 0;
        while (c->inflight < f->max_inflight && bound++ < 64 &&
               f->sent_room[r] < due) {
            f->sent_room[r]++;
            send_one(f, c);
            sent++;
        }
        if (g_proto == P_NATS && c->unpinged > 0)
            nats_ping(c); /* confirms what this tick posted */
        if (sent || wslay_event_want_write(c->ctx))
            c_flush(c);
    }
}

static void setup_chatd_rooms(struct fanout *f, struct user *users)
{
    char body[16384], resp[16384];
    for (int r = 0; r < f->rooms; r++) {
        struct user *owner = &users[r * f->members];
        size_t n = (size_t)snprintf(body, sizeof body,
                                    "{\"kind\":\"group\",\"title\":\"b%d\","
                                    "\"members\":[", r);
        for (int m = 1; m < f->members; m++)
            n += (size_t)snprintf(body + n, sizeof body - n, "%s\"%s\"",
                                  m > 1 ? "," : "",
                                  users[r * f->members + m].id);
        snprintf(body + n, sizeof body - n, "]}");
        if (http_post("/v1/rooms", owner->token, body, resp, sizeof resp) != 201) {
            fprintf(stderr, "create room: %s\n", resp);
            exit(1);
        }
        char room[64];
        json_str(resp, "id", room, sizeof room);
        for (int m = 0; m < f->members; m++) {
            struct conn *c = &f->conns[r * f->members + m];
            snprintf(c->room, sizeof c->room, "%s", room);
            c->sender = m == 0;
        }
    }
}

static double pct(uint64_t *v, size_t n, double q)
{
    if (!n)
        return 0;
    size_t i = (size_t)(q * (double)n);
    return (double)v[i < n ? i : n - 1] / 1e6;
}

static int cmd_fanout(int rooms, int members, unsigned rate, unsigned secs,
                      int pid)
{
    int n = rooms * members;
    struct fanout f = {.rooms = rooms, .members = members, .rate = rate,
                       .max_inflight = rate ? 1000 : SAT_INFLIGHT};
    f.conns = calloc((size_t)n, sizeof *f.conns);
    f.sent_room = calloc((size_t)rooms, sizeof *f.sent_room);
    g_lat = malloc(MAX_LAT * sizeof *g_lat);
    if (!f.conns || !f.sent_room || !g_lat)
        return 1;
    if (g_proto == P_CHATD) {
        struct user *users = calloc((size_t)n, sizeof *users);
        for (int i = 0; i < n; i++)
            make_user(&users[i], i);
        setup_chatd_rooms(&f, users);
        for (int i = 0; i < n; i++)
            c_open(&f.conns[i], &users[i]);
        wait_hello(f.conns, n, 5000);
        /* backlog (room_created etc.); live delivery starts 1 s after
         * hello for a header-authenticated client that sends nothing */
        run_for(1500);
    } else {
        for (int r = 0; r < rooms; r++)
            for (int m = 0; m < members; m++) {
                struct conn *c = &f.conns[r * members + m];
                snprintf(c->room, sizeof c->room, "room.%d", r);
                c->sender = m == 0;
                c_open(c, NULL);
                nats_start(c, c->room);
            }
        wait_hello(f.conns, n, 10000);
    }
    int ready = count_hello(f.conns, n);
    if (ready < n)
        fprintf(stderr, "only %d of %d connections ready\n", ready, n);
    struct timeval tv = {0, 1000};
    f.tick = event_new(g_base, -1, EV_PERSIST, tick_cb, &f);
    event_add(f.tick, &tv);
    g_measure = true;
    struct commit_ctr k0 = chatd_commits();
    double cpu0 = self_cpu_s(), scpu0 = proc_cpu_s(pid);
    f.start_ns = now_ns();
    run_for(secs * 1000);
    event_del(f.tick);
    double el = (double)(now_ns() - f.start_ns) / 1e9;
    double cpu = self_cpu_s() - cpu0, scpu = proc_cpu_s(pid) - scpu0;
    struct commit_ctr k1 = chatd_commits();
    double commits = k1.batches - k0.batches, cevents = k1.events - k0.events,
           commit_s = k1.commit_s - k0.commit_s;
    uint64_t sent = g_sent, acks = g_acks, deliv = g_deliveries;
    run_for(2000); /* drain: count what was in flight */
    qsort(g_lat, g_nlat, sizeof *g_lat, cmp_u64);
    const char *mode = rate ? "fanout" : "saturation";
    printf("proto=%s mode=%s rooms=%d members=%d conns=%d ready=%d "
           "target_rate=%u duration=%.1fs\n",
           g_proto == P_NATS ? "nats" : "chatd", mode, rooms, members, n,
           ready, rate, el);
    printf("posted=%llu (%.0f/s) acked=%llu deliveries=%llu (%.0f/s in window; "
           "%llu incl. 2 s drain) expected=%llu rejected=%llu\n",
           (unsigned long long)sent, sent / el, (unsigned long long)acks,
           (unsigned long long)deliv, deliv / el,
           (unsigned long long)g_deliveries,
           (unsigned long long)(g_sent * (uint64_t)members),
           (unsigned long long)g_rejected);
    if (g_nlat)
        printf("post->deliver latency p50=%.2f ms p99=%.2f ms max=%.2f ms "
               "(n=%zu)\n",
               pct(g_lat, g_nlat, 0.5), pct(g_lat, g_nlat, 0.99),
               g_lat[g_nlat - 1] / 1e6, g_nlat);
    printf("client cpu=%.0f%% server cpu=%.0f%% errors=%llu\n",
           100 * cpu / el, scpu >= 0 ? 100 * scpu / el : -1.0,
           (unsigned long long)g_errors);
    if (commits > 0)
        printf("chatd commits=%.0f (%.0f/s) events/commit=%.1f commit "
               "ms=%.2f (%.0f%% of the window in commit+fsync)\n",
               commits, commits / el, cevents / commits,
               1e3 * commit_s / commits, 100 * commit_s / el);
    printf("RESULT {\"proto\":\"%s\",\"mode\":\"%s\",\"rooms\":%d,"
           "\"members\":%d,\"conns\":%d,\"ready\":%d,\"target_rate\":%u,"
           "\"seconds\":%.3f,\"posted\":%llu,\"posted_per_s\":%.1f,"
           "\"acked\":%llu,\"deliveries\":%llu,\"deliveries_per_s\":%.1f,"
           "\"deliveries_incl_drain\":%llu,\"expected\":%llu,"
           "\"rejected\":%llu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"max_ms\":%.3f,\"latency_n\":%zu,\"client_cpu_pct\":%.1f,"
           "\"server_cpu_pct\":%.1f,\"errors\":%llu,\"commits\":%.0f,"
           "\"commit_events\":%.0f,\"commit_s\":%.4f}\n",
           g_proto == P_NATS ? "nats" : "chatd", mode, rooms, members, n,
           ready, rate, el, (unsigned long long)sent, sent / el,
           (unsigned long long)acks, (unsigned long long)deliv, deliv / el,
           (unsigned long long)g_deliveries,
           (unsigned long long)(g_sent * (uint64_t)members),
           (unsigned long long)g_rejected, pct(g_lat, g_nlat, 0.5),
           pct(g_lat, g_nlat, 0.99), g_nlat ? g_lat[g_nlat - 1] / 1e6 : 0.0,
           g_nlat, 100 * cpu / el, scpu >= 0 ? 100 * scpu / el : -1.0,
           (unsigned long long)g_errors, commits, cevents, commit_s);
    return ready == n ? 0 : 1;
}

/* --- idle RSS --- */

static long server_rss_kb(int pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static int cmd_idle(int n1, int n2, int pid)
{
    struct user u;
    struct conn *conns = calloc((size_t)n2, sizeof *conns);
    if (g_proto == P_CHATD)
        make_user(&u, 0);
    run_for(500);
    long base = server_rss_kb(pid);
    long rss[2];
    int target[2] = {n1, n2}, open = 0, hello[2];
    for (int step = 0; step < 2; step++) {
        while (open < target[step]) {
            struct conn *c = &conns[open];
            c_open(c, g_proto == P_CHATD ? &u : NULL);
            if (g_proto == P_NATS) {
                char subject[32];
                snprintf(subject, sizeof subject, "user.%d", open);
                nats_start(c, subject);
            }
            open++;
            if (open % 200 == 0)
                run_for(20);
        }
        wait_hello(conns, open, 10000);
        run_for(3000); /* the server frees idle per-connection state */
        hello[step] = count_hello(conns, open);
        rss[step] = server_rss_kb(pid);
        printf("connections=%d ready=%d server VmRSS=%ld kB (baseline %ld kB) "
               "-> %.0f B/conn over baseline\n",
               open, hello[step], rss[step], base,
               (double)(rss[step] - base) * 1024 / open);
    }
    double marg = (double)(rss[1] - rss[0]) * 1024 / (n2 - n1);
    printf("marginal %d->%d: %.0f B/conn\n", n1, n2, marg);
    printf("RESULT {\"proto\":\"%s\",\"mode\":\"idle\",\"n1\":%d,\"n2\":%d,"
           "\"ready1\":%d,\"ready2\":%d,\"baseline_kb\":%ld,\"rss1_kb\":%ld,"
           "\"rss2_kb\":%ld,\"per_conn1_b\":%.0f,\"per_conn2_b\":%.0f,"
           "\"marginal_b\":%.0f,\"errors\":%llu}\n",
           g_proto == P_NATS ? "nats" : "chatd", n1, n2, hello[0], hello[1],
           base, rss[0], rss[1], (double)(rss[0] - base) * 1024 / n1,
           (double)(rss[1] - base) * 1024 / n2, marg,
           (unsigned long long)g_errors);
    return hello[1] == n2 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: see the comment at the top of wsbench.c\n");
        return 2;
    }
    const char *mode = argv[1];
    g_port = (uint16_t)atoi(argv[2]);
    g_base = event_base_new();
    char *av[10] = {0};
    if (strncmp(mode, "nats-", 5) == 0) {
        /* no admin token: shift the arguments as if there were one */
        if (argc > 9)
            return 2;
        g_proto = P_NATS;
        mode += 5;
        av[0] = argv[0], av[1] = argv[1], av[2] = argv[2], av[3] = "-";
        for (int i = 3; i < argc; i++)
            av[i + 1] = argv[i];
        argv = av, argc += 1;
    } else {
        g_admin = argv[3];
    }
    if (strcmp(mode, "fanout") == 0 && (argc == 8 || argc == 9))
        return cmd_fanout(atoi(argv[4]), atoi(argv[5]),
                          (unsigned)atoi(argv[6]), (unsigned)atoi(argv[7]),
                          argc == 9 ? atoi(argv[8]) : 0);
    if (strcmp(mode, "idle") == 0 && argc == 7)
        return cmd_idle(atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    fprintf(stderr, "bad arguments\n");
    return 2;
}
