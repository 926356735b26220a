/* Messages: post (idempotent by client_msg_id), edit, delete. History is
 * in history.c. */
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "render.h"

struct msg_cmd {
    struct chat *c;
    char uid[CHAT_ID_MAX + 1];
    char room[CHAT_ID_MAX + 1];
    uint64_t seq;    /* edit and delete */
    bool with_text;  /* post and edit; not delete */
    char *owned;     /* r's strings point into it (a flat body), or */
    json_t *body;    /* into this (any other body) */
    struct chat_msg_req r;
};

static void msg_cmd_free(void *arg)
{
    struct msg_cmd *a = arg;

    json_decref(a->body);
    free(a->owned);
    free(a);
}

/* Answers with the message as stored: the projection rendered its final
 * JSON text, so the answer is a copy of it. */
static int reply_message(struct chat *c, struct chatd_txn *txn,
                         struct chatd_req *req, const char *room, uint64_t seq,
                         unsigned status)
{
    struct chat_msg_rec msg;
    int rc = chat_message_get(c, txn, room, seq, &msg);

    if (rc != CHATD_OK)
        return chat_reply_status(c, req, rc, "reading a message");
    c->host->reply_json(req, status, msg.json, msg.json_len);
    return CHATD_OK;
}

/* Loads the room for the caller: 404 if it does not exist or the caller is
 * not a member. Answers and returns CHATD_EREJECTED when it cannot go
 * on. */
static int member_room(struct msg_cmd *a, struct chatd_txn *txn,
                       struct chatd_req *req, struct chat_room_rec *room)
{
    struct chat_member self;
    int rc = chat_room_for_member(a->c, txn, CHAT_IN_COMMAND, a->room, a->uid,
                                      room, &self);

    if (rc == CHATD_ENOTFOUND) {
        chat_reply_room_404(a->c, req);
        return CHATD_EREJECTED;
    }
    return rc == CHATD_OK ? rc
                          : chat_reply_status(a->c, req, rc, "reading a room");
}

/* In a direct room, whether the other member blocked the caller. */
static bool blocked_in(struct msg_cmd *a, struct chatd_txn *txn,
                       const struct chat_room_rec *room)
{
    char peer[CHAT_ID_MAX + 1];
    struct chat_key k;
    unsigned i;

    for (i = 0; i < room->n_peers; i++) {
        if (room->peer_len[i] > CHAT_ID_MAX)
            continue;
        memcpy(peer, room->peer[i], room->peer_len[i]);
        peer[room->peer_len[i]] = '\0';
        if (strcmp(peer, a->uid) != 0 &&
            chat_key_pair(&k, peer, a->uid) == CHATD_OK &&
            chat_exists(a->c, txn, a->c->st.blocks, &k))
            return true;
    }
    return false;
}

static int refuse_blocked(struct msg_cmd *a, struct chatd_req *req)
{
    a->c->host->reply_error(req, 422, "blocked",
                            "this user does not accept your messages");
    return CHATD_EREJECTED;
}

/* A retry with a client_msg_id already used by this sender: the same room
 * and text answer the first message with 200; anything else is 409.
 * Returns CHATD_OK when the send is new. */
static int idem_check(struct msg_cmd *a, struct chatd_txn *txn,
                      struct chatd_req *req)
{
    struct chat_idem rec;
    struct chat_key k;
    struct chatd_val v;
    int rc;

    if (a->r.client_msg_id == NULL)
        return CHATD_OK;
    chat_key_pair(&k, a->uid, a->r.client_msg_id);
    rc = a->c->host->get(txn, a->c->st.idem, k.b, k.len, &v);
    if (rc == CHATD_ENOTFOUND)
        return CHATD_OK;
    if (rc == CHATD_OK && chat_idem_decode(v.data, v.len, &rec) != CHATD_OK)
        rc = CHATD_EIO;
    if (rc != CHATD_OK)
        return chat_reply_status(a->c, req, rc, "reading client_msg_ids");
    if (rec.room_len == strlen(a->room) &&
        memcmp(rec.room, a->room, rec.room_len) == 0 &&
        rec.digest == chat_text_digest(a->r.text, a->r.text_len))
        reply_message(a->c, txn, req, a->room, rec.seq, 200);
    else
        a->c->host->reply_error(req, 409, "conflict",
                                "this client_msg_id was already used for a "
                                "different message");
    return CHATD_EREJECTED;
}

