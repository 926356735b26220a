/*
 * The inline projection "ledger": on the writer thread, inside the
 * transaction that appended each event, and again in log order during
 * `chatd rebuild` and `chatd verify`. It reads only the event and the
 * module's stores (the time in the records is the event's), so a rebuild
 * gives the same stores byte for byte.
 *
 * It keeps two kinds of state:
 *  - what the module learns from other modules' events: users (names, for
 *    notice texts; kind, for who may hold a wallet), rooms and members.
 *    Malformed foreign events are skipped, never refused: an error here
 *    would abort the other module's command.
 *  - the ledger from its own events: wallets, ledger entries, deposits,
 *    transfers, provider notices, and the idempotency indexes. The
 *    commands check every rule before appending, so an event that would
 *    break one (a negative balance) is refused here as malformed: that
 *    aborts the command instead of recording a broken ledger.
 */
#include <stdlib.h>
#include <string.h>

#include "pay.h"

static const char *str(const json_t *d, const char *k)
{
    return json_string_value(json_object_get(d, k));
}

static int put_json(const struct pn *p, struct chatd_txn *txn,
                    const struct chatd_store *st, const char *key,
                    const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    int rc;

    if (text == NULL)
        return CHATD_ENOMEM;
    rc = p->host->put(txn, st, key, strlen(key), text, strlen(text));
    free(text);
    return rc;
}

static int put_str(const struct pn *p, struct chatd_txn *txn,
                   const struct chatd_store *st, const void *key, size_t klen,
                   const char *val)
{
    return p->host->put(txn, st, key, klen, val, strlen(val));
}

/* --- what other modules tell us --- */

static int on_user(const struct pn *p, struct chatd_txn *txn, const json_t *d)
{
    const char *id = str(d, "id"), *name = str(d, "name"),
               *kind = str(d, "kind");
    size_t n;
    char *val;
    int rc;

    if (!pn_id_valid(id) || name == NULL)
        return CHATD_OK;
    n = strlen(name);
    val = malloc(n + 1);
    if (val == NULL)
        return CHATD_ENOMEM;
    val[0] = kind != NULL && strcmp(kind, "user") == 0 ? 1 : 0;
    memcpy(val + 1, name, n);
    rc = p->host->put(txn, p->st.users, id, strlen(id), val, n + 1);
    free(val);
    return rc;
}

static int member_put(const struct pn *p, struct chatd_txn *txn,
                      const char *room, const char *uid)
{
    unsigned char key[PN_KEY2_MAX];

    if (!pn_id_valid(uid))
        return CHATD_OK;
    return put_str(p, txn, p->st.members, key, pn_key2(key, room, uid), "1");
}

static int on_room(const struct pn *p, struct chatd_txn *txn, const json_t *d)
{
    const char *room = str(d, "room");
    const json_t *m;
    size_t i;
    int rc;

    if (!pn_id_valid(room))
        return CHATD_OK;
    rc = put_str(p, txn, p->st.rooms, room, strlen(room), "1");
    json_array_foreach(json_object_get(d, "members"), i, m) {
        if (rc == CHATD_OK)
            rc = member_put(p, txn, room, json_string_value(m));
    }
    return rc;
}

static int on_member(const struct pn *p, struct chatd_txn *txn,
                     const json_t *d, bool added)
{
    const char *room = str(d, "room"), *uid = str(d, "user");
    unsigned char key[PN_KEY2_MAX];
    int rc;

    if (!pn_id_valid(room) || !pn_id_valid(uid))
        return CHATD_OK;
    if (added)
        return member_put(p, txn, room, uid);
    rc = p->host->del(txn, p->st.members, key, pn_key2(key, room, uid));
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

/* --- our own events --- */

struct entry {
    const char *uid, *type, *id_field, *id, *room, *counterparty,
        *currency;
    int64_t delta;
    int64_t time_ms;
};

/* Adds one ledger entry to uid's wallet; the new balance in *balance. */
static int ledger_add(const struct pn *p, struct chatd_txn *txn,
                      const struct entry *e, int64_t *balance)
{
    unsigned char key[PN_LEDGER_KEY_MAX], val[PN_WALLET_LEN];
    char at[32], *text;
    struct pn_wallet w;
    json_t *j;
    int rc = pn_wallet_get(p, txn, e->uid, &w);

    if (rc != CHATD_OK)
        return rc;
    if (e->delta < -w.balance || e->delta > PN_BALANCE_MAX - w.balance)
        return CHATD_EINVAL;
    w.balance += e->delta;
    w.entries++;
    pn_time_format(at, e->time_ms);
    j = json_pack("{s:I, s:s, s:I, s:I, s:s, s:s, s:s?, s:s?, s:s}", "entry",
                  (json_int_t)w.entries, "type", e->type, "amount",
                  (json_int_t)e->delta, "balance", (json_int_t)w.balance,
                  "currency", e->currency, e->id_field, e->id, "room",
                  e->room, "counterparty", e->counterparty, "created_at",
                  at);
    text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL)
        return CHATD_ENOMEM;
    rc = p->host->put(txn, p->st.ledger, key,
                      pn_ledger_key(key, e->uid, w.entries), text,
                      strlen(text));
    free(text);
    pn_wallet_encode(val, &w);
    if (rc == CHATD_OK)
        rc = p->host->put(txn, p->st.wallets, e->uid, strlen(e->uid), val,
                          sizeof(val));
    *balance = w.balance;
    return rc;
}

