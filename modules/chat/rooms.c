/* Rooms: create (direct or group) and read one room. Members and blocks
 * are in members.c. */
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "render.h"

int chat_reply_room(struct chat *c, struct chatd_txn *txn,
                    enum chat_reader who, struct chatd_req *req,
                    const char *room_id, const char *uid, unsigned status)
{
    struct chat_buf b = {0};
    struct chat_room_rec room;
    struct chat_member m;
    int rc = chat_room_for_member(c, txn, who, room_id, uid, &room, &m);

    if (rc == CHATD_ENOTFOUND) {
        chat_reply_room_404(c, req);
        return CHATD_OK;
    }
    if (rc != CHATD_OK)
        return chat_reply_status(c, req, rc, "reading a room");
    /* the room as every member sees it, then the caller's part */
    chat_buf_reserve(&b, room.json_len + 64);
    chat_buf_add(&b, room.json, room.json_len);
    chat_render_room_tail(&b, &m, room.last_seq);
    return chat_reply_buf(c, req, status, &b);
}

int chat_reply_append_error(struct chat *c, struct chatd_req *req, int rc)
{
    if (rc == CHATD_ECONFLICT) {
        c->host->reply_error(req, 409, "conflict",
                             "the room changed at the same time; retry");
        return rc;
    }
    return chat_reply_status(c, req, rc, "appending an event");
}

struct create_cmd {
    struct chat *c;
    char uid[CHAT_ID_MAX + 1];
    json_t *body; /* r's strings point into it */
    struct chat_room_req r;
};

static void create_cmd_free(void *arg)
{
    struct create_cmd *a = arg;

    json_decref(a->body);
    free(a->r.members);
    free(a);
}

static json_t *room_created_data(const struct create_cmd *a,
                                 const char *room)
{
    json_t *members = json_array(), *d;
    size_t i;

    if (members == NULL || json_array_append_new(members, json_string(a->uid)))
        goto fail;
    for (i = 0; i < a->r.n_members; i++)
        if (json_array_append_new(members, json_string(a->r.members[i])))
            goto fail;
    d = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:o}", "room", room, "kind",
                  a->r.kind == CHAT_ROOM_DIRECT ? "direct" : "group", "title",
                  a->r.title, "context", a->r.context, "created_by", a->uid,
                  "members", members);
    return d;
fail:
    json_decref(members);
    return NULL;
}

/* Appends chat.room_created under a fresh random id (decided here, in the
 * command, so that the projection stays deterministic). */
static int room_append(struct create_cmd *a, struct chatd_txn *txn,
                       struct chatd_req *req)
{
    char room[24], stream[CHAT_STREAM_MAX];
    struct chat_room_rec taken;
    json_t *d;
    int rc;

    do {
        rc = chat_new_id(room, "r_");
        if (rc != CHATD_OK)
            return chat_reply_status(a->c, req, rc, "making a room id");
        rc = chat_txn_room_get(a->c, txn, room, &taken);
    } while (rc == CHATD_OK);
    if (rc != CHATD_ENOTFOUND)
        return chat_reply_status(a->c, req, rc, "reading rooms");
    d = room_created_data(a, room);
    if (d == NULL)
        return chat_reply_status(a->c, req, CHATD_ENOMEM, "creating a room");
    rc = chat_append(a->c, txn, "chat.room_created",
                     chat_room_stream(stream, room), CHATD_NO_STREAM, d, NULL);
    json_decref(d);
    if (rc != CHATD_OK)
        return chat_reply_append_error(a->c, req, rc);
    return chat_reply_room(a->c, txn, CHAT_IN_COMMAND, req, room, a->uid,
                           201);
}

static int unknown_users(struct create_cmd *a, struct chatd_txn *txn,
                         struct chatd_req *req)
{
    size_t i;

    for (i = 0; i < a->r.n_members; i++) {
        if (!chat_user_is_person(a->c, txn, a->r.members[i])) {
            struct chat_err err;

            chat_err_set(&err, 422, "unknown_user", "no user with id %s",
                         a->r.members[i]);
            chat_reply_err(a->c, req, &err);
            return CHATD_EREJECTED;
        }
    }
    return CHATD_OK;
}

/* One direct room per pair of users and context: asking again answers
 * the existing room with 200. */
static int create_direct(struct create_cmd *a, struct chatd_txn *txn,
                         struct chatd_req *req)
{
    const char *other = a->r.members[0];
    struct chat_key k;
    struct chatd_val v;
    char room[CHAT_ID_MAX + 1];
    int rc;

    chat_key_direct(&k, a->uid, other, a->r.context);
    rc = a->c->host->get(txn, a->c->st.direct, k.b, k.len, &v);
    if (rc == CHATD_OK && v.len <= CHAT_ID_MAX) {
        memcpy(room, v.data, v.len);
        room[v.len] = '\0';
        return chat_reply_room(a->c, txn, CHAT_IN_COMMAND, req, room, a->uid,
                               200);
    }
    if (rc != CHATD_OK && rc != CHATD_ENOTFOUND)
        return chat_reply_status(a->c, req, rc, "reading direct rooms");
    chat_key_pair(&k, other, a->uid);
    if (chat_exists(a->c, txn, a->c->st.blocks, &k)) {
        a->c->host->reply_error(req, 422, "blocked",
                                "this user does not accept your messages");
        return CHATD_OK;
    }
    return room_append(a, txn, req);
}

static int cmd_room_create(void *arg, struct chatd_txn *txn,
                           struct chatd_req *req)
{
    struct create_cmd *a = arg;

    if (unknown_users(a, txn, req) != CHATD_OK)
        return CHATD_OK;
    if (a->r.kind == CHAT_ROOM_DIRECT)
        return create_direct(a, txn, req);
    return room_append(a, txn, req);
}

void chat_route_room_create(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    const char *uid = chat_req_user(c, req);
    struct create_cmd *a;
    struct chat_err err;
    json_t *body;

    if (uid == NULL || chat_req_body(c, req, &body) != CHATD_OK)
        return;
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        json_decref(body);
        c->host->reply_error(req, 503, "unavailable", "out of memory");
        return;
    }
    a->c = c;
    a->body = body;
    strcpy(a->uid, uid);
    if (chat_room_req_parse(body, uid, c->max_members, &a->r, &err) != 0) {
        chat_reply_err(c, req, &err);
        create_cmd_free(a);
        return;
    }
    c->host->submit(req, cmd_room_create, a, create_cmd_free);
}

void chat_route_room_get(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    const char *uid = chat_req_user(c, req);
    const char *room = uid ? chat_req_id(c, req, "room_id", "room") : NULL;
    struct chatd_txn *txn = room ? chat_req_txn(c, req) : NULL;

    if (txn != NULL)
        chat_reply_room(c, txn, CHAT_IN_ROUTE, req, room, uid, 200);
}
