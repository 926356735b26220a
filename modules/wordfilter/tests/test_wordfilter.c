/*
 * The whole wordfilter module against the fake host (tests/sdk/fake_host.h):
 * what init registers, config refusals, the subscriber → exec → event →
 * projection path, exactly-once under redelivery, skipped and malformed
 * messages, upcasting of an old v1 flag, and the two routes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "chatd/module.h"
#include "codec.h"
#include "fake_host.h"

const struct chatd_module_info *chatd_module_info(void);

static const struct fake_setting default_settings[] = {{NULL, NULL}};

static int setup(void **state)
{
    struct fake_host *fh;

    if (fake_host_init(&fh, chatd_module_info(), default_settings) !=
        CHATD_OK) {
        fake_host_free(fh);
        return -1;
    }
    *state = fh;
    return 0;
}

static int teardown(void **state)
{
    fake_host_free(*state);
    return 0;
}

/* A chat.message_posted of chat's schema v1, as chat appends it. */
static uint64_t post(struct fake_host *fh, const char *room, int seq,
                     const char *kind, const char *text)
{
    char data[512], stream[64];

    snprintf(data, sizeof(data),
             "{\"room\":\"%s\",\"id\":\"m_%d\",\"seq\":%d,\"sender\":"
             "\"u_a\",\"kind\":\"%s\",\"text\":\"%s\"}",
             room, seq, seq, kind, text);
    snprintf(stream, sizeof(stream), "room:%s", room);
    return fake_host_event(fh, "chat.message_posted", 1, stream, data);
}

/* GET as the admin; returns the parsed body (json_decref) and checks the
 * status. */
static json_t *get(struct fake_host *fh, const char *path, unsigned status)
{
    struct fake_response r;
    json_t *body;

    assert_int_equal(fake_host_request(fh, "GET", path,
                                       CHATD_PRINCIPAL_ADMIN, NULL, &r),
                     CHATD_OK);
    if (r.status != status)
        print_error("GET %s: %u %s\n", path, r.status, r.body);
    assert_int_equal(r.status, status);
    body = json_loads(r.body, 0, NULL);
    assert_non_null(body);
    fake_response_free(&r);
    return body;
}

static void assert_stats(struct fake_host *fh, const char *expect)
{
    json_t *got = get(fh, "/v1/wordfilter/stats", 200);
    json_t *want = json_loads(expect, 0, NULL);

    if (!json_equal(got, want)) {
        char *text = json_dumps(got, JSON_COMPACT);

        print_error("stats %s, expected %s\n", text, expect);
        free(text);
    }
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
}

static void test_init_registers_everything(void **state)
{
    struct fake_host *fh = *state;
    struct fake_counts n = fake_host_counts(fh);

    assert_int_equal(n.event_types, 1);
    assert_int_equal(fake_host_type_version(fh, WF_TYPE_FLAGGED),
                     WF_FLAGGED_VERSION);
    assert_int_equal(n.stores, 4);
    assert_int_equal(n.projections, 1);
    assert_int_equal(n.subscribers, 1);
    assert_int_equal(n.routes, 2);
    assert_int_equal(n.metrics, 2);
    assert_int_equal(n.config_keys, 2);
    assert_int_equal(n.timers, 0);
    assert_stats(fh, "{\"flagged\":0,\"by_word\":{}}");
}

static void test_bad_word_list_refuses_init(void **state)
{
    static const struct fake_setting bad[] = {{"words", "spam, free money"},
                                              {NULL, NULL}};
    struct fake_host *fh;

    (void)state;
    assert_int_equal(fake_host_init(&fh, chatd_module_info(), bad),
                     CHATD_EINVAL);
    assert_int_equal(fake_host_log_count(
                         fh, "wordfilter.words: \"free money\" is not a "
                             "single word"),
                     1);
    fake_host_free(fh);
}

static void test_flags_once_under_redelivery(void **state)
{
    struct fake_host *fh = *state;
    const struct chatd_event *flag;
    uint64_t seq = post(fh, "r_1", 1, "text", "cheap SPAM and scam");

    assert_int_equal(fake_host_notify(fh, seq), CHATD_OK);
    assert_int_equal(fake_host_last_seq(fh), seq + 1);
    flag = fake_host_get_event(fh, seq + 1);
    assert_string_equal(flag->type, WF_TYPE_FLAGGED);
    assert_int_equal(flag->v, WF_FLAGGED_VERSION);
    assert_string_equal(flag->stream, "wordfilter:r_1");
    assert_string_equal(flag->actor, "module:wordfilter");
    assert_non_null(strstr(flag->data, "\"words\":[\"spam\",\"scam\"]"));
    assert_stats(fh, "{\"flagged\":1,\"by_word\":{\"scam\":1,\"spam\":1}}");
    assert_int_equal(fake_host_metric(fh, "flagged_total"), 1);

    /* The host hands the same event over again: nothing changes. */
    assert_int_equal(fake_host_notify(fh, seq), CHATD_OK);
    assert_int_equal(fake_host_notify(fh, seq), CHATD_OK);
    assert_int_equal(fake_host_last_seq(fh), seq + 1);
    assert_stats(fh, "{\"flagged\":1,\"by_word\":{\"scam\":1,\"spam\":1}}");
    assert_int_equal(fake_host_metric(fh, "flagged_total"), 1);
    assert_int_equal(fake_host_log_count(fh, "delivered again"), 2);
}

