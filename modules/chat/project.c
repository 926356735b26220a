/*
 * The chat projection: applies every event of the log to the chat stores,
 * inside the writer's transaction (read your writes) and again, in the
 * same order, during `chatd rebuild`. Deterministic: everything it writes
 * comes from the event (its data, seq, stream_ver and time_ms), never from
 * a clock or a random source. It also tells the host which users each
 * room event concerns (host->deliver), for the real-time stream.
 *
 * What it writes is what the API answers (README.md, "Stores"): messages
 * and rooms as their final JSON text, next to the small binary headers
 * the commands decide on.
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

int chat_proj_room_load(struct chat *c, struct chatd_txn *txn,
                        const struct chatd_event *ev, const char *room,
                        struct chat_room_rec *r)
{
    int rc;

    if (!chat_id_valid(room))
        return chat_proj_bad(c, ev, "no room id");
    rc = chat_txn_room_get(c, txn, room, r);
    if (rc == CHATD_ENOTFOUND)
        return chat_proj_bad(c, ev, "the room does not exist");
    return rc;
}

int chat_proj_room_put(struct chat *c, const struct chatd_event *ev,
                       const char *room, struct chat_room_rec *r, bool redo,
                       const char *last_msg, size_t last_len)
{
    unsigned char hdr[CHAT_ROOM_HDR_MAX];
    struct chat_buf b = {0};
    struct chat_key k;
    size_t n;
    int rc;

    r->ver = ev->stream_ver;
    n = chat_room_hdr_encode(hdr, r);
    chat_buf_reserve(&b, n + r->json_len + last_len + 160);
    chat_buf_add(&b, hdr, n);
    if (redo) {
        chat_buf_add(&b, r->json, r->static_len);
        chat_render_room_dynamic(&b, r->member_count, r->last_seq, last_msg,
                                 last_len, r->activity_ms);
    } else {
        chat_buf_add(&b, r->json, r->json_len);
    }
    if (b.failed)
        rc = CHATD_ENOMEM;
    else if (chat_key_str(&k, room) != CHATD_OK)
        rc = CHATD_EINVAL;
    else
        rc = chat_txn_room_put(c, room, b.p, b.len);
    chat_buf_free(&b);
    return rc;
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

int chat_proj_inbox_del(struct chat *c, struct chatd_txn *txn,
                        const char *uid, uint64_t activity, const char *room)
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
        .own_after = 0,
        .activity = ev->seq, /* later than any message of the room */
    };

    int rc = chat_member_put(c, txn, room, uid, &m, ev->seq);

    /* a room whose inbox moves are pending: this entry is new */
    return rc == CHATD_OK ? chat_pending_note(c, room, uid, ev->seq, true)
                          : rc;
}

/* The user's name as the JSON token the member list answers with. */
static char *name_token(const json_t *d, size_t *len)
{
    const json_t *name = json_object_get(d, "name");
    char *s = name != NULL ? json_dumps(name, JSON_COMPACT | JSON_ENCODE_ANY)
                           : strdup("null");

    if (s != NULL)
        *len = strlen(s);
    return s;
}

