/*
 * The write path. A route hands its request to the writer with submit();
 * the command runs inside the group-commit transaction (each in its own
 * child transaction), every event it appends is projected at once by all
 * inline projections, and the answer leaves only after the durable commit.
 * A command may run more than once (src/commit: a batch is redone without
 * a command that failed after its projections wrote); only the last run
 * answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commit/commit.h"
#include "core/core.h"
#include "evlog/evlog.h"
#include "http/http.h"
#include "modhost/modhost_int.h"
#include "ws/userfeed.h"

struct cmd_job {
    struct commit_job job;
    struct modhost *mh;
    struct chatd_module *mod;
    chatd_command_fn fn;
    void *arg;
    void (*free_arg)(void *arg);
    struct chatd_req *req;
    size_t req_headers; /* added by the route before submit */
    bool ran_ok;
    char actor[HTTP_ID_MAX + 16];
    char correlation_id[160];
};

const struct chatd_event *modhost_upcast(const struct modhost *mh,
                                         const struct chatd_event *ev,
                                         struct chatd_event *scratch,
                                         char **owned, int *status)
{
    const struct modhost_type *t = modhost_type_find(mh, ev->type);
    size_t len = 0;

    *owned = NULL;
    if (t == NULL || ev->v >= t->et.version || t->et.upcast == NULL)
        return ev;
    *status = t->et.upcast(ev, owned, &len);
    if (*status != CHATD_OK || *owned == NULL) {
        core_log(CORE_LOG_ERROR, "modhost",
                 "event %llu (%s v%u): upcast to v%u failed: %s",
                 (unsigned long long)ev->seq, ev->type, ev->v, t->et.version,
                 core_strerror(*status ? *status : CHATD_EINVAL));
        free(*owned);
        *owned = NULL;
        if (*status == CHATD_OK)
            *status = CHATD_EINVAL;
        return NULL;
    }
    *scratch = *ev;
    scratch->v = t->et.version;
    scratch->data = *owned;
    scratch->data_len = len;
    return scratch;
}

static int apply_one(const struct chatd_txn *ctx, struct modhost_proj *p,
                     const struct chatd_event *ev)
{
    struct chatd_txn pctx = *ctx;
    int rc;

    pctx.mod = p->owner;
    pctx.kind = MODHOST_TXN_PROJECTION;
    pctx.ev = ev;
    pctx.proj = p;
    p->touched = true;
    rc = p->apply(p->owner->state, &pctx, ev);
    if (rc != CHATD_OK)
        core_log(CORE_LOG_ERROR, "modhost",
                 "projection %s failed on event %llu (%s): %s", p->name,
                 (unsigned long long)ev->seq, ev->type, core_strerror(rc));
    return rc;
}

/* The end of a transaction: each projection that applied events since
 * its last flush flushes now (chatd_host.projection_hooks), then the
 * real-time feed writes its per-event records (userfeed_flush). */
static int flush_all(struct chatd_txn *ctx)
{
    int rc = CHATD_OK;

    for (size_t i = 0; rc == CHATD_OK && i < ctx->mh->projs.len; i++) {
        struct modhost_proj *p = ctx->mh->projs.items[i];
        struct chatd_txn pctx = *ctx;

        if (!p->touched)
            continue;
        p->touched = false;
        if (p->flush == NULL)
            continue;
        pctx.mod = p->owner;
        pctx.kind = MODHOST_TXN_PROJECTION;
        pctx.ev = NULL;
        pctx.proj = p;
        rc = p->flush(p->owner->state, &pctx);
        if (rc != CHATD_OK)
            core_log(CORE_LOG_ERROR, "modhost", "projection %s failed to "
                     "flush: %s", p->name, core_strerror(rc));
    }
    if (rc == CHATD_OK && ctx->userfeed != NULL) {
        rc = userfeed_flush(ctx->userfeed, ctx->t);
        if (rc != CHATD_OK)
            core_log(CORE_LOG_ERROR, "modhost", "real-time feed failed to "
                     "flush: %s", core_strerror(rc));
    }
    return rc;
}

int modhost_flush_deferred(struct modhost *mh, struct evlog_txn *top)
{
    struct chatd_txn ctx = {.t = top,
                            .mh = mh,
                            .kind = MODHOST_TXN_COMMAND,
                            .userfeed = mh->deps.userfeed};

    return flush_all(&ctx);
}

void modhost_discard_deferred(struct modhost *mh)
{
    userfeed_discard(mh->deps.userfeed);
    for (size_t i = 0; i < mh->projs.len; i++) {
        struct modhost_proj *p = mh->projs.items[i];

        p->touched = false;
        if (p->discard != NULL)
            p->discard(p->owner->state);
    }
}

