/* Unit tests of modules/chat/validate.c and requests.c: input checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chatd/module.h"
#include "validate.h"

static json_t *J(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);

    assert_non_null(v);
    return v;
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(chat_utf8_valid("", 0));
    assert_true(chat_utf8_valid("abc", 3));
    assert_true(chat_utf8_valid("\xea\xb0\x80", 3));         /* U+AC00 */
    assert_true(chat_utf8_valid("\xf0\x9f\x98\x80", 4));     /* U+1F600 */
    assert_false(chat_utf8_valid("\xc0\x80", 2));            /* overlong */
    assert_false(chat_utf8_valid("\xe0\x80\xaf", 3));        /* overlong */
    assert_false(chat_utf8_valid("\xed\xa0\x80", 3));        /* surrogate */
    assert_false(chat_utf8_valid("\xf4\x90\x80\x80", 4));    /* > 10FFFF */
    assert_false(chat_utf8_valid("\xea\xb0", 2));            /* truncated */
    assert_false(chat_utf8_valid("\xff", 1));
    assert_false(chat_utf8_valid("a\x80", 2));               /* stray cont. */
    assert_int_equal(chat_utf8_chars("a\xea\xb0\x80\xf0\x9f\x98\x80", 8), 3);
}

static void test_utf8_prefix(void **state)
{
    const char *s = "a\xea\xb0\x80" "b";

    (void)state;
    assert_int_equal(chat_utf8_prefix(s, 5, 0), 0);
    assert_int_equal(chat_utf8_prefix(s, 5, 1), 1);
    assert_int_equal(chat_utf8_prefix(s, 5, 2), 4);  /* never splits U+AC00 */
    assert_int_equal(chat_utf8_prefix(s, 5, 3), 5);
    assert_int_equal(chat_utf8_prefix(s, 5, 99), 5);
}

static void test_text_check(void **state)
{
    (void)state;
    assert_int_equal(chat_text_check("hi", 2, 4000), CHAT_TEXT_OK);
    assert_int_equal(chat_text_check("a\tb\nc\r", 6, 4000), CHAT_TEXT_OK);
    assert_int_equal(chat_text_check("", 0, 4000), CHAT_TEXT_EMPTY);
    assert_int_equal(chat_text_check(" \t\r\n ", 5, 4000), CHAT_TEXT_EMPTY);
    /* ideographic space, no-break space, zero width space, BOM */
    assert_int_equal(chat_text_check("\xe3\x80\x80\xc2\xa0\xe2\x80\x8b\xef\xbb\xbf",
                                     11, 4000),
                     CHAT_TEXT_EMPTY);
    assert_int_equal(chat_text_check(" x ", 3, 4000), CHAT_TEXT_OK);
    /* the limit counts characters, not bytes */
    assert_int_equal(chat_text_check("\xea\xb0\x80\xea\xb0\x80\xea\xb0\x80", 9, 3),
                     CHAT_TEXT_OK);
    assert_int_equal(chat_text_check("abcd", 4, 3), CHAT_TEXT_TOO_LONG);
    assert_int_equal(chat_text_check("abc", 3, 3), CHAT_TEXT_OK);
    assert_int_equal(chat_text_check("a\x01", 2, 10), CHAT_TEXT_CONTROL);
    assert_int_equal(chat_text_check("a\x7f", 2, 10), CHAT_TEXT_CONTROL);
    assert_int_equal(chat_text_check("a\xff", 2, 10), CHAT_TEXT_BAD_UTF8);
}

