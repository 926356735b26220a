/*
 * `chatd serve`: opens the subsystems in dependency order, serves until
 * SIGTERM/SIGINT, then stops in reverse: stop accepting, close WebSockets
 * and parked long-polls, stop modules and subscribers, drain the writer
 * (every accepted write is committed and answered), stop HTTP, close the
 * environment.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "cli/cli.h"
#include "commit/commit.h"
#include "core/core.h"
#include "evlog/evlog.h"
#include "feed/feed.h"
#include "http/http.h"
#include "metrics/metrics.h"
#include "modhost/modhost.h"
#include "push/push.h"
#include "identity/identity.h"
#include "ws/userfeed.h"
#include "ws/ws.h"

struct server {
    const struct config *cfg;
    struct evlog *log;
    struct metrics *metrics;
    struct modhost *mh;
    struct userfeed *userfeed;
    struct event_base *base;
    struct http_server *http;
    struct commit *commit;
    struct ws_server *ws;
    struct feed *feed;
    struct push *push;
    struct event *sigterm;
    struct event *sigint;
    char admin_token[256];
};

static void close_revoked(void *arg, const char *user_id)
{
    struct server *s = arg;

    if (s->ws != NULL)
        ws_close_user(s->ws, user_id);
}

static void after_commit(void *ctx, uint64_t first, uint64_t last)
{
    struct server *s = ctx;

    /* Before the batch's answers go out: a revoked token stops working
     * for every request that starts after its revocation's answer. */
    if (s->mh != NULL)
        identity_after_commit(modhost_identity_state(s->mh), close_revoked, s);

    /* Live WebSocket delivery first: the others' wake-ups (condition
     * signals) may hand this core to their threads before we go on. */
    if (s->ws != NULL)
        ws_notify(s->ws, first, last);
    modhost_after_commit(s->mh, first, last);
    feed_notify(s->feed, last);
    /* push is opened after the writer (it commits its checkpoint). */
    push_notify(__atomic_load_n(&s->push, __ATOMIC_ACQUIRE), last);
}

static void before_batch(void *ctx)
{
    struct server *s = ctx;

    if (s->mh != NULL)
        modhost_discard_deferred(s->mh);
}

static int before_commit(void *ctx, struct evlog_txn *top)
{
    struct server *s = ctx;

    return s->mh != NULL ? modhost_flush_deferred(s->mh, top) : CHATD_OK;
}

