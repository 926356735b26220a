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