static void test_ids(void **state)
{
    char id[CHAT_ID_MAX + 2];

    (void)state;
    assert_true(chat_id_valid("u_1"));
    assert_true(chat_id_valid("r_0123456789abcdef"));
    assert_false(chat_id_valid(NULL));
    assert_false(chat_id_valid(""));
    assert_false(chat_id_valid("a b"));
    assert_false(chat_id_valid("a/b"));
    assert_false(chat_id_valid("\xea\xb0\x80"));
    memset(id, 'x', CHAT_ID_MAX);
    id[CHAT_ID_MAX] = '\0';
    assert_true(chat_id_valid(id));
    id[CHAT_ID_MAX] = 'x';
    id[CHAT_ID_MAX + 1] = '\0';
    assert_false(chat_id_valid(id));

    assert_true(chat_cmid_valid("c-1 2", 5));
    assert_false(chat_cmid_valid("", 0));
    assert_false(chat_cmid_valid("a\nb", 3));
    assert_false(chat_cmid_valid(id, CHAT_CMID_MAX + 1));

    assert_true(chat_context_valid("listing:42", 10));
    assert_true(chat_context_valid("\xea\xb0\x80", 3));
    assert_false(chat_context_valid("", 0));
    assert_false(chat_context_valid("a\tb", 3));
    assert_false(chat_context_valid("\xff", 1));
}

static void test_parse_u64(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_true(chat_parse_u64("0", 0, 10, &v));
    assert_int_equal(v, 0);
    assert_true(chat_parse_u64("18446744073709551615", 0, UINT64_MAX, &v));
    assert_true(v == UINT64_MAX);
    assert_false(chat_parse_u64("18446744073709551616", 0, UINT64_MAX, &v));
    assert_false(chat_parse_u64("", 0, 10, &v));
    assert_false(chat_parse_u64(NULL, 0, 10, &v));
    assert_false(chat_parse_u64("-1", 0, 10, &v));
    assert_false(chat_parse_u64("+1", 0, 10, &v));
    assert_false(chat_parse_u64("1a", 0, 10, &v));
    assert_false(chat_parse_u64(" 1", 0, 10, &v));
    assert_false(chat_parse_u64("11", 0, 10, &v));
    assert_false(chat_parse_u64("0", 1, 10, &v));
}

static void test_parse_limit(void **state)
{
    struct chat_err err;
    unsigned v;

    (void)state;
    assert_int_equal(chat_parse_limit(NULL, &v, &err), CHATD_OK);
    assert_int_equal(v, CHAT_LIMIT_DEFAULT);
    assert_int_equal(chat_parse_limit("1", &v, &err), CHATD_OK);
    assert_int_equal(v, 1);
    assert_int_equal(chat_parse_limit("100", &v, &err), CHATD_OK);
    assert_int_equal(v, 100);
    assert_int_equal(chat_parse_limit("0", &v, &err), CHATD_EREJECTED);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "invalid_argument");
    assert_int_equal(chat_parse_limit("101", &v, &err), CHATD_EREJECTED);
    assert_int_equal(chat_parse_limit("ten", &v, &err), CHATD_EREJECTED);
}

static void expect_body_error(const char *body, size_t len, const char *code)
{
    struct chat_err err;
    json_t *v = NULL;

    assert_int_equal(chat_body_parse(body, len, &v, &err), CHATD_EREJECTED);
    assert_null(v);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, code);
}

static void test_body_parse(void **state)
{
    struct chat_err err;
    json_t *v = NULL;

    (void)state;
    assert_int_equal(chat_body_parse("{\"a\":1}", 7, &v, &err), CHATD_OK);
    assert_true(json_is_object(v));
    json_decref(v);
    expect_body_error(NULL, 0, "invalid_json");
    expect_body_error("{", 1, "invalid_json");
    expect_body_error("{} x", 4, "invalid_json");
    expect_body_error("[]", 2, "invalid_argument");
    expect_body_error("\"s\"", 3, "invalid_argument");
    expect_body_error("{\"t\":\"\xff\"}", 9, "invalid_argument");
    expect_body_error("{\"t\":\"a\\u0000b\"}", 16, "invalid_json");
    expect_body_error("{\"t\":\"\\udc00\"}", 14, "invalid_json");
}

static void expect_room_error(const char *body, int64_t max, unsigned status,
                              const char *code)
{
    struct chat_room_req r;
    struct chat_err err;
    json_t *b = J(body);

    assert_int_equal(chat_room_req_parse(b, "me", max, &r, &err),
                     CHATD_EREJECTED);
    assert_int_equal(err.status, status);
    assert_string_equal(err.code, code);
    assert_true(strlen(err.message) > 0);
    assert_null(r.members);
    json_decref(b);
}

