/*
 * `chatd verify`: the log is gapless, every record decodes, stream versions
 * agree with the streams index, and every read model equals what a replay
 * into a scratch environment produces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/replay.h"
#include "core/core.h"
#include "evlog/evlog.h"
#include "modhost/modhost_int.h"
#include "ws/userfeed.h"

static const char *const feed_stores[] = {"feed", "feedseq"};
#define NFEED (sizeof(feed_stores) / sizeof(feed_stores[0]))

struct log_check {
    uint64_t expect;
    json_t *streams; /* stream -> events seen */
    int problems;
};

static int check_event(void *arg, const struct chatd_event *ev)
{
    struct log_check *lc = arg;
    json_t *n = json_object_get(lc->streams, ev->stream);
    json_int_t seen = n ? json_integer_value(n) : 0;

    if (ev->seq != lc->expect) {
        core_log(CORE_LOG_ERROR, "verify", "log gap: expected seq %llu, "
                 "found %llu", (unsigned long long)lc->expect,
                 (unsigned long long)ev->seq);
        lc->problems++;
    }
    if (ev->stream_ver != (uint64_t)seen + 1) {
        core_log(CORE_LOG_ERROR, "verify", "event %llu: stream %s version "
                 "%llu, expected %lld", (unsigned long long)ev->seq,
                 ev->stream, (unsigned long long)ev->stream_ver,
                 (long long)seen + 1);
        lc->problems++;
    }
    lc->expect = ev->seq + 1;
    json_object_set_new(lc->streams, ev->stream, json_integer(seen + 1));
    return CHATD_OK;
}

static int check_streams(struct log_check *lc, struct evlog_txn *t)
{
    const char *stream;
    json_t *n;
    uint64_t have;

    json_object_foreach(lc->streams, stream, n) {
        if (evlog_stream_version(t, stream, &have) != CHATD_OK ||
            have != (uint64_t)json_integer_value(n)) {
            core_log(CORE_LOG_ERROR, "verify", "stream %s: index says %llu, "
                     "log has %lld events", stream, (unsigned long long)have,
                     (long long)json_integer_value(n));
            lc->problems++;
        }
    }
    return CHATD_OK;
}

static int verify_log(struct modhost *mh, uint64_t *events)
{
    struct log_check lc = {.expect = 1, .streams = json_object()};
    struct evlog_txn *t;
    int rc;

    if (lc.streams == NULL)
        return CHATD_ENOMEM;
    rc = evlog_txn_begin(mh->deps.log, false, &t);
    if (rc == CHATD_OK) {
        rc = evlog_scan(t, 0, 0, check_event, &lc);
        if (rc != CHATD_OK)
            core_log(CORE_LOG_ERROR, "verify", "log unreadable after seq "
                     "%llu: %s", (unsigned long long)lc.expect - 1,
                     core_strerror(rc));
        else
            check_streams(&lc, t);
        evlog_txn_abort(t);
    }
    *events = lc.expect - 1;
    json_decref(lc.streams);
    if (rc == CHATD_OK && lc.problems > 0)
        rc = CHATD_EIO;
    return rc;
}

static int compare_store(struct evlog *live, struct evlog_store *a,
                         struct evlog *scratch, struct evlog_store *b)
{
    struct evlog_txn *ta, *tb;
    uint64_t da = 0, db = 0;
    int rc;

    rc = evlog_txn_begin(live, false, &ta);
    if (rc != CHATD_OK)
        return rc;
    rc = evlog_store_digest(ta, a, &da);
    evlog_txn_abort(ta);
    if (rc == CHATD_OK)
        rc = evlog_txn_begin(scratch, false, &tb);
    if (rc != CHATD_OK)
        return rc;
    rc = evlog_store_digest(tb, b, &db);
    evlog_txn_abort(tb);
    if (rc == CHATD_OK && da != db) {
        core_log(CORE_LOG_ERROR, "verify", "read model %s differs from a "
                 "rebuild (run chatd rebuild)", evlog_store_name(a));
        rc = CHATD_EIO;
    }
    return rc;
}

