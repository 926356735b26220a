/*
 * Transfers between members of a room, and refunds.
 *
 *   POST /v1/rooms/{room_id}/transfers (user)
 *     {"to", "amount", "memo"?, "idempotency_key"} -> 201 transfer.
 *   GET /v1/transfers/{transfer_id} (user: its sender or recipient)
 *   POST /v1/transfers/{transfer_id}/refund (user: its recipient)
 *
 * Every rule is checked inside the command, on the writer thread, against
 * the stores as every earlier command left them: the idempotency key
 * first (a retry gets the first answer whatever happened since), then
 * membership, then the balance. So two concurrent transfers from one
 * wallet can never both spend the same money, and a retry never pays
 * twice. Each outcome is an event carrying {"room_id", "notice"}, which the
 * chat module posts in the room as a message of kind "payment".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pay.h"

#define NAME_MAX_BYTES 300

struct transfer_cmd {
    const struct pn *p;
    json_t *body; /* owns the strings of r */
    struct pn_transfer_req r;
    char room[PN_ID_MAX + 1];
    char from[PN_ID_MAX + 1];
    char id[24];
};

static void transfer_cmd_free(void *arg)
{
    struct transfer_cmd *a = arg;

    json_decref(a->body);
    free(a);
}

static int reject(const struct pn *p, struct chatd_req *req, unsigned status,
                  const char *code, const char *message)
{
    struct pn_err err;

    pn_err_set(&err, status, code, "%s", message);
    pn_reply_err(p, req, &err);
    return CHATD_EREJECTED;
}

/* The key was used before by this sender: the same transfer, or 409. */
static int transfer_again(struct transfer_cmd *a, struct chatd_txn *txn,
                          struct chatd_req *req, const struct chatd_val *id)
{
    const struct pn *p = a->p;
    char tid[PN_ID_MAX + 1];
    json_t *rec = NULL;
    enum pn_idem idem;
    int rc;

    snprintf(tid, sizeof(tid), "%.*s", (int)id->len, (const char *)id->data);
    rc = pn_get_json(p, txn, p->st.transfers, tid, &rec);
    if (rc != CHATD_OK)
        return pn_reply_storage(p, req, rc, "reading a transfer");
    idem = pn_transfer_idem(rec, a->room, &a->r);
    json_decref(rec);
    if (idem == PN_IDEM_CONFLICT)
        return reject(p, req, 409, "conflict",
                      "this idempotency_key was used for another transfer");
    return pn_reply_stored(p, txn, req, p->st.transfers, tid, 200);
}

/* The notice the chat shows: a sentence with names, and the facts. */
static json_t *notice(const struct pn *p, struct chatd_txn *txn,
                      const char *verb, const char *id, const char *payer,
                      const char *payee, int64_t amount, const char *status,
                      const char *memo)
{
    char pname[NAME_MAX_BYTES], qname[NAME_MAX_BYTES];
    char num[PN_AMOUNT_TEXT_MAX], text[2 * NAME_MAX_BYTES + 120];
    bool is_user;

    pn_user_get(p, txn, payer, pname, sizeof(pname), &is_user);
    pn_user_get(p, txn, payee, qname, sizeof(qname), &is_user);
    pn_amount_format(num, amount, (unsigned)p->decimals);
    snprintf(text, sizeof(text), "%s %s %s %s to %s", pname, verb, num,
             p->currency, qname);
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s?}",
                     "text", text, "kind", "transfer", "transfer_id", id,
                     "amount", (json_int_t)amount, "currency", p->currency,
                     "from", payer, "to", payee, "status", status, "memo",
                     memo);
}

static int transfer_append(struct transfer_cmd *a, struct chatd_txn *txn,
                           struct chatd_req *req)
{
    const struct pn *p = a->p;
    char stream[40];
    json_t *d, *n = notice(p, txn, "sent", a->id, a->from, a->r.to,
                           a->r.amount, "completed", a->r.memo);
    int rc;

    d = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s?, s:s, s:o*}", "id",
                  a->id, "room_id", a->room, "from", a->from, "to", a->r.to,
                  "amount", (json_int_t)a->r.amount, "currency", p->currency,
                  "memo", a->r.memo, "idempotency_key", a->r.key, "notice",
                  n);
    snprintf(stream, sizeof(stream), "transfer:%s", a->id);
    rc = d && n ? pn_append(p, txn, PN_TYPE_TRANSFER, stream, CHATD_NO_STREAM,
                            d)
                : CHATD_ENOMEM;
    json_decref(d);
    if (rc != CHATD_OK)
        return pn_reply_storage(p, req, rc, "appending a transfer");
    p->host->metric_add(p->m_transfers, 1);
    return pn_reply_stored(p, txn, req, p->st.transfers, a->id, 201);
}

