/*
 * hello — the smallest useful out-of-tree module, built by
 * tests/integration/test_sdk.py against an *installed* chatd with nothing
 * but `pkg-config chatd-module` (see Makefile here). libc only.
 *
 *   POST /v1/hello/greetings/{name}  (admin)  appends hello.greeting_sent
 *        on stream "hello:<name>" through a command; 201 {"name", "count"}
 *   GET  /v1/hello/greetings/{name}  (admin)  200 {"name", "count",
 *        "greeting"}: the count from the module's store, kept by an inline
 *        projection, and the configured `hello.greeting`
 *
 * Built with -DHELLO_OTHER_ABI it carries a hand-written descriptor that
 * claims ABI major CHATD_ABI_MAJOR + 1, which the host must refuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chatd/module.h>

struct hello {
    struct chatd_module *mod;
    const struct chatd_host *host;
    struct chatd_store *counts; /* name -> decimal count */
    const char *greeting;
};

#define NAME_MAX_LEN 32

static int name_ok(const char *s)
{
    size_t i;

    for (i = 0; s != NULL && s[i] != '\0'; i++)
        if (i >= NAME_MAX_LEN ||
            !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return s != NULL && i > 0;
}

static unsigned long count_of(const struct hello *h, struct chatd_txn *txn,
                              const char *name)
{
    struct chatd_val v;
    char buf[24];

    if (h->host->get(txn, h->counts, name, strlen(name), &v) != CHATD_OK ||
        v.len >= sizeof(buf))
        return 0;
    memcpy(buf, v.data, v.len);
    buf[v.len] = '\0';
    return strtoul(buf, NULL, 10);
}

/* Inline projection: counts greetings per name, from the stream name. */
static int project(void *state, struct chatd_txn *txn,
                   const struct chatd_event *ev)
{
    const struct hello *h = state;
    const char *name = ev->stream + strlen("hello:");
    char buf[24];
    int n;

    if (strcmp(ev->type, "hello.greeting_sent") != 0)
        return CHATD_OK;
    n = snprintf(buf, sizeof(buf), "%lu", count_of(h, txn, name) + 1);
    return h->host->put(txn, h->counts, name, strlen(name), buf, (size_t)n);
}

struct greet_cmd {
    struct hello *h;
    char name[NAME_MAX_LEN + 1];
};

static void reply_count(const struct hello *h, struct chatd_txn *txn,
                        struct chatd_req *req, unsigned status,
                        const char *name, int with_greeting)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"name\":\"%s\",\"count\":%lu",
                     name, count_of(h, txn, name));

    if (with_greeting)
        n += snprintf(body + n, sizeof(body) - (size_t)n,
                      ",\"greeting\":\"%s %s\"", h->greeting, name);
    n += snprintf(body + n, sizeof(body) - (size_t)n, "}");
    h->host->reply_json(req, status, body, (size_t)n);
}

/* Command: on the writer, inside the group commit; the 201 leaves only
 * after the commit is durable. */
static int cmd_greet(void *arg, struct chatd_txn *txn, struct chatd_req *req)
{
    const struct greet_cmd *a = arg;
    char stream[64], data[64];
    struct chatd_append ap = {.size = sizeof(ap),
                              .type = "hello.greeting_sent",
                              .stream = stream,
                              .expected_ver = CHATD_ANY_VERSION,
                              .data = data};
    int rc;

    snprintf(stream, sizeof(stream), "hello:%s", a->name);
    ap.data_len = (size_t)snprintf(data, sizeof(data), "{\"name\":\"%s\"}",
                                   a->name);
    rc = a->h->host->append(txn, &ap, NULL);
    if (rc != CHATD_OK)
        return rc; /* the host answers with an error and discards */
    reply_count(a->h, txn, req, 201, a->name, 0);
    return CHATD_OK;
}

static void post_greeting(void *state, struct chatd_req *req)
{
    struct hello *h = state;
    const char *name = h->host->req_param(req, "name");
    struct greet_cmd *a;

    if (!name_ok(name)) {
        h->host->reply_error(req, 400, "invalid_argument",
                             "name must be 1 to 32 of [a-z0-9]");
        return;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        h->host->reply_error(req, 503, "unavailable", "out of memory");
        return;
    }
    a->h = h;
    strcpy(a->name, name);
    /* On failure the host has answered 503 and freed a. */
    h->host->submit(req, cmd_greet, a, free);
}

static void get_greeting(void *state, struct chatd_req *req)
{
    const struct hello *h = state;
    const char *name = h->host->req_param(req, "name");
    struct chatd_txn *txn;

    if (!name_ok(name)) {
        h->host->reply_error(req, 404, "not_found", "no such name");
        return;
    }
    txn = h->host->req_txn(req);
    if (txn == NULL) {
        h->host->reply_error(req, 503, "unavailable", "storage unavailable");
        return;
    }
    reply_count(h, txn, req, 200, name, 1);
}

static int hello_init(struct chatd_module *mod, const struct chatd_host *host,
                      void **state)
{
    static const struct chatd_event_type type = {"hello.greeting_sent", 1,
                                                 NULL};
    static const char *const stores[] = {"counts", NULL};
    static const struct chatd_projection proj = {"counts", 1, stores,
                                                 project};
    static const struct chatd_route routes[] = {
        {"POST", "/v1/hello/greetings/{name}", CHATD_AUTH_ADMIN,
         post_greeting},
        {"GET", "/v1/hello/greetings/{name}", CHATD_AUTH_ADMIN,
         get_greeting},
    };
    struct hello *h = calloc(1, sizeof(*h));
    int rc;

    if (h == NULL)
        return CHATD_ENOMEM;
    const struct chatd_config_item config[] = {
        {.key = "greeting", .type = CHATD_CONFIG_STRING, .def_str = "hello",
         .target = &h->greeting},
        {.key = NULL},
    };
    h->mod = mod;
    h->host = host;
    rc = host->config(mod, config);
    if (rc == CHATD_OK)
        rc = host->event_type(mod, &type);
    if (rc == CHATD_OK)
        rc = host->store(mod, "counts", &h->counts);
    if (rc == CHATD_OK)
        rc = host->projection(mod, &proj);
    if (rc == CHATD_OK)
        rc = host->route(mod, &routes[0]);
    if (rc == CHATD_OK)
        rc = host->route(mod, &routes[1]);
    if (rc != CHATD_OK) {
        free(h);
        return rc;
    }
    *state = h;
    return CHATD_OK;
}

static void hello_fini(void *state)
{
    free(state);
}

#ifndef HELLO_OTHER_ABI
CHATD_MODULE(.name = "hello", .version = "0.1.0",
             .description = "the SDK test's out-of-tree module",
             .init = hello_init, .fini = hello_fini)
#else
/* What a module built against a future, incompatible chatd looks like. */
CHATD_EXPORT const struct chatd_module_info *chatd_module_info(void);
CHATD_EXPORT const struct chatd_module_info *chatd_module_info(void)
{
    static const struct chatd_module_info info = {
        .size = sizeof(info),
        .abi_major = CHATD_ABI_MAJOR + 1,
        .abi_minor = 0,
        .abi_tag = CHATD_ABI_TAG,
        .name = "hello",
        .version = "0.1.0",
        .init = hello_init,
        .fini = hello_fini,
    };
    return &info;
}
#endif
