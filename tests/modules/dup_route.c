/* Claims the route the "good" test module already has. */
#include "chatd/module.h"

static void handle(void *state, struct chatd_req *req)
{
}

static int init(struct chatd_module *mod, const struct chatd_host *host,
                void **state)
{
    static const struct chatd_route r = {"GET", "/v1/good/ping",
                                         CHATD_AUTH_NONE, handle};

    return host->route(mod, &r);
}

CHATD_MODULE(.name = "dup_route", .version = "0", .init = init)