static void test_room_direct(void **state)
{
    struct chat_room_req r;
    struct chat_err err;
    json_t *b = J("{\"kind\":\"direct\",\"members\":[\"me\",\"bob\",\"bob\"],"
                  "\"context\":\"listing:42\",\"title\":\"ignored\",\"x\":1}");

    (void)state;
    assert_int_equal(chat_room_req_parse(b, "me", 100, &r, &err), CHATD_OK);
    assert_int_equal(r.kind, CHAT_ROOM_DIRECT);
    assert_int_equal(r.n_members, 1);
    assert_string_equal(r.members[0], "bob");
    assert_string_equal(r.context, "listing:42");
    assert_null(r.title);
    free(r.members);
    json_decref(b);

    expect_room_error("{\"kind\":\"direct\",\"members\":[\"me\"]}", 100, 400,
                      "invalid_argument");
    expect_room_error("{\"kind\":\"direct\",\"members\":[\"a\",\"b\"]}", 100,
                      400, "invalid_argument");
    expect_room_error("{\"kind\":\"direct\"}", 100, 400, "invalid_argument");
    expect_room_error("{\"kind\":\"direct\",\"members\":\"bob\"}", 100, 400,
                      "invalid_argument");
    expect_room_error("{\"kind\":\"direct\",\"members\":[1]}", 100, 400,
                      "invalid_argument");
    expect_room_error("{\"kind\":\"direct\",\"members\":[\"a b\"]}", 100, 400,
                      "invalid_argument");
    expect_room_error("{\"kind\":\"direct\",\"members\":[\"b\"],\"context\":5}",
                      100, 400, "invalid_argument");
    expect_room_error("{\"kind\":\"direct\",\"members\":[\"b\"],\"context\":\"\"}",
                      100, 400, "invalid_argument");
}

static void test_room_group(void **state)
{
    struct chat_room_req r;
    struct chat_err err;
    json_t *b = J("{\"kind\":\"group\",\"title\":\" Team \","
                  "\"members\":[\"a\",\"b\",\"me\"],\"context\":\"ignored\"}");

    (void)state;
    assert_int_equal(chat_room_req_parse(b, "me", 3, &r, &err), CHATD_OK);
    assert_int_equal(r.kind, CHAT_ROOM_GROUP);
    assert_string_equal(r.title, " Team ");
    assert_null(r.context);
    assert_int_equal(r.n_members, 2);
    assert_string_equal(r.members[0], "a");
    assert_string_equal(r.members[1], "b");
    free(r.members);
    json_decref(b);

    b = J("{\"kind\":\"group\",\"title\":\"solo\"}");
    assert_int_equal(chat_room_req_parse(b, "me", 3, &r, &err), CHATD_OK);
    assert_int_equal(r.n_members, 0);
    free(r.members);
    json_decref(b);

    /* three others plus the caller exceed a limit of 3 */
    expect_room_error("{\"kind\":\"group\",\"title\":\"t\","
                      "\"members\":[\"a\",\"b\",\"c\"]}",
                      3, 422, "room_full");
    expect_room_error("{\"kind\":\"group\",\"members\":[]}", 3, 400,
                      "invalid_argument");
    expect_room_error("{\"kind\":\"group\",\"title\":\"  \"}", 3, 400,
                      "invalid_argument");
    expect_room_error("{\"kind\":\"group\",\"title\":7}", 3, 400,
                      "invalid_argument");
    expect_room_error("{\"kind\":\"channel\"}", 3, 400, "invalid_argument");
    expect_room_error("{\"members\":[\"a\"]}", 3, 400, "invalid_argument");
    expect_room_error("{\"kind\":1}", 3, 400, "invalid_argument");
}

static void expect_msg_error(const char *body, int64_t max, unsigned status,
                             const char *code)
{
    struct chat_msg_req r;
    struct chat_err err;
    json_t *b = J(body);

    assert_int_equal(chat_msg_req_parse(b, max, true, &r, &err),
                     CHATD_EREJECTED);
    assert_int_equal(err.status, status);
    assert_string_equal(err.code, code);
    json_decref(b);
}