int modhost_apply_projections(struct chatd_txn *ctx,
                              const struct chatd_event *ev)
{
    struct chatd_event scratch;
    const struct chatd_event *use;
    struct modhost_proj *p;
    char *owned = NULL;
    size_t i;
    int rc = CHATD_OK;

    if (ev == NULL)
        return flush_all(ctx);

    use = modhost_upcast(ctx->mh, ev, &scratch, &owned, &rc);
    for (i = 0; use != NULL && rc == CHATD_OK && i < ctx->mh->projs.len; i++) {
        p = ctx->mh->projs.items[i];
        if (ctx->selected_only && !p->selected)
            continue;
        rc = apply_one(ctx, p, use);
    }
    free(owned);
    return rc;
}

/* A JSON object's text: valid UTF-8 that starts with '{' and ends with '}'
 * (modules build it with a JSON library; this stops obvious mistakes from
 * reaching the log forever). */
static bool looks_like_object(const char *data, size_t len)
{
    while (len > 0 && (data[len - 1] == ' ' || data[len - 1] == '\n'))
        len--;
    while (len > 0 && (*data == ' ' || *data == '\n')) {
        data++;
        len--;
    }
    return len >= 2 && data[0] == '{' && data[len - 1] == '}' &&
           core_utf8_valid(data, len);
}

int modhost_host_append(struct chatd_txn *txn, const struct chatd_append *a,
                        uint64_t *seq_out)
{
    const struct modhost_type *t;
    struct chatd_event ev;
    struct chatd_event stored;
    int rc;

    if (txn == NULL || txn->kind != MODHOST_TXN_COMMAND)
        return CHATD_ESTATE;
    if (a == NULL || a->type == NULL || a->stream == NULL ||
        a->stream[0] == '\0' || a->data == NULL ||
        !looks_like_object(a->data, a->data_len))
        return CHATD_EINVAL;
    t = modhost_type_find(txn->mh, a->type);
    if (t == NULL || t->owner != txn->mod) {
        core_log(CORE_LOG_ERROR, "modhost",
                 "module %s: append of event type %s refused (%s)",
                 txn->mod->name, a->type,
                 t ? "owned by another module" : "not declared");
        return CHATD_EPERM;
    }
    ev = (struct chatd_event){.size = sizeof(ev),
                              .type = t->name,
                              .v = t->et.version,
                              .stream = a->stream,
                              .correlation_id = txn->correlation_id,
                              .actor = txn->actor,
                              .data = a->data,
                              .data_len = a->data_len};
    rc = evlog_append(txn->t, &ev, a->expected_ver, &stored);
    if (rc == CHATD_OK)
        rc = modhost_apply_projections(txn, &stored);
    if (rc == CHATD_OK && seq_out != NULL)
        *seq_out = stored.seq;
    return rc;
}

static void error_reply(struct chatd_req *req, int status)
{
    switch (status) {
    case CHATD_ECONFLICT:
    case CHATD_EEXIST:
        http_reply_error(req, 409, "conflict",
                         "the resource changed concurrently; retry");
        break;
    case CHATD_ENOTFOUND:
        http_reply_error(req, 404, "not_found", "not found");
        break;
    case CHATD_EINVAL:
        http_reply_error(req, 400, "invalid_argument", "invalid argument");
        break;
    case CHATD_EPERM:
        http_reply_error(req, 403, "forbidden", "not allowed");
        break;
    case CHATD_EFULL:
        http_reply_error(req, 503, "unavailable", "storage is full");
        break;
    default:
        http_reply_error(req, 500, "internal", core_strerror(status));
        break;
    }
}

static void principal_actor(const struct chatd_principal *p, char *out,
                            size_t len)
{
    switch (p->kind) {
    case CHATD_PRINCIPAL_USER:
        snprintf(out, len, "user:%s", p->id);
        break;
    case CHATD_PRINCIPAL_SERVICE:
        snprintf(out, len, "service:%s", p->id);
        break;
    case CHATD_PRINCIPAL_ADMIN:
        snprintf(out, len, "admin");
        break;
    case CHATD_PRINCIPAL_MODULE:
        snprintf(out, len, "module:%s", p->id);
        break;
    default:
        snprintf(out, len, "anonymous");
        break;
    }
}

