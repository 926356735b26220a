/* Request plumbing shared by every chat route: who calls, the body, the
 * read transaction, path ids and the answers. */
#include <stdio.h>
#include <stdlib.h>

#include "chat.h"
#include "render.h"

const char *chat_req_user(struct chat *c, struct chatd_req *req)
{
    struct chatd_principal p = c->host->req_principal(req);

    /* Chat is between people: service accounts and the admin have their
     * own APIs and are not members of rooms (README.md, "Who may do
     * what"). */
    if (p.kind != CHATD_PRINCIPAL_USER || !chat_id_valid(p.id)) {
        c->host->reply_error(req, 403, "forbidden",
                             "chat routes are for user accounts");
        return NULL;
    }
    return p.id;
}

int chat_req_body(struct chat *c, struct chatd_req *req, json_t **out)
{
    struct chatd_val body = c->host->req_body(req);
    struct chat_err err;
    int rc = chat_body_parse(body.data, body.len, out, &err);

    if (rc != CHATD_OK)
        chat_reply_err(c, req, &err);
    return rc;
}

struct chatd_txn *chat_req_txn(struct chat *c, struct chatd_req *req)
{
    struct chatd_txn *txn = c->host->req_txn(req);

    if (txn == NULL)
        c->host->reply_error(req, 503, "unavailable",
                             "storage is not available; try again");
    return txn;
}

const char *chat_req_id(struct chat *c, struct chatd_req *req,
                        const char *name, const char *what)
{
    const char *id = c->host->req_param(req, name);
    char msg[64];

    if (!chat_id_valid(id)) {
        snprintf(msg, sizeof(msg), "%s not found", what);
        c->host->reply_error(req, 404, "not_found", msg);
        return NULL;
    }
    return id;
}

void chat_reply_err(struct chat *c, struct chatd_req *req,
                    const struct chat_err *err)
{
    c->host->reply_error(req, err->status, err->code, err->message);
}

void chat_reply_room_404(struct chat *c, struct chatd_req *req)
{
    /* The same answer whether the room does not exist or the caller is not
     * in it, so that room ids cannot be probed. */
    c->host->reply_error(req, 404, "not_found", "room not found");
}

int chat_reply_status(struct chat *c, struct chatd_req *req, int status,
                      const char *what)
{
    c->host->log(c->mod, CHATD_LOG_ERROR, "%s: %s", what,
                 c->host->strerror(status));
    if (req != NULL)
        c->host->reply_error(req, 500, "internal",
                             "the chat module failed; see the server log");
    return status != CHATD_OK ? status : CHATD_EIO;
}

int chat_reply(struct chat *c, struct chatd_req *req, unsigned status,
               json_t *v)
{
    size_t len = 0;
    char *body = chat_dump(v, &len);

    if (body == NULL)
        return chat_reply_status(c, req, CHATD_ENOMEM, "rendering an answer");
    c->host->reply_json(req, status, body, len);
    free(body);
    return CHATD_OK;
}

int chat_reply_buf(struct chat *c, struct chatd_req *req, unsigned status,
                   struct chat_buf *b)
{
    int rc = CHATD_OK;

    if (b->failed || b->len == 0) {
        rc = chat_reply_status(c, req, CHATD_ENOMEM, "rendering an answer");
        chat_buf_free(b);
        return rc;
    }
    /* the buffer goes to the host as it is: a history page is not copied */
    c->host->reply_json_take(req, status, b->p, b->len);
    *b = (struct chat_buf){0};
    return rc;
}
