/*
 * userfeed — see userfeed.h. Every write goes through the caller's
 * transaction. The only state kept between calls belongs to one write
 * transaction and is dropped when another begins (a child's abort poisons
 * its transaction, whose batch is then redone in a new one): the
 * last-position cache and the journal of the transaction's deliveries,
 * written to "host/feedseq" by userfeed_flush.
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
    uint64_t seq; /* of the delivery at pos */
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

/* The deliveries of one write transaction, in the order made (so by seq:
 * an event's deliveries are made while it is projected), until
 * userfeed_flush writes one "host/feedseq" record per event. */
struct journal_entry {
    uint64_t seq, pos;
    uint32_t off; /* of the user id in names */
    uint8_t len;
};

struct journal {
    uint64_t txn_id;
    struct journal_entry *v;
    size_t n, cap;
    char *names;
    size_t names_len, names_cap;
};

/* A journal bigger than this is freed, not kept, when a txn starts. */
#define JOURNAL_KEEP_MAX 65536

struct userfeed {
    struct evlog *log;
    struct evlog_store *feed;    /* user '\0' pos -> seq */
    struct evlog_store *feedseq; /* seq -> the event's recipients */
    struct pos_cache cache;      /* writer thread */
    struct journal journal;      /* writer thread */
};

#define FEED_KEY_MAX (USERFEED_USER_MAX + 1 + 8)
#define RECIPIENT_MAX (1 + USERFEED_USER_MAX + 8) /* len, id, pos */

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
    free(uf->journal.v);
    free(uf->journal.names);
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

/* Copies user[0..ulen) to the end of an arena of names; its offset in
 * *off. False if out of memory. */
static bool names_add(char **names, size_t *len, size_t *cap,
                      const char *user, size_t ulen, uint32_t *off)
{
    if (*len + ulen > *cap) {
        size_t ncap = *cap ? *cap * 2 : 4096;
        while (ncap < *len + ulen)
            ncap *= 2;
        char *nn = realloc(*names, ncap);
        if (!nn)
            return false;
        *names = nn;
        *cap = ncap;
    }
    memcpy(*names + *len, user, ulen);
    *off = (uint32_t)*len;
    *len += ulen;
    return true;
}

static void cache_fill(struct pos_cache *pc, struct pos_slot *sl,
                       const char *user, size_t ulen, uint32_t hash,
                       uint64_t pos, uint64_t seq)
{
    if (!names_add(&pc->names, &pc->names_len, &pc->names_cap, user, ulen,
                   &sl->off))
        return; /* stays empty: looked up in the store next time */
    sl->len = (uint8_t)ulen;
    sl->hash = hash;
    sl->pos = pos;
    sl->seq = seq;
    sl->gen = pc->gen;
    pc->n++;
}

/* --- the journal of the txn's deliveries (struct journal) --- */

/* Empties the journal for txn_id if it holds another txn's deliveries. */
static void journal_restart(struct journal *j, uint64_t txn_id)
{
    if (j->txn_id == txn_id)
        return;
    j->txn_id = txn_id;
    j->n = 0;
    j->names_len = 0;
    if (j->cap > JOURNAL_KEEP_MAX) { /* a rebuild's or a huge batch's */
        free(j->v);
        free(j->names);
        *j = (struct journal){.txn_id = txn_id};
    }
}

static int journal_add(struct journal *j, uint64_t txn_id, const char *user,
                       size_t ulen, uint64_t seq, uint64_t pos)
{
    journal_restart(j, txn_id);
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 256;
        struct journal_entry *nv = realloc(j->v, cap * sizeof *nv);
        if (!nv)
            return CHATD_ENOMEM;
        j->v = nv;
        j->cap = cap;
    }
    struct journal_entry *e = &j->v[j->n];
    if (!names_add(&j->names, &j->names_len, &j->names_cap, user, ulen,
                   &e->off))
        return CHATD_ENOMEM;
    e->seq = seq;
    e->pos = pos;
    e->len = (uint8_t)ulen;
    j->n++;
    return CHATD_OK;
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

