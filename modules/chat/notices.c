/*
 * Payment notices in the conversation. An async subscriber on "payment."
 * reads each event whose data carries {"room_id": ..., "notice": {"text":
 * ..., ...}} and appends a chat.message_posted of kind "payment" (no
 * sender; the notice object in "payment") through host->exec.
 *
 * At least once in, exactly once out: the message records the source
 * event's seq, the projection indexes it in "notices", and the command
 * appends nothing when that seq is already there. README.md documents
 * this as the contract other modules rely on.
 */
#include <stdlib.h>
#include <string.h>

#include "chat.h"

struct notice_cmd {
    struct chat *c;
    uint64_t source_seq;
    char room[CHAT_ID_MAX + 1];
    const json_t *notice; /* borrowed from the subscriber's parsed data */
};

/* The notice's text as a message text: trimmed to the configured length;
 * an unusable text becomes a fixed one rather than losing the notice. */
static json_t *notice_text(const struct notice_cmd *a)
{
    const json_t *t = json_object_get(a->notice, "text");
    const char *s = json_string_value(t);
    size_t len = json_string_length(t);

    if (s != NULL) {
        len = chat_utf8_prefix(s, len, a->c->max_text_chars);
        if (chat_text_check(s, len, a->c->max_text_chars) == CHAT_TEXT_OK)
            return json_stringn(s, len);
    }
    return json_string("Payment notice");
}

static int notice_append(struct notice_cmd *a, struct chatd_txn *txn,
                         const struct chat_room_rec *room)
{
    uint64_t seq = room->last_seq + 1, ver = room->ver;
    char id[24], stream[CHAT_STREAM_MAX];
    json_t *d;
    int rc = chat_new_id(id, "m_");

    if (rc != CHATD_OK)
        return rc;
    d = json_pack("{s:s, s:s, s:I, s:n, s:s, s:o, s:O, s:I}", "room", a->room,
                  "id", id, "seq", (json_int_t)seq, "sender", "kind",
                  "payment", "text", notice_text(a), "payment", a->notice,
                  "source_seq", (json_int_t)a->source_seq);
    if (d == NULL)
        return CHATD_ENOMEM;
    rc = chat_append(a->c, txn, "chat.message_posted",
                     chat_room_stream(stream, a->room), ver, d, NULL);
    json_decref(d);
    return rc;
}

static int cmd_notice(void *arg, struct chatd_txn *txn, struct chatd_req *req)
{
    struct notice_cmd *a = arg;
    struct chat_room_rec room;
    struct chat_key k;
    int rc;

    (void)req;
    chat_key_u64(&k, a->source_seq);
    if (chat_exists(a->c, txn, a->c->st.notices, &k)) {
        a->c->host->log(a->c->mod, CHATD_LOG_DEBUG,
                        "payment event %llu delivered again: already shown",
                        (unsigned long long)a->source_seq);
        return CHATD_OK;
    }
    rc = chat_txn_room_get(a->c, txn, a->room, &room);
    if (rc == CHATD_ENOTFOUND) {
        a->c->host->log(a->c->mod, CHATD_LOG_WARN,
                        "payment event %llu names room %s, which does not "
                        "exist; notice not shown",
                        (unsigned long long)a->source_seq, a->room);
        return CHATD_OK;
    }
    if (rc == CHATD_OK)
        rc = notice_append(a, txn, &room);
    return rc;
}

int chat_payment_notice(void *state, const struct chatd_event *ev)
{
    struct notice_cmd a = {.c = state, .source_seq = ev->seq};
    json_t *d = json_loadb(ev->data, ev->data_len, 0, NULL);
    const char *room = json_string_value(json_object_get(d, "room_id"));
    int rc = CHATD_OK;

    a.notice = json_object_get(d, "notice");
    /* Payment events without a notice for a room are not for the chat. */
    if (chat_id_valid(room) && json_is_object(a.notice) &&
        json_is_string(json_object_get(a.notice, "text"))) {
        strcpy(a.room, room);
        rc = a.c->host->exec(a.c->mod, cmd_notice, &a, ev->correlation_id);
        if (rc != CHATD_OK)
            a.c->host->log(a.c->mod, CHATD_LOG_WARN,
                           "payment event %llu: notice not appended (%s); "
                           "will retry",
                           (unsigned long long)ev->seq,
                           a.c->host->strerror(rc));
    }
    json_decref(d);
    return rc;
}
