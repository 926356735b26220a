/*
 * push against the real log, writer, subscriber runner and a libevent loop
 * thread, with a tiny webhook receiver in another thread that is down
 * (port bound, not listening: connection refused) at first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "commit/commit.h"
#include "core/core.h"
#include "evlog/evlog.h"
#include "push/push.h"
#include "ws/userfeed.h"

#define MAX_KEYS 256

struct receiver {
    int fd;
    uint16_t port;
    pthread_t th;
    pthread_mutex_t lock;
    char keys[MAX_KEYS][64];
    size_t nkeys;
    bool body_ok;
    bool stop;
};

static void *receiver_main(void *arg)
{
    struct receiver *r = arg;
    for (;;) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char buf[16384];
        size_t n = 0;
        ssize_t k;
        char *end = NULL;
        long clen = -1;
        while (n < sizeof buf - 1 && (k = recv(c, buf + n, sizeof buf - 1 - n, 0)) > 0) {
            n += (size_t)k;
            buf[n] = 0;
            if (!end && (end = strstr(buf, "\r\n\r\n"))) {
                char *cl = strcasestr(buf, "Content-Length:");
                clen = cl ? strtol(cl + 15, NULL, 10) : 0;
            }
            if (end && (size_t)(end + 4 - buf) + (size_t)clen <= n)
                break;
        }
        char *key = strcasestr(buf, "Idempotency-Key: ");
        pthread_mutex_lock(&r->lock);
        bool stop = r->stop;
        if (key && r->nkeys < MAX_KEYS) {
            sscanf(key + 17, "%63[^\r]", r->keys[r->nkeys]);
            if (end && !strstr(end, r->keys[r->nkeys]))
                r->body_ok = false;
            if (end && !strstr(end, "\"event\":{\"seq\":"))
                r->body_ok = false;
            r->nkeys++;
        }
        pthread_mutex_unlock(&r->lock);
        const char *ans = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                          "Connection: close\r\n\r\n{}";
        send(c, ans, strlen(ans), MSG_NOSIGNAL);
        close(c);
        if (stop)
            return NULL;
    }
}

static void receiver_bind(struct receiver *r)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->fd >= 0);
    assert_int_equal(bind(r->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(r->fd, (struct sockaddr *)&a, &len), 0);
    r->port = ntohs(a.sin_port);
    r->body_ok = true;
    pthread_mutex_init(&r->lock, NULL);
}

static void receiver_up(struct receiver *r)
{
    assert_int_equal(listen(r->fd, 64), 0);
    assert_int_equal(pthread_create(&r->th, NULL, receiver_main, r), 0);
}

static void receiver_down(struct receiver *r)
{
    shutdown(r->fd, SHUT_RDWR);
    pthread_join(r->th, NULL);
    close(r->fd);
}

struct fx {
    char dir[64];
    struct evlog *log;
    struct userfeed *uf;
    struct commit *commit;
    struct push *push;
    struct event_base *base;
    pthread_t loop;
    struct receiver rx;
};

static void after_commit(void *ctx, uint64_t first, uint64_t last)
{
    struct fx *f = ctx;
    push_notify(f->push, last);
}

/* As the server does (through modhost): the feed's per-event records
 * are written at the end of each batch. */
static int before_commit(void *ctx, struct evlog_txn *top)
{
    struct fx *f = ctx;
    return userfeed_flush(f->uf, top);
}

static void before_batch(void *ctx)
{
    struct fx *f = ctx;
    userfeed_discard(f->uf);
}

static void loop_started(evutil_socket_t fd, short what, void *arg)
{
    *(volatile bool *)arg = true;
}

