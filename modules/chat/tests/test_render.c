/* Unit tests of modules/chat/render.c: the JSON text the API answers
 * with, the JSON writers and the in-place scanner of event data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "chatd/module.h"
#include "render.h"
#include "validate.h"

static json_t *J(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);

    assert_non_null(v);
    return v;
}

/* Parses the rendered text (which must be valid JSON), serialises it with
 * sorted keys and compares with `expected` (also given with sorted keys).
 * Frees the buffer. */
static void assert_json(struct chat_buf *b, const char *expected)
{
    json_error_t err;
    json_t *v, *e = J(expected);
    char *got, *want;

    assert_false(b->failed);
    v = json_loadb(b->p, b->len, 0, &err);
    if (v == NULL)
        fail_msg("not JSON (%s): %.*s", err.text, (int)b->len, b->p);
    got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    want = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
    if (strcmp(got, want) != 0)
        fail_msg("got  %s\nwant %s", got, want);
    free(got);
    free(want);
    json_decref(e);
    json_decref(v);
    chat_buf_free(b);
}

/* The text must be exactly `expected` (member order included). */
static void assert_text(struct chat_buf *b, const char *expected)
{
    assert_false(b->failed);
    if (b->len != strlen(expected) || memcmp(b->p, expected, b->len) != 0)
        fail_msg("got  %.*s\nwant %s", (int)b->len, b->p, expected);
    chat_buf_free(b);
}

/* A raw token for a literal ("\"x\"", "3", "null"...). */
static struct chat_jval T(const char *tok)
{
    struct chat_jval v = {tok, strlen(tok), CHAT_J_STR};

    if (tok[0] == '{')
        v.type = CHAT_J_OBJ;
    else if (tok[0] == 'n')
        v.type = CHAT_J_NULL;
    return v;
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

/* The hand-rolled formatting agrees with the C library's, day by day
 * across leap years and centuries, and at the edges of each day. */
static void test_time_matches_libc(void **state)
{
    static const int64_t day = 86400000;
    char mine[CHAT_TIME_LEN], want[CHAT_TIME_LEN];
    int64_t ms;
    time_t secs;
    struct tm tm;
    size_t n;

    (void)state;
    for (ms = -800LL * 366 * day; ms < 800LL * 366 * day;
         ms += 7 * day + 3600007) {
        secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        assert_non_null(gmtime_r(&secs, &tm));
        n = strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + n, sizeof(want) - n, ".%03dZ",
                 (int)(ms - (int64_t)secs * 1000));
        assert_string_equal(chat_format_time(ms, mine), want);
    }
    assert_string_equal(chat_format_time(951782400000, mine),
                        "2000-02-29T00:00:00.000Z");
    assert_string_equal(chat_format_time(4107542399999, mine),
                        "2100-02-28T23:59:59.999Z");
}

static void test_message(void **state)
{
    struct chat_msg_view m = {
        .id = T("\"m_1\""), .room = T("\"r_1\""), .sender = T("\"u_a\""),
        .kind = T("\"text\""), .text = T("\"hi\""),
        .created_at = T("\"2023-11-14T22:13:20.123Z\""),
        .client_msg_id = T("\"c9\""), .seq = 3,
    };
    struct chat_buf b = {0};

    (void)state;
    assert_int_equal(chat_render_message(&b, &m), CHATD_OK);
    assert_json(&b,
                "{\"client_msg_id\":\"c9\",\"created_at\":"
                "\"2023-11-14T22:13:20.123Z\",\"deleted\":false,"
                "\"edited_at\":null,\"id\":\"m_1\",\"kind\":\"text\","
                "\"room\":\"r_1\",\"sender\":\"u_a\",\"seq\":3,\"text\":\"hi\"}");

    m.text = T("\"hey\"");
    m.created_at = T("\"1970-01-01T00:00:00.000Z\"");
    m.edited_at = T("\"1970-01-01T00:00:01.000Z\"");
    m.client_msg_id.type = CHAT_J_NONE;
    assert_int_equal(chat_render_message(&b, &m), CHATD_OK);
    assert_json(&b,
                "{\"client_msg_id\":null,\"created_at\":"
                "\"1970-01-01T00:00:00.000Z\",\"deleted\":false,"
                "\"edited_at\":\"1970-01-01T00:00:01.000Z\",\"id\":\"m_1\","
                "\"kind\":\"text\",\"room\":\"r_1\",\"sender\":\"u_a\","
                "\"seq\":3,\"text\":\"hey\"}");
    /* the member order of the API (as jansson wrote it before) */
    assert_int_equal(chat_render_message(&b, &m), CHATD_OK);
    assert_text(&b, "{\"id\":\"m_1\",\"room\":\"r_1\",\"seq\":3,\"sender\":"
                    "\"u_a\",\"kind\":\"text\",\"text\":\"hey\",\"created_at\":"
                    "\"1970-01-01T00:00:00.000Z\",\"edited_at\":"
                    "\"1970-01-01T00:00:01.000Z\",\"deleted\":false,"
                    "\"client_msg_id\":null}");
}

