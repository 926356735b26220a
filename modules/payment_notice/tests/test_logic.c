/*
 * The pure logic of payment_notice (logic.h): ids, bodies, amounts, memo
 * texts, the idempotency decisions, amount display, keys and wallet
 * records, and the HMAC signature check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "logic.h"

static json_t *parse(const char *text)
{
    json_t *v = json_loads(text, 0, NULL);

    assert_non_null(v);
    return v;
}

static void test_ids(void **state)
{
    char big[PN_ID_MAX + 2];

    (void)state;
    assert_true(pn_id_valid("u_1234"));
    assert_true(pn_id_valid("key-1:x.y"));
    assert_false(pn_id_valid(NULL));
    assert_false(pn_id_valid(""));
    assert_false(pn_id_valid("a b"));
    assert_false(pn_id_valid("a/b"));
    assert_false(pn_id_valid("caf\xc3\xa9"));
    memset(big, 'k', PN_ID_MAX);
    big[PN_ID_MAX] = '\0';
    assert_true(pn_id_valid(big));
    big[PN_ID_MAX] = 'k';
    big[PN_ID_MAX + 1] = '\0';
    assert_false(pn_id_valid(big));
}

static void test_body(void **state)
{
    struct pn_err err;
    json_t *v = NULL;

    (void)state;
    assert_int_equal(pn_body_parse(NULL, 0, &v, &err), -1);
    assert_string_equal(err.code, "invalid_json");
    assert_int_equal(pn_body_parse("{", 1, &v, &err), -1);
    assert_string_equal(err.code, "invalid_json");
    assert_int_equal(pn_body_parse("[1]", 3, &v, &err), -1);
    assert_string_equal(err.code, "invalid_argument");
    assert_int_equal(pn_body_parse("\"\xff\"", 3, &v, &err), -1);
    assert_int_equal(pn_body_parse("{\"a\":1}", 7, &v, &err), 0);
    json_decref(v);
}

static void amount_case(const char *body, int64_t max, int want,
                        int64_t value)
{
    struct pn_err err;
    json_t *b = parse(body);
    int64_t got = -7;

    assert_int_equal(pn_amount_get(b, max, &got, &err), want);
    if (want == 0)
        assert_int_equal(got, value);
    else
        assert_int_equal(err.status, 400);
    json_decref(b);
}

static void test_amounts(void **state)
{
    (void)state;
    amount_case("{\"amount\": 1}", 100, 0, 1);
    amount_case("{\"amount\": 100}", 100, 0, 100);
    amount_case("{\"amount\": 101}", 100, -1, 0);
    amount_case("{\"amount\": 0}", 100, -1, 0);
    amount_case("{\"amount\": -5}", 100, -1, 0);
    amount_case("{\"amount\": 1.5}", 100, -1, 0);
    amount_case("{\"amount\": 2.0}", 100, -1, 0);
    amount_case("{\"amount\": \"5\"}", 100, -1, 0);
    amount_case("{\"amount\": true}", 100, -1, 0);
    amount_case("{\"amount\": null}", 100, -1, 0);
    amount_case("{}", 100, -1, 0);
}

static int transfer_case(const char *body, struct pn_transfer_req *r,
                         struct pn_err *err)
{
    json_t *b = parse(body);
    int rc = pn_transfer_parse(b, 1000, 5, r, err);

    json_decref(b);
    return rc;
}

static void test_transfer_body(void **state)
{
    struct pn_transfer_req r;
    struct pn_err err;
    json_t *b;

    (void)state;
    b = parse("{\"to\":\"u_b\",\"amount\":7,\"memo\":\"h\xc3\xa9llo\","
              "\"idempotency_key\":\"k1\"}");
    assert_int_equal(pn_transfer_parse(b, 1000, 5, &r, &err), 0);
    assert_string_equal(r.to, "u_b");
    assert_int_equal(r.amount, 7);
    assert_string_equal(r.memo, "h\xc3\xa9llo"); /* 5 code points */
    assert_string_equal(r.key, "k1");
    json_decref(b);
    assert_int_equal(transfer_case("{\"to\":\"u_b\",\"amount\":7,"
                                   "\"idempotency_key\":\"k\",\"memo\":null}",
                                   &r, &err),
                     0);
    assert_null(r.memo);
    /* too long, blank, control characters, wrong type, unknown field,
     * missing key, bad recipient */
    assert_int_equal(transfer_case("{\"to\":\"u_b\",\"amount\":7,"
                                   "\"idempotency_key\":\"k\",\"memo\":"
                                   "\"123456\"}",
                                   &r, &err),
                     -1);
    assert_non_null(strstr(err.message, "longer than 5"));
    assert_int_equal(transfer_case("{\"to\":\"u_b\",\"amount\":7,"
                                   "\"idempotency_key\":\"k\",\"memo\":"
                                   "\"  \"}",
                                   &r, &err),
                     -1);
    assert_int_equal(transfer_case("{\"to\":\"u_b\",\"amount\":7,"
                                   "\"idempotency_key\":\"k\",\"memo\":"
                                   "\"a\\nb\"}",
                                   &r, &err),
                     -1);
    assert_int_equal(transfer_case("{\"to\":\"u_b\",\"amount\":7,"
                                   "\"idempotency_key\":\"k\",\"memo\":5}",
                                   &r, &err),
                     -1);
    assert_int_equal(transfer_case("{\"to\":\"u_b\",\"amount\":7,"
                                   "\"idempotency_key\":\"k\",\"ammount\":5}",
                                   &r, &err),
                     -1);
    assert_non_null(strstr(err.message, "ammount"));
    assert_int_equal(transfer_case("{\"to\":\"u_b\",\"amount\":7}", &r, &err),
                     -1);
    assert_non_null(strstr(err.message, "idempotency_key"));
    assert_int_equal(transfer_case("{\"to\":\"a b\",\"amount\":7,"
                                   "\"idempotency_key\":\"k\"}",
                                   &r, &err),
                     -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "invalid_argument");
}

