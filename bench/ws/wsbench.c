/*
 * wsbench — WebSocket load client for chatd (libevent + wslay), 127.0.0.1
 * only. Every loop is bounded in count and time.
 *
 *   wsbench fanout  PORT ADMIN_TOKEN ROOMS MEMBERS RATE SECONDS
 *       ROOMS x MEMBERS users, one connection each; one member per room
 *       sends `send` frames so that RATE messages/s are posted in total;
 *       reports deliveries/s and post->deliver latency p50/p99.
 *       RATE 0 = as fast as possible (saturation; at most 64 frames in
 *       flight per sender).
 *   wsbench idle    PORT ADMIN_TOKEN N1 N2 SERVER_PID
 *       opens N1 connections (header auth), reads the server's VmRSS,
 *       then up to N2, reads it again: RSS per idle connection.
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define MAX_LAT (4u << 20)

static uint16_t g_port;
static const char *g_admin;
static struct event_base *g_base;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- a tiny blocking HTTP client for the set-up --- */

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
    wslay_event_context_ptr ctx;
    struct user *u;
    char room[64];
    bool sender, hello;
    unsigned inflight;
    uint64_t received;
};

static uint64_t *g_lat;
static size_t g_nlat;
static uint64_t g_deliveries, g_acks, g_sent, g_errors;
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

static void on_msg(wslay_event_context_ptr ctx,
                   const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
    struct conn *c = user;
    if (arg->opcode != WSLAY_TEXT_FRAME)
        return;
    const char *m = (const char *)arg->msg;
    size_t n = arg->msg_length;
    if (n > 16 && memcmp(m, "{\"type\":\"hello\"", 15) == 0) {
        c->hello = true;
        return;
    }
    if (n > 16 && memcmp(m, "{\"type\":\"ack\"", 13) == 0) {
        c->inflight--;
        g_acks++;
        return;
    }
    if (!memmem(m, n, "\"chat.message_posted\"", 21))
        return;
    c->received++;
    const char *t = memmem(m, n, "\"text\":\"t=", 10);
    if (!t || !g_measure)
        return;
    g_deliveries++;
    uint64_t sent = strtoull(t + 10, NULL, 10);
    if (g_nlat < MAX_LAT)
        g_lat[g_nlat++] = now_ns() - sent;
}

static const struct wslay_event_callbacks cbs = {
    .recv_callback = c_recv, .send_callback = c_send,
    .genmask_callback = c_mask, .on_msg_recv_callback = on_msg};

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
    if ((what & EV_READ) && wslay_event_recv(c->ctx) != 0)
        g_errors++;
    if ((what & EV_WRITE) && wslay_event_send(c->ctx) != 0)
        g_errors++;
    if (!wslay_event_want_read(c->ctx)) {
        event_del(c->ev);
        return;
    }
    c_update(c);
}

/* Blocking handshake with header auth, then non-blocking and evented. */
static void c_open(struct conn *c, struct user *u)
{
    char req[1024], buf[4096];
    c->u = u;
    c->fd = tcp_connect();
    int n = snprintf(req, sizeof req,
                     "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: "
                     "websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                     "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "Authorization: Bearer %s\r\n\r\n",
                     u->token);
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
    c->ev = event_new(g_base, c->fd, EV_READ | EV_PERSIST, c_io, c);
    event_add(c->ev, NULL);
}

static void c_send_text(struct conn *c, const char *s)
{
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)s,
                                strlen(s)};
    wslay_event_queue_msg(c->ctx, &m);
    wslay_event_send(c->ctx);
    c_update(c);
}

/* Runs the loop for `ms` milliseconds. */
static void run_for(unsigned ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(g_base, &tv);
    event_base_dispatch(g_base);
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

static void send_one(struct fanout *f, struct conn *c)
{
    char frame[256];
    snprintf(frame, sizeof frame,
             "{\"type\":\"send\",\"room\":\"%s\",\"client_msg_id\":\"c%llu\","
             "\"text\":\"t=%llu\"}",
             c->room, (unsigned long long)f->seqno++,
             (unsigned long long)now_ns());
    c->inflight++;
    g_sent++;
    c_send_text(c, frame);
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
        unsigned bound = 0;
        while (c->inflight < f->max_inflight && bound++ < 64 &&
               f->sent_room[r] < due) {
            f->sent_room[r]++;
            send_one(f, c);
        }
    }
}

