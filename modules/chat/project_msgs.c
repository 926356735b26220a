/* The projection of messages, read marks and blocks (see project.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "project.h"

static json_t *message_record(const struct chatd_event *ev, const json_t *d)
{
    const json_t *cmid = json_object_get(d, "client_msg_id");
    const json_t *payment = json_object_get(d, "payment");
    json_t *rec;

    rec = json_pack("{s:O, s:O, s:O?, s:O, s:O, s:I}", "id",
                    json_object_get(d, "id"), "seq", json_object_get(d, "seq"),
                    "sender", json_object_get(d, "sender"), "kind",
                    json_object_get(d, "kind"), "text",
                    json_object_get(d, "text"), "created_ms",
                    (json_int_t)ev->time_ms);
    if (rec == NULL)
        return NULL;
    if ((json_is_string(cmid) &&
         json_object_set(rec, "client_msg_id", (json_t *)cmid) != 0) ||
        (json_is_object(payment) &&
         json_object_set(rec, "payment", (json_t *)payment) != 0)) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

/* sender \0 client_msg_id -> {"room", "seq", "digest"}: a retry with the
 * same id is answered from here. The text is kept only as a digest, so a
 * deleted message leaves no copy of its text. */
static int idem_put(struct chat *c, struct chatd_txn *txn, const json_t *d,
                    const char *room, uint64_t seq)
{
    const char *sender = chat_proj_str(d, "sender");
    const char *cmid = chat_proj_str(d, "client_msg_id");
    const json_t *text = json_object_get(d, "text");
    char digest[17];
    struct chat_key k;
    json_t *rec;
    int rc;

    if (sender == NULL || cmid == NULL)
        return CHATD_OK;
    if (chat_key_pair(&k, sender, cmid) != CHATD_OK)
        return CHATD_EINVAL;
    snprintf(digest, sizeof(digest), "%016" PRIx64,
             chat_text_digest(json_string_value(text),
                              json_string_length(text)));
    rec = json_pack("{s:s, s:I, s:s}", "room", room, "seq", (json_int_t)seq,
                    "digest", digest);
    if (rec == NULL)
        return CHATD_ENOMEM;
    rc = chat_put_json(c, txn, c->st.idem, &k, rec);
    json_decref(rec);
    return rc;
}

/* be64(source event seq) -> {"room", "seq"}: a notice delivered again by
 * the payment subscriber appends nothing (notices.c). */
static int notice_put(struct chat *c, struct chatd_txn *txn, const json_t *d,
                      const char *room, uint64_t seq)
{
    uint64_t source = chat_proj_u64(d, "source_seq");
    struct chat_key k;
    json_t *rec;
    int rc;

    if (source == 0)
        return CHATD_OK;
    chat_key_u64(&k, source);
    rec = json_pack("{s:s, s:I}", "room", room, "seq", (json_int_t)seq);
    if (rec == NULL)
        return CHATD_ENOMEM;
    rc = chat_put_json(c, txn, c->st.notices, &k, rec);
    json_decref(rec);
    return rc;
}

/* The message is the room's latest activity for every member: each
 * member's inbox entry moves to the top and, for everyone but the sender,
 * one more message is unread. */
static int fan_out_one(struct chat *c, struct chatd_txn *txn,
                       const struct chatd_event *ev, const char *room,
                       const char *uid, const char *sender)
{
    struct chat_member m;
    int rc = chat_member_get(c, txn, room, uid, &m);

    if (rc == CHATD_OK)
        rc = chat_proj_inbox_del(c, txn, uid, m.activity, room);
    if (rc != CHATD_OK)
        return rc;
    m.activity = ev->seq;
    if (sender == NULL || strcmp(uid, sender) != 0)
        m.unread++;
    rc = chat_member_put(c, txn, room, uid, &m);
    if (rc == CHATD_OK)
        rc = chat_proj_inbox_put(c, txn, uid, ev->seq, room);
    return rc == CHATD_OK ? c->host->deliver(txn, uid) : rc;
}

static int fan_out(struct chat *c, struct chatd_txn *txn,
                   const struct chatd_event *ev, const char *room,
                   const char *sender)
{
    char **ids;
    size_t n, i;
    int rc = chat_room_member_ids(c, txn, room, &ids, &n);

    for (i = 0; rc == CHATD_OK && i < n; i++)
        rc = fan_out_one(c, txn, ev, room, ids[i], sender);
    chat_ids_free(ids);
    return rc;
}

static int message_store(struct chat *c, struct chatd_txn *txn,
                         const struct chatd_event *ev, const json_t *d,
                         const char *room, uint64_t seq)
{
    json_t *rec = message_record(ev, d);
    struct chat_key k;
    int rc;

    if (rec == NULL)
        return chat_proj_bad(c, ev, "incomplete message");
    rc = chat_key_message(&k, room, seq);
    if (rc == CHATD_OK)
        rc = chat_put_json(c, txn, c->st.messages, &k, rec);
    json_decref(rec);
    return rc;
}

