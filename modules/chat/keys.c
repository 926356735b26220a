#include <string.h>

#include "chatd/module.h"
#include "keys.h"

void chat_be64_put(unsigned char *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
}

uint64_t chat_be64_get(const unsigned char *p)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static int put_bytes(struct chat_key *k, const void *p, size_t n)
{
    if (n > CHAT_KEY_MAX - k->len)
        return CHATD_EINVAL;
    memcpy(k->b + k->len, p, n);
    k->len += n;
    return CHATD_OK;
}

/* Appends s and, if `sep`, the NUL that ends it inside the key. */
static int put_str(struct chat_key *k, const char *s, bool sep)
{
    return put_bytes(k, s, strlen(s) + (sep ? 1 : 0));
}

static int put_u64(struct chat_key *k, uint64_t v)
{
    unsigned char b[8];

    chat_be64_put(b, v);
    return put_bytes(k, b, 8);
}

int chat_key_str(struct chat_key *k, const char *s)
{
    k->len = 0;
    return put_str(k, s, false);
}

int chat_key_pair(struct chat_key *k, const char *a, const char *b)
{
    k->len = 0;
    if (put_str(k, a, true) != CHATD_OK)
        return CHATD_EINVAL;
    return put_str(k, b, false);
}

int chat_key_prefix(struct chat_key *k, const char *a)
{
    k->len = 0;
    return put_str(k, a, true);
}

int chat_key_message(struct chat_key *k, const char *room, uint64_t seq)
{
    k->len = 0;
    if (put_str(k, room, true) != CHATD_OK)
        return CHATD_EINVAL;
    return put_u64(k, seq);
}

int chat_key_inbox(struct chat_key *k, const char *uid, uint64_t activity,
                   const char *room)
{
    k->len = 0;
    if (put_str(k, uid, true) != CHATD_OK || put_u64(k, ~activity) != 0)
        return CHATD_EINVAL;
    return put_str(k, room, false);
}

int chat_key_inbox_after(struct chat_key *k, const char *uid,
                         uint64_t activity)
{
    k->len = 0;
    if (put_str(k, uid, true) != CHATD_OK)
        return CHATD_EINVAL;
    /* ~activity + 1 == ~(activity - 1): the first key of an older room.
     * For activity 0, UINT64_MAX is past every real key (activity >= 1). */
    return put_u64(k, activity == 0 ? UINT64_MAX : ~activity + 1);
}

int chat_key_direct(struct chat_key *k, const char *a, const char *b,
                    const char *context)
{
    const char *lo = strcmp(a, b) <= 0 ? a : b;
    const char *hi = lo == a ? b : a;

    k->len = 0;
    if (put_str(k, lo, true) != CHATD_OK || put_str(k, hi, true) != CHATD_OK)
        return CHATD_EINVAL;
    return put_str(k, context != NULL ? context : "", false);
}

int chat_key_u64(struct chat_key *k, uint64_t v)
{
    k->len = 0;
    return put_u64(k, v);
}

bool chat_key_has_prefix(const void *data, size_t len,
                         const struct chat_key *p)
{
    return len >= p->len && memcmp(data, p->b, p->len) == 0;
}

int chat_key_message_seq(const void *data, size_t len, size_t prefix_len,
                         uint64_t *seq)
{
    if (len != prefix_len + 8)
        return CHATD_EINVAL;
    *seq = chat_be64_get((const unsigned char *)data + prefix_len);
    return CHATD_OK;
}

int chat_key_inbox_decode(const void *data, size_t len, size_t prefix_len,
                          uint64_t *activity, const char **room,
                          size_t *room_len)
{
    const unsigned char *p = data;

    if (len <= prefix_len + 8)
        return CHATD_EINVAL;
    *activity = ~chat_be64_get(p + prefix_len);
    *room = (const char *)p + prefix_len + 8;
    *room_len = len - prefix_len - 8;
    return CHATD_OK;
}

