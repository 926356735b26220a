/*
 * The whole payment_notice module against the fake host
 * (tests/sdk/fake_host.h): what init registers, config refusals, users
 * and membership learnt from identity and chat events, a deposit, a
 * transfer with its notice, the business-rule refusals (nothing appended
 * after them), idempotent retries, a refund made once, and the
 * projection refusing an event that would overdraw a wallet.
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
#include "fake_host.h"

const struct chatd_module_info *chatd_module_info(void);

static const struct fake_setting default_settings[] = {{NULL, NULL}};

/* A world: u_test (the fake's user principal) and u_bob in room r_1,
 * u_eve elsewhere, one service account. */
static int setup(void **state)
{
    struct fake_host *fh;

    if (fake_host_init(&fh, chatd_module_info(), default_settings) !=
        CHATD_OK) {
        fake_host_free(fh);
        return -1;
    }
    fake_host_event(fh, "identity.user_created", 1, "user:u_test",
                    "{\"id\":\"u_test\",\"name\":\"Alice\",\"kind\":\"user\"}");
    fake_host_event(fh, "identity.user_created", 1, "user:u_bob",
                    "{\"id\":\"u_bob\",\"name\":\"Bob\",\"kind\":\"user\"}");
    fake_host_event(fh, "identity.user_created", 1, "user:u_eve",
                    "{\"id\":\"u_eve\",\"name\":\"Eve\",\"kind\":\"user\"}");
    fake_host_event(fh, "identity.user_created", 1, "user:s_1",
                    "{\"id\":\"s_1\",\"name\":\"svc\",\"kind\":\"service\"}");
    fake_host_event(fh, "chat.room_created", 1, "room:r_1",
                    "{\"room\":\"r_1\",\"kind\":\"group\",\"members\":"
                    "[\"u_test\",\"u_bob\"]}");
    fake_host_event(fh, "chat.room_created", 1, "room:r_2",
                    "{\"room\":\"r_2\",\"kind\":\"group\",\"members\":"
                    "[\"u_bob\",\"u_eve\"]}");
    *state = fh;
    return 0;
}

static int teardown(void **state)
{
    fake_host_free(*state);
    return 0;
}

static json_t *call(struct fake_host *fh, const char *method,
                    const char *path, enum chatd_principal_kind who,
                    const char *body, unsigned status)
{
    struct fake_response r;
    json_t *v;

    assert_int_equal(fake_host_request(fh, method, path, who, body, &r),
                     CHATD_OK);
    if (r.status != status)
        print_error("%s %s: %u %s\n", method, path, r.status, r.body);
    assert_int_equal(r.status, status);
    v = json_loads(r.body, 0, NULL);
    assert_non_null(v);
    fake_response_free(&r);
    return v;
}

static void expect_error(struct fake_host *fh, const char *method,
                         const char *path, enum chatd_principal_kind who,
                         const char *body, unsigned status, const char *code)
{
    uint64_t before = fake_host_last_seq(fh);
    json_t *v = call(fh, method, path, who, body, status);

    assert_string_equal(
        json_string_value(json_object_get(json_object_get(v, "error"),
                                          "code")),
        code);
    assert_int_equal(fake_host_last_seq(fh), before); /* nothing appended */
    json_decref(v);
}

static int64_t balance(struct fake_host *fh)
{
    json_t *v = call(fh, "GET", "/v1/wallet", CHATD_PRINCIPAL_USER, NULL,
                     200);
    int64_t b = json_integer_value(json_object_get(v, "balance"));

    json_decref(v);
    return b;
}

static void test_registration(void **state)
{
    struct fake_counts n = fake_host_counts(*state);

    assert_int_equal(n.event_types, 4);
    assert_int_equal(n.stores, 10);
    assert_int_equal(n.projections, 1);
    assert_int_equal(n.subscribers, 0);
    assert_int_equal(n.routes, 7);
    assert_int_equal(n.config_keys, 5);
    assert_int_equal(
        fake_host_type_version(*state, "payment_notice.transfer_completed"),
        1);
}

static void refused(const char *key, const char *value, const char *log)
{
    const struct fake_setting s[] = {{key, value}, {NULL, NULL}};
    struct fake_host *fh;

    assert_int_not_equal(fake_host_init(&fh, chatd_module_info(), s),
                         CHATD_OK);
    assert_true(fake_host_log_count(fh, log) > 0);
    fake_host_free(fh);
}

