/* The JSON text of server frames, checked by parsing it back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ws/frame.h"

static json_t *parse(const struct wsbuf *b)
{
    json_error_t err;
    assert_false(b->failed);
    json_t *j = json_loadb(b->data, b->len, 0, &err);
    if (!j)
        fail_msg("not JSON (%s): %s", err.text, b->data);
    return j;
}

static void test_event_frame(void **state)
{
    struct chatd_event ev = {.size = sizeof ev, .seq = 42,
                             .time_ms = 1700000000123, .type = "chat.message_posted",
                             .v = 2, .stream = "room:r\"1", .stream_ver = 7,
                             .correlation_id = "req-1", .actor = "user:u\n1",
                             .data = "{\"text\":\"h\\u00e9\",\"n\":[1,2]}"};
    ev.data_len = strlen(ev.data);
    struct wsbuf obj = {0}, fr = {0};
    frame_event_object(&obj, &ev, ev.data, ev.data_len);
    frame_event(&fr, 9, obj.data, obj.len);
    json_t *j = parse(&fr);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "event");
    assert_int_equal(json_integer_value(json_object_get(j, "pos")), 9);
    json_t *e = json_object_get(j, "event");
    assert_int_equal(json_integer_value(json_object_get(e, "seq")), 42);
    assert_string_equal(json_string_value(json_object_get(e, "time")),
                        "2023-11-14T22:13:20.123Z");
    assert_string_equal(json_string_value(json_object_get(e, "type")),
                        "chat.message_posted");
    assert_int_equal(json_integer_value(json_object_get(e, "v")), 2);
    assert_string_equal(json_string_value(json_object_get(e, "stream")),
                        "room:r\"1");
    assert_int_equal(json_integer_value(json_object_get(e, "stream_ver")), 7);
    assert_string_equal(json_string_value(json_object_get(e, "correlation_id")),
                        "req-1");
    assert_string_equal(json_string_value(json_object_get(e, "actor")),
                        "user:u\n1");
    json_t *d = json_object_get(e, "data");
    assert_true(json_is_object(d));
    assert_string_equal(json_string_value(json_object_get(d, "text")),
                        "h\xc3\xa9");
    json_decref(j);
    wsbuf_free(&obj);
    wsbuf_free(&fr);
}

static void test_event_without_json_data(void **state)
{
    struct chatd_event ev = {.size = sizeof ev, .seq = 1, .type = "t",
                             .stream = "s", .data = "", .data_len = 0};
    struct wsbuf b = {0};
    frame_event_object(&b, &ev, ev.data, ev.data_len);
    json_t *j = parse(&b);
    assert_true(json_is_object(json_object_get(j, "data")));
    assert_string_equal(json_string_value(json_object_get(j, "actor")), "");
    json_decref(j);
    wsbuf_free(&b);
}

static void test_control_frames(void **state)
{
    struct wsbuf b = {0};
    frame_hello(&b, "0123456789abcdef", "u_1", 17);
    json_t *j = parse(&b);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "hello");
    assert_string_equal(json_string_value(json_object_get(j, "epoch")),
                        "0123456789abcdef");
    assert_string_equal(json_string_value(json_object_get(j, "user")), "u_1");
    assert_int_equal(json_integer_value(json_object_get(j, "pos")), 17);
    json_decref(j);

    wsbuf_reset(&b);
    frame_resync(&b, "epoch_mismatch", 3, "e");
    j = parse(&b);
    assert_string_equal(json_string_value(json_object_get(j, "reason")),
                        "epoch_mismatch");
    json_decref(j);

    wsbuf_reset(&b);
    frame_error(&b, "invalid_argument", "bad \x01 thing", "\"x7\"");
    j = parse(&b);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "x7");
    json_t *e = json_object_get(j, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")),
                        "invalid_argument");
    assert_string_equal(json_string_value(json_object_get(e, "message")),
                        "bad \x01 thing");
    json_decref(j);
    wsbuf_free(&b);
}

static void test_u64_digits(void **state)
{
    struct wsbuf b = {0};
    wsbuf_u64(&b, 0);
    wsbuf_puts(&b, ",");
    wsbuf_u64(&b, 7);
    wsbuf_puts(&b, ",");
    wsbuf_u64(&b, 1234567890);
    wsbuf_puts(&b, ",");
    wsbuf_u64(&b, UINT64_MAX);
    assert_false(b.failed);
    assert_string_equal(b.data, "0,7,1234567890,18446744073709551615");
    wsbuf_free(&b);
}

static void test_buffer_grows(void **state)
{
    struct wsbuf b = {0};
    for (int i = 0; i < 10000; i++)
        wsbuf_u64(&b, (uint64_t)i);
    assert_false(b.failed);
    assert_int_equal(b.len, 38890);
    assert_int_equal(b.data[b.len], 0);
    wsbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_frame),
        cmocka_unit_test(test_event_without_json_data),
        cmocka_unit_test(test_control_frames),
        cmocka_unit_test(test_u64_digits),
        cmocka_unit_test(test_buffer_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
