/* Typed access to the chat stores through the host's key/value calls.
 * Records are decoded in place (keys.h): nothing is parsed or copied, so
 * what they point to is borrowed like the stored value itself. */
#include <stdlib.h>
#include <string.h>

#include "chat.h"

/* A stored record that does not decode is a broken read model. */
static int broken(struct chat *c, const char *what)
{
    c->host->log(c->mod, CHATD_LOG_ERROR,
                 "a stored %s record is malformed; run chatd rebuild", what);
    return CHATD_EIO;
}

int chat_room_value(struct chat *c, struct chatd_txn *txn, const char *room,
                    struct chatd_val *v)
{
    struct chat_key k;

    if (chat_key_str(&k, room) != CHATD_OK)
        return CHATD_ENOTFOUND;
    return c->host->get(txn, c->st.rooms, k.b, k.len, v);
}

int chat_room_decode(struct chat *c, const void *data, size_t len,
                     struct chat_room_rec *out)
{
    return chat_room_rec_decode(data, len, out) == CHATD_OK
               ? CHATD_OK
               : broken(c, "room");
}

int chat_room_get(struct chat *c, struct chatd_txn *txn, const char *room,
                  struct chat_room_rec *out)
{
    struct chatd_val v;
    int rc = chat_room_value(c, txn, room, &v);

    return rc == CHATD_OK ? chat_room_decode(c, v.data, v.len, out) : rc;
}

int chat_message_get(struct chat *c, struct chatd_txn *txn,
                     const char *room, uint64_t seq,
                     struct chat_msg_rec *out)
{
    struct chat_key k;
    struct chatd_val v;
    int rc;

    if (chat_key_message(&k, room, seq) != CHATD_OK)
        return CHATD_ENOTFOUND;
    rc = c->host->get(txn, c->st.messages, k.b, k.len, &v);
    if (rc != CHATD_OK)
        return rc;
    if (chat_msg_rec_decode(v.data, v.len, out) != CHATD_OK)
        return broken(c, "message");
    return CHATD_OK;
}

int chat_member_get(struct chat *c, struct chatd_txn *txn, const char *room,
                    const char *uid, struct chat_member *m)
{
    struct chat_key k;
    struct chatd_val v;
    int rc;

    if (chat_key_pair(&k, room, uid) != CHATD_OK)
        return CHATD_ENOTFOUND;
    rc = c->host->get(txn, c->st.members, k.b, k.len, &v);
    if (rc != CHATD_OK)
        return rc;
    return chat_member_decode(v.data, v.len, m) == CHATD_OK
               ? CHATD_OK
               : broken(c, "member");
}

int chat_inbox_put(struct chat *c, struct chatd_txn *txn, const char *room,
                   const char *uid, const struct chat_member *m,
                   uint64_t inbox_activity)
{
    unsigned char buf[CHAT_MEMBER_LEN];
    struct chat_key k;

    chat_member_encode(m, buf);
    if (chat_key_inbox(&k, uid, inbox_activity, room) != CHATD_OK)
        return CHATD_EINVAL;
    return c->host->put(txn, c->st.inbox, k.b, k.len, buf, sizeof(buf));
}

int chat_member_record_put(struct chat *c, struct chatd_txn *txn,
                           const char *room, const char *uid,
                           const struct chat_member *m)
{
    unsigned char buf[CHAT_MEMBER_LEN];
    struct chat_key k;
    int rc;

    chat_member_encode(m, buf);
    if (chat_key_pair(&k, room, uid) != CHATD_OK)
        return CHATD_EINVAL;
    rc = c->host->put(txn, c->st.members, k.b, k.len, buf, sizeof(buf));
    if (rc == CHATD_OK)
        chat_txn_member_stored(c, room, uid, m);
    return rc;
}

int chat_member_put(struct chat *c, struct chatd_txn *txn, const char *room,
                    const char *uid, const struct chat_member *m,
                    uint64_t inbox_activity)
{
    int rc = chat_member_record_put(c, txn, room, uid, m);

    return rc == CHATD_OK
               ? chat_inbox_put(c, txn, room, uid, m, inbox_activity)
               : rc;
}

