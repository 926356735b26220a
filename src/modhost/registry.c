/*
 * Registration: what a module declares during init. Every entry records
 * its owner, so a module whose init fails leaves nothing behind, and every
 * later call (append, put, route dispatch) can be checked against it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "metrics/metrics.h"
#include "modhost/modhost_int.h"

bool modhost_name_valid(const char *name)
{
    size_t i;

    if (name[0] < 'a' || name[0] > 'z')
        return false;
    for (i = 1; name[i] != '\0'; i++) {
        if (i >= MODHOST_NAME_MAX)
            return false;
        if (!((name[i] >= 'a' && name[i] <= 'z') ||
              (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
            return false;
    }
    return true;
}

static int reg_state(struct chatd_module *mod, const char *what)
{
    if (mod == NULL || !mod->registering) {
        core_log(CORE_LOG_ERROR, "modhost",
                 "module %s: %s registered outside init (only allowed "
                 "during init)",
                 mod ? mod->name : "?", what);
        return CHATD_ESTATE;
    }
    return CHATD_OK;
}

static int reg_fail(struct chatd_module *mod, int status, const char *fmt, ...)
    CHATD_PRINTF(3, 4);

static int reg_fail(struct chatd_module *mod, int status, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    core_log(CORE_LOG_ERROR, "modhost", "module %s: %s", mod->name, msg);
    return status;
}

struct modhost_type *modhost_type_find(const struct modhost *mh,
                                       const char *type)
{
    struct modhost_type *t;
    size_t i;

    for (i = 0; i < mh->types.len; i++) {
        t = mh->types.items[i];
        if (strcmp(t->name, type) == 0)
            return t;
    }
    return NULL;
}

/* "<module>.<noun>_<verb>": the module's own prefix, then [a-z0-9_]. */
static bool type_name_valid(const struct chatd_module *mod, const char *type)
{
    size_t n = strlen(mod->name);
    const char *p;

    if (strncmp(type, mod->name, n) != 0 || type[n] != '.' ||
        type[n + 1] == '\0' || strlen(type) > 64)
        return false;
    for (p = type + n + 1; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return true;
}

int modhost_reg_event_type(struct chatd_module *mod,
                          const struct chatd_event_type *et)
{
    struct modhost_type *t;
    int rc = reg_state(mod, "event type");

    if (rc != CHATD_OK)
        return rc;
    if (et == NULL || et->type == NULL || !type_name_valid(mod, et->type))
        return reg_fail(mod, CHATD_EINVAL,
                        "event type \"%s\" is not valid (expected "
                        "\"%s.<noun>_<past participle>\", [a-z0-9_])",
                        et && et->type ? et->type : "(null)", mod->name);
    if (et->version < 1 || (et->version > 1 && et->upcast == NULL))
        return reg_fail(mod, CHATD_EINVAL,
                        "event type %s: version %u needs an upcaster "
                        "(versions start at 1)",
                        et->type, et->version);
    if (modhost_type_find(mod->mh, et->type) != NULL)
        return reg_fail(mod, CHATD_EEXIST, "event type %s declared twice",
                        et->type);
    t = calloc(1, sizeof(*t));
    if (t == NULL || (t->name = strdup(et->type)) == NULL) {
        free(t);
        return CHATD_ENOMEM;
    }
    t->owner = mod;
    t->et = *et;
    t->et.type = t->name;
    rc = vec_push(&mod->mh->types, t);
    if (rc != CHATD_OK) {
        free(t->name);
        free(t);
    }
    return rc;
}

static struct chatd_store *store_find(const struct modhost *mh,
                                      const char *full)
{
    struct chatd_store *st;
    size_t i;

    for (i = 0; i < mh->stores.len; i++) {
        st = mh->stores.items[i];
        if (strcmp(st->name, full) == 0)
            return st;
    }
    return NULL;
}

int modhost_reg_store(struct chatd_module *mod, const char *name,
                     struct chatd_store **out)
{
    char full[2 * MODHOST_NAME_MAX + 2];
    struct chatd_store *st;
    int rc = reg_state(mod, "store");

    if (rc != CHATD_OK)
        return rc;
    if (name == NULL || !modhost_name_valid(name))
        return reg_fail(mod, CHATD_EINVAL,
                        "store name \"%s\" is not valid (expected "
                        "[a-z][a-z0-9_]{0,31})",
                        name ? name : "(null)");
    snprintf(full, sizeof(full), "%s/%s", mod->name, name);
    if (store_find(mod->mh, full) != NULL)
        return reg_fail(mod, CHATD_EEXIST, "store %s declared twice", full);
    st = calloc(1, sizeof(*st));
    if (st == NULL || (st->name = strdup(full)) == NULL) {
        free(st);
        return CHATD_ENOMEM;
    }
    st->owner = mod;
    st->index = mod->mh->stores.len;
    rc = vec_push(&mod->mh->stores, st);
    if (rc != CHATD_OK) {
        free(st->name);
        free(st);
        return rc;
    }
    *out = st;
    return CHATD_OK;
}

/* Resolves the projection's store names to indexes of this module's
 * stores; a store of another module, or an undeclared one, is refused. */
static int proj_bind_stores(struct chatd_module *mod,
                            const struct chatd_projection *p,
                            struct modhost_proj *mp)
{
    char full[2 * MODHOST_NAME_MAX + 2];
    struct chatd_store *st;
    size_t n = 0;

    while (p->stores != NULL && p->stores[n] != NULL)
        n++;
    mp->stores = calloc(n ? n : 1, sizeof(*mp->stores));
    if (mp->stores == NULL)
        return CHATD_ENOMEM;
    for (mp->nstores = 0; mp->nstores < n; mp->nstores++) {
        snprintf(full, sizeof(full), "%s/%s", mod->name,
                 p->stores[mp->nstores]);
        st = store_find(mod->mh, full);
        if (st == NULL)
            return reg_fail(mod, CHATD_EPERM,
                            "projection %s writes store \"%s\", which this "
                            "module has not declared (declare it with "
                            "host->store first)",
                            p->name, p->stores[mp->nstores]);
        st->written = true;
        mp->stores[mp->nstores] = st->index;
    }
    return CHATD_OK;
}

static void proj_free(struct modhost_proj *mp)
{
    free(mp->stores);
    free(mp->name);
    free(mp);
}

int modhost_reg_projection(struct chatd_module *mod,
                          const struct chatd_projection *p)
{
    struct modhost_proj *mp;
    int rc = reg_state(mod, "projection");

    if (rc != CHATD_OK)
        return rc;
    if (p == NULL || p->name == NULL || !modhost_name_valid(p->name) ||
        p->apply == NULL || p->version < 1)
        return reg_fail(mod, CHATD_EINVAL,
                        "projection needs a valid name, version >= 1 and an "
                        "apply function");
    mp = calloc(1, sizeof(*mp));
    if (mp == NULL)
        return CHATD_ENOMEM;
    mp->owner = mod;
    mp->version = p->version;
    mp->apply = p->apply;
    mp->name = malloc(strlen(mod->name) + strlen(p->name) + 2);
    if (mp->name == NULL) {
        proj_free(mp);
        return CHATD_ENOMEM;
    }
    sprintf(mp->name, "%s.%s", mod->name, p->name);
    rc = proj_bind_stores(mod, p, mp);
    if (rc == CHATD_OK)
        rc = vec_push(&mod->mh->projs, mp);
    if (rc != CHATD_OK)
        proj_free(mp);
    return rc;
}

/* Whether `qualified` ("<module>.<name>", as the host names projections
 * and subscribers) is mod's `name`. */
static bool names_own(const struct chatd_module *mod, const char *qualified,
                      const char *name)
{
    size_t n = strlen(mod->name);

    return name != NULL && strncmp(qualified, mod->name, n) == 0 &&
           qualified[n] == '.' && strcmp(qualified + n + 1, name) == 0;
}

int modhost_reg_projection_hooks(struct chatd_module *mod, const char *name,
                                 int (*flush)(void *, struct chatd_txn *),
                                 void (*discard)(void *))
{
    int rc = reg_state(mod, "projection hooks");

    if (rc != CHATD_OK)
        return rc;
    for (size_t i = 0; i < mod->mh->projs.len; i++) {
        struct modhost_proj *mp = mod->mh->projs.items[i];
        if (mp->owner == mod && names_own(mod, mp->name, name)) {
            mp->flush = flush;
            mp->discard = discard;
            return CHATD_OK;
        }
    }
    return reg_fail(mod, CHATD_ENOTFOUND,
                    "projection hooks for \"%s\": no such projection of "
                    "this module", name ? name : "(null)");
}

int modhost_reg_subscriber(struct chatd_module *mod,
                          const struct chatd_subscriber *s)
{
    struct modhost_sub *ms;
    int rc = reg_state(mod, "subscriber");

    if (rc != CHATD_OK)
        return rc;
    if (s == NULL || s->name == NULL || !modhost_name_valid(s->name) ||
        s->handle == NULL)
        return reg_fail(mod, CHATD_EINVAL,
                        "subscriber needs a valid name and a handler");
    ms = calloc(1, sizeof(*ms));
    if (ms == NULL)
        return CHATD_ENOMEM;
    ms->owner = mod;
    ms->handle = s->handle;
    ms->name = malloc(strlen(mod->name) + strlen(s->name) + 2);
    ms->prefix = s->prefix ? strdup(s->prefix) : NULL;
    if (ms->name == NULL || (s->prefix && ms->prefix == NULL)) {
        rc = CHATD_ENOMEM;
        goto out_free;
    }
    sprintf(ms->name, "%s.%s", mod->name, s->name);
    rc = vec_push(&mod->mh->subs, ms);
    if (rc == CHATD_OK)
        return CHATD_OK;
out_free:
    free(ms->name);
    free(ms->prefix);
    free(ms);
    return rc;
}

int modhost_reg_subscriber_hooks(struct chatd_module *mod, const char *name,
                                 int (*flush)(void *state))
{
    int rc = reg_state(mod, "subscriber hooks");

    if (rc != CHATD_OK)
        return rc;
    for (size_t i = 0; i < mod->mh->subs.len; i++) {
        struct modhost_sub *ms = mod->mh->subs.items[i];
        if (ms->owner == mod && names_own(mod, ms->name, name)) {
            ms->flush = flush;
            return CHATD_OK;
        }
    }
    return reg_fail(mod, CHATD_ENOTFOUND,
                    "subscriber hooks for \"%s\": no such subscriber of "
                    "this module", name ? name : "(null)");
}

static bool method_valid(const char *m)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH",
                                          "DELETE"};
    size_t i;

    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(m, methods[i]) == 0)
            return true;
    return false;
}

