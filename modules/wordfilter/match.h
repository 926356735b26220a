/*
 * wordfilter — the word list and the matcher. Pure C (libc only): no host,
 * no storage, so every rule here is unit-tested (tests/test_match.c).
 *
 * What counts as a word. Text is cut into tokens: maximal runs of "word
 * bytes", which are ASCII letters, digits, '_' and every byte >= 0x80 (so
 * UTF-8 letters of any script stay inside their token). A configured word
 * matches a token that equals it, compared byte for byte after folding
 * ASCII A-Z to a-z (unless case-sensitive). So with the word "spam":
 * "SPAM!", "buy spam now" and "(spam)" match; "spammer" and "spam_bot" do
 * not. Configured words must themselves be one token.
 *
 * Threads: a parsed list is read-only after wf_words_parse returns, so
 * any number of threads may call wf_match on it at once.
 */
#ifndef WORDFILTER_MATCH_H
#define WORDFILTER_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#define WF_WORDS_MAX 100   /* words in the configured list */
#define WF_WORD_MAX 64     /* bytes in one word */

struct wf_words {
    char *buf;          /* one malloc()ed block holding every word */
    const char **word;  /* n entries, pointing into buf, NUL-terminated */
    size_t *len;
    size_t n;
    bool case_sensitive;
};

/*
 * Parses a comma-separated list ("spam, scam,Phishing"): items are trimmed
 * of ASCII white space, folded to lower case unless `case_sensitive`,
 * empty items and repeats dropped. Fills *out (free with wf_words_free,
 * also after a failure).
 *
 * Returns 0, or -1 with a sentence for the operator in err[0..err_len)
 * (e.g. "\"free money\" is not a single word ..."): no word at all, more
 * than WF_WORDS_MAX words, a word longer than WF_WORD_MAX bytes, or a
 * word with a byte that is not a word byte. -2 when out of memory.
 */
int wf_words_parse(const char *list, bool case_sensitive,
                   struct wf_words *out, char *err, size_t err_len);
void wf_words_free(struct wf_words *w);

/*
 * Which configured words occur in text[0..len). Sets hit[i] to true for
 * each word i that occurs (hit has w->n entries; the caller clears it) and
 * returns how many distinct words occurred. Never fails; `text` need not
 * be NUL-terminated.
 */
size_t wf_match(const struct wf_words *w, const char *text, size_t len,
                bool *hit);

/* Whether c belongs inside a token (see above). */
bool wf_is_word_byte(unsigned char c);

#endif /* WORDFILTER_MATCH_H */
