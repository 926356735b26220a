/*
 * The modules' life: registered at init, attached to the storage, started
 * (routes, subscribers, timers), stopped, finalised in reverse order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dlfcn.h>
#include <event2/event.h>

#include "bus/sub.h"
#include "core/core.h"
#include "evlog/evlog.h"
#include "http/http.h"
#include "modhost/modhost_int.h"

int modhost_new(struct modhost **out, const struct json_t *config,
                struct metrics *metrics)
{
    struct modhost *mh = calloc(1, sizeof(*mh));

    if (mh == NULL)
        return CHATD_ENOMEM;
    mh->config = config;
    mh->deps.metrics = metrics;
    *out = mh;
    return CHATD_OK;
}

/* Removes every entry of `v` whose owner is `mod`, freeing it with fn. */
#define DROP_OWNED(vec, type, mod, fn)                                         \
    do {                                                                       \
        size_t i_, j_ = 0;                                                     \
        for (i_ = 0; i_ < (vec).len; i_++) {                                   \
            type *e_ = (vec).items[i_];                                        \
            if (e_->owner == (mod))                                            \
                fn(e_);                                                        \
            else                                                               \
                (vec).items[j_++] = e_;                                        \
        }                                                                      \
        (vec).len = j_;                                                        \
    } while (0)

static void type_free(struct modhost_type *t)
{
    free(t->name);
    free(t);
}

static void store_free(struct chatd_store *st)
{
    free(st->name);
    free(st);
}

static void proj_free(struct modhost_proj *p)
{
    free(p->stores);
    free(p->name);
    free(p);
}

static void sub_free(struct modhost_sub *s)
{
    free(s->name);
    free(s->prefix);
    free(s);
}

static void route_free(struct modhost_route *r)
{
    free(r->method);
    free(r->pattern);
    free(r);
}

static void timer_free(struct modhost_timer *t)
{
    if (t->ev != NULL)
        event_free(t->ev);
    free(t);
}

void modhost_drop_owned(struct modhost *mh, const struct chatd_module *mod)
{
    size_t i;

    DROP_OWNED(mh->types, struct modhost_type, mod, type_free);
    DROP_OWNED(mh->projs, struct modhost_proj, mod, proj_free);
    DROP_OWNED(mh->stores, struct chatd_store, mod, store_free);
    DROP_OWNED(mh->subs, struct modhost_sub, mod, sub_free);
    DROP_OWNED(mh->routes, struct modhost_route, mod, route_free);
    DROP_OWNED(mh->timers, struct modhost_timer, mod, timer_free);
    /* Store indexes are positions; renumber after removal. */
    for (i = 0; i < mh->stores.len; i++)
        ((struct chatd_store *)mh->stores.items[i])->index = i;
}

static struct chatd_module *module_find(const struct modhost *mh,
                                        const char *name)
{
    struct chatd_module *mod;
    size_t i;

    for (i = 0; i < mh->modules.len; i++) {
        mod = mh->modules.items[i];
        if (strcmp(mod->name, name) == 0)
            return mod;
    }
    return NULL;
}

static void module_free(struct chatd_module *mod)
{
    vec_free(&mod->config_names);
    free(mod->path);
    free(mod);
}

static int init_module(struct modhost *mh, struct chatd_module *mod,
                       char *why, size_t why_len)
{
    int rc;

    mod->registering = true;
    rc = mod->info->init(mod, &modhost_host_table, &mod->state);
    mod->registering = false;
    if (rc == CHATD_OK)
        return CHATD_OK;
    core_log(CORE_LOG_ERROR, "modhost", "module %s (%s): init failed: %s",
             mod->name, mod->path ? mod->path : "built-in",
             core_strerror(rc));
    if (why != NULL)
        snprintf(why, why_len, "module %s: init failed: %s", mod->name,
                 core_strerror(rc));
    modhost_drop_owned(mh, mod);
    return rc;
}

int modhost_register(struct modhost *mh, const struct chatd_module_info *info,
                     const char *path, void *dl, char *why, size_t why_len)
{
    const struct chatd_module *other = module_find(mh, info->name);
    struct chatd_module *mod;
    int rc;

    if (other != NULL) {
        core_log(CORE_LOG_ERROR, "modhost",
                 "module %s: name \"%s\" is already used by %s",
                 path ? path : "(built-in)", info->name,
                 other->path ? other->path : "a built-in module");
        if (why != NULL)
            snprintf(why, why_len, "module name \"%s\" loaded twice",
                     info->name);
        return CHATD_EEXIST;
    }
    mod = calloc(1, sizeof(*mod));
    if (mod == NULL || (path && (mod->path = strdup(path)) == NULL)) {
        free(mod);
        return CHATD_ENOMEM;
    }
    mod->mh = mh;
    snprintf(mod->name, sizeof(mod->name), "%s", info->name);
    mod->dl = dl;
    mod->info = info;
    rc = init_module(mh, mod, why, why_len);
    if (rc == CHATD_OK)
        rc = vec_push(&mh->modules, mod);
    if (rc != CHATD_OK) {
        module_free(mod);
        return rc;
    }
    mod->initialised = true;
    if (dl == NULL && strcmp(mod->name, "identity") == 0)
        mh->identity_state = mod->state; /* asked for per request and commit */
    core_log(CORE_LOG_INFO, "modhost", "module %s %s loaded from %s",
             mod->name, info->version ? info->version : "",
             path ? path : "the binary");
    return CHATD_OK;
}

