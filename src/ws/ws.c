/*
 * ws — the server object: the upgrade hand-off from the HTTP thread,
 * the queue of items crossing into the loop thread, the table of online
 * users, the sweeper (timeouts, pings, idle wslay contexts), presence,
 * shutdown. See ws.h.
 */
#include "ws/internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"

#define SWEEP_MS 250
#define MAX_PENDING_ITEMS 65536

int64_t ws_now_ms(void)
{
    return (int64_t)(core_mono_ns() / 1000000u);
}

void ws_metric_add(struct metrics_value *v, int64_t d)
{
    if (v)
        metrics_add(v, d);
}

static void set_conn_gauge(struct ws_server *ws)
{
    if (ws->m_conns)
        metrics_set(ws->m_conns, (int64_t)atomic_load(&ws->nconns));
}

/* --- the user table --- */

static size_t hash_id(const char *s)
{
    return (size_t)core_hash(s, strlen(s));
}

/* Caller holds ws->lock, or is the loop thread (which alone mutates). */
struct wsuser *ws_user_find_n(struct ws_server *ws, const char *id, size_t len)
{
    struct wsuser *u = ws->users[(size_t)core_hash(id, len) % ws->nbuckets];
    while (u && (strncmp(u->id, id, len) != 0 || u->id[len] != '\0'))
        u = u->hnext;
    return u;
}

struct wsuser *ws_user_find(struct ws_server *ws, const char *id)
{
    return ws_user_find_n(ws, id, strlen(id));
}

static void users_grow(struct ws_server *ws)
{
    size_t n = ws->nbuckets * 2;
    struct wsuser **t = calloc(n, sizeof *t);
    if (!t)
        return; /* chains just get longer */
    for (size_t i = 0; i < ws->nbuckets; i++) {
        struct wsuser *u = ws->users[i];
        while (u) {
            struct wsuser *next = u->hnext;
            size_t b = hash_id(u->id) % n;
            u->hnext = t[b];
            t[b] = u;
            u = next;
        }
    }
    free(ws->users);
    ws->users = t;
    ws->nbuckets = n;
}

static void presence(struct ws_server *ws, const char *id, bool online)
{
    struct http_principal who = {.kind = CHATD_PRINCIPAL_USER};
    snprintf(who.id, sizeof who.id, "%s", id);
    const char *body = online ? "{\"online\":true}" : "{\"online\":false}";
    /* A 404 (no module serves presence) is fine; the answer is ignored. */
    ws_dispatch(ws, NULL, A_PRESENCE, "POST", "/v1/presence", body,
                strlen(body), &who, NULL);
}

int ws_user_attach(struct ws_server *ws, struct conn *c, const char *id)
{
    struct wsuser *u = ws_user_find(ws, id);
    bool first = false;
    pthread_mutex_lock(&ws->lock);
    if (!u) {
        size_t n = strlen(id);
        u = calloc(1, sizeof *u + n + 1);
        if (!u) {
            pthread_mutex_unlock(&ws->lock);
            return CHATD_ENOMEM;
        }
        memcpy(u->id, id, n + 1);
        if (ws->nusers >= ws->nbuckets)
            users_grow(ws);
        size_t b = hash_id(id) % ws->nbuckets;
        u->hnext = ws->users[b];
        ws->users[b] = u;
        ws->nusers++;
    }
    first = u->nconn == 0;
    u->nconn++;
    c->unext = u->conns;
    u->conns = c;
    c->user = u;
    pthread_mutex_unlock(&ws->lock);
    if (first)
        presence(ws, id, true);
    return CHATD_OK;
}

void ws_user_detach(struct ws_server *ws, struct conn *c)
{
    struct wsuser *u = c->user;
    if (!u)
        return;
    char id[USERFEED_USER_MAX + 1];
    bool last;
    snprintf(id, sizeof id, "%s", u->id);
    pthread_mutex_lock(&ws->lock);
    struct conn **pp = &u->conns;
    while (*pp && *pp != c)
        pp = &(*pp)->unext;
    if (*pp)
        *pp = c->unext;
    c->unext = NULL;
    c->user = NULL;
    last = --u->nconn == 0;
    if (last) {
        struct wsuser **up = &ws->users[hash_id(u->id) % ws->nbuckets];
        while (*up != u)
            up = &(*up)->hnext;
        *up = u->hnext;
        ws->nusers--;
        free(u);
    }
    bool down = ws->shutting_down;
    pthread_mutex_unlock(&ws->lock);
    if (last && !down)
        presence(ws, id, false);
}

/* --- items crossing into the loop thread --- */