static void *loop_main(void *arg)
{
    struct fx *f = arg;
    event_base_loop(f->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

struct post_arg {
    struct fx *f;
    const char *type;
    const char *users[4];
};

static int post_run(void *arg, struct evlog_txn *txn)
{
    struct post_arg *pa = arg;
    struct chatd_event ev = {.size = sizeof ev, .type = pa->type, .v = 1,
                             .stream = "room:r1", .actor = "user:u0",
                             .data = "{\"text\":\"hi \\\"there\\\"\"}"};
    struct chatd_event out;
    ev.data_len = strlen(ev.data);
    int rc = evlog_append(txn, &ev, CHATD_ANY_VERSION, &out);
    for (size_t i = 0; rc == CHATD_OK && pa->users[i]; i++)
        rc = userfeed_deliver(pa->f->uf, txn, pa->users[i], out.seq);
    return rc;
}

static void post(struct fx *f, const char *type, const char *u1,
                 const char *u2)
{
    struct post_arg pa = {.f = f, .type = type, .users = {u1, u2, NULL}};
    struct commit_job job = {.run = post_run, .arg = &pa};
    assert_int_equal(commit_run(f->commit, &job), CHATD_OK);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct evlog_options o = {.map_size = 64u << 20, .nosync = true};
    struct commit_hooks hooks = {.before_batch = before_batch,
                                 .before_commit = before_commit,
                                 .after_commit = after_commit,
                                 .ctx = f};
    snprintf(f->dir, sizeof f->dir, "/tmp/chatd-push-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    o.dir = f->dir;
    evthread_use_pthreads();
    f->base = event_base_new();
    assert_int_equal(evlog_open(&f->log, &o), CHATD_OK);
    assert_int_equal(userfeed_open(&f->uf, f->log), CHATD_OK);
    assert_int_equal(commit_open(&f->commit, f->log, NULL, &hooks), CHATD_OK);
    receiver_bind(&f->rx);
    /* loopbreak before the loop runs would be forgotten: wait for it */
    static volatile bool started;
    struct timeval now = {0, 0};
    started = false;
    event_base_once(f->base, -1, EV_TIMEOUT, loop_started, (void *)&started,
                    &now);
    assert_int_equal(pthread_create(&f->loop, NULL, loop_main, f), 0);
    while (!started)
        usleep(1000);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    event_base_loopbreak(f->base);
    pthread_join(f->loop, NULL);
    push_close(f->push);
    commit_close(f->commit);
    userfeed_close(f->uf);
    evlog_close(f->log);
    event_base_free(f->base);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static size_t key_count(struct receiver *r, const char *key)
{
    size_t n = 0;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->nkeys; i++)
        n += strcmp(r->keys[i], key) == 0;
    pthread_mutex_unlock(&r->lock);
    return n;
}

static void test_pushes_survive_a_down_receiver(void **state)
{
    struct fx *f = *state;
    char url[64];
    post(f, "chat.message_posted", "old", NULL); /* before push existed */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/hook", f->rx.port);
    struct push_options po = {.webhook_url = url, .timeout_ms = 2000};
    assert_int_equal(push_open(&f->push, &po, f->log, f->commit, f->uf, NULL,
                               f->base, NULL),
                     CHATD_OK);
    assert_non_null(f->push);
    post(f, "chat.message_posted", "u1", "u2");      /* seq 2 */
    post(f, "chat.room_created", "u1", NULL);        /* 3: not pushed */
    post(f, "chat.message_posted", "u2", NULL);      /* 4 */
    usleep(700 * 1000); /* the runner retries against a closed port */
    assert_true(push_position(f->push) < 2);
    receiver_up(&f->rx);
    for (int i = 0; i < 300 && push_position(f->push) < 4; i++)
        usleep(50 * 1000);
    assert_int_equal(push_position(f->push), 4);
    pthread_mutex_lock(&f->rx.lock);
    f->rx.stop = true;
    pthread_mutex_unlock(&f->rx.lock);
    receiver_down(&f->rx);
    assert_int_equal(key_count(&f->rx, "2:u1"), 1);
    assert_int_equal(key_count(&f->rx, "2:u2"), 1);
    assert_int_equal(key_count(&f->rx, "4:u2"), 1);
    assert_int_equal(key_count(&f->rx, "1:old"), 0);
    assert_int_equal(f->rx.nkeys, 3);
    assert_true(f->rx.body_ok);
}

static void test_disabled_without_url(void **state)
{
    struct fx *f = *state;
    struct push_options po = {0};
    struct push *p = (struct push *)1;
    assert_int_equal(push_open(&p, &po, f->log, f->commit, f->uf, NULL,
                               f->base, NULL),
                     CHATD_OK);
    assert_null(p);
    push_notify(NULL, 5);
    push_close(NULL);
    close(f->rx.fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pushes_survive_a_down_receiver,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_disabled_without_url, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
