#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "http/internal.h"

void http_dispatch_deliver(struct chatd_req *r)
{
    const char *body = r->reply != NULL          ? r->reply
                       : r->reply_static != NULL ? r->reply_static
                                                 : "";

    http_stats_request(r);
    r->done(r->done_arg, r->status, body,
            r->reply != NULL || r->reply_static != NULL ? r->reply_len : 0);
}

void http_dispatch_release(struct chatd_req *r)
{
    if (atomic_fetch_sub(&r->refs, 1) == 1)
        http_req_free(r);
}

/* Fills a new synthetic request; CHATD_ENOMEM leaves it for http_req_free. */
static int synth_fill(struct chatd_req *r, const char *method, const char *path,
                      const struct http_principal *who,
                      const char *correlation_id)
{
    const char *q = strchr(path, '?');

    if (strlen(method) < sizeof(r->method))
        strcpy(r->method, method);
    else
        strcpy(r->method, "?"); /* matches no route */
    r->path = strndup(path, q != NULL ? (size_t)(q - path) : strlen(path));
    if (r->path == NULL)
        return CHATD_ENOMEM;
    http_req_set_id(r, correlation_id);
    if (who != NULL && who->kind != CHATD_PRINCIPAL_NONE) {
        r->who = *who;
        r->who.id[HTTP_ID_MAX - 1] = '\0';
    }
    return CHATD_OK;
}

/* The checks an HTTP request goes through before its handler; false with
 * an error reply set. */
static bool synth_admit(struct chatd_req *r, const char *path, const char *body,
                        size_t len)
{
    const char *q = strchr(path, '?');

    if (!http_router_resolve(r))
        return false;
    if (r->route->kind == ROUTE_UPGRADE) {
        http_reply_error(r, 400, "invalid_argument",
                         "this path is a WebSocket upgrade, not a request");
        return false;
    }
    if (!http_auth_level(r))
        return false;
    if (q != NULL && !http_router_parse_query(r, q + 1))
        return false;
    if (len > r->srv->max_body) {
        http_reply_error(r, 413, "too_large", "the body is too large");
        return false;
    }
    if (body != NULL && len > 0 &&
        http_req_body_append(r, body, len) != CHATD_OK) {
        http_reply_error(r, 500, "internal", "out of memory");
        return false;
    }
    return true;
}

int http_dispatch(struct http_server *s, const char *method, const char *path,
                  const char *body, size_t len,
                  const struct http_principal *who, const char *correlation_id,
                  http_done_fn done, void *arg)
{
    struct chatd_req *r;

    if (method == NULL || path == NULL || done == NULL)
        return CHATD_EINVAL;
    if (!atomic_load(&s->started) || atomic_load(&s->closing))
        return CHATD_ECLOSED;
    r = http_req_alloc(s, REQ_SYNTH);
    if (r == NULL)
        return CHATD_ENOMEM;
    if (synth_fill(r, method, path, who, correlation_id) != CHATD_OK) {
        http_req_free(r);
        return CHATD_ENOMEM;
    }
    r->done = done;
    r->done_arg = arg;
    if (synth_admit(r, path, body, len) && http_req_run(r)) {
        /* Deferred: http_req_finish delivers (maybe it already has). */
        http_dispatch_release(r);
        return CHATD_OK;
    }
    http_dispatch_deliver(r);
    http_dispatch_release(r);
    return CHATD_OK;
}