/* The user's last position in the store and its seq (0 and 0: none). */
static int feed_last(struct userfeed *uf, struct evlog_txn *txn,
                     const char *user, size_t ulen, uint64_t *pos,
                     uint64_t *seq)
{
    unsigned char fk[FEED_KEY_MAX];
    struct evlog_cursor *c;
    struct chatd_val k, v;
    int rc = evlog_cursor_open(txn, uf->feed, &c);
    if (rc != CHATD_OK)
        return rc;
    size_t klen = feed_key(fk, user, ulen, UINT64_MAX);
    rc = evlog_cursor_seek(c, CHATD_SEEK_LE, fk, klen, &k, &v);
    *pos = *seq = 0;
    if (rc == CHATD_OK && feed_key_is_user(&k, user, ulen)) {
        if (v.len != 8)
            rc = CHATD_EIO;
        else {
            *pos = evlog_be64_get((const unsigned char *)k.data + ulen + 1);
            *seq = evlog_be64_get(v.data);
        }
    }
    evlog_cursor_close(c);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

int userfeed_last_pos(struct userfeed *uf, struct evlog_txn *txn,
                      const char *user_id, uint64_t *out)
{
    uint64_t seq;
    size_t ulen;
    int rc = user_len(user_id, &ulen);
    if (rc != CHATD_OK)
        return rc;
    return feed_last(uf, txn, user_id, ulen, out, &seq);
}

int userfeed_deliver_pos(struct userfeed *uf, struct evlog_txn *txn,
                         const char *user_id, uint64_t seq,
                         uint64_t *pos_out)
{
    unsigned char fk[FEED_KEY_MAX], val[8];
    size_t ulen;
    uint64_t pos, last_seq;

    if (seq == 0 || user_len(user_id, &ulen) != CHATD_OK)
        return CHATD_EINVAL;
    if (!evlog_txn_writable(txn))
        return CHATD_ESTATE;
    uint64_t txn_id = evlog_txn_id(txn);
    uint32_t hash = (uint32_t)core_hash(user_id, ulen);
    struct pos_slot *sl = cache_slot(&uf->cache, txn_id, user_id, ulen, hash);
    bool cached = sl && sl->gen == uf->cache.gen;
    int rc = CHATD_OK;
    if (cached) {
        pos = sl->pos;
        last_seq = sl->seq;
    } else {
        rc = feed_last(uf, txn, user_id, ulen, &pos, &last_seq);
    }
    if (rc != CHATD_OK)
        return rc;
    /* Events are delivered in log order, so a delivery made already can
     * only be the user's last one. */
    if (last_seq == seq) {
        if (pos_out)
            *pos_out = pos;
        return CHATD_OK;
    }
    pos++;
    evlog_be64_put(val, seq);
    rc = evlog_put_kv(txn, uf->feed, fk, feed_key(fk, user_id, ulen, pos),
                      val, 8);
    if (rc == CHATD_OK)
        rc = journal_add(&uf->journal, txn_id, user_id, ulen, seq, pos);
    if (rc != CHATD_OK)
        return rc; /* the put cannot be taken back: the txn must not commit */
    if (cached) {
        sl->pos = pos;
        sl->seq = seq;
    } else if (sl) {
        cache_fill(&uf->cache, sl, user_id, ulen, hash, pos, seq);
    }
    if (pos_out)
        *pos_out = pos;
    return CHATD_OK;
}

int userfeed_deliver(struct userfeed *uf, struct evlog_txn *txn,
                     const char *user_id, uint64_t seq)
{
    return userfeed_deliver_pos(uf, txn, user_id, seq, NULL);
}

/* One "host/feedseq" record: the recipients of one event, each as
 * len(1) user_id(len) pos(8 BE). */
static int put_recipients(struct userfeed *uf, struct evlog_txn *txn,
                          const struct journal_entry *e, size_t n,
                          unsigned char **buf, size_t *cap)
{
    unsigned char key[8];
    size_t need = n * RECIPIENT_MAX, len = 0;
    if (need > *cap) {
        unsigned char *nb = realloc(*buf, need);
        if (!nb)
            return CHATD_ENOMEM;
        *buf = nb;
        *cap = need;
    }
    for (size_t i = 0; i < n; i++) {
        (*buf)[len++] = e[i].len;
        memcpy(*buf + len, uf->journal.names + e[i].off, e[i].len);
        len += e[i].len;
        evlog_be64_put(*buf + len, e[i].pos);
        len += 8;
    }
    evlog_be64_put(key, e[0].seq);
    return evlog_put_kv(txn, uf->feedseq, key, 8, *buf, len);
}

int userfeed_flush(struct userfeed *uf, struct evlog_txn *txn)
{
    struct journal *j = &uf->journal;
    unsigned char *buf = NULL;
    size_t cap = 0;
    int rc = CHATD_OK;

    if (!uf || !evlog_txn_writable(txn))
        return uf ? CHATD_ESTATE : CHATD_OK;
    if (j->txn_id != evlog_txn_id(txn))
        return CHATD_OK; /* nothing delivered in this txn */
    for (size_t i = 0, end; rc == CHATD_OK && i < j->n; i = end) {
        for (end = i + 1; end < j->n && j->v[end].seq == j->v[i].seq; end++)
            ;
        if (end < j->n && j->v[end].seq < j->v[i].seq)
            rc = CHATD_ESTATE; /* not in log order: a caller's bug */
        else
            rc = put_recipients(uf, txn, &j->v[i], end - i, &buf, &cap);
    }
    free(buf);
    if (rc == CHATD_OK)
        j->n = j->names_len = 0;
    return rc;
}

void userfeed_discard(struct userfeed *uf)
{
    if (!uf)
        return;
    uf->journal.txn_id = 0;
    uf->journal.n = uf->journal.names_len = 0;
}

int userfeed_clear(struct userfeed *uf, struct evlog_txn *txn)
{
    int rc = evlog_store_clear(txn, uf->feed);
    if (rc == CHATD_OK)
        rc = evlog_store_clear(txn, uf->feedseq);
    uf->cache.txn_id = 0; /* its positions are gone */
    userfeed_discard(uf);
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
        if (k.len != 8) {
            rc = CHATD_EIO;
            break;
        }
        uint64_t seq = evlog_be64_get(k.data);
        if (seq > last_seq)
            break;
        const unsigned char *p = v.data, *end = p + v.len;
        while (rc == CHATD_OK && p < end) {
            size_t ulen = *p++;
            if (ulen == 0 || ulen > USERFEED_USER_MAX ||
                (size_t)(end - p) < ulen + 8) {
                rc = CHATD_EIO;
                break;
            }
            memcpy(user, p, ulen);
            user[ulen] = 0;
            rc = fn(arg, seq, user, evlog_be64_get(p + ulen));
            p += ulen + 8;
        }
        if (rc != CHATD_OK)
            break;
        rc = evlog_cursor_step(c, 1, &k, &v);
    }
    evlog_cursor_close(c);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}
