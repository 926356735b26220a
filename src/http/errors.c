#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "http/internal.h"

const char http_error_oom_body[] =
    "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

/* Length of the valid UTF-8 sequence at p (NUL-terminated), 0 if none. */
static size_t utf8_len(const unsigned char *p)
{
    size_t want, i;

    if (*p < 0x80)
        return 1;
    want = *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
    for (i = 1; i < want; i++)
        if (p[i] == '\0')
            return 0;
    return core_utf8_valid(p, want) ? want : 0;
}

/* Bytes `s` takes as the inside of a JSON string; invalid UTF-8 bytes are
 * written as U+FFFD so the body stays valid JSON text. */
static size_t json_escaped(const char *s, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0, i, seq;

    while (*p != '\0') {
        if (*p == '"' || *p == '\\') {
            if (out != NULL) {
                out[n] = '\\';
                out[n + 1] = (char)*p;
            }
            n += 2;
            p++;
        } else if (*p < 0x20) {
            if (out != NULL)
                snprintf(out + n, 7, "\\u00%c%c", hex[*p >> 4], hex[*p & 15]);
            n += 6;
            p++;
        } else {
            seq = utf8_len(p);
            if (seq == 0) {
                if (out != NULL)
                    memcpy(out + n, "\xef\xbf\xbd", 3);
                n += 3;
                p++;
                continue;
            }
            for (i = 0; i < seq; i++, p++, n++)
                if (out != NULL)
                    out[n] = (char)*p;
        }
    }
    return n;
}

char *http_error_body(const char *code, const char *message, size_t *len)
{
    static const char a[] = "{\"error\":{\"code\":\"",
                      b[] = "\",\"message\":\"", c[] = "\"}}";
    size_t nc, nm, n;
    char *out;

    if (code == NULL)
        code = "internal";
    if (message == NULL)
        message = "";
    nc = json_escaped(code, NULL);
    nm = json_escaped(message, NULL);
    n = sizeof(a) - 1 + nc + sizeof(b) - 1 + nm + sizeof(c) - 1;
    out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, a, sizeof(a) - 1);
    json_escaped(code, out + sizeof(a) - 1);
    memcpy(out + sizeof(a) - 1 + nc, b, sizeof(b) - 1);
    json_escaped(message, out + sizeof(a) - 1 + nc + sizeof(b) - 1);
    memcpy(out + n - (sizeof(c) - 1), c, sizeof(c));
    *len = n;
    return out;
}
