/* Unit tests of modules/chat/render.c: the JSON the API answers with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chatd/module.h"
#include "render.h"

static json_t *J(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);

    assert_non_null(v);
    return v;
}

/* Renders, serialises with sorted keys and compares with `expected`
 * (also given with sorted keys). Takes the reference `v`. */
static void assert_json(json_t *v, const char *expected)
{
    json_t *e = J(expected);
    char *got, *want;

    assert_non_null(v);
    got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    want = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
    if (strcmp(got, want) != 0)
        fail_msg("got  %s\nwant %s", got, want);
    free(got);
    free(want);
    json_decref(e);
    json_decref(v);
}

static void test_time(void **state)
{
    char buf[CHAT_TIME_LEN];

    (void)state;
    assert_string_equal(chat_format_time(0, buf), "1970-01-01T00:00:00.000Z");
    assert_string_equal(chat_format_time(1700000000123, buf),
                        "2023-11-14T22:13:20.123Z");
    assert_string_equal(chat_format_time(-1, buf), "1969-12-31T23:59:59.999Z");
    assert_string_equal(chat_format_time(253402300799999, buf),
                        "9999-12-31T23:59:59.999Z");
}

static void test_message(void **state)
{
    json_t *m = J("{\"id\":\"m_1\",\"seq\":3,\"sender\":\"u_a\",\"kind\":\"text\","
                  "\"text\":\"hi\",\"created_ms\":1700000000123,"
                  "\"client_msg_id\":\"c9\"}");

    (void)state;
    assert_json(chat_render_message("r_1", m),
                "{\"client_msg_id\":\"c9\",\"created_at\":"
                "\"2023-11-14T22:13:20.123Z\",\"deleted\":false,"
                "\"edited_at\":null,\"id\":\"m_1\",\"kind\":\"text\","
                "\"room\":\"r_1\",\"sender\":\"u_a\",\"seq\":3,\"text\":\"hi\"}");
    json_decref(m);

    m = J("{\"id\":\"m_1\",\"seq\":3,\"sender\":\"u_a\",\"kind\":\"text\","
          "\"text\":\"hey\",\"created_ms\":0,\"edited_ms\":1000}");
    assert_json(chat_render_message("r_1", m),
                "{\"client_msg_id\":null,\"created_at\":"
                "\"1970-01-01T00:00:00.000Z\",\"deleted\":false,"
                "\"edited_at\":\"1970-01-01T00:00:01.000Z\",\"id\":\"m_1\","
                "\"kind\":\"text\",\"room\":\"r_1\",\"sender\":\"u_a\","
                "\"seq\":3,\"text\":\"hey\"}");
    json_decref(m);
}

static void test_message_deleted_and_payment(void **state)
{
    json_t *m = J("{\"id\":\"m_1\",\"seq\":3,\"sender\":\"u_a\",\"kind\":\"text\","
                  "\"created_ms\":0,\"deleted_ms\":5}");

    (void)state;
    assert_json(chat_render_message("r_1", m),
                "{\"client_msg_id\":null,\"created_at\":"
                "\"1970-01-01T00:00:00.000Z\",\"deleted\":true,"
                "\"edited_at\":null,\"id\":\"m_1\",\"kind\":\"text\","
                "\"room\":\"r_1\",\"sender\":\"u_a\",\"seq\":3,\"text\":null}");
    json_decref(m);

    m = J("{\"id\":\"m_2\",\"seq\":4,\"sender\":null,\"kind\":\"payment\","
          "\"text\":\"Paid 500\",\"created_ms\":0,"
          "\"payment\":{\"text\":\"Paid 500\",\"amount\":500}}");
    assert_json(chat_render_message("r_1", m),
                "{\"client_msg_id\":null,\"created_at\":"
                "\"1970-01-01T00:00:00.000Z\",\"deleted\":false,"
                "\"edited_at\":null,\"id\":\"m_2\",\"kind\":\"payment\","
                "\"payment\":{\"amount\":500,\"text\":\"Paid 500\"},"
                "\"room\":\"r_1\",\"sender\":null,\"seq\":4,"
                "\"text\":\"Paid 500\"}");
    json_decref(m);

    m = J("{\"seq\":3,\"kind\":\"text\"}"); /* no id: refused */
    assert_null(chat_render_message("r_1", m));
    json_decref(m);
}

