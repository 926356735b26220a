/* Unit tests of modules/chat/typing.c: the typing rate limit. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "chatd/module.h"
#include "typing.h"

static int setup(void **state)
{
    struct chat_typing *t = malloc(sizeof(*t));

    if (t == NULL || chat_typing_init(t) != CHATD_OK)
        return -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    chat_typing_fini(*state);
    free(*state);
    return 0;
}

static void test_interval(void **state)
{
    struct chat_typing *t = *state;
    int64_t retry = -1;

    assert_true(chat_typing_allow(t, "u_a", "r_1", 10000, 1000, &retry));
    assert_false(chat_typing_allow(t, "u_a", "r_1", 10001, 1000, &retry));
    assert_int_equal(retry, 999);
    assert_false(chat_typing_allow(t, "u_a", "r_1", 10999, 1000, &retry));
    assert_int_equal(retry, 1);
    assert_true(chat_typing_allow(t, "u_a", "r_1", 11000, 1000, &retry));
    /* a refused attempt does not extend the window */
    assert_false(chat_typing_allow(t, "u_a", "r_1", 11500, 1000, NULL));
    assert_true(chat_typing_allow(t, "u_a", "r_1", 12000, 1000, NULL));
}

static void test_independent_keys(void **state)
{
    struct chat_typing *t = *state;

    assert_true(chat_typing_allow(t, "u_a", "r_1", 0, 1000, NULL));
    assert_true(chat_typing_allow(t, "u_b", "r_1", 0, 1000, NULL));
    assert_true(chat_typing_allow(t, "u_a", "r_2", 0, 1000, NULL));
    /* ("ab", "c") and ("a", "bc") are different pairs */
    assert_true(chat_typing_allow(t, "ab", "c", 0, 1000, NULL));
    assert_true(chat_typing_allow(t, "a", "bc", 0, 1000, NULL));
    assert_false(chat_typing_allow(t, "ab", "c", 1, 1000, NULL));
    assert_int_equal(chat_typing_count(t), 5);
}

static void test_zero_interval(void **state)
{
    struct chat_typing *t = *state;

    assert_true(chat_typing_allow(t, "u_a", "r_1", 5, 0, NULL));
    assert_true(chat_typing_allow(t, "u_a", "r_1", 5, 0, NULL));
}

static void test_sweep_bounds_memory(void **state)
{
    struct chat_typing *t = *state;
    char user[32];
    int i;

    for (i = 0; i < CHAT_TYPING_SWEEP_AT; i++) {
        snprintf(user, sizeof(user), "u_%d", i);
        assert_true(chat_typing_allow(t, user, "r_1", 0, 1000, NULL));
    }
    assert_int_equal(chat_typing_count(t), CHAT_TYPING_SWEEP_AT);
    /* much later every entry has expired: the next insert sweeps them */
    assert_true(chat_typing_allow(t, "u_new", "r_1", 5000, 1000, NULL));
    assert_int_equal(chat_typing_count(t), 1);
    /* entries still inside their interval survive a sweep */
    for (i = 0; i < CHAT_TYPING_SWEEP_AT; i++) {
        snprintf(user, sizeof(user), "v_%d", i);
        chat_typing_allow(t, user, "r_1", 5500, 1000, NULL);
    }
    assert_true(chat_typing_allow(t, "u_late", "r_1", 5600, 1000, NULL));
    assert_int_equal(chat_typing_count(t), CHAT_TYPING_SWEEP_AT + 2);
    assert_false(chat_typing_allow(t, "v_7", "r_1", 5600, 1000, NULL));
}

struct race {
    struct chat_typing *t;
    int allowed;
};

static void *racer(void *arg)
{
    struct race *r = arg;

    r->allowed = chat_typing_allow(r->t, "u_a", "r_1", 100, 1000, NULL);
    return NULL;
}

static void test_threads(void **state)
{
    struct race races[8];
    pthread_t th[8];
    int i, allowed = 0;

    for (i = 0; i < 8; i++) {
        races[i].t = *state;
        assert_int_equal(pthread_create(&th[i], NULL, racer, &races[i]), 0);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        allowed += races[i].allowed;
    }
    assert_int_equal(allowed, 1); /* exactly one of the concurrent calls */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_independent_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_bounds_memory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
