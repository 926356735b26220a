/*
 * Deposits, the caller's wallet and its history.
 *
 *   POST /v1/wallets/{user_id}/deposits (service, admin)
 *     {"amount", "idempotency_key"} -> 201 deposit; 200 the same deposit
 *     for the same key and body; 409 for the same key with another body;
 *     404 for an unknown user (or a service account: no wallet);
 *     422 balance_limit when the balance would pass 2^53 - 1.
 *   GET /v1/wallet (user) -> {"user_id", "balance", "currency"}
 *   GET /v1/wallet/history?limit=N&cursor=C (user)
 *     -> {"entries": [...], "next_cursor": C|null}, newest first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pay.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 100

struct deposit_cmd {
    const struct pn *p;
    char user[PN_ID_MAX + 1];
    char key[PN_ID_MAX + 1];
    char id[24];
    int64_t amount;
};

/* The key was used before: the same deposit again, or 409. */
static int deposit_again(struct deposit_cmd *a, struct chatd_txn *txn,
                         struct chatd_req *req, const struct chatd_val *id)
{
    const struct pn *p = a->p;
    char dep[PN_ID_MAX + 1];
    json_t *rec = NULL;
    int rc;

    snprintf(dep, sizeof(dep), "%.*s", (int)id->len, (const char *)id->data);
    rc = pn_get_json(p, txn, p->st.deposits, dep, &rec);
    if (rc != CHATD_OK)
        return pn_reply_storage(p, req, rc, "reading a deposit");
    if (pn_deposit_idem(rec, a->user, a->amount) == PN_IDEM_CONFLICT) {
        json_decref(rec);
        p->host->reply_error(req, 409, "conflict",
                             "this idempotency_key was used for another "
                             "deposit");
        return CHATD_EREJECTED;
    }
    json_decref(rec);
    return pn_reply_stored(p, txn, req, p->st.deposits, dep, 200);
}

static int cmd_deposit(void *arg, struct chatd_txn *txn,
                       struct chatd_req *req)
{
    struct deposit_cmd *a = arg;
    const struct pn *p = a->p;
    char name[8], stream[PN_ID_MAX + 8];
    struct chatd_val v;
    struct pn_wallet w;
    bool is_user;
    json_t *d;
    int rc = pn_get(p, txn, p->st.dep_idem, a->key, strlen(a->key), &v);

    if (rc == CHATD_OK)
        return deposit_again(a, txn, req, &v);
    if (rc != CHATD_ENOTFOUND)
        return pn_reply_storage(p, req, rc, "reading deposit keys");
    rc = pn_user_get(p, txn, a->user, name, sizeof(name), &is_user);
    if (rc == CHATD_ENOTFOUND || (rc == CHATD_OK && !is_user)) {
        p->host->reply_error(req, 404, "not_found", "user not found");
        return CHATD_EREJECTED;
    }
    if (rc == CHATD_OK)
        rc = pn_wallet_get(p, txn, a->user, &w);
    if (rc != CHATD_OK)
        return pn_reply_storage(p, req, rc, "reading a wallet");
    if (a->amount > PN_BALANCE_MAX - w.balance) {
        struct pn_err err;

        pn_err_set(&err, 422, "balance_limit",
                   "the balance would exceed %lld",
                   (long long)PN_BALANCE_MAX);
        pn_reply_err(p, req, &err);
        return CHATD_EREJECTED;
    }
    d = json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", a->id, "user_id",
                  a->user, "amount", (json_int_t)a->amount, "currency",
                  p->currency, "idempotency_key", a->key);
    snprintf(stream, sizeof(stream), "wallet:%s", a->user);
    rc = d ? pn_append(p, txn, PN_TYPE_DEPOSIT, stream, CHATD_ANY_VERSION, d)
           : CHATD_ENOMEM;
    json_decref(d);
    if (rc != CHATD_OK)
        return pn_reply_storage(p, req, rc, "appending a deposit");
    p->host->metric_add(p->m_deposits, 1);
    return pn_reply_stored(p, txn, req, p->st.deposits, a->id, 201);
}

