/* Unit tests of modules/wordfilter/match.c: parsing the configured list
 * and which tokens match. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "match.h"

static void parse_ok(struct wf_words *w, const char *list, bool cs)
{
    char err[200] = "";

    assert_int_equal(wf_words_parse(list, cs, w, err, sizeof(err)), 0);
    assert_string_equal(err, "");
}

static void parse_fails(const char *list, const char *expect_in_err)
{
    struct wf_words w;
    char err[200] = "";

    assert_int_equal(wf_words_parse(list, false, &w, err, sizeof(err)), -1);
    assert_non_null(strstr(err, expect_in_err));
    wf_words_free(&w);
}

static size_t match(const struct wf_words *w, const char *text, bool *hit)
{
    memset(hit, 0, WF_WORDS_MAX * sizeof(*hit));
    return wf_match(w, text, strlen(text), hit);
}

static void test_parse_trims_folds_and_dedupes(void **state)
{
    struct wf_words w;

    (void)state;
    parse_ok(&w, " spam, Scam ,,SPAM,\tphish\n", false);
    assert_int_equal(w.n, 3);
    assert_string_equal(w.word[0], "spam");
    assert_string_equal(w.word[1], "scam");
    assert_string_equal(w.word[2], "phish");
    assert_int_equal(w.len[2], 5);
    wf_words_free(&w);

    parse_ok(&w, "Spam,spam", true); /* case-sensitive: two words */
    assert_int_equal(w.n, 2);
    assert_string_equal(w.word[0], "Spam");
    wf_words_free(&w);

    parse_ok(&w, "스팸,caf\xc3\xa9,x_1", false); /* non-ASCII is a letter */
    assert_int_equal(w.n, 3);
    wf_words_free(&w);
}

static void test_parse_refusals(void **state)
{
    char big[WF_WORD_MAX + 2];
    char *many;
    size_t i;

    (void)state;
    parse_fails("", "no words");
    parse_fails(" , ,", "no words");
    parse_fails("spam,free money", "\"free money\" is not a single word");
    parse_fails("spam!", "is not a single word");
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    parse_fails(big, "longer than 64 bytes");

    many = malloc((WF_WORDS_MAX + 1) * 8);
    assert_non_null(many);
    many[0] = '\0';
    for (i = 0; i <= WF_WORDS_MAX; i++)
        sprintf(many + strlen(many), "%sw%zu", i ? "," : "", i);
    parse_fails(many, "more than 100 words");
    free(many);
}

static void test_match_tokens(void **state)
{
    bool hit[WF_WORDS_MAX];
    struct wf_words w;

    (void)state;
    parse_ok(&w, "spam,scam", false);
    assert_int_equal(match(&w, "hello there", hit), 0);
    assert_int_equal(match(&w, "SPAM!", hit), 1);
    assert_true(hit[0]);
    assert_false(hit[1]);
    assert_int_equal(match(&w, "(spam) spam spam", hit), 1); /* distinct */
    assert_int_equal(match(&w, "a scam, and Spam.", hit), 2);
    assert_true(hit[0] && hit[1]);
    /* Inside a longer token: no match. */
    assert_int_equal(match(&w, "spammer spam_bot xspam spam1", hit), 0);
    /* Non-ASCII bytes are letters: "spamé" is one token. */
    assert_int_equal(match(&w, "spam\xc3\xa9", hit), 0);
    /* A space or punctuation before Korean text separates it. */
    assert_int_equal(match(&w, "카드 scam 입니다", hit), 1);
    assert_int_equal(match(&w, "", hit), 0);
    wf_words_free(&w);
}

static void test_match_case_sensitive(void **state)
{
    bool hit[WF_WORDS_MAX];
    struct wf_words w;

    (void)state;
    parse_ok(&w, "Spam", true);
    assert_int_equal(match(&w, "spam SPAM", hit), 0);
    assert_int_equal(match(&w, "Spam", hit), 1);
    wf_words_free(&w);
}

static void test_match_needs_no_nul(void **state)
{
    bool hit[WF_WORDS_MAX] = {false};
    struct wf_words w;

    (void)state;
    parse_ok(&w, "spam", false);
    /* Only the first 4 bytes count: "spam" then nothing. */
    assert_int_equal(wf_match(&w, "spammer", 4, hit), 1);
    wf_words_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_trims_folds_and_dedupes),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_match_tokens),
        cmocka_unit_test(test_match_case_sensitive),
        cmocka_unit_test(test_match_needs_no_nul),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
