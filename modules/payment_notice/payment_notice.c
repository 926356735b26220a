/*
 * payment_notice — money between users inside chat rooms, shown in the
 * conversation as notices (README.md).
 *
 * This file is its declaration to the host, from static tables: four
 * event types of its own, ten stores written by one inline projection,
 * eight routes, five config keys and five metrics. It has no subscriber:
 * the chat module's subscriber on "payment_notice." turns every event of
 * ours that carries {"room_id", "notice"} into a message of kind
 * "payment", and everything this module needs to know about users and
 * rooms it learns in its projection from identity and chat events
 * (modules share only events).
 */
#include <stdlib.h>
#include <string.h>

#include "pay.h"

static const struct chatd_event_type event_types[] = {
    {PN_TYPE_DEPOSIT, 1, NULL},
    {PN_TYPE_TRANSFER, 1, NULL},
    {PN_TYPE_REFUND, 1, NULL},
    {PN_TYPE_PROVIDER, 1, NULL},
};

static const char *const store_names[] = {
    "users",     "rooms",     "members", "wallets", "ledger", "deposits",
    "dep_idem",  "transfers", "xfer_idem", "notices", NULL};

static const struct chatd_projection projection = {
    .name = "ledger",
    .version = 1,
    .stores = store_names,
    .apply = pn_project,
};

