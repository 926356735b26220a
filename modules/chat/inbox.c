/* GET /v1/rooms: the caller's inbox, one keyed range over "inbox"
 * (uid \0 be64(~activity) room), most recent activity first. Each entry
 * holds the caller's membership (read_seq, own messages after it); each
 * room record holds the room's JSON as every member sees it, last message
 * included, and its last seq, from which unread follows. A page is the
 * cursor walk plus one keyed get per room, concatenating stored bytes and
 * splicing the two numbers in: nothing is parsed. */
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "render.h"

struct inbox_page {
    struct chat_buf out; /* {"rooms":[ ... */
    unsigned limit;
    unsigned count;
    uint64_t last_activity;
    bool more;
};

static int inbox_add(struct chat *c, struct chatd_txn *txn,
                     struct inbox_page *p, const struct chat_key *prefix,
                     const struct chatd_val *k, const struct chatd_val *v)
{
    char room_id[CHAT_ID_MAX + 1];
    struct chat_room_rec rec;
    struct chat_member m;
    const char *room;
    uint64_t activity;
    size_t room_len;
    int rc;

    if (chat_key_inbox_decode(k->data, k->len, prefix->len, &activity, &room,
                              &room_len) != CHATD_OK ||
        room_len > CHAT_ID_MAX || chat_member_decode(v->data, v->len, &m) != 0)
        return CHATD_EIO;
    if (p->count == p->limit) {
        p->more = true;
        return CHATD_OK;
    }
    memcpy(room_id, room, room_len);
    room_id[room_len] = '\0';
    rc = chat_room_get(c, txn, room_id, &rec);
    if (rc != CHATD_OK)
        return rc == CHATD_ENOTFOUND ? CHATD_EIO : rc;
    if (p->count++ > 0)
        chat_buf_add(&p->out, ",", 1);
    chat_buf_add(&p->out, rec.json, rec.json_len);
    chat_render_room_tail(&p->out, &m, rec.last_seq);
    p->last_activity = activity;
    return p->out.failed ? CHATD_ENOMEM : CHATD_OK;
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
        rc = inbox_add(c, txn, p, &prefix, &k, &v);
        if (rc == CHATD_OK && !p->more)
            rc = c->host->cursor_step(cur, 1, &k, &v);
    }
    c->host->cursor_close(cur);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

void chat_route_inbox(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    const char *uid = chat_req_user(c, req);
    struct chatd_txn *txn = uid ? chat_req_txn(c, req) : NULL;
    const char *cursor = txn ? c->host->req_query(req, "cursor") : NULL;
    struct inbox_page p = {{0}, 0, 0, 0, false};
    char next[CHAT_CURSOR_LEN + 1];
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
    chat_buf_reserve(&p.out, 64 + (size_t)p.limit * 1024);
    chat_buf_lit(&p.out, "{\"rooms\":[");
    rc = inbox_fill(c, txn, uid, after, &p);
    if (rc != CHATD_OK) {
        chat_buf_free(&p.out);
        chat_reply_status(c, req, rc, "reading the inbox");
        return;
    }
    chat_buf_lit(&p.out, "],\"next_cursor\":");
    if (p.more) {
        chat_cursor_encode(p.last_activity, next);
        chat_buf_jstr(&p.out, next, CHAT_CURSOR_LEN);
    } else {
        chat_buf_lit(&p.out, "null");
    }
    chat_buf_add(&p.out, "}", 1);
    chat_reply_buf(c, req, 200, &p.out);
}
