/*
 * The chat projection: applies every event of the log to the chat stores,
 * inside the writer's transaction (read your writes) and again, in the
 * same order, during `chatd rebuild`. Deterministic: everything it writes
 * comes from the event (its data, seq, stream_ver and time_ms), never from
 * a clock or a random source. It also tells the host which users each
 * room event concerns (host->deliver), for the real-time stream.
 */
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "project.h"

const char *chat_proj_str(const json_t *d, const char *key)
{
    return json_string_value(json_object_get(d, key));
}

uint64_t chat_proj_u64(const json_t *d, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(d, key));

    return v > 0 ? (uint64_t)v : 0;
}

int chat_proj_bad(struct chat *c, const struct chatd_event *ev,
                     const char *why)
{
    c->host->log(c->mod, CHATD_LOG_ERROR, "event %llu (%s): %s",
                 (unsigned long long)ev->seq, ev->type, why);
    return CHATD_EINVAL;
}

int chat_proj_set_int(json_t *o, const char *key, int64_t v)
{
    return json_object_set_new(o, key, json_integer((json_int_t)v)) == 0
               ? CHATD_OK
               : CHATD_ENOMEM;
}

/* Records the room stream version the event produced: commands pass it
 * back as expected_ver (optimistic concurrency on the room). */
int chat_proj_room_save(struct chat *c, struct chatd_txn *txn, json_t *room,
                     const struct chatd_event *ev)
{
    struct chat_key k;

    if (chat_proj_set_int(room, "ver", (int64_t)ev->stream_ver) != CHATD_OK ||
        chat_key_str(&k, chat_proj_str(room, "id")) != CHATD_OK)
        return CHATD_ENOMEM;
    return chat_put_json(c, txn, c->st.rooms, &k, room);
}

static int deliver_all(struct chat *c, struct chatd_txn *txn,
                       char *const *ids)
{
    int rc = CHATD_OK;
    size_t i;

    for (i = 0; ids[i] != NULL && rc == CHATD_OK; i++)
        rc = c->host->deliver(txn, ids[i]);
    return rc;
}

int chat_proj_deliver_room(struct chat *c, struct chatd_txn *txn,
                        const char *room)
{
    char **ids;
    size_t n;
    int rc = chat_room_member_ids(c, txn, room, &ids, &n);

    if (rc != CHATD_OK)
        return rc;
    rc = deliver_all(c, txn, ids);
    chat_ids_free(ids);
    return rc;
}

int chat_proj_inbox_put(struct chat *c, struct chatd_txn *txn, const char *uid,
                     uint64_t activity, const char *room)
{
    struct chat_key k;

    if (chat_key_inbox(&k, uid, activity, room) != CHATD_OK)
        return CHATD_EINVAL;
    return c->host->put(txn, c->st.inbox, k.b, k.len, room, strlen(room));
}

