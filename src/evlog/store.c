/*
 * store.c — the named key/value stores of the read models, their cursors
 * and their digest. Each store is its own LMDB database "s:<owner>/<name>",
 * so clearing one for a rebuild is a single mdb_drop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "evlog/internal.h"

#define NAME_PART_MAX 100

static bool part_ok(const char *s)
{
    size_t len = s ? strlen(s) : 0;

    return len > 0 && len <= NAME_PART_MAX && !strchr(s, '/');
}

static struct evlog_store *store_find(struct evlog *log, const char *name)
{
    for (struct evlog_store *st = log->stores; st; st = st->next)
        if (strcmp(st->name, name) == 0)
            return st;
    return NULL;
}

/* mdb_dbi_open must not run in two transactions at once, and the handle
 * it gives is usable by other transactions only after this one commits. */
static int dbi_open(struct evlog *log, const char *dbname, MDB_dbi *dbi)
{
    MDB_txn *txn;
    int rc = evlog_views_begin(log, &txn);

    if (rc != CHATD_OK)
        return rc;
    rc = mdb_dbi_open(txn, dbname, log->read_only ? 0 : MDB_CREATE, dbi);
    if (rc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        return evlog_status(rc);
    }
    return evlog_status(mdb_txn_commit(txn));
}

int evlog_store_open(struct evlog *log, const char *owner, const char *name,
                     struct evlog_store **out)
{
    char full[2 * NAME_PART_MAX + 2], dbname[sizeof full + 2];
    struct evlog_store *st;
    MDB_dbi dbi;
    int rc = CHATD_OK;

    if (!log || !out || !part_ok(owner) || !part_ok(name))
        return CHATD_EINVAL;
    snprintf(full, sizeof full, "%s/%s", owner, name);
    snprintf(dbname, sizeof dbname, "s:%s", full);
    pthread_mutex_lock(&log->stores_lock);
    st = store_find(log, full);
    if (st)
        goto out_unlock;
    rc = dbi_open(log, dbname, &dbi);
    if (rc != CHATD_OK)
        goto out_unlock;
    st = malloc(sizeof *st + strlen(full) + 1);
    if (!st) {
        rc = CHATD_ENOMEM; /* the dbi stays open until evlog_close */
        goto out_unlock;
    }
    st->dbi = dbi;
    strcpy(st->name, full);
    st->next = log->stores;
    log->stores = st;

out_unlock:
    pthread_mutex_unlock(&log->stores_lock);
    if (rc == CHATD_OK)
        *out = st;
    return rc;
}

const char *evlog_store_name(const struct evlog_store *st)
{
    return st->name;
}

int evlog_store_clear(struct evlog_txn *txn, struct evlog_store *st)
{
    int rc = evlog_txn_check(txn, true);

    if (rc != CHATD_OK)
        return rc;
    if (!st)
        return CHATD_EINVAL;
    evlog_txn_wrote(txn);
    return evlog_status(mdb_drop(txn->mdb, st->dbi, 0));
}

static int kv_check(struct evlog_txn *txn, const struct evlog_store *st,
                    const void *key, size_t klen, bool write)
{
    int rc = evlog_txn_check(txn, write);

    if (rc != CHATD_OK)
        return rc;
    if (!st || !key || klen == 0 || klen > EVLOG_KEY_MAX)
        return CHATD_EINVAL;
    return CHATD_OK;
}

int evlog_get_kv(struct evlog_txn *txn, const struct evlog_store *st,
                 const void *key, size_t klen, struct chatd_val *out)
{
    MDB_val k = {klen, (void *)key}, v;
    int rc = kv_check(txn, st, key, klen, false);

    if (rc != CHATD_OK)
        return rc;
    if (!out)
        return CHATD_EINVAL;
    rc = mdb_get(txn->mdb, st->dbi, &k, &v);
    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    *out = (struct chatd_val){v.mv_data, v.mv_size};
    return CHATD_OK;
}

/* mdb_put with `flags`; on MDB_KEYEXIST *existing (if set) gets the
 * stored value. */
static int kv_put(struct evlog_txn *txn, const struct evlog_store *st,
                  const void *key, size_t klen, const void *val, size_t vlen,
                  unsigned flags, struct chatd_val *existing)
{
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int rc = kv_check(txn, st, key, klen, true);

    if (rc != CHATD_OK)
        return rc;
    if (!val && vlen)
        return CHATD_EINVAL;
    evlog_txn_wrote(txn);
    rc = mdb_put(txn->mdb, st->dbi, &k, &v, flags);
    if (rc == MDB_KEYEXIST && existing) {
        existing->data = v.mv_data;
        existing->len = v.mv_size;
    }
    return evlog_status(rc);
}

int evlog_put_kv(struct evlog_txn *txn, const struct evlog_store *st,
                 const void *key, size_t klen, const void *val, size_t vlen)
{
    return kv_put(txn, st, key, klen, val, vlen, 0, NULL);
}

int evlog_put_kv_new(struct evlog_txn *txn, const struct evlog_store *st,
                     const void *key, size_t klen, const void *val,
                     size_t vlen, struct chatd_val *existing)
{
    return kv_put(txn, st, key, klen, val, vlen, MDB_NOOVERWRITE, existing);
}

int evlog_del_kv(struct evlog_txn *txn, const struct evlog_store *st,
                 const void *key, size_t klen)
{
    MDB_val k = {klen, (void *)key};
    int rc = kv_check(txn, st, key, klen, true);

    if (rc != CHATD_OK)
        return rc;
    evlog_txn_wrote(txn);
    return evlog_status(mdb_del(txn->mdb, st->dbi, &k, NULL));
}

