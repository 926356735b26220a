/*
 * userfeed — see userfeed.h. Every write goes through the caller's
 * transaction, and all of them happen in userfeed_flush: until the end of
 * the transaction a delivery is only journaled (its position assigned).
 * The flush then adds each user's new positions to their feed chunks (one
 * write per user and chunk, however many deliveries the user got) and
 * writes each event's recipients as one "host/feedseq" record.
 *
 * The journal and the table of the users it names (last position, last
 * seq, their journal entries) belong to one write transaction and are
 * dropped when another begins (a child's abort poisons its transaction,
 * whose batch is then redone in a new one).
 */
#include "ws/userfeed.h"

#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define NONE UINT32_MAX

/* Positions per "host/feed" record: 1 KiB values, well below what LMDB
 * keeps in a leaf page. */
#define FEED_CHUNK 128

/* Tables bigger than this (a rebuild's, a huge batch's) are freed rather
 * than kept when the next transaction starts. */
#define KEEP_MAX 65536

/* A user delivered to in the current txn. */
struct fed_user {
    uint64_t pos; /* last position assigned */
    uint64_t seq; /* of the delivery at pos */
    uint32_t off; /* of the user id in names */
    uint32_t hash;
    uint32_t first, last; /* the user's unflushed journal entries */
    uint8_t len;
};

struct journal_entry {
    uint64_t seq, pos;
    uint32_t user; /* index in users */
    uint32_t next; /* the same user's next entry (NONE: last) */
};

struct index_slot {
    uint32_t gen, user;
};

/* Everything userfeed keeps for one write txn. */
struct txn_state {
    uint64_t txn_id;
    uint32_t gen;             /* tags current index slots */
    struct index_slot *index; /* open addressing over users, <= half full */
    size_t index_cap;
    struct fed_user *users;
    size_t nusers, users_cap;
    char *names;
    size_t names_len, names_cap;
    struct journal_entry *journal;
    size_t njournal, journal_cap;
};