/* Membership, self, balances: the rules after the idempotency check. */
static int transfer_rules(struct transfer_cmd *a, struct chatd_txn *txn,
                          struct chatd_req *req)
{
    const struct pn *p = a->p;
    struct pn_wallet payer, payee;
    bool member;
    int rc = pn_is_member(p, txn, a->room, a->from, &member);

    if (rc == CHATD_OK && !member) /* same answer as for no such room */
        return reject(p, req, 404, "not_found", "room not found");
    if (rc == CHATD_OK && strcmp(a->r.to, a->from) == 0)
        return reject(p, req, 422, "self_transfer",
                      "you cannot send money to yourself");
    if (rc == CHATD_OK)
        rc = pn_is_member(p, txn, a->room, a->r.to, &member);
    if (rc == CHATD_OK && !member)
        return reject(p, req, 422, "not_a_member",
                      "the recipient is not a member of this room");
    if (rc == CHATD_OK)
        rc = pn_wallet_get(p, txn, a->from, &payer);
    if (rc == CHATD_OK)
        rc = pn_wallet_get(p, txn, a->r.to, &payee);
    if (rc != CHATD_OK)
        return pn_reply_storage(p, req, rc, "reading for a transfer");
    if (payer.balance < a->r.amount)
        return reject(p, req, 422, "insufficient_funds",
                      "your balance is lower than the amount");
    if (a->r.amount > PN_BALANCE_MAX - payee.balance)
        return reject(p, req, 422, "balance_limit",
                      "the recipient's balance would exceed the limit");
    return CHATD_OK;
}

static int cmd_transfer(void *arg, struct chatd_txn *txn,
                        struct chatd_req *req)
{
    struct transfer_cmd *a = arg;
    const struct pn *p = a->p;
    unsigned char key[PN_KEY2_MAX];
    struct chatd_val v;
    int rc = pn_get(p, txn, p->st.xfer_idem, key,
                    pn_key2(key, a->from, a->r.key), &v);

    if (rc == CHATD_OK)
        return transfer_again(a, txn, req, &v);
    if (rc != CHATD_ENOTFOUND)
        return pn_reply_storage(p, req, rc, "reading transfer keys");
    rc = transfer_rules(a, txn, req);
    return rc == CHATD_OK ? transfer_append(a, txn, req) : rc;
}

void pn_route_transfer(void *state, struct chatd_req *req)
{
    const struct pn *p = state;
    const char *room = p->host->req_param(req, "room_id");
    const char *from = pn_req_user(p, req);
    struct transfer_cmd *a;
    struct pn_err err;

    if (from == NULL)
        return;
    if (!pn_id_valid(room)) {
        p->host->reply_error(req, 404, "not_found", "room not found");
        return;
    }
    a = pn_cmd_new(p, req, sizeof(*a));
    if (a == NULL)
        return;
    a->p = p;
    a->body = pn_req_body(p, req);
    if (a->body == NULL)
        goto out;
    if (pn_transfer_parse(a->body, p->max_amount, (size_t)p->max_memo_chars,
                          &a->r, &err) != 0) {
        pn_reply_err(p, req, &err);
        goto out;
    }
    strcpy(a->room, room);
    strcpy(a->from, from);
    if (pn_new_id(a->id, "t_") != CHATD_OK) {
        pn_reply_storage(p, req, CHATD_EIO, "making a transfer id");
        goto out;
    }
    p->host->submit(req, cmd_transfer, a, transfer_cmd_free);
    return;
out:
    transfer_cmd_free(a);
}

/* The transfer if the caller is a party to it; else 404 answered. */
static json_t *party_transfer(const struct pn *p, struct chatd_txn *txn,
                              struct chatd_req *req, const char *tid,
                              const char *caller)
{
    json_t *rec = NULL;
    const char *from, *to;
    int rc = pn_get_json(p, txn, p->st.transfers, tid, &rec);

    if (rc != CHATD_OK && rc != CHATD_ENOTFOUND) {
        pn_reply_storage(p, req, rc, "reading a transfer");
        return NULL;
    }
    from = json_string_value(json_object_get(rec, "from"));
    to = json_string_value(json_object_get(rec, "to"));
    if (rc == CHATD_ENOTFOUND || from == NULL || to == NULL ||
        (strcmp(from, caller) != 0 && strcmp(to, caller) != 0)) {
        json_decref(rec);
        p->host->reply_error(req, 404, "not_found", "transfer not found");
        return NULL;
    }
    return rec;
}