static void test_room(void **state)
{
    struct chat_member me = {.joined_ms = 0, .read_seq = 1, .unread = 2,
                             .activity = 9};
    json_t *room = J("{\"id\":\"r_1\",\"kind\":\"direct\",\"title\":null,"
                     "\"context\":\"listing:42\",\"created_by\":\"u_a\","
                     "\"created_ms\":0,\"members\":[\"u_a\",\"u_b\"],"
                     "\"member_count\":2,\"last_seq\":3,\"ver\":5,"
                     "\"activity_ms\":2000}");
    json_t *msg = J("{\"id\":\"m_3\",\"seq\":3,\"sender\":\"u_b\","
                    "\"kind\":\"text\",\"text\":\"yo\",\"created_ms\":2000}");

    (void)state;
    assert_json(chat_render_room(room, msg, &me),
                "{\"context\":\"listing:42\",\"created_at\":"
                "\"1970-01-01T00:00:00.000Z\",\"created_by\":\"u_a\","
                "\"id\":\"r_1\",\"kind\":\"direct\",\"last_activity_at\":"
                "\"1970-01-01T00:00:02.000Z\",\"last_message\":{"
                "\"client_msg_id\":null,\"created_at\":"
                "\"1970-01-01T00:00:02.000Z\",\"deleted\":false,"
                "\"edited_at\":null,\"id\":\"m_3\",\"kind\":\"text\","
                "\"room\":\"r_1\",\"sender\":\"u_b\",\"seq\":3,\"text\":\"yo\"},"
                "\"last_seq\":3,\"member_count\":2,\"members\":[\"u_a\",\"u_b\"],"
                "\"read_seq\":1,\"title\":null,\"unread\":2}");
    json_decref(room);
    json_decref(msg);

    room = J("{\"id\":\"r_2\",\"kind\":\"group\",\"title\":\"T\","
             "\"context\":null,\"created_by\":\"u_a\",\"created_ms\":0,"
             "\"member_count\":3,\"last_seq\":0,\"ver\":1,\"activity_ms\":0}");
    me.unread = 0;
    me.read_seq = 0;
    assert_json(chat_render_room(room, NULL, &me),
                "{\"context\":null,\"created_at\":\"1970-01-01T00:00:00.000Z\","
                "\"created_by\":\"u_a\",\"id\":\"r_2\",\"kind\":\"group\","
                "\"last_activity_at\":\"1970-01-01T00:00:00.000Z\","
                "\"last_message\":null,\"last_seq\":0,\"member_count\":3,"
                "\"read_seq\":0,\"title\":\"T\",\"unread\":0}");
    json_decref(room);
}

static void test_member_and_read(void **state)
{
    struct chat_member m = {.joined_ms = 1000, .read_seq = 4, .unread = 1};
    json_t *user = J("{\"name\":\"alice\",\"kind\":\"user\"}");

    (void)state;
    assert_json(chat_render_member("u_a", user, &m),
                "{\"joined_at\":\"1970-01-01T00:00:01.000Z\",\"name\":\"alice\","
                "\"read_seq\":4,\"user\":\"u_a\"}");
    assert_json(chat_render_member("u_x", NULL, &m),
                "{\"joined_at\":\"1970-01-01T00:00:01.000Z\",\"name\":null,"
                "\"read_seq\":4,\"user\":\"u_x\"}");
    assert_json(chat_render_read("r_1", "u_a", &m),
                "{\"read_seq\":4,\"room\":\"r_1\",\"unread\":1,\"user\":\"u_a\"}");
    json_decref(user);
}

static void test_dump(void **state)
{
    size_t len = 0;
    char *s;

    (void)state;
    assert_null(chat_dump(NULL, &len));
    s = chat_dump(J("{\"a\":[1,\"\xea\xb0\x80\"]}"), &len);
    assert_string_equal(s, "{\"a\":[1,\"\xea\xb0\x80\"]}");
    assert_int_equal(len, strlen(s));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_message),
        cmocka_unit_test(test_message_deleted_and_payment),
        cmocka_unit_test(test_room),
        cmocka_unit_test(test_member_and_read),
        cmocka_unit_test(test_dump),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