/* chat.message_posted, written as text: {"room", "id", "seq", "sender",
 * "kind", "text", "client_msg_id"?} (the schema of README.md). */
static void posted_data(struct chat_buf *b, const struct msg_cmd *a,
                        const char *id, uint64_t seq)
{
    chat_buf_reserve(b, 128 + strlen(a->room) + strlen(a->uid) +
                            a->r.text_len + CHAT_CMID_MAX);
    chat_buf_lit(b, "{\"room\":");
    chat_buf_jstr(b, a->room, strlen(a->room));
    chat_buf_lit(b, ",\"id\":");
    chat_buf_jstr(b, id, strlen(id));
    chat_buf_lit(b, ",\"seq\":");
    chat_buf_u64(b, seq);
    chat_buf_lit(b, ",\"sender\":");
    chat_buf_jstr(b, a->uid, strlen(a->uid));
    chat_buf_lit(b, ",\"kind\":\"text\",\"text\":");
    chat_buf_jstr(b, a->r.text, a->r.text_len);
    if (a->r.client_msg_id != NULL) {
        chat_buf_lit(b, ",\"client_msg_id\":");
        chat_buf_jstr(b, a->r.client_msg_id, strlen(a->r.client_msg_id));
    }
    chat_buf_add(b, "}", 1);
}

static int message_append(struct msg_cmd *a, struct chatd_txn *txn,
                          struct chatd_req *req,
                          const struct chat_room_rec *room)
{
    uint64_t seq = room->last_seq + 1, ver = room->ver;
    char id[24], stream[CHAT_STREAM_MAX];
    struct chat_buf d = {0};
    int rc = chat_new_id(id, "m_");

    if (rc != CHATD_OK)
        return chat_reply_status(a->c, req, rc, "making a message id");
    posted_data(&d, a, id, seq);
    rc = chat_append_text(a->c, txn, "chat.message_posted",
                          chat_room_stream(stream, a->room), ver, &d, NULL);
    chat_buf_free(&d);
    if (rc != CHATD_OK)
        return chat_reply_append_error(a->c, req, rc);
    return reply_message(a->c, txn, req, a->room, seq, 201);
}

static int cmd_message_post(void *arg, struct chatd_txn *txn,
                            struct chatd_req *req)
{
    struct msg_cmd *a = arg;
    struct chat_room_rec room;
    int rc = member_room(a, txn, req, &room);

    if (rc == CHATD_OK)
        rc = idem_check(a, txn, req);
    if (rc == CHATD_OK && blocked_in(a, txn, &room))
        rc = refuse_blocked(a, req);
    if (rc == CHATD_OK)
        rc = message_append(a, txn, req, &room);
    return rc == CHATD_EREJECTED ? CHATD_OK : rc;
}

/* Members of a stored message's JSON that a change needs. */
enum { MSG_ID, MSG_KIND, MSG_TEXT, MSG_N };
static const char *const msg_keys[] = {"id", "kind", "text", NULL};

/* Loads message a->seq for a change by its sender: 404 if it does not
 * exist, 403 if the caller did not send it. f gets its id, kind and
 * text tokens. */
static int own_message(struct msg_cmd *a, struct chatd_txn *txn,
                       struct chatd_req *req, struct chat_msg_rec *msg,
                       struct chat_jval f[MSG_N])
{
    int rc = chat_message_get(a->c, txn, a->room, a->seq, msg);