int chat_key_member_uid(const void *data, size_t len, size_t prefix_len,
                        const char **uid, size_t *uid_len)
{
    if (len <= prefix_len)
        return CHATD_EINVAL;
    *uid = (const char *)data + prefix_len;
    *uid_len = len - prefix_len;
    return CHATD_OK;
}

void chat_member_encode(const struct chat_member *m,
                        unsigned char out[CHAT_MEMBER_LEN])
{
    chat_be64_put(out, (uint64_t)m->joined_ms);
    chat_be64_put(out + 8, m->read_seq);
    chat_be64_put(out + 16, m->own_after);
    chat_be64_put(out + 24, m->activity);
}

int chat_member_decode(const void *data, size_t len, struct chat_member *m)
{
    const unsigned char *p = data;

    if (len != CHAT_MEMBER_LEN)
        return CHATD_EINVAL;
    m->joined_ms = (int64_t)chat_be64_get(p);
    m->read_seq = chat_be64_get(p + 8);
    m->own_after = chat_be64_get(p + 16);
    m->activity = chat_be64_get(p + 24);
    return CHATD_OK;
}

size_t chat_msg_hdr_encode(unsigned char out[CHAT_MSG_HDR_MAX], bool deleted,
                           const char *sender, size_t sender_len)
{
    out[0] = CHAT_MSG_FORMAT;
    out[1] = deleted ? CHAT_MSG_DELETED : 0;
    if (sender == NULL) {
        out[2] = 0xFF;
        return 3;
    }
    out[2] = (unsigned char)sender_len;
    memcpy(out + 3, sender, sender_len);
    return 3 + sender_len;
}

int chat_msg_rec_decode(const void *data, size_t len, struct chat_msg_rec *r)
{
    const unsigned char *p = data;
    size_t slen;

    if (len < 3 || p[0] != CHAT_MSG_FORMAT)
        return CHATD_EINVAL;
    r->deleted = (p[1] & CHAT_MSG_DELETED) != 0;
    slen = p[2] == 0xFF ? 0 : p[2];
    if (len < 3 + slen)
        return CHATD_EINVAL;
    r->sender = p[2] == 0xFF ? NULL : (const char *)p + 3;
    r->sender_len = slen;
    r->json = (const char *)p + 3 + slen;
    r->json_len = len - 3 - slen;
    return CHATD_OK;
}

static unsigned char *put_id8(unsigned char *p, const char *s, size_t n)
{
    *p++ = (unsigned char)n;
    memcpy(p, s, n);
    return p + n;
}

/* Reads "u8 length, bytes" at *p (end e); false if it does not fit. */
static bool get_id8(const unsigned char **p, const unsigned char *e,
                    const char **s, size_t *n)
{
    if (*p >= e || (size_t)(e - *p) < 1u + **p)
        return false;
    *n = **p;
    *s = (const char *)*p + 1;
    *p += 1 + *n;
    return true;
}

size_t chat_room_hdr_encode(unsigned char out[CHAT_ROOM_HDR_MAX],
                            const struct chat_room_rec *r)
{
    unsigned char *p = out;
    unsigned i;

    *p++ = CHAT_ROOM_FORMAT;
    *p++ = (unsigned char)r->kind;
    chat_be64_put(p, r->last_seq);
    chat_be64_put(p + 8, r->ver);
    chat_be64_put(p + 16, r->member_count);
    chat_be64_put(p + 24, (uint64_t)r->activity_ms);
    chat_be64_put(p + 32, r->msg_activity);
    p += 40;
    *p++ = (unsigned char)(r->static_len >> 24);
    *p++ = (unsigned char)(r->static_len >> 16);
    *p++ = (unsigned char)(r->static_len >> 8);
    *p++ = (unsigned char)r->static_len;
    p = put_id8(p, r->creator, r->creator_len);
    *p++ = (unsigned char)r->n_peers;
    for (i = 0; i < r->n_peers && i < 2; i++)
        p = put_id8(p, r->peer[i], r->peer_len[i]);
    return (size_t)(p - out);
}

int chat_room_rec_decode(const void *data, size_t len,
                         struct chat_room_rec *r)
{
    const unsigned char *p = data, *e = p + len;
    unsigned i;