static void test_deposit_body(void **state)
{
    struct pn_err err;
    const char *key;
    int64_t amount;
    json_t *b = parse("{\"amount\":50,\"idempotency_key\":\"dep-1\"}");

    (void)state;
    assert_int_equal(pn_deposit_parse(b, 100, &amount, &key, &err), 0);
    assert_int_equal(amount, 50);
    assert_string_equal(key, "dep-1");
    json_decref(b);
    b = parse("{\"amount\":50,\"idempotency_key\":\"d\",\"user\":\"x\"}");
    assert_int_equal(pn_deposit_parse(b, 100, &amount, &key, &err), -1);
    json_decref(b);
    b = parse("{\"amount\":500,\"idempotency_key\":\"d\"}");
    assert_int_equal(pn_deposit_parse(b, 100, &amount, &key, &err), -1);
    json_decref(b);
}

static void test_provider_body(void **state)
{
    struct pn_err err;
    json_t *b, *n = NULL, *stored;

    (void)state;
    b = parse("{\"id\":\"pn-1\",\"room_id\":\"r_1\",\"text\":\"Paid\\n5,000\","
              "\"amount\":5000,\"currency\":\"KRW\",\"status\":null}");
    assert_int_equal(pn_provider_parse(b, &n, &err), 0);
    assert_int_equal(json_object_size(n), 5); /* status null dropped */
    stored = json_deep_copy(n);
    json_object_set_new(stored, "received_at", json_string("2026-01-01"));
    assert_int_equal(pn_provider_idem(stored, n), PN_IDEM_REPLAY);
    json_object_set_new(n, "amount", json_integer(5001));
    assert_int_equal(pn_provider_idem(stored, n), PN_IDEM_CONFLICT);
    json_object_del(n, "amount");
    assert_int_equal(pn_provider_idem(stored, n), PN_IDEM_CONFLICT);
    json_object_set_new(n, "amount", json_integer(5000));
    json_object_set_new(n, "reference", json_string("x"));
    assert_int_equal(pn_provider_idem(stored, n), PN_IDEM_CONFLICT);
    json_decref(stored);
    json_decref(n);
    json_decref(b);
    b = parse("{\"id\":\"pn-1\",\"room_id\":\"r_1\",\"text\":\"\"}");
    assert_int_equal(pn_provider_parse(b, &n, &err), -1);
    json_decref(b);
    b = parse("{\"id\":\"pn-1\",\"room_id\":\"r_1\",\"text\":\"x\","
              "\"amount\":-1}");
    assert_int_equal(pn_provider_parse(b, &n, &err), -1);
    json_decref(b);
    b = parse("{\"id\":\"pn-1\",\"room_id\":\"r_1\",\"text\":\"x\","
              "\"extra\":1}");
    assert_int_equal(pn_provider_parse(b, &n, &err), -1);
    json_decref(b);
    b = parse("{\"id\":\"pn-1\",\"text\":\"x\"}");
    assert_int_equal(pn_provider_parse(b, &n, &err), -1);
    assert_non_null(strstr(err.message, "room_id"));
    json_decref(b);
}

static void test_idempotency(void **state)
{
    json_t *t = parse("{\"id\":\"t_1\",\"room\":\"r_1\",\"to\":\"u_b\","
                      "\"amount\":5,\"memo\":null,\"status\":\"refunded\"}");
    struct pn_transfer_req r = {.to = "u_b", .amount = 5, .key = "k"};
    json_t *d;

    (void)state;
    assert_int_equal(pn_transfer_idem(t, "r_1", &r), PN_IDEM_REPLAY);
    assert_int_equal(pn_transfer_idem(t, "r_2", &r), PN_IDEM_CONFLICT);
    r.amount = 6;
    assert_int_equal(pn_transfer_idem(t, "r_1", &r), PN_IDEM_CONFLICT);
    r.amount = 5;
    r.memo = "x";
    assert_int_equal(pn_transfer_idem(t, "r_1", &r), PN_IDEM_CONFLICT);
    r.memo = NULL;
    r.to = "u_c";
    assert_int_equal(pn_transfer_idem(t, "r_1", &r), PN_IDEM_CONFLICT);
    json_decref(t);
    d = parse("{\"id\":\"d_1\",\"user_id\":\"u_a\",\"amount\":9}");
    assert_int_equal(pn_deposit_idem(d, "u_a", 9), PN_IDEM_REPLAY);
    assert_int_equal(pn_deposit_idem(d, "u_a", 8), PN_IDEM_CONFLICT);
    assert_int_equal(pn_deposit_idem(d, "u_b", 9), PN_IDEM_CONFLICT);
    json_decref(d);
}

