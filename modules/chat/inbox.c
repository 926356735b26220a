/* GET /v1/rooms: the caller's inbox, one keyed range over "inbox"
 * (uid \0 be64(~activity) room), most recent activity first, then a keyed
 * get of each room, membership and last message. */
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "render.h"

struct inbox_page {
    json_t *list;
    unsigned limit;
    uint64_t last_activity;
    bool more;
};

static int inbox_add(struct chat *c, struct chatd_txn *txn, const char *uid,
                     struct inbox_page *p, const struct chat_key *prefix,
                     const struct chatd_val *k)
{
    char room_id[CHAT_ID_MAX + 1];
    struct chat_member m;
    const char *room;
    uint64_t activity;
    size_t room_len;
    json_t *rec = NULL, *view;
    int rc;

    if (chat_key_inbox_decode(k->data, k->len, prefix->len, &activity, &room,
                              &room_len) != CHATD_OK ||
        room_len > CHAT_ID_MAX)
        return CHATD_EIO;
    if (json_array_size(p->list) == p->limit) {
        p->more = true;
        return CHATD_OK;
    }
    memcpy(room_id, room, room_len);
    room_id[room_len] = '\0';
    rc = chat_room_for_member(c, txn, room_id, uid, &rec, &m);
    if (rc != CHATD_OK)
        return rc == CHATD_ENOTFOUND ? CHATD_EIO : rc;
    view = chat_room_view(c, txn, rec, &m);
    json_decref(rec);
    if (view == NULL || json_array_append_new(p->list, view) != 0)
        return CHATD_EIO;
    p->last_activity = activity;
    return CHATD_OK;
}

static int inbox_fill(struct chat *c, struct chatd_txn *txn, const char *uid,
                      uint64_t after, struct inbox_page *p)
{
    struct chat_key prefix, from;
    struct chatd_cursor *cur;
    struct chatd_val k, v;
    int rc;

    chat_key_prefix(&prefix, uid);
    if (after != 0)
        chat_key_inbox_after(&from, uid, after);
    else
        from = prefix;
    rc = c->host->cursor_open(txn, c->st.inbox, &cur);
    if (rc != CHATD_OK)
        return rc;
    rc = c->host->cursor_seek(cur, CHATD_SEEK_GE, from.b, from.len, &k, &v);
    while (rc == CHATD_OK && !p->more &&
           chat_key_has_prefix(k.data, k.len, &prefix)) {
        rc = inbox_add(c, txn, uid, p, &prefix, &k);
        if (rc == CHATD_OK)
            rc = c->host->cursor_step(cur, 1, &k, &v);
    }
    c->host->cursor_close(cur);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

static json_t *cursor_json(const struct inbox_page *p)
{
    char cursor[CHAT_CURSOR_LEN + 1];

    if (!p->more)
        return json_null();
    chat_cursor_encode(p->last_activity, cursor);
    return json_string(cursor);
}

void chat_route_inbox(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    const char *uid = chat_req_user(c, req);
    struct chatd_txn *txn = uid ? chat_req_txn(c, req) : NULL;
    const char *cursor = txn ? c->host->req_query(req, "cursor") : NULL;
    struct inbox_page p = {0};
    struct chat_err err;
    uint64_t after = 0;
    int rc;

    if (txn == NULL)
        return;
    if (chat_parse_limit(c->host->req_query(req, "limit"), &p.limit, &err)) {
        chat_reply_err(c, req, &err);
        return;
    }
    if (cursor != NULL && chat_cursor_decode(cursor, &after) != CHATD_OK) {
        c->host->reply_error(req, 400, "invalid_argument",
                             "\"cursor\" is not a cursor this server made");
        return;
    }
    p.list = json_array();
    rc = p.list != NULL ? inbox_fill(c, txn, uid, after, &p) : CHATD_ENOMEM;
    if (rc != CHATD_OK) {
        json_decref(p.list);
        chat_reply_status(c, req, rc, "reading the inbox");
        return;
    }
    chat_reply(c, req, 200,
               json_pack("{s:o, s:o}", "rooms", p.list, "next_cursor",
                         cursor_json(&p)));
}
