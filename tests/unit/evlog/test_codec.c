/*
 * The event codec: round trip, a frozen format-1 fixture that must decode
 * forever, and corrupt records refused without reading out of bounds
 * (every buffer here is an exact-size heap copy, so ASan catches any
 * overread).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "evlog/internal.h"

static const struct chatd_event sample = {
    .type = "chat.message_posted",
    .v = 3,
    .stream = "room:r_7f3a",
    .time_ms = 1700000000123LL,
    .stream_ver = 9,
    .correlation_id = "req-42",
    .actor = "user:u1",
    .data = "{\"text\":\"hi\"}",
    .data_len = 13,
};

/* Format 1 of `sample`, written down once: if this stops decoding, old
 * logs stop being readable. Never change it; add a fixture per format. */
static const unsigned char fixture_v1[] = {
    0x01, 0x13, 0x0b, 0x06, 0x07, 0x00, 0x00, 0x00, /* fmt, lengths */
    0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0d, /* v, data_len */
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b, /* time_ms */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, /* stream_ver */
    'c', 'h', 'a', 't', '.', 'm', 'e', 's', 's', 'a', 'g', 'e', '_', 'p',
    'o', 's', 't', 'e', 'd', 0, 'r', 'o', 'o', 'm', ':', 'r', '_', '7',
    'f', '3', 'a', 0, 'r', 'e', 'q', '-', '4', '2', 0, 'u', 's', 'e',
    'r', ':', 'u', '1', 0, '{', '"', 't', 'e', 'x', 't', '"', ':', '"',
    'h', 'i', '"', '}', 0,
};

static unsigned char *encode(const struct chatd_event *ev, size_t *len)
{
    unsigned char *buf;

    assert_int_equal(evlog_codec_check(ev), CHATD_OK);
    *len = evlog_codec_size(ev);
    buf = malloc(*len);
    evlog_codec_encode(ev, buf);
    return buf;
}

static void assert_sample(const struct chatd_event *got, uint64_t seq)
{
    assert_int_equal(got->size, sizeof(struct chatd_event));
    assert_int_equal(got->seq, seq);
    assert_string_equal(got->type, sample.type);
    assert_int_equal(got->v, sample.v);
    assert_string_equal(got->stream, sample.stream);
    assert_int_equal(got->time_ms, sample.time_ms);
    assert_int_equal(got->stream_ver, sample.stream_ver);
    assert_string_equal(got->correlation_id, sample.correlation_id);
    assert_string_equal(got->actor, sample.actor);
    assert_int_equal(got->data_len, sample.data_len);
    assert_memory_equal(got->data, sample.data, sample.data_len);
    assert_int_equal(got->data[got->data_len], '\0');
}

static void test_round_trip(void **state)
{
    size_t len;
    unsigned char *buf = encode(&sample, &len);
    struct chatd_event got;

    assert_int_equal(evlog_decode(77, buf, len, &got), CHATD_OK);
    assert_sample(&got, 77);
    /* Zero copy: the strings point into the record itself. */
    assert_true((const unsigned char *)got.type >= buf &&
                (const unsigned char *)got.data < buf + len);
    free(buf);
}

static void test_round_trip_negative_time_and_empty(void **state)
{
    struct chatd_event ev = {.type = "t", .stream = "s", .time_ms = -5,
                             .stream_ver = UINT64_MAX - 1, .v = UINT32_MAX};
    size_t len;
    unsigned char *buf = encode(&ev, &len);
    struct chatd_event got;

    assert_int_equal(evlog_decode(1, buf, len, &got), CHATD_OK);
    assert_int_equal(got.time_ms, -5);
    assert_int_equal(got.stream_ver, UINT64_MAX - 1);
    assert_int_equal(got.v, UINT32_MAX);
    assert_string_equal(got.correlation_id, "");
    assert_string_equal(got.actor, "");
    assert_int_equal(got.data_len, 0);
    free(buf);
}

static void test_fixture_v1_encodes_and_decodes(void **state)
{
    size_t len;
    unsigned char *buf = encode(&sample, &len);
    unsigned char *copy = malloc(sizeof fixture_v1);
    struct chatd_event got;

    assert_int_equal(len, sizeof fixture_v1);
    assert_memory_equal(buf, fixture_v1, len);
    memcpy(copy, fixture_v1, sizeof fixture_v1);
    assert_int_equal(evlog_decode(5, copy, sizeof fixture_v1, &got),
                     CHATD_OK);
    assert_sample(&got, 5);
    free(copy);
    free(buf);
}