static void test_clean_notices_and_malformed(void **state)
{
    struct fake_host *fh = *state;
    uint64_t clean = post(fh, "r_1", 1, "text", "spammer spam_bot");
    uint64_t notice = post(fh, "r_1", 2, "payment", "spam");
    uint64_t bad = fake_host_event(fh, "chat.message_posted", 1, "room:r_1",
                                   "{\"room\":\"r_1\",\"seq\":\"x\"}");

    assert_int_equal(fake_host_notify(fh, clean), CHATD_OK);
    assert_int_equal(fake_host_notify(fh, notice), CHATD_OK);
    /* Malformed: acknowledged (not retried forever), counted, logged. */
    assert_int_equal(fake_host_notify(fh, bad), CHATD_OK);
    assert_int_equal(fake_host_last_seq(fh), bad);
    assert_int_equal(fake_host_metric(fh, "skipped_total"), 1);
    assert_int_equal(fake_host_log_count(fh, "data not as expected"), 1);
    assert_stats(fh, "{\"flagged\":0,\"by_word\":{}}");
}

static void test_exec_failure_is_retried(void **state)
{
    struct fake_host *fh = *state;
    uint64_t seq = post(fh, "r_1", 1, "text", "spam");

    fake_host_fail_exec(fh, CHATD_ECLOSED);
    assert_int_equal(fake_host_notify(fh, seq), CHATD_ECLOSED);
    assert_int_equal(fake_host_log_count(fh, "will retry"), 1);
    fake_host_fail_exec(fh, CHATD_OK);
    assert_int_equal(fake_host_notify(fh, seq), CHATD_OK);
    assert_stats(fh, "{\"flagged\":1,\"by_word\":{\"spam\":1}}");
}

static void test_old_v1_flag_is_upcast(void **state)
{
    struct fake_host *fh = *state;
    json_t *page;

    /* As written by wordfilter 0.1 (schema v1), found in an old log. */
    assert_true(fake_host_event(
                    fh, WF_TYPE_FLAGGED, 1, "wordfilter:r_9",
                    "{\"room_id\":\"r_9\",\"seq\":4,\"sender\":\"u_b\","
                    "\"word\":\"scam\",\"source_seq\":77}") > 0);
    assert_stats(fh, "{\"flagged\":1,\"by_word\":{\"scam\":1}}");
    page = get(fh, "/v1/wordfilter/rooms/r_9/flags", 200);
    assert_int_equal(json_array_size(json_object_get(page, "flags")), 1);
    assert_true(json_is_null(json_object_get(
        json_array_get(json_object_get(page, "flags"), 0), "message_id")));
    json_decref(page);
}

static void test_room_flags_pages(void **state)
{
    struct fake_host *fh = *state;
    char path[256], long_id[WF_ID_MAX + 2];
    json_t *page;
    uint64_t seqs[3];
    int i;

    for (i = 0; i < 3; i++) {
        seqs[i] = post(fh, "r_2", i + 1, "text", "spam");
        assert_int_equal(fake_host_notify(fh, seqs[i]), CHATD_OK);
    }
    assert_int_equal(fake_host_notify(fh, post(fh, "r_3", 1, "text",
                                               "scam")),
                     CHATD_OK);
    page = get(fh, "/v1/wordfilter/rooms/r_2/flags?limit=2", 200);
    assert_int_equal(json_array_size(json_object_get(page, "flags")), 2);
    assert_int_equal(json_integer_value(json_object_get(page, "next_after")),
                     seqs[1]);
    json_decref(page);
    snprintf(path, sizeof(path), "/v1/wordfilter/rooms/r_2/flags?limit=2"
             "&after=%llu", (unsigned long long)seqs[1]);
    page = get(fh, path, 200);
    assert_int_equal(json_array_size(json_object_get(page, "flags")), 1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(page, "flags"), 0),
                         "source_seq")),
                     seqs[2]);
    assert_true(json_is_null(json_object_get(page, "next_after")));
    json_decref(page);
    json_decref(get(fh, "/v1/wordfilter/rooms/r_2/flags?limit=0", 400));
    json_decref(get(fh, "/v1/wordfilter/rooms/r_2/flags?after=x", 400));
    /* Ids are at most 100 bytes: a longer one is no room at all. */
    memset(long_id, 'r', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    snprintf(path, sizeof(path), "/v1/wordfilter/rooms/%s/flags", long_id);
    json_decref(get(fh, path, 404));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_registers_everything, setup,
                                        teardown),
        cmocka_unit_test(test_bad_word_list_refuses_init),
        cmocka_unit_test_setup_teardown(test_flags_once_under_redelivery,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_notices_and_malformed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_failure_is_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_old_v1_flag_is_upcast, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_room_flags_pages, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
