/*
 * userfeed — see userfeed.h. Every write goes through the caller's
 * transaction. The only state kept between calls is the last-position
 * cache below, which belongs to one write transaction and is dropped when
 * another begins (a child's abort poisons its transaction, whose batch is
 * then redone in a new one).
 */
#include "ws/userfeed.h"

#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* Each user's last position as this write transaction left it, so a
 * batch that feeds the same user many times (a 100-member room, or a
 * rebuild) looks it up once. Valid only for the txn whose id it holds:
 * an abort, or a batch redone without a command, starts a new txn and so
 * an empty cache. Entries are tagged with a generation rather than
 * cleared, so starting over costs nothing. Open addressing, power-of-two
 * capacity, at most half full; past POS_CACHE_MAX users a txn simply
 * looks the others up in the store. */
#define POS_CACHE_MAX 65536

struct pos_slot {
    uint64_t pos;
    uint32_t gen;
    uint32_t off; /* of the user id in names */
    uint32_t hash;
    uint8_t len;
};

struct pos_cache {
    uint64_t txn_id;
    uint32_t gen;
    bool overflowed; /* a user found no room in this txn */
    struct pos_slot *slots;
    size_t cap, n;
    char *names;
    size_t names_len, names_cap;
};

struct userfeed {
    struct evlog *log;
    struct evlog_store *feed;    /* user '\0' pos -> seq */
    struct evlog_store *feedseq; /* seq user -> pos */
    struct pos_cache cache;      /* writer thread */
};

#define FEED_KEY_MAX (USERFEED_USER_MAX + 1 + 8)
#define SEQ_KEY_MAX (8 + USERFEED_USER_MAX)

static int user_len(const char *user_id, size_t *len)
{
    if (!user_id)
        return CHATD_EINVAL;
    size_t n = strnlen(user_id, USERFEED_USER_MAX + 1);
    if (n == 0 || n > USERFEED_USER_MAX)
        return CHATD_EINVAL;
    *len = n;
    return CHATD_OK;
}

static size_t feed_key(unsigned char *k, const char *user, size_t ulen,
                       uint64_t pos)
{
    memcpy(k, user, ulen);
    k[ulen] = 0;
    evlog_be64_put(k + ulen + 1, pos);
    return ulen + 1 + 8;
}

static size_t seq_key(unsigned char *k, uint64_t seq, const char *user,
                      size_t ulen)
{
    evlog_be64_put(k, seq);
    memcpy(k + 8, user, ulen);
    return 8 + ulen;
}

int userfeed_open(struct userfeed **out, struct evlog *log)
{
    struct userfeed *uf = calloc(1, sizeof *uf);
    if (!uf)
        return CHATD_ENOMEM;
    uf->log = log;
    int rc = evlog_store_open(log, "host", "feed", &uf->feed);
    if (rc == CHATD_OK)
        rc = evlog_store_open(log, "host", "feedseq", &uf->feedseq);
    if (rc != CHATD_OK) {
        free(uf);
        return rc;
    }
    *out = uf;
    return CHATD_OK;
}

void userfeed_close(struct userfeed *uf)
{
    if (!uf)
        return;
    free(uf->cache.slots);
    free(uf->cache.names);
    free(uf);
}

/* --- the last-position cache (struct pos_cache) --- */

/* Empties the cache for a new txn; a cache that overflowed in the last
 * one doubles first (up to POS_CACHE_MAX users). */
static void cache_restart(struct pos_cache *pc, uint64_t txn_id)
{
    pc->txn_id = txn_id;
    pc->n = 0;
    pc->names_len = 0;
    size_t cap = pc->cap == 0 ? 64
                 : pc->overflowed && pc->cap < POS_CACHE_MAX * 2 ? pc->cap * 2
                                                                 : pc->cap;
    pc->overflowed = false;
    if (cap != pc->cap) {
        struct pos_slot *ns = calloc(cap, sizeof *ns);
        if (ns) {
            free(pc->slots);
            pc->slots = ns;
            pc->cap = cap;
            pc->gen = 0;
        }
    }
    if (++pc->gen == 0) { /* wrapped: old tags could look current */
        memset(pc->slots, 0, pc->cap * sizeof *pc->slots);
        pc->gen = 1;
    }
}

/* The slot of `user` in txn's cache (current if sl->gen == pc->gen), or
 * the empty slot where it may go; NULL when it is not there and the cache
 * takes no more in this txn. */
