/*
 * fake_host — an in-memory struct chatd_host for module unit tests
 * (fake_host.h says what it does and does not do like the real host).
 *
 * The opaque handles of <chatd/module.h> are defined here, because this
 * file plays the host. Stores are sorted arrays; a command's effects are
 * undone by restoring a copy of every store and the log length taken
 * before it ran, which is slow and simple, as a test double should be.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"

#define MAX_ITEMS 64 /* of each kind of registration */
#define MAX_PARAMS 8
#define FAKE_TIME_MS 1700000000000 /* the first event's time */

struct kv {
    unsigned char *k, *v;
    size_t klen, vlen;
};

struct chatd_store {
    char name[40];
    struct kv *items;
    size_t n, cap;
};

struct chatd_metric {
    char name[40];
    int64_t value;
};

struct chatd_cursor {
    struct chatd_store *st;
    size_t pos;
};

struct chatd_module {
    struct fake_host *fh;
};

enum txn_kind { TXN_READ = 1, TXN_COMMAND, TXN_PROJECTION };

struct fproj {
    char name[40];
    chatd_project_fn apply;
    int (*flush)(void *state, struct chatd_txn *txn);
    void (*discard)(void *state);
    struct chatd_store *writes[MAX_ITEMS];
    size_t nwrites;
};

struct chatd_txn {
    struct fake_host *fh;
    enum txn_kind kind;
    const struct fproj *proj;
    bool flushing; /* a projection's flush: no deliver */
};

struct chatd_req {
    const char *params[MAX_PARAMS][2];
    size_t nparams;
    char *query;
    const char *body;
    struct chatd_principal who;
    struct chatd_txn txn;
    unsigned status;
    char *reply;
    chatd_command_fn fn;
    void *arg;
    void (*free_arg)(void *arg);
    bool submitted;
};

struct fevent {
    struct chatd_event ev; /* strings point at the copies below */
    char *type, *stream, *data, *actor, *corr;
};

struct ftype {
    char *name;
    uint32_t version;
    chatd_upcast_fn upcast;
};

struct fsub {
    char *prefix;
    chatd_subscribe_fn handle;
    char name[40];
    int (*flush)(void *state); /* subscriber_hooks; may be NULL */
};

struct froute {
    char *method, *pattern;
    chatd_route_fn handle;
};

struct fake_host {
    struct chatd_host host;
    struct chatd_module mod;
    const struct chatd_module_info *info;
    void *state;
    bool registering, initialised;
    struct fake_setting *settings; /* copies */
    size_t nsettings;
    struct ftype types[MAX_ITEMS];
    struct chatd_store *stores[MAX_ITEMS];
    struct fproj projs[MAX_ITEMS];
    struct fsub subs[MAX_ITEMS];
    struct froute routes[MAX_ITEMS];
    struct chatd_metric *metrics[MAX_ITEMS];
    struct fake_counts n;
    struct fevent **events;
    size_t nevents, cap_events;
    char **logs;
    size_t nlogs;
    int exec_fail;
    const char *actor; /* of appends in the running command */
    char *data_dir;    /* fake_host_set_data_dir; NULL: "" */
};

/* --- small helpers ------------------------------------------------------ */