/* Appends under the lock; false if shutting down or too many pending. */
static bool xpush(struct ws_server *ws, struct xitem *it, bool limit)
{
    pthread_mutex_lock(&ws->lock);
    bool ok = !ws->shutting_down && (!limit || ws->xcount < MAX_PENDING_ITEMS);
    if (ok) {
        it->next = NULL;
        if (ws->xtail)
            ws->xtail->next = it;
        else
            ws->xhead = it;
        ws->xtail = it;
        ws->xcount++;
    }
    pthread_mutex_unlock(&ws->lock);
    if (ok)
        event_active(ws->ev_wake, EV_READ, 0);
    return ok;
}

static void xitem_free(struct xitem *it)
{
    if (it->token) {
        explicit_bzero(it->token, strlen(it->token));
        free(it->token);
    }
    free(it->data);
    free(it->ref_json);
    free(it);
}

static void on_upgrade(void *ctx, int sock, const char *extra,
                       size_t extra_len, void *urh,
                       const struct http_principal *who, const char *token)
{
    struct ws_server *ws = ctx;
    struct xitem *it = calloc(1, sizeof *it);
    if (it && token && (it->token = strdup(token)) == NULL) {
        free(it);
        it = NULL;
    }
    if (it && extra_len > 0) {
        it->data = malloc(extra_len);
        if (!it->data) {
            xitem_free(it);
            it = NULL;
        } else {
            memcpy(it->data, extra, extra_len);
            it->len = extra_len;
        }
    }
    if (!it) {
        http_upgrade_close(urh);
        return;
    }
    it->kind = X_HANDOFF;
    it->sock = sock;
    it->urh = urh;
    if (who)
        it->who = *who;
    /* Never refuse a hand-off for the count limit: the socket is ours. */
    if (!xpush(ws, it, false)) {
        http_upgrade_close(urh);
        xitem_free(it);
    }
}

/* The header's token again, now that the connection is about to join its
 * user on this thread: a revocation committed since the HTTP thread's
 * check has moved the token cache on, and its close of the user's
 * connections has already run here (it went through the same queue), so
 * without this a connection let in just before it would survive it. A
 * hit in the token cache costs one hash. */
static bool handoff_token_still_valid(struct ws_server *ws,
                                      const struct xitem *it, int *close_code,
                                      const char **why)
{
    struct http_principal now;
    int rc;

    if (it->token == NULL)
        return true;
    memset(&now, 0, sizeof(now));
    rc = ws->deps.auth(ws->deps.auth_ctx, it->token, &now);
    if (rc == CHATD_OK && now.kind == it->who.kind &&
        strcmp(now.id, it->who.id) == 0)
        return true;
    if (rc == CHATD_OK || rc == CHATD_ENOTFOUND) {
        *close_code = WSLAY_CODE_POLICY_VIOLATION;
        *why = "token revoked";
    } else {
        *close_code = WSLAY_CODE_INTERNAL_SERVER_ERROR;
        *why = "cannot check the token now";
    }
    return false;
}

static void handle_handoff(struct ws_server *ws, struct xitem *it)
{
    const char *why = NULL;
    int code = 0;
    struct conn *c = conn_new(ws, it->sock, it->urh, it->data, it->len);
    if (!c) {
        core_log(CORE_LOG_ERROR, "ws", "out of memory for a connection");
        http_upgrade_close(it->urh);
        return;
    }
    set_conn_gauge(ws);
    if (it->who.kind == CHATD_PRINCIPAL_NONE)
        return; /* waits for the auth frame */
    if (!handoff_token_still_valid(ws, it, &code, &why)) {
        conn_close(c, code, why);
        conn_flush(c);
        return;
    }
    if (it->who.kind != CHATD_PRINCIPAL_USER) {
        conn_close(c, WSLAY_CODE_POLICY_VIOLATION, "user token required");
        conn_flush(c);
        return;
    }
    c->token_expires_ms = it->who.expires_ms;
    proto_start_session(c, it->who.id, true, false, 0, NULL);
    conn_flush(c);
}

static void send_ephemeral(struct ws_server *ws, struct xitem *it)
{
    struct wsuser *u = ws_user_find(ws, it->user);
    for (struct conn *c = u ? u->conns : NULL; c; c = c->unext) {
        if (c->state == CONN_LIVE || c->state == CONN_HOLD) {
            if (conn_queue_text(c, it->data, it->len, true))
                conn_flush_later(c);
        }
    }
}

/* A user's tokens were revoked: each of their connections closes (1008)
 * and reconnects with a token that still holds. */