static const struct modhost_route *route_find(const struct modhost *mh,
                                              const char *method,
                                              const char *pattern)
{
    const struct modhost_route *r;
    size_t i;

    for (i = 0; i < mh->routes.len; i++) {
        r = mh->routes.items[i];
        if (strcmp(r->method, method) == 0 && strcmp(r->pattern, pattern) == 0)
            return r;
    }
    return NULL;
}

int modhost_reg_route(struct chatd_module *mod, const struct chatd_route *r)
{
    const struct modhost_route *other;
    struct modhost_route *mr;
    int rc = reg_state(mod, "route");

    if (rc != CHATD_OK)
        return rc;
    if (r == NULL || r->method == NULL || !method_valid(r->method) ||
        r->pattern == NULL || strncmp(r->pattern, "/v1/", 4) != 0 ||
        r->handle == NULL || r->auth > CHATD_AUTH_ADMIN)
        return reg_fail(mod, CHATD_EINVAL,
                        "route %s %s is not valid (method GET/POST/PUT/PATCH/"
                        "DELETE, pattern under /v1/, a handler)",
                        r && r->method ? r->method : "?",
                        r && r->pattern ? r->pattern : "?");
    other = route_find(mod->mh, r->method, r->pattern);
    if (other != NULL)
        return reg_fail(mod, CHATD_EEXIST,
                        "route %s %s is already registered by module %s",
                        r->method, r->pattern, other->owner->name);
    mr = calloc(1, sizeof(*mr));
    if (mr == NULL)
        return CHATD_ENOMEM;
    mr->owner = mod;
    mr->method = strdup(r->method);
    mr->pattern = strdup(r->pattern);
    mr->r = *r;
    mr->r.method = mr->method;
    mr->r.pattern = mr->pattern;
    if (mr->method == NULL || mr->pattern == NULL ||
        vec_push(&mod->mh->routes, mr) != CHATD_OK) {
        free(mr->method);
        free(mr->pattern);
        free(mr);
        return CHATD_ENOMEM;
    }
    return CHATD_OK;
}

