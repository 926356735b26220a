/*
 * record.c — the flat record of an event, written by a scan of its data.
 *
 * an_flatten (flat.c) builds the record with jansson: parse the data,
 * build an object, dump it. That cost ~10 µs of the exporter's thread per
 * event, on two cores shared with the writer and the HTTP thread. Most
 * event data is already what jansson would print (modules dump it with
 * jansson, compact), so the scan here copies it through as it checks it,
 * and hands everything else back to an_flatten: non-compact text, reals,
 * escapes jansson would write differently, repeated keys, objects
 * inside arrays, invalid text. Either way the bytes are the same
 * (test_flat.c compares the two on every case and on generated data).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flat.h"

#define SCAN_PARSE 1 /* not canonical: let an_flatten do it */
#define KEYS_MAX 64  /* flat keys checked for duplicates; more: parse */
#define DEPTH_MAX 32
#define PREFIX_MAX 1024 /* as an_flatten's */

int an_buf_reserve(struct an_buf *b, size_t more)
{
    size_t cap;
    char *g;

    if (b->cap - b->len > more)
        return CHATD_OK;
    cap = b->cap ? b->cap : 1024;
    while (cap - b->len <= more)
        cap *= 2;
    g = realloc(b->p, cap);
    if (g == NULL)
        return CHATD_ENOMEM;
    b->p = g;
    b->cap = cap;
    return CHATD_OK;
}

void an_buf_free(struct an_buf *b)
{
    free(b->p);
    *b = (struct an_buf){0};
}

static int put(struct an_buf *b, const void *s, size_t n)
{
    if (an_buf_reserve(b, n) != CHATD_OK)
        return CHATD_ENOMEM;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return CHATD_OK;
}

#define PUT_LIT(b, s) put((b), (s), sizeof(s) - 1)

/* --- checks --- */

/* Length of the UTF-8 sequence at p (at most n bytes) if it is one
 * jansson accepts (shortest form, no surrogates, up to U+10FFFF); 0 if
 * not. p[0] >= 0x80. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    uint32_t cp;

    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F') /* jansson writes upper case */
        return c - 'A' + 10;
    return -1;
}

/* p[i] is '"'. The index past the closing quote if the string is as
 * jansson would write it: valid UTF-8, no raw control characters, and
 * only the escapes it uses (\" \\ \b \f \n \r \t, and \u00XX in upper
 * case for the other control characters, except U+0000, which it refuses
 * to read). 0 if not. *plain: no backslash at all. */
static size_t canon_string(const char *s, size_t n, size_t i, bool *plain)
{
    const unsigned char *p = (const unsigned char *)s;

    *plain = true;
    for (i++; i < n; i++) {
        unsigned c = p[i];
        if (c == '"')
            return i + 1;
        if (c < 0x20)
            return 0;
        if (c >= 0x80) {
            size_t l = utf8_len(p + i, n - i);
            if (l == 0)
                return 0;
            i += l - 1;
            continue;
        }
        if (c != '\\')
            continue;
        *plain = false;
        if (i + 1 >= n)
            return 0;
        c = p[++i];
        if (c == 'u') {
            int h2, h3;
            if (i + 4 >= n || p[i + 1] != '0' || p[i + 2] != '0' ||
                (h2 = hexval(s[i + 3])) < 0 || h2 > 1 ||
                (h3 = hexval(s[i + 4])) < 0)
                return 0;
            c = (unsigned)(h2 * 16 + h3);
            if (c == 0 || c == '\b' || c == '\f' || c == '\n' ||
                c == '\r' || c == '\t')
                return 0; /* refused, or written as a short escape */
            i += 4;
        } else if (c != '"' && c != '\\' && c != 'b' && c != 'f' &&
                   c != 'n' && c != 'r' && c != 't') {
            return 0;
        }
    }
    return 0;
}

/* A JSON integer as jansson prints one: no "-0", within int64. Index
 * past it, 0 if not (reals included: jansson reprints them). */
static size_t canon_integer(const char *p, size_t n, size_t i)
{
    static const char max[] = "9223372036854775807";
    size_t d0, nd;
    bool neg = p[i] == '-';

    if (neg)
        i++;
    d0 = i;
    if (i < n && p[i] == '0')
        i++;
    else
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
    nd = i - d0;
    if (nd == 0 || (neg && nd == 1 && p[d0] == '0'))
        return 0;
    if (i < n && (p[i] == '.' || p[i] == 'e' || p[i] == 'E' ||
                  (p[i] >= '0' && p[i] <= '9')))
        return 0;
    if (nd > 19)
        return 0;
    if (nd == 19) {
        int c = memcmp(p + d0, max, 19);
        if (c > 0 && !(neg && memcmp(p + d0, "9223372036854775808", 19) ==
                                  0))
            return 0;
    }
    return i;
}

