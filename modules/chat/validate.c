#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "chatd/module.h"
#include "validate.h"

int chat_err_set(struct chat_err *err, unsigned status, const char *code,
                 const char *fmt, ...)
{
    va_list ap;

    err->status = status;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return CHATD_EREJECTED;
}

/* Decodes the UTF-8 sequence at s (left bytes available) into *cp and
 * returns its length, or 0 if it is not valid (Unicode table D-7: no
 * overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_decode(const unsigned char *s, size_t left, uint32_t *cp)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t n, i;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
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
    *cp = c & (0xFF >> (n + 1));
    for (i = 1; i < n; i++) {
        if (i > 1 && (s[i] < 0x80 || s[i] > 0xBF))
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3F);
    }
    return n;
}

bool chat_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n;
    uint32_t cp;

    while (i < len) {
        n = utf8_decode(p + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

size_t chat_utf8_chars(const char *s, size_t len)
{
    size_t i, chars = 0;

    for (i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            chars++;
    return chars;
}

size_t chat_utf8_prefix(const char *s, size_t len, int64_t max_chars)
{
    size_t i, chars = 0;

    for (i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if ((int64_t)chars == max_chars)
                return i;
            chars++;
        }
    }
    return len;
}

/* White space (Unicode White_Space) and the invisible spaces that render
 * as nothing (zero width space, word joiner, BOM): a text made only of
 * these is "empty". */
static bool is_blank(uint32_t cp)
{
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D))
        return true;
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x180E: case 0x2028:
    case 0x2029: case 0x202F: case 0x205F: case 0x2060: case 0x3000:
    case 0xFEFF:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200B;
    }
}

static bool is_forbidden_control(uint32_t cp)
{
    return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
           cp == 0x7F;
}

enum chat_text_check chat_text_check(const char *s, size_t len,
                                     int64_t max_chars)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n, chars = 0;
    bool blank = true;
    uint32_t cp;

    while (i < len) {
        if (p[i] < 0x80) {
            /* ASCII, most texts: the same rules without decoding */
            cp = p[i++];
            if (is_forbidden_control(cp))
                return CHAT_TEXT_CONTROL;
            blank = blank && (cp == ' ' || (cp >= 0x09 && cp <= 0x0D));
            chars++;
            continue;
        }
        n = utf8_decode(p + i, len - i, &cp);
        if (n == 0)
            return CHAT_TEXT_BAD_UTF8;
        if (is_forbidden_control(cp))
            return CHAT_TEXT_CONTROL;
        if (!is_blank(cp))
            blank = false;
        chars++;
        i += n;
    }
    if (blank)
        return CHAT_TEXT_EMPTY;
    if ((int64_t)chars > max_chars)
        return CHAT_TEXT_TOO_LONG;
    return CHAT_TEXT_OK;
}

bool chat_id_valid(const char *s)
{
    size_t i;

    if (s == NULL)
        return false;
    for (i = 0; s[i] != '\0'; i++) {
        if (i >= CHAT_ID_MAX)
            return false;
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '/')
            return false;
    }
    return i > 0;
}

bool chat_cmid_valid(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > CHAT_CMID_MAX)
        return false;
    for (i = 0; i < len; i++)
        if (s[i] < ' ' || s[i] > '~')
            return false;
    return true;
}

bool chat_context_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n;
    uint32_t cp;

    if (len == 0 || len > CHAT_CONTEXT_MAX)
        return false;
    while (i < len) {
        n = utf8_decode(p + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || cp == 0x7F)
            return false;
        i += n;
    }
    return true;
}

bool chat_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (s == NULL || s[0] == '\0' || strlen(s) > 20)
        return false;
    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

int chat_parse_limit(const char *s, unsigned *out, struct chat_err *err)
{
    uint64_t v;

    if (s == NULL) {
        *out = CHAT_LIMIT_DEFAULT;
        return CHATD_OK;
    }
    if (!chat_parse_u64(s, 1, CHAT_LIMIT_MAX, &v))
        return chat_err_set(err, 400, "invalid_argument",
                            "limit must be an integer from 1 to %d",
                            CHAT_LIMIT_MAX);
    *out = (unsigned)v;
    return CHATD_OK;
}

uint64_t chat_text_digest(const char *s, size_t len)
{
    return XXH3_64bits(s, len);
}

int chat_body_parse(const void *data, size_t len, json_t **out,
                    struct chat_err *err)
{
    json_error_t jerr;
    json_t *v;

    if (data == NULL || len == 0)
        return chat_err_set(err, 400, "invalid_json",
                            "the body is empty; expected a JSON object");
    if (!chat_utf8_valid(data, len))
        return chat_err_set(err, 400, "invalid_argument",
                            "the body is not valid UTF-8");
    v = json_loadb(data, len, JSON_DECODE_ANY, &jerr);
    if (v == NULL)
        return chat_err_set(err, 400, "invalid_json",
                            "the body is not valid JSON: %s (line %d)",
                            jerr.text, jerr.line);
    if (!json_is_object(v)) {
        json_decref(v);
        return chat_err_set(err, 400, "invalid_argument",
                            "the body must be a JSON object");
    }
    *out = v;
    return CHATD_OK;
}
