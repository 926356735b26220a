/*
 * Read models from the log: catching up after an unclean stop, the
 * start-up check of projection versions, `chatd rebuild`, and
 * `chatd verify` (which replays into a scratch environment and compares
 * digests, so the live data is never touched).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/replay.h"
#include "core/core.h"
#include "evlog/evlog.h"
#include "modhost/modhost_int.h"
#include "ws/userfeed.h"

struct replay_ctx {
    struct modhost *mh;
    struct evlog_store **store_map; /* NULL: live stores */
    struct userfeed *userfeed;      /* NULL: feed untouched */
    bool selected_only;
};

static int replay_apply(void *arg, struct evlog_txn *t,
                        const struct chatd_event *ev)
{
    const struct replay_ctx *rc = arg;
    struct chatd_txn ctx = {.t = t,
                            .mh = rc->mh,
                            .kind = MODHOST_TXN_COMMAND,
                            .store_map = rc->store_map,
                            .userfeed = rc->userfeed,
                            .selected_only = rc->selected_only};

    return modhost_apply_projections(&ctx, ev);
}

static int clear_selected(struct modhost *mh, bool full)
{
    const struct modhost_proj *p;
    struct evlog_txn *t;
    size_t i, j;
    int rc;

    rc = evlog_txn_begin(mh->deps.log, true, &t);
    if (rc != CHATD_OK)
        return rc;
    for (i = 0; rc == CHATD_OK && i < mh->projs.len; i++) {
        p = mh->projs.items[i];
        for (j = 0; p->selected && rc == CHATD_OK && j < p->nstores; j++)
            rc = evlog_store_clear(
                t, ((struct chatd_store *)mh->stores.items[p->stores[j]])->live);
    }
    if (rc == CHATD_OK && full && mh->deps.userfeed != NULL)
        rc = userfeed_clear(mh->deps.userfeed, t);
    if (rc == CHATD_OK && full)
        rc = evlog_views_reset(t);
    if (rc != CHATD_OK) {
        evlog_txn_abort(t);
        return rc;
    }
    return evlog_txn_commit(t);
}

static int record_versions(struct modhost *mh)
{
    const struct modhost_proj *p;
    struct evlog_txn *t;
    char key[128];
    size_t i;
    int rc;

    rc = evlog_txn_begin(mh->deps.log, true, &t);
    if (rc != CHATD_OK)
        return rc;
    for (i = 0; rc == CHATD_OK && i < mh->projs.len; i++) {
        p = mh->projs.items[i];
        snprintf(key, sizeof(key), "proj:%s", p->name);
        rc = evlog_views_meta_put_u64(t, key, p->version);
    }
    if (rc != CHATD_OK) {
        evlog_txn_abort(t);
        return rc;
    }
    return evlog_txn_commit(t);
}

/* Clears and replays the selected projections (all of them, the
 * real-time feed and the read models' own state when `full`). */
static int rebuild_selected(struct modhost *mh, bool full, uint64_t *count)
{
    struct replay_ctx ctx = {.mh = mh,
                             .userfeed = full ? mh->deps.userfeed : NULL,
                             .selected_only = true};
    uint64_t start = core_mono_ns();
    int rc;

    rc = clear_selected(mh, full);
    if (rc == CHATD_OK && full)
        rc = replay_run_views(mh->deps.log, 0, replay_apply, &ctx, count);
    else if (rc == CHATD_OK)
        rc = replay_run(mh->deps.log, mh->deps.log, 0, 0, replay_apply, &ctx,
                        count);
    if (rc == CHATD_OK)
        rc = record_versions(mh);
    if (rc == CHATD_OK)
        core_log(CORE_LOG_INFO, "modhost",
                 "rebuilt read models from %llu events in %.2f s",
                 (unsigned long long)*count,
                 (double)(core_mono_ns() - start) / 1e9);
    return rc;
}

