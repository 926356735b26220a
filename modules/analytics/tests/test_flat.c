/*
 * The pure parts of analytics: family names, partition paths, object
 * names, the flat record, dates and stats keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "flat.h"

static void test_family(void **state)
{
    char f[AN_FAMILY_MAX];
    char long_type[80];

    (void)state;
    assert_true(an_family("chat.message_posted", f));
    assert_string_equal(f, "chat_message_posted");
    assert_true(an_family("payment_notice.transfer_completed", f));
    assert_string_equal(f, "payment_notice_transfer_completed");
    assert_false(an_family("", f));
    assert_false(an_family("chat/../x", f));
    assert_false(an_family("Chat.x", f));
    memset(long_type, 'a', 65);
    long_type[65] = '\0';
    assert_false(an_family(long_type, f));
    long_type[64] = '\0';
    assert_true(an_family(long_type, f));
}

static void test_partition_and_names(void **state)
{
    char p[AN_PARTITION_MAX], n[AN_PART_NAME_MAX];

    (void)state;
    /* 2023-11-14T22:13:20Z */
    assert_int_equal(an_hour_of(1700000000000), 472222);
    an_partition(an_hour_of(1700000000000), p);
    assert_string_equal(p, "year=2023/month=11/day=14/hour=22");
    an_partition(an_hour_of(0), p);
    assert_string_equal(p, "year=1970/month=01/day=01/hour=00");
    /* the last millisecond of a leap day, and the next one */
    an_partition(an_hour_of(951868799999), p);
    assert_string_equal(p, "year=2000/month=02/day=29/hour=23");
    an_partition(an_hour_of(951868800000), p);
    assert_string_equal(p, "year=2000/month=03/day=01/hour=00");
    assert_int_equal(an_hour_of(-1), -1);
    an_part_name(1, 12345678901234567890u, n);
    assert_string_equal(n, "part-00000000000000000001-12345678901234567890"
                           ".ndjson.gz");
    an_part_name(9, 10, n);
    char m[AN_PART_NAME_MAX];
    an_part_name(10, 10, m);
    assert_true(strcmp(n, m) < 0); /* names sort in seq order */
}