static int job_run(void *arg, struct evlog_txn *t)
{
    struct cmd_job *job = arg;
    struct chatd_txn ctx = {.t = t,
                            .mh = job->mh,
                            .mod = job->mod,
                            .kind = MODHOST_TXN_COMMAND,
                            .req = job->req,
                            .correlation_id = job->correlation_id,
                            .actor = job->actor,
                            .userfeed = job->mh->deps.userfeed};
    int rc;

    if (job->req) /* a redo of the batch runs the command again */
        http_reply_reset(job->req, job->req_headers);
    rc = job->fn(job->arg, &ctx, job->req);

    if (rc == CHATD_OK && job->req && http_reply_status(job->req) >= 400)
        rc = CHATD_EREJECTED;
    if (rc != CHATD_OK && job->req && http_reply_status(job->req) == 0)
        error_reply(job->req, rc);
    job->ran_ok = rc == CHATD_OK;
    return rc;
}

static void job_release(struct cmd_job *job)
{
    if (job->free_arg != NULL)
        job->free_arg(job->arg);
    free(job);
}

static void job_done(void *arg, int status)
{
    struct cmd_job *job = arg;

    /* The command ran but its batch was not committed, or the batch
     * could not even begin (nothing answered yet). */
    if (status != CHATD_OK &&
        (job->ran_ok || http_reply_status(job->req) == 0)) {
        core_log(CORE_LOG_ERROR, "modhost", "commit failed: %s",
                 core_strerror(status));
        http_reply_error(job->req, 503, "unavailable",
                         status == CHATD_EFULL
                             ? "storage is full: nothing was written; retry "
                               "once there is room"
                             : "the write could not be made durable; retry");
    }
    http_req_finish(job->req);
    job_release(job);
}

int modhost_host_submit(struct chatd_req *req, chatd_command_fn fn, void *arg,
                        void (*free_arg)(void *arg))
{
    struct chatd_txn *rtx = req ? http_req_user(req) : NULL;
    struct chatd_principal who;
    struct cmd_job *job;
    int rc;

    if (rtx == NULL || fn == NULL) {
        if (free_arg != NULL)
            free_arg(arg);
        return CHATD_ESTATE;
    }
    job = calloc(1, sizeof(*job));
    if (job == NULL) {
        http_reply_error(req, 503, "unavailable", "out of memory; retry");
        if (free_arg != NULL)
            free_arg(arg);
        return CHATD_ENOMEM;
    }
    *job = (struct cmd_job){.job = {.run = job_run, .done = job_done},
                            .mh = rtx->mh, .mod = rtx->mod, .fn = fn,
                            .arg = arg, .free_arg = free_arg, .req = req};
    job->job.arg = job;
    job->req_headers = http_reply_header_count(req);
    who = http_req_principal(req);
    principal_actor(&who, job->actor, sizeof(job->actor));
    snprintf(job->correlation_id, sizeof(job->correlation_id), "%s",
             http_req_correlation_id(req));
    /* Suspend first: the writer may finish before submit returns. */
    http_req_defer(req);
    rc = commit_submit(rtx->mh->deps.commit, &job->job);
    if (rc != CHATD_OK) {
        http_reply_error(req, 503,
                         rc == CHATD_EFULL ? "overloaded" : "unavailable",
                         rc == CHATD_EFULL ? "too many writes queued; retry"
                                           : "the server is shutting down");
        http_req_finish(req);
        job_release(job);
    }
    return rc;
}

int modhost_host_exec(struct chatd_module *mod, chatd_command_fn fn,
                      void *arg, const char *correlation_id)
{
    struct cmd_job job = {.job = {.run = job_run},
                          .mh = mod->mh, .mod = mod, .fn = fn, .arg = arg};

    if (fn == NULL || mod->mh->deps.commit == NULL)
        return CHATD_ESTATE;
    job.job.arg = &job;
    snprintf(job.actor, sizeof(job.actor), "module:%s", mod->name);
    snprintf(job.correlation_id, sizeof(job.correlation_id), "%s",
             correlation_id ? correlation_id : "");
    return commit_run(mod->mh->deps.commit, &job.job);
}

int modhost_upcast_data(void *arg, const struct chatd_event *ev, char **out,
                        size_t *out_len)
{
    const struct modhost *mh = arg;
    struct chatd_event scratch;
    char *owned = NULL;
    int rc = CHATD_OK;
    const struct chatd_event *use;

    use = modhost_upcast(mh, ev, &scratch, &owned, &rc);
    if (use == NULL)
        return rc;
    if (use == ev)
        return CHATD_ENOTFOUND;
    *out = owned;
    *out_len = scratch.data_len;
    return CHATD_OK;
}
