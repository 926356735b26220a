/* The projection of messages, read marks and blocks (see project.c).
 *
 * Messages are the hot path of the writer: their events are scanned in
 * place (no JSON tree), each message is rendered once into its final JSON
 * text, and the room record, whose JSON carries the last message, is
 * rendered again with it. Per member, a message costs one member record,
 * one inbox move and one deliver. */
#include <stdlib.h>
#include <string.h>

#include "project.h"

/* Members of chat.message_posted / _edited / _deleted data. */
enum { EV_ROOM, EV_ID, EV_SEQ, EV_SENDER, EV_KIND, EV_TEXT, EV_CMID,
       EV_PAYMENT, EV_SOURCE, EV_N };
static const char *const ev_keys[] = {
    "room", "id", "seq", "sender", "kind", "text", "client_msg_id",
    "payment", "source_seq", NULL,
};

/* Members of a stored message's JSON (render.h). */
enum { SM_ID, SM_ROOM, SM_SENDER, SM_KIND, SM_TEXT, SM_CREATED, SM_EDITED,
       SM_CMID, SM_PAYMENT, SM_N };
static const char *const sm_keys[] = {
    "id", "room", "sender", "kind", "text", "created_at", "edited_at",
    "client_msg_id", "payment", NULL,
};

/* A message event's data, scanned. */
struct msg_ev {
    struct chat_jval v[EV_N];
    char room[CHAT_ID_MAX + 1];
    char sender[CHAT_ID_MAX + 1]; /* "" if none */
    uint64_t seq;
};

static int msg_ev_scan(struct chat *c, const struct chatd_event *ev,
                       struct msg_ev *m)
{
    if (chat_json_fields(ev->data, ev->data_len, ev_keys, m->v) != CHATD_OK)
        return chat_proj_bad(c, ev, "data is not a JSON object");
    if (!chat_jval_id(&m->v[EV_ROOM], m->room, sizeof(m->room)))
        return chat_proj_bad(c, ev, "no room id");
    if (!chat_jval_u64(&m->v[EV_SEQ], &m->seq))
        m->seq = 0;
    m->sender[0] = '\0';
    if (m->v[EV_SENDER].type == CHAT_J_STR &&
        !chat_jval_id(&m->v[EV_SENDER], m->sender, sizeof(m->sender)))
        return chat_proj_bad(c, ev, "the sender is not a user id");
    return CHATD_OK;
}

/* `"<time>"` of ms into out (at least CHAT_TIME_LEN + 2 bytes), as a
 * token. */
static struct chat_jval time_token(int64_t ms, char *out)
{
    struct chat_jval v = {out, 0, CHAT_J_STR};

    out[0] = '"';
    chat_format_time(ms, out + 1);
    v.len = strlen(out);
    out[v.len++] = '"';
    return v;
}

/* The message record: header (deleted flag, sender) and JSON. */
static int message_render(struct chat_buf *b, const struct chat_msg_view *v,
                          const char *sender)
{
    unsigned char hdr[CHAT_MSG_HDR_MAX];

    chat_buf_add(b, hdr,
                 chat_msg_hdr_encode(hdr, v->deleted, sender,
                                     sender ? strlen(sender) : 0));
    return chat_render_message(b, v);
}

static int message_put(struct chat *c, struct chatd_txn *txn,
                       const char *room, uint64_t seq,
                       const struct chat_buf *b)
{
    struct chat_key k;

    if (b->failed)
        return CHATD_ENOMEM;
    if (chat_key_message(&k, room, seq) != CHATD_OK)
        return CHATD_EINVAL;
    return c->host->put(txn, c->st.messages, k.b, k.len, b->p, b->len);
}

/* sender \0 client_msg_id -> idem record: a retry with the same id is
 * answered from here. The text is kept only as a digest, so a deleted
 * message leaves no copy of its text. */
