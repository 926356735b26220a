#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <xxhash.h>

#include "core/core.h"

int core_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[64];
    size_t i;

    if (nbytes > sizeof(buf))
        return CHATD_EINVAL;
    if (getrandom(buf, nbytes, 0) != (ssize_t)nbytes)
        return CHATD_EIO;
    for (i = 0; i < nbytes; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 15];
    }
    out[2 * nbytes] = '\0';
    return CHATD_OK;
}

/* Length of the UTF-8 sequence starting at s[0], or 0 if it is not a valid
 * one (Unicode 3.9 table D-7: this rejects overlongs and surrogates). */
static size_t utf8_seq_len(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (left < n)
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

/* Runs of ASCII are checked eight bytes at a time: what goes through here
 * is mostly JSON, and a byte at a time cost as much as the rest of a
 * WebSocket client's receive path (bench/ws/wsbench.c). */
bool core_utf8_valid(const void *s, size_t len)
{
    const unsigned char *p = s;
    uint64_t word;
    size_t n;

    while (len > 0) {
        while (len >= 8) {
            memcpy(&word, p, 8);
            if (word & 0x8080808080808080ull)
                break;
            p += 8;
            len -= 8;
        }
        if (len == 0)
            break;
        n = utf8_seq_len(p, len);
        if (n == 0)
            return false;
        p += n;
        len -= n;
    }
    return true;
}

size_t core_utf8_length(const void *s, size_t len)
{
    const unsigned char *p = s;
    size_t count = 0, i;

    for (i = 0; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            count++;
    return count;
}

bool core_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

uint64_t core_hash(const void *p, size_t len)
{
    return XXH3_64bits(p, len);
}

void core_be64_put(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

uint64_t core_be64_get(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}