struct userfeed {
    struct evlog *log;
    struct evlog_store *feed;    /* user '\0' first_pos -> seqs */
    struct evlog_store *feedseq; /* seq -> the event's recipients */
    struct txn_state st;         /* writer thread */
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

/* The first position of the record that holds `pos` (>= 1). */
static uint64_t chunk_first(uint64_t pos)
{
    return (pos - 1) / FEED_CHUNK * FEED_CHUNK + 1;
}

static size_t feed_key(unsigned char *k, const char *user, size_t ulen,
                       uint64_t first)
{
    memcpy(k, user, ulen);
    k[ulen] = 0;
    core_be64_put(k + ulen + 1, first);
    return ulen + 1 + 8;
}

/* Whether key k is a record of the feed of user[0..ulen). */
static bool feed_key_is_user(const struct chatd_val *k, const char *user,
                             size_t ulen)
{
    return k->len == ulen + 9 && memcmp(k->data, user, ulen) == 0 &&
           ((const unsigned char *)k->data)[ulen] == 0;
}

/* A record's first position and entry count; CHATD_EIO if it is not one. */
static int chunk_decode(const struct chatd_val *k, const struct chatd_val *v,
                        size_t ulen, uint64_t *first, size_t *n)
{
    *first = core_be64_get((const unsigned char *)k->data + ulen + 1);
    *n = v->len / 8;
    if (v->len % 8 != 0 || *n == 0 || *n > FEED_CHUNK || *first == 0 ||
        chunk_first(*first) != *first)
        return CHATD_EIO;
    return CHATD_OK;
}

static uint64_t chunk_seq(const struct chatd_val *v, size_t i)
{
    return core_be64_get((const unsigned char *)v->data + i * 8);
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

static void state_free(struct txn_state *t)
{
    free(t->index);
    free(t->users);
    free(t->names);
    free(t->journal);
    *t = (struct txn_state){0};
}

void userfeed_close(struct userfeed *uf)
{
    if (!uf)
        return;
    state_free(&uf->st);
    free(uf);
}

/* --- the txn's users and journal (struct txn_state) --- */

/* Starts over for txn_id unless the state is that txn's already. */
static void state_begin(struct txn_state *t, uint64_t txn_id)
{
    if (t->txn_id == txn_id)
        return;
    if (t->users_cap > KEEP_MAX || t->journal_cap > KEEP_MAX)
        state_free(t);
    t->txn_id = txn_id;
    t->nusers = t->names_len = t->njournal = 0;
    if (++t->gen == 0) { /* wrapped: old tags could look current */
        if (t->index)
            memset(t->index, 0, t->index_cap * sizeof *t->index);
        t->gen = 1;
    }
}

static struct index_slot *index_probe(struct txn_state *t, const char *user,
                                      size_t ulen, uint32_t hash)
{
    for (size_t i = hash & (t->index_cap - 1);; i = (i + 1) & (t->index_cap - 1)) {
        struct index_slot *s = &t->index[i];
        if (s->gen != t->gen)
            return s;
        const struct fed_user *u = &t->users[s->user];
        if (u->hash == hash && u->len == ulen &&
            memcmp(t->names + u->off, user, ulen) == 0)
            return s;
    }
}

/* Room in the index for one more user (rebuilt at twice the size). */
static int index_reserve(struct txn_state *t)
{
    if ((t->nusers + 1) * 2 <= t->index_cap)
        return CHATD_OK;
    size_t cap = t->index_cap ? t->index_cap * 2 : 64;
    struct index_slot *ni = calloc(cap, sizeof *ni);
    if (!ni)
        return CHATD_ENOMEM;
    free(t->index);
    t->index = ni;
    t->index_cap = cap;
    t->gen = 1;
    for (uint32_t i = 0; i < t->nusers; i++) {
        const struct fed_user *u = &t->users[i];
        struct index_slot *s = index_probe(t, t->names + u->off, u->len, u->hash);
        s->gen = t->gen;
        s->user = i;
    }
    return CHATD_OK;
}

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap * 2 : 256;
    while (n < need)
        n *= 2;
    void *np = realloc(p, n * size);
    if (np)
        *cap = n;
    return np;
}

/* Adds a user whose last stored position is pos (at seq); *idx its index. */
static int user_add(struct txn_state *t, const char *user, size_t ulen,
                    uint32_t hash, uint64_t pos, uint64_t seq, uint32_t *idx)
{
    int rc = index_reserve(t);
    if (rc != CHATD_OK)
        return rc;
    struct fed_user *nu = grow(t->users, &t->users_cap, t->nusers + 1,
                               sizeof *nu);
    if (!nu)
        return CHATD_ENOMEM;
    t->users = nu;
    char *nn = grow(t->names, &t->names_cap, t->names_len + ulen, 1);
    if (!nn)
        return CHATD_ENOMEM;
    t->names = nn;
    memcpy(t->names + t->names_len, user, ulen);
    t->users[t->nusers] = (struct fed_user){.pos = pos, .seq = seq,
                                            .off = (uint32_t)t->names_len,
                                            .hash = hash, .first = NONE,
                                            .last = NONE, .len = (uint8_t)ulen};
    t->names_len += ulen;
    struct index_slot *s = index_probe(t, user, ulen, hash);
    s->gen = t->gen;
    s->user = (uint32_t)t->nusers;
    *idx = (uint32_t)t->nusers++;
    return CHATD_OK;
}

static int journal_add(struct txn_state *t, uint32_t idx, uint64_t seq,
                       uint64_t pos)
{
    struct journal_entry *nj = grow(t->journal, &t->journal_cap,
                                    t->njournal + 1, sizeof *nj);
    if (!nj)
        return CHATD_ENOMEM;
    t->journal = nj;
    uint32_t j = (uint32_t)t->njournal++;
    struct fed_user *u = &t->users[idx];
    t->journal[j] = (struct journal_entry){.seq = seq, .pos = pos,
                                           .user = idx, .next = NONE};
    if (u->last == NONE)
        u->first = j;
    else
        t->journal[u->last].next = j;
    u->last = j;
    u->pos = pos;
    u->seq = seq;
    return CHATD_OK;
}

/* --- reading the store --- */

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
        uint64_t first;
        size_t n;
        rc = chunk_decode(&k, &v, ulen, &first, &n);
        if (rc == CHATD_OK) {
            *pos = first + n - 1;
            *seq = chunk_seq(&v, n - 1);
        }
    }
    evlog_cursor_close(c);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

/* The current write txn's entry for the user, if it has one. */
static const struct fed_user *txn_user(struct userfeed *uf,
                                       struct evlog_txn *txn,
                                       const char *user, size_t ulen)
{
    struct txn_state *t = &uf->st;
    if (!evlog_txn_writable(txn) || t->txn_id != evlog_txn_id(txn) ||
        t->index_cap == 0)
        return NULL;
    struct index_slot *s =
        index_probe(t, user, ulen, (uint32_t)core_hash(user, ulen));
    return s->gen == t->gen ? &t->users[s->user] : NULL;
}

