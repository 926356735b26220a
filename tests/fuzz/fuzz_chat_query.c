/*
 * fuzz_chat_query — what the chat module reads from query strings and path
 * parameters: the inbox cursor, numbers (limit, before/after, a message
 * seq) and ids.
 *
 * These arrive decoded but otherwise as the client wrote them. The inbox
 * cursor (keys.c) is 12 base64url characters (RFC 4648 §5, no padding)
 * of a version byte and an 8-byte activity: every activity but 0 encodes
 * and decodes back to itself, and a string the decoder accepts is exactly
 * the encoding of the value it returns — one spelling per position, so no
 * two cursors mean the same page — and nothing else is accepted. The
 * numbers (validate.c) are 1 to 20 decimal digits and nothing else, whose
 * value is in range; the ids are 1..CHAT_ID_MAX bytes of printable ASCII
 * but space and '/'. The reference below reads base64url bit by bit and
 * decimal by comparing digit strings, never by arithmetic that overflows.
 *
 * The input: one byte (the range of chat_parse_u64, and which of before,
 * after and limit a history query gives), then up to three strings
 * separated by NULs. The first is also a cursor and an id; the first 8
 * bytes after the control byte are also an activity to encode.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "chatd/module.h"
#include "fuzz.h"
#include "keys.h"
#include "validate.h"

/* --- the reference ---------------------------------------------------- */

/* The base64url value of a character (RFC 4648, table 2), or -1. */
static int ref_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : c == '_' ? 63 : -1;
}

static char ref_b64_char(unsigned v)
{
    if (v < 26)
        return (char)('A' + v);
    if (v < 52)
        return (char)('a' + v - 26);
    if (v < 62)
        return (char)('0' + v - 52);
    return v == 62 ? '-' : '_';
}

/* Bit i (0 = the most significant) of the 72 bits version . activity. */
static unsigned ref_bit(uint64_t activity, unsigned i)
{
    return i < 8 ? (1u >> (7 - i)) & 1 : (activity >> (71 - i)) & 1;
}

static void ref_cursor_encode(uint64_t activity, char out[13])
{
    unsigned i, v = 0;

    for (i = 0; i < 72; i++) {
        v = v << 1 | ref_bit(activity, i);
        if (i % 6 == 5) {
            out[i / 6] = ref_b64_char(v);
            v = 0;
        }
    }
    out[12] = '\0';
}

/* A cursor: exactly 12 base64url characters whose first 8 bits are the
 * version, 1, and whose other 64 the activity, not 0. */
static bool ref_cursor_decode(const char *s, uint64_t *activity)
{
    unsigned version = 0, i;
    uint64_t a = 0;
    int v;

    if (strlen(s) != 12)
        return false;
    for (i = 0; i < 72; i++) {
        v = ref_b64_value((unsigned char)s[i / 6]);
        if (v < 0)
            return false;
        if (i < 8)
            version = version << 1 | ((unsigned)v >> (5 - i % 6) & 1);
        else
            a = a << 1 | ((unsigned)v >> (5 - i % 6) & 1);
    }
    *activity = a;
    return version == 1 && a != 0;
}

/* Whether a (digits only, no leading zeros, maybe "") is below or equal
 * to b (the same), as numbers. */
static bool ref_digits_le(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    return la != lb ? la < lb : strcmp(a, b) <= 0;
}

/* 1 to 20 decimal digits (leading zeros allowed within the 20), a value
 * in [min, max]. */
static bool ref_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char lo[24], hi[24];
    const char *d = s;
    size_t n = strlen(s);

    if (n < 1 || n > 20 || strspn(s, "0123456789") != n)
        return false;
    while (*d == '0')
        d++;
    snprintf(lo, sizeof(lo), "%" PRIu64, min);
    snprintf(hi, sizeof(hi), "%" PRIu64, max);
    if (!ref_digits_le(d, "18446744073709551615") ||
        !ref_digits_le(lo, *d ? d : "0") || !ref_digits_le(*d ? d : "0", hi))
        return false;
    *out = strtoull(s, NULL, 10);
    return true;
}

static bool ref_id(const char *s)
{
    size_t i, n = strlen(s);

    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7E ||
            s[i] == '/')
            return false;
    return n >= 1 && n <= CHAT_ID_MAX;
}

/* --- the module's answers against the reference ---------------------- */

static void check_cursor_string(const char *s)
{
    uint64_t got = 0, want = 0;
    bool ok = ref_cursor_decode(s, &want);
    char again[CHAT_CURSOR_LEN + 1];

    FUZZ_CHECK((chat_cursor_decode(s, &got) == CHATD_OK) == ok,
               "cursor \"%s\" %s", s, ok ? "refused" : "accepted");
    if (!ok)
        return;
    FUZZ_CHECK(got == want, "cursor \"%s\" is %" PRIu64 ", the reference %"
               PRIu64, s, got, want);
    chat_cursor_encode(got, again);
    FUZZ_CHECK(strcmp(again, s) == 0,
               "cursor \"%s\" accepted for %" PRIu64 ", whose cursor is \"%s\"",
               s, got, again);
}