static int decode_copy(const unsigned char *rec, size_t len)
{
    unsigned char *copy = malloc(len ? len : 1);
    struct chatd_event got;
    int rc;

    memcpy(copy, rec, len);
    rc = evlog_decode(1, copy, len, &got);
    if (rc == CHATD_OK) { /* whatever it accepted must be in bounds */
        assert_true(strlen(got.type) + strlen(got.stream) < len);
        assert_true((const unsigned char *)got.data + got.data_len <
                    copy + len);
    }
    free(copy);
    return rc;
}

static void test_truncated_refused(void **state)
{
    for (size_t n = 0; n < sizeof fixture_v1; n++)
        assert_int_equal(decode_copy(fixture_v1, n), CHATD_EIO);
    assert_int_equal(evlog_decode(1, NULL, 10, &(struct chatd_event){0}),
                     CHATD_EIO);
}

static void test_trailing_bytes_refused(void **state)
{
    unsigned char buf[sizeof fixture_v1 + 1];

    memcpy(buf, fixture_v1, sizeof fixture_v1);
    buf[sizeof fixture_v1] = 0;
    assert_int_equal(decode_copy(buf, sizeof buf), CHATD_EIO);
}

static void test_header_damage_refused(void **state)
{
    /* Each header byte in turn gets values that break a length, the
     * format or a reserved byte; none may be accepted or overread. */
    static const unsigned vals[] = {0x00, 0x02, 0x7f, 0xff};
    unsigned char buf[sizeof fixture_v1];

    for (size_t i = 0; i < 16; i++) {
        for (size_t j = 0; j < sizeof vals / sizeof vals[0]; j++) {
            memcpy(buf, fixture_v1, sizeof buf);
            if (buf[i] == vals[j])
                continue;
            buf[i] = (unsigned char)vals[j];
            if (i >= 8 && i < 12)
                continue; /* v is free-form */
            assert_int_equal(decode_copy(buf, sizeof buf), CHATD_EIO);
        }
    }
}

static void test_string_damage_refused(void **state)
{
    unsigned char buf[sizeof fixture_v1];

    /* A terminator replaced, or a NUL inside a string. */
    const size_t type_nul = 32 + 19, data_nul = sizeof fixture_v1 - 1;
    const size_t spots[] = {type_nul, type_nul + 12, data_nul, 32 + 3,
                            type_nul + 3};
    for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
        memcpy(buf, fixture_v1, sizeof buf);
        buf[spots[i]] = buf[spots[i]] ? 0 : 'x';
        assert_int_equal(decode_copy(buf, sizeof buf), CHATD_EIO);
    }
}

static void test_unknown_format_refused(void **state)
{
    unsigned char buf[sizeof fixture_v1];

    memcpy(buf, fixture_v1, sizeof buf);
    buf[0] = 2;
    assert_int_equal(decode_copy(buf, sizeof buf), CHATD_EIO);
}

/* Cheap fuzz: random bytes and random flips of a valid record. Whatever
 * the decoder says, it must not read out of bounds (ASan). */
static void test_random_damage(void **state)
{
    unsigned char buf[sizeof fixture_v1];
    unsigned seed = 12345;

    for (int round = 0; round < 20000; round++) {
        memcpy(buf, fixture_v1, sizeof buf);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            buf[(seed >> 8) % sizeof buf] = (unsigned char)(seed >> 20);
        }
        seed = seed * 1103515245u + 12345u;
        decode_copy(buf, sizeof buf - (seed >> 16) % 3);
    }
}

static void test_limits(void **state)
{
    struct chatd_event ev = sample;
    char big[EVLOG_TYPE_MAX + 2];

    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ev.type = big;
    assert_int_equal(evlog_codec_check(&ev), CHATD_EINVAL);
    big[EVLOG_TYPE_MAX] = '\0';
    assert_int_equal(evlog_codec_check(&ev), CHATD_OK);
    ev = sample;
    ev.data = NULL;
    assert_int_equal(evlog_codec_check(&ev), CHATD_EINVAL);
    ev.data_len = 0;
    assert_int_equal(evlog_codec_check(&ev), CHATD_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_negative_time_and_empty),
        cmocka_unit_test(test_fixture_v1_encodes_and_decodes),
        cmocka_unit_test(test_truncated_refused),
        cmocka_unit_test(test_trailing_bytes_refused),
        cmocka_unit_test(test_header_damage_refused),
        cmocka_unit_test(test_string_damage_refused),
        cmocka_unit_test(test_unknown_format_refused),
        cmocka_unit_test(test_random_damage),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
