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

static void flat_is(const char *data, const char *want)
{
    struct chatd_event ev = {.size = sizeof(ev), .seq = 42,
                             .time_ms = 1700000000123, .type = "chat.x_y",
                             .v = 1, .stream = "room:r_1", .stream_ver = 3,
                             .correlation_id = "req-1", .actor = "user:u_1",
                             .data = data, .data_len = strlen(data)};
    char *line = NULL;
    size_t len = 0;

    assert_int_equal(an_flatten(&ev, &line, &len), CHATD_OK);
    assert_int_equal(len, strlen(line));
    assert_string_equal(line, want);
    free(line);
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
        cmocka_unit_test(test_json_top_str),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