static void close_user(struct ws_server *ws, struct xitem *it)
{
    struct conn *c, *next;

    if (it->user[0]) {
        struct wsuser *u = ws_user_find(ws, it->user);
        for (c = u ? u->conns : NULL; c; c = next) {
            next = c->unext;
            conn_close(c, WSLAY_CODE_POLICY_VIOLATION, "token revoked");
        }
        return;
    }
    for (c = ws->conns; c; c = next) {
        next = c->next;
        if (c->user)
            conn_close(c, WSLAY_CODE_POLICY_VIOLATION, "token revoked");
    }
}

/* Detaches everything queued for the loop thread, oldest first. */
static struct xitem *take_items(struct ws_server *ws)
{
    pthread_mutex_lock(&ws->lock);
    struct xitem *it = ws->xhead;
    ws->xhead = ws->xtail = NULL;
    ws->xcount = 0;
    pthread_mutex_unlock(&ws->lock);
    return it;
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ws_server *ws = arg;
    struct xitem *it = take_items(ws);
    while (it) {
        struct xitem *next = it->next;
        switch (it->kind) {
        case X_HANDOFF: handle_handoff(ws, it); break;
        case X_ANSWER: proto_answer(ws, it); break;
        case X_EPHEMERAL: send_ephemeral(ws, it); break;
        case X_CLOSE_USER: close_user(ws, it); break;
        }
        xitem_free(it);
        it = next;
    }
    conn_flush_pending(ws);
}

/* --- dispatch of client frames and presence onto REST routes --- */

struct dispatch_arg {
    struct ws_server *ws;
    struct xitem *it;
};

static void dispatch_done(void *arg, unsigned status, const char *body,
                          size_t len)
{
    struct dispatch_arg *da = arg;
    struct ws_server *ws = da->ws;
    struct xitem *it = da->it;
    free(da);
    it->status = status;
    if (len > 0 && it->akind != A_PRESENCE) {
        it->data = malloc(len + 1);
        if (it->data) {
            memcpy(it->data, body, len);
            it->data[len] = 0;
            it->len = len;
        }
    }
    bool queued = it->akind != A_PRESENCE && xpush(ws, it, false);
    if (!queued) {
        /* Presence answers are ignored; after shutdown the connection
         * reference is dropped by ws_close's leftovers sweep. */
        if (it->conn) {
            pthread_mutex_lock(&ws->lock);
            it->next = NULL;
            it->kind = X_ANSWER;
            if (ws->xtail)
                ws->xtail->next = it;
            else
                ws->xhead = it;
            ws->xtail = it;
            pthread_mutex_unlock(&ws->lock);
        } else {
            xitem_free(it);
        }
    }
    pthread_mutex_lock(&ws->lock);
    ws->dispatches--;
    pthread_cond_broadcast(&ws->cond);
    pthread_mutex_unlock(&ws->lock);
}

int ws_dispatch(struct ws_server *ws, struct conn *c, enum answer_kind k,
                const char *method, const char *path, const char *body,
                size_t len, const struct http_principal *who,
                const char *ref_json)
{
    struct dispatch_arg *da = malloc(sizeof *da);
    struct xitem *it = calloc(1, sizeof *it);
    if (!da || !it)
        goto fail;
    it->kind = X_ANSWER;
    it->akind = k;
    it->conn = c;
    if (ref_json && !(it->ref_json = strdup(ref_json)))
        goto fail;
    da->ws = ws;
    da->it = it;
    if (c) {
        c->refs++;
        c->inflight++;
    }
    pthread_mutex_lock(&ws->lock);
    ws->dispatches++;
    pthread_mutex_unlock(&ws->lock);
    int rc = http_dispatch(ws->deps.http, method, path, body, len, who, NULL,
                           dispatch_done, da);
    if (rc == CHATD_OK)
        return CHATD_OK;
    pthread_mutex_lock(&ws->lock);
    ws->dispatches--;
    pthread_mutex_unlock(&ws->lock);
    if (c) {
        c->refs--;
        c->inflight--;
    }
    free(da);
    xitem_free(it);
    return rc;
fail:
    free(da);
    if (it)
        xitem_free(it);
    return CHATD_ENOMEM;
}

/* --- the sweeper --- */

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ws_server *ws = arg;
    int64_t now = ws_now_ms();
    struct conn *c = ws->conns;
    while (c) {
        struct conn *next = c->next; /* c may be released (unlinked) */
        conn_sweep(c, now);
        c = next;
    }
    conn_flush_pending(ws);
}

/* --- public API --- */

