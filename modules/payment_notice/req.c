/* Request plumbing shared by every route: who calls, the body, answers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <nettle/base16.h>

#include "pay.h"

const char *pn_req_user(const struct pn *p, struct chatd_req *req)
{
    struct chatd_principal who = p->host->req_principal(req);

    /* Wallets belong to people: service accounts and the admin deposit
     * (and sign provider notices) but hold no money. */
    if (who.kind != CHATD_PRINCIPAL_USER || !pn_id_valid(who.id)) {
        p->host->reply_error(req, 403, "forbidden",
                             "wallets and transfers are for user accounts");
        return NULL;
    }
    return who.id;
}

json_t *pn_req_body(const struct pn *p, struct chatd_req *req)
{
    struct chatd_val body = p->host->req_body(req);
    struct pn_err err;
    json_t *v = NULL;

    if (pn_body_parse(body.data, body.len, &v, &err) != 0) {
        pn_reply_err(p, req, &err);
        return NULL;
    }
    return v;
}

void pn_reply_err(const struct pn *p, struct chatd_req *req,
                  const struct pn_err *err)
{
    if (err->status == 422 || err->status == 401)
        p->host->metric_add(p->m_rejected, 1);
    p->host->reply_error(req, err->status, err->code, err->message);
}

int pn_reply_storage(const struct pn *p, struct chatd_req *req, int status,
                     const char *what)
{
    p->host->log(p->mod, CHATD_LOG_ERROR, "%s: %s", what,
                 p->host->strerror(status));
    p->host->reply_error(req, 500, "internal",
                         "the payment module failed; see the server log");
    return status != CHATD_OK ? status : CHATD_EIO;
}

int pn_reply_stored(const struct pn *p, struct chatd_txn *txn,
                    struct chatd_req *req, const struct chatd_store *st,
                    const char *key, unsigned status)
{
    struct chatd_val v;
    int rc = p->host->get(txn, st, key, strlen(key), &v);

    if (rc != CHATD_OK)
        return pn_reply_storage(p, req, rc, "reading what was just written");
    p->host->reply_json(req, status, v.data, v.len);
    return CHATD_OK;
}

int pn_new_id(char *buf, const char *prefix)
{
    unsigned char raw[8];
    size_t n = strlen(prefix);
    ssize_t got;

    do
        got = getrandom(raw, sizeof(raw), 0);
    while (got < 0 && errno == EINTR);
    if (got != (ssize_t)sizeof(raw))
        return CHATD_EIO;
    memcpy(buf, prefix, n);
    base16_encode_update(buf + n, sizeof(raw), raw);
    buf[n + BASE16_ENCODE_LENGTH(sizeof(raw))] = '\0';
    return CHATD_OK;
}

void *pn_cmd_new(const struct pn *p, struct chatd_req *req, size_t size)
{
    void *a = calloc(1, size);

    if (a == NULL)
        p->host->reply_error(req, 503, "unavailable", "out of memory");
    return a;
}

void pn_reply_json(const struct pn *p, struct chatd_req *req,
                   unsigned status, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;

    json_decref(v);
    if (text == NULL)
        p->host->reply_error(req, 503, "unavailable", "out of memory");
    else
        p->host->reply_json_take(req, status, text, strlen(text));
}
