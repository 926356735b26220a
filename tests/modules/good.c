/* A complete, valid test module: one event type, a store written by a
 * projection, a route. Used by tests/unit/modhost. */
#include <stdlib.h>
#include <string.h>

#include "chatd/module.h"

struct good {
    const struct chatd_host *host;
    struct chatd_store *counts;
    int64_t step;
};

static int project(void *state, struct chatd_txn *txn,
                   const struct chatd_event *ev)
{
    const struct good *g = state;
    struct chatd_val v;
    uint64_t n = 0;

    if (strcmp(ev->type, "good.thing_happened") != 0)
        return CHATD_OK;
    if (g->host->get(txn, g->counts, ev->stream, strlen(ev->stream), &v) ==
            CHATD_OK &&
        v.len == sizeof(n))
        memcpy(&n, v.data, sizeof(n));
    n += (uint64_t)g->step;
    return g->host->put(txn, g->counts, ev->stream, strlen(ev->stream), &n,
                        sizeof(n));
}

static void get_ping(void *state, struct chatd_req *req)
{
    const struct good *g = state;

    g->host->reply_json(req, 200, "{\"pong\":true}", 13);
}

static int init(struct chatd_module *mod, const struct chatd_host *host,
                void **state)
{
    static const struct chatd_event_type et = {"good.thing_happened", 1,
                                               NULL};
    static const char *const stores[] = {"counts", NULL};
    static const struct chatd_projection proj = {"counter", 1, stores,
                                                 project};
    static const struct chatd_route route = {"GET", "/v1/good/ping",
                                             CHATD_AUTH_NONE, get_ping};
    struct good *g = calloc(1, sizeof(*g));
    int rc;

    if (g == NULL)
        return CHATD_ENOMEM;
    const struct chatd_config_item config[] = {
        {"step", CHATD_CONFIG_INT, 1, NULL, 1, 100, &g->step},
        {NULL, 0, 0, NULL, 0, 0, NULL}};

    g->host = host;
    rc = host->event_type(mod, &et);
    if (rc == CHATD_OK)
        rc = host->store(mod, "counts", &g->counts);
    if (rc == CHATD_OK)
        rc = host->projection(mod, &proj);
    if (rc == CHATD_OK)
        rc = host->route(mod, &route);
    if (rc == CHATD_OK)
        rc = host->config(mod, config);
    if (rc != CHATD_OK) {
        free(g);
        return rc;
    }
    *state = g;
    return CHATD_OK;
}

static void fini(void *state)
{
    free(state);
}

CHATD_MODULE(.name = "good", .version = "1.0.0", .init = init, .fini = fini)