int modhost_attach(struct modhost *mh, const struct modhost_deps *deps)
{
    struct chatd_store *st;
    size_t i;
    int rc;

    mh->deps = *deps;
    for (i = 0; i < mh->stores.len; i++) {
        st = mh->stores.items[i];
        rc = evlog_store_open(deps->log, st->owner->name,
                              st->name + strlen(st->owner->name) + 1,
                              &st->live);
        if (rc != CHATD_OK) {
            core_log(CORE_LOG_ERROR, "modhost", "store %s: cannot open: %s",
                     st->name, core_strerror(rc));
            return rc;
        }
    }
    return modhost_config_check_unknown(mh);
}

static void route_trampoline(void *ctx, struct chatd_req *req)
{
    const struct modhost_route *r = ctx;
    struct chatd_txn rtx = {.mh = r->owner->mh,
                            .mod = r->owner,
                            .kind = MODHOST_TXN_READ};

    /* The request's read transaction wrapper lives on this stack frame:
     * http ends the transaction itself right after the handler. */
    http_req_set_user(req, &rtx);
    r->r.handle(r->owner->state, req);
    http_req_set_user(req, NULL);
}

static int sub_trampoline(void *ctx, const struct chatd_event *ev)
{
    const struct modhost_sub *s = ctx;
    struct chatd_event scratch;
    const struct chatd_event *use;
    char *owned = NULL;
    int rc = CHATD_OK;

    use = modhost_upcast(s->owner->mh, ev, &scratch, &owned, &rc);
    if (use != NULL)
        rc = s->handle(s->owner->state, use);
    free(owned);
    return rc;
}

static void timer_trampoline(evutil_socket_t fd, short what, void *arg)
{
    const struct modhost_timer *t = arg;

    t->fn(t->owner->state);
}

static int start_routes(struct modhost *mh)
{
    struct modhost_route *r;
    size_t i;
    int rc;

    for (i = 0; i < mh->routes.len; i++) {
        r = mh->routes.items[i];
        rc = http_route_add(mh->deps.http, r->method, r->pattern, r->r.auth,
                            route_trampoline, r, r->owner->name);
        if (rc != CHATD_OK) {
            core_log(CORE_LOG_ERROR, "modhost",
                     "module %s: route %s %s refused by the HTTP server: %s",
                     r->owner->name, r->method, r->pattern,
                     core_strerror(rc));
            return rc;
        }
    }
    return CHATD_OK;
}

static int sub_flush_trampoline(void *ctx)
{
    const struct modhost_sub *s = ctx;

    return s->flush(s->owner->state);
}

/* A subscriber with a flush hook is checkpointed at most once a second:
 * each flush costs device syncs of its own (the analytics exporter's: up
 * to three), and at the default 20 a second they sat between the log's
 * commit syncs and cost durable sends about a quarter of their throughput
 * (docs/PERFORMANCE.md). After a crash its module gets up to a second of
 * events again, which it drops by seq. */
#define FLUSHED_PERSIST_EVERY_MS 1000

static int start_subscribers(struct modhost *mh)
{
    struct modhost_sub *s;
    struct sub_spec spec;
    size_t i;
    int rc;

    for (i = 0; i < mh->subs.len; i++) {
        s = mh->subs.items[i];
        spec = (struct sub_spec){.name = s->name,
                                 .prefix = s->prefix,
                                 .handle = sub_trampoline,
                                 .flush = s->flush ? sub_flush_trampoline
                                                   : NULL,
                                 .persist_every_ms =
                                     s->flush ? FLUSHED_PERSIST_EVERY_MS : 0,
                                 .ctx = s};
        rc = sub_runner_start(&s->runner, mh->deps.log, mh->deps.commit,
                              &spec);
        if (rc != CHATD_OK)
            return rc;
    }
    return CHATD_OK;
}

static int start_timers(struct modhost *mh)
{
    struct modhost_timer *t;
    struct timeval tv;
    size_t i;

    for (i = 0; i < mh->timers.len; i++) {
        t = mh->timers.items[i];
        t->ev = event_new(mh->deps.base, -1, EV_PERSIST, timer_trampoline, t);
        if (t->ev == NULL)
            return CHATD_ENOMEM;
        tv.tv_sec = t->interval_ms / 1000;
        tv.tv_usec = (t->interval_ms % 1000) * 1000;
        event_add(t->ev, &tv);
    }
    return CHATD_OK;
}