static struct pos_slot *cache_slot(struct pos_cache *pc, uint64_t txn_id,
                                   const char *user, size_t ulen,
                                   uint32_t hash)
{
    if (pc->txn_id != txn_id || pc->cap == 0)
        cache_restart(pc, txn_id);
    if (pc->cap == 0)
        return NULL; /* out of memory: uncached */
    for (size_t i = hash & (pc->cap - 1);; i = (i + 1) & (pc->cap - 1)) {
        struct pos_slot *sl = &pc->slots[i];
        if (sl->gen != pc->gen) {
            if ((pc->n + 1) * 2 <= pc->cap)
                return sl;
            pc->overflowed = true;
            return NULL;
        }
        if (sl->hash == hash && sl->len == ulen &&
            memcmp(pc->names + sl->off, user, ulen) == 0)
            return sl;
    }
}

static void cache_fill(struct pos_cache *pc, struct pos_slot *sl,
                       const char *user, size_t ulen, uint32_t hash,
                       uint64_t pos)
{
    if (pc->names_len + ulen > pc->names_cap) {
        size_t cap = pc->names_cap ? pc->names_cap * 2 : 4096;
        while (cap < pc->names_len + ulen)
            cap *= 2;
        char *nn = realloc(pc->names, cap);
        if (!nn)
            return; /* stays empty: looked up in the store next time */
        pc->names = nn;
        pc->names_cap = cap;
    }
    memcpy(pc->names + pc->names_len, user, ulen);
    sl->off = (uint32_t)pc->names_len;
    pc->names_len += ulen;
    sl->len = (uint8_t)ulen;
    sl->hash = hash;
    sl->pos = pos;
    sl->gen = pc->gen;
    pc->n++;
}

static int get_u64(struct evlog_txn *txn, const struct evlog_store *st,
                   const void *key, size_t klen, uint64_t *out)
{
    struct chatd_val v;
    int rc = evlog_get_kv(txn, st, key, klen, &v);
    if (rc != CHATD_OK)
        return rc;
    if (v.len != 8)
        return CHATD_EIO;
    *out = evlog_be64_get(v.data);
    return CHATD_OK;
}

/* Whether key k is an entry of the feed of user[0..ulen). */
static bool feed_key_is_user(const struct chatd_val *k, const char *user,
                             size_t ulen)
{
    return k->len == ulen + 9 && memcmp(k->data, user, ulen) == 0 &&
           ((const unsigned char *)k->data)[ulen] == 0;
}