static void collect_storage(void *ctx, struct metrics_out *out)
{
    const struct server *s = ctx;
    struct commit_stats st;
    const char *names[64];
    uint64_t pos[64], last = evlog_last_seq(s->log);
    size_t i, n;

    commit_stats_get(s->commit, &st);
    metrics_out_printf(out, "# HELP chatd_events_appended_total Events "
                       "committed to the log.\n# TYPE "
                       "chatd_events_appended_total counter\n"
                       "chatd_events_appended_total %llu\n",
                       (unsigned long long)st.events);
    metrics_out_printf(out, "# HELP chatd_log_last_seq Highest committed "
                       "sequence number.\n# TYPE chatd_log_last_seq gauge\n"
                       "chatd_log_last_seq %llu\n", (unsigned long long)last);
    metrics_out_printf(out, "# HELP chatd_commit_batches_total Group "
                       "commits (synced transactions).\n# TYPE "
                       "chatd_commit_batches_total counter\n"
                       "chatd_commit_batches_total %llu\n",
                       (unsigned long long)st.batches);
    metrics_out_printf(out, "# HELP chatd_commit_batches_redone_total "
                       "Batches run again without a command that failed "
                       "after writing.\n# TYPE "
                       "chatd_commit_batches_redone_total counter\n"
                       "chatd_commit_batches_redone_total %llu\n",
                       (unsigned long long)st.batches_redone);
    metrics_out_printf(out, "# HELP chatd_commit_batches_failed_total "
                       "Batches refused or not committed (their writes "
                       "answered 503).\n# TYPE "
                       "chatd_commit_batches_failed_total counter\n"
                       "chatd_commit_batches_failed_total %llu\n"
                       "# HELP chatd_commit_storage_full_total Of those, "
                       "because the disk (or map_size_mb) was full.\n# TYPE "
                       "chatd_commit_storage_full_total counter\n"
                       "chatd_commit_storage_full_total %llu\n",
                       (unsigned long long)st.batches_failed,
                       (unsigned long long)st.batches_full);
    metrics_out_printf(out, "# HELP chatd_commit_queue_depth Writes waiting "
                       "for the writer.\n# TYPE chatd_commit_queue_depth "
                       "gauge\nchatd_commit_queue_depth %llu\n",
                       (unsigned long long)st.queue_depth);
    metrics_out_printf(out, "# HELP chatd_commit_duration_seconds Commit "
                       "latency including fsync.\n# TYPE "
                       "chatd_commit_duration_seconds histogram\n");
    for (i = 0, n = 0; i < 12; i++) {
        n += st.commit_hist[i];
        if (i < 11)
            metrics_out_printf(out, "chatd_commit_duration_seconds_bucket"
                               "{le=\"%g\"} %zu\n", commit_bucket_le(i), n);
        else
            metrics_out_printf(out, "chatd_commit_duration_seconds_bucket"
                               "{le=\"+Inf\"} %zu\n", n);
    }
    metrics_out_printf(out, "chatd_commit_duration_seconds_sum %.6f\n"
                       "chatd_commit_duration_seconds_count %llu\n",
                       (double)st.commit_ns_sum / 1e9,
                       (unsigned long long)st.batches);
    n = modhost_subscriber_positions(s->mh, names, pos, 63);
    if (s->push != NULL && n < 64) {
        names[n] = "host.push";
        pos[n++] = push_position(s->push);
    }
    metrics_out_printf(out, "# HELP chatd_subscriber_lag_events Events "
                       "committed but not yet handled by an async "
                       "subscriber.\n# TYPE chatd_subscriber_lag_events "
                       "gauge\n");
    for (i = 0; i < n && i < 64; i++)
        metrics_out_printf(out, "chatd_subscriber_lag_events{subscriber=\"%s\"}"
                           " %llu\n", names[i],
                           (unsigned long long)(last > pos[i] ? last - pos[i]
                                                              : 0));
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct server *s = arg;

    core_log(CORE_LOG_INFO, "chatd", "signal %d: shutting down",
             (int)sig);
    event_base_loopbreak(s->base);
}

static int open_storage(struct server *s)
{
    char why[256] = "";
    struct evlog_options opt = {.dir = s->cfg->data_dir,
                                .map_size = (size_t)s->cfg->map_size,
                                .nosync = s->cfg->nosync,
                                .views_writable_map = s->cfg->writable_map,
                                .boot_id = getenv("CHATD_BOOT_ID"),
                                .err = why,
                                .err_size = sizeof(why)};
    int rc;

    rc = cli_data_dir(s->cfg);
    if (rc == CHATD_OK)
        rc = cli_lock_data(s->cfg, "serve");
    if (rc == CHATD_OK)
        rc = cli_admin_token(s->cfg, s->admin_token, sizeof(s->admin_token));
    if (rc == CHATD_OK && s->cfg->writable_map)
        rc = cli_views_catch_up(s->cfg, why, sizeof(why));
    if (rc == CHATD_OK)
        rc = evlog_open(&s->log, &opt);
    if (rc == CHATD_OK)
        rc = metrics_open(&s->metrics);
    if (rc == CHATD_OK)
        rc = userfeed_open(&s->userfeed, s->log);
    if (rc != CHATD_OK)
        core_log(CORE_LOG_ERROR, "chatd", "cannot open the data directory "
                 "%s: %s", s->cfg->data_dir, why[0] ? why : core_strerror(rc));
    return rc;
}

static int open_http(struct server *s)
{
    struct http_options opt = {
        .address = s->cfg->address,
        .port = s->cfg->port,
        .max_body = (size_t)s->cfg->max_body,
        .max_connections = (unsigned)s->cfg->max_connections,
        .connection_memory = (size_t)s->cfg->connection_memory,
        .timeout_s = (unsigned)s->cfg->http_timeout_s,
        .threads = (unsigned)s->cfg->http_threads,
        .cors_origins = s->cfg->cors_origins};
    struct http_deps deps = {.auth = modhost_authenticate,
                             .auth_ctx = s->mh,
                             .log = s->log,
                             .metrics = s->metrics};

    return http_open(&s->http, &opt, &deps);
}