static bool name_ok(const char *s)
{
    size_t i;

    if (s == NULL || s[0] < 'a' || s[0] > 'z')
        return false;
    for (i = 1; s[i] != '\0'; i++)
        if (i >= 32 || !((s[i] >= 'a' && s[i] <= 'z') ||
                         (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

static void *dup_bytes(const void *p, size_t n)
{
    unsigned char *d = malloc(n + 1);

    if (d != NULL) {
        if (n > 0)
            memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

static int key_cmp(const unsigned char *a, size_t alen, const void *b,
                   size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static void fake_log_add(struct fake_host *fh, const char *line)
{
    char **logs = realloc(fh->logs, (fh->nlogs + 1) * sizeof(*logs));

    if (logs == NULL)
        return;
    fh->logs = logs;
    fh->logs[fh->nlogs] = strdup(line);
    if (fh->logs[fh->nlogs] != NULL)
        fh->nlogs++;
}

/* JSON string body of s, escaped, appended to buf (of size n). */
static void json_escape(char *buf, size_t n, const char *s)
{
    size_t len = strlen(buf);

    for (; *s != '\0' && len + 7 < n; s++) {
        if (*s == '"' || *s == '\\')
            len += (size_t)snprintf(buf + len, n - len, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            len += (size_t)snprintf(buf + len, n - len, "\\u%04x", *s);
        else
            buf[len++] = *s;
    }
    buf[len] = '\0';
}

/* --- registration ------------------------------------------------------- */

static int reg_ok(struct chatd_module *mod)
{
    return mod->fh->registering ? CHATD_OK : CHATD_ESTATE;
}

static int fh_event_type(struct chatd_module *mod,
                         const struct chatd_event_type *et)
{
    struct fake_host *fh = mod->fh;
    size_t n = strlen(fh->info->name), i;

    if (reg_ok(mod) != CHATD_OK)
        return CHATD_ESTATE;
    if (et == NULL || et->type == NULL || strncmp(et->type, fh->info->name,
                                                  n) != 0 ||
        et->type[n] != '.' || et->version < 1 ||
        (et->version > 1 && et->upcast == NULL) ||
        fh->n.event_types == MAX_ITEMS)
        return CHATD_EINVAL;
    for (i = 0; i < fh->n.event_types; i++)
        if (strcmp(fh->types[i].name, et->type) == 0)
            return CHATD_EEXIST;
    fh->types[i] = (struct ftype){strdup(et->type), et->version, et->upcast};
    fh->n.event_types++;
    return CHATD_OK;
}

static struct chatd_store *store_by_name(const struct fake_host *fh,
                                         const char *name)
{
    size_t i;

    for (i = 0; i < fh->n.stores; i++)
        if (strcmp(fh->stores[i]->name, name) == 0)
            return fh->stores[i];
    return NULL;
}

static int fh_store(struct chatd_module *mod, const char *name,
                    struct chatd_store **out)
{
    struct fake_host *fh = mod->fh;
    struct chatd_store *st;

    if (reg_ok(mod) != CHATD_OK)
        return CHATD_ESTATE;
    if (!name_ok(name) || fh->n.stores == MAX_ITEMS)
        return CHATD_EINVAL;
    if (store_by_name(fh, name) != NULL)
        return CHATD_EEXIST;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return CHATD_ENOMEM;
    snprintf(st->name, sizeof(st->name), "%s", name);
    fh->stores[fh->n.stores++] = st;
    *out = st;
    return CHATD_OK;
}

static int fh_projection(struct chatd_module *mod,
                         const struct chatd_projection *p)
{
    struct fake_host *fh = mod->fh;
    struct fproj *fp = &fh->projs[fh->n.projections];
    size_t i;

    if (reg_ok(mod) != CHATD_OK)
        return CHATD_ESTATE;
    if (p == NULL || !name_ok(p->name) || p->version < 1 ||
        p->apply == NULL || fh->n.projections == MAX_ITEMS)
        return CHATD_EINVAL;
    memset(fp, 0, sizeof(*fp));
    for (i = 0; p->stores != NULL && p->stores[i] != NULL; i++) {
        fp->writes[i] = store_by_name(fh, p->stores[i]);
        if (fp->writes[i] == NULL || i + 1 == MAX_ITEMS)
            return CHATD_EPERM;
    }
    fp->nwrites = i;
    fp->apply = p->apply;
    snprintf(fp->name, sizeof(fp->name), "%s", p->name);
    fh->n.projections++;
    return CHATD_OK;
}

static int fh_projection_hooks(struct chatd_module *mod, const char *name,
                               int (*flush)(void *, struct chatd_txn *),
                               void (*discard)(void *))
{
    struct fake_host *fh = mod->fh;

    if (reg_ok(mod) != CHATD_OK)
        return CHATD_ESTATE;
    for (size_t i = 0; name != NULL && i < fh->n.projections; i++)
        if (strcmp(fh->projs[i].name, name) == 0) {
            fh->projs[i].flush = flush;
            fh->projs[i].discard = discard;
            return CHATD_OK;
        }
    return CHATD_ENOTFOUND;
}

static int fh_subscriber(struct chatd_module *mod,
                         const struct chatd_subscriber *s)
{
    struct fake_host *fh = mod->fh;

    if (reg_ok(mod) != CHATD_OK)
        return CHATD_ESTATE;
    if (s == NULL || !name_ok(s->name) || s->handle == NULL ||
        fh->n.subscribers == MAX_ITEMS)
        return CHATD_EINVAL;
    fh->subs[fh->n.subscribers] =
        (struct fsub){s->prefix ? strdup(s->prefix) : NULL, s->handle,
                      "", NULL};
    snprintf(fh->subs[fh->n.subscribers].name, sizeof(fh->subs[0].name),
             "%s", s->name);
    fh->n.subscribers++;
    return CHATD_OK;
}

static int fh_subscriber_hooks(struct chatd_module *mod, const char *name,
                               int (*flush)(void *state))
{
    struct fake_host *fh = mod->fh;

    if (reg_ok(mod) != CHATD_OK)
        return CHATD_ESTATE;
    for (size_t i = 0; name != NULL && i < fh->n.subscribers; i++)
        if (strcmp(fh->subs[i].name, name) == 0) {
            fh->subs[i].flush = flush;
            return CHATD_OK;
        }
    return CHATD_ENOTFOUND;
}

static int fh_route(struct chatd_module *mod, const struct chatd_route *r)
{
    struct fake_host *fh = mod->fh;
    size_t i;

    if (reg_ok(mod) != CHATD_OK)
        return CHATD_ESTATE;
    if (r == NULL || r->method == NULL || r->pattern == NULL ||
        strncmp(r->pattern, "/v1/", 4) != 0 || r->handle == NULL ||
        r->auth > CHATD_AUTH_ADMIN || fh->n.routes == MAX_ITEMS)
        return CHATD_EINVAL;
    for (i = 0; i < fh->n.routes; i++)
        if (strcmp(fh->routes[i].method, r->method) == 0 &&
            strcmp(fh->routes[i].pattern, r->pattern) == 0)
            return CHATD_EEXIST;
    fh->routes[i] = (struct froute){strdup(r->method), strdup(r->pattern),
                                    r->handle};
    fh->n.routes++;
    return CHATD_OK;
}

static const char *setting(const struct fake_host *fh, const char *key)
{
    size_t i;

    for (i = 0; i < fh->nsettings; i++)
        if (strcmp(fh->settings[i].key, key) == 0)
            return fh->settings[i].value;
    return NULL;
}

static int config_one(struct fake_host *fh, const struct chatd_config_item *it)
{
    const char *v = setting(fh, it->key);
    int64_t i = it->def_int;

    if (!name_ok(it->key) || it->target == NULL)
        return CHATD_EINVAL;
    switch (it->type) {
    case CHATD_CONFIG_INT:
        if (v != NULL)
            i = strtoll(v, NULL, 10);
        if (i < it->min || i > it->max)
            return CHATD_EINVAL;
        *(int64_t *)it->target = i;
        return CHATD_OK;
    case CHATD_CONFIG_STRING:
        *(const char **)it->target = v ? v : it->def_str;
        return CHATD_OK;
    case CHATD_CONFIG_BOOL:
        *(bool *)it->target = v ? strcmp(v, "true") == 0 : it->def_int != 0;
        return CHATD_OK;
    }
    return CHATD_EINVAL;
}

static int fh_config(struct chatd_module *mod,
                     const struct chatd_config_item *items)
{
    int rc;

    if (reg_ok(mod) != CHATD_OK)
        return CHATD_ESTATE;
    for (; items != NULL && items->key != NULL; items++) {
        rc = config_one(mod->fh, items);
        if (rc != CHATD_OK)
            return rc;
        mod->fh->n.config_keys++;
    }
    return CHATD_OK;
}

static int fh_timer(struct chatd_module *mod, unsigned interval_ms,
                    chatd_timer_fn fn)
{
    if (reg_ok(mod) != CHATD_OK)
        return CHATD_ESTATE;
    if (interval_ms == 0 || fn == NULL)
        return CHATD_EINVAL;
    mod->fh->n.timers++; /* never run: tests call the function directly */
    return CHATD_OK;
}

static int fh_metric(struct chatd_module *mod, enum chatd_metric_kind kind,
                     const char *name, const char *help,
                     struct chatd_metric **out)
{
    struct fake_host *fh = mod->fh;
    struct chatd_metric *m;

    if (reg_ok(mod) != CHATD_OK)
        return CHATD_ESTATE;
    if (!name_ok(name) || help == NULL || fh->n.metrics == MAX_ITEMS)
        return CHATD_EINVAL;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return CHATD_ENOMEM;
    snprintf(m->name, sizeof(m->name), "%s", name);
    fh->metrics[fh->n.metrics++] = m;
    *out = m;
    return CHATD_OK;
}

/* --- any time ----------------------------------------------------------- */

static void fh_log(struct chatd_module *mod, enum chatd_log_level level,
                   const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[1024];
    int n;
    va_list ap;

    n = snprintf(line, sizeof(line), "%s: ", names[level & 3]);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    fake_log_add(mod->fh, line);
}

static const char *fh_strerror(int status)
{
    static const char *const names[] = {
        "ok", "invalid argument", "out of memory", "not found", "conflict",
        "already exists", "I/O error", "full", "not permitted",
        "wrong state", "ABI mismatch", "try again", "rejected", "closed"};

    if (status > 0 || -status >= (int)(sizeof(names) / sizeof(names[0])))
        return "unknown status";
    return names[-status];
}

static void fh_metric_add(struct chatd_metric *m, int64_t delta)
{
    if (m != NULL)
        m->value += delta;
}

static void fh_metric_set(struct chatd_metric *m, int64_t value)
{
    if (m != NULL)
        m->value = value;
}

static const char *fh_data_dir(struct chatd_module *mod)
{
    return mod->fh->data_dir != NULL ? mod->fh->data_dir : "";
}

static const char *fh_epoch(struct chatd_module *mod)
{
    return "fakeepoch0000000";
}

/* --- requests ----------------------------------------------------------- */

static const char *fh_req_param(struct chatd_req *req, const char *name)
{
    size_t i;

    for (i = 0; req != NULL && i < req->nparams; i++)
        if (strcmp(req->params[i][0], name) == 0)
            return req->params[i][1];
    return NULL;
}

/* Finds "name=value" in the query (undecoded); "" for "name". The value
 * is cut out in place, so the query is parsed into a NUL-separated copy
 * once per request. */
static const char *fh_req_query(struct chatd_req *req, const char *name)
{
    size_t n = strlen(name);
    char *p;

    if (req == NULL || req->query == NULL)
        return NULL;
    for (p = req->query; *p != '\0'; p += strlen(p) + 1)
        if (strncmp(p, name, n) == 0 && (p[n] == '=' || p[n] == '\0'))
            return p[n] == '=' ? p + n + 1 : p + n;
    return NULL;
}

static struct chatd_val fh_req_body(struct chatd_req *req)
{
    struct chatd_val v = {NULL, 0};

    if (req != NULL && req->body != NULL) {
        v.data = req->body;
        v.len = strlen(req->body);
    }
    return v;
}

static const char *fh_req_header(struct chatd_req *req, const char *name)
{
    return NULL;
}

static struct chatd_principal fh_req_principal(struct chatd_req *req)
{
    struct chatd_principal none = {CHATD_PRINCIPAL_NONE, NULL};

    return req ? req->who : none;
}

static const char *fh_req_correlation_id(struct chatd_req *req)
{
    return req ? "req-fake" : NULL;
}

static struct chatd_txn *fh_req_txn(struct chatd_req *req)
{
    return req && !req->submitted ? &req->txn : NULL;
}

static void fh_reply_json(struct chatd_req *req, unsigned status,
                          const char *body, size_t len)
{
    if (req == NULL)
        return;
    free(req->reply);
    req->reply = dup_bytes(body, len);
    req->status = status < 100 || status > 599 ? 500 : status;
}

/* Owns body like the host; kept as a NUL-terminated copy like
 * fh_reply_json's, so tests read every answer the same way. */
static void fh_reply_json_take(struct chatd_req *req, unsigned status,
                               char *body, size_t len)
{
    fh_reply_json(req, status, body, body ? len : 0);
    free(body);
}

static void fh_reply_error(struct chatd_req *req, unsigned status,
                           const char *code, const char *message)
{
    char body[1024] = "{\"error\":{\"code\":\"";

    json_escape(body, sizeof(body), code);
    strcat(body, "\",\"message\":\"");
    json_escape(body, sizeof(body) - 4, message);
    strcat(body, "\"}}");
    fh_reply_json(req, status, body, strlen(body));
}

static void fh_reply_header(struct chatd_req *req, const char *name,
                            const char *value)
{
}

static int fh_submit(struct chatd_req *req, chatd_command_fn fn, void *arg,
                     void (*free_arg)(void *arg))
{
    if (req == NULL || fn == NULL || req->submitted) {
        if (free_arg != NULL)
            free_arg(arg);
        return CHATD_ESTATE;
    }
    req->fn = fn;
    req->arg = arg;
    req->free_arg = free_arg;
    req->submitted = true;
    return CHATD_OK;
}

/* --- stores ------------------------------------------------------------- */

/* Index of the first item >= key; *found if equal. */
static size_t store_find(const struct chatd_store *st, const void *key,
                         size_t klen, bool *found)
{
    size_t i;
    int c = 1;

    for (i = 0; i < st->n; i++) {
        c = key_cmp(st->items[i].k, st->items[i].klen, key, klen);
        if (c >= 0)
            break;
    }
    *found = i < st->n && c == 0;
    return i;
}

static bool readable(const struct chatd_txn *txn, const struct chatd_store *st)
{
    return txn != NULL && st != NULL;
}

static bool writable(const struct chatd_txn *txn, const struct chatd_store *st)
{
    size_t i;

    if (txn == NULL || txn->kind != TXN_PROJECTION)
        return false;
    for (i = 0; i < txn->proj->nwrites; i++)
        if (txn->proj->writes[i] == st)
            return true;
    return false;
}

static int fh_get(struct chatd_txn *txn, const struct chatd_store *st,
                  const void *key, size_t klen, struct chatd_val *out)
{
    bool found;
    size_t i;

    if (!readable(txn, st))
        return CHATD_EPERM;
    i = store_find(st, key, klen, &found);
    if (!found)
        return CHATD_ENOTFOUND;
    out->data = st->items[i].v;
    out->len = st->items[i].vlen;
    return CHATD_OK;
}

static int fh_put(struct chatd_txn *txn, const struct chatd_store *cst,
                  const void *key, size_t klen, const void *val, size_t vlen)
{
    struct chatd_store *st = (struct chatd_store *)cst;
    struct kv item = {dup_bytes(key, klen), dup_bytes(val, vlen), klen, vlen};
    bool found;
    size_t i;

    if (!writable(txn, st) || klen == 0 || klen > 400) {
        free(item.k);
        free(item.v);
        return !writable(txn, st) ? CHATD_EPERM : CHATD_EINVAL;
    }
    i = store_find(st, key, klen, &found);
    if (found) {
        free(st->items[i].k);
        free(st->items[i].v);
        st->items[i] = item;
        return CHATD_OK;
    }
    if (st->n == st->cap) {
        struct kv *grown = realloc(st->items, (st->cap * 2 + 8) *
                                                  sizeof(*grown));
        if (grown == NULL)
            return CHATD_ENOMEM;
        st->items = grown;
        st->cap = st->cap * 2 + 8;
    }
    memmove(st->items + i + 1, st->items + i, (st->n - i) * sizeof(item));
    st->items[i] = item;
    st->n++;
    return CHATD_OK;
}

static int fh_del(struct chatd_txn *txn, const struct chatd_store *cst,
                  const void *key, size_t klen)
{
    struct chatd_store *st = (struct chatd_store *)cst;
    bool found;
    size_t i;

    if (!writable(txn, st))
        return CHATD_EPERM;
    i = store_find(st, key, klen, &found);
    if (!found)
        return CHATD_ENOTFOUND;
    free(st->items[i].k);
    free(st->items[i].v);
    memmove(st->items + i, st->items + i + 1,
            (st->n - i - 1) * sizeof(st->items[0]));
    st->n--;
    return CHATD_OK;
}

static int cursor_fill(struct chatd_cursor *c, struct chatd_val *k,
                       struct chatd_val *v)
{
    if (c->pos >= c->st->n)
        return CHATD_ENOTFOUND;
    k->data = c->st->items[c->pos].k;
    k->len = c->st->items[c->pos].klen;
    v->data = c->st->items[c->pos].v;
    v->len = c->st->items[c->pos].vlen;
    return CHATD_OK;
}

static int fh_cursor_open(struct chatd_txn *txn, const struct chatd_store *st,
                          struct chatd_cursor **out)
{
    struct chatd_cursor *c;

    if (!readable(txn, st))
        return CHATD_EPERM;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return CHATD_ENOMEM;
    c->st = (struct chatd_store *)st;
    *out = c;
    return CHATD_OK;
}

static int fh_cursor_seek(struct chatd_cursor *c, enum chatd_seek how,
                          const void *key, size_t klen, struct chatd_val *k,
                          struct chatd_val *v)
{
    bool found;

    switch (how) {
    case CHATD_SEEK_FIRST:
        c->pos = 0;
        break;
    case CHATD_SEEK_LAST:
        c->pos = c->st->n ? c->st->n - 1 : 0;
        break;
    case CHATD_SEEK_GE:
        c->pos = store_find(c->st, key, klen, &found);
        break;
    case CHATD_SEEK_LE:
        c->pos = store_find(c->st, key, klen, &found);
        if (!found && c->pos == 0)
            c->pos = c->st->n; /* nothing <= key */
        else if (!found)
            c->pos--;
        break;
    }
    return cursor_fill(c, k, v);
}

static int fh_cursor_step(struct chatd_cursor *c, int dir, struct chatd_val *k,
                          struct chatd_val *v)
{
    if (dir < 0 && c->pos == 0)
        c->pos = c->st->n;
    else
        c->pos = dir < 0 ? c->pos - 1 : c->pos + 1;
    return cursor_fill(c, k, v);
}

static void fh_cursor_close(struct chatd_cursor *c)
{
    free(c);
}

static struct chatd_txn *fh_read_begin(struct chatd_module *mod)
{
    struct chatd_txn *txn = calloc(1, sizeof(*txn));

    if (txn != NULL) {
        txn->fh = mod->fh;
        txn->kind = TXN_READ;
    }
    return txn;
}

static void fh_read_end(struct chatd_txn *txn)
{
    free(txn);
}

/* --- the log ------------------------------------------------------------ */

static const struct ftype *type_find(const struct fake_host *fh,
                                     const char *type)
{
    size_t i;

    for (i = 0; i < fh->n.event_types; i++)
        if (strcmp(fh->types[i].name, type) == 0)
            return &fh->types[i];
    return NULL;
}

static void fevent_free(struct fevent *e)
{
    if (e == NULL)
        return;
    free(e->type);
    free(e->stream);
    free(e->data);
    free(e->actor);
    free(e->corr);
    free(e);
}

static uint64_t stream_ver(const struct fake_host *fh, const char *stream)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < fh->nevents; i++)
        if (strcmp(fh->events[i]->stream, stream) == 0)
            v = fh->events[i]->ev.stream_ver;
    return v;
}

static struct fevent *fevent_new(struct fake_host *fh, const char *type,
                                 uint32_t v, const char *stream,
                                 const char *data, size_t len)
{
    struct fevent *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return NULL;
    e->type = strdup(type);
    e->stream = strdup(stream);
    e->data = dup_bytes(data, len);
    e->actor = strdup(fh->actor ? fh->actor : "test");
    e->corr = strdup("corr-fake");
    if (!e->type || !e->stream || !e->data || !e->actor || !e->corr) {
        fevent_free(e);
        return NULL;
    }
    e->ev = (struct chatd_event){.size = sizeof(e->ev),
                                 .seq = fh->nevents + 1,
                                 .time_ms = FAKE_TIME_MS +
                                            (int64_t)fh->nevents,
                                 .type = e->type,
                                 .v = v,
                                 .stream = e->stream,
                                 .stream_ver = stream_ver(fh, stream) + 1,
                                 .correlation_id = e->corr,
                                 .actor = e->actor,
                                 .data = e->data,
                                 .data_len = len};
    return e;
}

/* Like the host: older events are upcast before anyone sees them.
 * Returns the event to use (ev or *scratch); *owned is to be free()d. */
static const struct chatd_event *upcast(const struct fake_host *fh,
                                        const struct chatd_event *ev,
                                        struct chatd_event *scratch,
                                        char **owned, int *rc)
{
    const struct ftype *t = type_find(fh, ev->type);
    size_t len = 0;

    *owned = NULL;
    *rc = CHATD_OK;
    if (t == NULL || ev->v >= t->version || t->upcast == NULL)
        return ev;
    *rc = t->upcast(ev, owned, &len);
    if (*rc != CHATD_OK || *owned == NULL) {
        free(*owned);
        *owned = NULL;
        *rc = *rc ? *rc : CHATD_EINVAL;
        return NULL;
    }
    *scratch = *ev;
    scratch->v = t->version;
    scratch->data = *owned;
    scratch->data_len = len;
    return scratch;
}

static int project_all(struct fake_host *fh, const struct chatd_event *ev)
{
    struct chatd_event scratch;
    struct chatd_txn txn = {.fh = fh, .kind = TXN_PROJECTION};
    const struct chatd_event *use;
    char *owned;
    size_t i;
    int rc;

    use = upcast(fh, ev, &scratch, &owned, &rc);
    for (i = 0; use != NULL && rc == CHATD_OK && i < fh->n.projections; i++) {
        txn.proj = &fh->projs[i];
        rc = fh->projs[i].apply(fh->state, &txn, use);
    }
    free(owned);
    /* Every event is its own transaction here: deferred work is flushed at
     * once (flushing more often than the host does is always allowed). */
    txn.flushing = true;
    for (i = 0; rc == CHATD_OK && i < fh->n.projections; i++) {
        txn.proj = &fh->projs[i];
        if (fh->projs[i].flush != NULL)
            rc = fh->projs[i].flush(fh->state, &txn);
    }
    for (i = 0; rc != CHATD_OK && i < fh->n.projections; i++)
        if (fh->projs[i].discard != NULL)
            fh->projs[i].discard(fh->state);
    return rc;
}

static int log_push(struct fake_host *fh, struct fevent *e)
{
    if (fh->nevents == fh->cap_events) {
        struct fevent **grown = realloc(fh->events, (fh->cap_events * 2 + 8) *
                                                        sizeof(*grown));
        if (grown == NULL)
            return CHATD_ENOMEM;
        fh->events = grown;
        fh->cap_events = fh->cap_events * 2 + 8;
    }
    fh->events[fh->nevents++] = e;
    return CHATD_OK;
}

/* Appends and projects; on a projection error the event is dropped. */
static int log_append(struct fake_host *fh, struct fevent *e)
{
    int rc = e ? log_push(fh, e) : CHATD_ENOMEM;

    if (rc != CHATD_OK) {
        fevent_free(e);
        return rc;
    }
    rc = project_all(fh, &e->ev);
    if (rc != CHATD_OK) {
        fh->nevents--;
        fevent_free(e);
    }
    return rc;
}

static int fh_append(struct chatd_txn *txn, const struct chatd_append *a,
                     uint64_t *seq_out)
{
    struct fake_host *fh = txn ? txn->fh : NULL;
    const struct ftype *t;
    uint64_t have;
    int rc;

    if (txn == NULL || txn->kind != TXN_COMMAND)
        return CHATD_ESTATE;
    if (a == NULL || a->type == NULL || a->stream == NULL ||
        a->stream[0] == '\0' || strlen(a->stream) > 200 || a->data == NULL ||
        a->data_len < 2 || a->data[0] != '{')
        return CHATD_EINVAL;
    t = type_find(fh, a->type);
    if (t == NULL)
        return CHATD_EPERM;
    have = stream_ver(fh, a->stream);
    if (a->expected_ver != CHATD_ANY_VERSION && a->expected_ver != have)
        return CHATD_ECONFLICT;
    rc = log_append(fh, fevent_new(fh, a->type, t->version, a->stream,
                                   a->data, a->data_len));
    if (rc == CHATD_OK && seq_out != NULL)
        *seq_out = fh->nevents;
    return rc;
}

static int fh_stream_version(struct chatd_txn *txn, const char *stream,
                             uint64_t *out)
{
    if (txn == NULL || stream == NULL)
        return CHATD_EINVAL;
    *out = stream_ver(txn->fh, stream);
    return CHATD_OK;
}

static int fh_event_get(struct chatd_txn *txn, uint64_t seq,
                        struct chatd_event *out)
{
    if (txn == NULL || out == NULL)
        return CHATD_EINVAL;
    if (seq == 0 || seq > txn->fh->nevents)
        return CHATD_ENOTFOUND;
    *out = txn->fh->events[seq - 1]->ev;
    return CHATD_OK;
}

/* --- commands: run at once, undone on failure ---------------------------- */

struct snapshot {
    struct chatd_store copies[MAX_ITEMS];
    size_t nevents;
};

static void store_clear(struct chatd_store *st)
{
    size_t i;

    for (i = 0; i < st->n; i++) {
        free(st->items[i].k);
        free(st->items[i].v);
    }
    free(st->items);
    st->items = NULL;
    st->n = st->cap = 0;
}

static int snapshot_take(const struct fake_host *fh, struct snapshot *s)
{
    size_t i, j;

    memset(s, 0, sizeof(*s));
    s->nevents = fh->nevents;
    for (i = 0; i < fh->n.stores; i++) {
        const struct chatd_store *st = fh->stores[i];

        s->copies[i].items = calloc(st->n + 1, sizeof(struct kv));
        if (s->copies[i].items == NULL)
            return CHATD_ENOMEM;
        for (j = 0; j < st->n; j++)
            s->copies[i].items[j] = (struct kv){
                dup_bytes(st->items[j].k, st->items[j].klen),
                dup_bytes(st->items[j].v, st->items[j].vlen),
                st->items[j].klen, st->items[j].vlen};
        s->copies[i].n = s->copies[i].cap = st->n;
    }
    return CHATD_OK;
}

/* keep: drop the copies; else put them back and forget newer events. */
static void snapshot_end(struct fake_host *fh, struct snapshot *s, bool keep)
{
    size_t i;

    for (i = 0; i < fh->n.stores; i++) {
        if (keep) {
            store_clear(&s->copies[i]);
            continue;
        }
        store_clear(fh->stores[i]);
        fh->stores[i]->items = s->copies[i].items;
        fh->stores[i]->n = s->copies[i].n;
        fh->stores[i]->cap = s->copies[i].cap;
    }
    while (!keep && fh->nevents > s->nevents)
        fevent_free(fh->events[--fh->nevents]);
}

static int run_command(struct fake_host *fh, chatd_command_fn fn, void *arg,
                       struct chatd_req *req, const char *actor)
{
    struct chatd_txn txn = {.fh = fh, .kind = TXN_COMMAND};
    struct snapshot *s = malloc(sizeof(*s));
    int rc;

    if (s == NULL)
        return CHATD_ENOMEM;
    rc = snapshot_take(fh, s);
    if (rc == CHATD_OK) {
        fh->actor = actor;
        rc = fn(arg, &txn, req);
        fh->actor = NULL;
        if (rc == CHATD_OK && req != NULL && req->status >= 400)
            rc = CHATD_EREJECTED;
    }
    snapshot_end(fh, s, rc == CHATD_OK);
    free(s);
    return rc;
}

static int fh_exec(struct chatd_module *mod, chatd_command_fn fn, void *arg,
                   const char *correlation_id)
{
    char actor[64];

    if (fn == NULL || mod->fh->registering)
        return CHATD_ESTATE;
    if (mod->fh->exec_fail != CHATD_OK)
        return mod->fh->exec_fail;
    snprintf(actor, sizeof(actor), "module:%s", mod->fh->info->name);
    return run_command(mod->fh, fn, arg, NULL, actor);
}

/* --- real time ---------------------------------------------------------- */

static int fh_deliver(struct chatd_txn *txn, const char *user_id)
{
    if (txn == NULL || user_id == NULL || user_id[0] == '\0')
        return CHATD_EINVAL;
    return txn->kind == TXN_PROJECTION && !txn->flushing ? CHATD_OK
                                                          : CHATD_ESTATE;
}

static int fh_ephemeral(struct chatd_module *mod, const char *user_id,
                        const char *json, size_t len)
{
    return CHATD_ENOTFOUND;
}

static bool fh_online(struct chatd_module *mod, const char *user_id)
{
    return false;
}

static const struct chatd_host fake_table = {
    .size = sizeof(struct chatd_host),
    .abi_major = CHATD_ABI_MAJOR,
    .abi_minor = CHATD_ABI_MINOR,
    .event_type = fh_event_type,
    .store = fh_store,
    .projection = fh_projection,
    .subscriber = fh_subscriber,
    .route = fh_route,
    .config = fh_config,
    .timer = fh_timer,
    .metric = fh_metric,
    .log = fh_log,
    .strerror = fh_strerror,
    .metric_add = fh_metric_add,
    .metric_set = fh_metric_set,
    .epoch = fh_epoch,
    .req_param = fh_req_param,
    .req_query = fh_req_query,
    .req_body = fh_req_body,
    .req_header = fh_req_header,
    .req_principal = fh_req_principal,
    .req_correlation_id = fh_req_correlation_id,
    .req_txn = fh_req_txn,
    .reply_json = fh_reply_json,
    .reply_error = fh_reply_error,
    .reply_header = fh_reply_header,
    .submit = fh_submit,
    .exec = fh_exec,
    .append = fh_append,
    .stream_version = fh_stream_version,
    .get = fh_get,
    .put = fh_put,
    .del = fh_del,
    .cursor_open = fh_cursor_open,
    .cursor_seek = fh_cursor_seek,
    .cursor_step = fh_cursor_step,
    .cursor_close = fh_cursor_close,
    .read_begin = fh_read_begin,
    .read_end = fh_read_end,
    .event_get = fh_event_get,
    .deliver = fh_deliver,
    .ephemeral = fh_ephemeral,
    .online = fh_online,
    .projection_hooks = fh_projection_hooks,
    .reply_json_take = fh_reply_json_take,
    .subscriber_hooks = fh_subscriber_hooks,
    .data_dir = fh_data_dir,
};

/* --- the test-facing API ------------------------------------------------ */

static int copy_settings(struct fake_host *fh, const struct fake_setting *s)
{
    size_t n = 0, i;

    while (s != NULL && s[n].key != NULL)
        n++;
    fh->settings = calloc(n + 1, sizeof(*fh->settings));
    if (fh->settings == NULL)
        return CHATD_ENOMEM;
    for (i = 0; i < n; i++) {
        fh->settings[i].key = strdup(s[i].key);
        fh->settings[i].value = strdup(s[i].value);
        if (!fh->settings[i].key || !fh->settings[i].value)
            return CHATD_ENOMEM;
        fh->nsettings++;
    }
    return CHATD_OK;
}

int fake_host_init(struct fake_host **out,
                   const struct chatd_module_info *info,
                   const struct fake_setting *settings)
{
    struct fake_host *fh = calloc(1, sizeof(*fh));
    int rc;

    *out = fh;
    if (fh == NULL)
        return CHATD_ENOMEM;
    fh->host = fake_table;
    fh->mod.fh = fh;
    fh->info = info;
    rc = copy_settings(fh, settings);
    if (rc != CHATD_OK)
        return rc;
    fh->registering = true;
    rc = info->init(&fh->mod, &fh->host, &fh->state);
    fh->registering = false;
    fh->initialised = rc == CHATD_OK;
    return rc;
}

void fake_host_free(struct fake_host *fh)
{
    size_t i;

    if (fh == NULL)
        return;
    if (fh->initialised && fh->info->fini != NULL)
        fh->info->fini(fh->state);
    for (i = 0; i < fh->n.stores; i++) {
        store_clear(fh->stores[i]);
        free(fh->stores[i]);
    }
    for (i = 0; i < fh->n.event_types; i++)
        free(fh->types[i].name);
    for (i = 0; i < fh->n.subscribers; i++)
        free(fh->subs[i].prefix);
    for (i = 0; i < fh->n.routes; i++) {
        free(fh->routes[i].method);
        free(fh->routes[i].pattern);
    }
    for (i = 0; i < fh->n.metrics; i++)
        free(fh->metrics[i]);
    for (i = 0; i < fh->nevents; i++)
        fevent_free(fh->events[i]);
    for (i = 0; i < fh->nlogs; i++)
        free(fh->logs[i]);
    for (i = 0; i < fh->nsettings; i++) {
        free((char *)fh->settings[i].key);
        free((char *)fh->settings[i].value);
    }
    free(fh->settings);
    free(fh->events);
    free(fh->logs);
    free(fh->data_dir);
    free(fh);
}

uint64_t fake_host_event(struct fake_host *fh, const char *type, uint32_t v,
                         const char *stream, const char *data)
{
    int rc = log_append(fh, fevent_new(fh, type, v, stream, data,
                                       strlen(data)));

    return rc == CHATD_OK ? fh->nevents : 0;
}

void fake_host_set_data_dir(struct fake_host *fh, const char *dir)
{
    free(fh->data_dir);
    fh->data_dir = dir != NULL ? strdup(dir) : NULL;
}

int fake_host_flush(struct fake_host *fh)
{
    int rc = CHATD_OK;

    for (size_t i = 0; rc == CHATD_OK && i < fh->n.subscribers; i++)
        if (fh->subs[i].flush != NULL)
            rc = fh->subs[i].flush(fh->state);
    return rc;
}

int fake_host_notify(struct fake_host *fh, uint64_t seq)
{
    const struct chatd_event *ev = fake_host_get_event(fh, seq);
    struct chatd_event scratch;
    const struct chatd_event *use;
    char *owned;
    size_t i;
    int rc = CHATD_OK;

    if (ev == NULL)
        return CHATD_ENOTFOUND;
    for (i = 0; rc == CHATD_OK && i < fh->n.subscribers; i++) {
        const char *p = fh->subs[i].prefix;

        if (p != NULL && strncmp(ev->type, p, strlen(p)) != 0)
            continue;
        use = upcast(fh, ev, &scratch, &owned, &rc);
        if (use != NULL)
            rc = fh->subs[i].handle(fh->state, use);
        free(owned);
        ev = fake_host_get_event(fh, seq); /* the log may have grown */
    }
    return rc;
}

/* Matches path segments against a pattern, capturing {name} segments
 * into req->params (pointing into `path`, which is modified). */
static bool route_match(const char *pattern, char *path, struct chatd_req *req)
{
    const char *p = pattern;
    char *s = path;

    req->nparams = 0;
    while (*p != '\0' && *s != '\0') {
        size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");
        bool last = s[slen] == '\0';

        if (p[0] == '{' && req->nparams < MAX_PARAMS) {
            static char names[MAX_PARAMS][32];

            snprintf(names[req->nparams], sizeof(names[0]), "%.*s",
                     (int)plen - 2, p + 1);
            req->params[req->nparams][0] = names[req->nparams];
            req->params[req->nparams++][1] = s;
        } else if (plen != slen || strncmp(p, s, plen) != 0) {
            return false;
        }
        if (p[plen] != s[slen])
            return false;
        p += plen + (p[plen] == '/');
        s[slen] = '\0';
        s += slen + !last;
    }
    return *p == '\0' && *s == '\0';
}

/* The route for method + path; `scratch` (as long as path) receives the
 * matched copy the parameters point into. */
static const struct froute *route_find(struct fake_host *fh,
                                       const char *method, const char *path,
                                       char *scratch, struct chatd_req *req)
{
    size_t i;

    for (i = 0; i < fh->n.routes; i++) {
        if (strcmp(fh->routes[i].method, method) != 0)
            continue;
        memcpy(scratch, path, strlen(path) + 1);
        if (route_match(fh->routes[i].pattern, scratch, req))
            return &fh->routes[i];
    }
    return NULL;
}

static void principal_of(enum chatd_principal_kind who, struct chatd_req *req)
{
    static const char *const ids[] = {NULL, "u_test", "s_test", "admin",
                                      "test"};

    req->who.kind = who;
    req->who.id = ids[who <= CHATD_PRINCIPAL_MODULE ? who : 0];
}

/* Splits "a=1&b" into "a=1\0b\0\0" for fh_req_query. */
static char *query_split(const char *q)
{
    size_t n = strlen(q);
    char *s = calloc(n + 2, 1);
    size_t i;

    if (s == NULL)
        return NULL;
    memcpy(s, q, n);
    for (i = 0; i < n; i++)
        if (s[i] == '&')
            s[i] = '\0';
    return s;
}

static void serve(struct fake_host *fh, const struct froute *r,
                  struct chatd_req *req)
{
    req->txn = (struct chatd_txn){.fh = fh, .kind = TXN_READ};
    r->handle(fh->state, req);
    if (req->submitted) {
        int rc = run_command(fh, req->fn, req->arg, req, NULL);

        if (rc != CHATD_OK && rc != CHATD_EREJECTED && req->status == 0)
            fh_reply_error(req, rc == CHATD_ENOTFOUND ? 404 : 500,
                           rc == CHATD_ENOTFOUND ? "not_found" : "internal",
                           fh_strerror(rc));
        if (req->free_arg != NULL)
            req->free_arg(req->arg);
    }
    if (req->status == 0)
        fh_reply_error(req, 500, "internal", "the handler did not answer");
}

int fake_host_request(struct fake_host *fh, const char *method,
                      const char *path, enum chatd_principal_kind who,
                      const char *body, struct fake_response *out)
{
    struct chatd_req req = {.body = body};
    const char *q = strchr(path, '?');
    size_t plen = q ? (size_t)(q - path) : strlen(path);
    char *bare = dup_bytes(path, plen);
    char *scratch = malloc(plen + 1);
    const struct froute *r;

    memset(out, 0, sizeof(*out));
    req.query = query_split(q ? q + 1 : "");
    if (bare == NULL || scratch == NULL || req.query == NULL) {
        free(bare);
        free(scratch);
        free(req.query);
        return CHATD_ENOMEM;
    }
    principal_of(who, &req);
    r = route_find(fh, method, bare, scratch, &req);
    if (r == NULL)
        fh_reply_error(&req, 404, "not_found", "no such route");
    else
        serve(fh, r, &req);
    out->status = req.status;
    out->body = req.reply;
    free(req.query);
    free(scratch);
    free(bare);
    return CHATD_OK;
}

void fake_response_free(struct fake_response *r)
{
    free(r->body);
    r->body = NULL;
}

void fake_host_fail_exec(struct fake_host *fh, int status)
{
    fh->exec_fail = status;
}

uint64_t fake_host_last_seq(const struct fake_host *fh)
{
    return fh->nevents;
}

const struct chatd_event *fake_host_get_event(const struct fake_host *fh,
                                              uint64_t seq)
{
    return seq >= 1 && seq <= fh->nevents ? &fh->events[seq - 1]->ev : NULL;
}

size_t fake_host_log_count(const struct fake_host *fh, const char *text)
{
    size_t i, n = 0;

    for (i = 0; i < fh->nlogs; i++)
        n += strstr(fh->logs[i], text) != NULL;
    return n;
}

int64_t fake_host_metric(const struct fake_host *fh, const char *name)
{
    size_t i;

    for (i = 0; i < fh->n.metrics; i++)
        if (strcmp(fh->metrics[i]->name, name) == 0)
            return fh->metrics[i]->value;
    return -1;
}

long fake_host_store_size(const struct fake_host *fh, const char *name)
{
    const struct chatd_store *st = store_by_name(fh, name);

    return st ? (long)st->n : -1;
}

struct fake_counts fake_host_counts(const struct fake_host *fh)
{
    return fh->n;
}

uint32_t fake_host_type_version(const struct fake_host *fh, const char *type)
{
    const struct ftype *t = type_find(fh, type);

    return t ? t->version : 0;
}