void pn_route_deposit(void *state, struct chatd_req *req)
{
    const struct pn *p = state;
    const char *user = p->host->req_param(req, "user_id");
    struct deposit_cmd *a;
    struct pn_err err;
    const char *key;
    json_t *body;

    if (!pn_id_valid(user)) {
        p->host->reply_error(req, 404, "not_found", "user not found");
        return;
    }
    body = pn_req_body(p, req);
    if (body == NULL)
        return;
    a = pn_cmd_new(p, req, sizeof(*a));
    if (a == NULL) {
        json_decref(body);
        return;
    }
    if (pn_deposit_parse(body, p->max_amount, &a->amount, &key, &err) != 0) {
        pn_reply_err(p, req, &err);
        goto out;
    }
    a->p = p;
    strcpy(a->user, user);
    strcpy(a->key, key);
    if (pn_new_id(a->id, "d_") != CHATD_OK) {
        pn_reply_storage(p, req, CHATD_EIO, "making a deposit id");
        goto out;
    }
    json_decref(body);
    p->host->submit(req, cmd_deposit, a, free);
    return;
out:
    json_decref(body);
    free(a);
}

void pn_route_wallet(void *state, struct chatd_req *req)
{
    const struct pn *p = state;
    const char *user = pn_req_user(p, req);
    struct chatd_txn *txn;
    struct pn_wallet w;
    int rc;

    if (user == NULL)
        return;
    txn = p->host->req_txn(req);
    rc = txn ? pn_wallet_get(p, txn, user, &w) : CHATD_EIO;
    if (rc != CHATD_OK) {
        pn_reply_storage(p, req, rc, "reading a wallet");
        return;
    }
    pn_reply_json(p, req, 200,
                  json_pack("{s:s, s:I, s:s}", "user_id", user, "balance",
                            (json_int_t)w.balance, "currency", p->currency));
}

/* A query number in [min, max], or `def` when absent; false if invalid. */
static bool query_u64(const struct pn *p, struct chatd_req *req,
                      const char *name, uint64_t def, uint64_t min,
                      uint64_t max, uint64_t *out)
{
    const char *s = p->host->req_query(req, name);
    char *end;
    unsigned long long v;

    *out = def;
    if (s == NULL)
        return true;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < min ||
        v > max)
        return false;
    *out = v;
    return true;
}

struct page {
    const char *user;
    uint64_t limit;
    json_t *entries;
    uint64_t last;   /* entry number of the last one on the page */
    bool more;
};

/* Walks uid's entries backwards from key; one past the page says more. */
static int read_page(const struct pn *p, struct chatd_txn *txn,
                     struct page *pg, const unsigned char *key, size_t klen)
{
    size_t n = strlen(pg->user);
    struct chatd_cursor *c;
    struct chatd_val k, v;
    json_t *e;
    int rc = p->host->cursor_open(txn, p->st.ledger, &c);

    if (rc != CHATD_OK)
        return rc;
    rc = p->host->cursor_seek(c, CHATD_SEEK_LE, key, klen, &k, &v);
    while (rc == CHATD_OK && k.len == n + 9 &&
           memcmp(k.data, pg->user, n + 1) == 0) {
        if (json_array_size(pg->entries) == pg->limit) {
            pg->more = true;
            break;
        }
        e = json_loadb(v.data, v.len, 0, NULL);
        if (e == NULL || json_array_append_new(pg->entries, e) != 0) {
            rc = CHATD_EIO;
            break;
        }
        pg->last = pn_be64_get((const char *)k.data + n + 1);
        rc = p->host->cursor_step(c, -1, &k, &v);
    }
    p->host->cursor_close(c);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

void pn_route_history(void *state, struct chatd_req *req)
{
    const struct pn *p = state;
    struct page pg = {.user = pn_req_user(p, req)};
    unsigned char key[PN_LEDGER_KEY_MAX];
    char next[24];
    struct chatd_txn *txn;
    uint64_t cursor;
    int rc;

    if (pg.user == NULL)
        return;
    if (!query_u64(p, req, "limit", PAGE_DEFAULT, 1, PAGE_MAX, &pg.limit) ||
        !query_u64(p, req, "cursor", UINT64_MAX, 2, UINT64_MAX, &cursor)) {
        p->host->reply_error(req, 400, "invalid_argument",
                             "\"limit\" must be a number from 1 to 100 and "
                             "\"cursor\" a next_cursor from an earlier page");
        return;
    }
    txn = p->host->req_txn(req);
    pg.entries = json_array();
    rc = txn == NULL ? CHATD_EIO : pg.entries ? CHATD_OK : CHATD_ENOMEM;
    if (rc == CHATD_OK)
        rc = read_page(p, txn, &pg, key,
                       pn_ledger_key(key, pg.user, cursor - 1));
    if (rc != CHATD_OK) {
        json_decref(pg.entries);
        pn_reply_storage(p, req, rc, "reading a wallet history");
        return;
    }
    snprintf(next, sizeof(next), "%llu", (unsigned long long)pg.last);
    pn_reply_json(p, req, 200,
                  json_pack("{s:o, s:s?}", "entries", pg.entries,
                            "next_cursor", pg.more ? next : NULL));
}