static void test_msg_req(void **state)
{
    struct chat_msg_req r;
    struct chat_err err;
    json_t *b = J("{\"text\":\"hello\",\"client_msg_id\":\"c1\",\"kind\":\"text\","
                  "\"extra\":[1]}");

    (void)state;
    assert_int_equal(chat_msg_req_parse(b, 4000, true, &r, &err), CHATD_OK);
    assert_string_equal(r.text, "hello");
    assert_int_equal(r.text_len, 5);
    assert_string_equal(r.client_msg_id, "c1");
    /* edits take no client_msg_id */
    assert_int_equal(chat_msg_req_parse(b, 4000, false, &r, &err), CHATD_OK);
    assert_null(r.client_msg_id);
    json_decref(b);

    b = J("{\"text\":\"x\",\"client_msg_id\":null}");
    assert_int_equal(chat_msg_req_parse(b, 4000, true, &r, &err), CHATD_OK);
    assert_null(r.client_msg_id);
    json_decref(b);

    expect_msg_error("{}", 4000, 400, "invalid_argument");
    expect_msg_error("{\"text\":5}", 4000, 400, "invalid_argument");
    expect_msg_error("{\"text\":\"\"}", 4000, 400, "invalid_argument");
    expect_msg_error("{\"text\":\" \\n\\t \"}", 4000, 400, "invalid_argument");
    expect_msg_error("{\"text\":\"abcd\"}", 3, 400, "invalid_argument");
    expect_msg_error("{\"text\":\"a\\u0001\"}", 10, 400, "invalid_argument");
    expect_msg_error("{\"text\":\"x\",\"kind\":\"system\"}", 10, 403,
                     "forbidden");
    expect_msg_error("{\"text\":\"x\",\"kind\":\"payment\"}", 10, 403,
                     "forbidden");
    expect_msg_error("{\"text\":\"x\",\"kind\":\"sticker\"}", 10, 400,
                     "invalid_argument");
    expect_msg_error("{\"text\":\"x\",\"client_msg_id\":7}", 10, 400,
                     "invalid_argument");
    expect_msg_error("{\"text\":\"x\",\"client_msg_id\":\"\"}", 10, 400,
                     "invalid_argument");
    expect_msg_error("{\"text\":\"x\",\"client_msg_id\":\"a\\nb\"}", 10, 400,
                     "invalid_argument");
}

static void test_member_and_read(void **state)
{
    struct chat_err err;
    const char *user;
    uint64_t seq;
    json_t *b;

    (void)state;
    b = J("{\"user\":\"u_2\"}");
    assert_int_equal(chat_member_req_parse(b, &user, &err), CHATD_OK);
    assert_string_equal(user, "u_2");
    json_decref(b);
    b = J("{\"user\":2}");
    assert_int_equal(chat_member_req_parse(b, &user, &err), CHATD_EREJECTED);
    assert_int_equal(err.status, 400);
    json_decref(b);

    b = J("{\"seq\":12}");
    assert_int_equal(chat_read_req_parse(b, &seq, &err), CHATD_OK);
    assert_int_equal(seq, 12);
    json_decref(b);
    b = J("{\"seq\":0}");
    assert_int_equal(chat_read_req_parse(b, &seq, &err), CHATD_OK);
    assert_int_equal(seq, 0);
    json_decref(b);
    b = J("{\"seq\":-1}");
    assert_int_equal(chat_read_req_parse(b, &seq, &err), CHATD_EREJECTED);
    json_decref(b);
    b = J("{\"seq\":1.5}");
    assert_int_equal(chat_read_req_parse(b, &seq, &err), CHATD_EREJECTED);
    json_decref(b);
    b = J("{\"seq\":\"3\"}");
    assert_int_equal(chat_read_req_parse(b, &seq, &err), CHATD_EREJECTED);
    assert_string_equal(err.code, "invalid_argument");
    json_decref(b);
}