static void test_config_refusals(void **state)
{
    (void)state;
    refused("currency", "won", "payment_notice.currency");
    refused("currency", "KRWX", "payment_notice.currency");
    refused("provider_secret", "short", "at least 16 bytes");
    refused("max_amount", "0", "registration failed");
}

static void test_deposit_transfer_refund(void **state)
{
    struct fake_host *fh = *state;
    const struct chatd_event *ev;
    json_t *v, *again, *notice;
    char path[128];
    const char *xfer = "{\"to\":\"u_bob\",\"amount\":3000,\"memo\":\"lunch\","
                       "\"idempotency_key\":\"x1\"}";

    assert_int_equal(balance(fh), 0);
    v = call(fh, "POST", "/v1/wallets/u_test/deposits",
             CHATD_PRINCIPAL_ADMIN,
             "{\"amount\":5000,\"idempotency_key\":\"d1\"}", 201);
    assert_int_equal(json_integer_value(json_object_get(v, "balance")), 5000);
    again = call(fh, "POST", "/v1/wallets/u_test/deposits",
                 CHATD_PRINCIPAL_ADMIN,
                 "{\"amount\":5000,\"idempotency_key\":\"d1\"}", 200);
    assert_true(json_equal(v, again));
    json_decref(v);
    json_decref(again);
    assert_int_equal(balance(fh), 5000);
    expect_error(fh, "POST", "/v1/wallets/u_test/deposits",
                 CHATD_PRINCIPAL_ADMIN,
                 "{\"amount\":5001,\"idempotency_key\":\"d1\"}", 409,
                 "conflict");
    expect_error(fh, "POST", "/v1/wallets/u_nobody/deposits",
                 CHATD_PRINCIPAL_ADMIN,
                 "{\"amount\":5,\"idempotency_key\":\"d2\"}", 404,
                 "not_found");
    expect_error(fh, "POST", "/v1/wallets/s_1/deposits",
                 CHATD_PRINCIPAL_ADMIN,
                 "{\"amount\":5,\"idempotency_key\":\"d3\"}", 404,
                 "not_found");

    v = call(fh, "POST", "/v1/rooms/r_1/transfers", CHATD_PRINCIPAL_USER,
             xfer, 201);
    assert_string_equal(json_string_value(json_object_get(v, "status")),
                        "completed");
    ev = fake_host_get_event(fh, fake_host_last_seq(fh));
    assert_string_equal(ev->type, "payment_notice.transfer_completed");
    again = json_loads(ev->data, 0, NULL);
    notice = json_object_get(again, "notice");
    assert_string_equal(json_string_value(json_object_get(notice, "text")),
                        "Alice sent 3,000 KRW to Bob");
    assert_string_equal(json_string_value(json_object_get(again, "room_id")),
                        "r_1");
    json_decref(again);
    again = call(fh, "POST", "/v1/rooms/r_1/transfers", CHATD_PRINCIPAL_USER,
                 xfer, 200);
    assert_true(json_equal(v, again));
    json_decref(again);
    assert_int_equal(balance(fh), 2000);

    expect_error(fh, "POST", "/v1/rooms/r_1/transfers", CHATD_PRINCIPAL_USER,
                 "{\"to\":\"u_bob\",\"amount\":2001,\"idempotency_key\":"
                 "\"x2\"}",
                 422, "insufficient_funds");
    expect_error(fh, "POST", "/v1/rooms/r_1/transfers", CHATD_PRINCIPAL_USER,
                 "{\"to\":\"u_eve\",\"amount\":1,\"idempotency_key\":\"x3\"}",
                 422, "not_a_member");
    expect_error(fh, "POST", "/v1/rooms/r_1/transfers", CHATD_PRINCIPAL_USER,
                 "{\"to\":\"u_test\",\"amount\":1,\"idempotency_key\":"
                 "\"x4\"}",
                 422, "self_transfer");
    expect_error(fh, "POST", "/v1/rooms/r_2/transfers", CHATD_PRINCIPAL_USER,
                 "{\"to\":\"u_bob\",\"amount\":1,\"idempotency_key\":\"x5\"}",
                 404, "not_found");
    expect_error(fh, "POST", "/v1/rooms/r_1/transfers", CHATD_PRINCIPAL_USER,
                 "{\"to\":\"u_bob\",\"amount\":1,\"idempotency_key\":\"x1\"}",
                 409, "conflict");
    expect_error(fh, "POST", "/v1/rooms/r_1/transfers", CHATD_PRINCIPAL_ADMIN,
                 xfer, 403, "forbidden");

    /* u_test sent it: only the recipient may refund */
    snprintf(path, sizeof(path), "/v1/transfers/%s/refund",
             json_string_value(json_object_get(v, "id")));
    expect_error(fh, "POST", path, CHATD_PRINCIPAL_USER, NULL, 403,
                 "forbidden");
    json_decref(v);
}