static void test_dates(void **state)
{
    int64_t d;
    char s[AN_DATE_LEN];

    (void)state;
    assert_true(an_date_parse("1970-01-01", &d));
    assert_int_equal(d, 0);
    assert_true(an_date_parse("2024-02-29", &d));
    an_date_format(d, s);
    assert_string_equal(s, "2024-02-29");
    assert_int_equal(d, an_day_of(1709164800000));
    assert_true(an_date_parse("2000-02-29", &d));
    assert_true(an_date_parse("9999-12-31", &d));
    an_date_format(d, s);
    assert_string_equal(s, "9999-12-31");
    const char *bad[] = {"2023-02-29", "1900-02-29", "2024-13-01",
                         "2024-00-10", "2024-04-31", "2024-1-01",
                         "2024-01-01T", "24-01-01", "1969-12-31",
                         "2024/01/01", "", "abcd-ef-gh", "2024-01-0x",
                         " 2024-01-01"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(an_date_parse(bad[i], &d));
    assert_false(an_date_parse(NULL, &d));
    /* every day of four years round-trips */
    for (int64_t day = 19000; day < 19000 + 4 * 366; day++) {
        int64_t back;
        an_date_format(day, s);
        assert_true(an_date_parse(s, &back));
        assert_int_equal(back, day);
    }
}

static void test_stats_keys(void **state)
{
    char k[AN_DAY_KEY_LEN], sk[AN_SENDER_KEY_MAX];
    char big[400];
    int64_t d;
    unsigned char b[8];

    (void)state;
    assert_true(an_date_parse("2026-11-22", &d));
    assert_int_equal(an_day_key(d, k), 9);
    assert_memory_equal(k, "d20261122", 9);
    assert_int_equal(an_sender_key(d, "u_abc", sk), 14);
    assert_memory_equal(sk, "s20261122u_abc", 14);
    assert_int_equal(an_sender_key(d, "", sk), 0);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(an_sender_key(d, big, sk), 0);
    /* day keys sort in day order */
    char k2[AN_DAY_KEY_LEN];
    an_day_key(d + 1, k2);
    assert_true(memcmp(k, k2, 9) < 0);
    an_put_u64(b, 0x0102030405060708ull);
    assert_int_equal(b[0], 1);
    assert_int_equal(b[7], 8);
    assert_int_equal(an_get_u64(b), 0x0102030405060708ull);
    assert_string_equal(an_figure_names[AN_ACTIVE_SENDERS],
                        "active_senders");
}

/* an_record gives exactly an_flatten's bytes and errors for `ev`; the
 * scan's verdict goes to *scanned. The buffer starts non-empty, to check
 * that a record is appended and a failure leaves it as it was. */
static int record_matches(const struct chatd_event *ev, bool *scanned)
{
    struct an_buf b = {0};
    char *line = NULL;
    size_t len = 0;
    int want = an_flatten(ev, &line, &len);

    assert_int_equal(an_buf_reserve(&b, 3), CHATD_OK);
    memcpy(b.p, "xyz", 3);
    b.len = 3;
    int got = an_record(ev, &b, scanned);
    if (got != want)
        fail_msg("data %.*s: an_record %d, an_flatten %d", (int)ev->data_len,
                 ev->data, got, want);
    if (want == CHATD_OK) {
        if (b.len != 3 + len || memcmp(b.p + 3, line, len) != 0)
            fail_msg("data %.*s:\n scan  %.*s\n parse %s", (int)ev->data_len,
                     ev->data, (int)(b.len - 3), b.p + 3, line);
    } else {
        assert_int_equal(b.len, 3);
    }
    assert_memory_equal(b.p, "xyz", 3);
    free(line);
    an_buf_free(&b);
    return got;
}

static void flat_is(const char *data, const char *want)
{
    struct chatd_event ev = {.size = sizeof(ev), .seq = 42,
                             .time_ms = 1700000000123, .type = "chat.x_y",
                             .v = 1, .stream = "room:r_1", .stream_ver = 3,
                             .correlation_id = "req-1", .actor = "user:u_1",
                             .data = data, .data_len = strlen(data)};
    char *line = NULL;
    size_t len = 0;

    bool scanned;

    assert_int_equal(an_flatten(&ev, &line, &len), CHATD_OK);
    assert_int_equal(len, strlen(line));
    assert_string_equal(line, want);
    free(line);
    assert_int_equal(record_matches(&ev, &scanned), CHATD_OK);
}

#define HEAD "{\"seq\":42,\"time\":\"2023-11-14T22:13:20.123Z\"," \
             "\"type\":\"chat.x_y\",\"v\":1,\"stream\":\"room:r_1\"," \
             "\"stream_ver\":3,\"correlation_id\":\"req-1\"," \
             "\"actor\":\"user:u_1\""

/* The scan of top-level string members agrees with a parse: found where
 * the member is a plain string at the top, absent for nested or other
 * values and for escaped strings (the caller then parses), -1 for texts
 * that are not an object. */
static void test_json_top_str(void **state)
{
    static const struct {
        const char *json, *key;
        int want;
        const char *value;
    } cases[] = {
        {"{\"room\":\"r_1\",\"kind\":\"text\",\"sender\":\"u_1\"}", "kind", 1,
         "text"},
        {"{\"room\":\"r_1\",\"kind\":\"text\",\"sender\":\"u_1\"}", "sender",
         1, "u_1"},
        {" { \"a\" : 1 , \"kind\" : \"system\" } ", "kind", 1, "system"},
        /* the key inside a nested object or a string is not the member */
        {"{\"payment\":{\"kind\":\"transfer\"},\"kind\":\"payment\"}", "kind",
         1, "payment"},
        {"{\"payment\":{\"kind\":\"transfer\"}}", "kind", 0, NULL},
        {"{\"text\":\"say \\\"kind\\\":\\\"x\\\"\",\"kind\":\"text\"}", "kind", 1,
         "text"},
        {"{\"a\":[1,{\"kind\":\"no\"},\"]\"],\"kind\":\"yes\"}", "kind", 1,
         "yes"},
        {"{\"sender\":null,\"kind\":\"payment\"}", "sender", 0, NULL},
        {"{\"sender\":\"u\\u005f1\"}", "sender", 0, NULL}, /* escaped */
        {"{\"n\":-1.5e3,\"t\":true,\"kind\":\"text\"}", "kind", 1, "text"},
        {"{}", "kind", 0, NULL},
        {"[\"kind\"]", "kind", -1, NULL},
        {"{\"kind\":\"text\"", "sender", -1, NULL},
        {"{\"kind\" \"text\"}", "kind", -1, NULL},
        {"", "kind", -1, NULL},
    };
    const char *v;
    size_t i, vlen;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = an_json_top_str(cases[i].json, strlen(cases[i].json),
                                  cases[i].key, &v, &vlen);
        if (got != cases[i].want)
            fail_msg("case %zu (%s): %d, want %d", i, cases[i].json, got,
                     cases[i].want);
        if (got == 1) {
            assert_int_equal(vlen, strlen(cases[i].value));
            assert_memory_equal(v, cases[i].value, vlen);
        }
        if (got >= 0) { /* the parse must agree where the scan answers */
            json_t *j = json_loads(cases[i].json, 0, NULL);
            const char *pv;
            assert_non_null(j);
            pv = json_string_value(json_object_get(j, cases[i].key));
            if (got == 1)
                assert_string_equal(pv, cases[i].value);
            else if (pv != NULL)
                assert_non_null(strchr(cases[i].json, '\\')); /* escaped */
            json_decref(j);
        }
    }
}