int chat_proj_inbox_del(struct chat *c, struct chatd_txn *txn, const char *uid,
                     uint64_t activity, const char *room)
{
    struct chat_key k;
    int rc;

    if (chat_key_inbox(&k, uid, activity, room) != CHATD_OK)
        return CHATD_EINVAL;
    rc = c->host->del(txn, c->st.inbox, k.b, k.len);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

/* A user enters a room: membership record and inbox entry. */
static int member_join(struct chat *c, struct chatd_txn *txn,
                       const char *room, const char *uid, uint64_t read_seq,
                       const struct chatd_event *ev)
{
    struct chat_member m = {
        .joined_ms = ev->time_ms,
        .read_seq = read_seq,
        .unread = 0,
        .activity = ev->seq,
    };
    int rc = chat_member_put(c, txn, room, uid, &m);

    return rc != CHATD_OK ? rc : chat_proj_inbox_put(c, txn, uid, ev->seq, room);
}

static int on_user_created(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev, const json_t *d)
{
    const char *id = chat_proj_str(d, "id"), *kind = chat_proj_str(d, "kind");
    struct chat_key k;
    json_t *rec;
    int rc;

    /* Another module's event: a shape we do not understand is skipped
     * (with a log line) rather than failing its command or a rebuild. */
    if (!chat_id_valid(id) || kind == NULL) {
        c->host->log(c->mod, CHATD_LOG_WARN,
                     "event %llu identity.user_created: no usable id/kind; "
                     "user not known to chat",
                     (unsigned long long)ev->seq);
        return CHATD_OK;
    }
    rec = json_pack("{s:O?, s:s}", "name", json_object_get(d, "name"), "kind",
                    kind);
    if (rec == NULL || chat_key_str(&k, id) != CHATD_OK) {
        json_decref(rec);
        return CHATD_ENOMEM;
    }
    rc = chat_put_json(c, txn, c->st.users, &k, rec);
    json_decref(rec);
    return rc;
}

static json_t *room_record(const struct chatd_event *ev, const json_t *d)
{
    json_t *members = json_object_get(d, "members");
    bool direct = strcmp(chat_proj_str(d, "kind"), "direct") == 0;
    json_t *rec;

    rec = json_pack("{s:O, s:O, s:O?, s:O?, s:O, s:I, s:I, s:i, s:I, s:I}",
                    "id", json_object_get(d, "room"), "kind",
                    json_object_get(d, "kind"), "title",
                    json_object_get(d, "title"), "context",
                    json_object_get(d, "context"), "created_by",
                    json_object_get(d, "created_by"), "created_ms",
                    (json_int_t)ev->time_ms, "member_count",
                    (json_int_t)json_array_size(members), "last_seq", 0,
                    "ver", (json_int_t)ev->stream_ver, "activity_ms",
                    (json_int_t)ev->time_ms);
    if (rec != NULL && direct && json_object_set(rec, "members", members)) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

static int direct_put(struct chat *c, struct chatd_txn *txn, const json_t *d)
{
    const json_t *members = json_object_get(d, "members");
    const char *room = chat_proj_str(d, "room");
    struct chat_key k;

    if (chat_key_direct(&k, json_string_value(json_array_get(members, 0)),
                        json_string_value(json_array_get(members, 1)),
                        chat_proj_str(d, "context")) != CHATD_OK)
        return CHATD_EINVAL;
    return c->host->put(txn, c->st.direct, k.b, k.len, room, strlen(room));
}

static int on_room_created(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev, const json_t *d)
{
    const json_t *members = json_object_get(d, "members"), *m;
    const char *room = chat_proj_str(d, "room"), *kind = chat_proj_str(d, "kind");
    json_t *rec;
    size_t i;
    int rc;

    if (!chat_id_valid(room) || kind == NULL || !json_is_array(members))
        return chat_proj_bad(c, ev, "needs room, kind and members");
    if (strcmp(kind, "direct") == 0 && json_array_size(members) != 2)
        return chat_proj_bad(c, ev, "a direct room has two members");
    rec = room_record(ev, d);
    if (rec == NULL)
        return chat_proj_bad(c, ev, "incomplete room");
    rc = chat_proj_room_save(c, txn, rec, ev);
    json_decref(rec);
    json_array_foreach(members, i, m) {
        if (rc == CHATD_OK && !chat_id_valid(json_string_value(m)))
            rc = chat_proj_bad(c, ev, "a member is not a user id");
        if (rc == CHATD_OK)
            rc = member_join(c, txn, room, json_string_value(m), 0, ev);
    }
    if (rc == CHATD_OK && strcmp(kind, "direct") == 0)
        rc = direct_put(c, txn, d);
    return rc == CHATD_OK ? chat_proj_deliver_room(c, txn, room) : rc;
}

/* Loads the room an event names; a missing room is a broken log. */
int chat_proj_event_room(struct chat *c, struct chatd_txn *txn,
                      const struct chatd_event *ev, const json_t *d,
                      json_t **room)
{
    const char *id = chat_proj_str(d, "room");
    int rc;

    if (!chat_id_valid(id))
        return chat_proj_bad(c, ev, "no room id");
    rc = chat_room_get(c, txn, id, room);
    if (rc == CHATD_ENOTFOUND)
        return chat_proj_bad(c, ev, "the room does not exist");
    return rc;
}

static int on_member_added(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev, const json_t *d)
{
    const char *uid = chat_proj_str(d, "user"), *room_id = chat_proj_str(d, "room");
    json_t *room = NULL;
    int rc;

    if (!chat_id_valid(uid))
        return chat_proj_bad(c, ev, "no user id");
    rc = chat_proj_event_room(c, txn, ev, d, &room);
    if (rc != CHATD_OK)
        return rc;
    rc = chat_proj_set_int(room, "member_count",
                 (int64_t)chat_proj_u64(room, "member_count") + 1);
    if (rc == CHATD_OK)
        rc = chat_proj_room_save(c, txn, room, ev);
    /* Joining makes nothing unread: the read position starts at the
     * room's last message. */
    if (rc == CHATD_OK)
        rc = member_join(c, txn, room_id, uid, chat_proj_u64(room, "last_seq"), ev);
    json_decref(room);
    return rc == CHATD_OK ? chat_proj_deliver_room(c, txn, room_id) : rc;
}

static int on_member_removed(struct chat *c, struct chatd_txn *txn,
                             const struct chatd_event *ev, const json_t *d)
{
    const char *uid = chat_proj_str(d, "user"), *room_id = chat_proj_str(d, "room");
    struct chat_member m;
    struct chat_key k;
    json_t *room = NULL;
    int rc;

    if (!chat_id_valid(uid))
        return chat_proj_bad(c, ev, "no user id");
    rc = chat_proj_event_room(c, txn, ev, d, &room);
    if (rc == CHATD_OK && chat_member_get(c, txn, room_id, uid, &m) != 0)
        rc = chat_proj_bad(c, ev, "the user is not a member");
    if (rc == CHATD_OK)
        rc = chat_proj_inbox_del(c, txn, uid, m.activity, room_id);
    if (rc == CHATD_OK && chat_key_pair(&k, room_id, uid) == CHATD_OK)
        rc = c->host->del(txn, c->st.members, k.b, k.len);
    if (rc == CHATD_OK)
        rc = chat_proj_set_int(room, "member_count",
                     (int64_t)chat_proj_u64(room, "member_count") - 1);
    if (rc == CHATD_OK)
        rc = chat_proj_room_save(c, txn, room, ev);
    json_decref(room);
    if (rc == CHATD_OK)
        rc = c->host->deliver(txn, uid);
    return rc == CHATD_OK ? chat_proj_deliver_room(c, txn, room_id) : rc;
}

static const apply_fn *lookup(const char *type);

int chat_project(void *state, struct chatd_txn *txn,
                 const struct chatd_event *ev)
{
    struct chat *c = state;
    const apply_fn *fn = lookup(ev->type);
    json_error_t jerr;
    json_t *d;
    int rc;

    if (fn == NULL)
        return CHATD_OK;
    d = json_loadb(ev->data, ev->data_len, 0, &jerr);
    if (!json_is_object(d)) {
        json_decref(d);
        if (strncmp(ev->type, "chat.", 5) != 0)
            return CHATD_OK;
        return chat_proj_bad(c, ev, "data is not a JSON object");
    }
    rc = (*fn)(c, txn, ev, d);
    json_decref(d);
    return rc;
}

static const struct {
    const char *type;
    apply_fn fn;
} handlers[] = {
    {"identity.user_created", on_user_created},
    {"chat.room_created", on_room_created},
    {"chat.member_added", on_member_added},
    {"chat.member_removed", on_member_removed},
    {"chat.message_posted", chat_on_message_posted},
    {"chat.message_edited", chat_on_message_edited},
    {"chat.message_deleted", chat_on_message_deleted},
    {"chat.read_marked", chat_on_read_marked},
    {"chat.user_blocked", chat_on_user_blocked},
    {"chat.user_unblocked", chat_on_user_unblocked},
};

static const apply_fn *lookup(const char *type)
{
    size_t i;

    for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (strcmp(handlers[i].type, type) == 0)
            return &handlers[i].fn;
    return NULL;
}
