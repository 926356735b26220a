/* Messages: post (idempotent by client_msg_id), edit, delete. History is
 * in history.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "render.h"

struct msg_cmd {
    struct chat *c;
    char uid[CHAT_ID_MAX + 1];
    char room[CHAT_ID_MAX + 1];
    uint64_t seq;    /* edit and delete */
    json_t *body;    /* r's strings point into it; NULL for delete */
    struct chat_msg_req r;
};

static void msg_cmd_free(void *arg)
{
    struct msg_cmd *a = arg;

    json_decref(a->body);
    free(a);
}

static int reply_message(struct chat *c, struct chatd_txn *txn,
                         struct chatd_req *req, const char *room, uint64_t seq,
                         unsigned status)
{
    json_t *msg = NULL;
    int rc = chat_message_get(c, txn, room, seq, &msg);

    if (rc != CHATD_OK)
        return chat_reply_status(c, req, rc, "reading a message");
    rc = chat_reply(c, req, status, chat_render_message(room, msg));
    json_decref(msg);
    return rc;
}

/* Loads the room for the caller: 404 if it does not exist or the caller is
 * not a member. Answers and returns CHATD_EREJECTED when it cannot go
 * on. */
static int member_room(struct msg_cmd *a, struct chatd_txn *txn,
                       struct chatd_req *req, json_t **room)
{
    struct chat_member self;
    int rc = chat_room_for_member(a->c, txn, a->room, a->uid, room, &self);

    if (rc == CHATD_ENOTFOUND) {
        chat_reply_room_404(a->c, req);
        return CHATD_EREJECTED;
    }
    return rc == CHATD_OK ? rc
                          : chat_reply_status(a->c, req, rc, "reading a room");
}

/* In a direct room, whether the other member blocked the caller. */
static bool blocked_in(struct msg_cmd *a, struct chatd_txn *txn,
                       const json_t *room)
{
    const json_t *members = json_object_get(room, "members");
    const json_t *m;
    struct chat_key k;
    size_t i;

    json_array_foreach(members, i, m) {
        const char *peer = json_string_value(m);

        if (peer != NULL && strcmp(peer, a->uid) != 0 &&
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
    char digest[17];
    struct chat_key k;
    json_t *rec = NULL;
    int rc;

    if (a->r.client_msg_id == NULL)
        return CHATD_OK;
    chat_key_pair(&k, a->uid, a->r.client_msg_id);
    rc = chat_get_json(a->c, txn, a->c->st.idem, &k, &rec);
    if (rc == CHATD_ENOTFOUND)
        return CHATD_OK;
    if (rc != CHATD_OK)
        return chat_reply_status(a->c, req, rc, "reading client_msg_ids");
    snprintf(digest, sizeof(digest), "%016" PRIx64,
             chat_text_digest(a->r.text, a->r.text_len));
    if (strcmp(json_string_value(json_object_get(rec, "room")) ?: "",
               a->room) == 0 &&
        strcmp(json_string_value(json_object_get(rec, "digest")) ?: "",
               digest) == 0)
        reply_message(a->c, txn, req, a->room,
                      (uint64_t)json_integer_value(json_object_get(rec, "seq")),
                      200);
    else
        a->c->host->reply_error(req, 409, "conflict",
                                "this client_msg_id was already used for a "
                                "different message");
    json_decref(rec);
    return CHATD_EREJECTED;
}

static int message_append(struct msg_cmd *a, struct chatd_txn *txn,
                          struct chatd_req *req, const json_t *room)
{
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(room, "last_seq")) + 1;
    uint64_t ver = (uint64_t)json_integer_value(json_object_get(room, "ver"));
    char id[24], stream[CHAT_STREAM_MAX];
    json_t *d;
    int rc = chat_new_id(id, "m_");

    if (rc != CHATD_OK)
        return chat_reply_status(a->c, req, rc, "making a message id");
    d = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s%, s:s?}", "room", a->room,
                  "id", id, "seq", (json_int_t)seq, "sender", a->uid, "kind",
                  "text", "text", a->r.text, a->r.text_len, "client_msg_id",
                  a->r.client_msg_id);
    if (d == NULL)
        return chat_reply_status(a->c, req, CHATD_ENOMEM, "posting");
    rc = chat_append(a->c, txn, "chat.message_posted",
                     chat_room_stream(stream, a->room), ver, d, NULL);
    json_decref(d);
    if (rc != CHATD_OK)
        return chat_reply_append_error(a->c, req, rc);
    return reply_message(a->c, txn, req, a->room, seq, 201);
}

static int cmd_message_post(void *arg, struct chatd_txn *txn,
                            struct chatd_req *req)
{
    struct msg_cmd *a = arg;
    json_t *room = NULL;
    int rc = member_room(a, txn, req, &room);

    if (rc == CHATD_OK)
        rc = idem_check(a, txn, req);
    if (rc == CHATD_OK && blocked_in(a, txn, room))
        rc = refuse_blocked(a, req);
    if (rc == CHATD_OK)
        rc = message_append(a, txn, req, room);
    json_decref(room);
    return rc == CHATD_EREJECTED ? CHATD_OK : rc;
}

/* Loads message a->seq for a change by its sender: 404 if it does not
 * exist, 403 if the caller did not send it. */