    if (len < 2 + 40 + 4 + 2 || p[0] != CHAT_ROOM_FORMAT)
        return CHATD_EINVAL;
    r->kind = p[1];
    r->last_seq = chat_be64_get(p + 2);
    r->ver = chat_be64_get(p + 10);
    r->member_count = chat_be64_get(p + 18);
    r->activity_ms = (int64_t)chat_be64_get(p + 26);
    r->msg_activity = chat_be64_get(p + 34);
    r->static_len = (size_t)p[42] << 24 | (size_t)p[43] << 16 |
                    (size_t)p[44] << 8 | p[45];
    p += 46;
    if (!get_id8(&p, e, &r->creator, &r->creator_len) || p >= e || *p > 2)
        return CHATD_EINVAL;
    r->n_peers = *p++;
    for (i = 0; i < r->n_peers; i++)
        if (!get_id8(&p, e, &r->peer[i], &r->peer_len[i]))
            return CHATD_EINVAL;
    r->json = (const char *)p;
    r->json_len = (size_t)(e - p);
    return r->static_len <= r->json_len ? CHATD_OK : CHATD_EINVAL;
}

size_t chat_idem_encode(unsigned char out[CHAT_IDEM_MAX],
                        const struct chat_idem *r)
{
    chat_be64_put(out, r->seq);
    chat_be64_put(out + 8, r->digest);
    memcpy(out + 16, r->room, r->room_len);
    return 16 + r->room_len;
}

int chat_idem_decode(const void *data, size_t len, struct chat_idem *r)
{
    const unsigned char *p = data;

    if (len < 17)
        return CHATD_EINVAL;
    r->seq = chat_be64_get(p);
    r->digest = chat_be64_get(p + 8);
    r->room = (const char *)p + 16;
    r->room_len = len - 16;
    return CHATD_OK;
}

int chat_user_decode(const void *data, size_t len, bool *person,
                     const char **name, size_t *name_len)
{
    const unsigned char *p = data;

    if (len < 2 || p[0] > 1)
        return CHATD_EINVAL;
    *person = p[0] == 1;
    *name = (const char *)p + 1;
    *name_len = len - 1;
    return CHATD_OK;
}

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
#define CURSOR_VERSION 1

void chat_cursor_encode(uint64_t activity, char out[CHAT_CURSOR_LEN + 1])
{
    unsigned char raw[9];
    unsigned i, v;

    raw[0] = CURSOR_VERSION;
    chat_be64_put(raw + 1, activity);
    for (i = 0; i < 3; i++) {
        v = (unsigned)raw[3 * i] << 16 | (unsigned)raw[3 * i + 1] << 8 |
            raw[3 * i + 2];
        out[4 * i] = b64url[v >> 18];
        out[4 * i + 1] = b64url[(v >> 12) & 63];
        out[4 * i + 2] = b64url[(v >> 6) & 63];
        out[4 * i + 3] = b64url[v & 63];
    }
    out[CHAT_CURSOR_LEN] = '\0';
}

int chat_cursor_decode(const char *s, uint64_t *activity)
{
    unsigned char raw[9];
    unsigned i, j, v;
    const char *p;

    if (s == NULL || strlen(s) != CHAT_CURSOR_LEN)
        return CHATD_EINVAL;
    for (i = 0; i < 3; i++) {
        v = 0;
        for (j = 0; j < 4; j++) {
            p = strchr(b64url, s[4 * i + j]);
            if (p == NULL)
                return CHATD_EINVAL;
            v = v << 6 | (unsigned)(p - b64url);
        }
        raw[3 * i] = (unsigned char)(v >> 16);
        raw[3 * i + 1] = (unsigned char)(v >> 8);
        raw[3 * i + 2] = (unsigned char)v;
    }
    if (raw[0] != CURSOR_VERSION)
        return CHATD_EINVAL;
    *activity = chat_be64_get(raw + 1);
    return *activity == 0 ? CHATD_EINVAL : CHATD_OK;
}