static void test_message_deleted_and_payment(void **state)
{
    struct chat_msg_view m = {
        .id = T("\"m_1\""), .room = T("\"r_1\""), .sender = T("\"u_a\""),
        .kind = T("\"text\""), .created_at = T("\"1970-01-01T00:00:00.000Z\""),
        .seq = 3, .deleted = true,
    };
    struct chat_buf b = {0};

    (void)state;
    assert_int_equal(chat_render_message(&b, &m), CHATD_OK);
    assert_json(&b,
                "{\"client_msg_id\":null,\"created_at\":"
                "\"1970-01-01T00:00:00.000Z\",\"deleted\":true,"
                "\"edited_at\":null,\"id\":\"m_1\",\"kind\":\"text\","
                "\"room\":\"r_1\",\"sender\":\"u_a\",\"seq\":3,\"text\":null}");

    m = (struct chat_msg_view){
        .id = T("\"m_2\""), .room = T("\"r_1\""), .sender = T("null"),
        .kind = T("\"payment\""), .text = T("\"Paid 500\""),
        .created_at = T("\"1970-01-01T00:00:00.000Z\""),
        .payment = T("{\"text\":\"Paid 500\",\"amount\":500}"), .seq = 4,
    };
    assert_int_equal(chat_render_message(&b, &m), CHATD_OK);
    assert_json(&b,
                "{\"client_msg_id\":null,\"created_at\":"
                "\"1970-01-01T00:00:00.000Z\",\"deleted\":false,"
                "\"edited_at\":null,\"id\":\"m_2\",\"kind\":\"payment\","
                "\"payment\":{\"amount\":500,\"text\":\"Paid 500\"},"
                "\"room\":\"r_1\",\"sender\":null,\"seq\":4,"
                "\"text\":\"Paid 500\"}");

    m.id.type = CHAT_J_NONE; /* no id: refused, nothing written */
    assert_int_equal(chat_render_message(&b, &m), CHATD_EINVAL);
    assert_int_equal(b.len, 0);
    chat_buf_free(&b);
}