int evlog_cursor_open(struct evlog_txn *txn, const struct evlog_store *st,
                      struct evlog_cursor **out)
{
    struct evlog_cursor *c;
    int rc = evlog_txn_check(txn, false);

    if (rc != CHATD_OK)
        return rc;
    if (!st || !out)
        return CHATD_EINVAL;
    c = calloc(1, sizeof *c);
    if (!c)
        return CHATD_ENOMEM;
    rc = mdb_cursor_open(txn->mdb, st->dbi, &c->mc);
    if (rc != MDB_SUCCESS) {
        free(c);
        return evlog_status(rc);
    }
    c->txn = txn;
    c->next = txn->cursors;
    if (c->next)
        c->next->prev = c;
    txn->cursors = c;
    *out = c;
    return CHATD_OK;
}

void evlog_cursor_close(struct evlog_cursor *c)
{
    if (!c)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->txn->cursors = c->next;
    if (c->next)
        c->next->prev = c->prev;
    mdb_cursor_close(c->mc);
    free(c);
}

static int cursor_out(int rc, const MDB_val *mk, const MDB_val *mv,
                      struct chatd_val *k, struct chatd_val *v)
{
    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    if (k)
        *k = (struct chatd_val){mk->mv_data, mk->mv_size};
    if (v)
        *v = (struct chatd_val){mv->mv_data, mv->mv_size};
    return CHATD_OK;
}

/* LMDB has "smallest key >= k" (MDB_SET_RANGE) but no "largest key <= k":
 * take the >= answer and step back unless it is k itself; if every key is
 * smaller, the answer is the last key. */
static int seek_le(MDB_cursor *mc, MDB_val *mk, MDB_val *mv)
{
    MDB_val want = *mk;
    int rc = mdb_cursor_get(mc, mk, mv, MDB_SET_RANGE);

    if (rc == MDB_NOTFOUND)
        return mdb_cursor_get(mc, mk, mv, MDB_LAST);
    if (rc != MDB_SUCCESS)
        return rc;
    if (mk->mv_size == want.mv_size &&
        memcmp(mk->mv_data, want.mv_data, want.mv_size) == 0)
        return MDB_SUCCESS;
    return mdb_cursor_get(mc, mk, mv, MDB_PREV);
}

int evlog_cursor_seek(struct evlog_cursor *c, enum chatd_seek how,
                      const void *key, size_t klen, struct chatd_val *k,
                      struct chatd_val *v)
{
    MDB_val mk = {klen, (void *)key}, mv;
    bool keyed = how == CHATD_SEEK_GE || how == CHATD_SEEK_LE;
    int rc;

    if (!c || evlog_txn_check(c->txn, false) != CHATD_OK)
        return CHATD_ESTATE;
    if (keyed && (!key || klen == 0 || klen > EVLOG_KEY_MAX))
        return CHATD_EINVAL;
    switch (how) {
    case CHATD_SEEK_FIRST:
        rc = mdb_cursor_get(c->mc, &mk, &mv, MDB_FIRST);
        break;
    case CHATD_SEEK_LAST:
        rc = mdb_cursor_get(c->mc, &mk, &mv, MDB_LAST);
        break;
    case CHATD_SEEK_GE:
        rc = mdb_cursor_get(c->mc, &mk, &mv, MDB_SET_RANGE);
        break;
    case CHATD_SEEK_LE:
        rc = seek_le(c->mc, &mk, &mv);
        break;
    default:
        return CHATD_EINVAL;
    }
    return cursor_out(rc, &mk, &mv, k, v);
}

int evlog_cursor_step(struct evlog_cursor *c, int dir, struct chatd_val *k,
                      struct chatd_val *v)
{
    MDB_val mk, mv;

    if (!c || evlog_txn_check(c->txn, false) != CHATD_OK)
        return CHATD_ESTATE;
    if (dir == 0)
        return CHATD_EINVAL;
    return cursor_out(mdb_cursor_get(c->mc, &mk, &mv,
                                     dir > 0 ? MDB_NEXT : MDB_PREV),
                      &mk, &mv, k, v);
}

/* Each part behind its length, so ("ab","c") and ("a","bc") differ. */
static void digest_part(XXH3_state_t *h, const MDB_val *part)
{
    unsigned char len[8];

    core_be64_put(len, part->mv_size);
    XXH3_64bits_update(h, len, sizeof len);
    XXH3_64bits_update(h, part->mv_data, part->mv_size);
}

int evlog_store_digest(struct evlog_txn *txn, const struct evlog_store *st,
                       uint64_t *out)
{
    XXH3_state_t *h;
    MDB_cursor *mc;
    MDB_val k, v;
    int rc = evlog_txn_check(txn, false);

    if (rc != CHATD_OK)
        return rc;
    if (!st || !out)
        return CHATD_EINVAL;
    h = XXH3_createState();
    if (h == NULL || XXH3_64bits_reset(h) != XXH_OK) {
        XXH3_freeState(h);
        return CHATD_ENOMEM;
    }
    rc = mdb_cursor_open(txn->mdb, st->dbi, &mc);
    if (rc != MDB_SUCCESS) {
        XXH3_freeState(h);
        return evlog_status(rc);
    }
    for (rc = mdb_cursor_get(mc, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(mc, &k, &v, MDB_NEXT)) {
        digest_part(h, &k);
        digest_part(h, &v);
    }
    mdb_cursor_close(mc);
    *out = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return rc == MDB_NOTFOUND ? CHATD_OK : evlog_status(rc);
}