bool chat_exists(struct chat *c, struct chatd_txn *txn,
                 const struct chatd_store *st, const struct chat_key *k)
{
    struct chatd_val v;
    int rc = c->host->get(txn, st, k->b, k->len, &v);

    if (rc != CHATD_OK && rc != CHATD_ENOTFOUND)
        c->host->log(c->mod, CHATD_LOG_ERROR, "store read failed: %s",
                     c->host->strerror(rc));
    return rc == CHATD_OK;
}

/* The user record of uid; false if there is none (or it is broken). */
static bool user_get(struct chat *c, struct chatd_txn *txn, const char *uid,
                     bool *person, const char **name, size_t *len)
{
    struct chat_key k;
    struct chatd_val v;

    if (chat_key_str(&k, uid) != CHATD_OK ||
        c->host->get(txn, c->st.users, k.b, k.len, &v) != CHATD_OK)
        return false;
    if (chat_user_decode(v.data, v.len, person, name, len) != CHATD_OK) {
        broken(c, "user");
        return false;
    }
    return true;
}

bool chat_user_is_person(struct chat *c, struct chatd_txn *txn,
                         const char *uid)
{
    bool person = false;
    const char *name;
    size_t len;

    return user_get(c, txn, uid, &person, &name, &len) && person;
}

const char *chat_user_name(struct chat *c, struct chatd_txn *txn,
                           const char *uid, size_t *len)
{
    bool person;
    const char *name;

    return user_get(c, txn, uid, &person, &name, len) ? name : NULL;
}

void chat_ids_free(char **ids)
{
    size_t i;

    if (ids == NULL)
        return;
    for (i = 0; ids[i] != NULL; i++)
        free(ids[i]);
    free(ids);
}

/* Appends a copy of (s, len) to the growing NULL-terminated array. */
static int ids_push(char ***ids, size_t *n, size_t *cap, const char *s,
                    size_t len)
{
    char **grown;

    if (*n + 1 >= *cap) {
        grown = realloc(*ids, (*cap * 2) * sizeof(**ids));
        if (grown == NULL)
            return CHATD_ENOMEM;
        *ids = grown;
        *cap *= 2;
    }
    (*ids)[*n] = strndup(s, len);
    if ((*ids)[*n] == NULL)
        return CHATD_ENOMEM;
    (*ids)[++*n] = NULL;
    return CHATD_OK;
}

int chat_room_member_ids(struct chat *c, struct chatd_txn *txn,
                         const char *room, char ***out, size_t *n)
{
    struct chatd_cursor *cur;
    struct chatd_val k, v;
    struct chat_key prefix;
    size_t cap = 8, ulen;
    const char *uid;
    int rc;

    *n = 0;
    *out = calloc(cap, sizeof(**out));
    if (*out == NULL)
        return CHATD_ENOMEM;
    if (chat_key_prefix(&prefix, room) != CHATD_OK)
        return CHATD_OK;
    rc = c->host->cursor_open(txn, c->st.members, &cur);
    if (rc != CHATD_OK)
        goto free_ids;
    rc = c->host->cursor_seek(cur, CHATD_SEEK_GE, prefix.b, prefix.len, &k, &v);
    while (rc == CHATD_OK && chat_key_has_prefix(k.data, k.len, &prefix)) {
        rc = chat_key_member_uid(k.data, k.len, prefix.len, &uid, &ulen);
        if (rc == CHATD_OK)
            rc = ids_push(out, n, &cap, uid, ulen);
        if (rc == CHATD_OK)
            rc = c->host->cursor_step(cur, 1, &k, &v);
    }
    c->host->cursor_close(cur);
    if (rc == CHATD_OK || rc == CHATD_ENOTFOUND)
        return CHATD_OK;
free_ids:
    chat_ids_free(*out);
    *out = NULL;
    *n = 0;
    return rc;
}

int chat_room_for_member(struct chat *c, struct chatd_txn *txn,
                         enum chat_reader who, const char *room_id,
                         const char *uid, struct chat_room_rec *room,
                         struct chat_member *m)
{
    int rc = chat_member_get(c, txn, room_id, uid, m);

    if (rc != CHATD_OK)
        return rc;
    return who == CHAT_IN_COMMAND ? chat_txn_room_get(c, txn, room_id, room)
                                  : chat_room_get(c, txn, room_id, room);
}