/* The scan takes the compact text modules write, and leaves to the parse
 * what jansson would print differently; both give the same record. */
static void test_record_scan_cases(void **state)
{
    static const struct {
        const char *data;
        bool scanned;
    } cases[] = {
        {"{\"room\":\"r_1\",\"id\":\"m_1\",\"seq\":7,\"sender\":\"u_1\","
         "\"text\":\"hi \\\"you\\\"\\n\\t\\\\ \\u001F \xea\xb0\x80\"}", true},
        {"{\"a\":{\"b\":{\"c\":-9223372036854775808}},\"d\":[1,[2,\"x\"],[]],"
         "\"e\":{},\"f\":false,\"g\":null,\"h\":9223372036854775807}", true},
        {"{}", true},
        {"{\"k\":\"\\u007F\"}", false},       /* jansson writes it raw */
        {"{\"k\":\"\\u001f\"}", false},       /* lower-case hex */
        {"{\"k\":\"\\u000A\"}", false},       /* jansson writes \n */
        {"{\"k\":\"\\/\"}", false},           /* an escape it never writes */
        {"{\"k\":\"\\u0000\"}", false},       /* refused by the parse */
        {"{\"k\":1.5}", false},                 /* reals are reprinted */
        {"{\"k\":1e3}", false},
        {"{\"k\":-0}", false},
        {"{\"k\":01}", false},                  /* invalid */
        {"{\"k\":9223372036854775808}", false}, /* too big: refused */
        {"{\"k\": 1}", false},                  /* not compact */
        {" {\"k\":1}", false},
        {"{\"k\":1} ", false},
        {"{\"k\":1}x", false},
        {"{\"k\":1,\"k\":2}", false},           /* duplicate */
        /* the same key with an object first: jansson keeps the last
         * (found by tests/fuzz/fuzz_analytics_record) */
        {"{\"a\":{\"b\":{\"c\":1}},\"a\":2}", false},
        {"{\"a\":{\"b\":1},\"a\":{\"c\":2}}", false},
        {"{\"x\":{\"a\":1,\"b\":{\"a\":2}},\"a\":3}", true},
        {"{\"a.b\":1,\"a\":{\"b\":2}}", false}, /* same flat key */
        {"{\"a.b\":1,\"a\":{\"c\":2}}", true},
        {"{\"k\\u0041\":1}", false},            /* escaped key */
        {"{\"k\":[{\"x\":1}]}", false},         /* object in an array */
        {"{\"k\":tru}", false},
        {"{\"k\":truex}", false},
        {"{\"k\":\"\xc0\xaf\"}", false},        /* overlong UTF-8 */
        {"{\"k\":\"\xed\xa0\x80\"}", false},    /* a surrogate */
        {"{\"k\":\"\x01\"}", false},            /* raw control character */
        {"{\"k\":\"abc}", false},
        {"{\"k\":{\"j\":1}", false},
        {"{\"k\":{", false},
        {"{\"k\":[1,2", false},
        {"{\"k\"", false},
        {"{", false},
        {"[1]", false},
        {"{\"k\":[1,]}", false},
    };
    struct chatd_event ev = {.size = sizeof(ev), .seq = 9, .time_ms = -1,
                             .type = "chat.x", .v = 4000000000u,
                             .stream = "room:\"q\"\x01\x1f\xc3\xa9",
                             .stream_ver = 2, .correlation_id = NULL,
                             .actor = "user:u_1"};
    bool scanned;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ev.data = cases[i].data;
        ev.data_len = strlen(cases[i].data);
        record_matches(&ev, &scanned);
        if (scanned != cases[i].scanned)
            fail_msg("case %zu (%s): scanned %d, want %d", i, cases[i].data,
                     scanned, cases[i].scanned);
    }
    /* envelope strings jansson refuses (invalid UTF-8): the parse's error */
    ev.data = "{}";
    ev.data_len = 2;
    ev.actor = "user:\xff";
    record_matches(&ev, &scanned);
    assert_false(scanned);
}

/* Generated data: random objects dumped compact (the scan should take
 * most), with escapes of every kind, indented, with ASCII escapes or
 * escaped slashes (the parse then decides); records always equal. */
static uint32_t rnd_state = 12345;

static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 8) % n;
}

static json_t *rnd_value(int depth, bool in_array);