static int on_deposit(const struct pn *p, struct chatd_txn *txn,
                      const struct chatd_event *ev, const json_t *d)
{
    const json_t *a = json_object_get(d, "amount");
    struct entry e = {.uid = str(d, "user_id"), .type = "deposit",
                      .id_field = "deposit_id", .id = str(d, "id"),
                      .currency = str(d, "currency"),
                      .delta = json_integer_value(a), .time_ms = ev->time_ms};
    const char *key = str(d, "idempotency_key");
    char at[32];
    int64_t balance;
    json_t *rec;
    int rc;

    if (!pn_id_valid(e.uid) || !pn_id_valid(e.id) || !pn_id_valid(key) ||
        e.currency == NULL || !json_is_integer(a) || e.delta < 1)
        return CHATD_EINVAL;
    rc = ledger_add(p, txn, &e, &balance);
    if (rc != CHATD_OK)
        return rc;
    pn_time_format(at, ev->time_ms);
    rec = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s}", "id", e.id, "user_id",
                    e.uid, "amount", (json_int_t)e.delta, "currency",
                    e.currency, "balance", (json_int_t)balance, "created_at",
                    at);
    rc = rec ? put_json(p, txn, p->st.deposits, e.id, rec) : CHATD_ENOMEM;
    json_decref(rec);
    if (rc == CHATD_OK)
        rc = put_str(p, txn, p->st.dep_idem, key, strlen(key), e.id);
    return rc;
}

/* The transfer's fields, checked; borrowed from d. */
struct xfer {
    const char *id, *room, *from, *to, *currency;
    int64_t amount;
};

static int xfer_fields(const json_t *d, struct xfer *x)
{
    const json_t *a = json_object_get(d, "amount");

    x->id = str(d, "id");
    x->room = str(d, "room_id");
    x->from = str(d, "from");
    x->to = str(d, "to");
    x->currency = str(d, "currency");
    x->amount = json_integer_value(a);
    if (!pn_id_valid(x->id) || !pn_id_valid(x->room) ||
        !pn_id_valid(x->from) || !pn_id_valid(x->to) ||
        x->currency == NULL || !json_is_integer(a) || x->amount < 1 ||
        strcmp(x->from, x->to) == 0)
        return CHATD_EINVAL;
    return CHATD_OK;
}

/* Moves x->amount from `payer` to `payee`, one ledger entry each. */
static int move(const struct pn *p, struct chatd_txn *txn,
                const struct xfer *x, const char *payer, const char *payee,
                const char *what, int64_t time_ms)
{
    char sent[32], received[32];
    struct entry e = {.id_field = "transfer_id", .id = x->id,
                      .room = x->room, .currency = x->currency,
                      .time_ms = time_ms};
    int64_t balance;
    int rc;

    snprintf(sent, sizeof(sent), "%s_sent", what);
    snprintf(received, sizeof(received), "%s_received", what);
    e.uid = payer;
    e.type = sent;
    e.counterparty = payee;
    e.delta = -x->amount;
    rc = ledger_add(p, txn, &e, &balance);
    if (rc != CHATD_OK)
        return rc;
    e.uid = payee;
    e.type = received;
    e.counterparty = payer;
    e.delta = x->amount;
    return ledger_add(p, txn, &e, &balance);
}

static int on_transfer(const struct pn *p, struct chatd_txn *txn,
                       const struct chatd_event *ev, const json_t *d)
{
    unsigned char key[PN_KEY2_MAX];
    const char *idem = str(d, "idempotency_key");
    const json_t *memo = json_object_get(d, "memo");
    struct xfer x;
    char at[32];
    json_t *rec;
    int rc = xfer_fields(d, &x);

    if (rc != CHATD_OK || !pn_id_valid(idem))
        return CHATD_EINVAL;
    rc = move(p, txn, &x, x.from, x.to, "transfer", ev->time_ms);
    if (rc != CHATD_OK)
        return rc;
    pn_time_format(at, ev->time_ms);
    rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:O?, s:s, s:n}",
                    "id", x.id, "status", "completed", "room", x.room, "from",
                    x.from, "to", x.to, "amount", (json_int_t)x.amount,
                    "currency", x.currency, "memo",
                    json_is_string(memo) ? memo : NULL, "created_at", at,
                    "refunded_at");
    rc = rec ? put_json(p, txn, p->st.transfers, x.id, rec) : CHATD_ENOMEM;
    json_decref(rec);
    if (rc == CHATD_OK)
        rc = put_str(p, txn, p->st.xfer_idem, key, pn_key2(key, x.from, idem),
                     x.id);
    return rc;
}

