/*
 * ABI snapshot: pins the layout of every public struct of
 * <chatd/module.h> and the position of every entry of struct chatd_host,
 * as built on LP64 (x86_64, aarch64: the "p8-l8-le1234" ABI tag).
 *
 * Why: a module built yesterday reads the host table and fills the
 * descriptor by offset. Reordering, removing or resizing anything breaks
 * every built module silently, so it must fail here first.
 *
 * When this test fails:
 *  - You appended a host entry or a field at the end of a struct that
 *    carries `size`: that is allowed. Bump CHATD_ABI_MINOR, add the new
 *    PIN line(s) and the new size below, and say so in docs/MODULES.md
 *    ("ABI history").
 *  - Anything else moved: that is an incompatible change. Put it back, or
 *    bump CHATD_ABI_MAJOR (every module must be rebuilt) and write a new
 *    snapshot for the new major.
 * Constants (status codes, enum values) are append-only too: pinned below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "chatd/module.h"

/* The layout this snapshot describes. */
#define SNAPSHOT_MAJOR 1
#define SNAPSHOT_MINOR 3
#define SNAPSHOT_TAG "p8-l8-le1234"

struct pin {
    const char *what;
    size_t off, want_off;
    size_t size, want_size;
};

#define PIN(t, m, o, s)                                                        \
    {#t "." #m, offsetof(struct t, m), o, sizeof(((struct t *)0)->m), s}

struct size_pin {
    const char *what;
    size_t size, want;
};

#define SIZE(t, s) {"struct " #t, sizeof(struct t), s}

static const struct size_pin sizes[] = {
    SIZE(chatd_val, 16),
    SIZE(chatd_event, 88),
    SIZE(chatd_append, 48),
    SIZE(chatd_event_type, 24),
    SIZE(chatd_projection, 32),
    SIZE(chatd_subscriber, 24),
    SIZE(chatd_principal, 16),
    SIZE(chatd_route, 32),
    SIZE(chatd_config_item, 56),
    SIZE(chatd_module_info, 72),
    SIZE(chatd_host, 360),};

static const struct pin members[] = {
    /* struct chatd_val */
    PIN(chatd_val, data, 0, 8),
    PIN(chatd_val, len, 8, 8),
    /* struct chatd_event */
    PIN(chatd_event, size, 0, 4),
    PIN(chatd_event, seq, 8, 8),
    PIN(chatd_event, time_ms, 16, 8),
    PIN(chatd_event, type, 24, 8),
    PIN(chatd_event, v, 32, 4),
    PIN(chatd_event, stream, 40, 8),
    PIN(chatd_event, stream_ver, 48, 8),
    PIN(chatd_event, correlation_id, 56, 8),
    PIN(chatd_event, actor, 64, 8),
    PIN(chatd_event, data, 72, 8),
    PIN(chatd_event, data_len, 80, 8),
    /* struct chatd_append */
    PIN(chatd_append, size, 0, 4),
    PIN(chatd_append, type, 8, 8),
    PIN(chatd_append, stream, 16, 8),
    PIN(chatd_append, expected_ver, 24, 8),
    PIN(chatd_append, data, 32, 8),
    PIN(chatd_append, data_len, 40, 8),
    /* struct chatd_event_type */
    PIN(chatd_event_type, type, 0, 8),
    PIN(chatd_event_type, version, 8, 4),
    PIN(chatd_event_type, upcast, 16, 8),
    /* struct chatd_projection */
    PIN(chatd_projection, name, 0, 8),
    PIN(chatd_projection, version, 8, 4),
    PIN(chatd_projection, stores, 16, 8),
    PIN(chatd_projection, apply, 24, 8),
    /* struct chatd_subscriber */
    PIN(chatd_subscriber, name, 0, 8),
    PIN(chatd_subscriber, prefix, 8, 8),
    PIN(chatd_subscriber, handle, 16, 8),
    /* struct chatd_principal */
    PIN(chatd_principal, kind, 0, 4),
    PIN(chatd_principal, id, 8, 8),
    /* struct chatd_route */
    PIN(chatd_route, method, 0, 8),
    PIN(chatd_route, pattern, 8, 8),
    PIN(chatd_route, auth, 16, 4),
    PIN(chatd_route, handle, 24, 8),
    /* struct chatd_config_item */
    PIN(chatd_config_item, key, 0, 8),
    PIN(chatd_config_item, type, 8, 4),
    PIN(chatd_config_item, def_int, 16, 8),
    PIN(chatd_config_item, def_str, 24, 8),
    PIN(chatd_config_item, min, 32, 8),
    PIN(chatd_config_item, max, 40, 8),
    PIN(chatd_config_item, target, 48, 8),
    /* struct chatd_module_info */
    PIN(chatd_module_info, size, 0, 4),
    PIN(chatd_module_info, abi_major, 4, 2),
    PIN(chatd_module_info, abi_minor, 6, 2),
    PIN(chatd_module_info, abi_tag, 8, 8),
    PIN(chatd_module_info, name, 16, 8),
    PIN(chatd_module_info, version, 24, 8),
    PIN(chatd_module_info, description, 32, 8),
    PIN(chatd_module_info, init, 40, 8),
    PIN(chatd_module_info, start, 48, 8),
    PIN(chatd_module_info, stop, 56, 8),
    PIN(chatd_module_info, fini, 64, 8),
};

/* Every entry of the host table, in order. */
static const struct pin host[] = {
    PIN(chatd_host, size, 0, 4),
    PIN(chatd_host, abi_major, 4, 2),
    PIN(chatd_host, abi_minor, 6, 2),
    PIN(chatd_host, event_type, 8, 8),
    PIN(chatd_host, store, 16, 8),
    PIN(chatd_host, projection, 24, 8),
    PIN(chatd_host, subscriber, 32, 8),
    PIN(chatd_host, route, 40, 8),
    PIN(chatd_host, config, 48, 8),
    PIN(chatd_host, timer, 56, 8),
    PIN(chatd_host, metric, 64, 8),
    PIN(chatd_host, log, 72, 8),
    PIN(chatd_host, strerror, 80, 8),
    PIN(chatd_host, metric_add, 88, 8),
    PIN(chatd_host, metric_set, 96, 8),
    PIN(chatd_host, epoch, 104, 8),
    PIN(chatd_host, req_param, 112, 8),
    PIN(chatd_host, req_query, 120, 8),
    PIN(chatd_host, req_body, 128, 8),
    PIN(chatd_host, req_header, 136, 8),
    PIN(chatd_host, req_principal, 144, 8),
    PIN(chatd_host, req_correlation_id, 152, 8),
    PIN(chatd_host, req_txn, 160, 8),
    PIN(chatd_host, reply_json, 168, 8),
    PIN(chatd_host, reply_error, 176, 8),
    PIN(chatd_host, reply_header, 184, 8),
    PIN(chatd_host, submit, 192, 8),
    PIN(chatd_host, exec, 200, 8),
    PIN(chatd_host, append, 208, 8),
    PIN(chatd_host, stream_version, 216, 8),
    PIN(chatd_host, get, 224, 8),
    PIN(chatd_host, put, 232, 8),
    PIN(chatd_host, del, 240, 8),
    PIN(chatd_host, cursor_open, 248, 8),
    PIN(chatd_host, cursor_seek, 256, 8),
    PIN(chatd_host, cursor_step, 264, 8),
    PIN(chatd_host, cursor_close, 272, 8),
    PIN(chatd_host, read_begin, 280, 8),
    PIN(chatd_host, read_end, 288, 8),
    PIN(chatd_host, event_get, 296, 8),
    PIN(chatd_host, deliver, 304, 8),
    PIN(chatd_host, ephemeral, 312, 8),
    PIN(chatd_host, online, 320, 8),
    /* 1.1 */
    PIN(chatd_host, projection_hooks, 328, 8),
    /* 1.2 */
    PIN(chatd_host, reply_json_take, 336, 8),
    /* 1.3 */
    PIN(chatd_host, subscriber_hooks, 344, 8),
    PIN(chatd_host, data_dir, 352, 8),
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool lp64(void)
{
    return sizeof(void *) == 8 && sizeof(long) == 8 &&
           strcmp(CHATD_ABI_TAG, SNAPSHOT_TAG) == 0;
}

/* Reports every mismatch by name before failing, so one run shows the
 * whole damage. */
static size_t check_pins(const struct pin *p, size_t n)
{
    size_t i, bad = 0;

    for (i = 0; i < n; i++) {
        if (p[i].off == p[i].want_off && p[i].size == p[i].want_size)
            continue;
        print_error("%s: offset %zu size %zu, snapshot has offset %zu size "
                    "%zu\n",
                    p[i].what, p[i].off, p[i].size, p[i].want_off,
                    p[i].want_size);
        bad++;
    }
    return bad;
}

static void test_version(void **state)
{
    (void)state;
    if (CHATD_ABI_MAJOR != SNAPSHOT_MAJOR || CHATD_ABI_MINOR != SNAPSHOT_MINOR)
        print_error("the header says ABI %d.%d, this snapshot is of %d.%d: "
                    "update the snapshot with the version\n",
                    CHATD_ABI_MAJOR, CHATD_ABI_MINOR, SNAPSHOT_MAJOR,
                    SNAPSHOT_MINOR);
    assert_int_equal(CHATD_ABI_MAJOR, SNAPSHOT_MAJOR);
    assert_int_equal(CHATD_ABI_MINOR, SNAPSHOT_MINOR);
    assert_string_equal(CHATD_MODULE_SYMBOL, "chatd_module_info");
}

static void test_struct_sizes(void **state)
{
    size_t i, bad = 0;

    (void)state;
    if (!lp64())
        skip();
    for (i = 0; i < N(sizes); i++) {
        if (sizes[i].size == sizes[i].want)
            continue;
        print_error("%s: %zu bytes, snapshot has %zu\n", sizes[i].what,
                    sizes[i].size, sizes[i].want);
        bad++;
    }
    assert_int_equal(bad, 0);
}

static void test_struct_members(void **state)
{
    (void)state;
    if (!lp64())
        skip();
    assert_int_equal(check_pins(members, N(members)), 0);
}

static void test_host_table(void **state)
{
    (void)state;
    if (!lp64())
        skip();
    assert_int_equal(check_pins(host, N(host)), 0);
}

/* The host pins tile the whole table with no hole: an entry added without
 * a PIN line (anywhere, not only at the end) fails here. */
static void test_host_table_pinned_completely(void **state)
{
    size_t i, end = 0;

    (void)state;
    for (i = 0; i < N(host); i++) {
        if (host[i].off != end)
            print_error("%s at offset %zu, expected %zu: a member before it "
                        "moved or has no PIN line\n",
                        host[i].what, host[i].off, end);
        assert_int_equal(host[i].off, end);
        end = host[i].off + host[i].size;
    }
    assert_int_equal(end, sizeof(struct chatd_host));
}

/* Every function entry is one pointer: the table is an array of slots
 * after the 8-byte header, which is what lets it grow only at the end. */
static void test_host_entries_are_slots(void **state)
{
    size_t i;

    (void)state;
    assert_int_equal(offsetof(struct chatd_host, event_type), 8);
    for (i = 3; i < N(host); i++)
        assert_int_equal(host[i].size, sizeof(void (*)(void)));
}

static void test_constants(void **state)
{
    (void)state;
    assert_int_equal(CHATD_OK, 0);
    assert_int_equal(CHATD_EINVAL, -1);
    assert_int_equal(CHATD_ENOMEM, -2);
    assert_int_equal(CHATD_ENOTFOUND, -3);
    assert_int_equal(CHATD_ECONFLICT, -4);
    assert_int_equal(CHATD_EEXIST, -5);
    assert_int_equal(CHATD_EIO, -6);
    assert_int_equal(CHATD_EFULL, -7);
    assert_int_equal(CHATD_EPERM, -8);
    assert_int_equal(CHATD_ESTATE, -9);
    assert_int_equal(CHATD_EABI, -10);
    assert_int_equal(CHATD_EAGAIN, -11);
    assert_int_equal(CHATD_EREJECTED, -12);
    assert_int_equal(CHATD_ECLOSED, -13);

    assert_int_equal(CHATD_AUTH_NONE, 0);
    assert_int_equal(CHATD_AUTH_USER, 1);
    assert_int_equal(CHATD_AUTH_SERVICE, 2);
    assert_int_equal(CHATD_AUTH_ADMIN, 3);
    assert_int_equal(CHATD_PRINCIPAL_NONE, 0);
    assert_int_equal(CHATD_PRINCIPAL_USER, 1);
    assert_int_equal(CHATD_PRINCIPAL_SERVICE, 2);
    assert_int_equal(CHATD_PRINCIPAL_ADMIN, 3);
    assert_int_equal(CHATD_PRINCIPAL_MODULE, 4);
    assert_int_equal(CHATD_CONFIG_INT, 1);
    assert_int_equal(CHATD_CONFIG_STRING, 2);
    assert_int_equal(CHATD_CONFIG_BOOL, 3);
    assert_int_equal(CHATD_LOG_DEBUG, 0);
    assert_int_equal(CHATD_LOG_INFO, 1);
    assert_int_equal(CHATD_LOG_WARN, 2);
    assert_int_equal(CHATD_LOG_ERROR, 3);
    assert_int_equal(CHATD_SEEK_FIRST, 1);
    assert_int_equal(CHATD_SEEK_LAST, 2);
    assert_int_equal(CHATD_SEEK_GE, 3);
    assert_int_equal(CHATD_SEEK_LE, 4);
    assert_int_equal(CHATD_METRIC_COUNTER, 1);
    assert_int_equal(CHATD_METRIC_GAUGE, 2);
    assert_true(CHATD_ANY_VERSION == UINT64_MAX);
    assert_true(CHATD_NO_STREAM == 0);
    /* Enums cross the boundary as int-sized values. */
    assert_int_equal(sizeof(enum chatd_auth), sizeof(int));
    assert_int_equal(sizeof(enum chatd_principal_kind), sizeof(int));
    assert_int_equal(sizeof(enum chatd_config_type), sizeof(int));
}

/* CHATD_MODULE fills the fields the loader checks from this header. */
static int fake_init(struct chatd_module *mod, const struct chatd_host *h,
                     void **state)
{
    (void)mod;
    (void)h;
    (void)state;
    return CHATD_OK;
}

CHATD_MODULE(.name = "snapshot", .version = "0", .init = fake_init)

static void test_descriptor_macro(void **state)
{
    const struct chatd_module_info *info = chatd_module_info();

    (void)state;
    assert_int_equal(info->size, sizeof(struct chatd_module_info));
    assert_int_equal(info->abi_major, CHATD_ABI_MAJOR);
    assert_int_equal(info->abi_minor, CHATD_ABI_MINOR);
    assert_string_equal(info->abi_tag, CHATD_ABI_TAG);
    assert_string_equal(info->name, "snapshot");
    assert_ptr_equal(info->init, fake_init);
    assert_null(info->start);
    assert_null(info->fini);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_struct_sizes),
        cmocka_unit_test(test_struct_members),
        cmocka_unit_test(test_host_table),
        cmocka_unit_test(test_host_table_pinned_completely),
        cmocka_unit_test(test_host_entries_are_slots),
        cmocka_unit_test(test_constants),
        cmocka_unit_test(test_descriptor_macro),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
