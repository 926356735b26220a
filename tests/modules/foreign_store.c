/* A projection that names a store it never declared: refused at init. */
#include "chatd/module.h"

static int apply(void *state, struct chatd_txn *txn,
                 const struct chatd_event *ev)
{
    return CHATD_OK;
}

static int init(struct chatd_module *mod, const struct chatd_host *host,
                void **state)
{
    static const char *const stores[] = {"users", NULL};
    static const struct chatd_projection p = {"steal", 1, stores, apply};

    return host->projection(mod, &p);
}

CHATD_MODULE(.name = "foreign_store", .version = "0", .init = init)