int modhost_reg_config(struct chatd_module *mod,
                      const struct chatd_config_item *items)
{
    int rc = reg_state(mod, "config");

    if (rc != CHATD_OK)
        return rc;
    return modhost_config_apply(mod, items);
}

int modhost_reg_timer(struct chatd_module *mod, unsigned interval_ms,
                     chatd_timer_fn fn)
{
    struct modhost_timer *t;
    int rc = reg_state(mod, "timer");

    if (rc != CHATD_OK)
        return rc;
    if (fn == NULL || interval_ms == 0)
        return reg_fail(mod, CHATD_EINVAL,
                        "timer needs a function and an interval > 0");
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return CHATD_ENOMEM;
    t->owner = mod;
    t->interval_ms = interval_ms;
    t->fn = fn;
    rc = vec_push(&mod->mh->timers, t);
    if (rc != CHATD_OK)
        free(t);
    return rc;
}

int modhost_reg_metric(struct chatd_module *mod, enum chatd_metric_kind kind,
                      const char *name, const char *help,
                      struct chatd_metric **out)
{
    char full[128];
    struct chatd_metric *m;
    int rc = reg_state(mod, "metric");

    if (rc != CHATD_OK)
        return rc;
    if (name == NULL || !modhost_name_valid(name) || help == NULL)
        return reg_fail(mod, CHATD_EINVAL,
                        "metric name \"%s\" is not valid (expected "
                        "[a-z][a-z0-9_]{0,31}) or help missing",
                        name ? name : "(null)");
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return CHATD_ENOMEM;
    snprintf(full, sizeof(full), "chatd_%s_%s", mod->name, name);
    if (mod->mh->deps.metrics == NULL) {
        /* Offline commands keep no registry; updates go nowhere. */
        m->value = NULL;
    } else {
        m->value = kind == CHATD_METRIC_COUNTER
                       ? metrics_counter(mod->mh->deps.metrics, full, help,
                                         NULL)
                       : metrics_gauge(mod->mh->deps.metrics, full, help, NULL);
        if (m->value == NULL) {
            free(m);
            return reg_fail(mod, CHATD_EEXIST,
                            "metric %s clashes with an existing one", full);
        }
    }
    rc = vec_push(&mod->mh->metrics, m);
    if (rc != CHATD_OK) {
        free(m);
        return rc;
    }
    *out = m;
    return CHATD_OK;
}