static int on_refund(const struct pn *p, struct chatd_txn *txn,
                     const struct chatd_event *ev, const json_t *d)
{
    struct xfer x;
    char at[32];
    json_t *rec = NULL;
    int rc = xfer_fields(d, &x);

    if (rc == CHATD_OK)
        rc = pn_get_json(p, txn, p->st.transfers, x.id, &rec);
    if (rc == CHATD_ENOTFOUND)
        rc = CHATD_EINVAL;
    /* The refund must be of the transfer as recorded, and only once. */
    if (rc == CHATD_OK &&
        (strcmp(str(rec, "status") ? str(rec, "status") : "", "completed") ||
         !json_equal(json_object_get(rec, "amount"),
                     json_object_get(d, "amount")) ||
         strcmp(str(rec, "from") ? str(rec, "from") : "", x.from) ||
         strcmp(str(rec, "to") ? str(rec, "to") : "", x.to)))
        rc = CHATD_EINVAL;
    if (rc == CHATD_OK)
        rc = move(p, txn, &x, x.to, x.from, "refund", ev->time_ms);
    pn_time_format(at, ev->time_ms);
    if (rc == CHATD_OK &&
        (json_object_set_new(rec, "status", json_string("refunded")) != 0 ||
         json_object_set_new(rec, "refunded_at", json_string(at)) != 0))
        rc = CHATD_ENOMEM;
    if (rc == CHATD_OK)
        rc = put_json(p, txn, p->st.transfers, x.id, rec);
    json_decref(rec);
    return rc;
}

static int on_provider(const struct pn *p, struct chatd_txn *txn,
                       const struct chatd_event *ev, const json_t *d)
{
    const json_t *req = json_object_get(d, "request");
    const char *id = str(req, "id");
    char at[32];
    json_t *rec;
    int rc;

    if (!json_is_object(req) || !pn_id_valid(id))
        return CHATD_EINVAL;
    rec = json_deep_copy(req);
    pn_time_format(at, ev->time_ms);
    if (rec == NULL ||
        json_object_set_new(rec, "received_at", json_string(at)) != 0) {
        json_decref(rec);
        return CHATD_ENOMEM;
    }
    rc = put_json(p, txn, p->st.notices, id, rec);
    json_decref(rec);
    return rc;
}

static int apply(const struct pn *p, struct chatd_txn *txn,
                 const struct chatd_event *ev, const json_t *d)
{
    const char *t = ev->type;

    if (strcmp(t, "identity.user_created") == 0)
        return on_user(p, txn, d);
    if (strcmp(t, "chat.room_created") == 0)
        return on_room(p, txn, d);
    if (strcmp(t, "chat.member_added") == 0)
        return on_member(p, txn, d, true);
    if (strcmp(t, "chat.member_removed") == 0)
        return on_member(p, txn, d, false);
    if (strcmp(t, PN_TYPE_DEPOSIT) == 0)
        return on_deposit(p, txn, ev, d);
    if (strcmp(t, PN_TYPE_TRANSFER) == 0)
        return on_transfer(p, txn, ev, d);
    if (strcmp(t, PN_TYPE_REFUND) == 0)
        return on_refund(p, txn, ev, d);
    if (strcmp(t, PN_TYPE_PROVIDER) == 0)
        return on_provider(p, txn, ev, d);
    return CHATD_OK;
}

static bool wanted(const char *t)
{
    return strncmp(t, "payment_notice.", 15) == 0 ||
           strcmp(t, "identity.user_created") == 0 ||
           strcmp(t, "chat.room_created") == 0 ||
           strcmp(t, "chat.member_added") == 0 ||
           strcmp(t, "chat.member_removed") == 0;
}

int pn_project(void *state, struct chatd_txn *txn,
               const struct chatd_event *ev)
{
    const struct pn *p = state;
    bool ours = strncmp(ev->type, "payment_notice.", 15) == 0;
    json_t *d;
    int rc;

    if (!wanted(ev->type))
        return CHATD_OK;
    d = json_loadb(ev->data, ev->data_len, 0, NULL);
    if (!json_is_object(d))
        rc = ours ? CHATD_EINVAL : CHATD_OK;
    else
        rc = apply(p, txn, ev, d);
    if (rc != CHATD_OK)
        p->host->log(p->mod, CHATD_LOG_ERROR,
                     "event %llu (%s v%u): cannot project: %s",
                     (unsigned long long)ev->seq, ev->type, ev->v,
                     p->host->strerror(rc));
    json_decref(d);
    return rc;
}