/* The user's last position in the store (0: none). */
static int feed_last(struct userfeed *uf, struct evlog_txn *txn,
                     const char *user, size_t ulen, uint64_t *out)
{
    unsigned char fk[FEED_KEY_MAX];
    struct evlog_cursor *c;
    struct chatd_val k, v;
    int rc = evlog_cursor_open(txn, uf->feed, &c);
    if (rc != CHATD_OK)
        return rc;
    size_t klen = feed_key(fk, user, ulen, UINT64_MAX);
    rc = evlog_cursor_seek(c, CHATD_SEEK_LE, fk, klen, &k, &v);
    *out = 0;
    if (rc == CHATD_OK && feed_key_is_user(&k, user, ulen))
        *out = evlog_be64_get((const unsigned char *)k.data + ulen + 1);
    evlog_cursor_close(c);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

int userfeed_last_pos(struct userfeed *uf, struct evlog_txn *txn,
                      const char *user_id, uint64_t *out)
{
    size_t ulen;
    int rc = user_len(user_id, &ulen);
    if (rc != CHATD_OK)
        return rc;
    return feed_last(uf, txn, user_id, ulen, out);
}

int userfeed_deliver_pos(struct userfeed *uf, struct evlog_txn *txn,
                         const char *user_id, uint64_t seq,
                         uint64_t *pos_out)
{
    unsigned char sk[SEQ_KEY_MAX], fk[FEED_KEY_MAX], val[8];
    struct chatd_val had;
    size_t ulen;
    uint64_t pos;

    if (seq == 0 || user_len(user_id, &ulen) != CHATD_OK)
        return CHATD_EINVAL;
    if (!evlog_txn_writable(txn))
        return CHATD_ESTATE;
    uint32_t hash = (uint32_t)core_hash(user_id, ulen);
    struct pos_slot *sl = cache_slot(&uf->cache, evlog_txn_id(txn), user_id,
                                     ulen, hash);
    int rc = CHATD_OK;
    if (sl && sl->gen == uf->cache.gen)
        pos = sl->pos;
    else
        rc = feed_last(uf, txn, user_id, ulen, &pos);
    if (rc != CHATD_OK)
        return rc;
    pos++;
    /* The (seq, user) entry first: if it is there, this delivery was made
     * already (idempotent) and nothing else changes. */
    evlog_be64_put(val, pos);
    size_t sklen = seq_key(sk, seq, user_id, ulen);
    rc = evlog_put_kv_new(txn, uf->feedseq, sk, sklen, val, 8, &had);
    if (rc == CHATD_EEXIST) {
        if (had.len != 8)
            return CHATD_EIO;
        if (pos_out)
            *pos_out = evlog_be64_get(had.data);
        return CHATD_OK;
    }
    if (rc != CHATD_OK)
        return rc;
    evlog_be64_put(val, seq);
    rc = evlog_put_kv(txn, uf->feed, fk, feed_key(fk, user_id, ulen, pos),
                      val, 8);
    if (rc != CHATD_OK)
        return rc;
    if (sl && sl->gen == uf->cache.gen)
        sl->pos = pos;
    else if (sl)
        cache_fill(&uf->cache, sl, user_id, ulen, hash, pos);
    if (pos_out)
        *pos_out = pos;
    return CHATD_OK;
}

int userfeed_deliver(struct userfeed *uf, struct evlog_txn *txn,
                     const char *user_id, uint64_t seq)
{
    return userfeed_deliver_pos(uf, txn, user_id, seq, NULL);
}

int userfeed_clear(struct userfeed *uf, struct evlog_txn *txn)
{
    int rc = evlog_store_clear(txn, uf->feed);
    if (rc == CHATD_OK)
        rc = evlog_store_clear(txn, uf->feedseq);
    uf->cache.txn_id = 0; /* its positions are gone */
    return rc;
}

int userfeed_get(struct userfeed *uf, struct evlog_txn *txn,
                 const char *user_id, uint64_t pos, uint64_t *seq_out)
{
    unsigned char fk[FEED_KEY_MAX];
    size_t ulen;
    int rc = user_len(user_id, &ulen);
    if (rc != CHATD_OK)
        return rc;
    return get_u64(txn, uf->feed, fk, feed_key(fk, user_id, ulen, pos),
                   seq_out);
}

int userfeed_range(struct userfeed *uf, struct evlog_txn *txn,
                   const char *user_id, uint64_t after, size_t max,
                   userfeed_entry_fn fn, void *arg, size_t *count_out)
{
    unsigned char fk[FEED_KEY_MAX];
    struct evlog_cursor *c;
    struct chatd_val k, v;
    size_t ulen, n = 0;

    if (count_out)
        *count_out = 0;
    int rc = user_len(user_id, &ulen);
    if (rc != CHATD_OK)
        return rc;
    if (after == UINT64_MAX)
        return CHATD_OK;
    rc = evlog_cursor_open(txn, uf->feed, &c);
    if (rc != CHATD_OK)
        return rc;
    size_t klen = feed_key(fk, user_id, ulen, after + 1);
    rc = evlog_cursor_seek(c, CHATD_SEEK_GE, fk, klen, &k, &v);
    while (rc == CHATD_OK && (max == 0 || n < max)) {
        if (!feed_key_is_user(&k, user_id, ulen))
            break;
        if (v.len != 8) {
            rc = CHATD_EIO;
            break;
        }
        uint64_t pos = evlog_be64_get((const unsigned char *)k.data + ulen + 1);
        n++;
        rc = fn(arg, pos, evlog_be64_get(v.data));
        if (rc != CHATD_OK)
            break;
        rc = evlog_cursor_step(c, 1, &k, &v);
    }
    evlog_cursor_close(c);
    if (count_out)
        *count_out = n;
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

int userfeed_by_seq(struct userfeed *uf, struct evlog_txn *txn,
                    uint64_t first_seq, uint64_t last_seq,
                    userfeed_seq_fn fn, void *arg)
{
    unsigned char sk[8];
    char user[USERFEED_USER_MAX + 1];
    struct evlog_cursor *c;
    struct chatd_val k, v;

    if (first_seq > last_seq)
        return CHATD_OK;
    int rc = evlog_cursor_open(txn, uf->feedseq, &c);
    if (rc != CHATD_OK)
        return rc;
    evlog_be64_put(sk, first_seq);
    rc = evlog_cursor_seek(c, CHATD_SEEK_GE, sk, 8, &k, &v);
    while (rc == CHATD_OK) {
        if (k.len <= 8 || k.len > SEQ_KEY_MAX || v.len != 8) {
            rc = CHATD_EIO;
            break;
        }
        uint64_t seq = evlog_be64_get(k.data);
        if (seq > last_seq)
            break;
        memcpy(user, (const char *)k.data + 8, k.len - 8);
        user[k.len - 8] = 0;
        rc = fn(arg, seq, user, evlog_be64_get(v.data));
        if (rc != CHATD_OK)
            break;
        rc = evlog_cursor_step(c, 1, &k, &v);
    }
    evlog_cursor_close(c);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}