static void set_defaults(struct ws_options *o)
{
    if (!o->max_outbuf)
        o->max_outbuf = 1024 * 1024;
    if (!o->max_message)
        o->max_message = 64 * 1024;
    if (!o->ping_interval_s)
        o->ping_interval_s = 30;
    if (!o->idle_timeout_s)
        o->idle_timeout_s = 75;
    if (!o->auth_timeout_s)
        o->auth_timeout_s = 10;
    if (!o->resume_window_ms)
        o->resume_window_ms = 1000;
    if (!o->close_linger_ms)
        o->close_linger_ms = 5000;
    if (!o->max_inflight)
        o->max_inflight = 32;
}

static void register_metrics(struct ws_server *ws)
{
    struct metrics *m = ws->deps.metrics;
    if (!m)
        return;
    ws->m_conns = metrics_gauge(m, "chatd_ws_connections",
                                "Open WebSocket connections.", NULL);
    ws->m_frames = metrics_counter(m, "chatd_ws_frames_sent_total",
                                   "WebSocket messages queued to clients.",
                                   NULL);
    ws->m_slow = metrics_counter(
        m, "chatd_ws_slow_consumer_closes_total",
        "Connections closed with 4008 because their buffer overflowed.",
        NULL);
    ws->m_deliveries = metrics_counter(
        m, "chatd_ws_deliveries_total",
        "Feed events queued to WebSocket connections.", NULL);
}

static int create_events(struct ws_server *ws)
{
    struct event_base *b = ws->deps.base;
    struct timeval tv = {0, SWEEP_MS * 1000};
    ws->ev_wake = event_new(b, -1, 0, wake_cb, ws);
    ws->ev_notify = event_new(b, -1, 0, deliver_notify_cb, ws);
    ws->ev_pump = event_new(b, -1, 0, deliver_pump_cb, ws);
    ws->ev_sweep = event_new(b, -1, EV_PERSIST, sweep_cb, ws);
    if (!ws->ev_wake || !ws->ev_notify || !ws->ev_pump || !ws->ev_sweep)
        return CHATD_ENOMEM;
    if (event_add(ws->ev_sweep, &tv) != 0)
        return CHATD_ENOMEM;
    return CHATD_OK;
}

static void free_events(struct ws_server *ws)
{
    if (ws->ev_wake)
        event_free(ws->ev_wake);
    if (ws->ev_notify)
        event_free(ws->ev_notify);
    if (ws->ev_pump)
        event_free(ws->ev_pump);
    if (ws->ev_sweep)
        event_free(ws->ev_sweep);
    ws->ev_wake = ws->ev_notify = ws->ev_pump = ws->ev_sweep = NULL;
}

int ws_open(struct ws_server **out, const struct ws_options *opt,
            const struct ws_deps *deps)
{
    if (!out || !deps || !deps->http || !deps->log || !deps->feed ||
        !deps->base || !deps->auth)
        return CHATD_EINVAL;
    struct ws_server *ws = calloc(1, sizeof *ws);
    if (!ws)
        return CHATD_ENOMEM;
    if (opt)
        ws->opt = *opt;
    set_defaults(&ws->opt);
    ws->deps = *deps;
    ws->low_water = ws->opt.max_outbuf / 4;
    if (ws->low_water > 256 * 1024)
        ws->low_water = 256 * 1024;
    snprintf(ws->epoch, sizeof ws->epoch, "%s", evlog_epoch(deps->log));
    pthread_mutex_init(&ws->lock, NULL);
    pthread_cond_init(&ws->cond, NULL);
    ws->nbuckets = 1024;
    ws->users = calloc(ws->nbuckets, sizeof *ws->users);
    uint64_t last = evlog_last_seq(deps->log);
    ws->processed_seq = last;
    atomic_store(&ws->notified_seq, last);
    int rc = ws->users ? create_events(ws) : CHATD_ENOMEM;
    if (rc == CHATD_OK)
        rc = conn_framer_init(ws);
    if (rc == CHATD_OK)
        rc = http_upgrade_add(deps->http, "/v1/ws", on_upgrade, ws);
    if (rc != CHATD_OK) {
        conn_framer_free(ws);
        free_events(ws);
        free(ws->users);
        pthread_cond_destroy(&ws->cond);
        pthread_mutex_destroy(&ws->lock);
        free(ws);
        return rc;
    }
    register_metrics(ws);
    *out = ws;
    return CHATD_OK;
}

void ws_notify(struct ws_server *ws, uint64_t first_seq, uint64_t last_seq)
{
    uint64_t cur = atomic_load(&ws->notified_seq);
    while (cur < last_seq &&
           !atomic_compare_exchange_weak(&ws->notified_seq, &cur, last_seq))
        ;
    event_active(ws->ev_notify, EV_READ, 0);
}

