/*
 * userfeed — see userfeed.h. Every write goes through the caller's
 * transaction; nothing is cached here, so an aborted child transaction
 * simply takes its entries with it.
 */
#include "ws/userfeed.h"

#include <stdlib.h>
#include <string.h>

struct userfeed {
    struct evlog *log;
    struct evlog_store *feed;    /* user '\0' pos -> seq */
    struct evlog_store *feedpos; /* user -> last pos */
    struct evlog_store *feedseq; /* seq user -> pos */
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
        rc = evlog_store_open(log, "host", "feedpos", &uf->feedpos);
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
    free(uf);
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

int userfeed_last_pos(struct userfeed *uf, struct evlog_txn *txn,
                      const char *user_id, uint64_t *out)
{
    size_t ulen;
    int rc = user_len(user_id, &ulen);
    if (rc != CHATD_OK)
        return rc;
    rc = get_u64(txn, uf->feedpos, user_id, ulen, out);
    if (rc == CHATD_ENOTFOUND) {
        *out = 0;
        return CHATD_OK;
    }
    return rc;
}

int userfeed_deliver_pos(struct userfeed *uf, struct evlog_txn *txn,
                         const char *user_id, uint64_t seq,
                         uint64_t *pos_out)
{
    unsigned char sk[SEQ_KEY_MAX], fk[FEED_KEY_MAX], val[8];
    size_t ulen;
    uint64_t pos;

    if (seq == 0 || user_len(user_id, &ulen) != CHATD_OK)
        return CHATD_EINVAL;
    if (!evlog_txn_writable(txn))
        return CHATD_ESTATE;
    size_t sklen = seq_key(sk, seq, user_id, ulen);
    int rc = get_u64(txn, uf->feedseq, sk, sklen, &pos);
    if (rc == CHATD_OK)
        goto done; /* already delivered: idempotent */
    if (rc != CHATD_ENOTFOUND)
        return rc;
    rc = userfeed_last_pos(uf, txn, user_id, &pos);
    if (rc != CHATD_OK)
        return rc;
    pos++;
    evlog_be64_put(val, pos);
    rc = evlog_put_kv(txn, uf->feedpos, user_id, ulen, val, 8);
    if (rc == CHATD_OK)
        rc = evlog_put_kv(txn, uf->feedseq, sk, sklen, val, 8);
    if (rc != CHATD_OK)
        return rc;
    evlog_be64_put(val, seq);
    rc = evlog_put_kv(txn, uf->feed, fk, feed_key(fk, user_id, ulen, pos),
                      val, 8);
    if (rc != CHATD_OK)
        return rc;
done:
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
        rc = evlog_store_clear(txn, uf->feedpos);
    if (rc == CHATD_OK)
        rc = evlog_store_clear(txn, uf->feedseq);
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

/* Whether key k is an entry of the feed of user[0..ulen). */
static bool feed_key_is_user(const struct chatd_val *k, const char *user,
                             size_t ulen)
{
    return k->len == ulen + 9 && memcmp(k->data, user, ulen) == 0 &&
           ((const unsigned char *)k->data)[ulen] == 0;
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
