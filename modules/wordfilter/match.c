/* The word list and the matcher (match.h has the rules). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"

bool wf_is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

static unsigned char fold(unsigned char c, bool case_sensitive)
{
    if (!case_sensitive && c >= 'A' && c <= 'Z')
        return (unsigned char)(c - 'A' + 'a');
    return c;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

static bool already_listed(const struct wf_words *w, const char *s,
                           size_t len)
{
    size_t i;

    for (i = 0; i < w->n; i++)
        if (w->len[i] == len && memcmp(w->word[i], s, len) == 0)
            return true;
    return false;
}

/* Checks one trimmed item and appends it (folded) at *dst. Returns 0,
 * 1 for a repeat (not added) or -1 after writing err. */
static int add_word(struct wf_words *w, char **dst, const char *s,
                    size_t len, char *err, size_t err_len)
{
    size_t i;

    if (len > WF_WORD_MAX) {
        snprintf(err, err_len, "\"%.*s...\" is longer than %d bytes", 20, s,
                 WF_WORD_MAX);
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (!wf_is_word_byte((unsigned char)s[i])) {
            snprintf(err, err_len,
                     "\"%.*s\" is not a single word (letters, digits, '_' "
                     "and non-ASCII characters only; separate words with "
                     "commas)",
                     (int)len, s);
            return -1;
        }
        (*dst)[i] = (char)fold((unsigned char)s[i], w->case_sensitive);
    }
    (*dst)[len] = '\0';
    if (already_listed(w, *dst, len))
        return 1;
    if (w->n == WF_WORDS_MAX) {
        snprintf(err, err_len, "more than %d words", WF_WORDS_MAX);
        return -1;
    }
    w->word[w->n] = *dst;
    w->len[w->n] = len;
    w->n++;
    *dst += len + 1;
    return 0;
}

/* Walks the comma-separated items of `list` into w. */
static int split(struct wf_words *w, const char *list, char *err,
                 size_t err_len)
{
    const char *p = list, *end;
    char *dst = w->buf;
    size_t len;

    while (*p != '\0') {
        end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        while (p < end && is_space(*p))
            p++;
        len = (size_t)(end - p);
        while (len > 0 && is_space(p[len - 1]))
            len--;
        if (len > 0 && add_word(w, &dst, p, len, err, err_len) < 0)
            return -1;
        p = *end == ',' ? end + 1 : end;
    }
    return 0;
}

int wf_words_parse(const char *list, bool case_sensitive,
                   struct wf_words *out, char *err, size_t err_len)
{
    size_t size = strlen(list) + 1;

    memset(out, 0, sizeof(*out));
    out->case_sensitive = case_sensitive;
    out->buf = malloc(size);
    out->word = calloc(WF_WORDS_MAX, sizeof(*out->word));
    out->len = calloc(WF_WORDS_MAX, sizeof(*out->len));
    if (out->buf == NULL || out->word == NULL || out->len == NULL)
        return -2;
    if (split(out, list, err, err_len) != 0)
        return -1;
    if (out->n == 0) {
        snprintf(err, err_len,
                 "no words (expected a comma-separated list such as "
                 "\"spam,scam\")");
        return -1;
    }
    return 0;
}

void wf_words_free(struct wf_words *w)
{
    free(w->buf);
    free(w->word);
    free(w->len);
    memset(w, 0, sizeof(*w));
}

static bool token_equals(const struct wf_words *w, size_t i, const char *tok,
                         size_t len)
{
    size_t k;

    if (w->len[i] != len)
        return false;
    for (k = 0; k < len; k++)
        if ((unsigned char)w->word[i][k] !=
            fold((unsigned char)tok[k], w->case_sensitive))
            return false;
    return true;
}

/* Marks the words equal to one token; returns how many were new hits. */
static size_t match_token(const struct wf_words *w, const char *tok,
                          size_t len, bool *hit)
{
    size_t i, found = 0;

    for (i = 0; i < w->n; i++) {
        if (!hit[i] && token_equals(w, i, tok, len)) {
            hit[i] = true;
            found++;
        }
    }
    return found;
}

size_t wf_match(const struct wf_words *w, const char *text, size_t len,
                bool *hit)
{
    size_t i = 0, start, found = 0;

    while (i < len && found < w->n) {
        while (i < len && !wf_is_word_byte((unsigned char)text[i]))
            i++;
        start = i;
        while (i < len && wf_is_word_byte((unsigned char)text[i]))
            i++;
        /* Tokens longer than any word cannot match; skip the compare. */
        if (i > start && i - start <= WF_WORD_MAX)
            found += match_token(w, text + start, i - start, hit);
    }
    return found;
}