static int idem_put(struct chat *c, struct chatd_txn *txn,
                    const struct msg_ev *m)
{
    unsigned char val[CHAT_IDEM_MAX];
    struct chat_idem rec = {.seq = m->seq, .room = m->room,
                            .room_len = strlen(m->room)};
    char cmid[CHAT_CMID_MAX + 1];
    struct chat_key k;
    size_t n;
    int rc;

    if (m->sender[0] == '\0' || m->v[EV_CMID].type != CHAT_J_STR)
        return CHATD_OK;
    if (chat_jval_str(&m->v[EV_CMID], cmid, CHAT_CMID_MAX, &n) != CHATD_OK)
        return CHATD_EINVAL;
    cmid[n] = '\0';
    rc = chat_jval_digest(&m->v[EV_TEXT], &rec.digest);
    if (rc != CHATD_OK)
        return rc;
    if (chat_key_pair(&k, m->sender, cmid) != CHATD_OK)
        return CHATD_EINVAL;
    n = chat_idem_encode(val, &rec);
    return c->host->put(txn, c->st.idem, k.b, k.len, val, n);
}

/* be64(source event seq) -> be64(seq) room: a notice delivered again by
 * the payment subscriber appends nothing (notices.c). */
static int notice_put(struct chat *c, struct chatd_txn *txn,
                      const struct msg_ev *m)
{
    unsigned char val[8 + CHAT_ID_MAX];
    size_t n = strlen(m->room);
    uint64_t source = 0;
    struct chat_key k;

    if (!chat_jval_u64(&m->v[EV_SOURCE], &source) || source == 0)
        return CHATD_OK;
    chat_key_u64(&k, source);
    chat_be64_put(val, m->seq);
    memcpy(val + 8, m->room, n);
    return c->host->put(txn, c->st.notices, k.b, k.len, val, 8 + n);
}

