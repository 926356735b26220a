/* Typed access to the chat stores through the host's key/value calls.
 * Values the host returns are borrowed only until the next write in the
 * transaction, so everything is parsed or copied before returning. */
#include <stdlib.h>
#include <string.h>

#include "chat.h"

int chat_get_json(struct chat *c, struct chatd_txn *txn,
                  const struct chatd_store *st, const struct chat_key *k,
                  json_t **out)
{
    struct chatd_val v;
    json_error_t jerr;
    int rc;

    *out = NULL;
    rc = c->host->get(txn, st, k->b, k->len, &v);
    if (rc != CHATD_OK)
        return rc;
    *out = json_loadb(v.data, v.len, 0, &jerr);
    if (*out == NULL) {
        c->host->log(c->mod, CHATD_LOG_ERROR,
                     "a stored record is not JSON (%s); run chatd rebuild",
                     jerr.text);
        return CHATD_EIO;
    }
    return CHATD_OK;
}

int chat_put_json(struct chat *c, struct chatd_txn *txn,
                  const struct chatd_store *st, const struct chat_key *k,
                  const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    int rc;

    if (text == NULL)
        return CHATD_ENOMEM;
    rc = c->host->put(txn, st, k->b, k->len, text, strlen(text));
    free(text);
    return rc;
}

int chat_room_get(struct chat *c, struct chatd_txn *txn, const char *room,
                  json_t **out)
{
    struct chat_key k;

    *out = NULL;
    if (chat_key_str(&k, room) != CHATD_OK)
        return CHATD_ENOTFOUND;
    return chat_get_json(c, txn, c->st.rooms, &k, out);
}

int chat_message_get(struct chat *c, struct chatd_txn *txn,
                     const char *room, uint64_t seq, json_t **out)
{
    struct chat_key k;

    *out = NULL;
    if (chat_key_message(&k, room, seq) != CHATD_OK)
        return CHATD_ENOTFOUND;
    return chat_get_json(c, txn, c->st.messages, &k, out);
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
    return chat_member_decode(v.data, v.len, m) == CHATD_OK ? CHATD_OK
                                                            : CHATD_EIO;
}

int chat_member_put(struct chat *c, struct chatd_txn *txn, const char *room,
                    const char *uid, const struct chat_member *m)
{
    unsigned char buf[CHAT_MEMBER_LEN];
    struct chat_key k;

    if (chat_key_pair(&k, room, uid) != CHATD_OK)
        return CHATD_EINVAL;
    chat_member_encode(m, buf);
    return c->host->put(txn, c->st.members, k.b, k.len, buf, sizeof(buf));
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

bool chat_user_is_person(struct chat *c, struct chatd_txn *txn,
                         const char *uid)
{
    struct chat_key k;
    json_t *u = NULL;
    bool person;

    if (chat_key_str(&k, uid) != CHATD_OK ||
        chat_get_json(c, txn, c->st.users, &k, &u) != CHATD_OK)
        return false;
    person = strcmp(json_string_value(json_object_get(u, "kind")) ?: "",
                    "user") == 0;
    json_decref(u);
    return person;
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
                         const char *room_id, const char *uid, json_t **room,
                         struct chat_member *m)
{
    int rc = chat_member_get(c, txn, room_id, uid, m);

    *room = NULL;
    if (rc != CHATD_OK)
        return rc;
    return chat_room_get(c, txn, room_id, room);
}