struct scratch {
    struct evlog *log;
    struct evlog_store **map;
    struct userfeed *userfeed;
};

static int scratch_open(struct modhost *mh, const char *dir,
                        struct scratch *s)
{
    struct evlog_options opt = {.dir = dir, .nosync = true};
    const struct chatd_store *st;
    size_t i;
    int rc;

    rc = evlog_open(&s->log, &opt);
    if (rc != CHATD_OK)
        return rc;
    s->map = calloc(mh->stores.len + 1, sizeof(*s->map));
    if (s->map == NULL)
        return CHATD_ENOMEM;
    for (i = 0; rc == CHATD_OK && i < mh->stores.len; i++) {
        st = mh->stores.items[i];
        rc = evlog_store_open(s->log, st->owner->name,
                              st->name + strlen(st->owner->name) + 1,
                              &s->map[i]);
    }
    if (rc == CHATD_OK && mh->deps.userfeed != NULL)
        rc = userfeed_open(&s->userfeed, s->log);
    return rc;
}

static void scratch_close(struct scratch *s)
{
    if (s->userfeed != NULL)
        userfeed_close(s->userfeed);
    free(s->map);
    if (s->log != NULL)
        evlog_close(s->log);
}

struct replay_target {
    struct modhost *mh;
    struct scratch *s;
};

static int replay_into(void *arg, struct evlog_txn *t,
                       const struct chatd_event *ev)
{
    const struct replay_target *rt = arg;
    struct scratch *s = rt->s;
    struct chatd_txn ctx = {.t = t,
                            .mh = rt->mh,
                            .kind = MODHOST_TXN_COMMAND,
                            .store_map = s->map,
                            .userfeed = s->userfeed};

    return modhost_apply_projections(&ctx, ev);
}

static int compare_all(struct modhost *mh, struct scratch *s)
{
    struct evlog_store *a, *b;
    size_t i;
    int rc, worst = CHATD_OK;

    for (i = 0; i < mh->stores.len; i++) {
        rc = compare_store(mh->deps.log,
                           ((struct chatd_store *)mh->stores.items[i])->live,
                           s->log, s->map[i]);
        worst = rc != CHATD_OK ? rc : worst;
    }
    for (i = 0; s->userfeed != NULL && i < NFEED; i++) {
        rc = evlog_store_open(mh->deps.log, "host", feed_stores[i], &a);
        if (rc == CHATD_OK)
            rc = evlog_store_open(s->log, "host", feed_stores[i], &b);
        if (rc == CHATD_OK)
            rc = compare_store(mh->deps.log, a, s->log, b);
        worst = rc != CHATD_OK ? rc : worst;
    }
    return worst;
}

int modhost_verify(struct modhost *mh, const char *scratch_dir)
{
    struct scratch s = {0};
    struct replay_target target = {mh, &s};
    uint64_t events = 0, replayed = 0;
    int rc, rc_models;

    rc = verify_log(mh, &events);
    core_log(rc == CHATD_OK ? CORE_LOG_INFO : CORE_LOG_ERROR, "verify",
             "log: %llu events, %s", (unsigned long long)events,
             rc == CHATD_OK ? "gapless and decodable" : "PROBLEMS FOUND");
    rc_models = scratch_open(mh, scratch_dir, &s);
    if (rc_models == CHATD_OK)
        rc_models = replay_run(mh->deps.log, s.log, 0, 0, replay_into, &target,
                               &replayed);
    if (rc_models == CHATD_OK)
        rc_models = compare_all(mh, &s);
    scratch_close(&s);
    core_log(rc_models == CHATD_OK ? CORE_LOG_INFO : CORE_LOG_ERROR, "verify",
             "read models: %zu stores %s a rebuild of %llu events",
             mh->stores.len, rc_models == CHATD_OK ? "equal" : "DIFFER FROM",
             (unsigned long long)replayed);
    return rc != CHATD_OK ? rc : rc_models;
}