static void check_cursor_value(uint64_t activity)
{
    char got[CHAT_CURSOR_LEN + 2], want[13];
    uint64_t back = 0;

    memset(got, 'x', sizeof(got));
    chat_cursor_encode(activity, got);
    ref_cursor_encode(activity, want);
    FUZZ_CHECK(got[CHAT_CURSOR_LEN + 1] == 'x', "the cursor overruns");
    FUZZ_CHECK(strcmp(got, want) == 0, "%" PRIu64 " encodes to \"%s\", the "
               "reference \"%s\"", activity, got, want);
    FUZZ_CHECK((chat_cursor_decode(got, &back) == CHATD_OK) == (activity != 0),
               "the cursor of %" PRIu64 " is %s", activity,
               activity ? "refused" : "accepted");
    FUZZ_CHECK(activity == 0 || back == activity,
               "%" PRIu64 " comes back as %" PRIu64, activity, back);
}

static void check_u64(const char *s, uint64_t min, uint64_t max)
{
    uint64_t got = 0, want = 0;
    bool ok = ref_u64(s, min, max, &want);
    char text[24];
    const char *d = s;

    FUZZ_CHECK(chat_parse_u64(s, min, max, &got) == ok,
               "\"%s\" in [%" PRIu64 ", %" PRIu64 "] %s", s, min, max,
               ok ? "refused" : "accepted");
    if (!ok)
        return;
    FUZZ_CHECK(got == want, "\"%s\" is %" PRIu64, s, got);
    /* one value, printed, is the digits without leading zeros */
    snprintf(text, sizeof(text), "%" PRIu64, got);
    while (d[0] == '0' && d[1] != '\0')
        d++;
    FUZZ_CHECK(strcmp(text, d) == 0, "\"%s\" read as %s", s, text);
}

static void check_limit(const char *s)
{
    struct chat_err err = {0, NULL, ""};
    unsigned got = 0;
    uint64_t want = CHAT_LIMIT_DEFAULT;
    bool ok = s == NULL || ref_u64(s, 1, CHAT_LIMIT_MAX, &want);
    int rc = chat_parse_limit(s, &got, &err);

    FUZZ_CHECK((rc == CHATD_OK) == ok, "limit \"%s\" %s", s ? s : "(none)",
               ok ? "refused" : "accepted");
    if (ok)
        FUZZ_CHECK(got == want, "limit \"%s\" is %u", s ? s : "(none)", got);
    else
        FUZZ_CHECK(rc == CHATD_EREJECTED && err.status == 400 &&
                       strcmp(err.code, "invalid_argument") == 0,
                   "limit \"%s\": %d %u", s, rc, err.status);
}

/* A history query: at most one bound, both read as above. */
static void check_page(const char *before, const char *after,
                       const char *limit)
{
    const char *bound = before ? before : after;
    struct chat_err err = {0, NULL, ""};
    struct chat_page_req req;
    uint64_t lim = CHAT_LIMIT_DEFAULT, b = UINT64_MAX;
    bool ok = !(before && after) &&
              (limit == NULL || ref_u64(limit, 1, CHAT_LIMIT_MAX, &lim)) &&
              (bound == NULL || ref_u64(bound, 0, INT64_MAX, &b));
    int rc = chat_page_req_parse(before, after, limit, &req, &err);

    FUZZ_CHECK((rc == CHATD_OK) == ok, "a page query %s",
               ok ? "refused" : "accepted");
    if (!ok) {
        FUZZ_CHECK(rc == CHATD_EREJECTED && err.status == 400,
                   "a page query refused with %d %u", rc, err.status);
        return;
    }
    FUZZ_CHECK(req.limit == lim && req.bound == b &&
                   req.ascending == (after != NULL),
               "a page query read as limit %u, bound %" PRIu64 ", %s",
               req.limit, req.bound, req.ascending ? "ascending" : "descending");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t ranges[8][2] = {
        {0, UINT64_MAX}, {1, INT64_MAX}, {0, INT64_MAX},
        {1, CHAT_LIMIT_MAX}, {5, 5}, {UINT64_MAX, UINT64_MAX},
        {10, 1}, {0, 0}};
    const char *str[3] = {NULL, NULL, NULL};
    uint64_t activity = 0;
    char *buf;
    size_t i, n;

    if (size == 0)
        return 0;
    buf = malloc(size + 1); /* the strings, and an empty one after them */
    if (buf == NULL)
        abort();
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = buf[size] = '\0';
    for (i = 0, n = 0; n < 3 && i < size; n++) {
        str[n] = buf + i;
        i += strlen(buf + i) + 1;
    }
    memcpy(&activity, data + 1, size - 1 < 8 ? size - 1 : 8);

    check_cursor_string(str[0]);
    check_cursor_value(activity);
    check_cursor_value(~activity);
    check_u64(str[0], ranges[data[0] & 7][0], ranges[data[0] & 7][1]);
    FUZZ_CHECK(chat_id_valid(str[0]) == ref_id(str[0]), "id \"%s\" %s",
               str[0], ref_id(str[0]) ? "refused" : "accepted");
    check_limit(str[0]);
    check_limit(NULL);
    check_page(data[0] & 0x10 ? str[0] : NULL, data[0] & 0x20 ? str[1] : NULL,
               data[0] & 0x40 ? str[2] : NULL);
    free(buf);
    return 0;
}
