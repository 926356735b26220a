/*
 * Signed notices from an external payment provider.
 *
 *   POST /v1/payments/notices (service, admin)
 *     header X-Payment-Signature: hex HMAC-SHA256 of the raw body, keyed
 *     with payment_notice.provider_secret (or $CHATD_PAYMENT_SECRET)
 *     {"id", "room_id", "text", "amount"?, "currency"?, "status"?,
 *      "reference"?} -> 201 the notice; 200 the same notice again for
 *     the same id and body; 409 for the same id with another body.
 *
 * The checks run in this order, each before anything is parsed further:
 * 503 unavailable when no secret is configured (the feature is off), 400
 * for an empty body (nothing to sign), 401 for a missing or wrong
 * signature, then the body's fields, then (in the command) the provider
 * id's idempotency and the room.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pay.h"

#define SIGNATURE_HEADER "X-Payment-Signature"

struct provider_cmd {
    const struct pn *p;
    json_t *request; /* the normalised body */
};

static void provider_cmd_free(void *arg)
{
    struct provider_cmd *a = arg;

    json_decref(a->request);
    free(a);
}

/* What the chat shows: the provider's text and its facts. */
static json_t *provider_event(const json_t *request)
{
    json_t *n = json_deep_copy(request);
    json_t *d;

    if (n == NULL)
        return NULL;
    json_object_del(n, "id");
    json_object_del(n, "room_id");
    if (json_object_set_new(n, "kind", json_string("provider")) != 0 ||
        json_object_set(n, "provider_id", json_object_get(request, "id")) !=
            0) {
        json_decref(n);
        return NULL;
    }
    d = json_pack("{s:O, s:O, s:o}", "room_id",
                  json_object_get(request, "room_id"), "request", request,
                  "notice", n);
    return d;
}

static int cmd_provider(void *arg, struct chatd_txn *txn,
                        struct chatd_req *req)
{
    struct provider_cmd *a = arg;
    const struct pn *p = a->p;
    const char *id = json_string_value(json_object_get(a->request, "id"));
    const char *room =
        json_string_value(json_object_get(a->request, "room_id"));
    char stream[PN_ID_MAX + 20];
    struct chatd_val v;
    json_t *rec = NULL, *d;
    int rc = pn_get_json(p, txn, p->st.notices, id, &rec);

    if (rc == CHATD_OK) {
        enum pn_idem idem = pn_provider_idem(rec, a->request);

        json_decref(rec);
        if (idem == PN_IDEM_CONFLICT) {
            p->host->reply_error(req, 409, "conflict",
                                 "a notice with this id and another body "
                                 "was already received");
            return CHATD_EREJECTED;
        }
        return pn_reply_stored(p, txn, req, p->st.notices, id, 200);
    }
    if (rc != CHATD_ENOTFOUND)
        return pn_reply_storage(p, req, rc, "reading provider notices");
    rc = pn_get(p, txn, p->st.rooms, room, strlen(room), &v);
    if (rc == CHATD_ENOTFOUND) {
        p->host->reply_error(req, 404, "not_found", "room not found");
        return CHATD_EREJECTED;
    }
    if (rc != CHATD_OK)
        return pn_reply_storage(p, req, rc, "reading rooms");
    d = provider_event(a->request);
    snprintf(stream, sizeof(stream), "provider_notice:%s", id);
    rc = d ? pn_append(p, txn, PN_TYPE_PROVIDER, stream, CHATD_NO_STREAM, d)
           : CHATD_ENOMEM;
    json_decref(d);
    if (rc != CHATD_OK)
        return pn_reply_storage(p, req, rc, "appending a provider notice");
    p->host->metric_add(p->m_notices, 1);
    return pn_reply_stored(p, txn, req, p->st.notices, id, 201);
}

void pn_route_provider_notice(void *state, struct chatd_req *req)
{
    const struct pn *p = state;
    struct chatd_val body = p->host->req_body(req);
    struct provider_cmd *a;
    struct pn_err err;
    json_t *parsed;

    if (p->secret == NULL) {
        p->host->reply_error(req, 503, "unavailable",
                             "provider notices are off: no "
                             "payment_notice.provider_secret is configured");
        return;
    }
    if (body.data == NULL || body.len == 0) {
        p->host->reply_error(req, 400, "invalid_json",
                             "the body is empty; expected a signed JSON "
                             "object");
        return;
    }
    if (!pn_signature_ok(p->secret, body.data, body.len,
                         p->host->req_header(req, SIGNATURE_HEADER))) {
        pn_err_set(&err, 401, "unauthenticated",
                   "missing or wrong %s: expected the hex HMAC-SHA256 of "
                   "the body",
                   SIGNATURE_HEADER);
        pn_reply_err(p, req, &err);
        return;
    }
    parsed = pn_req_body(p, req);
    if (parsed == NULL)
        return;
    a = pn_cmd_new(p, req, sizeof(*a));
    if (a == NULL || pn_provider_parse(parsed, &a->request, &err) != 0) {
        if (a != NULL)
            pn_reply_err(p, req, &err);
        json_decref(parsed);
        free(a);
        return;
    }
    json_decref(parsed);
    a->p = p;
    p->host->submit(req, cmd_provider, a, provider_cmd_free);
}