static void fmt_case(int64_t v, unsigned dec, const char *want)
{
    char out[PN_AMOUNT_TEXT_MAX];

    assert_int_equal(pn_amount_format(out, v, dec), strlen(want));
    assert_string_equal(out, want);
}

static void test_amount_format(void **state)
{
    (void)state;
    fmt_case(0, 0, "0");
    fmt_case(5, 0, "5");
    fmt_case(999, 0, "999");
    fmt_case(1000, 0, "1,000");
    fmt_case(5000, 0, "5,000");
    fmt_case(1234567, 0, "1,234,567");
    fmt_case(-1234, 0, "-1,234");
    fmt_case(123456, 2, "1,234.56");
    fmt_case(5, 2, "0.05");
    fmt_case(-5, 2, "-0.05");
    fmt_case(INT64_C(9007199254740991), 0, "9,007,199,254,740,991");
    fmt_case(INT64_MIN, 0, "-9,223,372,036,854,775,808");
}

static void test_time(void **state)
{
    char out[32];

    (void)state;
    pn_time_format(out, INT64_C(1795460740123));
    assert_string_equal(out, "2026-11-23T19:05:40.123Z");
    pn_time_format(out, 0);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
}

static void test_keys_and_wallets(void **state)
{
    unsigned char k1[PN_LEDGER_KEY_MAX], k2[PN_LEDGER_KEY_MAX],
        k3[PN_KEY2_MAX], rec[PN_WALLET_LEN];
    struct pn_wallet w = {.balance = 300, .entries = 2}, back;
    size_t n1 = pn_ledger_key(k1, "u_a", 255);
    size_t n2 = pn_ledger_key(k2, "u_a", 256);

    (void)state;
    assert_int_equal(n1, 3 + 1 + 8);
    assert_int_equal(n1, n2);
    assert_true(memcmp(k1, k2, n1) < 0); /* numeric order is byte order */
    assert_int_equal(k1[3], 0);
    assert_int_equal(pn_be64_get(k2 + 4), 256);
    /* one user's entries never interleave with another's */
    assert_true(memcmp(k2, "u_b", 3) < 0);
    assert_int_equal(pn_key2(k3, "r_1", "u_a"), 7);
    assert_memory_equal(k3, "r_1\0u_a", 7);
    pn_wallet_encode(rec, &w);
    assert_true(pn_wallet_decode(rec, sizeof(rec), &back));
    assert_int_equal(back.balance, 300);
    assert_int_equal(back.entries, 2);
    assert_false(pn_wallet_decode(rec, 15, &back));
    w.balance = -1;
    pn_wallet_encode(rec, &w);
    assert_false(pn_wallet_decode(rec, sizeof(rec), &back));
}

static void test_signature(void **state)
{
    /* RFC 4231 test case 2: key "Jefe". */
    static const char data[] = "what do ya want for nothing?";
    static const char want[] = "5bdcc146bf60754e6a042426089575c7"
                               "5a003f089d2739839dec58b964ec3843";
    char hex[65], upper[80], wrong[65];
    size_t i;

    (void)state;
    pn_signature_hex(hex, "Jefe", data, strlen(data));
    assert_string_equal(hex, want);
    assert_true(pn_signature_ok("Jefe", data, strlen(data), want));
    for (i = 0; i < 64; i++)
        upper[i] = (char)(want[i] >= 'a' ? want[i] - 32 : want[i]);
    upper[64] = '\0';
    assert_true(pn_signature_ok("Jefe", data, strlen(data), upper));
    snprintf(upper, sizeof(upper), "sha256=%s", want);
    assert_true(pn_signature_ok("Jefe", data, strlen(data), upper));
    memcpy(wrong, want, sizeof(wrong));
    wrong[63] = wrong[63] == '3' ? '4' : '3';
    assert_false(pn_signature_ok("Jefe", data, strlen(data), wrong));
    assert_false(pn_signature_ok("Jeff", data, strlen(data), want));
    assert_false(pn_signature_ok("Jefe", data, strlen(data) - 1, want));
    assert_false(pn_signature_ok("Jefe", data, strlen(data), NULL));
    assert_false(pn_signature_ok(NULL, data, strlen(data), want));
    assert_false(pn_signature_ok("Jefe", data, strlen(data), "abc"));
    wrong[0] = 'g';
    assert_false(pn_signature_ok("Jefe", data, strlen(data), wrong));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_amounts),
        cmocka_unit_test(test_transfer_body),
        cmocka_unit_test(test_deposit_body),
        cmocka_unit_test(test_provider_body),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_amount_format),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_keys_and_wallets),
        cmocka_unit_test(test_signature),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
