/* GET /v1/rooms/{room_id}/messages: one keyed range over "messages"
 * (room \0 be64(seq)), newest first by default, oldest first after=.
 * Each stored message is already its answer's JSON text, so a page is a
 * cursor walk that concatenates stored bytes: nothing is parsed. */
#include <stdlib.h>

#include "chat.h"
#include "render.h"

struct page {
    struct chat_buf out; /* {"messages":[ ... */
    unsigned limit;
    unsigned count;
    uint64_t last_seq; /* seq of the last message added */
    bool more;         /* a message beyond the page exists */
};

/* Adds the message under the cursor, or notes that the page is full. */
static int page_add(struct page *p, const struct chat_key *prefix,
                    const struct chatd_val *k, const struct chatd_val *v)
{
    struct chat_msg_rec rec;
    uint64_t seq;

    if (chat_key_message_seq(k->data, k->len, prefix->len, &seq) != CHATD_OK ||
        chat_msg_rec_decode(v->data, v->len, &rec) != CHATD_OK)
        return CHATD_EIO;
    if (p->count == p->limit) {
        p->more = true;
        return CHATD_OK;
    }
    if (p->count++ > 0)
        chat_buf_add(&p->out, ",", 1);
    chat_buf_add(&p->out, rec.json, rec.json_len);
    p->last_seq = seq;
    return p->out.failed ? CHATD_ENOMEM : CHATD_OK;
}

static int page_fill(struct chat *c, struct chatd_txn *txn, const char *room,
                     const struct chat_page_req *pr, struct page *p)
{
    int dir = pr->ascending ? 1 : -1;
    struct chat_key prefix, from;
    struct chatd_cursor *cur;
    struct chatd_val k, v;
    int rc;

    if (!pr->ascending && pr->bound == 0)
        return CHATD_OK;
    chat_key_prefix(&prefix, room);
    chat_key_message(&from, room, pr->ascending ? pr->bound + 1 : pr->bound - 1);
    rc = c->host->cursor_open(txn, c->st.messages, &cur);
    if (rc != CHATD_OK)
        return rc;
    rc = c->host->cursor_seek(cur, pr->ascending ? CHATD_SEEK_GE : CHATD_SEEK_LE,
                              from.b, from.len, &k, &v);
    while (rc == CHATD_OK && !p->more &&
           chat_key_has_prefix(k.data, k.len, &prefix)) {
        rc = page_add(p, &prefix, &k, &v);
        if (rc == CHATD_OK && !p->more)
            rc = c->host->cursor_step(cur, dir, &k, &v);
    }
    c->host->cursor_close(cur);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

void chat_route_history(void *state, struct chatd_req *req)
{
    struct chat *c = state;
    const char *uid = chat_req_user(c, req);
    const char *room = uid ? chat_req_id(c, req, "room_id", "room") : NULL;
    struct chatd_txn *txn = room ? chat_req_txn(c, req) : NULL;
    struct page p = {{0}, 0, 0, 0, false};
    struct chat_page_req pr;
    struct chat_member self;
    struct chat_err err;
    int rc;

    if (txn == NULL)
        return;
    if (chat_member_get(c, txn, room, uid, &self) != CHATD_OK) {
        chat_reply_room_404(c, req);
        return;
    }
    if (chat_page_req_parse(c->host->req_query(req, "before"),
                            c->host->req_query(req, "after"),
                            c->host->req_query(req, "limit"), &pr,
                            &err) != CHATD_OK) {
        chat_reply_err(c, req, &err);
        return;
    }
    p.limit = pr.limit;
    /* a page of typical messages fits without growing */
    chat_buf_reserve(&p.out, 64 + (size_t)pr.limit * 512);
    chat_buf_lit(&p.out, "{\"messages\":[");
    rc = page_fill(c, txn, room, &pr, &p);
    if (rc != CHATD_OK) {
        chat_buf_free(&p.out);
        chat_reply_status(c, req, rc, "reading history");
        return;
    }
    chat_buf_lit(&p.out, "],\"next_cursor\":");
    if (p.more)
        chat_buf_u64(&p.out, p.last_seq);
    else
        chat_buf_lit(&p.out, "null");
    chat_buf_add(&p.out, "}", 1);
    chat_reply_buf(c, req, 200, &p.out);
}