int modhost_start(struct modhost *mh)
{
    struct chatd_module *mod;
    size_t i;
    int rc;

    rc = start_routes(mh);
    if (rc == CHATD_OK)
        rc = start_subscribers(mh);
    if (rc == CHATD_OK && mh->deps.base != NULL)
        rc = start_timers(mh);
    for (i = 0; rc == CHATD_OK && i < mh->modules.len; i++) {
        mod = mh->modules.items[i];
        if (mod->info->start != NULL)
            rc = mod->info->start(mod->state);
        if (rc != CHATD_OK)
            core_log(CORE_LOG_ERROR, "modhost", "module %s: start failed: %s",
                     mod->name, core_strerror(rc));
        else
            mod->started = true;
    }
    return rc;
}

void modhost_stop(struct modhost *mh)
{
    struct chatd_module *mod;
    struct modhost_timer *t;
    struct modhost_sub *s;
    size_t i;

    for (i = mh->modules.len; i-- > 0;) {
        mod = mh->modules.items[i];
        if (mod->started && mod->info->stop != NULL)
            mod->info->stop(mod->state);
        mod->started = false;
    }
    for (i = 0; i < mh->timers.len; i++) {
        t = mh->timers.items[i];
        if (t->ev != NULL)
            event_del(t->ev);
    }
    for (i = 0; i < mh->subs.len; i++) {
        s = mh->subs.items[i];
        if (s->runner != NULL)
            sub_runner_stop(s->runner);
        s->runner = NULL;
    }
}

static void free_registrations(struct modhost *mh)
{
    size_t i;

    for (i = 0; i < mh->types.len; i++)
        type_free(mh->types.items[i]);
    for (i = 0; i < mh->projs.len; i++)
        proj_free(mh->projs.items[i]);
    for (i = 0; i < mh->stores.len; i++)
        store_free(mh->stores.items[i]);
    for (i = 0; i < mh->subs.len; i++)
        sub_free(mh->subs.items[i]);
    for (i = 0; i < mh->routes.len; i++)
        route_free(mh->routes.items[i]);
    for (i = 0; i < mh->timers.len; i++)
        timer_free(mh->timers.items[i]);
    for (i = 0; i < mh->metrics.len; i++)
        free(mh->metrics.items[i]);
    vec_free(&mh->types);
    vec_free(&mh->projs);
    vec_free(&mh->stores);
    vec_free(&mh->subs);
    vec_free(&mh->routes);
    vec_free(&mh->timers);
    vec_free(&mh->metrics);
}

void modhost_free(struct modhost *mh)
{
    struct chatd_module *mod;
    size_t i;

    if (mh == NULL)
        return;
    mh->identity_state = NULL;
    for (i = mh->modules.len; i-- > 0;) {
        mod = mh->modules.items[i];
        if (mod->initialised && mod->info->fini != NULL)
            mod->info->fini(mod->state);
    }
    free_registrations(mh);
    /* dlclose only after every module's fini: a module's code may still be
     * referenced by another's tables until then. */
    for (i = 0; i < mh->modules.len; i++) {
        mod = mh->modules.items[i];
        if (mod->dl != NULL)
            dlclose(mod->dl);
        module_free(mod);
    }
    vec_free(&mh->modules);
    free(mh);
}

size_t modhost_module_count(const struct modhost *mh)
{
    return mh->modules.len;
}

const char *modhost_module_name(const struct modhost *mh, size_t i)
{
    return ((const struct chatd_module *)mh->modules.items[i])->name;
}

const char *modhost_module_version(const struct modhost *mh, size_t i)
{
    const struct chatd_module *mod = mh->modules.items[i];

    return mod->info->version ? mod->info->version : "";
}

void modhost_attach_runtime(struct modhost *mh, struct commit *commit,
                            struct ws_server *ws)
{
    mh->deps.commit = commit;
    mh->deps.ws = ws;
}

void modhost_after_commit(struct modhost *mh, uint64_t first, uint64_t last)
{
    struct modhost_sub *s;
    size_t i;

    for (i = 0; i < mh->subs.len; i++) {
        s = mh->subs.items[i];
        if (s->runner != NULL)
            sub_runner_notify(s->runner, last);
    }
}

size_t modhost_subscriber_positions(const struct modhost *mh,
                                    const char **names, uint64_t *positions,
                                    size_t max)
{
    const struct modhost_sub *s;
    size_t i;

    for (i = 0; i < mh->subs.len && i < max; i++) {
        s = mh->subs.items[i];
        names[i] = s->name;
        positions[i] = s->runner ? sub_runner_position(s->runner) : 0;
    }
    return mh->subs.len;
}

bool modhost_has_module(const struct modhost *mh, const char *name)
{
    return module_find(mh, name) != NULL;
}