int chat_on_message_posted(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev, const json_t *d)
{
    const char *room_id = chat_proj_str(d, "room");
    uint64_t seq = chat_proj_u64(d, "seq");
    json_t *room = NULL;
    int rc = chat_proj_event_room(c, txn, ev, d, &room);

    if (rc != CHATD_OK)
        return rc;
    if (seq != chat_proj_u64(room, "last_seq") + 1) {
        json_decref(room);
        return chat_proj_bad(c, ev, "seq does not follow the room's last");
    }
    rc = message_store(c, txn, ev, d, room_id, seq);
    if (rc == CHATD_OK)
        rc = chat_proj_set_int(room, "last_seq", (int64_t)seq);
    if (rc == CHATD_OK)
        rc = chat_proj_set_int(room, "activity_ms", ev->time_ms);
    if (rc == CHATD_OK)
        rc = chat_proj_room_save(c, txn, room, ev);
    json_decref(room);
    if (rc == CHATD_OK)
        rc = idem_put(c, txn, d, room_id, seq);
    if (rc == CHATD_OK)
        rc = notice_put(c, txn, d, room_id, seq);
    return rc == CHATD_OK
               ? fan_out(c, txn, ev, room_id, chat_proj_str(d, "sender"))
               : rc;
}

/* Applies `change` to the stored message the event names, then records the
 * room's stream version and tells every member. */
static int message_update(struct chat *c, struct chatd_txn *txn,
                          const struct chatd_event *ev, const json_t *d,
                          int (*change)(json_t *msg, const json_t *d,
                                        int64_t time_ms))
{
    const char *room_id = chat_proj_str(d, "room");
    uint64_t seq = chat_proj_u64(d, "seq");
    json_t *room = NULL, *msg = NULL;
    struct chat_key k;
    int rc = chat_proj_event_room(c, txn, ev, d, &room);

    if (rc == CHATD_OK && chat_message_get(c, txn, room_id, seq, &msg) != 0)
        rc = chat_proj_bad(c, ev, "the message does not exist");
    if (rc == CHATD_OK)
        rc = change(msg, d, ev->time_ms);
    if (rc == CHATD_OK)
        rc = chat_key_message(&k, room_id, seq);
    if (rc == CHATD_OK)
        rc = chat_put_json(c, txn, c->st.messages, &k, msg);
    if (rc == CHATD_OK)
        rc = chat_proj_room_save(c, txn, room, ev);
    json_decref(msg);
    json_decref(room);
    return rc == CHATD_OK ? chat_proj_deliver_room(c, txn, room_id) : rc;
}

static int edit_change(json_t *msg, const json_t *d, int64_t time_ms)
{
    json_t *text = json_object_get(d, "text");

    if (!json_is_string(text))
        return CHATD_EINVAL;
    if (json_object_set(msg, "text", text) != 0)
        return CHATD_ENOMEM;
    return chat_proj_set_int(msg, "edited_ms", time_ms);
}

static int delete_change(json_t *msg, const json_t *d, int64_t time_ms)
{
    /* The text leaves the read model for good: the record keeps only that
     * the message existed, who sent it and when. */
    json_object_del(msg, "text");
    json_object_del(msg, "edited_ms");
    return chat_proj_set_int(msg, "deleted_ms", time_ms);
}

int chat_on_message_edited(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev, const json_t *d)
{
    return message_update(c, txn, ev, d, edit_change);
}

int chat_on_message_deleted(struct chat *c, struct chatd_txn *txn,
                            const struct chatd_event *ev, const json_t *d)
{
    return message_update(c, txn, ev, d, delete_change);
}

static bool by_other(const struct chatd_val *v, const char *uid)
{
    json_t *msg = json_loadb(v->data, v->len, 0, NULL);
    const char *sender = json_string_value(json_object_get(msg, "sender"));
    bool other = sender == NULL || strcmp(sender, uid) != 0;

    json_decref(msg);
    return other;
}

/* Messages by others after `after`: a keyed range over the room's
 * messages, as long as what is still unread. */
static int count_unread(struct chat *c, struct chatd_txn *txn,
                        const char *room, const char *uid, uint64_t after,
                        uint64_t *out)
{
    struct chat_key prefix, from;
    struct chatd_cursor *cur;
    struct chatd_val k, v;
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
        if (by_other(&v, uid))
            (*out)++;
        rc = c->host->cursor_step(cur, 1, &k, &v);
    }
    c->host->cursor_close(cur);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

int chat_on_read_marked(struct chat *c, struct chatd_txn *txn,
                        const struct chatd_event *ev, const json_t *d)
{
    const char *room_id = chat_proj_str(d, "room");
    const char *uid = chat_proj_str(d, "user");
    struct chat_member m;
    json_t *room = NULL;
    int rc;

    if (!chat_id_valid(uid))
        return chat_proj_bad(c, ev, "no user id");
    rc = chat_proj_event_room(c, txn, ev, d, &room);
    if (rc == CHATD_OK && chat_member_get(c, txn, room_id, uid, &m) != 0)
        rc = chat_proj_bad(c, ev, "the user is not a member");
    if (rc == CHATD_OK) {
        m.read_seq = chat_proj_u64(d, "seq");
        rc = count_unread(c, txn, room_id, uid, m.read_seq, &m.unread);
    }
    if (rc == CHATD_OK)
        rc = chat_member_put(c, txn, room_id, uid, &m);
    if (rc == CHATD_OK)
        rc = chat_proj_room_save(c, txn, room, ev);
    json_decref(room);
    return rc == CHATD_OK ? chat_proj_deliver_room(c, txn, room_id) : rc;
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