static void test_page_req(void **state)
{
    struct chat_page_req p;
    struct chat_err err;

    (void)state;
    assert_int_equal(chat_page_req_parse(NULL, NULL, NULL, &p, &err), CHATD_OK);
    assert_false(p.ascending);
    assert_true(p.bound == UINT64_MAX);
    assert_int_equal(p.limit, CHAT_LIMIT_DEFAULT);
    assert_int_equal(chat_page_req_parse("10", NULL, "5", &p, &err), CHATD_OK);
    assert_false(p.ascending);
    assert_int_equal(p.bound, 10);
    assert_int_equal(p.limit, 5);
    assert_int_equal(chat_page_req_parse(NULL, "0", NULL, &p, &err), CHATD_OK);
    assert_true(p.ascending);
    assert_int_equal(p.bound, 0);
    assert_int_equal(chat_page_req_parse("1", "2", NULL, &p, &err),
                     CHATD_EREJECTED);
    assert_int_equal(err.status, 400);
    assert_int_equal(chat_page_req_parse("x", NULL, NULL, &p, &err),
                     CHATD_EREJECTED);
    assert_int_equal(chat_page_req_parse(NULL, "-3", NULL, &p, &err),
                     CHATD_EREJECTED);
    assert_int_equal(chat_page_req_parse(NULL, "99999999999999999999", NULL,
                                         &p, &err),
                     CHATD_EREJECTED);
    assert_int_equal(chat_page_req_parse(NULL, NULL, "0", &p, &err),
                     CHATD_EREJECTED);
    assert_string_equal(err.code, "invalid_argument");
}

static void test_digest(void **state)
{
    (void)state;
    assert_true(chat_text_digest("hello", 5) == chat_text_digest("hello", 5));
    assert_true(chat_text_digest("hello", 5) != chat_text_digest("hellp", 5));
    assert_true(chat_text_digest("", 0) != chat_text_digest("a", 1));
}

/* The outcome of a message body by jansson (the reference). */
struct outcome {
    int rc;
    unsigned status;
    const char *code;
    char text[64], cmid[128];
    size_t text_len;
    bool has_cmid;
};

static void outcome_of(int rc, const struct chat_err *err,
                       const struct chat_msg_req *r, struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    o->rc = rc;
    if (rc != CHATD_OK) {
        o->status = err->status;
        o->code = err->code;
        return;
    }
    o->text_len = r->text_len < sizeof(o->text) ? r->text_len : 0;
    memcpy(o->text, r->text, o->text_len);
    o->has_cmid = r->client_msg_id != NULL;
    if (o->has_cmid)
        snprintf(o->cmid, sizeof(o->cmid), "%s", r->client_msg_id);
}

static void by_jansson(const char *body, size_t len, bool cmid,
                       struct outcome *o)
{
    struct chat_msg_req r;
    struct chat_err err;
    json_t *v = NULL;
    int rc = chat_body_parse(body, len, &v, &err);

    if (rc == CHATD_OK)
        rc = chat_msg_req_parse(v, 20, cmid, &r, &err);
    outcome_of(rc, &err, &r, o);
    json_decref(v);
}

/* The fast path agrees with jansson wherever it answers, and it answers
 * for the usual bodies; for the rest it steps aside (CHATD_EAGAIN). */