    if (rc == CHATD_ENOTFOUND) {
        a->c->host->reply_error(req, 404, "not_found", "message not found");
        return CHATD_EREJECTED;
    }
    if (rc == CHATD_OK &&
        chat_json_fields(msg->json, msg->json_len, msg_keys, f) != CHATD_OK)
        rc = CHATD_EIO;
    if (rc != CHATD_OK)
        return chat_reply_status(a->c, req, rc, "reading a message");
    if (msg->sender == NULL || msg->sender_len != strlen(a->uid) ||
        memcmp(msg->sender, a->uid, msg->sender_len) != 0) {
        a->c->host->reply_error(req, 403, "forbidden",
                                "only the sender may change a message");
        return CHATD_EREJECTED;
    }
    return CHATD_OK;
}

/* chat.message_edited / _deleted: {"room", "id", "seq", "sender", "kind",
 * "text"?}; id and kind are copied from the stored message. */
static void change_data(struct chat_buf *b, const struct msg_cmd *a,
                        const struct chat_jval f[MSG_N])
{
    chat_buf_lit(b, "{\"room\":");
    chat_buf_jstr(b, a->room, strlen(a->room));
    chat_buf_lit(b, ",\"id\":");
    chat_buf_add(b, f[MSG_ID].p, f[MSG_ID].len);
    chat_buf_lit(b, ",\"seq\":");
    chat_buf_u64(b, a->seq);
    chat_buf_lit(b, ",\"sender\":");
    chat_buf_jstr(b, a->uid, strlen(a->uid));
    chat_buf_lit(b, ",\"kind\":");
    chat_buf_add(b, f[MSG_KIND].p, f[MSG_KIND].len);
    if (a->with_text) {
        chat_buf_lit(b, ",\"text\":");
        chat_buf_jstr(b, a->r.text, a->r.text_len);
    }
    chat_buf_add(b, "}", 1);
}

static int change_append(struct msg_cmd *a, struct chatd_txn *txn,
                         struct chatd_req *req,
                         const struct chat_room_rec *room,
                         const struct chat_jval f[MSG_N], const char *type)
{
    char stream[CHAT_STREAM_MAX];
    struct chat_buf d = {0};
    int rc;

    if (f[MSG_ID].type != CHAT_J_STR || f[MSG_KIND].type != CHAT_J_STR)
        return chat_reply_status(a->c, req, CHATD_EIO, "reading a message");
    change_data(&d, a, f);
    rc = chat_append_text(a->c, txn, type, chat_room_stream(stream, a->room),
                          room->ver, &d, NULL);
    chat_buf_free(&d);
    if (rc != CHATD_OK)
        return chat_reply_append_error(a->c, req, rc);
    return reply_message(a->c, txn, req, a->room, a->seq, 200);
}

static bool same_text(const struct chat_jval *t, const struct chat_msg_req *r)
{
    char *text;
    size_t n;
    bool same;

    if (t->type != CHAT_J_STR)
        return false;
    text = malloc(t->len);
    same = text != NULL && chat_jval_str(t, text, t->len, &n) == CHATD_OK &&
           n == r->text_len && memcmp(text, r->text, n) == 0;
    free(text);
    return same;
}

static int cmd_message_edit(void *arg, struct chatd_txn *txn,
                            struct chatd_req *req)
{
    struct msg_cmd *a = arg;
    struct chat_room_rec room;
    struct chat_msg_rec msg;
    struct chat_jval f[MSG_N];
    int rc = member_room(a, txn, req, &room);

    if (rc == CHATD_OK)
        rc = own_message(a, txn, req, &msg, f);
    if (rc == CHATD_OK && msg.deleted) {
        a->c->host->reply_error(req, 422, "message_deleted",
                                "a deleted message cannot be edited");
        rc = CHATD_EREJECTED;
    }
    if (rc == CHATD_OK && blocked_in(a, txn, &room))
        rc = refuse_blocked(a, req);
    if (rc == CHATD_OK && same_text(&f[MSG_TEXT], &a->r))
        rc = reply_message(a->c, txn, req, a->room, a->seq, 200);
    else if (rc == CHATD_OK)
        rc = change_append(a, txn, req, &room, f, "chat.message_edited");
    return rc == CHATD_EREJECTED ? CHATD_OK : rc;
}

