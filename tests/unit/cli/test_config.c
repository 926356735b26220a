/* Config precedence: flags > environment > config file > defaults, and
 * every kind of bad value refused with the key named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/config.h"
#include "core/core.h"

static char cfg_path[64];

static void write_file(const char *text)
{
    FILE *f = fopen(cfg_path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    int fd;

    snprintf(cfg_path, sizeof(cfg_path), "/tmp/chatd-cfg-XXXXXX");
    fd = mkstemp(cfg_path);
    assert_true(fd >= 0);
    close(fd);
    unsetenv("CHATD_LISTEN");
    unsetenv("CHATD_DATA");
    unsetenv("CHATD_CONFIG");
    return 0;
}

static int teardown(void **state)
{
    unlink(cfg_path);
    return 0;
}

static void test_defaults(void **state)
{
    struct config_flags flags = {0};
    struct config cfg;

    assert_int_equal(config_load(&cfg, &flags), CHATD_OK);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_string_equal(cfg.address, "127.0.0.1");
    assert_int_equal(cfg.port, 8080);
    assert_string_equal(cfg.data_dir, "./var");
    assert_false(cfg.nosync);
    assert_true(cfg.writable_map);
    assert_int_equal(cfg.max_body, 1 << 20);
    assert_int_equal(cfg.http_threads, 1);
    assert_false(cfg.modules_explicit);
    config_free(&cfg);
}

static void test_file_then_env_then_flags(void **state)
{
    struct config_flags flags = {.config = cfg_path};
    struct config cfg;

    write_file("{\"listen\":\"127.0.0.1:1111\",\"data\":\"/file\","
               "\"durability\":\"relaxed\",\"http\":{\"threads\":4},"
               "\"writable_map\":false}");
    assert_int_equal(config_load(&cfg, &flags), CHATD_OK);
    assert_int_equal(cfg.port, 1111);
    assert_int_equal(cfg.http_threads, 4);
    assert_string_equal(cfg.data_dir, "/file");
    assert_true(cfg.nosync);
    assert_false(cfg.writable_map);
    config_free(&cfg);

    setenv("CHATD_LISTEN", "127.0.0.1:2222", 1);
    setenv("CHATD_DATA", "/env", 1);
    assert_int_equal(config_load(&cfg, &flags), CHATD_OK);
    assert_int_equal(cfg.port, 2222);
    assert_string_equal(cfg.data_dir, "/env");
    config_free(&cfg);

    flags.listen = "[::1]:3333";
    flags.data = "/flag";
    assert_int_equal(config_load(&cfg, &flags), CHATD_OK);
    assert_string_equal(cfg.address, "::1");
    assert_int_equal(cfg.port, 3333);
    assert_string_equal(cfg.data_dir, "/flag");
    config_free(&cfg);
}

static void test_config_path_from_env(void **state)
{
    struct config_flags flags = {0};
    struct config cfg;

    write_file("{\"data\":\"/via-env-config\"}");
    setenv("CHATD_CONFIG", cfg_path, 1);
    assert_int_equal(config_load(&cfg, &flags), CHATD_OK);
    assert_string_equal(cfg.data_dir, "/via-env-config");
    assert_string_equal(cfg.config_path, cfg_path);
    config_free(&cfg);
}

static void expect_refused(const char *text)
{
    struct config_flags flags = {.config = cfg_path};
    struct config cfg;

    write_file(text);
    assert_int_not_equal(config_load(&cfg, &flags), CHATD_OK);
    config_free(&cfg);
}

static void test_bad_values_refused(void **state)
{
    expect_refused("{\"listen\":\"nowhere\"}");
    expect_refused("{\"listen\":\"127.0.0.1:99999\"}");
    expect_refused("{\"durability\":\"maybe\"}");
    expect_refused("{\"writable_map\":\"yes\"}");
    expect_refused("{\"writable_map\":1}");
    expect_refused("{\"log_level\":\"loud\"}");
    expect_refused("{\"http\":{\"max_body\":\"big\"}}");
    expect_refused("{\"http\":{\"max_body\":1}}");
    expect_refused("{\"http\":{\"nope\":1}}");
    expect_refused("{\"http\":{\"threads\":0}}");
    expect_refused("{\"http\":{\"threads\":65}}");
    expect_refused("{\"http\":{\"threads\":\"2\"}}");
    expect_refused("{\"modules\":\"chat\"}");
    expect_refused("{\"modules\":[\"chat\",5]}");
    expect_refused("{\"unknown_setting\":1}");
    expect_refused("[1,2,3]");
    expect_refused("{\"data\":\"a\",\"data\":\"b\"}"); /* duplicate key */
    expect_refused("{not json");
}

static void test_module_sections_pass_through(void **state)
{
    struct config_flags flags = {.config = cfg_path};
    struct config cfg;

    write_file("{\"chat\":{\"max_members\":5},\"modules\":[\"chat\"]}");
    assert_int_equal(config_load(&cfg, &flags), CHATD_OK);
    assert_true(cfg.modules_explicit);
    assert_non_null(config_section(&cfg, "chat"));
    config_free(&cfg);
}

static void test_parse_listen(void **state)
{
    char addr[64];
    uint16_t port;

    assert_int_equal(config_parse_listen("0.0.0.0:0", addr, sizeof(addr),
                                         &port),
                     CHATD_OK);
    assert_string_equal(addr, "0.0.0.0");
    assert_int_equal(port, 0);
    assert_int_equal(config_parse_listen(":80", addr, sizeof(addr), &port),
                     CHATD_EINVAL);
    assert_int_equal(config_parse_listen("[::1]", addr, sizeof(addr), &port),
                     CHATD_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_then_env_then_flags, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_path_from_env, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_values_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_module_sections_pass_through,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_listen, setup, teardown),
    };

    core_log_set_level(CORE_LOG_ERROR + 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