static void test_msg_body_scan_agrees(void **state)
{
    static const char *const bodies[] = {
        "{\"text\":\"hello\"}",
        "{\"text\":\"hello\",\"client_msg_id\":\"c-1\"}",
        " {\"client_msg_id\" : \"c 2\" , \"text\" : \"caf\u00e9 \\ud83d\\udc4b\"} ",
        "{\"text\":\"caf\\u00e9\",\"kind\":\"text\"}",
        "{\"text\":\"x\",\"kind\":null,\"client_msg_id\":null}",
        "{\"text\":\"x\",\"kind\":\"system\"}",
        "{\"text\":\"x\",\"kind\":\"payment\"}",
        "{\"text\":\"x\",\"kind\":\"sticker\"}",
        "{\"text\":\"x\",\"kind\":true}",
        "{\"text\":\"x\",\"kind\":5}",
        "{\"text\":\"  \\n\\t \"}",
        "{\"text\":\"\"}",
        "{\"text\":\"bell\\u0007\"}",
        "{\"text\":\"0123456789012345678901\"}",
        "{\"text\":\"\\u3000\\u00a0\\u200b\"}",
        "{\"text\":null}",
        "{\"text\":5}",
        "{\"text\":[\"a\"]}",
        "{\"text\":false}",
        "{\"client_msg_id\":\"x\"}",
        "{\"text\":\"x\",\"client_msg_id\":\"\"}",
        "{\"text\":\"x\",\"client_msg_id\":\"a\\nb\"}",
        "{\"text\":\"x\",\"client_msg_id\":5}",
        "{\"text\":\"x\",\"client_msg_id\":true}",
        "{\"text\":\"x\",\"unknown\":{\"x\":1}}",
        "{\"text\":\"x\",\"n\":1e999999}",
        "{\"text\":\"x\",\"n\":123456789012345678901234567890}",
        "{\"text\":\"a\\u0000b\"}",
        "{\"text\":\"a\\\\u0000b\"}",
        "{\"text\":\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
        "{\"text\":\"x\",\"other\":\"a\\u0000b\"}",
        "{\"text\":\"\\ud800\"}",
        "{\"text\":\"\\udc00x\"}",
        "{\"text\":\"\\ud83d\\u0041\"}",
        "{\"te\\u0078t\":\"escaped key\"}",
        "{\"a\\u0000\":\"x\",\"text\":\"x\"}",
        "{\"text\":\"x\",\"text\":\"last wins\"}",
        "{\"text\":\"x\"} x",
        "{\"text\":\"x\",}",
        "{\"text\":\"x\"",
        "{\"text\":\"caf\xe9\"}",
        "{\"text\":\"tab\there\"}",
        "[1]",
        "\"text\"",
        "{}",
        "",
        "{\"text\":",
    };
    struct outcome want, got;
    struct chat_msg_fields f;
    struct chat_msg_req r;
    struct chat_err err;
    char *owned;
    size_t i, fast = 0;
    int rc, k;

    (void)state;
    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        for (k = 0; k < 2; k++) {
            size_t len = strlen(bodies[i]);

            by_jansson(bodies[i], len, k, &want);
            rc = chat_msg_body_scan(bodies[i], len, &f, &owned);
            if (rc == CHATD_EAGAIN) {
                assert_null(owned);
                continue;
            }
            assert_int_equal(rc, CHATD_OK);
            fast++;
            rc = chat_msg_req_check(&f, 20, k, &r, &err);
            outcome_of(rc, &err, &r, &got);
            free(owned);
            if (memcmp(&got, &want, sizeof(got)) != 0 &&
                (got.rc != want.rc || got.status != want.status ||
                 (got.code && strcmp(got.code, want.code) != 0) ||
                 got.text_len != want.text_len ||
                 memcmp(got.text, want.text, got.text_len) != 0 ||
                 got.has_cmid != want.has_cmid ||
                 strcmp(got.cmid, want.cmid) != 0))
                fail_msg("body %s (cmid %d): fast %d/%u/%s, jansson %d/%u/%s",
                         bodies[i], k, got.rc, got.status,
                         got.code ? got.code : "-", want.rc, want.status,
                         want.code ? want.code : "-");
        }
    }
    /* the plain bodies (and the flat refusals) take the fast path */
    assert_true(fast >= 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_utf8_prefix),
        cmocka_unit_test(test_text_check),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_parse_limit),
        cmocka_unit_test(test_body_parse),
        cmocka_unit_test(test_room_direct),
        cmocka_unit_test(test_room_group),
        cmocka_unit_test(test_msg_req),
        cmocka_unit_test(test_msg_body_scan_agrees),
        cmocka_unit_test(test_member_and_read),
        cmocka_unit_test(test_page_req),
        cmocka_unit_test(test_digest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