static int ws_options_read(const struct config *cfg, struct ws_options *o)
{
    const json_t *w = config_section(cfg, "ws");
    int64_t outbuf, msg, ping, idle;
    int rc;

    rc = config_int(w, "ws", "max_outbuf", 1 << 20, 4096, 1 << 30, &outbuf);
    if (rc == CHATD_OK)
        rc = config_int(w, "ws", "max_message", 65536, 256, 16 << 20, &msg);
    if (rc == CHATD_OK)
        rc = config_int(w, "ws", "ping_interval_s", 30, 1, 3600, &ping);
    if (rc == CHATD_OK)
        rc = config_int(w, "ws", "idle_timeout_s", 75, 2, 7200, &idle);
    *o = (struct ws_options){.max_outbuf = (size_t)outbuf,
                             .max_message = (size_t)msg,
                             .ping_interval_s = (unsigned)ping,
                             .idle_timeout_s = (unsigned)idle};
    return rc;
}

static const char *const push_keys[] = {"webhook_url", "types", "timeout_ms",
                                        NULL};
static const char *const ws_keys[] = {"max_outbuf", "max_message",
                                      "ping_interval_s", "idle_timeout_s",
                                      NULL};

/* Unknown keys in a host section are refused like everywhere else. */
static int section_keys_known(const struct config *cfg, const char *name,
                              const char *const *known)
{
    const json_t *sec = config_section(cfg, name);
    const char *const *k;
    const char *key;
    json_t *v;
    int rc = CHATD_OK;

    json_object_foreach((json_t *)sec, key, v) {
        for (k = known; *k != NULL && strcmp(*k, key) != 0; k++)
            ;
        if (*k == NULL) {
            core_log(CORE_LOG_ERROR, "config", "unknown key %s.%s", name,
                     key);
            rc = CHATD_EINVAL;
        }
    }
    return rc;
}

static int open_push(struct server *s)
{
    const json_t *p = config_section(s->cfg, "push");
    struct push_options opt = {0};
    struct push *push = NULL;
    int64_t timeout_ms;
    int rc;

    rc = section_keys_known(s->cfg, "push", push_keys);
    if (rc == CHATD_OK)
        rc = config_str(p, "push", "webhook_url", NULL, &opt.webhook_url);
    if (rc == CHATD_OK)
        rc = config_str(p, "push", "types", NULL, &opt.types);
    if (rc == CHATD_OK)
        rc = config_int(p, "push", "timeout_ms", 5000, 100, 120000,
                        &timeout_ms);
    if (rc != CHATD_OK)
        return rc;
    opt.timeout_ms = (unsigned)timeout_ms;
    rc = push_open(&push, &opt, s->log, s->commit, s->userfeed, s->ws,
                   s->base, s->metrics);
    if (rc == CHATD_OK)
        __atomic_store_n(&s->push, push, __ATOMIC_RELEASE);
    return rc;
}

static int open_runtime(struct server *s)
{
    struct commit_hooks hooks = {.before_batch = before_batch,
                                 .before_commit = before_commit,
                                 .after_commit = after_commit,
                                 .ctx = s};
    struct commit_options copt = {.max_queue = (unsigned)s->cfg->max_queue};
    struct ws_options wopt;
    struct ws_deps wdeps = {.http = s->http, .log = s->log,
                            .feed = s->userfeed, .base = s->base,
                            .metrics = s->metrics,
                            .auth = modhost_authenticate, .auth_ctx = s->mh,
                            .upcast = modhost_upcast_data,
                            .upcast_ctx = s->mh};
    int rc;

    rc = commit_open(&s->commit, s->log, &copt, &hooks);
    if (rc == CHATD_OK)
        rc = section_keys_known(s->cfg, "ws", ws_keys);
    if (rc == CHATD_OK)
        rc = ws_options_read(s->cfg, &wopt);
    if (rc == CHATD_OK)
        rc = ws_open(&s->ws, &wopt, &wdeps);
    if (rc == CHATD_OK)
        rc = open_push(s);
    if (rc == CHATD_OK)
        rc = feed_open(&s->feed, s->http, s->log, s->base);
    if (rc == CHATD_OK)
        rc = metrics_collector(s->metrics, collect_storage, s);
    if (rc == CHATD_OK)
        modhost_attach_runtime(s->mh, s->commit, s->ws);
    return rc;
}

