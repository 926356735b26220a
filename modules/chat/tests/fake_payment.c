/*
 * A stand-in for the payment module in the chat integration tests: an
 * admin route that appends "<FAKE_NAME>.notice_sent" with the request body
 * as data, so the chat module's payment subscriber can be tested end to
 * end without the real payment module. Built twice, as "payment" and
 * "payment_notice" (the two prefixes chat subscribes to). Test-only: never
 * installed, loaded only by an explicit "modules" list in a test config.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd/module.h"

#ifndef FAKE_NAME
#error "FAKE_NAME must name the module"
#endif

struct fake {
    struct chatd_module *mod;
    const struct chatd_host *host;
};

struct body {
    struct fake *f;
    size_t len;
    char data[];
};

static int cmd_append(void *arg, struct chatd_txn *txn, struct chatd_req *req)
{
    struct body *b = arg;
    struct chatd_append a = {
        .size = sizeof(a),
        .type = FAKE_NAME ".notice_sent",
        .stream = "test:" FAKE_NAME,
        .expected_ver = CHATD_ANY_VERSION,
        .data = b->data,
        .data_len = b->len,
    };
    uint64_t seq = 0;
    char out[64];
    int rc = b->f->host->append(txn, &a, &seq);

    if (rc != CHATD_OK)
        return rc;
    snprintf(out, sizeof(out), "{\"seq\":%llu}", (unsigned long long)seq);
    b->f->host->reply_json(req, 201, out, strlen(out));
    return CHATD_OK;
}

static void route_notice(void *state, struct chatd_req *req)
{
    struct fake *f = state;
    struct chatd_val v = f->host->req_body(req);
    struct body *b = malloc(sizeof(*b) + v.len + 1);

    if (b == NULL) {
        f->host->reply_error(req, 503, "unavailable", "out of memory");
        return;
    }
    b->f = f;
    b->len = v.len;
    if (v.len > 0)
        memcpy(b->data, v.data, v.len);
    b->data[v.len] = '\0';
    f->host->submit(req, cmd_append, b, free);
}

static const struct chatd_event_type notice_type = {
    FAKE_NAME ".notice_sent", 1, NULL};
static const struct chatd_route notice_route = {
    "POST", "/v1/test/" FAKE_NAME "/notices", CHATD_AUTH_ADMIN, route_notice};

static void fake_fini(void *state)
{
    free(state);
}

static int fake_init(struct chatd_module *mod, const struct chatd_host *host,
                     void **state)
{
    struct fake *f = calloc(1, sizeof(*f));
    int rc;

    if (f == NULL)
        return CHATD_ENOMEM;
    f->mod = mod;
    f->host = host;
    rc = host->event_type(mod, &notice_type);
    if (rc == CHATD_OK)
        rc = host->route(mod, &notice_route);
    if (rc != CHATD_OK) {
        free(f);
        return rc;
    }
    *state = f;
    return CHATD_OK;
}

CHATD_MODULE(.name = FAKE_NAME, .version = "test",
             .description = "test stand-in for the payment module",
             .init = fake_init, .fini = fake_fini);