static size_t literal(const char *p, size_t n, size_t i)
{
    static const char *const lits[] = {"true", "false", "null"};

    for (size_t k = 0; k < 3; k++) {
        size_t l = strlen(lits[k]);
        if (n - i >= l && memcmp(p + i, lits[k], l) == 0)
            return i + l;
    }
    return 0;
}

/* A value inside an array, compact and canonical; objects are left to
 * the parse (their keys would need the duplicate check). Index past it,
 * 0 if not. */
static size_t canon_in_array(const char *p, size_t n, size_t i, int depth)
{
    bool plain;

    if (i >= n || depth > DEPTH_MAX)
        return 0;
    switch (p[i]) {
    case '"':
        return canon_string(p, n, i, &plain);
    case '[':
        if (++i < n && p[i] == ']')
            return i + 1;
        for (;;) {
            i = canon_in_array(p, n, i, depth + 1);
            if (i == 0 || i >= n)
                return 0;
            if (p[i] == ']')
                return i + 1;
            if (p[i++] != ',')
                return 0;
        }
    case 't':
    case 'f':
    case 'n':
        return literal(p, n, i);
    default:
        return (p[i] == '-' || (p[i] >= '0' && p[i] <= '9'))
                   ? canon_integer(p, n, i)
                   : 0;
    }
}

/* --- the record --- */

struct scan {
    const char *p;
    size_t n;
    struct an_buf *out;
    char prefix[PREFIX_MAX];
    size_t keys[KEYS_MAX]; /* offsets in out of each flat key (after '"') */
    size_t key_len[KEYS_MAX];
    size_t nkeys;
};

/* Appends `s` as jansson writes a string; SCAN_PARSE for NULL or
 * invalid UTF-8 (where json_string fails). */
static int put_string(struct an_buf *b, const char *s)
{
    size_t n;

    if (s == NULL)
        return SCAN_PARSE;
    n = strlen(s);
    if (an_buf_reserve(b, n * 6 + 2) != CHATD_OK)
        return CHATD_ENOMEM;
    char *o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t l = utf8_len((const unsigned char *)s + i, n - i);
            if (l == 0)
                return SCAN_PARSE;
            memcpy(o, s + i, l);
            o += l;
            i += l - 1;
            continue;
        }
        const char *e = NULL;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default: break;
        }
        if (e != NULL) {
            memcpy(o, e, 2);
            o += 2;
        } else if (c < 0x20) {
            o += sprintf(o, "\\u%04X", c);
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    return CHATD_OK;
}

/* ,"<prefix>":  — and a duplicate flat key means the parse decides. */
static int put_key(struct scan *sc, size_t plen)
{
    struct an_buf *b = sc->out;
    int rc;

    for (size_t k = 0; k < sc->nkeys; k++)
        if (sc->key_len[k] == plen &&
            memcmp(b->p + sc->keys[k], sc->prefix, plen) == 0)
            return SCAN_PARSE;
    if (sc->nkeys == KEYS_MAX)
        return SCAN_PARSE;
    rc = PUT_LIT(b, ",\"");
    sc->keys[sc->nkeys] = b->len;
    sc->key_len[sc->nkeys++] = plen;
    if (rc == CHATD_OK)
        rc = put(b, sc->prefix, plen);
    return rc == CHATD_OK ? PUT_LIT(b, "\":") : rc;
}

/* Whether the key at p[j..end) (quotes included, plain: no escapes)
 * repeats one of its object's earlier keys, which jansson's parse drops
 * ({"a":{"b":1},"a":2} is {"a":2}): the parse then writes the record.
 * Flat keys alone do not show it when the earlier value is an object.
 * Records the key in seen[] (SCAN_PARSE past KEYS_MAX). */
static int key_repeated(const char *p, size_t j, size_t end, size_t seen[],
                        size_t *nseen)
{
    size_t len = end - j;

    /* plain tokens hold no '"' but their quotes: equal bytes up to the
     * closing one are the same key */
    for (size_t k = 0; k < *nseen; k++)
        if (memcmp(p + seen[k], p + j, len) == 0)
            return SCAN_PARSE;
    if (*nseen == KEYS_MAX)
        return SCAN_PARSE;
    seen[(*nseen)++] = j;
    return CHATD_OK;
}

/* Members of the non-empty object at p[*i] == '{', under prefix[0..plen).
 * On success *i is past its '}'. */