int chat_roster_load(struct chat *c, struct chatd_txn *txn,
                     const char *room, struct chat_roster *r)
{
    struct chatd_cursor *cur;
    struct chatd_val k, v;
    struct chat_key prefix;
    struct chat_member m;
    const char *uid;
    size_t ulen;
    int rc;

    r->ids.len = r->recs.len = r->n = 0;
    r->ids.failed = r->recs.failed = false;
    if (chat_key_prefix(&prefix, room) != CHATD_OK)
        return CHATD_EINVAL;
    rc = c->host->cursor_open(txn, c->st.members, &cur);
    if (rc != CHATD_OK)
        return rc;
    rc = c->host->cursor_seek(cur, CHATD_SEEK_GE, prefix.b, prefix.len, &k, &v);
    while (rc == CHATD_OK && chat_key_has_prefix(k.data, k.len, &prefix)) {
        if (chat_key_member_uid(k.data, k.len, prefix.len, &uid, &ulen) != 0 ||
            chat_member_decode(v.data, v.len, &m) != CHATD_OK) {
            rc = CHATD_EIO;
            break;
        }
        chat_buf_add(&r->ids, uid, ulen);
        chat_buf_add(&r->ids, "", 1);
        chat_buf_add(&r->recs, &m, sizeof(m));
        r->n++;
        rc = c->host->cursor_step(cur, 1, &k, &v);
    }
    c->host->cursor_close(cur);
    if (r->ids.failed || r->recs.failed)
        return CHATD_ENOMEM;
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

/* The message is the room's latest activity for every member: their inbox
 * entries move to the top at the end of the transaction (chat_flush), once
 * however many messages the room gets in it. Unread counts follow from
 * the room's last seq, so only the sender's record changes here: one more
 * own message after its read position, and its own activity (where its
 * inbox entry is gets noted first: the record will not tell any more). */
static int fan_out(struct chat *c, struct chatd_txn *txn,
                   const struct chatd_event *ev, const struct msg_ev *msg,
                   uint64_t prev_activity)
{
    struct chat_roster *r;
    struct chat_member *m;
    const char *uid;
    size_t i;
    int rc = chat_txn_roster(c, txn, msg->room, &r);

    if (rc == CHATD_OK)
        rc = chat_pending_room(c, msg->room, prev_activity, ev->seq);
    if (rc != CHATD_OK)
        return rc;
    uid = r->ids.p;
    for (i = 0; rc == CHATD_OK && i < r->n; i++, uid += strlen(uid) + 1) {
        m = (struct chat_member *)(void *)r->recs.p + i;
        if (strcmp(uid, msg->sender) == 0) {
            rc = chat_pending_note(
                c, msg->room, uid,
                chat_inbox_where(c, msg->room, uid, m, prev_activity), false);
            m->own_after++;
            m->activity = ev->seq;
            if (rc == CHATD_OK)
                rc = chat_member_record_put(c, txn, msg->room, uid, m);
        }
        if (rc == CHATD_OK)
            rc = c->host->deliver(txn, uid);
    }
    return rc;
}

/* chatd_host.projection_hooks: the end of the write transaction. Each room
 * that got messages moves every member's inbox entry once, from where it
 * is to where the room's last message (or the member's own later
 * activity) puts it, with the member's record as it is now. */
int chat_flush(void *state, struct chatd_txn *txn)
{
    struct chat *c = state;
    int rc = chat_txn_rooms_write(c, txn);

    for (size_t i = 0; rc == CHATD_OK && i < chat_pending_count(c); i++) {
        struct chat_roster *r;
        uint64_t last;
        const char *id = chat_pending_at(c, i, &last);

        if (!id)
            continue; /* read, no message */
        rc = chat_txn_roster(c, txn, id, &r);
        const char *uid = rc == CHATD_OK ? r->ids.p : NULL;
        for (size_t j = 0; rc == CHATD_OK && j < r->n;
             j++, uid += strlen(uid) + 1) {
            const struct chat_member *m =
                (const struct chat_member *)(const void *)r->recs.p + j;
            uint64_t at = chat_inbox_where(c, id, uid, m, last);
            uint64_t to = chat_member_activity(m, last);

            if (at != to)
                rc = chat_proj_inbox_del(c, txn, uid, at, id);
            if (rc == CHATD_OK)
                rc = chat_inbox_put(c, txn, id, uid, m, to);
        }
    }
    chat_discard(c);
    return rc;
}

/* Renders the new message and the room record that now ends with it. */
static int posted_render(const struct chatd_event *ev,
                         const struct msg_ev *m, struct chat_buf *msg)
{
    char created[CHAT_TIME_LEN + 2];
    struct chat_msg_view v = {
        .id = m->v[EV_ID],
        .room = m->v[EV_ROOM],
        .sender = m->v[EV_SENDER],
        .kind = m->v[EV_KIND],
        .text = m->v[EV_TEXT],
        .created_at = time_token(ev->time_ms, created),
        .seq = m->seq,
    };

    if (m->v[EV_CMID].type == CHAT_J_STR)
        v.client_msg_id = m->v[EV_CMID];
    if (m->v[EV_PAYMENT].type == CHAT_J_OBJ)
        v.payment = m->v[EV_PAYMENT];
    if (m->v[EV_KIND].type == CHAT_J_NONE || m->v[EV_TEXT].type == CHAT_J_NONE)
        return CHATD_EINVAL;
    return message_render(msg, &v, m->sender[0] ? m->sender : NULL);
}

int chat_on_message_posted(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev)
{
    struct chat_buf msg = {0};
    struct chat_room_rec r;
    struct chat_msg_rec rec;
    struct msg_ev m;
    int rc = msg_ev_scan(c, ev, &m);

    if (rc == CHATD_OK)
        rc = chat_proj_room_load(c, txn, ev, m.room, &r);
    if (rc != CHATD_OK)
        return rc;
    if (m.seq != r.last_seq + 1)
        return chat_proj_bad(c, ev, "seq does not follow the room's last");
    if (posted_render(ev, &m, &msg) != CHATD_OK || msg.failed) {
        chat_buf_free(&msg);
        return msg.failed ? CHATD_ENOMEM
                          : chat_proj_bad(c, ev, "incomplete message");
    }
    chat_msg_rec_decode(msg.p, msg.len, &rec);
    uint64_t prev_activity = r.msg_activity;
    r.last_seq = m.seq;
    r.activity_ms = ev->time_ms;
    r.msg_activity = ev->seq;
    /* r points into the stored room: it is rendered (copied) first */
    rc = chat_proj_room_put(c, ev, m.room, &r, true, rec.json, rec.json_len);
    if (rc == CHATD_OK)
        rc = message_put(c, txn, m.room, m.seq, &msg);
    chat_buf_free(&msg);
    if (rc == CHATD_OK)
        rc = idem_put(c, txn, &m);
    if (rc == CHATD_OK)
        rc = notice_put(c, txn, &m);
    return rc == CHATD_OK ? fan_out(c, txn, ev, &m, prev_activity) : rc;
}

/* The stored message as its parts (tokens into the stored JSON). */
static int stored_view(const struct chat_msg_rec *rec, uint64_t seq,
                       struct chat_msg_view *v)
{
    struct chat_jval f[SM_N];

    if (chat_json_fields(rec->json, rec->json_len, sm_keys, f) != CHATD_OK)
        return CHATD_EIO;
    *v = (struct chat_msg_view){
        .id = f[SM_ID], .room = f[SM_ROOM], .sender = f[SM_SENDER],
        .kind = f[SM_KIND], .text = f[SM_TEXT], .created_at = f[SM_CREATED],
        .edited_at = f[SM_EDITED], .client_msg_id = f[SM_CMID],
        .payment = f[SM_PAYMENT], .seq = seq, .deleted = rec->deleted,
    };
    return CHATD_OK;
}

/* Renders the stored message again after an edit (text given) or a delete
 * (text NULL: the text leaves the read model for good, and so does the
 * edit time). */
static int message_change(const struct chatd_event *ev,
                          const struct chat_msg_rec *rec, uint64_t seq,
                          const struct chat_jval *text, struct chat_buf *b)
{
    char when[CHAT_TIME_LEN + 2], sender[256];
    struct chat_msg_view v;

    if (stored_view(rec, seq, &v) != CHATD_OK)
        return CHATD_EIO;
    if (text != NULL) {
        v.text = *text;
        v.edited_at = time_token(ev->time_ms, when);
    } else {
        v.text.type = v.edited_at.type = CHAT_J_NONE;
        v.deleted = true;
    }
    if (rec->sender != NULL)
        memcpy(sender, rec->sender, rec->sender_len);
    sender[rec->sender != NULL ? rec->sender_len : 0] = '\0';
    return message_render(b, &v, rec->sender != NULL ? sender : NULL);
}

/* An edit or delete: the message rendered again, the room record (again
 * rendered if it was the last message), every member told. */
static int message_update(struct chat *c, struct chatd_txn *txn,
                          const struct chatd_event *ev, bool edit)
{
    struct chat_buf b = {0};
    struct chat_msg_rec rec, now;
    struct chat_room_rec r;
    struct msg_ev m;
    int rc = msg_ev_scan(c, ev, &m);

    if (rc == CHATD_OK)
        rc = chat_proj_room_load(c, txn, ev, m.room, &r);
    if (rc == CHATD_OK && chat_message_get(c, txn, m.room, m.seq, &rec) != 0)
        rc = chat_proj_bad(c, ev, "the message does not exist");
    if (rc == CHATD_OK && edit && m.v[EV_TEXT].type != CHAT_J_STR)
        rc = chat_proj_bad(c, ev, "an edit needs a text");
    if (rc == CHATD_OK)
        rc = message_change(ev, &rec, m.seq, edit ? &m.v[EV_TEXT] : NULL, &b);
    if (rc == CHATD_OK && b.failed)
        rc = CHATD_ENOMEM;
    if (rc == CHATD_OK) {
        chat_msg_rec_decode(b.p, b.len, &now);
        rc = chat_proj_room_put(c, ev, m.room, &r, m.seq == r.last_seq,
                                now.json, now.json_len);
    }
    if (rc == CHATD_OK)
        rc = message_put(c, txn, m.room, m.seq, &b);
    chat_buf_free(&b);
    return rc == CHATD_OK ? chat_proj_deliver_room(c, txn, m.room) : rc;
}

int chat_on_message_edited(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev)
{
    return message_update(c, txn, ev, true);
}

int chat_on_message_deleted(struct chat *c, struct chatd_txn *txn,
                            const struct chatd_event *ev)
{
    return message_update(c, txn, ev, false);
}

/* The user's own messages after `after`: a keyed range over the room's
 * messages, as long as what is still unread; the sender is in each
 * record's header. */
static int count_own(struct chat *c, struct chatd_txn *txn,
                     const char *room, const char *uid, uint64_t after,
                     uint64_t *out)
{
    struct chat_key prefix, from;
    struct chatd_cursor *cur;
    struct chatd_val k, v;
    struct chat_msg_rec rec;
    size_t ulen = strlen(uid);
    int rc;

    *out = 0;
    if (chat_key_prefix(&prefix, room) != CHATD_OK ||
        chat_key_message(&from, room, after + 1) != CHATD_OK)
        return CHATD_EINVAL;
    rc = c->host->cursor_open(txn, c->st.messages, &cur);
    if (rc != CHATD_OK)
        return rc;
    rc = c->host->cursor_seek(cur, CHATD_SEEK_GE, from.b, from.len, &k, &v);
    while (rc == CHATD_OK && chat_key_has_prefix(k.data, k.len, &prefix)) {
        if (chat_msg_rec_decode(v.data, v.len, &rec) != CHATD_OK) {
            rc = CHATD_EIO;
            break;
        }
        if (rec.sender != NULL && rec.sender_len == ulen &&
            memcmp(rec.sender, uid, ulen) == 0)
            (*out)++;
        rc = c->host->cursor_step(cur, 1, &k, &v);
    }
    c->host->cursor_close(cur);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

enum { RD_ROOM, RD_USER, RD_SEQ, RD_N };
static const char *const rd_keys[] = {"room", "user", "seq", NULL};

int chat_on_read_marked(struct chat *c, struct chatd_txn *txn,
                        const struct chatd_event *ev)
{
    char room[CHAT_ID_MAX + 1], uid[CHAT_ID_MAX + 1];
    struct chat_jval v[RD_N];
    struct chat_room_rec r;
    struct chat_member m;
    int rc;

    if (chat_json_fields(ev->data, ev->data_len, rd_keys, v) != CHATD_OK)
        return chat_proj_bad(c, ev, "data is not a JSON object");
    if (!chat_jval_id(&v[RD_USER], uid, sizeof(uid)))
        return chat_proj_bad(c, ev, "no user id");
    if (!chat_jval_id(&v[RD_ROOM], room, sizeof(room)))
        return chat_proj_bad(c, ev, "no room id");
    rc = chat_proj_room_load(c, txn, ev, room, &r);
    if (rc == CHATD_OK && chat_member_get(c, txn, room, uid, &m) != 0)
        rc = chat_proj_bad(c, ev, "the user is not a member");
    if (rc != CHATD_OK)
        return rc;
    /* the stream version first: r points into the stored room */
    rc = chat_proj_room_put(c, ev, room, &r, false, NULL, 0);
    if (rc == CHATD_OK && !chat_jval_u64(&v[RD_SEQ], &m.read_seq))
        m.read_seq = 0;
    if (rc == CHATD_OK)
        rc = count_own(c, txn, room, uid, m.read_seq, &m.own_after);
    if (rc == CHATD_OK)
        rc = chat_member_put(c, txn, room, uid, &m,
                             chat_inbox_where(c, room, uid, &m,
                                              r.msg_activity));
    return rc == CHATD_OK ? chat_proj_deliver_room(c, txn, room) : rc;
}

static int block_key(struct chat *c, const struct chatd_event *ev,
                     const json_t *d, struct chat_key *k)
{
    const char *user = chat_proj_str(d, "user");
    const char *blocked = chat_proj_str(d, "blocked");

    if (!chat_id_valid(user) || !chat_id_valid(blocked))
        return chat_proj_bad(c, ev, "needs user and blocked");
    return chat_key_pair(k, user, blocked);
}

/* Block events concern only the user who blocks (their other sessions);
 * the blocked user is not told. */
int chat_on_user_blocked(struct chat *c, struct chatd_txn *txn,
                         const struct chatd_event *ev, const json_t *d)
{
    struct chat_key k;
    int rc = block_key(c, ev, d, &k);

    if (rc == CHATD_OK)
        rc = c->host->put(txn, c->st.blocks, k.b, k.len, "1", 1);
    return rc == CHATD_OK
               ? c->host->deliver(txn, chat_proj_str(d, "user"))
               : rc;
}

int chat_on_user_unblocked(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev, const json_t *d)
{
    struct chat_key k;
    int rc = block_key(c, ev, d, &k);

    if (rc == CHATD_OK) {
        rc = c->host->del(txn, c->st.blocks, k.b, k.len);
        if (rc == CHATD_ENOTFOUND)
            rc = CHATD_OK;
    }
    return rc == CHATD_OK
               ? c->host->deliver(txn, chat_proj_str(d, "user"))
               : rc;
}
