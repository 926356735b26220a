/*
 * push — see push.h. Two threads meet here: the sub_runner's thread runs
 * `handle` for one event at a time and waits on a condition variable while
 * the loop thread performs that event's HTTP requests with curl's multi
 * interface (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION on libevent). The
 * runner's own retry with backoff gives the exponential backoff between
 * attempts; curl's per-request timeout bounds every wait.
 */
#include "push/push.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bus/sub.h"
#include "core/core.h"
#include "ws/frame.h"

#define CKPT_NAME "host.push"
#define MAX_TYPES 16

struct target {
    char user[USERFEED_USER_MAX + 1];
    bool done;
};

/* One POST, owned by the loop thread while in flight. */
struct preq {
    struct preq *next, *prev;
    struct push *p;
    size_t target; /* index into p->targets */
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;
};

struct psock {
    struct event *ev;
};

struct push {
    struct evlog *log;
    struct commit *commit;
    struct userfeed *uf;
    struct ws_server *ws;
    struct event_base *base;
    char *url;
    char *types[MAX_TYPES];
    size_t ntypes;
    unsigned timeout_ms;

    struct sub_runner *runner;
    _Atomic uint64_t position;

    /* runner thread: the event being pushed */
    uint64_t cur_seq;
    struct target *targets;
    size_t ntargets;
    char author[USERFEED_USER_MAX + 1]; /* of the event: never pushed to */

    pthread_mutex_t lock; /* guards incoming, outstanding, closing */
    pthread_cond_t cond;
    struct preq *incoming;
    size_t outstanding;
    bool closing;

    /* loop thread */
    CURLM *multi;
    struct event *ev_wake, *ev_timer;
    struct preq *active;

    struct metrics_value *m_ok, *m_fail, *m_events;
};

/* --- loop thread: curl multi on libevent --- */

static void preq_free(struct preq *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    free(r->body);
    free(r);
}

static void request_done(struct push *p, struct preq *r, bool ok)
{
    metrics_add(ok ? p->m_ok : p->m_fail, 1);
    if (r->prev)
        r->prev->next = r->next;
    else
        p->active = r->next;
    if (r->next)
        r->next->prev = r->prev;
    pthread_mutex_lock(&p->lock);
    if (ok)
        p->targets[r->target].done = true;
    if (--p->outstanding == 0)
        pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    preq_free(r);
}