static void test_leave_and_malformed_foreign_events(void **state)
{
    struct fake_host *fh = *state;

    /* skipped, never refused: chat's commands must not fail over us */
    assert_int_not_equal(fake_host_event(fh, "chat.member_added", 1,
                                         "room:r_1", "{\"room\":5}"),
                         0);
    assert_int_not_equal(fake_host_event(fh, "identity.user_created", 1,
                                         "user:x", "[]"),
                         0);
    json_decref(call(fh, "POST", "/v1/wallets/u_test/deposits",
                     CHATD_PRINCIPAL_ADMIN,
                     "{\"amount\":10,\"idempotency_key\":\"d9\"}", 201));
    assert_int_not_equal(fake_host_event(fh, "chat.member_removed", 1,
                                         "room:r_1",
                                         "{\"room\":\"r_1\",\"user\":"
                                         "\"u_test\",\"by\":\"u_test\"}"),
                         0);
    expect_error(fh, "POST", "/v1/rooms/r_1/transfers", CHATD_PRINCIPAL_USER,
                 "{\"to\":\"u_bob\",\"amount\":1,\"idempotency_key\":\"y\"}",
                 404, "not_found");
}

/* A transfer to u_test, as the module appended it earlier (u_test is the
 * only user principal of the fake): u_test refunds it, once. */
static void test_refund_once_and_projection_guard(void **state)
{
    struct fake_host *fh = *state;
    uint64_t seq;
    json_t *v;

    json_decref(call(fh, "POST", "/v1/wallets/u_bob/deposits",
                     CHATD_PRINCIPAL_SERVICE,
                     "{\"amount\":900,\"idempotency_key\":\"b1\"}", 201));
    /* the projection refuses a transfer the balance does not cover */
    assert_int_equal(fake_host_event(fh, "payment_notice.transfer_completed",
                                     1, "transfer:t_big",
                                     "{\"id\":\"t_big\",\"room_id\":\"r_1\","
                                     "\"from\":\"u_bob\",\"to\":\"u_test\","
                                     "\"amount\":901,\"currency\":\"KRW\","
                                     "\"memo\":null,\"idempotency_key\":\"k\"}"),
                     0);
    assert_int_not_equal(
        fake_host_event(fh, "payment_notice.transfer_completed", 1,
                        "transfer:t_1",
                        "{\"id\":\"t_1\",\"room_id\":\"r_1\",\"from\":"
                        "\"u_bob\",\"to\":\"u_test\",\"amount\":400,"
                        "\"currency\":\"KRW\",\"memo\":null,"
                        "\"idempotency_key\":\"k\"}"),
        0);
    assert_int_equal(balance(fh), 400);
    v = call(fh, "POST", "/v1/transfers/t_1/refund", CHATD_PRINCIPAL_USER,
             NULL, 200);
    assert_string_equal(json_string_value(json_object_get(v, "status")),
                        "refunded");
    json_decref(v);
    seq = fake_host_last_seq(fh);
    assert_string_equal(fake_host_get_event(fh, seq)->type,
                        "payment_notice.transfer_refunded");
    assert_int_equal(balance(fh), 0);
    v = call(fh, "POST", "/v1/transfers/t_1/refund", CHATD_PRINCIPAL_USER,
             NULL, 200);
    json_decref(v);
    assert_int_equal(fake_host_last_seq(fh), seq); /* nothing moved */
    expect_error(fh, "POST", "/v1/transfers/t_none/refund",
                 CHATD_PRINCIPAL_USER, NULL, 404, "not_found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registration, setup, teardown),
        cmocka_unit_test(test_config_refusals),
        cmocka_unit_test_setup_teardown(test_deposit_transfer_refund, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_leave_and_malformed_foreign_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refund_once_and_projection_guard,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