static int own_message(struct msg_cmd *a, struct chatd_txn *txn,
                       struct chatd_req *req, json_t **msg)
{
    const char *sender;
    int rc = chat_message_get(a->c, txn, a->room, a->seq, msg);

    if (rc == CHATD_ENOTFOUND) {
        a->c->host->reply_error(req, 404, "not_found", "message not found");
        return CHATD_EREJECTED;
    }
    if (rc != CHATD_OK)
        return chat_reply_status(a->c, req, rc, "reading a message");
    sender = json_string_value(json_object_get(*msg, "sender"));
    if (sender == NULL || strcmp(sender, a->uid) != 0) {
        a->c->host->reply_error(req, 403, "forbidden",
                                "only the sender may change a message");
        return CHATD_EREJECTED;
    }
    return CHATD_OK;
}

static int change_append(struct msg_cmd *a, struct chatd_txn *txn,
                         struct chatd_req *req, const json_t *room,
                         const json_t *msg, const char *type)
{
    uint64_t ver = (uint64_t)json_integer_value(json_object_get(room, "ver"));
    char stream[CHAT_STREAM_MAX];
    json_t *d;
    int rc;

    d = json_pack("{s:s, s:O, s:I, s:s, s:O}", "room", a->room, "id",
                  json_object_get(msg, "id"), "seq", (json_int_t)a->seq,
                  "sender", a->uid, "kind", json_object_get(msg, "kind"));
    if (d != NULL && a->body != NULL &&
        json_object_set_new(d, "text",
                            json_stringn(a->r.text, a->r.text_len)) != 0) {
        json_decref(d);
        d = NULL;
    }
    if (d == NULL)
        return chat_reply_status(a->c, req, CHATD_ENOMEM, type);
    rc = chat_append(a->c, txn, type, chat_room_stream(stream, a->room), ver,
                     d, NULL);
    json_decref(d);
    if (rc != CHATD_OK)
        return chat_reply_append_error(a->c, req, rc);
    return reply_message(a->c, txn, req, a->room, a->seq, 200);
}

static bool same_text(const json_t *msg, const struct chat_msg_req *r)
{
    const json_t *t = json_object_get(msg, "text");

    return json_string_length(t) == r->text_len &&
           memcmp(json_string_value(t), r->text, r->text_len) == 0;
}

static int cmd_message_edit(void *arg, struct chatd_txn *txn,
                            struct chatd_req *req)
{
    struct msg_cmd *a = arg;
    json_t *room = NULL, *msg = NULL;
    int rc = member_room(a, txn, req, &room);

    if (rc == CHATD_OK)
        rc = own_message(a, txn, req, &msg);
    if (rc == CHATD_OK && json_object_get(msg, "deleted_ms") != NULL) {
        a->c->host->reply_error(req, 422, "message_deleted",
                                "a deleted message cannot be edited");
        rc = CHATD_EREJECTED;
    }
    if (rc == CHATD_OK && blocked_in(a, txn, room))
        rc = refuse_blocked(a, req);
    if (rc == CHATD_OK && same_text(msg, &a->r))
        rc = reply_message(a->c, txn, req, a->room, a->seq, 200);
    else if (rc == CHATD_OK)
        rc = change_append(a, txn, req, room, msg, "chat.message_edited");
    json_decref(msg);
    json_decref(room);
    return rc == CHATD_EREJECTED ? CHATD_OK : rc;
}

static int cmd_message_delete(void *arg, struct chatd_txn *txn,
                              struct chatd_req *req)
{
    struct msg_cmd *a = arg;
    json_t *room = NULL, *msg = NULL;
    int rc = member_room(a, txn, req, &room);

    if (rc == CHATD_OK)
        rc = own_message(a, txn, req, &msg);
    /* Deleting twice answers the tombstone again and appends nothing. */
    if (rc == CHATD_OK && json_object_get(msg, "deleted_ms") != NULL)
        rc = reply_message(a->c, txn, req, a->room, a->seq, 200);
    else if (rc == CHATD_OK)
        rc = change_append(a, txn, req, room, msg, "chat.message_deleted");
    json_decref(msg);
    json_decref(room);
    return rc == CHATD_EREJECTED ? CHATD_OK : rc;
}

/* The common start of the three routes: caller, room, optional seq and
 * body. NULL after answering. */
static struct msg_cmd *msg_cmd_new(struct chat *c, struct chatd_req *req,
                                   bool with_seq, bool with_body)
{
    const char *uid = chat_req_user(c, req);
    const char *room = uid ? chat_req_id(c, req, "room_id", "room") : NULL;
    struct msg_cmd *a;
    struct chat_err err;

    if (room == NULL)
        return NULL;
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        c->host->reply_error(req, 503, "unavailable", "out of memory");
        return NULL;
    }
    a->c = c;
    strcpy(a->uid, uid);
    strcpy(a->room, room);
    if (with_seq &&
        !chat_parse_u64(c->host->req_param(req, "seq"), 1, INT64_MAX, &a->seq)) {
        c->host->reply_error(req, 404, "not_found", "message not found");
        goto free_cmd;
    }
    if (with_body && chat_req_body(c, req, &a->body) != CHATD_OK)
        goto free_cmd;
    if (with_body && chat_msg_req_parse(a->body, c->max_text_chars, !with_seq,
                                        &a->r, &err) != CHATD_OK) {
        chat_reply_err(c, req, &err);
        goto free_cmd;
    }
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