static bool proj_matches(const struct modhost_proj *p, const char *name)
{
    size_t n = strlen(p->owner->name);

    return name == NULL || strcmp(p->name, name) == 0 ||
           strcmp(p->owner->name, name) == 0 ||
           (strncmp(name, p->owner->name, n) == 0 && name[n] == '\0');
}

int modhost_rebuild(struct modhost *mh, const char *name, uint64_t *events_out)
{
    struct modhost_proj *p;
    uint64_t count = 0;
    size_t i, selected = 0;
    int rc;

    for (i = 0; i < mh->projs.len; i++) {
        p = mh->projs.items[i];
        p->selected = proj_matches(p, name);
        selected += p->selected;
    }
    if (name != NULL && selected == 0) {
        core_log(CORE_LOG_ERROR, "modhost",
                 "no projection or module named \"%s\" (see chatd rebuild "
                 "--help)",
                 name);
        return CHATD_ENOTFOUND;
    }
    rc = rebuild_selected(mh, name == NULL, &count);
    if (events_out != NULL)
        *events_out = count;
    return rc;
}

/* Marks projections whose recorded version differs from the code's. */
static int select_outdated(struct modhost *mh, size_t *selected)
{
    struct modhost_proj *p;
    struct evlog_txn *t;
    uint64_t have;
    char key[128];
    size_t i;
    int rc;

    rc = evlog_txn_begin(mh->deps.log, false, &t);
    if (rc != CHATD_OK)
        return rc;
    for (i = 0; i < mh->projs.len; i++) {
        p = mh->projs.items[i];
        snprintf(key, sizeof(key), "proj:%s", p->name);
        rc = evlog_views_meta_get_u64(t, key, &have);
        p->selected = rc == CHATD_ENOTFOUND ? evlog_last_seq(mh->deps.log) > 0
                                            : rc == CHATD_OK && have != p->version;
        if (p->selected)
            core_log(CORE_LOG_INFO, "modhost",
                     "projection %s: version %u, read model has %s; "
                     "rebuilding",
                     p->name, p->version,
                     rc == CHATD_ENOTFOUND ? "none" : "another");
        *selected += p->selected;
    }
    evlog_txn_abort(t);
    return CHATD_OK;
}

static int views_applied(struct modhost *mh, uint64_t *out)
{
    struct evlog_txn *t;
    int rc = evlog_txn_begin(mh->deps.log, false, &t);

    if (rc != CHATD_OK)
        return rc;
    rc = evlog_views_applied(t, out);
    evlog_txn_abort(t);
    return rc;
}

int modhost_recover(struct modhost *mh)
{
    struct replay_ctx ctx = {.mh = mh, .userfeed = mh->deps.userfeed};
    uint64_t applied = 0, count = 0, last = evlog_last_seq(mh->deps.log);
    uint64_t start = core_mono_ns();
    int rc = views_applied(mh, &applied);

    if (rc != CHATD_OK || applied >= last)
        return rc;
    if (applied == 0) {
        core_log(CORE_LOG_INFO, "modhost", "read models are empty and the "
                 "log holds %llu events: rebuilding them",
                 (unsigned long long)last);
        return modhost_rebuild(mh, NULL, &count);
    }
    rc = replay_run_views(mh->deps.log, applied, replay_apply, &ctx, &count);
    if (rc == CHATD_OK)
        core_log(CORE_LOG_INFO, "modhost",
                 "read models caught up with the log: %llu events after "
                 "seq %llu replayed in %.2f s",
                 (unsigned long long)count, (unsigned long long)applied,
                 (double)(core_mono_ns() - start) / 1e9);
    return rc;
}

int modhost_prepare(struct modhost *mh)
{
    uint64_t count = 0;
    size_t selected = 0;
    int rc;

    rc = modhost_recover(mh);
    if (rc == CHATD_OK)
        rc = select_outdated(mh, &selected);
    if (rc != CHATD_OK)
        return rc;
    if (selected > 0)
        return rebuild_selected(mh, false, &count);
    return record_versions(mh);
}
