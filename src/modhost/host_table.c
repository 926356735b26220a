/*
 * The `struct chatd_host` table: thin entries that check who is calling
 * and for what, then hand over to evlog, http, ws and the registry.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "evlog/evlog.h"
#include "http/http.h"
#include "metrics/metrics.h"
#include "modhost/modhost_int.h"
#include "ws/userfeed.h"
#include "ws/ws.h"

static void host_log(struct chatd_module *mod, enum chatd_log_level level,
                     const char *fmt, ...) CHATD_PRINTF(3, 4);

static void host_log(struct chatd_module *mod, enum chatd_log_level level,
                     const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    core_logv((enum core_log_level)level, mod ? mod->name : "module", fmt, ap);
    va_end(ap);
}

static void host_metric_add(struct chatd_metric *m, int64_t delta)
{
    if (m != NULL && m->value != NULL)
        metrics_add(m->value, delta);
}

static void host_metric_set(struct chatd_metric *m, int64_t value)
{
    if (m != NULL && m->value != NULL)
        metrics_set(m->value, value);
}

static const char *host_epoch(struct chatd_module *mod)
{
    /* During init the log is not attached yet. */
    return mod->mh->deps.log ? evlog_epoch(mod->mh->deps.log) : "";
}

static const char *host_data_dir(struct chatd_module *mod)
{
    return mod->mh->deps.log ? evlog_dir(mod->mh->deps.log) : "";
}

/* --- requests: NULL-safe, because exec() commands have no request --- */

static const char *host_req_param(struct chatd_req *req, const char *name)
{
    return req ? http_req_param(req, name) : NULL;
}

static const char *host_req_query(struct chatd_req *req, const char *name)
{
    return req ? http_req_query(req, name) : NULL;
}

static struct chatd_val host_req_body(struct chatd_req *req)
{
    struct chatd_val none = {NULL, 0};

    return req ? http_req_body(req) : none;
}

static const char *host_req_header(struct chatd_req *req, const char *name)
{
    return req ? http_req_header(req, name) : NULL;
}

static struct chatd_principal host_req_principal(struct chatd_req *req)
{
    struct chatd_principal none = {CHATD_PRINCIPAL_NONE, NULL};

    return req ? http_req_principal(req) : none;
}

static const char *host_req_correlation_id(struct chatd_req *req)
{
    return req ? http_req_correlation_id(req) : NULL;
}

static struct chatd_txn *host_req_txn(struct chatd_req *req)
{
    struct chatd_txn *rtx = req ? http_req_user(req) : NULL;

    if (rtx == NULL)
        return NULL; /* deferred, or not inside a route handler */
    if (rtx->t == NULL)
        rtx->t = http_req_txn(req);
    return rtx->t ? rtx : NULL;
}

static void host_reply_json(struct chatd_req *req, unsigned status,
                            const char *body, size_t len)
{
    if (req != NULL)
        http_reply_json(req, status, body, len);
}

static void host_reply_json_take(struct chatd_req *req, unsigned status,
                                 char *body, size_t len)
{
    if (req != NULL)
        http_reply_json_take(req, status, body, len);
    else
        free(body);
}

static void host_reply_error(struct chatd_req *req, unsigned status,
                             const char *code, const char *message)
{
    if (req != NULL)
        http_reply_error(req, status, code, message);
}

static void host_reply_header(struct chatd_req *req, const char *name,
                              const char *value)
{
    if (req != NULL)
        http_reply_header(req, name, value);
}

/* --- storage --- */

struct evlog_store *modhost_store_resolve(const struct chatd_txn *txn,
                                          const struct chatd_store *st)
{
    if (txn == NULL || st == NULL || st->owner != txn->mod)
        return NULL;
    return txn->store_map ? txn->store_map[st->index] : st->live;
}

static int host_stream_version(struct chatd_txn *txn, const char *stream,
                               uint64_t *out)
{
    if (txn == NULL || stream == NULL)
        return CHATD_EINVAL;
    return evlog_stream_version(txn->t, stream, out);
}

static int host_get(struct chatd_txn *txn, const struct chatd_store *st,
                    const void *key, size_t klen, struct chatd_val *out)
{
    struct evlog_store *s = modhost_store_resolve(txn, st);

    if (s == NULL)
        return CHATD_EPERM;
    return evlog_get_kv(txn->t, s, key, klen, out);
}

/* Writes: only a projection, only into a store it declared. */
static struct evlog_store *writable_store(const struct chatd_txn *txn,
                                          const struct chatd_store *st)
{
    size_t i;

    if (txn == NULL || txn->kind != MODHOST_TXN_PROJECTION || st == NULL)
        return NULL;
    for (i = 0; i < txn->proj->nstores; i++)
        if (txn->proj->stores[i] == st->index)
            return modhost_store_resolve(txn, st);
    return NULL;
}

static int host_put(struct chatd_txn *txn, const struct chatd_store *st,
                    const void *key, size_t klen, const void *val, size_t vlen)
{
    struct evlog_store *s = writable_store(txn, st);

    if (s == NULL)
        return CHATD_EPERM;
    return evlog_put_kv(txn->t, s, key, klen, val, vlen);
}