static int cmd_message_delete(void *arg, struct chatd_txn *txn,
                              struct chatd_req *req)
{
    struct msg_cmd *a = arg;
    struct chat_room_rec room;
    struct chat_msg_rec msg;
    struct chat_jval f[MSG_N];
    int rc = member_room(a, txn, req, &room);

    if (rc == CHATD_OK)
        rc = own_message(a, txn, req, &msg, f);
    /* Deleting twice answers the tombstone again and appends nothing. */
    if (rc == CHATD_OK && msg.deleted)
        rc = reply_message(a->c, txn, req, a->room, a->seq, 200);
    else if (rc == CHATD_OK)
        rc = change_append(a, txn, req, &room, f, "chat.message_deleted");
    return rc == CHATD_EREJECTED ? CHATD_OK : rc;
}

/* The body of a post or an edit into a->r: a flat object (the usual one)
 * is scanned in place; anything else goes through jansson, whose verdict
 * stands (validate.h, chat_msg_body_scan). Answers and returns an error
 * when the body is refused. */
static int msg_body(struct chat *c, struct chatd_req *req, struct msg_cmd *a,
                    bool allow_cmid)
{
    struct chatd_val body = c->host->req_body(req);
    struct chat_msg_fields f;
    struct chat_err err;
    int rc = chat_msg_body_scan(body.data, body.len, &f, &a->owned);

    if (rc == CHATD_ENOMEM) {
        c->host->reply_error(req, 503, "unavailable", "out of memory");
        return rc;
    }
    if (rc == CHATD_OK)
        rc = chat_msg_req_check(&f, c->max_text_chars, allow_cmid, &a->r,
                                &err);
    else if (chat_req_body(c, req, &a->body) != CHATD_OK)
        return CHATD_EREJECTED;
    else
        rc = chat_msg_req_parse(a->body, c->max_text_chars, allow_cmid,
                                &a->r, &err);
    if (rc != CHATD_OK)
        chat_reply_err(c, req, &err);
    return rc;
}

/* The common start of the three routes: caller, room, optional seq and
 * body. NULL after answering. */
static struct msg_cmd *msg_cmd_new(struct chat *c, struct chatd_req *req,
                                   bool with_seq, bool with_body)
{
    const char *uid = chat_req_user(c, req);
    const char *room = uid ? chat_req_id(c, req, "room_id", "room") : NULL;
    struct msg_cmd *a;

    if (room == NULL)
        return NULL;
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        c->host->reply_error(req, 503, "unavailable", "out of memory");
        return NULL;
    }
    a->c = c;
    a->with_text = with_body;
    strcpy(a->uid, uid);
    strcpy(a->room, room);
    if (with_seq &&
        !chat_parse_u64(c->host->req_param(req, "seq"), 1, INT64_MAX, &a->seq)) {
        c->host->reply_error(req, 404, "not_found", "message not found");
        goto free_cmd;
    }
    if (with_body && msg_body(c, req, a, !with_seq) != CHATD_OK)
        goto free_cmd;
    return a;

free_cmd:
    msg_cmd_free(a);
    return NULL;
}

void chat_route_message_post(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    struct msg_cmd *a = msg_cmd_new(c, req, false, true);

    if (a != NULL)
        c->host->submit(req, cmd_message_post, a, msg_cmd_free);
}

void chat_route_message_edit(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    struct msg_cmd *a = msg_cmd_new(c, req, true, true);

    if (a != NULL)
        c->host->submit(req, cmd_message_edit, a, msg_cmd_free);
}

void chat_route_message_delete(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    struct msg_cmd *a = msg_cmd_new(c, req, true, false);

    if (a != NULL)
        c->host->submit(req, cmd_message_delete, a, msg_cmd_free);
}
