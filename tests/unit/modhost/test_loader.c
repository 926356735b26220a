/* The module loader: a good module loads and registers; each broken one is
 * refused with the message that names the file and what differs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "modhost/modhost.h"
#include "modhost/modhost_int.h"

static void module_path(const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s.so", TEST_MODDIR, name);
}

static int load(struct modhost *mh, const char *name, char *why, size_t len)
{
    char path[512];

    module_path(name, path, sizeof(path));
    why[0] = '\0';
    return modhost_load(mh, path, why, len);
}

static int setup(void **state)
{
    json_t *config = json_pack("{s:{s:i}}", "good", "step", 3);
    struct modhost *mh;

    assert_non_null(config);
    assert_int_equal(modhost_new(&mh, config, NULL), CHATD_OK);
    *state = mh;
    return 0;
}

static int teardown(void **state)
{
    struct modhost *mh = *state;
    json_t *config = (json_t *)mh->config;

    modhost_free(mh);
    json_decref(config);
    return 0;
}

static void test_good_module_loads(void **state)
{
    struct modhost *mh = *state;
    char why[512];
    const struct chatd_module *mod;

    assert_int_equal(load(mh, "good", why, sizeof(why)), CHATD_OK);
    assert_int_equal(modhost_module_count(mh), 1);
    assert_string_equal(modhost_module_name(mh, 0), "good");
    assert_string_equal(modhost_module_version(mh, 0), "1.0.0");
    assert_int_equal(mh->types.len, 1);
    assert_int_equal(mh->stores.len, 1);
    assert_int_equal(mh->projs.len, 1);
    assert_int_equal(mh->routes.len, 1);
    mod = mh->modules.items[0];
    assert_int_equal(((const int64_t *)mod->state)[2], 3); /* config step */
    assert_int_equal(modhost_config_check_unknown(mh), CHATD_OK);
}

static void test_wrong_major_refused(void **state)
{
    char why[512];

    assert_int_equal(load(*state, "bad_major", why, sizeof(why)), CHATD_EABI);
    assert_non_null(strstr(why, "bad_major.so"));
    assert_non_null(strstr(why, "built for ABI 99.0"));
    assert_non_null(strstr(why, "this chatd has ABI 1."));
    assert_int_equal(modhost_module_count(*state), 0);
}

static void test_newer_minor_refused(void **state)
{
    char why[512];

    assert_int_equal(load(*state, "newer_minor", why, sizeof(why)),
                     CHATD_EABI);
    assert_non_null(strstr(why, "newer than this chatd"));
}

static void test_wrong_tag_refused(void **state)
{
    char why[512];

    assert_int_equal(load(*state, "bad_tag", why, sizeof(why)), CHATD_EABI);
    assert_non_null(strstr(why, "p4-l4-le1234"));
    assert_non_null(strstr(why, CHATD_ABI_TAG));
}

static void test_missing_symbol_refused(void **state)
{
    char why[512];

    assert_int_equal(load(*state, "no_symbol", why, sizeof(why)), CHATD_EABI);
    assert_non_null(strstr(why, "no symbol chatd_module_info"));
    assert_non_null(strstr(why, "no_symbol.so"));
}

static void test_missing_file_refused(void **state)
{
    char why[512];

    assert_int_equal(load(*state, "does_not_exist", why, sizeof(why)),
                     CHATD_ENOTFOUND);
    assert_non_null(strstr(why, "cannot load"));
}

static void test_failed_init_leaves_nothing(void **state)
{
    struct modhost *mh = *state;
    char why[512];

    assert_int_equal(load(mh, "init_fails", why, sizeof(why)), CHATD_EINVAL);
    assert_non_null(strstr(why, "init failed"));
    assert_int_equal(modhost_module_count(mh), 0);
    assert_int_equal(mh->routes.len, 0);
}

static void test_undeclared_store_refused(void **state)
{
    char why[512];

    assert_int_equal(load(*state, "foreign_store", why, sizeof(why)),
                     CHATD_EPERM);
    assert_int_equal(((struct modhost *)*state)->projs.len, 0);
}

static void test_duplicate_route_and_name_refused(void **state)
{
    struct modhost *mh = *state;
    char why[512];

    assert_int_equal(load(mh, "good", why, sizeof(why)), CHATD_OK);
    assert_int_equal(load(mh, "dup_route", why, sizeof(why)), CHATD_EEXIST);
    assert_int_equal(load(mh, "good", why, sizeof(why)), CHATD_EEXIST);
    assert_non_null(strstr(why, "loaded twice"));
    assert_int_equal(modhost_module_count(mh), 1);
    assert_int_equal(mh->routes.len, 1);
}

static void test_unknown_config_key_refused(void **state)
{
    json_t *config = json_pack("{s:{s:i, s:i}}", "good", "step", 2, "stpe", 1);
    struct modhost *mh;
    char why[512];

    assert_int_equal(modhost_new(&mh, config, NULL), CHATD_OK);
    assert_int_equal(load(mh, "good", why, sizeof(why)), CHATD_OK);
    assert_int_equal(modhost_config_check_unknown(mh), CHATD_EINVAL);
    modhost_free(mh);
    json_decref(config);
}

static void test_config_out_of_range_fails_init(void **state)
{
    json_t *config = json_pack("{s:{s:i}}", "good", "step", 1000);
    struct modhost *mh;
    char why[512];

    assert_int_equal(modhost_new(&mh, config, NULL), CHATD_OK);
    assert_int_equal(load(mh, "good", why, sizeof(why)), CHATD_EINVAL);
    assert_int_equal(modhost_module_count(mh), 0);
    modhost_free(mh);
    json_decref(config);
}

static void test_check_file(void **state)
{
    char path[512], why[512];

    module_path("good", path, sizeof(path));
    assert_int_equal(modhost_check_file(path, why, sizeof(why)), CHATD_OK);
    module_path("bad_major", path, sizeof(path));
    assert_int_equal(modhost_check_file(path, why, sizeof(why)), CHATD_EABI);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_good_module_loads),
        T(test_wrong_major_refused),
        T(test_newer_minor_refused),
        T(test_wrong_tag_refused),
        T(test_missing_symbol_refused),
        T(test_missing_file_refused),
        T(test_failed_init_leaves_nothing),
        T(test_undeclared_store_refused),
        T(test_duplicate_route_and_name_refused),
        cmocka_unit_test(test_unknown_config_key_refused),
        cmocka_unit_test(test_config_out_of_range_fails_init),
        cmocka_unit_test(test_check_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
