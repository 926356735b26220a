/* Registers a route, then fails init: nothing may stay registered. */
#include "chatd/module.h"

static void handle(void *state, struct chatd_req *req)
{
}

static int init(struct chatd_module *mod, const struct chatd_host *host,
                void **state)
{
    static const struct chatd_route r = {"GET", "/v1/init_fails",
                                         CHATD_AUTH_NONE, handle};
    int rc = host->route(mod, &r);

    return rc == CHATD_OK ? CHATD_EINVAL : rc;
}

CHATD_MODULE(.name = "init_fails", .version = "0", .init = init)
