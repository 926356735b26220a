/*
 * fuzz_utf8 — the UTF-8 checks against a decoder written the slow way.
 *
 * core_utf8_valid guards request bodies and WebSocket text frames (a
 * wrong "valid" lets bytes through that jansson or a client chokes on, a
 * wrong "invalid" closes a good client with 1007), core_utf8_length
 * counts a message's characters against its limit, and the chat module
 * has its own copy (modules link nothing of the host). All three must
 * agree with RFC 3629 decoded by value: no overlong forms, no surrogates,
 * nothing above U+10FFFF.
 */
#include <stdbool.h>
#include <string.h>

#include "core/core.h"
#include "fuzz.h"
#include "validate.h"

/* Decodes one code point at s (left > 0 bytes): its length, or 0. */
static size_t ref_decode(const uint8_t *s, size_t left)
{
    uint32_t cp, min;
    size_t n, i;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2, cp = s[0] & 0x1F, min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3, cp = s[0] & 0x0F, min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4, cp = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Whether s is valid; *chars its code points if so. */
static bool ref_valid(const uint8_t *s, size_t len, size_t *chars)
{
    size_t i = 0, n;

    *chars = 0;
    while (i < len) {
        n = ref_decode(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
        (*chars)++;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t chars;
    bool want = ref_valid(data, size, &chars);

    FUZZ_CHECK(core_utf8_valid(data, size) == want,
               "core_utf8_valid says %s", want ? "invalid" : "valid");
    FUZZ_CHECK(chat_utf8_valid((const char *)data, size) == want,
               "chat_utf8_valid says %s", want ? "invalid" : "valid");
    if (want)
        FUZZ_CHECK(core_utf8_length(data, size) == chars,
                   "core_utf8_length %zu, the decoder counts %zu",
                   core_utf8_length(data, size), chars);
    return 0;
}