int userfeed_last_pos(struct userfeed *uf, struct evlog_txn *txn,
                      const char *user_id, uint64_t *out)
{
    uint64_t seq;
    size_t ulen;
    int rc = user_len(user_id, &ulen);
    if (rc != CHATD_OK)
        return rc;
    const struct fed_user *u = txn_user(uf, txn, user_id, ulen);
    if (u) {
        *out = u->pos;
        return CHATD_OK;
    }
    return feed_last(uf, txn, user_id, ulen, out, &seq);
}

/* --- writing --- */

int userfeed_deliver_pos(struct userfeed *uf, struct evlog_txn *txn,
                         const char *user_id, uint64_t seq,
                         uint64_t *pos_out)
{
    size_t ulen;

    if (seq == 0 || user_len(user_id, &ulen) != CHATD_OK)
        return CHATD_EINVAL;
    if (!evlog_txn_writable(txn))
        return CHATD_ESTATE;
    struct txn_state *t = &uf->st;
    state_begin(t, evlog_txn_id(txn));
    uint32_t hash = (uint32_t)core_hash(user_id, ulen), idx;
    struct index_slot *s =
        t->index_cap ? index_probe(t, user_id, ulen, hash) : NULL;
    int rc = CHATD_OK;
    if (s && s->gen == t->gen) {
        idx = s->user;
    } else {
        uint64_t pos, last;
        rc = feed_last(uf, txn, user_id, ulen, &pos, &last);
        if (rc == CHATD_OK)
            rc = user_add(t, user_id, ulen, hash, pos, last, &idx);
        if (rc != CHATD_OK)
            return rc;
    }
    struct fed_user *u = &t->users[idx];
    /* Events are delivered in log order, so a delivery made already can
     * only be the user's last one. */
    if (u->seq != seq) {
        rc = journal_add(t, idx, seq, u->pos + 1);
        /* the journal cannot forget it: an abort must redo the batch */
        evlog_txn_mark_written(txn);
    }
    if (rc == CHATD_OK && pos_out)
        *pos_out = t->users[idx].pos;
    return rc;
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
    const struct txn_state *t = &uf->st;
    unsigned char key[8];
    size_t len = 0;
    unsigned char *nb = grow(*buf, cap, n * RECIPIENT_MAX, 1);
    if (!nb)
        return CHATD_ENOMEM;
    *buf = nb;
    for (size_t i = 0; i < n; i++) {
        const struct fed_user *u = &t->users[e[i].user];
        nb[len++] = u->len;
        memcpy(nb + len, t->names + u->off, u->len);
        len += u->len;
        core_be64_put(nb + len, e[i].pos);
        len += 8;
    }
    core_be64_put(key, e[0].seq);
    return evlog_put_kv(txn, uf->feedseq, key, 8, nb, len);
}

static int put_chunk(struct userfeed *uf, struct evlog_txn *txn,
                     const struct fed_user *u, uint64_t first,
                     const unsigned char *seqs, size_t n)
{
    unsigned char fk[FEED_KEY_MAX];
    size_t klen = feed_key(fk, uf->st.names + u->off, u->len, first);
    return evlog_put_kv(txn, uf->feed, fk, klen, seqs, n * 8);
}

/* The user's unflushed positions into their records: the last record
 * (read back if it has entries already) filled up to FEED_CHUNK, then new
 * ones. Records always start at a multiple of FEED_CHUNK plus one, so the
 * store is the same whatever the transactions were. */
static int flush_user(struct userfeed *uf, struct evlog_txn *txn,
                      struct fed_user *u)
{
    const struct txn_state *t = &uf->st;
    unsigned char seqs[FEED_CHUNK * 8];
    uint64_t pos = t->journal[u->first].pos, first = chunk_first(pos);
    size_t n = 0;
    int rc = CHATD_OK;

    if (pos != first) { /* the record holding pos - 1 goes on */
        unsigned char fk[FEED_KEY_MAX];
        struct chatd_val v;
        rc = evlog_get_kv(txn, uf->feed, fk,
                          feed_key(fk, t->names + u->off, u->len, first), &v);
        if (rc == CHATD_OK && v.len != (pos - first) * 8)
            rc = CHATD_EIO;
        if (rc != CHATD_OK)
            return rc == CHATD_ENOTFOUND ? CHATD_EIO : rc;
        n = v.len / 8;
        memcpy(seqs, v.data, v.len);
    }
    for (uint32_t j = u->first; rc == CHATD_OK && j != NONE;
         j = t->journal[j].next) {
        core_be64_put(seqs + n * 8, t->journal[j].seq);
        if (++n == FEED_CHUNK) {
            rc = put_chunk(uf, txn, u, first, seqs, n);
            first += FEED_CHUNK;
            n = 0;
        }
    }
    if (rc == CHATD_OK && n > 0)
        rc = put_chunk(uf, txn, u, first, seqs, n);
    u->first = u->last = NONE;
    return rc;
}