static int members(struct scan *sc, size_t *i, size_t plen, int depth)
{
    const char *p = sc->p;
    size_t n = sc->n, j = *i + 1, end, seen[KEYS_MAX], nseen = 0;
    bool plain;
    int rc;

    if (depth > DEPTH_MAX)
        return SCAN_PARSE;
    for (;;) {
        if (j >= n || p[j] != '"')
            return SCAN_PARSE;
        end = canon_string(p, n, j, &plain);
        if (end == 0 || !plain)
            return SCAN_PARSE;
        if (key_repeated(p, j, end, seen, &nseen) != CHATD_OK)
            return SCAN_PARSE;
        size_t kl = end - j - 2;
        if (plen + 1 + kl + 1 > PREFIX_MAX) /* an_flatten refuses it */
            return SCAN_PARSE;
        sc->prefix[plen] = '.';
        memcpy(sc->prefix + plen + 1, p + j + 1, kl);
        size_t klen = plen + 1 + kl;
        j = end;
        if (j >= n || p[j++] != ':' || j >= n)
            return SCAN_PARSE;
        if (p[j] == '{' && j + 1 >= n)
            return SCAN_PARSE;
        if (p[j] == '{' && p[j + 1] != '}') {
            rc = members(sc, &j, klen, depth + 1);
        } else if (p[j] == '{' || p[j] == '[') {
            /* empty objects and arrays: their compact text, as a string
             * (which holds no control characters: only '"' and '\' need
             * escaping) */
            end = p[j] == '{' ? j + 2 : canon_in_array(p, n, j, depth + 1);
            if (end == 0)
                return SCAN_PARSE;
            rc = put_key(sc, klen);
            if (rc == CHATD_OK)
                rc = an_buf_reserve(sc->out, 2 * (end - j) + 2);
            if (rc == CHATD_OK) {
                char *o = sc->out->p + sc->out->len;
                *o++ = '"';
                for (size_t k = j; k < end; k++) {
                    if (p[k] == '"' || p[k] == '\\')
                        *o++ = '\\';
                    *o++ = p[k];
                }
                *o++ = '"';
                sc->out->len = (size_t)(o - sc->out->p);
                j = end;
            }
        } else {
            end = p[j] == '"' ? canon_string(p, n, j, &plain)
                              : canon_in_array(p, n, j, depth + 1);
            if (end == 0)
                return SCAN_PARSE;
            rc = put_key(sc, klen);
            if (rc == CHATD_OK)
                rc = put(sc->out, p + j, end - j);
            j = end;
        }
        if (rc != CHATD_OK)
            return rc;
        if (j >= n)
            return SCAN_PARSE;
        if (p[j] == '}') {
            *i = j + 1;
            return CHATD_OK;
        }
        if (p[j++] != ',')
            return SCAN_PARSE;
    }
}

int an_record_scan(const struct chatd_event *ev, struct an_buf *out)
{
    struct scan scan, *sc = &scan;
    char head[160], time[AN_TIME_LEN];
    size_t start = out->len, i = 0;
    int rc;

    if (ev->data == NULL || ev->data_len < 2 || ev->data[0] != '{')
        return SCAN_PARSE;
    sc->p = ev->data;
    sc->n = ev->data_len;
    sc->out = out;
    sc->nkeys = 0;
    memcpy(sc->prefix, "data", 4);
    an_time_format(ev->time_ms, time);
    snprintf(head, sizeof(head), "{\"seq\":%" PRId64 ",\"time\":\"%s\","
             "\"type\":", (int64_t)ev->seq, time);
    rc = put(out, head, strlen(head));
    if (rc == CHATD_OK)
        rc = put_string(out, ev->type);
    if (rc == CHATD_OK) {
        snprintf(head, sizeof(head), ",\"v\":%" PRIu32 ",\"stream\":",
                 ev->v);
        rc = put(out, head, strlen(head));
    }
    if (rc == CHATD_OK)
        rc = put_string(out, ev->stream);
    if (rc == CHATD_OK) {
        snprintf(head, sizeof(head), ",\"stream_ver\":%" PRId64
                 ",\"correlation_id\":", (int64_t)ev->stream_ver);
        rc = put(out, head, strlen(head));
    }
    if (rc == CHATD_OK)
        rc = put_string(out, ev->correlation_id ? ev->correlation_id : "");
    if (rc == CHATD_OK)
        rc = PUT_LIT(out, ",\"actor\":");
    if (rc == CHATD_OK)
        rc = put_string(out, ev->actor ? ev->actor : "");
    if (rc == CHATD_OK) {
        if (ev->data[1] == '}') {
            i = 2;
            rc = PUT_LIT(out, ",\"data\":\"{}\"");
        } else {
            rc = members(sc, &i, 4, 0);
        }
    }
    if (rc == CHATD_OK && i != ev->data_len)
        rc = SCAN_PARSE; /* something after the object */
    if (rc == CHATD_OK)
        rc = PUT_LIT(out, "}\n");
    if (rc != CHATD_OK)
        out->len = start;
    return rc;
}

int an_record(const struct chatd_event *ev, struct an_buf *out, bool *scanned)
{
    char *line;
    size_t len;
    int rc = an_record_scan(ev, out);

    if (scanned != NULL)
        *scanned = rc == CHATD_OK;
    if (rc != SCAN_PARSE)
        return rc;
    rc = an_flatten(ev, &line, &len);
    if (rc == CHATD_OK) {
        rc = put(out, line, len);
        free(line);
    }
    return rc;
}
