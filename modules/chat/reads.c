/* POST /v1/rooms/{room_id}/read {"seq": N}: the caller's read position.
 * Monotonic: a position at or below the current one changes nothing; a
 * position beyond the room's last message is refused. */
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "render.h"

struct read_cmd {
    struct chat *c;
    char uid[CHAT_ID_MAX + 1];
    char room[CHAT_ID_MAX + 1];
    uint64_t seq;
};

static int reply_read(struct chat *c, struct chatd_txn *txn,
                      struct chatd_req *req, const struct read_cmd *a)
{
    struct chat_member m;
    int rc = chat_member_get(c, txn, a->room, a->uid, &m);

    if (rc != CHATD_OK)
        return chat_reply_status(c, req, rc, "reading a member");
    return chat_reply(c, req, 200, chat_render_read(a->room, a->uid, &m));
}

static int read_append(struct read_cmd *a, struct chatd_txn *txn,
                       struct chatd_req *req, const json_t *room)
{
    uint64_t ver = (uint64_t)json_integer_value(json_object_get(room, "ver"));
    char stream[CHAT_STREAM_MAX];
    json_t *d = json_pack("{s:s, s:s, s:I}", "room", a->room, "user", a->uid,
                          "seq", (json_int_t)a->seq);
    int rc;

    if (d == NULL)
        return chat_reply_status(a->c, req, CHATD_ENOMEM, "marking read");
    rc = chat_append(a->c, txn, "chat.read_marked",
                     chat_room_stream(stream, a->room), ver, d, NULL);
    json_decref(d);
    if (rc != CHATD_OK)
        return chat_reply_append_error(a->c, req, rc);
    return reply_read(a->c, txn, req, a);
}

static int cmd_read(void *arg, struct chatd_txn *txn, struct chatd_req *req)
{
    struct read_cmd *a = arg;
    struct chat_member m;
    json_t *room = NULL;
    json_int_t last;
    int rc = chat_room_for_member(a->c, txn, a->room, a->uid, &room, &m);

    if (rc == CHATD_ENOTFOUND) {
        chat_reply_room_404(a->c, req);
        return CHATD_OK;
    }
    if (rc != CHATD_OK)
        return chat_reply_status(a->c, req, rc, "reading a room");
    last = json_integer_value(json_object_get(room, "last_seq"));
    if (a->seq > (uint64_t)last) {
        a->c->host->reply_error(req, 400, "invalid_argument",
                                "\"seq\" is beyond the room's last message");
        rc = CHATD_OK;
    } else if (a->seq <= m.read_seq) {
        rc = reply_read(a->c, txn, req, a);
    } else {
        rc = read_append(a, txn, req, room);
    }
    json_decref(room);
    return rc;
}

void chat_route_read(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    const char *uid = chat_req_user(c, req);
    const char *room = uid ? chat_req_id(c, req, "room_id", "room") : NULL;
    struct read_cmd *a;
    struct chat_err err;
    json_t *body;
    uint64_t seq;

    if (room == NULL || chat_req_body(c, req, &body) != CHATD_OK)
        return;
    if (chat_read_req_parse(body, &seq, &err) != CHATD_OK) {
        json_decref(body);
        chat_reply_err(c, req, &err);
        return;
    }
    json_decref(body);
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        c->host->reply_error(req, 503, "unavailable", "out of memory");
        return;
    }
    a->c = c;
    a->seq = seq;
    strcpy(a->uid, uid);
    strcpy(a->room, room);
    c->host->submit(req, cmd_read, a, free);
}
