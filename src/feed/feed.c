#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "core/core.h"
#include "evlog/evlog.h"
#include "feed/feed.h"
#include "http/http.h"
#include "json/event_json.h"

#define FEED_MAX_LIMIT 1000
#define FEED_DEFAULT_LIMIT 100
#define FEED_MAX_WAIT_S 60

struct waiter {
    struct chatd_req *req;
    uint64_t after;
    uint64_t limit;
    uint64_t deadline_ns;
    struct waiter *next;
};

struct feed {
    struct evlog *log;
    struct event *wake;  /* activated by feed_notify */
    struct event *tick;  /* deadlines */
    pthread_mutex_t lock;
    struct waiter *waiters;
    bool closing;
};

struct collect {
    json_t *events;
    uint64_t last;
};

static int collect_event(void *arg, const struct chatd_event *ev)
{
    struct collect *c = arg;
    json_t *e = event_json(ev);

    if (e == NULL)
        return CHATD_ENOMEM;
    c->last = ev->seq;
    return json_array_append_new(c->events, e) == 0 ? CHATD_OK : CHATD_ENOMEM;
}

/* Answers with up to `limit` events after `after`, read in `txn`. */
static void reply_events(struct feed *f, struct chatd_req *req,
                         struct evlog_txn *txn, uint64_t after, uint64_t limit)
{
    struct collect c = {.events = json_array(), .last = after};
    json_t *body;
    char *text = NULL;
    int rc = c.events ? evlog_scan(txn, after, limit, collect_event, &c)
                      : CHATD_ENOMEM;

    if (rc == CHATD_OK) {
        body = json_pack("{s:o, s:I, s:I}", "events", c.events, "next_after",
                         (json_int_t)c.last, "last_seq",
                         (json_int_t)evlog_last_seq(f->log));
        c.events = NULL;
        text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
    }
    json_decref(c.events);
    if (text == NULL)
        http_reply_error(req, 500, "internal", core_strerror(rc));
    else
        http_reply_json(req, 200, text, strlen(text));
    free(text);
}

static bool read_args(struct chatd_req *req, uint64_t *after, uint64_t *limit,
                      uint64_t *wait)
{
    const char *a = http_req_query(req, "after");
    const char *l = http_req_query(req, "limit");
    const char *w = http_req_query(req, "wait");

    *after = 0;
    *limit = FEED_DEFAULT_LIMIT;
    *wait = 0;
    if ((a && !core_parse_u64(a, 0, UINT64_MAX - 1, after)) ||
        (l && !core_parse_u64(l, 1, FEED_MAX_LIMIT, limit)) ||
        (w && !core_parse_u64(w, 0, FEED_MAX_WAIT_S, wait))) {
        http_reply_error(req, 400, "invalid_argument",
                         "after must be a sequence number, limit 1..1000, "
                         "wait 0..60 seconds");
        return false;
    }
    return true;
}

static void park(struct feed *f, struct chatd_req *req, uint64_t after,
                 uint64_t limit, uint64_t wait)
{
    struct waiter *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    *w = (struct waiter){.req = req, .after = after, .limit = limit,
                         .deadline_ns = core_mono_ns() + wait * 1000000000u};
    http_req_defer(req);
    pthread_mutex_lock(&f->lock);
    w->next = f->waiters;
    f->waiters = w;
    pthread_mutex_unlock(&f->lock);
    /* A commit may have landed between our read and the parking. */
    if (evlog_last_seq(f->log) > after || f->closing)
        event_active(f->wake, EV_READ, 0);
}

static void get_events(void *ctx, struct chatd_req *req)
{
    struct feed *f = ctx;
    uint64_t after, limit, wait;
    struct evlog_txn *txn;

    if (!read_args(req, &after, &limit, &wait))
        return;
    if (wait > 0 && evlog_last_seq(f->log) <= after) {
        park(f, req, after, limit, wait);
        return;
    }
    txn = http_req_txn(req);
    if (txn == NULL)
        http_reply_error(req, 503, "unavailable", "storage unavailable");
    else
        reply_events(f, req, txn, after, limit);
}

/* Takes the waiters that are due (or all when `all`) off the list. */
static struct waiter *take_due(struct feed *f, bool all)
{
    uint64_t now = core_mono_ns(), last = evlog_last_seq(f->log);
    struct waiter **pp, *w, *due = NULL;

    pthread_mutex_lock(&f->lock);
    for (pp = &f->waiters; (w = *pp) != NULL;) {
        if (all || last > w->after || now >= w->deadline_ns) {
            *pp = w->next;
            w->next = due;
            due = w;
        } else {
            pp = &w->next;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return due;
}

static void answer_due(struct feed *f, bool all)
{
    struct waiter *w = take_due(f, all), *next;
    struct evlog_txn *txn = NULL;

    if (w != NULL && evlog_txn_begin(f->log, false, &txn) != CHATD_OK)
        txn = NULL;
    for (; w != NULL; w = next) {
        next = w->next;
        if (txn != NULL)
            reply_events(f, w->req, txn, w->after, w->limit);
        else
            http_reply_error(w->req, 503, "unavailable",
                             "storage unavailable");
        http_req_finish(w->req);
        free(w);
    }
    if (txn != NULL)
        evlog_txn_abort(txn);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct feed *f = arg;

    answer_due(f, f->closing);
}

int feed_open(struct feed **out, struct http_server *http, struct evlog *log,
              struct event_base *base)
{
    struct timeval tick = {0, 200000};
    struct feed *f = calloc(1, sizeof(*f));
    int rc;

    if (f == NULL)
        return CHATD_ENOMEM;
    f->log = log;
    pthread_mutex_init(&f->lock, NULL);
    f->wake = event_new(base, -1, 0, on_wake, f);
    f->tick = event_new(base, -1, EV_PERSIST, on_wake, f);
    if (f->wake == NULL || f->tick == NULL) {
        feed_close(f);
        return CHATD_ENOMEM;
    }
    event_add(f->tick, &tick);
    rc = http_route_add(http, "GET", "/v1/events", CHATD_AUTH_SERVICE,
                        get_events, f, "host");
    if (rc != CHATD_OK) {
        feed_close(f);
        return rc;
    }
    *out = f;
    return CHATD_OK;
}

void feed_notify(struct feed *f, uint64_t last)
{
    if (f != NULL && __atomic_load_n(&f->waiters, __ATOMIC_RELAXED) != NULL)
        event_active(f->wake, EV_READ, 0);
}

void feed_shutdown(struct feed *f)
{
    f->closing = true;
    answer_due(f, true);
}

void feed_close(struct feed *f)
{
    if (f == NULL)
        return;
    if (f->wake != NULL)
        event_free(f->wake);
    if (f->tick != NULL)
        event_free(f->tick);
    pthread_mutex_destroy(&f->lock);
    free(f);
}