int ws_close_user(struct ws_server *ws, const char *user_id)
{
    if (!ws || (user_id && strlen(user_id) > USERFEED_USER_MAX))
        return CHATD_EINVAL;
    struct xitem *it = calloc(1, sizeof *it);
    if (!it)
        return CHATD_ENOMEM;
    it->kind = X_CLOSE_USER;
    snprintf(it->user, sizeof it->user, "%s", user_id ? user_id : "");
    if (!xpush(ws, it, false)) {
        xitem_free(it);
        return CHATD_ECLOSED;
    }
    return CHATD_OK;
}

int ws_ephemeral(struct ws_server *ws, const char *user_id, const char *json,
                 size_t len)
{
    if (!ws || !user_id || !json || len == 0 ||
        strlen(user_id) > USERFEED_USER_MAX)
        return CHATD_EINVAL;
    if (!ws_online(ws, user_id))
        return CHATD_ENOTFOUND;
    struct xitem *it = calloc(1, sizeof *it);
    if (!it || !(it->data = malloc(len))) {
        free(it);
        return CHATD_ENOMEM;
    }
    it->kind = X_EPHEMERAL;
    memcpy(it->data, json, len);
    it->len = len;
    snprintf(it->user, sizeof it->user, "%s", user_id);
    if (!xpush(ws, it, true)) {
        bool down;
        pthread_mutex_lock(&ws->lock);
        down = ws->shutting_down;
        pthread_mutex_unlock(&ws->lock);
        xitem_free(it);
        return down ? CHATD_ECLOSED : CHATD_EFULL;
    }
    return CHATD_OK;
}

bool ws_online(struct ws_server *ws, const char *user_id)
{
    if (!ws || !user_id)
        return false;
    pthread_mutex_lock(&ws->lock);
    struct wsuser *u = ws_user_find(ws, user_id);
    bool on = u && u->nconn > 0;
    pthread_mutex_unlock(&ws->lock);
    return on;
}

size_t ws_connection_count(struct ws_server *ws)
{
    return ws ? atomic_load(&ws->nconns) : 0;
}

/* Items left in the queue at shutdown: release sockets, drop answers. */
static void drain_items(struct ws_server *ws)
{
    struct xitem *it = take_items(ws);
    while (it) {
        struct xitem *next = it->next;
        if (it->kind == X_HANDOFF)
            http_upgrade_close(it->urh);
        else if (it->kind == X_ANSWER && it->conn)
            conn_unref(it->conn);
        xitem_free(it);
        it = next;
    }
}

void ws_shutdown(struct ws_server *ws)
{
    if (!ws)
        return;
    pthread_mutex_lock(&ws->lock);
    bool was = ws->shutting_down;
    ws->shutting_down = true;
    pthread_mutex_unlock(&ws->lock);
    if (was)
        return;
    while (ws->conns) {
        struct conn *c = ws->conns;
        if (c->state != CONN_CLOSING)
            conn_close(c, WSLAY_CODE_GOING_AWAY, "server shutting down");
        conn_flush(c); /* one attempt to get the close frame out */
        if (ws->conns == c)
            conn_release(c);
    }
    drain_items(ws);
    set_conn_gauge(ws);
}

void ws_close(struct ws_server *ws)
{
    if (!ws)
        return;
    ws_shutdown(ws);
    /* Answers of dispatched frames may still arrive from the writer: wait
     * (bounded) so none lands in freed memory. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&ws->lock);
    while (ws->dispatches > 0 &&
           pthread_cond_timedwait(&ws->cond, &ws->lock, &until) == 0)
        ;
    unsigned left = ws->dispatches;
    pthread_mutex_unlock(&ws->lock);
    if (left > 0) {
        core_log(CORE_LOG_ERROR, "ws",
                 "%u WebSocket frames still awaiting an answer at close; "
                 "leaking the ws server rather than freeing it under them",
                 left);
        return;
    }
    drain_items(ws);
    free_events(ws);
    for (size_t i = 0; i < ws->nbuckets; i++) {
        while (ws->users[i]) {
            struct wsuser *u = ws->users[i];
            ws->users[i] = u->hnext;
            free(u);
        }
    }
    free(ws->users);
    conn_framer_free(ws);
    wsbuf_free(&ws->scratch);
    wsbuf_free(&ws->evcache);
    pthread_cond_destroy(&ws->cond);
    pthread_mutex_destroy(&ws->lock);
    free(ws);
}