static const struct chatd_route routes[] = {
    {"POST", "/v1/wallets/{user_id}/deposits", CHATD_AUTH_SERVICE,
     pn_route_deposit},
    {"GET", "/v1/wallet", CHATD_AUTH_USER, pn_route_wallet},
    {"GET", "/v1/wallet/history", CHATD_AUTH_USER, pn_route_history},
    {"POST", "/v1/rooms/{room_id}/transfers", CHATD_AUTH_USER,
     pn_route_transfer},
    {"GET", "/v1/transfers/{transfer_id}", CHATD_AUTH_USER,
     pn_route_transfer_get},
    {"POST", "/v1/transfers/{transfer_id}/refund", CHATD_AUTH_USER,
     pn_route_refund},
    {"POST", "/v1/payments/notices", CHATD_AUTH_SERVICE,
     pn_route_provider_notice},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define SECRET_ENV "CHATD_PAYMENT_SECRET"
#define SECRET_MIN 16

static bool currency_valid(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return false;
    return i == 3;
}

/* The secret: the environment beats the config file (as for chatd's own
 * settings), so it need not be written to disk. Too short is refused. */
static int pick_secret(struct pn *p)
{
    const char *env = getenv(SECRET_ENV);

    p->secret = env != NULL && env[0] != '\0' ? env : p->secret_conf;
    if (p->secret != NULL && p->secret[0] == '\0')
        p->secret = NULL;
    if (p->secret != NULL && strlen(p->secret) < SECRET_MIN) {
        p->host->log(p->mod, CHATD_LOG_ERROR,
                     "payment_notice.provider_secret (or %s): expected at "
                     "least %d bytes, found %zu; use a long random string",
                     SECRET_ENV, SECRET_MIN, strlen(p->secret));
        return CHATD_EINVAL;
    }
    return CHATD_OK;
}

static int register_config(struct pn *p)
{
    const struct chatd_config_item items[] = {
        {.key = "currency", .type = CHATD_CONFIG_STRING, .def_str = "KRW",
         .target = &p->currency},
        {.key = "max_amount", .type = CHATD_CONFIG_INT, .def_int = 10000000,
         .min = 1, .max = PN_BALANCE_MAX, .target = &p->max_amount},
        {.key = "max_memo_chars", .type = CHATD_CONFIG_INT, .def_int = 200,
         .min = 1, .max = 1000, .target = &p->max_memo_chars},
        {.key = "decimals", .type = CHATD_CONFIG_INT, .def_int = 0, .min = 0,
         .max = 6, .target = &p->decimals},
        {.key = "provider_secret", .type = CHATD_CONFIG_STRING,
         .def_str = NULL, .target = &p->secret_conf},
        {.key = NULL},
    };
    int rc = p->host->config(p->mod, items);

    if (rc != CHATD_OK)
        return rc;
    if (!currency_valid(p->currency)) {
        p->host->log(p->mod, CHATD_LOG_ERROR,
                     "payment_notice.currency: expected a three-letter "
                     "ISO 4217 code in capitals (\"KRW\"), found \"%s\"",
                     p->currency);
        return CHATD_EINVAL;
    }
    return pick_secret(p);
}

static int register_stores(struct pn *p)
{
    struct chatd_store **slots[] = {
        &p->st.users,    &p->st.rooms,     &p->st.members,
        &p->st.wallets,  &p->st.ledger,    &p->st.deposits,
        &p->st.dep_idem, &p->st.transfers, &p->st.xfer_idem,
        &p->st.notices};
    size_t i;
    int rc = CHATD_OK;

    for (i = 0; i < N(slots) && rc == CHATD_OK; i++)
        rc = p->host->store(p->mod, store_names[i], slots[i]);
    return rc;
}

static int register_metrics(struct pn *p)
{
    const struct {
        const char *name, *help;
        struct chatd_metric **out;
    } m[] = {
        {"deposits_total", "Deposits made", &p->m_deposits},
        {"transfers_total", "Transfers completed", &p->m_transfers},
        {"refunds_total", "Transfers refunded", &p->m_refunds},
        {"provider_notices_total", "Provider notices accepted",
         &p->m_notices},
        {"rejected_total",
         "Payment requests refused by a business rule (422) or a bad "
         "signature (401)",
         &p->m_rejected},
    };
    size_t i;
    int rc = CHATD_OK;

    for (i = 0; i < N(m) && rc == CHATD_OK; i++)
        rc = p->host->metric(p->mod, CHATD_METRIC_COUNTER, m[i].name,
                             m[i].help, m[i].out);
    return rc;
}

static int register_all(struct pn *p)
{
    size_t i;
    int rc = register_config(p);

    for (i = 0; i < N(event_types) && rc == CHATD_OK; i++)
        rc = p->host->event_type(p->mod, &event_types[i]);
    if (rc == CHATD_OK)
        rc = register_stores(p);
    if (rc == CHATD_OK)
        rc = p->host->projection(p->mod, &projection);
    for (i = 0; i < N(routes) && rc == CHATD_OK; i++)
        rc = p->host->route(p->mod, &routes[i]);
    if (rc == CHATD_OK)
        rc = register_metrics(p);
    return rc;
}

static void pn_fini(void *state)
{
    free(state);
}

static int pn_init(struct chatd_module *mod, const struct chatd_host *host,
                   void **state)
{
    struct pn *p;
    int rc;

    if (host->size < sizeof(struct chatd_host))
        return CHATD_EABI;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return CHATD_ENOMEM;
    p->mod = mod;
    p->host = host;
    rc = register_all(p);
    if (rc != CHATD_OK) {
        host->log(mod, CHATD_LOG_ERROR, "registration failed: %s",
                  host->strerror(rc));
        pn_fini(p);
        return rc;
    }
    *state = p;
    return CHATD_OK;
}

static int pn_start(void *state)
{
    const struct pn *p = state;

    p->host->log(p->mod, CHATD_LOG_INFO,
                 "wallets in %s, at most %lld per transfer; provider "
                 "notices %s",
                 p->currency, (long long)p->max_amount,
                 p->secret ? "on" : "off (no payment_notice.provider_secret)");
    return CHATD_OK;
}

CHATD_MODULE(.name = "payment_notice", .version = "1.0.0",
             .description = "wallets, transfers in chat rooms and payment "
                            "notices shown in the conversation",
             .init = pn_init, .start = pn_start, .fini = pn_fini);
