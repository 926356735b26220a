#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "http/internal.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4"

static void on_healthz(void *ctx, struct chatd_req *req)
{
    static const char body[] = "{\"status\":\"ok\"}";

    http_reply_json(req, 200, body, sizeof(body) - 1);
}

static void on_readyz(void *ctx, struct chatd_req *req)
{
    static const char body[] = "{\"status\":\"ready\"}";
    struct http_server *s = ctx;

    if (atomic_load(&s->ready))
        http_reply_json(req, 200, body, sizeof(body) - 1);
    else
        http_reply_error(req, 503, "unavailable",
                         "not ready: the log or the modules are not started");
}

static void on_metrics(void *ctx, struct chatd_req *req)
{
    struct http_server *s = ctx;
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (s->deps.metrics == NULL) {
        text = strdup("");
    } else {
        rc = metrics_render(s->deps.metrics, &text, &len);
        if (rc != CHATD_OK) {
            http_reply_error(req, 500, "internal", core_strerror(rc));
            return;
        }
    }
    if (text == NULL) {
        http_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    http_reply_owned(req, 200, text, len, METRICS_CONTENT_TYPE);
}

int http_builtin_add(struct http_server *s)
{
    int rc;

    rc = http_router_add(s, "GET", "/healthz", CHATD_AUTH_NONE, on_healthz,
                         NULL, s, "http");
    if (rc == CHATD_OK)
        rc = http_router_add(s, "GET", "/readyz", CHATD_AUTH_NONE, on_readyz,
                             NULL, s, "http");
    if (rc == CHATD_OK)
        rc = http_router_add(s, "GET", "/metrics", CHATD_AUTH_NONE, on_metrics,
                             NULL, s, "http");
    return rc;
}