int userfeed_flush(struct userfeed *uf, struct evlog_txn *txn)
{
    unsigned char *buf = NULL;
    size_t cap = 0;
    int rc = CHATD_OK;

    if (!uf)
        return CHATD_OK;
    if (!evlog_txn_writable(txn))
        return CHATD_ESTATE;
    struct txn_state *t = &uf->st;
    if (t->txn_id != evlog_txn_id(txn))
        return CHATD_OK; /* nothing delivered in this txn */
    for (size_t i = 0, end; rc == CHATD_OK && i < t->njournal; i = end) {
        for (end = i + 1;
             end < t->njournal && t->journal[end].seq == t->journal[i].seq;
             end++)
            ;
        if (end < t->njournal && t->journal[end].seq < t->journal[i].seq)
            rc = CHATD_ESTATE; /* not in log order: a caller's bug */
        else
            rc = put_recipients(uf, txn, &t->journal[i], end - i, &buf, &cap);
    }
    free(buf);
    for (size_t i = 0; rc == CHATD_OK && i < t->nusers; i++)
        if (t->users[i].first != NONE)
            rc = flush_user(uf, txn, &t->users[i]);
    if (rc == CHATD_OK)
        t->njournal = 0;
    return rc;
}

void userfeed_discard(struct userfeed *uf)
{
    if (uf)
        uf->st.txn_id = 0;
}

int userfeed_clear(struct userfeed *uf, struct evlog_txn *txn)
{
    int rc = evlog_store_clear(txn, uf->feed);
    if (rc == CHATD_OK)
        rc = evlog_store_clear(txn, uf->feedseq);
    userfeed_discard(uf); /* its positions are gone */
    return rc;
}

/* --- reading --- */

int userfeed_get(struct userfeed *uf, struct evlog_txn *txn,
                 const char *user_id, uint64_t pos, uint64_t *seq_out)
{
    unsigned char fk[FEED_KEY_MAX];
    struct chatd_val v;
    size_t ulen;
    int rc = user_len(user_id, &ulen);
    if (rc != CHATD_OK)
        return rc;
    if (pos == 0)
        return CHATD_ENOTFOUND;
    uint64_t first = chunk_first(pos);
    rc = evlog_get_kv(txn, uf->feed, fk, feed_key(fk, user_id, ulen, first),
                      &v);
    if (rc != CHATD_OK)
        return rc;
    if (v.len % 8 != 0 || v.len / 8 > FEED_CHUNK)
        return CHATD_EIO;
    if (pos - first >= v.len / 8)
        return CHATD_ENOTFOUND;
    *seq_out = chunk_seq(&v, pos - first);
    return CHATD_OK;
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
    size_t klen = feed_key(fk, user_id, ulen, chunk_first(after + 1));
    bool full = false;
    rc = evlog_cursor_seek(c, CHATD_SEEK_GE, fk, klen, &k, &v);
    while (rc == CHATD_OK && feed_key_is_user(&k, user_id, ulen)) {
        uint64_t first;
        size_t cn;
        rc = chunk_decode(&k, &v, ulen, &first, &cn);
        for (size_t i = 0; rc == CHATD_OK && i < cn; i++) {
            if (first + i <= after)
                continue;
            if (max != 0 && n == max) {
                full = true;
                break;
            }
            n++;
            rc = fn(arg, first + i, chunk_seq(&v, i));
        }
        if (rc != CHATD_OK || full)
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
    core_be64_put(sk, first_seq);
    rc = evlog_cursor_seek(c, CHATD_SEEK_GE, sk, 8, &k, &v);
    while (rc == CHATD_OK) {
        if (k.len != 8) {
            rc = CHATD_EIO;
            break;
        }
        uint64_t seq = core_be64_get(k.data);
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
            rc = fn(arg, seq, user, ulen, core_be64_get(p + ulen));
            p += ulen + 8;
        }
        if (rc != CHATD_OK)
            break;
        rc = evlog_cursor_step(c, 1, &k, &v);
    }
    evlog_cursor_close(c);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}
