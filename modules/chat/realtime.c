/* Ephemeral real-time routes: typing notifications and presence. Nothing
 * here is logged as an event; both only read the stores. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat.h"
#include "render.h"

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The room's members for a caller who must be one of them; NULL after
 * answering (404, or 500). */
static char **member_ids_for(struct chat *c, struct chatd_req *req,
                             const char **uid_out, const char **room_out)
{
    const char *uid = chat_req_user(c, req);
    const char *room = uid ? chat_req_id(c, req, "room_id", "room") : NULL;
    struct chatd_txn *txn = room ? chat_req_txn(c, req) : NULL;
    struct chat_member self;
    char **ids = NULL;
    size_t n;
    int rc;

    if (txn == NULL)
        return NULL;
    if (chat_member_get(c, txn, room, uid, &self) != CHATD_OK) {
        chat_reply_room_404(c, req);
        return NULL;
    }
    rc = chat_room_member_ids(c, txn, room, &ids, &n);
    if (rc != CHATD_OK) {
        chat_reply_status(c, req, rc, "listing members");
        return NULL;
    }
    *uid_out = uid;
    *room_out = room;
    return ids;
}

static void refuse_rate(struct chat *c, struct chatd_req *req,
                        int64_t retry_ms)
{
    char secs[24];

    snprintf(secs, sizeof(secs), "%lld", (long long)((retry_ms + 999) / 1000));
    c->host->reply_header(req, "Retry-After", secs);
    c->host->reply_error(req, 429, "rate_limited",
                         "one typing notification per room per interval");
}

void chat_route_typing(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    const char *uid = NULL, *room = NULL;
    char **ids = member_ids_for(c, req, &uid, &room);
    int64_t retry = 0;
    json_t *frame;
    char *text;
    size_t i, len = 0;

    if (ids == NULL)
        return;
    if (!chat_typing_allow(&c->typing, uid, room, mono_ms(),
                           c->typing_interval_ms, &retry)) {
        refuse_rate(c, req, retry);
        goto free_ids;
    }
    frame = json_pack("{s:s, s:s, s:s}", "type", "typing", "room", room,
                      "user", uid);
    text = chat_dump(frame, &len);
    /* A member without a live connection simply misses it: typing is
     * ephemeral by design (CHATD_ENOTFOUND is not an error here). */
    for (i = 0; text != NULL && ids[i] != NULL; i++)
        if (strcmp(ids[i], uid) != 0)
            c->host->ephemeral(c->mod, ids[i], text, len);
    free(text);
    chat_reply(c, req, 200,
               json_pack("{s:s, s:s, s:b}", "room", room, "user", uid,
                         "typing", 1));
free_ids:
    chat_ids_free(ids);
}

void chat_route_presence(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    const char *uid = NULL, *room = NULL;
    char **ids = member_ids_for(c, req, &uid, &room);
    json_t *list;
    size_t i;

    if (ids == NULL)
        return;
    list = json_array();
    for (i = 0; list != NULL && ids[i] != NULL; i++) {
        if (json_array_append_new(
                list, json_pack("{s:s, s:b}", "user", ids[i], "online",
                                c->host->online(c->mod, ids[i]))) != 0) {
            json_decref(list);
            list = NULL;
        }
    }
    chat_ids_free(ids);
    chat_reply(c, req, 200,
               list ? json_pack("{s:s, s:o}", "room", room, "members", list)
                    : NULL);
}

/* Presence is announced to at most this many of the user's rooms (the
 * most recently active first), so a user in thousands of rooms cannot
 * turn one connection into an unbounded fan-out. */
#define PRESENCE_MAX_ROOMS 200

/* Sends `frame` to every other member of `room` not already told. */
static void tell_room(struct chat *c, struct chatd_txn *txn, const char *room,
                      const char *uid, const char *frame, size_t len,
                      json_t *told)
{
    char **ids = NULL;
    size_t n, i;

    if (chat_room_member_ids(c, txn, room, &ids, &n) != CHATD_OK)
        return;
    for (i = 0; ids[i] != NULL; i++) {
        if (strcmp(ids[i], uid) == 0 || json_object_get(told, ids[i]))
            continue;
        json_object_set_new(told, ids[i], json_true());
        c->host->ephemeral(c->mod, ids[i], frame, len);
    }
    chat_ids_free(ids);
}

/* Walks the user's inbox (keyed by user, newest activity first). */
static void tell_co_members(struct chat *c, struct chatd_txn *txn,
                            const char *uid, const char *frame, size_t len)
{
    struct chat_key prefix;
    struct chatd_cursor *cur;
    struct chatd_val k, v;
    json_t *told = json_object();
    uint64_t activity;
    const char *room;
    char room_id[CHAT_KEY_MAX];
    size_t room_len, rooms = 0;
    int rc;

    chat_key_prefix(&prefix, uid);
    if (told == NULL || c->host->cursor_open(txn, c->st.inbox, &cur) != CHATD_OK) {
        json_decref(told);
        return;
    }
    rc = c->host->cursor_seek(cur, CHATD_SEEK_GE, prefix.b, prefix.len, &k, &v);
    while (rc == CHATD_OK && rooms++ < PRESENCE_MAX_ROOMS &&
           chat_key_has_prefix(k.data, k.len, &prefix)) {
        if (chat_key_inbox_decode(k.data, k.len, prefix.len, &activity, &room,
                                  &room_len) == CHATD_OK &&
            room_len < sizeof(room_id)) {
            memcpy(room_id, room, room_len);
            room_id[room_len] = '\0';
            tell_room(c, txn, room_id, uid, frame, len, told);
        }
        rc = c->host->cursor_step(cur, 1, &k, &v);
    }
    c->host->cursor_close(cur);
    json_decref(told);
}

/* POST /v1/presence {"online": bool}: the WebSocket layer calls it as the
 * user on their first connection and after their last one closes; each
 * co-member with a live connection gets {"type":"presence",...} once. */
void chat_route_presence_announce(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    const char *uid = chat_req_user(c, req);
    struct chatd_txn *txn = uid ? chat_req_txn(c, req) : NULL;
    json_t *body = NULL;
    const json_t *online;
    char *text;
    size_t len = 0;

    if (txn == NULL || chat_req_body(c, req, &body) != CHATD_OK)
        return;
    online = json_object_get(body, "online");
    if (!json_is_boolean(online)) {
        c->host->reply_error(req, 400, "invalid_argument",
                             "\"online\" must be true or false");
        json_decref(body);
        return;
    }
    text = chat_dump(json_pack("{s:s, s:s, s:O}", "type", "presence", "user",
                               uid, "online", online),
                     &len);
    if (text != NULL)
        tell_co_members(c, txn, uid, text, len);
    free(text);
    chat_reply(c, req, 200,
               json_pack("{s:s, s:O}", "user", uid, "online", online));
    json_decref(body);
}
