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
    struct chat_buf b = {0};
    struct chat_room_rec room;
    struct chat_member m;
    int rc = chat_room_for_member(c, txn, CHAT_IN_COMMAND, a->room, a->uid,
                                  &room, &m);

    if (rc != CHATD_OK)
        return chat_reply_status(c, req, rc, "reading a member");
    chat_render_read(&b, a->room, a->uid, &m, room.last_seq);
    return chat_reply_buf(c, req, 200, &b);
}

/* chat.read_marked {"room", "user", "seq"}, written as text. */
static int read_append(struct read_cmd *a, struct chatd_txn *txn,
                       struct chatd_req *req, uint64_t ver)
{
    char stream[CHAT_STREAM_MAX];
    struct chat_buf d = {0};
    int rc;

    chat_buf_lit(&d, "{\"room\":");
    chat_buf_jstr(&d, a->room, strlen(a->room));
    chat_buf_lit(&d, ",\"user\":");
    chat_buf_jstr(&d, a->uid, strlen(a->uid));
    chat_buf_lit(&d, ",\"seq\":");
    chat_buf_u64(&d, a->seq);
    chat_buf_add(&d, "}", 1);
    rc = chat_append_text(a->c, txn, "chat.read_marked",
                          chat_room_stream(stream, a->room), ver, &d, NULL);
    chat_buf_free(&d);
    if (rc != CHATD_OK)
        return chat_reply_append_error(a->c, req, rc);
    return reply_read(a->c, txn, req, a);
}

static int cmd_read(void *arg, struct chatd_txn *txn, struct chatd_req *req)
{
    struct read_cmd *a = arg;
    struct chat_room_rec room;
    struct chat_member m;
    int rc = chat_room_for_member(a->c, txn, CHAT_IN_COMMAND, a->room,
                                  a->uid, &room, &m);

    if (rc == CHATD_ENOTFOUND) {
        chat_reply_room_404(a->c, req);
        return CHATD_OK;
    }
    if (rc != CHATD_OK)
        return chat_reply_status(a->c, req, rc, "reading a room");
    if (a->seq > room.last_seq) {
        a->c->host->reply_error(req, 400, "invalid_argument",
                                "\"seq\" is beyond the room's last message");
        return CHATD_OK;
    }
    if (a->seq <= m.read_seq)
        return reply_read(a->c, txn, req, a);
    return read_append(a, txn, req, room.ver);
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
