/*
 * Membership (add, remove, list) and blocks.
 *
 * Rules (README.md, "Who may do what"): any member of a group room may add
 * a user; a member may remove themself (leave); the room's creator may
 * remove anyone; direct rooms never change members (422 direct_room).
 */
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "render.h"

/* One user acting on one other user, in a room or not. */
struct pair_cmd {
    struct chat *c;
    char uid[CHAT_ID_MAX + 1];
    char room[CHAT_ID_MAX + 1];
    char target[CHAT_ID_MAX + 1];
};

static struct pair_cmd *pair_cmd_new(struct chat *c, struct chatd_req *req,
                                     const char *uid, const char *room,
                                     const char *target)
{
    struct pair_cmd *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        c->host->reply_error(req, 503, "unavailable", "out of memory");
        return NULL;
    }
    a->c = c;
    strcpy(a->uid, uid);
    strcpy(a->room, room != NULL ? room : "");
    strcpy(a->target, target);
    return a;
}

static int reply_member(struct chat *c, struct chatd_txn *txn,
                        struct chatd_req *req, const char *room,
                        const char *uid, unsigned status)
{
    struct chat_buf b = {0};
    struct chat_member m;
    const char *name;
    size_t len = 0;
    int rc = chat_member_get(c, txn, room, uid, &m);

    if (rc != CHATD_OK)
        return chat_reply_status(c, req, rc, "reading a member");
    name = chat_user_name(c, txn, uid, &len);
    chat_render_member(&b, uid, name, len, &m);
    return chat_reply_buf(c, req, status, &b);
}

/* Loads the room for the caller and refuses direct rooms; answers and
 * returns CHATD_EREJECTED (or a storage status) when it cannot go on. */
static int group_for_member(struct pair_cmd *a, struct chatd_txn *txn,
                            struct chatd_req *req, struct chat_room_rec *room)
{
    struct chat_member self;
    int rc = chat_room_for_member(a->c, txn, CHAT_IN_COMMAND, a->room, a->uid,
                                      room, &self);

    if (rc == CHATD_ENOTFOUND) {
        chat_reply_room_404(a->c, req);
        return CHATD_EREJECTED;
    }
    if (rc != CHATD_OK)
        return chat_reply_status(a->c, req, rc, "reading a room");
    if (room->kind == CHAT_ROOM_DIRECT) {
        a->c->host->reply_error(req, 422, "direct_room",
                                "the members of a direct room never change");
        return CHATD_EREJECTED;
    }
    return CHATD_OK;
}

static int append_member_event(struct pair_cmd *a, struct chatd_txn *txn,
                               struct chatd_req *req, const char *type,
                               const struct chat_room_rec *room)
{
    char stream[CHAT_STREAM_MAX];
    json_t *d = json_pack("{s:s, s:s, s:s}", "room", a->room, "user",
                          a->target, "by", a->uid);
    int rc;

    if (d == NULL)
        return chat_reply_status(a->c, req, CHATD_ENOMEM, type);
    rc = chat_append(a->c, txn, type, chat_room_stream(stream, a->room),
                     room->ver, d, NULL);
    json_decref(d);
    return rc == CHATD_OK ? rc : chat_reply_append_error(a->c, req, rc);
}

static int member_add_checks(struct pair_cmd *a, struct chatd_txn *txn,
                             struct chatd_req *req,
                             const struct chat_room_rec *room)
{
    struct chat_member m;

    if (!chat_user_is_person(a->c, txn, a->target)) {
        a->c->host->reply_error(req, 422, "unknown_user", "no such user");
        return CHATD_EREJECTED;
    }
    if (chat_member_get(a->c, txn, a->room, a->target, &m) == CHATD_OK) {
        reply_member(a->c, txn, req, a->room, a->target, 200);
        return CHATD_EREJECTED;
    }
    if ((int64_t)room->member_count >= a->c->max_members) {
        a->c->host->reply_error(req, 422, "room_full",
                                "the room has reached its member limit");
        return CHATD_EREJECTED;
    }
    return CHATD_OK;
}

static int cmd_member_add(void *arg, struct chatd_txn *txn,
                          struct chatd_req *req)
{
    struct pair_cmd *a = arg;
    struct chat_room_rec room;
    int rc = group_for_member(a, txn, req, &room);

    if (rc == CHATD_OK)
        rc = member_add_checks(a, txn, req, &room);
    if (rc == CHATD_OK)
        rc = append_member_event(a, txn, req, "chat.member_added", &room);
    if (rc == CHATD_OK)
        rc = reply_member(a->c, txn, req, a->room, a->target, 201);
    return rc == CHATD_EREJECTED ? CHATD_OK : rc;
}

static int member_remove_checks(struct pair_cmd *a, struct chatd_txn *txn,
                                struct chatd_req *req,
                                const struct chat_room_rec *room)
{
    struct chat_member m;
    bool creator = room->creator_len == strlen(a->uid) &&
                   memcmp(room->creator, a->uid, room->creator_len) == 0;

    if (chat_member_get(a->c, txn, a->room, a->target, &m) != CHATD_OK) {
        a->c->host->reply_error(req, 404, "not_found", "member not found");
        return CHATD_EREJECTED;
    }
    if (strcmp(a->target, a->uid) != 0 && !creator) {
        a->c->host->reply_error(req, 403, "forbidden",
                                "only the room's creator removes others; "
                                "members may remove themselves");
        return CHATD_EREJECTED;
    }
    return CHATD_OK;
}

static int cmd_member_remove(void *arg, struct chatd_txn *txn,
                             struct chatd_req *req)
{
    struct pair_cmd *a = arg;
    struct chat_room_rec room;
    json_t *out;
    int rc = group_for_member(a, txn, req, &room);

