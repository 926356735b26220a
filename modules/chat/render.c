#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chatd/module.h"
#include "render.h"
#include "validate.h"

/* --- the buffer ---------------------------------------------------------- */

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Whether one of the 8 bytes of x is below 0x20, a quote or a backslash:
 * a byte JSON does not allow raw in a string (exact, not approximate). */
static bool word_has_special(uint64_t x)
{
    uint64_t q = x ^ (ONES * '"'), s = x ^ (ONES * '\\');

    return (((x - ONES * 0x20) & ~x) | ((q - ONES) & ~q) |
            ((s - ONES) & ~s)) & HIGHS;
}

/* The length of the run of bytes at p (at most n) that stand for
 * themselves in a JSON string; 8 at a time, as texts are mostly that. */
static size_t plain_run(const char *p, size_t n)
{
    size_t i = 0;
    uint64_t w;

    while (n - i >= 8) {
        memcpy(&w, p + i, 8);
        if (word_has_special(w))
            break;
        i += 8;
    }
    while (i < n && (unsigned char)p[i] >= 0x20 && p[i] != '"' &&
           p[i] != '\\')
        i++;
    return i;
}

void chat_buf_free(struct chat_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

bool chat_buf_reserve(struct chat_buf *b, size_t more)
{
    size_t cap = b->cap ? b->cap : 256;
    char *p;

    if (b->failed)
        return false;
    if (more <= b->cap - b->len)
        return true;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void chat_buf_add(struct chat_buf *b, const void *p, size_t n)
{
    /* room already there is the common case: no call */
    if (n == 0 || (n > b->cap - b->len && !chat_buf_reserve(b, n)))
        return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void chat_buf_lit(struct chat_buf *b, const char *s)
{
    chat_buf_add(b, s, strlen(s));
}

void chat_buf_u64(struct chat_buf *b, uint64_t v)
{
    char tmp[20];
    size_t n = sizeof(tmp);

    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    chat_buf_add(b, tmp + n, sizeof(tmp) - n);
}

/* The escape of one byte that JSON does not allow raw in a string, as
 * jansson writes it. */
static size_t escape_byte(unsigned char c, char out[6])
{
    static const char hex[] = "0123456789ABCDEF";

    out[0] = '\\';
    switch (c) {
    case '"': out[1] = '"'; return 2;
    case '\\': out[1] = '\\'; return 2;
    case '\b': out[1] = 'b'; return 2;
    case '\f': out[1] = 'f'; return 2;
    case '\n': out[1] = 'n'; return 2;
    case '\r': out[1] = 'r'; return 2;
    case '\t': out[1] = 't'; return 2;
    default:
        memcpy(out + 1, "u00", 3);
        out[4] = hex[c >> 4];
        out[5] = hex[c & 15];
        return 6;
    }
}

void chat_buf_jstr(struct chat_buf *b, const char *s, size_t len)
{
    size_t i = 0, run;
    char esc[6];

    if (!chat_buf_reserve(b, len + 2))
        return;
    b->p[b->len++] = '"';
    while (i < len) {
        run = plain_run(s + i, len - i);
        chat_buf_add(b, s + i, run);
        i += run;
        if (i < len) {
            chat_buf_add(b, esc, escape_byte((unsigned char)s[i], esc));
            i++;
        }
    }
    chat_buf_add(b, "\"", 1);
}

/* --- times --------------------------------------------------------------- */

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
 * civil_from_days, exact for every int64 day count used here). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era, yy;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    yy = (int64_t)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static char *put_digits(char *p, unsigned v, int n)
{
    int i;

    for (i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + n;
}

/* Years outside 0000..9999 (never from a real clock): the C library's
 * formatting, as before. */
static char *format_time_libc(int64_t secs64, int milli,
                              char out[CHAT_TIME_LEN])
{
    time_t secs = (time_t)secs64;
    struct tm tm;
    size_t n;

    if (gmtime_r(&secs, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    n = strftime(out, CHAT_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, CHAT_TIME_LEN - n, ".%03dZ", milli);
    return out;
}

char *chat_format_time(int64_t ms, char out[CHAT_TIME_LEN])
{
    int64_t secs = ms / 1000, days, y;
    int milli = (int)(ms % 1000);
    unsigned mon, day, sod;
    char *p = out;

    if (milli < 0) {
        milli += 1000;
        secs--;
    }
    days = secs / 86400;
    if (secs % 86400 < 0)
        days--;
    sod = (unsigned)(secs - days * 86400);
    civil_from_days(days, &y, &mon, &day);
    if (y < 0 || y > 9999)
        return format_time_libc(secs, milli, out);
    p = put_digits(p, (unsigned)y, 4);
    *p++ = '-';
    p = put_digits(p, mon, 2);
    *p++ = '-';
    p = put_digits(p, day, 2);
    *p++ = 'T';
    p = put_digits(p, sod / 3600, 2);
    *p++ = ':';
    p = put_digits(p, sod / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, sod % 60, 2);
    *p++ = '.';
    p = put_digits(p, (unsigned)milli, 3);
    memcpy(p, "Z", 2);
    return out;
}

void chat_buf_time(struct chat_buf *b, int64_t ms)
{
    char t[CHAT_TIME_LEN];
    size_t n = strlen(chat_format_time(ms, t));

    if (!chat_buf_reserve(b, n + 2))
        return;
    b->p[b->len++] = '"';
    memcpy(b->p + b->len, t, n);
    b->len += n;
    b->p[b->len++] = '"';
}

/* --- reading JSON text --------------------------------------------------- */

#define JSON_DEPTH_MAX 64

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

/* p at the opening quote; returns the byte after the closing one, or NULL
 * if the string is malformed (bad escape, raw control character, no
 * end). */
static const char *scan_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        p += plain_run(p, (size_t)(end - p));
        if (p >= end)
            return NULL;
        if (*p == '"')
            return p + 1;
        if ((unsigned char)*p < 0x20)
            return NULL;
        /* a backslash */
        if (++p >= end)
            return NULL;
        if (*p == 'u') {
            if (end - p < 5 || !is_hex(p[1]) || !is_hex(p[2]) ||
                !is_hex(p[3]) || !is_hex(p[4]))
                return NULL;
            p += 4;
        } else if (strchr("\"\\/bfnrt", *p) == NULL || *p == '\0') {
            return NULL;
        }
    }
    return NULL;
}

static const char *scan_digits(const char *p, const char *end)
{
    const char *start = p;

    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p > start ? p : NULL;
}

static const char *scan_number(const char *p, const char *end)
{
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if ((p = scan_digits(p, end)) == NULL)
        return NULL;
    if (p < end && *p == '.' && (p = scan_digits(p + 1, end)) == NULL)
        return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        p = scan_digits(p, end);
    }
    return p;
}

static const char *scan_word(const char *p, const char *end, const char *w)
{
    size_t n = strlen(w);

    return (size_t)(end - p) >= n && memcmp(p, w, n) == 0 ? p + n : NULL;
}

static const char *scan_value(const char *p, const char *end, int depth,
                              enum chat_jtype *type);

/* p after '{' or '['; returns the byte after the matching close. */
static const char *scan_container(const char *p, const char *end, int depth,
                                  bool object)
{
    enum chat_jtype t;

    p = skip_ws(p, end);
    if (p < end && *p == (object ? '}' : ']'))
        return p + 1;
    while (p != NULL && p < end) {
        if (object) {
            if (*p != '"' || (p = scan_string(p, end)) == NULL)
                return NULL;
            p = skip_ws(p, end);
            if (p >= end || *p != ':')
                return NULL;
            p = skip_ws(p + 1, end);
        }
        p = scan_value(p, end, depth, &t);
        if (p == NULL)
            return NULL;
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
        else if (p < end && *p == (object ? '}' : ']'))
            return p + 1;
        else
            return NULL;
    }
    return NULL;
}

static const char *scan_value(const char *p, const char *end, int depth,
                              enum chat_jtype *type)
{
    if (p >= end)
        return NULL;
    switch (*p) {
    case '"':
        *type = CHAT_J_STR;
        return scan_string(p, end);
    case '{':
    case '[':
        *type = *p == '{' ? CHAT_J_OBJ : CHAT_J_ARR;
        if (depth >= JSON_DEPTH_MAX)
            return NULL;
        return scan_container(p + 1, end, depth + 1, *p == '{');
    case 't':
        *type = CHAT_J_TRUE;
        return scan_word(p, end, "true");
    case 'f':
        *type = CHAT_J_FALSE;
        return scan_word(p, end, "false");
    case 'n':
        *type = CHAT_J_NULL;
        return scan_word(p, end, "null");
    default:
        *type = CHAT_J_NUM;
        return scan_number(p, end);
    }
}

static void match_key(const char *k, size_t klen, const char *const *keys,
                      struct chat_jval *vals, const struct chat_jval *v)
{
    size_t i;

    for (i = 0; keys[i] != NULL; i++) {
        /* the first bytes first: most keys differ there (k[0] is the
         * closing quote of an empty key, which no key starts with) */
        if ((klen == 0 || keys[i][0] == k[0]) &&
            strncmp(keys[i], k, klen) == 0 && keys[i][klen] == '\0') {
            vals[i] = *v;
            return;
        }
    }
}

static unsigned hex4(const char *p);

/* Whether the \\u escapes of a string token are ones jansson accepts: no
 * \\u0000, surrogates only in high-low pairs. */
static bool escapes_strict(const char *p, size_t len)
{
    const char *end = p + len, *b;
    unsigned u, lo;

    for (p++; (b = memchr(p, '\\', (size_t)(end - p))) != NULL; p = b + 2) {
        if (b[1] != 'u')
            continue;
        u = hex4(b + 2);
        if (u == 0 || (u >= 0xDC00 && u <= 0xDFFF))
            return false;
        if (u >= 0xD800 && u <= 0xDBFF) {
            if (end - b < 12 || b[6] != '\\' || b[7] != 'u')
                return false;
            lo = hex4(b + 8);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return false;
            b += 6;
        }
        b += 4;
    }
    return true;
}

/* The members of the object in (s, len), as for chat_json_fields. With
 * `flat`, CHATD_EAGAIN for anything but string, true, false and null
 * values, and for strings (keys included) jansson would refuse. */
static int fields_scan(const char *s, size_t len, const char *const *keys,
                       struct chat_jval *vals, bool flat)
{
    const char *end = s + len, *p = skip_ws(s, end), *k, *kend;
    struct chat_jval v;
    size_t i;

    for (i = 0; keys[i] != NULL; i++)
        vals[i] = (struct chat_jval){NULL, 0, CHAT_J_NONE};
    if (p >= end || *p != '{')
        return CHATD_EINVAL;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return skip_ws(p + 1, end) == end ? CHATD_OK : CHATD_EINVAL;
    while (p < end) {
        k = p;
        if (*p != '"' || (kend = scan_string(p, end)) == NULL)
            return CHATD_EINVAL;
        p = skip_ws(kend, end);
        if (p >= end || *p != ':')
            return CHATD_EINVAL;
        v.p = skip_ws(p + 1, end);
        p = scan_value(v.p, end, 1, &v.type);
        if (p == NULL)
            return CHATD_EINVAL;
        v.len = (size_t)(p - v.p);
        /* jansson decodes keys: a key with escapes is left to it */
        if (flat && (v.type == CHAT_J_NUM || v.type == CHAT_J_OBJ ||
                     v.type == CHAT_J_ARR ||
                     memchr(k + 1, '\\', (size_t)(kend - k - 2)) != NULL ||
                     (v.type == CHAT_J_STR && !escapes_strict(v.p, v.len))))
            return CHATD_EAGAIN;
        match_key(k + 1, (size_t)(kend - k - 2), keys, vals, &v);
        p = skip_ws(p, end);
        if (p < end && *p == '}')
            return skip_ws(p + 1, end) == end ? CHATD_OK : CHATD_EINVAL;
        if (p >= end || *p != ',')
            return CHATD_EINVAL;
        p = skip_ws(p + 1, end);
    }
    return CHATD_EINVAL;
}

int chat_json_fields(const char *s, size_t len, const char *const *keys,
                     struct chat_jval *vals)
{
    return fields_scan(s, len, keys, vals, false);
}

int chat_json_flat_fields(const char *s, size_t len, const char *const *keys,
                          struct chat_jval *vals)
{
    int rc = fields_scan(s, len, keys, vals, true);

    return rc == CHATD_OK ? CHATD_OK : CHATD_EAGAIN;
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        char c = p[i];

        v = v << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One \uXXXX escape (two for a surrogate pair) at p (after the 'u'), into
 * a code point; the number of bytes read after the 'u', 0 if invalid.
 * The token was checked by scan_string, so the 4 hex digits are there. */
static size_t unicode_escape(const char *p, const char *end, uint32_t *cp)
{
    unsigned hi = hex4(p), lo;

    if (hi < 0xD800 || hi > 0xDFFF) {
        *cp = hi;
        return 4;
    }
    if (hi > 0xDBFF || end - p < 10 || p[4] != '\\' || p[5] != 'u')
        return 0;
    lo = hex4(p + 6);
    if (lo < 0xDC00 || lo > 0xDFFF)
        return 0;
    *cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
    return 10;
}

static char unescape_simple(char c)
{
    switch (c) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    default: return c; /* " \ / */
    }
}

int chat_jval_str(const struct chat_jval *v, char *out, size_t cap,
                  size_t *out_len)
{
    const char *p, *end;
    size_t n = 0, used;
    uint32_t cp;
    char tmp[4];

    if (v->type != CHAT_J_STR || v->len < 2)
        return CHATD_EINVAL;
    end = v->p + v->len - 1;
    for (p = v->p + 1; p < end; p++) {
        if (*p != '\\') {
            if (n >= cap)
                return CHATD_EINVAL;
            out[n++] = *p;
            continue;
        }
        if (*++p != 'u') {
            if (n >= cap)
                return CHATD_EINVAL;
            out[n++] = unescape_simple(*p);
            continue;
        }
        used = unicode_escape(p + 1, end, &cp);
        if (used == 0 || cap - n < put_utf8(tmp, cp))
            return CHATD_EINVAL;
        n += put_utf8(out + n, cp);
        p += used;
    }
    *out_len = n;
    return CHATD_OK;
}

bool chat_jval_id(const struct chat_jval *v, char out[], size_t cap)
{
    size_t n;

    if (cap == 0 || chat_jval_str(v, out, cap - 1, &n) != CHATD_OK)
        return false;
    out[n] = '\0';
    return strlen(out) == n && chat_id_valid(out);
}

bool chat_jval_u64(const struct chat_jval *v, uint64_t *out)
{
    uint64_t n = 0;
    size_t i;

    if (v->type != CHAT_J_NUM || v->len == 0 || v->len > 20)
        return false;
    for (i = 0; i < v->len; i++) {
        unsigned d = (unsigned)(v->p[i] - '0');

        if (d > 9 || n > (UINT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

int chat_jval_digest(const struct chat_jval *v, uint64_t *out)
{
    char *text;
    size_t n;
    int rc;

    if (v->type != CHAT_J_STR || v->len < 2)
        return CHATD_EINVAL;
    /* Usually nothing is escaped: the token's inside is the text. */
    if (memchr(v->p + 1, '\\', v->len - 2) == NULL) {
        *out = chat_text_digest(v->p + 1, v->len - 2);
        return CHATD_OK;
    }
    text = malloc(v->len);
    if (text == NULL)
        return CHATD_ENOMEM;
    rc = chat_jval_str(v, text, v->len, &n);
    if (rc == CHATD_OK)
        *out = chat_text_digest(text, n);
    free(text);
    return rc;
}

/* --- answers ------------------------------------------------------------- */

/* `,"name":` then the token, or null when it is absent. */
static void member_tok(struct chat_buf *b, const char *name,
                       const struct chat_jval *v)
{
    chat_buf_lit(b, name);
    if (v->type == CHAT_J_NONE)
        chat_buf_add(b, "null", 4);
    else
        chat_buf_add(b, v->p, v->len);
}

int chat_render_message(struct chat_buf *b, const struct chat_msg_view *m)
{
    if (m->id.type != CHAT_J_STR)
        return CHATD_EINVAL;
    chat_buf_reserve(b, 160 + m->id.len + m->room.len + m->sender.len +
                            m->kind.len + m->text.len + m->created_at.len +
                            m->edited_at.len + m->client_msg_id.len +
                            m->payment.len);
    member_tok(b, "{\"id\":", &m->id);
    member_tok(b, ",\"room\":", &m->room);
    chat_buf_lit(b, ",\"seq\":");
    chat_buf_u64(b, m->seq);
    member_tok(b, ",\"sender\":", &m->sender);
    member_tok(b, ",\"kind\":", &m->kind);
    member_tok(b, ",\"text\":", &m->text);
    member_tok(b, ",\"created_at\":", &m->created_at);
    member_tok(b, ",\"edited_at\":", &m->edited_at);
    chat_buf_lit(b, m->deleted ? ",\"deleted\":true" : ",\"deleted\":false");
    member_tok(b, ",\"client_msg_id\":", &m->client_msg_id);
    if (m->payment.type != CHAT_J_NONE)
        member_tok(b, ",\"payment\":", &m->payment);
    chat_buf_add(b, "}", 1);
    return CHATD_OK;
}

static void str_or_null(struct chat_buf *b, const char *s, size_t len)
{
    if (s == NULL)
        chat_buf_add(b, "null", 4);
    else
        chat_buf_jstr(b, s, len);
}

void chat_render_room_static(struct chat_buf *b,
                             const struct chat_room_static *r)
{
    size_t i;

    chat_buf_lit(b, "{\"id\":");
    chat_buf_jstr(b, r->id, strlen(r->id));
    chat_buf_lit(b, ",\"kind\":");
    chat_buf_jstr(b, r->kind, strlen(r->kind));
    chat_buf_lit(b, ",\"title\":");
    str_or_null(b, r->title, r->title_len);
    chat_buf_lit(b, ",\"context\":");
    str_or_null(b, r->context, r->context_len);
    chat_buf_lit(b, ",\"created_by\":");
    chat_buf_jstr(b, r->created_by, strlen(r->created_by));
    chat_buf_lit(b, ",\"created_at\":");
    chat_buf_time(b, r->created_ms);
    if (r->members == NULL)
        return;
    chat_buf_lit(b, ",\"members\":[");
    for (i = 0; i < r->n_members; i++) {
        if (i > 0)
            chat_buf_add(b, ",", 1);
        chat_buf_jstr(b, r->members[i], strlen(r->members[i]));
    }
    chat_buf_add(b, "]", 1);
}

void chat_render_room_dynamic(struct chat_buf *b, uint64_t member_count,
                              uint64_t last_seq, const char *last_msg,
                              size_t last_msg_len, int64_t activity_ms)
{
    chat_buf_reserve(b, 128 + last_msg_len);
    chat_buf_lit(b, ",\"member_count\":");
    chat_buf_u64(b, member_count);
    chat_buf_lit(b, ",\"last_seq\":");
    chat_buf_u64(b, last_seq);
    chat_buf_lit(b, ",\"last_message\":");
    if (last_msg != NULL)
        chat_buf_add(b, last_msg, last_msg_len);
    else
        chat_buf_add(b, "null", 4);
    chat_buf_lit(b, ",\"last_activity_at\":");
    chat_buf_time(b, activity_ms);
}

void chat_render_room_tail(struct chat_buf *b, const struct chat_member *m,
                           uint64_t room_last_seq)
{
    chat_buf_lit(b, ",\"unread\":");
    chat_buf_u64(b, chat_member_unread(m, room_last_seq));
    chat_buf_lit(b, ",\"read_seq\":");
    chat_buf_u64(b, m->read_seq);
    chat_buf_add(b, "}", 1);
}

void chat_render_member(struct chat_buf *b, const char *uid,
                        const char *name, size_t name_len,
                        const struct chat_member *m)
{
    chat_buf_lit(b, "{\"user\":");
    chat_buf_jstr(b, uid, strlen(uid));
    chat_buf_lit(b, ",\"name\":");
    if (name != NULL)
        chat_buf_add(b, name, name_len);
    else
        chat_buf_add(b, "null", 4);
    chat_buf_lit(b, ",\"joined_at\":");
    chat_buf_time(b, m->joined_ms);
    chat_buf_lit(b, ",\"read_seq\":");
    chat_buf_u64(b, m->read_seq);
    chat_buf_add(b, "}", 1);
}

void chat_render_read(struct chat_buf *b, const char *room, const char *uid,
                      const struct chat_member *m, uint64_t room_last_seq)
{
    chat_buf_lit(b, "{\"room\":");
    chat_buf_jstr(b, room, strlen(room));
    chat_buf_lit(b, ",\"user\":");
    chat_buf_jstr(b, uid, strlen(uid));
    chat_buf_lit(b, ",\"read_seq\":");
    chat_buf_u64(b, m->read_seq);
    chat_buf_lit(b, ",\"unread\":");
    chat_buf_u64(b, chat_member_unread(m, room_last_seq));
    chat_buf_add(b, "}", 1);
}

char *chat_dump(json_t *v, size_t *len)
{
    char *s;

    if (v == NULL)
        return NULL;
    s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (s != NULL && len != NULL)
        *len = strlen(s);
    return s;
}