static int host_del(struct chatd_txn *txn, const struct chatd_store *st,
                    const void *key, size_t klen)
{
    struct evlog_store *s = writable_store(txn, st);

    if (s == NULL)
        return CHATD_EPERM;
    return evlog_del_kv(txn->t, s, key, klen);
}

static int host_cursor_open(struct chatd_txn *txn,
                            const struct chatd_store *st,
                            struct chatd_cursor **out)
{
    struct evlog_store *s = modhost_store_resolve(txn, st);
    struct chatd_cursor *c;
    int rc;

    if (s == NULL)
        return CHATD_EPERM;
    c = malloc(sizeof(*c));
    if (c == NULL)
        return CHATD_ENOMEM;
    rc = evlog_cursor_open(txn->t, s, &c->c);
    if (rc != CHATD_OK) {
        free(c);
        return rc;
    }
    *out = c;
    return CHATD_OK;
}

static int host_cursor_seek(struct chatd_cursor *c, enum chatd_seek how,
                            const void *key, size_t klen, struct chatd_val *k,
                            struct chatd_val *v)
{
    return evlog_cursor_seek(c->c, how, key, klen, k, v);
}

static int host_cursor_step(struct chatd_cursor *c, int dir,
                            struct chatd_val *k, struct chatd_val *v)
{
    return evlog_cursor_step(c->c, dir, k, v);
}

static void host_cursor_close(struct chatd_cursor *c)
{
    if (c == NULL)
        return;
    evlog_cursor_close(c->c);
    free(c);
}

static struct chatd_txn *host_read_begin(struct chatd_module *mod)
{
    struct chatd_txn *txn = calloc(1, sizeof(*txn));

    if (txn == NULL)
        return NULL;
    if (evlog_txn_begin(mod->mh->deps.log, false, &txn->t) != CHATD_OK) {
        free(txn);
        return NULL;
    }
    txn->mh = mod->mh;
    txn->mod = mod;
    txn->kind = MODHOST_TXN_READ;
    txn->own_txn = true;
    return txn;
}

static void host_read_end(struct chatd_txn *txn)
{
    if (txn == NULL || !txn->own_txn)
        return;
    evlog_txn_abort(txn->t);
    free(txn);
}

static int host_event_get(struct chatd_txn *txn, uint64_t seq,
                          struct chatd_event *out)
{
    if (txn == NULL || out == NULL)
        return CHATD_EINVAL;
    return evlog_get(txn->t, seq, out);
}

/* --- real time --- */

static int host_deliver(struct chatd_txn *txn, const char *user_id)
{
    if (txn == NULL || user_id == NULL || user_id[0] == '\0')
        return CHATD_EINVAL;
    if (txn->kind != MODHOST_TXN_PROJECTION || txn->ev == NULL)
        return CHATD_ESTATE; /* not a projection, or its flush */
    if (txn->userfeed == NULL)
        return CHATD_OK; /* replaying one projection: the feed stays */
    return userfeed_deliver(txn->userfeed, txn->t, user_id, txn->ev->seq);
}

static int host_ephemeral(struct chatd_module *mod, const char *user_id,
                          const char *json, size_t len)
{
    if (mod->mh->deps.ws == NULL)
        return CHATD_ENOTFOUND;
    return ws_ephemeral(mod->mh->deps.ws, user_id, json, len);
}

static bool host_online(struct chatd_module *mod, const char *user_id)
{
    return mod->mh->deps.ws != NULL && ws_online(mod->mh->deps.ws, user_id);
}

const struct chatd_host modhost_host_table = {
    .size = sizeof(struct chatd_host),
    .abi_major = CHATD_ABI_MAJOR,
    .abi_minor = CHATD_ABI_MINOR,
    .event_type = modhost_reg_event_type,
    .store = modhost_reg_store,
    .projection = modhost_reg_projection,
    .subscriber = modhost_reg_subscriber,
    .route = modhost_reg_route,
    .config = modhost_reg_config,
    .timer = modhost_reg_timer,
    .metric = modhost_reg_metric,
    .log = host_log,
    .strerror = core_strerror,
    .metric_add = host_metric_add,
    .metric_set = host_metric_set,
    .epoch = host_epoch,
    .req_param = host_req_param,
    .req_query = host_req_query,
    .req_body = host_req_body,
    .req_header = host_req_header,
    .req_principal = host_req_principal,
    .req_correlation_id = host_req_correlation_id,
    .req_txn = host_req_txn,
    .reply_json = host_reply_json,
    .reply_error = host_reply_error,
    .reply_header = host_reply_header,
    .submit = modhost_host_submit,
    .exec = modhost_host_exec,
    .append = modhost_host_append,
    .stream_version = host_stream_version,
    .get = host_get,
    .put = host_put,
    .del = host_del,
    .cursor_open = host_cursor_open,
    .cursor_seek = host_cursor_seek,
    .cursor_step = host_cursor_step,
    .cursor_close = host_cursor_close,
    .read_begin = host_read_begin,
    .read_end = host_read_end,
    .event_get = host_event_get,
    .deliver = host_deliver,
    .ephemeral = host_ephemeral,
    .online = host_online,
    .projection_hooks = modhost_reg_projection_hooks,
    .reply_json_take = host_reply_json_take,
    .subscriber_hooks = modhost_reg_subscriber_hooks,
    .data_dir = host_data_dir,
};