    if (rc == CHATD_OK)
        rc = member_remove_checks(a, txn, req, &room);
    if (rc == CHATD_OK)
        rc = append_member_event(a, txn, req, "chat.member_removed", &room);
    if (rc == CHATD_OK) {
        out = json_pack("{s:s, s:s, s:b}", "room", a->room, "user", a->target,
                        "removed", 1);
        rc = chat_reply(a->c, req, 200, out);
    }
    return rc == CHATD_EREJECTED ? CHATD_OK : rc;
}

void chat_route_member_add(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    const char *uid = chat_req_user(c, req);
    const char *room = uid ? chat_req_id(c, req, "room_id", "room") : NULL;
    const char *target;
    struct pair_cmd *a;
    struct chat_err err;
    json_t *body;

    if (room == NULL || chat_req_body(c, req, &body) != CHATD_OK)
        return;
    if (chat_member_req_parse(body, &target, &err) != CHATD_OK) {
        chat_reply_err(c, req, &err);
        json_decref(body);
        return;
    }
    a = pair_cmd_new(c, req, uid, room, target);
    json_decref(body);
    if (a != NULL)
        c->host->submit(req, cmd_member_add, a, free);
}

void chat_route_member_remove(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    const char *uid = chat_req_user(c, req);
    const char *room = uid ? chat_req_id(c, req, "room_id", "room") : NULL;
    const char *target = room ? chat_req_id(c, req, "user_id", "member") : NULL;
    struct pair_cmd *a = target ? pair_cmd_new(c, req, uid, room, target) : NULL;

    if (a != NULL)
        c->host->submit(req, cmd_member_remove, a, free);
}

static int members_render(struct chat *c, struct chatd_txn *txn,
                          const char *room, struct chat_buf *b)
{
    char **ids;
    size_t n, i, len;
    int rc = chat_room_member_ids(c, txn, room, &ids, &n);
    struct chat_member m;
    const char *name;

    for (i = 0; rc == CHATD_OK && i < n; i++) {
        rc = chat_member_get(c, txn, room, ids[i], &m);
        if (rc != CHATD_OK)
            break;
        len = 0;
        name = chat_user_name(c, txn, ids[i], &len);
        if (i > 0)
            chat_buf_add(b, ",", 1);
        chat_render_member(b, ids[i], name, len, &m);
    }
    chat_ids_free(ids);
    return rc;
}

void chat_route_member_list(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    const char *uid = chat_req_user(c, req);
    const char *room = uid ? chat_req_id(c, req, "room_id", "room") : NULL;
    struct chatd_txn *txn = room ? chat_req_txn(c, req) : NULL;
    struct chat_buf b = {0};
    struct chat_member self;
    int rc;

    if (txn == NULL)
        return;
    if (chat_member_get(c, txn, room, uid, &self) != CHATD_OK) {
        chat_reply_room_404(c, req);
        return;
    }
    chat_buf_lit(&b, "{\"members\":[");
    rc = members_render(c, txn, room, &b);
    if (rc != CHATD_OK) {
        chat_buf_free(&b);
        chat_reply_status(c, req, rc, "listing members");
        return;
    }
    chat_buf_lit(&b, "]}");
    chat_reply_buf(c, req, 200, &b);
}

/* --- blocks --- */

static int cmd_block_set(struct pair_cmd *a, struct chatd_txn *txn,
                         struct chatd_req *req, bool block)
{
    char stream[CHAT_STREAM_MAX];
    struct chat_key k;
    uint64_t ver;
    json_t *d;
    int rc;

    chat_key_str(&k, a->target);
    if (!chat_exists(a->c, txn, a->c->st.users, &k)) {
        a->c->host->reply_error(req, 404, "not_found", "user not found");
        return CHATD_OK;
    }
    chat_key_pair(&k, a->uid, a->target);
    if (chat_exists(a->c, txn, a->c->st.blocks, &k) != block) {
        snprintf(stream, sizeof(stream), "user:%s", a->uid);
        rc = a->c->host->stream_version(txn, stream, &ver);
        d = json_pack("{s:s, s:s}", "user", a->uid, "blocked", a->target);
        if (rc == CHATD_OK && d != NULL)
            rc = chat_append(a->c, txn,
                             block ? "chat.user_blocked" : "chat.user_unblocked",
                             stream, ver, d, NULL);
        else if (rc == CHATD_OK)
            rc = CHATD_ENOMEM;
        json_decref(d);
        if (rc != CHATD_OK)
            return chat_reply_append_error(a->c, req, rc);
    }
    return chat_reply(a->c, req, 200,
                      json_pack("{s:s, s:b}", "user", a->target, "blocked",
                                block));
}

static int cmd_block(void *arg, struct chatd_txn *txn, struct chatd_req *req)
{
    return cmd_block_set(arg, txn, req, true);
}

static int cmd_unblock(void *arg, struct chatd_txn *txn, struct chatd_req *req)
{
    return cmd_block_set(arg, txn, req, false);
}

static void route_block_common(struct chat *c, struct chatd_req *req,
                               chatd_command_fn fn)
{
    const char *uid = chat_req_user(c, req);
    const char *target = uid ? chat_req_id(c, req, "user_id", "user") : NULL;
    struct pair_cmd *a;

    if (target == NULL)
        return;
    if (strcmp(target, uid) == 0) {
        c->host->reply_error(req, 400, "invalid_argument",
                             "you cannot block or unblock yourself");
        return;
    }
    a = pair_cmd_new(c, req, uid, NULL, target);
    if (a != NULL)
        c->host->submit(req, fn, a, free);
}

void chat_route_block(void *state, struct chatd_req *req)
{
    route_block_common(state, req, cmd_block);
}

void chat_route_unblock(void *state, struct chatd_req *req)
{
    route_block_common(state, req, cmd_unblock);
}