static void check_finished(struct push *p)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(p->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct preq *r = NULL;
        long status = 0;
        CURLcode res = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(p->multi, msg->easy_handle);
        bool ok = res == CURLE_OK && status >= 200 && status < 300;
        if (!ok)
            core_log(CORE_LOG_WARN, "push",
                     "webhook push for user %s failed: %s (HTTP %ld); will "
                     "retry",
                     r->p->targets[r->target].user,
                     res == CURLE_OK ? "bad status" : curl_easy_strerror(res),
                     status);
        request_done(p, r, ok);
    }
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    struct push *p = arg;
    int running;
    int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
                 ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(p->multi, fd, action, &running);
    check_finished(p);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct push *p = arg;
    int running;
    curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_finished(p);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
                     void *socketp)
{
    struct push *p = userp;
    struct psock *ps = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ps) {
            event_free(ps->ev);
            free(ps);
            curl_multi_assign(p->multi, s, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!ps) {
        ps = calloc(1, sizeof *ps);
        if (!ps)
            return -1;
        curl_multi_assign(p->multi, s, ps);
    } else {
        event_free(ps->ev);
    }
    ps->ev = event_new(p->base, s, kind, on_socket_event, p);
    if (!ps->ev || event_add(ps->ev, NULL) != 0)
        return -1;
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct push *p = userp;
    if (timeout_ms < 0) {
        evtimer_del(p->ev_timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    return evtimer_add(p->ev_timer, &tv) == 0 ? 0 : -1;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct push *p = arg;
    pthread_mutex_lock(&p->lock);
    struct preq *r = p->incoming;
    p->incoming = NULL;
    pthread_mutex_unlock(&p->lock);
    while (r) {
        struct preq *next = r->next;
        r->prev = NULL;
        r->next = p->active;
        if (p->active)
            p->active->prev = r;
        p->active = r;
        if (curl_multi_add_handle(p->multi, r->easy) != CURLM_OK)
            request_done(p, r, false);
        r = next;
    }
}

/* --- runner thread --- */

static bool type_wanted(const struct push *p, const char *type)
{
    for (size_t i = 0; i < p->ntypes; i++)
        if (strcmp(p->types[i], type) == 0)
            return true;
    return false;
}

static int add_target(void *arg, uint64_t seq, const char *user,
                      size_t user_len, uint64_t pos)
{
    struct push *p = arg;
    (void)user_len;
    if (strcmp(user, p->author) == 0)
        return 0; /* their own message: nothing to tell them */
    if (p->ws && ws_online(p->ws, user))
        return 0; /* it went out live */
    struct target *t = realloc(p->targets, (p->ntargets + 1) * sizeof *t);
    if (!t)
        return CHATD_ENOMEM;
    p->targets = t;
    memset(&t[p->ntargets], 0, sizeof *t);
    snprintf(t[p->ntargets].user, sizeof t->user, "%s", user);
    p->ntargets++;
    return 0;
}

/* Decides once per event who gets a push (its members, but not its author
 * and not who is online); kept across retries. */
static int load_targets(struct push *p, const struct chatd_event *ev)
{
    uint64_t seq = ev->seq;
    struct evlog_txn *txn;

    p->author[0] = '\0';
    if (ev->actor != NULL && strncmp(ev->actor, "user:", 5) == 0)
        snprintf(p->author, sizeof p->author, "%s", ev->actor + 5);
    free(p->targets);
    p->targets = NULL;
    p->ntargets = 0;
    int rc = evlog_txn_begin(p->log, false, &txn);
    if (rc != CHATD_OK)
        return rc;
    rc = userfeed_by_seq(p->uf, txn, seq, seq, add_target, p);
    evlog_txn_abort(txn);
    return rc;
}

/* The receiver's answer body is not used. */
static size_t discard(char *ptr, size_t size, size_t n, void *user)
{
    return size * n;
}

static struct preq *make_request(struct push *p, size_t i, uint64_t seq,
                                 const struct wsbuf *evobj)
{
    char key[USERFEED_USER_MAX + 32], hdr[USERFEED_USER_MAX + 64];
    struct wsbuf body = {0};
    struct preq *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->p = p;
    r->target = i;
    snprintf(key, sizeof key, "%llu:%s", (unsigned long long)seq,
             p->targets[i].user);
    wsbuf_puts(&body, "{\"user\":");
    wsbuf_json_str(&body, p->targets[i].user, strlen(p->targets[i].user));
    wsbuf_puts(&body, ",\"event\":");
    wsbuf_append(&body, evobj->data, evobj->len);
    wsbuf_puts(&body, ",\"idempotency_key\":");
    wsbuf_json_str(&body, key, strlen(key));
    wsbuf_puts(&body, "}");
    r->body = body.data;
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key);
    r->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = r->hdrs ? curl_slist_append(r->hdrs, hdr) : NULL;
    r->easy = curl_easy_init();
    if (body.failed || !h2 || !r->easy) {
        preq_free(r);
        return NULL;
    }
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, p->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
    return r;
}

/* Hands the requests to the loop and waits for all of them. */
static int run_requests(struct push *p, struct preq *list, size_t n)
{
    pthread_mutex_lock(&p->lock);
    if (p->closing) {
        pthread_mutex_unlock(&p->lock);
        while (list) {
            struct preq *next = list->next;
            preq_free(list);
            list = next;
        }
        return CHATD_ECLOSED;
    }
    p->outstanding += n;
    struct preq **tail = &p->incoming;
    while (*tail)
        tail = &(*tail)->next;
    *tail = list;
    pthread_mutex_unlock(&p->lock);
    event_active(p->ev_wake, EV_READ, 0);
    pthread_mutex_lock(&p->lock);
    while (p->outstanding > 0 && !p->closing)
        pthread_cond_wait(&p->cond, &p->lock);
    bool closing = p->closing;
    pthread_mutex_unlock(&p->lock);
    return closing ? CHATD_ECLOSED : CHATD_OK;
}

static int handle(void *ctx, const struct chatd_event *ev)
{
    struct push *p = ctx;
    struct wsbuf evobj = {0};
    struct preq *list = NULL;
    size_t n = 0;

    if (!type_wanted(p, ev->type))
        goto advanced;
    if (p->cur_seq != ev->seq) {
        int rc = load_targets(p, ev);
        if (rc != CHATD_OK)
            return rc;
        p->cur_seq = ev->seq;
    }
    frame_event_object(&evobj, ev, ev->data, ev->data_len);
    for (size_t i = 0; i < p->ntargets && !evobj.failed; i++) {
        if (p->targets[i].done)
            continue;
        struct preq *r = make_request(p, i, ev->seq, &evobj);
        if (!r)
            break;
        r->next = list;
        list = r;
        n++;
    }
    wsbuf_free(&evobj);
    int rc = n > 0 ? run_requests(p, list, n) : CHATD_OK;
    if (rc != CHATD_OK)
        return rc;
    for (size_t i = 0; i < p->ntargets; i++)
        if (!p->targets[i].done)
            return CHATD_EAGAIN; /* the runner retries with backoff */
    metrics_add(p->m_events, 1);
    p->cur_seq = 0;
advanced:
    atomic_store(&p->position, ev->seq);
    return CHATD_OK;
}

/* --- set-up --- */

static int ckpt_init_run(void *arg, struct evlog_txn *txn)
{
    uint64_t v;
    int rc = evlog_meta_get_u64(txn, "ckpt:" CKPT_NAME, &v);
    if (rc == CHATD_ENOTFOUND)
        return evlog_meta_put_u64(txn, "ckpt:" CKPT_NAME,
                                  evlog_txn_last_seq(txn));
    return rc;
}

/* A new checkpoint starts at the end of the log: no pushes for history. */
static int ckpt_init(struct push *p)
{
    struct evlog_txn *txn;
    uint64_t v;
    int rc = evlog_txn_begin(p->log, false, &txn);
    if (rc != CHATD_OK)
        return rc;
    rc = evlog_meta_get_u64(txn, "ckpt:" CKPT_NAME, &v);
    evlog_txn_abort(txn);
    if (rc != CHATD_ENOTFOUND)
        return rc;
    struct commit_job job = {.run = ckpt_init_run};
    return commit_run(p->commit, &job);
}

static int parse_types(struct push *p, const char *types)
{
    const char *s = types && *types ? types : "chat.message_posted";
    while (*s) {
        size_t n = strcspn(s, ", ");
        if (n > 0) {
            if (p->ntypes == MAX_TYPES)
                return CHATD_EINVAL;
            if (!(p->types[p->ntypes++] = strndup(s, n)))
                return CHATD_ENOMEM;
        }
        s += n;
        s += strspn(s, ", ");
    }
    return p->ntypes > 0 ? CHATD_OK : CHATD_EINVAL;
}

static void push_free(struct push *p)
{
    if (p->multi)
        curl_multi_cleanup(p->multi);
    if (p->ev_wake)
        event_free(p->ev_wake);
    if (p->ev_timer)
        event_free(p->ev_timer);
    for (size_t i = 0; i < p->ntypes; i++)
        free(p->types[i]);
    free(p->targets);
    free(p->url);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
    curl_global_cleanup();
}

static int setup_curl(struct push *p)
{
    p->multi = curl_multi_init();
    p->ev_wake = event_new(p->base, -1, 0, on_wake, p);
    p->ev_timer = evtimer_new(p->base, on_timeout, p);
    if (!p->multi || !p->ev_wake || !p->ev_timer)
        return CHATD_ENOMEM;
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
    return CHATD_OK;
}

static void register_metrics(struct push *p, struct metrics *m)
{
    if (!m)
        return;
    p->m_ok = metrics_counter(m, "chatd_push_requests_total",
                              "Webhook push requests by outcome.",
                              "result=\"ok\"");
    p->m_fail = metrics_counter(m, "chatd_push_requests_total",
                                "Webhook push requests by outcome.",
                                "result=\"error\"");
    p->m_events = metrics_counter(m, "chatd_push_events_total",
                                  "Events whose pushes all succeeded.", NULL);
}

int push_open(struct push **out, const struct push_options *opt,
              struct evlog *log, struct commit *c, struct userfeed *uf,
              struct ws_server *ws, struct event_base *base,
              struct metrics *m)
{
    if (!out || !opt || !log || !c || !uf || !base)
        return CHATD_EINVAL;
    *out = NULL;
    if (!opt->webhook_url || !*opt->webhook_url)
        return CHATD_OK; /* disabled */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return CHATD_EIO;
    struct push *p = calloc(1, sizeof *p);
    if (!p) {
        curl_global_cleanup();
        return CHATD_ENOMEM;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->log = log;
    p->commit = c;
    p->uf = uf;
    p->ws = ws;
    p->base = base;
    p->timeout_ms = opt->timeout_ms ? opt->timeout_ms : 5000;
    p->url = strdup(opt->webhook_url);
    int rc = p->url ? parse_types(p, opt->types) : CHATD_ENOMEM;
    if (rc == CHATD_OK)
        rc = setup_curl(p);
    if (rc == CHATD_OK)
        rc = ckpt_init(p);
    if (rc == CHATD_OK) {
        register_metrics(p, m);
        struct sub_spec spec = {.name = CKPT_NAME,
                                .prefix = p->ntypes == 1 ? p->types[0] : NULL,
                                .handle = handle,
                                .ctx = p};
        rc = sub_runner_start(&p->runner, log, c, &spec);
    }
    if (rc != CHATD_OK) {
        core_log(CORE_LOG_ERROR, "push", "cannot start webhook push: %s",
                 core_strerror(rc));
        push_free(p);
        return rc;
    }
    core_log(CORE_LOG_INFO, "push", "pushing offline deliveries to %s",
             p->url);
    *out = p;
    return CHATD_OK;
}

void push_notify(struct push *p, uint64_t last_seq)
{
    if (p && p->runner)
        sub_runner_notify(p->runner, last_seq);
}

uint64_t push_position(const struct push *p)
{
    return p ? atomic_load(&p->position) : 0;
}

void push_close(struct push *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->closing = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    sub_runner_stop(p->runner);
    /* The runner is gone: cancel what is still queued or in flight. */
    struct preq *r = p->incoming;
    p->incoming = NULL;
    while (r) {
        struct preq *next = r->next;
        preq_free(r);
        r = next;
    }
    while (p->active) {
        r = p->active;
        p->active = r->next;
        curl_multi_remove_handle(p->multi, r->easy);
        preq_free(r);
    }
    push_free(p);
}