static void test_room(void **state)
{
    static const char *const members[] = {"u_a", "u_b"};
    struct chat_member me = {.joined_ms = 0, .read_seq = 1, .own_after = 0,
                             .activity = 9};
    struct chat_room_static st = {
        .id = "r_1", .kind = "direct", .created_by = "u_a",
        .context = "listing:42", .context_len = 10, .created_ms = 0,
        .members = members, .n_members = 2,
    };
    const char *last = "{\"id\":\"m_3\",\"room\":\"r_1\",\"seq\":3,"
                       "\"sender\":\"u_b\",\"kind\":\"text\",\"text\":\"yo\","
                       "\"created_at\":"
                       "\"1970-01-01T00:00:02.000Z\",\"edited_at\":null,"
                       "\"deleted\":false,\"client_msg_id\":null}";
    struct chat_buf b = {0};

    (void)state;
    chat_render_room_static(&b, &st);
    chat_render_room_dynamic(&b, 2, 3, last, strlen(last), 2000);
    chat_render_room_tail(&b, &me, 3); /* seq 2 and 3 after read_seq 1 */
    assert_json(&b,
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

    st = (struct chat_room_static){
        .id = "r_2", .kind = "group", .created_by = "u_a", .title = "T",
        .title_len = 1, .created_ms = 0,
    };
    me.read_seq = 0;
    chat_render_room_static(&b, &st);
    chat_render_room_dynamic(&b, 3, 0, NULL, 0, 0);
    chat_render_room_tail(&b, &me, 0);
    assert_json(&b,
                "{\"context\":null,\"created_at\":\"1970-01-01T00:00:00.000Z\","
                "\"created_by\":\"u_a\",\"id\":\"r_2\",\"kind\":\"group\","
                "\"last_activity_at\":\"1970-01-01T00:00:00.000Z\","
                "\"last_message\":null,\"last_seq\":0,\"member_count\":3,"
                "\"read_seq\":0,\"title\":\"T\",\"unread\":0}");
    chat_render_room_static(&b, &st);
    chat_render_room_dynamic(&b, 3, 0, NULL, 0, 0);
    chat_render_room_tail(&b, &me, 0);
    assert_text(&b, "{\"id\":\"r_2\",\"kind\":\"group\",\"title\":\"T\","
                    "\"context\":null,\"created_by\":\"u_a\",\"created_at\":"
                    "\"1970-01-01T00:00:00.000Z\",\"member_count\":3,"
                    "\"last_seq\":0,\"last_message\":null,\"last_activity_at\":"
                    "\"1970-01-01T00:00:00.000Z\",\"unread\":0,\"read_seq\":0}");
}

static void test_member_and_read(void **state)
{
    struct chat_member m = {.joined_ms = 1000, .read_seq = 4, .own_after = 1};
    struct chat_buf b = {0};

    (void)state;
    chat_render_member(&b, "u_a", "\"alice\"", 7, &m);
    assert_json(&b,
                "{\"joined_at\":\"1970-01-01T00:00:01.000Z\",\"name\":\"alice\","
                "\"read_seq\":4,\"user\":\"u_a\"}");
    chat_render_member(&b, "u_x", NULL, 0, &m);
    assert_json(&b,
                "{\"joined_at\":\"1970-01-01T00:00:01.000Z\",\"name\":null,"
                "\"read_seq\":4,\"user\":\"u_x\"}");
    chat_render_read(&b, "r_1", "u_a", &m, 6); /* 5, 6 after: one own */
    assert_json(&b,
                "{\"read_seq\":4,\"room\":\"r_1\",\"unread\":1,\"user\":\"u_a\"}");
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

/* The writers escape as jansson does, so the text parses back to the
 * same strings; numbers in full. */
static void test_writers(void **state)
{
    static const char *const texts[] = {
        "", "plain", "q\"b\\s/", "\b\f\n\r\t", "\x01\x1f\x7f",
        "\xea\xb0\x80 \xf0\x9f\x91\x8b \xe2\x80\xa8",
    };
    struct chat_buf b = {0};
    json_t *v, *s;
    char *want;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        s = json_string(texts[i]);
        want = json_dumps(s, JSON_ENCODE_ANY);
        chat_buf_jstr(&b, texts[i], strlen(texts[i]));
        assert_int_equal(b.len, strlen(want));
        assert_memory_equal(b.p, want, b.len);
        v = json_loadb(b.p, b.len, JSON_DECODE_ANY, NULL);
        assert_true(json_equal(v, s));
        json_decref(v);
        json_decref(s);
        free(want);
        chat_buf_free(&b);
    }
    chat_buf_jstr(&b, "a\0b", 3); /* an embedded NUL is escaped too */
    assert_text(&b, "\"a\\u0000b\"");
    chat_buf_u64(&b, 0);
    chat_buf_lit(&b, ",");
    chat_buf_u64(&b, UINT64_MAX);
    assert_text(&b, "0,18446744073709551615");
    /* growing far past the first allocation */
    for (i = 0; i < 10000; i++)
        chat_buf_lit(&b, "0123456789");
    assert_int_equal(b.len, 100000);
    assert_false(b.failed);
    chat_buf_free(&b);
}

/* Escaping and scanning look at 8 bytes at a time: a byte that needs an
 * escape is found at every position of a word, and bytes at or above 0x20
 * (and UTF-8 bytes) are never escaped. */
static void test_escape_every_position(void **state)
{
    static const char special[] = {'"', '\\', '\x01', '\x1f', '\n'};
    static const char *const esc[] = {"\\\"", "\\\\", "\\u0001",
                                      "\\u001F", "\\n"};
    static const char *const keys1[] = {"t", NULL};
    char in[40], want[80], doc[100];
    struct chat_buf b = {0};
    struct chat_jval v[1];
    size_t len, pos, k, n;

    (void)state;
    for (len = 1; len <= 24; len++) {
        for (pos = 0; pos < len; pos++) {
            for (k = 0; k < sizeof(special); k++) {
                memset(in, 'a', len);
                in[(pos + 1) % len] = (char)0xC3; /* not special */
                in[pos] = special[k];
                n = 0;
                want[n++] = '"';
                memcpy(want + n, in, pos);
                n += pos;
                memcpy(want + n, esc[k], strlen(esc[k]));
                n += strlen(esc[k]);
                memcpy(want + n, in + pos + 1, len - pos - 1);
                n += len - pos - 1;
                want[n++] = '"';
                chat_buf_jstr(&b, in, len);
                assert_int_equal(b.len, n);
                assert_memory_equal(b.p, want, n);
                chat_buf_free(&b);
                /* escaped, the string scans; raw, a control byte or a
                 * quote in the middle does not */
                snprintf(doc, sizeof(doc), "{\"t\":%.*s}", (int)n, want);
                assert_int_equal(chat_json_fields(doc, strlen(doc), keys1, v),
                                 CHATD_OK);
                assert_int_equal(v[0].len, n);
                snprintf(doc, sizeof(doc), "{\"t\":\"%.*s\"}", (int)len, in);
                if (special[k] != '\\')
                    assert_int_equal(chat_json_fields(doc, strlen(doc), keys1,
                                                      v),
                                     CHATD_EINVAL);
            }
        }
    }
}

enum { F_ROOM, F_SEQ, F_TEXT, F_PAY, F_NONE, F_N };
static const char *const keys[] = {"room", "seq", "text", "payment", "none",
                                   NULL};

static void test_scan_fields(void **state)
{
    const char *ev = " {\"room\":\"r_\\\"1\", \"id\" : \"m_1\",\"seq\":42,"
                     "\"text\":\"caf\\u00e9 \\ud83d\\udc4b\\n\",\"kinds\":[1,"
                     "{\"a\":[]},\"x\"],\"payment\":{\"text\":\"p\","
                     "\"n\":-1.5e3},\"b\":true,\"z\":null} ";
    struct chat_jval v[F_N];
    char out[64], id[CHAT_ID_MAX + 1];
    uint64_t n;
    size_t len;

    (void)state;
    assert_int_equal(chat_json_fields(ev, strlen(ev), keys, v), CHATD_OK);
    assert_int_equal(v[F_ROOM].type, CHAT_J_STR);
    assert_int_equal(v[F_ROOM].len, 7);
    assert_memory_equal(v[F_ROOM].p, "\"r_\\\"1\"", 7);
    assert_true(chat_jval_id(&v[F_ROOM], id, sizeof(id)));
    assert_string_equal(id, "r_\"1");
    assert_true(chat_jval_u64(&v[F_SEQ], &n));
    assert_int_equal(n, 42);
    assert_int_equal(chat_jval_str(&v[F_TEXT], out, sizeof(out), &len),
                     CHATD_OK);
    assert_int_equal(len, strlen("caf\xc3\xa9 \xf0\x9f\x91\x8b\n"));
    assert_memory_equal(out, "caf\xc3\xa9 \xf0\x9f\x91\x8b\n", len);
    assert_int_equal(v[F_PAY].type, CHAT_J_OBJ);
    assert_memory_equal(v[F_PAY].p, "{\"text\":\"p\",\"n\":-1.5e3}",
                        v[F_PAY].len);
    assert_int_equal(v[F_NONE].type, CHAT_J_NONE);
    assert_false(chat_jval_u64(&v[F_NONE], &n));
    assert_false(chat_jval_u64(&v[F_ROOM], &n));
    /* too small an output */
    assert_int_equal(chat_jval_str(&v[F_TEXT], out, 5, &len), CHATD_EINVAL);
    /* the last of repeated members wins, as in jansson */
    assert_int_equal(chat_json_fields("{\"seq\":1,\"seq\":2}", 17, keys, v),
                     CHATD_OK);
    assert_true(chat_jval_u64(&v[F_SEQ], &n));
    assert_int_equal(n, 2);
    assert_int_equal(chat_json_fields("{}", 2, keys, v), CHATD_OK);
    assert_int_equal(v[F_ROOM].type, CHAT_J_NONE);
    /* an empty key is a key like any other (tests/fuzz/fuzz_chat_json) */
    {
        static const char *const empty[] = {"x", "", NULL};
        struct chat_jval e[2];

        const char *doc = "{\"\":1,\"x\":2}";

        assert_int_equal(chat_json_fields(doc, strlen(doc), empty, e),
                         CHATD_OK);
        assert_int_equal(e[1].type, CHAT_J_NUM);
        assert_memory_equal(e[1].p, "1", 1);
        assert_memory_equal(e[0].p, "2", 1);
    }
}

static void test_scan_refuses_malformed(void **state)
{
    static const char *const bad[] = {
        "", "[]", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1}x",
        "{\"a\":tru}", "{\"a\":01x}", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}", "{\"a\":[1,]}", "{\"a\":{\"b\"}}", "{a:1}",
        "{\"a\":\"open}", "{\"a\":1 \"b\":2}", "{\"a\":-}", "{\"a\":1.}",
    };
    struct chat_jval v[F_N];
    char deep[300], out[8], id[16];
    size_t i, len;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (chat_json_fields(bad[i], strlen(bad[i]), keys, v) != CHATD_EINVAL)
            fail_msg("accepted: %s", bad[i]);
    /* nesting is bounded */
    strcpy(deep, "{\"a\":");
    for (i = 0; i < 100; i++)
        strcat(deep, "[");
    for (i = 0; i < 100; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    assert_int_equal(chat_json_fields(deep, strlen(deep), keys, v),
                     CHATD_EINVAL);
    /* lone surrogates and NULs do not decode into ids */
    assert_int_equal(chat_json_fields("{\"room\":\"\\ud800\"}", 17, keys, v),
                     CHATD_OK);
    assert_int_equal(chat_jval_str(&v[F_ROOM], out, sizeof(out), &len),
                     CHATD_EINVAL);
    assert_int_equal(chat_json_fields("{\"room\":\"a\\u0000\"}", 18, keys, v),
                     CHATD_OK);
    assert_false(chat_jval_id(&v[F_ROOM], id, sizeof(id)));
    assert_int_equal(chat_json_fields("{\"room\":\"a b\"}", 14, keys, v),
                     CHATD_OK);
    assert_false(chat_jval_id(&v[F_ROOM], id, sizeof(id)));
}

static void test_digest(void **state)
{
    struct chat_jval v[F_N];
    const char *ev = "{\"text\":\"x\\\"y\",\"room\":\"plain\"}";
    uint64_t d;

    (void)state;
    assert_int_equal(chat_json_fields(ev, strlen(ev), keys, v), CHATD_OK);
    assert_int_equal(chat_jval_digest(&v[F_TEXT], &d), CHATD_OK);
    assert_true(d == chat_text_digest("x\"y", 3));
    assert_int_equal(chat_jval_digest(&v[F_ROOM], &d), CHATD_OK);
    assert_true(d == chat_text_digest("plain", 5));
    assert_int_equal(chat_jval_digest(&v[F_SEQ], &d), CHATD_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_time_matches_libc),
        cmocka_unit_test(test_message),
        cmocka_unit_test(test_message_deleted_and_payment),
        cmocka_unit_test(test_room),
        cmocka_unit_test(test_member_and_read),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_writers),
        cmocka_unit_test(test_escape_every_position),
        cmocka_unit_test(test_scan_fields),
        cmocka_unit_test(test_scan_refuses_malformed),
        cmocka_unit_test(test_digest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