static int on_user_created(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev, const json_t *d)
{
    const char *id = chat_proj_str(d, "id"), *kind = chat_proj_str(d, "kind");
    struct chat_buf b = {0};
    struct chat_key k;
    size_t len = 0;
    char *name;
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
    name = name_token(d, &len);
    if (name == NULL)
        return CHATD_ENOMEM;
    chat_buf_add(&b, strcmp(kind, "user") == 0 ? "\1" : "\0", 1);
    chat_buf_add(&b, name, len);
    free(name);
    if (b.failed || chat_key_str(&k, id) != CHATD_OK)
        rc = CHATD_ENOMEM;
    else
        rc = c->host->put(txn, c->st.users, k.b, k.len, b.p, b.len);
    chat_buf_free(&b);
    return rc;
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

/* The room's member ids, checked, into ids[] (at most max). */
static bool member_list(const json_t *members, const char **ids, size_t max)
{
    const json_t *m;
    size_t i;

    if (json_array_size(members) > max)
        return false;
    json_array_foreach(members, i, m) {
        ids[i] = json_string_value(m);
        if (!chat_id_valid(ids[i]))
            return false;
    }
    return true;
}

/* The new room's record: its JSON as members see it, and the header. */
static int room_create_put(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev, const json_t *d,
                           const char *const *ids, size_t n)
{
    const json_t *title = json_object_get(d, "title");
    const json_t *context = json_object_get(d, "context");
    bool direct = strcmp(chat_proj_str(d, "kind"), "direct") == 0;
    struct chat_room_static st = {
        .id = chat_proj_str(d, "room"),
        .kind = chat_proj_str(d, "kind"),
        .created_by = chat_proj_str(d, "created_by"),
        .title = json_string_value(title),
        .title_len = json_string_length(title),
        .context = json_string_value(context),
        .context_len = json_string_length(context),
        .created_ms = ev->time_ms,
        .members = direct ? ids : NULL,
        .n_members = direct ? n : 0,
    };
    struct chat_room_rec r = {
        .kind = direct ? CHAT_ROOM_DIRECT : CHAT_ROOM_GROUP,
        .member_count = n,
        .activity_ms = ev->time_ms,
        .creator = st.created_by,
        .creator_len = strlen(st.created_by),
        .n_peers = direct ? 2 : 0,
    };
    struct chat_buf b = {0};
    size_t i;
    int rc;

    for (i = 0; i < r.n_peers; i++) {
        r.peer[i] = ids[i];
        r.peer_len[i] = strlen(ids[i]);
    }
    chat_render_room_static(&b, &st);
    r.json = b.p;
    r.json_len = r.static_len = b.len;
    rc = b.failed ? CHATD_ENOMEM
                  : chat_proj_room_put(c, ev, st.id, &r, true, NULL, 0);
    chat_buf_free(&b);
    return rc;
}

static int on_room_created(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev, const json_t *d)
{
    const json_t *members = json_object_get(d, "members");
    const char *room = chat_proj_str(d, "room");
    const char *kind = chat_proj_str(d, "kind");
    const char **ids;
    size_t i, n = json_array_size(members);
    int rc;

    if (!chat_id_valid(room) || kind == NULL || !json_is_array(members))
        return chat_proj_bad(c, ev, "needs room, kind and members");
    if (strcmp(kind, "direct") == 0 && n != 2)
        return chat_proj_bad(c, ev, "a direct room has two members");
    if (!chat_id_valid(chat_proj_str(d, "created_by")))
        return chat_proj_bad(c, ev, "incomplete room");
    ids = calloc(n + 1, sizeof(*ids));
    if (ids == NULL)
        return CHATD_ENOMEM;
    if (!member_list(members, ids, n))
        rc = chat_proj_bad(c, ev, "a member is not a user id");
    else
        rc = room_create_put(c, txn, ev, d, ids, n);
    for (i = 0; i < n && rc == CHATD_OK; i++)
        rc = member_join(c, txn, room, ids[i], 0, ev);
    free(ids);
    if (rc == CHATD_OK && strcmp(kind, "direct") == 0)
        rc = direct_put(c, txn, d);
    return rc == CHATD_OK ? chat_proj_deliver_room(c, txn, room) : rc;
}

/* Stores room r again after its member count changed: the last message
 * is part of the rendered room, so it is read to render it again. */
static int room_recount(struct chat *c, struct chatd_txn *txn,
                        const struct chatd_event *ev, const char *room,
                        struct chat_room_rec *r)
{
    struct chat_msg_rec last = {0};
    int rc = CHATD_OK;

    if (r->last_seq > 0)
        rc = chat_message_get(c, txn, room, r->last_seq, &last);
    if (rc == CHATD_ENOTFOUND)
        rc = chat_proj_bad(c, ev, "the room's last message is missing");
    if (rc != CHATD_OK)
        return rc;
    return chat_proj_room_put(c, ev, room, r, true, last.json, last.json_len);
}

static int on_member_added(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev, const json_t *d)
{
    const char *uid = chat_proj_str(d, "user");
    const char *room = chat_proj_str(d, "room");
    struct chat_room_rec r;
    int rc;

    if (!chat_id_valid(uid))
        return chat_proj_bad(c, ev, "no user id");
    rc = chat_proj_room_load(c, txn, ev, room, &r);
    if (rc != CHATD_OK)
        return rc;
    r.member_count++;
    rc = room_recount(c, txn, ev, room, &r);
    /* Joining makes nothing unread: the read position starts at the
     * room's last message. */
    if (rc == CHATD_OK)
        rc = member_join(c, txn, room, uid, r.last_seq, ev);
    return rc == CHATD_OK ? chat_proj_deliver_room(c, txn, room) : rc;
}

static int on_member_removed(struct chat *c, struct chatd_txn *txn,
                             const struct chatd_event *ev, const json_t *d)
{
    const char *uid = chat_proj_str(d, "user");
    const char *room = chat_proj_str(d, "room");
    struct chat_room_rec r;
    struct chat_member m;
    struct chat_key k;
    int rc;

    if (!chat_id_valid(uid))
        return chat_proj_bad(c, ev, "no user id");
    rc = chat_proj_room_load(c, txn, ev, room, &r);
    if (rc == CHATD_OK && chat_member_get(c, txn, room, uid, &m) != 0)
        rc = chat_proj_bad(c, ev, "the user is not a member");
    if (rc != CHATD_OK)
        return rc;
    r.member_count = r.member_count > 0 ? r.member_count - 1 : 0;
    rc = room_recount(c, txn, ev, room, &r);
    if (rc == CHATD_OK)
        rc = chat_proj_inbox_del(
            c, txn, uid, chat_inbox_where(c, room, uid, &m, r.msg_activity),
            room);
    chat_pending_forget(c, room, uid);
    if (rc == CHATD_OK && chat_key_pair(&k, room, uid) == CHATD_OK)
        rc = c->host->del(txn, c->st.members, k.b, k.len);
    chat_txn_roster_changed(c, room);
    if (rc == CHATD_OK)
        rc = c->host->deliver(txn, uid);
    return rc == CHATD_OK ? chat_proj_deliver_room(c, txn, room) : rc;
}

static const struct handler {
    const char *type;
    apply_fn fn;      /* rare events: given the parsed data */
    apply_raw_fn raw; /* frequent ones: they scan ev->data */
} handlers[] = {
    {"identity.user_created", on_user_created, NULL},
    {"chat.room_created", on_room_created, NULL},
    {"chat.member_added", on_member_added, NULL},
    {"chat.member_removed", on_member_removed, NULL},
    {"chat.message_posted", NULL, chat_on_message_posted},
    {"chat.message_edited", NULL, chat_on_message_edited},
    {"chat.message_deleted", NULL, chat_on_message_deleted},
    {"chat.read_marked", NULL, chat_on_read_marked},
    {"chat.user_blocked", chat_on_user_blocked, NULL},
    {"chat.user_unblocked", chat_on_user_unblocked, NULL},
};

static const struct handler *lookup(const char *type)
{
    size_t i;

    for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (strcmp(handlers[i].type, type) == 0)
            return &handlers[i];
    return NULL;
}

int chat_project(void *state, struct chatd_txn *txn,
                 const struct chatd_event *ev)
{
    struct chat *c = state;
    const struct handler *h = lookup(ev->type);
    json_error_t jerr;
    json_t *d;
    int rc;

    if (h == NULL)
        return CHATD_OK;
    if (h->raw != NULL)
        return h->raw(c, txn, ev);
    d = json_loadb(ev->data, ev->data_len, 0, &jerr);
    if (!json_is_object(d)) {
        json_decref(d);
        if (strncmp(ev->type, "chat.", 5) != 0)
            return CHATD_OK;
        return chat_proj_bad(c, ev, "data is not a JSON object");
    }
    rc = h->fn(c, txn, ev, d);
    json_decref(d);
    return rc;
}