static json_t *rnd_string(void)
{
    static const char *const pieces[] = {"a", "b", ".", "\"", "\\", "/", "\n",
                                         "\t", "\x01", "\x1f", "\x7f", " ",
                                         "\xc3\xa9", "\xea\xb0\x80",
                                         "\xf0\x9f\x98\x80", "\b", "\r"};
    char buf[64] = "";
    size_t n = rnd(6);

    for (size_t i = 0; i < n; i++)
        strcat(buf, pieces[rnd(sizeof(pieces) / sizeof(pieces[0]))]);
    return json_string(buf);
}

static json_t *rnd_object(int depth)
{
    static const char *const keys[] = {"a", "b", "c", "a.b", "room",
                                       "x.y.z", "\xc3\xa9", "k\"q"};
    json_t *o = json_object();
    size_t n = rnd(5);

    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, keys[rnd(sizeof(keys) / sizeof(keys[0]))],
                            rnd_value(depth + 1, false));
    return o;
}

static json_t *rnd_value(int depth, bool in_array)
{
    static const json_int_t ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN,
                                      1000000007};
    switch (rnd(depth > 3 ? 6 : 8)) {
    case 0: return rnd_string();
    case 1: return json_integer(ints[rnd(7)]);
    case 2: return json_real(rnd(2) ? 1.5 : 100.0);
    case 3: return json_true();
    case 4: return json_null();
    case 5: return rnd_string();
    case 6: {
        json_t *a = json_array();
        size_t n = rnd(4);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, rnd_value(depth + 1, true));
        return a;
    }
    default:
        return in_array && rnd(2) ? json_false() : rnd_object(depth);
    }
}

static void test_record_scan_generated(void **state)
{
    static const size_t flags[] = {
        JSON_COMPACT | JSON_PRESERVE_ORDER, JSON_COMPACT,
        JSON_INDENT(1) | JSON_PRESERVE_ORDER,
        JSON_COMPACT | JSON_ENSURE_ASCII, JSON_COMPACT | JSON_ESCAPE_SLASH};
    struct chatd_event ev = {.size = sizeof(ev), .seq = 77,
                             .time_ms = 1763800000000, .type = "chat.x",
                             .v = 1, .stream = "room:r_1", .stream_ver = 5,
                             .correlation_id = "c", .actor = "admin"};
    size_t scanned_n = 0, compact_n = 0;
    bool scanned;

    (void)state;
    for (int i = 0; i < 4000; i++) {
        json_t *o = rnd_object(0);
        size_t f = flags[rnd(5)];
        char *text = json_dumps(o, f);
        assert_non_null(text);
        ev.data = text;
        ev.data_len = strlen(text);
        record_matches(&ev, &scanned);
        if (f == (JSON_COMPACT | JSON_PRESERVE_ORDER)) {
            compact_n++;
            scanned_n += scanned;
        } else if (f & (JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH)) {
            /* only if nothing needed those escapes */
        } else if (json_object_size(o) > 0 && !(f & JSON_COMPACT)) {
            assert_false(scanned); /* indented */
        }
        free(text);
        json_decref(o);
    }
    /* most compact dumps go through the scan (the rest: reals, objects in
     * arrays, flat keys that collide) */
    assert_true(scanned_n * 2 > compact_n);
}

static void test_flatten(void **state)
{
    (void)state;
    flat_is("{\"room\":\"r_1\",\"n\":5,\"ok\":true,\"memo\":null}",
            HEAD ",\"data.room\":\"r_1\",\"data.n\":5,\"data.ok\":true,"
                 "\"data.memo\":null}\n");
    flat_is("{\"notice\":{\"kind\":\"transfer\",\"a\":{\"b\":1}},"
            "\"members\":[\"u_1\",\"u_2\"],\"e\":{},\"l\":[]}",
            HEAD ",\"data.notice.kind\":\"transfer\",\"data.notice.a.b\":1,"
                 "\"data.members\":\"[\\\"u_1\\\",\\\"u_2\\\"]\","
                 "\"data.e\":\"{}\",\"data.l\":\"[]\"}\n");
    flat_is("{}", HEAD ",\"data\":\"{}\"}\n");
    flat_is("{\"t\":\"h\\u00e9 \\\"q\\\" \\n\"}",
            HEAD ",\"data.t\":\"h\xc3\xa9 \\\"q\\\" \\n\"}\n");

    struct chatd_event ev = {.seq = 1, .type = "a.b", .stream = "s",
                             .data = "[1]", .data_len = 3};
    char *line = NULL;
    size_t len;
    assert_int_equal(an_flatten(&ev, &line, &len), CHATD_EINVAL);
    ev.data = "{bad";
    ev.data_len = 4;
    assert_int_equal(an_flatten(&ev, &line, &len), CHATD_EINVAL);
    assert_null(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family),
        cmocka_unit_test(test_partition_and_names),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_stats_keys),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_record_scan_cases),
        cmocka_unit_test(test_record_scan_generated),
        cmocka_unit_test(test_json_top_str),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
