/*
 * codec — the binary form of one event in the "log" database.
 *
 * Format 1 (all integers big-endian, so records are byte-for-byte the same
 * on every host):
 *
 *   off  size  field
 *    0    1    format byte = 1
 *    1    1    type length        (1..64)
 *    2    1    stream length      (1..200)
 *    3    1    correlation length (0..128)
 *    4    1    actor length       (0..128)
 *    5    3    reserved, zero
 *    8    4    v (schema version of data)
 *   12    4    data length        (0..1 MiB)
 *   16    8    time_ms (two's complement)
 *   24    8    stream_ver
 *   32         type NUL stream NUL correlation NUL actor NUL data NUL
 *
 * The seq is the record's key, not part of the value. The strings are
 * stored NUL-terminated so a decoded struct chatd_event can point straight
 * into the LMDB map without copying. The format byte comes first so that a
 * later format can be added next to this one: a record once written is
 * never rewritten, so every format ever written must stay decodable.
 */
#include <string.h>

#include "evlog/internal.h"

#define HDR_SIZE 32
#define FORMAT_1 1

static void be32_put(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t be32_get(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

int evlog_codec_check(const struct chatd_event *ev)
{
    if (!ev->type || !ev->stream || (!ev->data && ev->data_len))
        return CHATD_EINVAL;
    size_t tl = strlen(ev->type), sl = strlen(ev->stream);

    if (tl == 0 || tl > EVLOG_TYPE_MAX || sl == 0 || sl > EVLOG_STREAM_MAX)
        return CHATD_EINVAL;
    if (strlen(or_empty(ev->correlation_id)) > EVLOG_CORR_MAX ||
        strlen(or_empty(ev->actor)) > EVLOG_ACTOR_MAX ||
        ev->data_len > EVLOG_DATA_MAX)
        return CHATD_EINVAL;
    return CHATD_OK;
}

size_t evlog_codec_size(const struct chatd_event *ev)
{
    return HDR_SIZE + strlen(ev->type) + strlen(ev->stream) +
           strlen(or_empty(ev->correlation_id)) +
           strlen(or_empty(ev->actor)) + ev->data_len + 5;
}

static unsigned char *put_str(unsigned char *p, const char *s, size_t len)
{
    memcpy(p, s, len);
    p[len] = '\0';
    return p + len + 1;
}

void evlog_codec_encode(const struct chatd_event *ev, unsigned char *buf)
{
    const char *corr = or_empty(ev->correlation_id);
    const char *actor = or_empty(ev->actor);
    size_t tl = strlen(ev->type), sl = strlen(ev->stream);
    size_t cl = strlen(corr), al = strlen(actor);

    memset(buf, 0, HDR_SIZE);
    buf[0] = FORMAT_1;
    buf[1] = (unsigned char)tl;
    buf[2] = (unsigned char)sl;
    buf[3] = (unsigned char)cl;
    buf[4] = (unsigned char)al;
    be32_put(buf + 8, ev->v);
    be32_put(buf + 12, (uint32_t)ev->data_len);
    core_be64_put(buf + 16, (uint64_t)ev->time_ms);
    core_be64_put(buf + 24, ev->stream_ver);

    unsigned char *p = buf + HDR_SIZE;
    p = put_str(p, ev->type, tl);
    p = put_str(p, ev->stream, sl);
    p = put_str(p, corr, cl);
    p = put_str(p, actor, al);
    if (ev->data_len)
        memcpy(p, ev->data, ev->data_len);
    p[ev->data_len] = '\0';
}

/* A string field is valid when its NUL sits exactly at its length: no
 * embedded NUL, so strlen() of the decoded pointer agrees with the
 * header. */
static bool str_ok(const unsigned char *p, size_t len)
{
    return p[len] == '\0' && memchr(p, '\0', len) == NULL;
}

static int decode_v1(uint64_t seq, const unsigned char *r, size_t len,
                     struct chatd_event *out)
{
    size_t tl = r[1], sl = r[2], cl = r[3], al = r[4];
    size_t dl = be32_get(r + 12);

    if (r[5] || r[6] || r[7] || tl == 0 || sl == 0)
        return CHATD_EIO;
    /* Every length is bounded (u8 or u32), so this sum cannot overflow. */
    if (len != HDR_SIZE + tl + sl + cl + al + dl + 5)
        return CHATD_EIO;

    const unsigned char *t = r + HDR_SIZE, *s = t + tl + 1;
    const unsigned char *c = s + sl + 1, *a = c + cl + 1, *d = a + al + 1;

    if (!str_ok(t, tl) || !str_ok(s, sl) || !str_ok(c, cl) ||
        !str_ok(a, al) || d[dl] != '\0')
        return CHATD_EIO;
    *out = (struct chatd_event){
        .size = sizeof(struct chatd_event),
        .seq = seq,
        .time_ms = (int64_t)core_be64_get(r + 16),
        .type = (const char *)t,
        .v = be32_get(r + 8),
        .stream = (const char *)s,
        .stream_ver = core_be64_get(r + 24),
        .correlation_id = (const char *)c,
        .actor = (const char *)a,
        .data = (const char *)d,
        .data_len = dl,
    };
    return CHATD_OK;
}

int evlog_decode(uint64_t seq, const void *rec, size_t len,
                 struct chatd_event *out)
{
    const unsigned char *r = rec;

    if (!rec || len < HDR_SIZE)
        return CHATD_EIO;
    switch (r[0]) {
    case FORMAT_1:
        return decode_v1(seq, r, len, out);
    default:
        return CHATD_EIO; /* written by a newer chatd, or corrupt */
    }
}
