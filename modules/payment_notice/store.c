/*
 * Keyed reads of the module's own stores, shared by commands (writer
 * thread), routes (HTTP thread) and the projection, and the one way this
 * module appends an event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pay.h"

int pn_get(const struct pn *p, struct chatd_txn *txn,
           const struct chatd_store *st, const void *key, size_t klen,
           struct chatd_val *out)
{
    return p->host->get(txn, st, key, klen, out);
}

int pn_get_json(const struct pn *p, struct chatd_txn *txn,
                const struct chatd_store *st, const char *key, json_t **out)
{
    struct chatd_val v;
    int rc = p->host->get(txn, st, key, strlen(key), &v);

    if (rc != CHATD_OK)
        return rc;
    *out = json_loadb(v.data, v.len, 0, NULL);
    return json_is_object(*out) ? CHATD_OK : CHATD_EIO;
}

int pn_wallet_get(const struct pn *p, struct chatd_txn *txn, const char *uid,
                  struct pn_wallet *w)
{
    struct chatd_val v;
    int rc = p->host->get(txn, p->st.wallets, uid, strlen(uid), &v);

    memset(w, 0, sizeof(*w));
    if (rc == CHATD_ENOTFOUND)
        return CHATD_OK;
    if (rc != CHATD_OK)
        return rc;
    return pn_wallet_decode(v.data, v.len, w) ? CHATD_OK : CHATD_EIO;
}

int pn_is_member(const struct pn *p, struct chatd_txn *txn, const char *room,
                 const char *uid, bool *out)
{
    unsigned char key[PN_KEY2_MAX];
    struct chatd_val v;
    int rc = p->host->get(txn, p->st.members, key, pn_key2(key, room, uid),
                          &v);

    *out = rc == CHATD_OK;
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

int pn_user_get(const struct pn *p, struct chatd_txn *txn, const char *uid,
                char *out, size_t cap, bool *is_user)
{
    struct chatd_val v;
    size_t n;
    int rc = p->host->get(txn, p->st.users, uid, strlen(uid), &v);

    *is_user = false;
    snprintf(out, cap, "%s", uid);
    if (rc != CHATD_OK)
        return rc;
    if (v.len < 1)
        return CHATD_EIO;
    *is_user = ((const unsigned char *)v.data)[0] == 1;
    n = v.len - 1 < cap - 1 ? v.len - 1 : cap - 1;
    memcpy(out, (const char *)v.data + 1, n);
    out[n] = '\0';
    return CHATD_OK;
}

int pn_append(const struct pn *p, struct chatd_txn *txn, const char *type,
              const char *stream, uint64_t expected_ver, const json_t *data)
{
    char *text = json_dumps(data, JSON_COMPACT);
    struct chatd_append a = {.size = sizeof(a),
                             .type = type,
                             .stream = stream,
                             .expected_ver = expected_ver,
                             .data = text};
    int rc;

    if (text == NULL)
        return CHATD_ENOMEM;
    a.data_len = strlen(text);
    rc = p->host->append(txn, &a, NULL);
    free(text);
    return rc;
}
