#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"
#include "crypto/crypto.h"

static void test_strerror_names_every_code(void **state)
{
    int code;

    for (code = CHATD_OK; code >= CHATD_ECLOSED; code--)
        assert_string_not_equal(core_strerror(code), "unknown status");
    assert_string_equal(core_strerror(CHATD_ECONFLICT), "conflict");
    assert_string_equal(core_strerror(-999), "unknown status");
    assert_string_equal(core_strerror(5), "unknown status");
}

/* XXH3-64's published values (seed 0), and ids that differ in one byte
 * hash apart. */
static void test_hash(void **state)
{
    (void)state;
    assert_true(core_hash("", 0) == 0x2d06800538d394c2ull);
    assert_true(core_hash("abc", 3) == 0x78af5f94892f3950ull);
    assert_true(core_hash("u_0123456789abcdef", 18) !=
                core_hash("u_0123456789abcdee", 18));
}

static void test_utf8_accepts_valid(void **state)
{
    const char *ok[] = {"", "hello", "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
                        "\xf0\x9f\x98\x80", "\xc2\x80", "\xef\xbf\xbf"};
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_true(core_utf8_valid(ok[i], strlen(ok[i])));
    assert_int_equal(core_utf8_length("\xed\x95\x9c" "a", 4), 2);
}

static void test_utf8_rejects_invalid(void **state)
{
    const char *bad[] = {"\xc0\xaf",         /* overlong '/' */
                         "\xe0\x80\xaf",     /* overlong */
                         "\xed\xa0\x80",     /* surrogate */
                         "\xf4\x90\x80\x80", /* above U+10FFFF */
                         "\xff", "\x80", "abc\xe2\x82"};
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(core_utf8_valid(bad[i], strlen(bad[i])));
}

/* ASCII is checked a word at a time: a bad or a good multi-byte sequence
 * at every offset around and across the 8-byte steps, and at the end. */
static void test_utf8_word_boundaries(void **state)
{
    char buf[40];
    size_t at, len;

    (void)state;
    for (at = 0; at < 24; at++) {
        for (len = at + 3; len <= 24; len++) {
            memset(buf, 'a', sizeof(buf));
            memcpy(buf + at, "\xe2\x82\xac", 3); /* U+20AC */
            assert_true(core_utf8_valid(buf, len));
            buf[at + 2] = 'x'; /* a cut sequence */
            assert_false(core_utf8_valid(buf, len));
            buf[at] = (char)0x80; /* a lone continuation byte */
            assert_false(core_utf8_valid(buf, len));
        }
        memset(buf, 'a', sizeof(buf));
        buf[at] = (char)0xc3; /* the first byte of two, cut off by the end */
        assert_false(core_utf8_valid(buf, at + 1));
        assert_true(core_utf8_valid(buf, at));
    }
}

static void test_parse_u64_bounds(void **state)
{
    uint64_t v = 0;

    assert_true(core_parse_u64("42", 1, 100, &v));
    assert_int_equal(v, 42);
    assert_false(core_parse_u64("0", 1, 100, &v));
    assert_false(core_parse_u64("101", 1, 100, &v));
    assert_false(core_parse_u64("-1", 0, 100, &v));
    assert_false(core_parse_u64("4x", 0, 100, &v));
    assert_false(core_parse_u64("", 0, 100, &v));
    assert_false(core_parse_u64(NULL, 0, 100, &v));
    assert_false(core_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v));
}

static void test_time_format(void **state)
{
    char buf[CORE_TIME_LEN];

    assert_string_equal(core_format_time(0, buf), "1970-01-01T00:00:00.000Z");
    assert_string_equal(core_format_time(1795000000123LL, buf),
                        "2026-11-18T11:06:40.123Z");
}

static void test_random_hex_differs(void **state)
{
    char a[33], b[33];

    assert_int_equal(core_random_hex(a, 16), CHATD_OK);
    assert_int_equal(core_random_hex(b, 16), CHATD_OK);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);
    assert_int_equal(core_random_hex(a, 65), CHATD_EINVAL);
}

static void test_sha256_and_hmac_vectors(void **state)
{
    uint8_t d[CRYPTO_SHA256_LEN];
    char hex[2 * CRYPTO_SHA256_LEN + 1];

    crypto_sha256("abc", 3, d);
    crypto_hex(d, sizeof(d), hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
    /* RFC 4231 test case 2 */
    crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
    crypto_hex(d, sizeof(d), hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c7"
                             "5a003f089d2739839dec58b964ec3843");
}

static void test_equal_and_unhex(void **state)
{
    uint8_t out[2];

    assert_true(crypto_equal("abcd", "abcd", 4));
    assert_false(crypto_equal("abcd", "abce", 4));
    assert_true(crypto_unhex("0aFf", 2, out));
    assert_int_equal(out[0], 0x0a);
    assert_int_equal(out[1], 0xff);
    assert_false(crypto_unhex("0g", 1, out));
}

static void test_ws_accept_rfc_example(void **state)
{
    char out[CRYPTO_WS_ACCEPT_LEN];

    crypto_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_names_every_code),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_utf8_accepts_valid),
        cmocka_unit_test(test_utf8_rejects_invalid),
        cmocka_unit_test(test_utf8_word_boundaries),
        cmocka_unit_test(test_parse_u64_bounds),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_random_hex_differs),
        cmocka_unit_test(test_sha256_and_hmac_vectors),
        cmocka_unit_test(test_equal_and_unhex),
        cmocka_unit_test(test_ws_accept_rfc_example),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