void pn_route_transfer_get(void *state, struct chatd_req *req)
{
    const struct pn *p = state;
    const char *tid = p->host->req_param(req, "transfer_id");
    const char *caller = pn_req_user(p, req);
    struct chatd_txn *txn;
    json_t *rec;

    if (caller == NULL)
        return;
    if (!pn_id_valid(tid)) {
        p->host->reply_error(req, 404, "not_found", "transfer not found");
        return;
    }
    txn = p->host->req_txn(req);
    if (txn == NULL) {
        pn_reply_storage(p, req, CHATD_EIO, "opening a read transaction");
        return;
    }
    rec = party_transfer(p, txn, req, tid, caller);
    if (rec == NULL)
        return;
    json_decref(rec);
    pn_reply_stored(p, txn, req, p->st.transfers, tid, 200);
}

struct refund_cmd {
    const struct pn *p;
    char tid[PN_ID_MAX + 1];
    char caller[PN_ID_MAX + 1];
};

/* Checks the balances and appends the refund of the transfer `x`. */
static int refund_append(struct refund_cmd *a, struct chatd_txn *txn,
                         struct chatd_req *req, const json_t *x)
{
    const struct pn *p = a->p;
    const char *room = json_string_value(json_object_get(x, "room"));
    const char *from = json_string_value(json_object_get(x, "from"));
    int64_t amount = json_integer_value(json_object_get(x, "amount"));
    struct pn_wallet payer, payee;
    char stream[PN_ID_MAX + 12];
    json_t *d, *n;
    int rc = pn_wallet_get(p, txn, a->caller, &payer);

    if (rc == CHATD_OK)
        rc = pn_wallet_get(p, txn, from, &payee);
    if (rc != CHATD_OK)
        return pn_reply_storage(p, req, rc, "reading for a refund");
    if (payer.balance < amount)
        return reject(p, req, 422, "insufficient_funds",
                      "your balance is lower than the amount to refund");
    if (amount > PN_BALANCE_MAX - payee.balance)
        return reject(p, req, 422, "balance_limit",
                      "the sender's balance would exceed the limit");
    n = notice(p, txn, "refunded", a->tid, a->caller, from, amount,
               "refunded", NULL);
    d = json_pack("{s:s, s:s, s:s, s:s, s:I, s:O, s:o*}", "id", a->tid,
                  "room_id", room, "from", from, "to", a->caller, "amount",
                  (json_int_t)amount, "currency",
                  json_object_get(x, "currency"), "notice", n);
    snprintf(stream, sizeof(stream), "transfer:%s", a->tid);
    rc = d && n ? pn_append(p, txn, PN_TYPE_REFUND, stream, 1, d)
                : CHATD_ENOMEM;
    json_decref(d);
    if (rc != CHATD_OK)
        return pn_reply_storage(p, req, rc, "appending a refund");
    p->host->metric_add(p->m_refunds, 1);
    return pn_reply_stored(p, txn, req, p->st.transfers, a->tid, 200);
}

static int cmd_refund(void *arg, struct chatd_txn *txn,
                      struct chatd_req *req)
{
    struct refund_cmd *a = arg;
    const struct pn *p = a->p;
    json_t *x = party_transfer(p, txn, req, a->tid, a->caller);
    const char *status, *to;
    int rc;

    if (x == NULL)
        return CHATD_EREJECTED;
    status = json_string_value(json_object_get(x, "status"));
    to = json_string_value(json_object_get(x, "to"));
    if (strcmp(to, a->caller) != 0)
        rc = reject(p, req, 403, "forbidden",
                    "only the recipient can refund a transfer");
    else if (status != NULL && strcmp(status, "refunded") == 0)
        /* Refunding again moves nothing: the refunded transfer. */
        rc = pn_reply_stored(p, txn, req, p->st.transfers, a->tid, 200);
    else
        rc = refund_append(a, txn, req, x);
    json_decref(x);
    return rc;
}

void pn_route_refund(void *state, struct chatd_req *req)
{
    const struct pn *p = state;
    const char *tid = p->host->req_param(req, "transfer_id");
    const char *caller = pn_req_user(p, req);
    struct refund_cmd *a;

    if (caller == NULL)
        return;
    if (!pn_id_valid(tid)) {
        p->host->reply_error(req, 404, "not_found", "transfer not found");
        return;
    }
    a = pn_cmd_new(p, req, sizeof(*a));
    if (a == NULL)
        return;
    a->p = p;
    strcpy(a->tid, tid);
    strcpy(a->caller, caller);
    p->host->submit(req, cmd_refund, a, free);
}
