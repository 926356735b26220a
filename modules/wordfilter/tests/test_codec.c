/* Unit tests of modules/wordfilter/codec.c: reading chat messages,
 * writing flags, and the v1 → v2 upcaster of wordfilter.message_flagged
 * (the worked example of docs/MODULES.md, "Changing an event's schema"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "codec.h"

static struct chatd_event event(const char *type, uint32_t v,
                                const char *data)
{
    struct chatd_event ev = {.size = sizeof(ev),
                             .seq = 42,
                             .type = type,
                             .v = v,
                             .stream = "room:r_1",
                             .data = data,
                             .data_len = strlen(data)};
    return ev;
}

static void test_source_text_message(void **state)
{
    struct chatd_event ev = event(
        "chat.message_posted", 1,
        "{\"room\":\"r_1\",\"id\":\"m_9\",\"seq\":3,\"sender\":\"u_a\","
        "\"kind\":\"text\",\"text\":\"buy spam\"}");
    struct wf_source src;
    void *doc;

    (void)state;
    assert_int_equal(wf_source_read(&ev, &doc, &src), WF_PARSE_OK);
    assert_string_equal(src.room, "r_1");
    assert_string_equal(src.message_id, "m_9");
    assert_string_equal(src.sender, "u_a");
    assert_int_equal(src.seq, 3);
    assert_int_equal(src.source_seq, 42);
    assert_int_equal(src.text_len, 8);
    assert_memory_equal(src.text, "buy spam", 8);
    wf_doc_free(doc);
}

static void test_source_room_id_and_skips(void **state)
{
    struct chatd_event ev = event(
        "chat.message_posted", 1,
        "{\"room_id\":\"r_2\",\"seq\":1,\"sender\":\"u_a\",\"text\":\"x\"}");
    struct wf_source src;
    void *doc;

    (void)state;
    assert_int_equal(wf_source_read(&ev, &doc, &src), WF_PARSE_OK);
    assert_string_equal(src.room, "r_2");
    assert_string_equal(src.message_id, "");
    wf_doc_free(doc);

    ev = event("chat.message_posted", 1,
               "{\"room\":\"r_1\",\"seq\":4,\"sender\":null,\"kind\":"
               "\"payment\",\"text\":\"paid\"}");
    assert_int_equal(wf_source_read(&ev, &doc, &src), WF_PARSE_SKIP);
    assert_null(doc);
    ev = event("chat.message_edited", 1, "{}");
    assert_int_equal(wf_source_read(&ev, &doc, &src), WF_PARSE_SKIP);
}

static void test_source_malformed(void **state)
{
    static const char *const bad[] = {
        "not json",
        "[1]",
        "{\"room\":\"r_1\",\"seq\":1,\"sender\":\"u_a\"}",          /* text */
        "{\"room\":\"r 1\",\"seq\":1,\"sender\":\"u_a\",\"text\":\"x\"}",
        "{\"room\":\"r_1\",\"seq\":0,\"sender\":\"u_a\",\"text\":\"x\"}",
        "{\"room\":\"r_1\",\"seq\":1,\"text\":\"x\"}",              /* sender */
        "{\"room\":\"r\\u0000x\",\"seq\":1,\"sender\":\"u\",\"text\":\"x\"}",
    };
    struct wf_source src;
    struct chatd_event ev;
    void *doc;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ev = event("chat.message_posted", 1, bad[i]);
        assert_int_equal(wf_source_read(&ev, &doc, &src), WF_PARSE_MALFORMED);
        assert_null(doc);
    }
}

static void test_flag_data(void **state)
{
    struct wf_source src = {.source_seq = 42, .seq = 3};
    bool hit[WF_WORDS_MAX] = {false};
    struct wf_words w;
    char err[100];
    size_t len = 0;
    char *text;

    (void)state;
    strcpy(src.room, "r_1");
    strcpy(src.sender, "u_a");
    assert_int_equal(wf_words_parse("spam,scam,phish", false, &w, err,
                                    sizeof(err)), 0);
    hit[0] = hit[2] = true;
    text = wf_flag_data(&src, &w, hit, &len);
    assert_non_null(text);
    assert_string_equal(text, "{\"room_id\":\"r_1\",\"seq\":3,\"message_id\":"
                              "null,\"sender\":\"u_a\",\"words\":[\"spam\","
                              "\"phish\"],\"source_seq\":42}");
    assert_int_equal(len, strlen(text));
    free(text);
    wf_words_free(&w);
}

static void test_upcast_v1(void **state)
{
    struct chatd_event ev = event(
        WF_TYPE_FLAGGED, 1,
        "{\"room_id\":\"r_1\",\"seq\":3,\"sender\":\"u_a\",\"word\":\"spam\","
        "\"source_seq\":42}");
    json_t *d, *expect;
    char *out = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(wf_upcast_flag(&ev, &out, &len), CHATD_OK);
    assert_int_equal(len, strlen(out));
    d = json_loads(out, 0, NULL);
    expect = json_loads("{\"room_id\":\"r_1\",\"seq\":3,\"sender\":\"u_a\","
                        "\"words\":[\"spam\"],\"message_id\":null,"
                        "\"source_seq\":42}",
                        0, NULL);
    assert_true(json_equal(d, expect));
    json_decref(d);
    json_decref(expect);
    free(out); /* the host frees it with free(), so must we */
}

static void test_upcast_refuses(void **state)
{
    struct chatd_event ev = event(WF_TYPE_FLAGGED, 1, "{\"room_id\":\"r\"}");
    char *out = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(wf_upcast_flag(&ev, &out, &len), CHATD_EINVAL);
    ev = event(WF_TYPE_FLAGGED, 1, "nope");
    assert_int_equal(wf_upcast_flag(&ev, &out, &len), CHATD_EINVAL);
    ev = event(WF_TYPE_FLAGGED, 3, "{\"word\":\"x\"}");
    assert_int_equal(wf_upcast_flag(&ev, &out, &len), CHATD_EINVAL);
    assert_null(out);
}

static void test_id_valid(void **state)
{
    char big[WF_ID_MAX + 2];

    (void)state;
    assert_true(wf_id_valid("r_7f3a"));
    assert_false(wf_id_valid(""));
    assert_false(wf_id_valid(NULL));
    assert_false(wf_id_valid("a/b"));
    assert_false(wf_id_valid("a b"));
    assert_false(wf_id_valid("caf\xc3\xa9"));
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_false(wf_id_valid(big));
    big[WF_ID_MAX] = '\0';
    assert_true(wf_id_valid(big));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_text_message),
        cmocka_unit_test(test_source_room_id_and_skips),
        cmocka_unit_test(test_source_malformed),
        cmocka_unit_test(test_flag_data),
        cmocka_unit_test(test_upcast_v1),
        cmocka_unit_test(test_upcast_refuses),
        cmocka_unit_test(test_id_valid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