static int open_modules(struct server *s)
{
    struct modhost_deps deps = {.log = s->log, .metrics = s->metrics,
                                .userfeed = s->userfeed, .base = s->base};
    int rc;

    rc = cli_modules_load(s->cfg, s->metrics, &s->mh);
    if (rc != CHATD_OK)
        return rc;
    modhost_set_admin_token(s->mh, s->admin_token);
    rc = open_http(s);
    if (rc != CHATD_OK)
        return rc;
    deps.http = s->http;
    rc = modhost_attach(s->mh, &deps);
    if (rc == CHATD_OK)
        rc = modhost_prepare(s->mh);
    return rc;
}

static int start_serving(struct server *s)
{
    int rc = modhost_start(s->mh);

    if (rc == CHATD_OK)
        rc = http_start(s->http);
    if (rc != CHATD_OK) {
        core_log(CORE_LOG_ERROR, "chatd", "cannot listen on %s: %s",
                 s->cfg->listen, core_strerror(rc));
        return rc;
    }
    s->sigterm = evsignal_new(s->base, SIGTERM, on_signal, s);
    s->sigint = evsignal_new(s->base, SIGINT, on_signal, s);
    if (s->sigterm == NULL || s->sigint == NULL)
        return CHATD_ENOMEM;
    event_add(s->sigterm, NULL);
    event_add(s->sigint, NULL);
    core_log(CORE_LOG_INFO, "chatd",
             "listening on http://%s%s%s:%u (data %s, epoch %s, %s)",
             strchr(s->cfg->address, ':') ? "[" : "", s->cfg->address,
             strchr(s->cfg->address, ':') ? "]" : "",
             (unsigned)http_port(s->http), s->cfg->data_dir,
             evlog_epoch(s->log),
             s->cfg->nosync ? "durability relaxed: no fsync" : "durable");
    http_set_ready(s->http, true);
    return CHATD_OK;
}

/* Lets MHD send the answers the writer just released before it stops. */
static void let_answers_flush(void)
{
    usleep(200000);
}

static void shutdown_server(struct server *s)
{
    if (s->http != NULL) {
        http_set_ready(s->http, false);
        http_quiesce(s->http);
    }
    if (s->ws != NULL)
        ws_shutdown(s->ws);
    if (s->feed != NULL)
        feed_shutdown(s->feed);
    if (s->mh != NULL)
        modhost_stop(s->mh);
    push_close(s->push); /* persists its checkpoint through the writer */
    if (s->commit != NULL) {
        commit_close(s->commit);
        modhost_attach_runtime(s->mh, NULL, s->ws);
        let_answers_flush();
    }
    if (s->http != NULL)
        http_close(s->http);
    if (s->ws != NULL)
        ws_close(s->ws);
    feed_close(s->feed);
    modhost_free(s->mh);
    if (s->userfeed != NULL)
        userfeed_close(s->userfeed);
    if (s->log != NULL)
        evlog_close(s->log);
    if (s->sigterm != NULL)
        event_free(s->sigterm);
    if (s->sigint != NULL)
        event_free(s->sigint);
    if (s->metrics != NULL)
        metrics_close(s->metrics);
    if (s->base != NULL)
        event_base_free(s->base);
}

int cli_serve(const struct config *cfg)
{
    struct server s = {.cfg = cfg};
    int rc;

    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    s.base = event_base_new();
    rc = s.base ? open_storage(&s) : CHATD_ENOMEM;
    if (rc == CHATD_OK)
        rc = open_modules(&s);
    if (rc == CHATD_OK)
        rc = open_runtime(&s);
    if (rc == CHATD_OK)
        rc = start_serving(&s);
    if (rc == CHATD_OK)
        event_base_dispatch(s.base);
    shutdown_server(&s);
    core_log(CORE_LOG_INFO, "chatd", "stopped%s",
             rc == CHATD_OK ? "" : " after a start-up error");
    return rc == CHATD_OK ? 0 : 1;
}