static void setup_rooms(struct fanout *f, struct user *users)
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

static int cmd_fanout(int rooms, int members, unsigned rate, unsigned secs)
{
    int n = rooms * members;
    struct user *users = calloc((size_t)n, sizeof *users);
    struct fanout f = {.rooms = rooms, .members = members, .rate = rate,
                       .max_inflight = rate ? 1000 : 64};
    f.conns = calloc((size_t)n, sizeof *f.conns);
    f.sent_room = calloc((size_t)rooms, sizeof *f.sent_room);
    g_lat = malloc(MAX_LAT * sizeof *g_lat);
    for (int i = 0; i < n; i++)
        make_user(&users[i], i);
    setup_rooms(&f, users);
    for (int i = 0; i < n; i++)
        c_open(&f.conns[i], &users[i]);
    run_for(1500); /* hellos, backlog (room_created etc.) */
    for (int i = 0; i < n; i++) /* leave the header-auth hold at once */
        c_send_text(&f.conns[i], "{\"type\":\"resume\"}");
    run_for(500);
    struct timeval tv = {0, 1000};
    f.tick = event_new(g_base, -1, EV_PERSIST, tick_cb, &f);
    event_add(f.tick, &tv);
    g_measure = true;
    f.start_ns = now_ns();
    run_for(secs * 1000);
    event_del(f.tick);
    double el = (double)(now_ns() - f.start_ns) / 1e9;
    uint64_t sent = g_sent, acks = g_acks, deliv = g_deliveries;
    run_for(2000); /* drain: count what was in flight */
    qsort(g_lat, g_nlat, sizeof *g_lat, cmp_u64);
    printf("mode=%s rooms=%d members=%d conns=%d target_rate=%u duration=%.1fs\n",
           rate ? "fanout" : "saturation", rooms, members, n, rate, el);
    printf("posted=%llu (%.0f/s) acked=%llu deliveries=%llu (%.0f/s in window; "
           "%llu incl. 2 s drain) expected=%llu\n",
           (unsigned long long)sent, sent / el, (unsigned long long)acks,
           (unsigned long long)deliv, deliv / el,
           (unsigned long long)g_deliveries,
           (unsigned long long)(g_sent * (uint64_t)members));
    if (g_nlat)
        printf("post->deliver latency p50=%.2f ms p99=%.2f ms max=%.2f ms "
               "(n=%zu)\n",
               g_lat[g_nlat / 2] / 1e6, g_lat[g_nlat * 99 / 100] / 1e6,
               g_lat[g_nlat - 1] / 1e6, g_nlat);
    printf("client errors=%llu\n", (unsigned long long)g_errors);
    return 0;
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
    make_user(&u, 0);
    long base = server_rss_kb(pid);
    long rss[2];
    int target[2] = {n1, n2}, open = 0;
    for (int step = 0; step < 2; step++) {
        while (open < target[step]) {
            c_open(&conns[open++], &u);
            if (open % 200 == 0)
                run_for(20);
        }
        run_for(3000); /* hellos read; the server frees idle wslay contexts */
        int hello = 0;
        for (int i = 0; i < open; i++)
            hello += conns[i].hello;
        rss[step] = server_rss_kb(pid);
        printf("connections=%d hello=%d server VmRSS=%ld kB (baseline %ld kB) "
               "-> %.0f B/conn over baseline\n",
               open, hello, rss[step], base,
               (double)(rss[step] - base) * 1024 / open);
    }
    printf("marginal %d->%d: %.0f B/conn\n", n1, n2,
           (double)(rss[1] - rss[0]) * 1024 / (n2 - n1));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: see the comment at the top of wsbench.c\n");
        return 2;
    }
    g_port = (uint16_t)atoi(argv[2]);
    g_admin = argv[3];
    g_base = event_base_new();
    if (strcmp(argv[1], "fanout") == 0 && argc == 8)
        return cmd_fanout(atoi(argv[4]), atoi(argv[5]),
                          (unsigned)atoi(argv[6]), (unsigned)atoi(argv[7]));
    if (strcmp(argv[1], "idle") == 0 && argc == 7)
        return cmd_idle(atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
    fprintf(stderr, "bad arguments\n");
    return 2;
}
