#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chatd/module.h"
#include "metrics/metrics.h"

static int setup(void **state)
{
    struct metrics *m;

    if (metrics_open(&m) != CHATD_OK)
        return -1;
    *state = m;
    return 0;
}

static int teardown(void **state)
{
    metrics_close(*state);
    return 0;
}

/* Renders and compares the whole text. */
static void assert_render(struct metrics *m, const char *want)
{
    char *text;
    size_t len;

    assert_int_equal(metrics_render(m, &text, &len), CHATD_OK);
    assert_string_equal(text, want);
    assert_int_equal(len, strlen(want));
    free(text);
}

static void test_empty_registry_renders_nothing(void **state)
{
    assert_render(*state, "");
}

static void test_counter_format(void **state)
{
    struct metrics *m = *state;
    struct metrics_value *a, *b;

    a = metrics_counter(m, "chatd_x_total", "Things done.",
                        "route=\"/v1/rooms\", status=\"201\"");
    b = metrics_counter(m, "chatd_x_total", "ignored",
                        "route=\"/v1/rooms\",status=\"201\"");
    assert_non_null(a);
    assert_ptr_equal(a, b); /* same series despite the space */
    metrics_add(a, 3);
    metrics_add(a, -5); /* counters never go down */
    assert_int_equal(metrics_get(a), 3);
    metrics_add(metrics_counter(m, "chatd_x_total", NULL, NULL), 1);
    assert_render(m, "# HELP chatd_x_total Things done.\n"
                     "# TYPE chatd_x_total counter\n"
                     "chatd_x_total{route=\"/v1/rooms\",status=\"201\"} 3\n"
                     "chatd_x_total 1\n");
}

static void test_gauge_format(void **state)
{
    struct metrics *m = *state;
    struct metrics_value *g =
        metrics_gauge(m, "chatd_conns", "Open.\nNow \\", NULL);

    assert_non_null(g);
    metrics_add(g, 5);
    metrics_add(g, -7);
    assert_int_equal(metrics_get(g), -2);
    metrics_set(g, 42);
    assert_render(m, "# HELP chatd_conns Open.\\nNow \\\\\n"
                     "# TYPE chatd_conns gauge\n"
                     "chatd_conns 42\n");
}

static void test_histogram_format(void **state)
{
    static const double bounds[] = {0.0005, 0.25, 1, 2.5};
    struct metrics *m = *state;
    struct metrics_hist *h;

    h = metrics_histogram(m, "chatd_d_seconds", "Durations.", "route=\"/a\"",
                          bounds, 4);
    assert_non_null(h);
    metrics_observe(h, 0.0001);
    metrics_observe(h, 0.25); /* le is inclusive */
    metrics_observe(h, 2);
    metrics_observe(h, 10);
    assert_render(m, "# HELP chatd_d_seconds Durations.\n"
                     "# TYPE chatd_d_seconds histogram\n"
                     "chatd_d_seconds_bucket{route=\"/a\",le=\"0.0005\"} 1\n"
                     "chatd_d_seconds_bucket{route=\"/a\",le=\"0.25\"} 2\n"
                     "chatd_d_seconds_bucket{route=\"/a\",le=\"1\"} 2\n"
                     "chatd_d_seconds_bucket{route=\"/a\",le=\"2.5\"} 3\n"
                     "chatd_d_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4\n"
                     "chatd_d_seconds_sum{route=\"/a\"} 12.2501\n"
                     "chatd_d_seconds_count{route=\"/a\"} 4\n");
}

static void test_histogram_without_labels(void **state)
{
    static const double bounds[] = {1};
    struct metrics *m = *state;
    struct metrics_hist *h = metrics_histogram(m, "h", "", NULL, bounds, 1);

    metrics_observe(h, 0.5);
    assert_render(m, "# HELP h \n"
                     "# TYPE h histogram\n"
                     "h_bucket{le=\"1\"} 1\n"
                     "h_bucket{le=\"+Inf\"} 1\n"
                     "h_sum 0.5\n"
                     "h_count 1\n");
}

static void test_histogram_refusals(void **state)
{
    static const double ok[] = {1, 2}, other[] = {1, 3}, desc[] = {2, 1};
    struct metrics *m = *state;

    assert_null(metrics_histogram(m, "h", "", NULL, desc, 2));
    assert_null(metrics_histogram(m, "h", "", "le=\"1\"", ok, 2));
    assert_non_null(metrics_histogram(m, "h", "", NULL, ok, 2));
    assert_null(metrics_histogram(m, "h", "", "a=\"b\"", other, 2));
    assert_null(metrics_counter(m, "h", "", NULL)); /* type clash */
}

static void test_label_escaping(void **state)
{
    struct metrics *m = *state;
    char esc[64], labels[96];
    size_t n;

    n = metrics_escape_label(esc, sizeof(esc), "a\"b\\c\nd");
    assert_string_equal(esc, "a\\\"b\\\\c\\nd");
    assert_int_equal(n, strlen(esc));
    assert_int_equal(metrics_escape_label(esc, 4, "abcdef"), 6);
    assert_string_equal(esc, "abc");
    metrics_escape_label(esc, sizeof(esc), "q\"\\\n");
    snprintf(labels, sizeof(labels), "v=\"%s\"", esc);
    metrics_add(metrics_counter(m, "e_total", "", labels), 1);
    assert_render(m, "# HELP e_total \n"
                     "# TYPE e_total counter\n"
                     "e_total{v=\"q\\\"\\\\\\n\"} 1\n");
}

static void test_bad_names_and_labels(void **state)
{
    struct metrics *m = *state;

    assert_null(metrics_counter(m, "", "", NULL));
    assert_null(metrics_counter(m, "1abc", "", NULL));
    assert_null(metrics_counter(m, "a-b", "", NULL));
    assert_null(metrics_counter(m, "a", "", "x=1"));
    assert_null(metrics_counter(m, "a", "", "x=\"1"));
    assert_null(metrics_counter(m, "a", "", "x=\"\\t\""));
    assert_null(metrics_counter(m, "a", "", "x=\"a\nb\""));
    assert_null(metrics_counter(m, "a", "", "x=\"1\",x=\"2\""));
    assert_null(metrics_counter(m, "a", "", "9x=\"1\""));
    assert_null(metrics_counter(m, "a", "", "x=\"1\" y=\"2\""));
    assert_non_null(metrics_counter(m, "a:b_c", "", " x = \"1\" , "));
    assert_render(m, "# HELP a:b_c \n"
                     "# TYPE a:b_c counter\n"
                     "a:b_c{x=\"1\"} 0\n");
    /* NULL handles are no-ops. */
    metrics_add(NULL, 1);
    metrics_set(NULL, 1);
    metrics_observe(NULL, 1);
    assert_int_equal(metrics_get(NULL), 0);
}

static void collect(void *ctx, struct metrics_out *out)
{
    metrics_out_printf(out, "# TYPE ext_total counter\next_total %d\n",
                       *(int *)ctx);
}

static void test_collector_output(void **state)
{
    struct metrics *m = *state;
    int value = 7;

    metrics_set(metrics_gauge(m, "g", "G.", NULL), 1);
    assert_int_equal(metrics_collector(m, collect, &value), CHATD_OK);
    assert_render(m, "# HELP g G.\n# TYPE g gauge\ng 1\n"
                     "# TYPE ext_total counter\next_total 7\n");
    value = 8;
    assert_render(m, "# HELP g G.\n# TYPE g gauge\ng 1\n"
                     "# TYPE ext_total counter\next_total 8\n");
}

static void test_order_is_registration_order(void **state)
{
    struct metrics *m = *state;

    metrics_counter(m, "b_total", "B.", "k=\"1\"");
    metrics_counter(m, "a_total", "A.", NULL);
    metrics_counter(m, "b_total", "B.", "k=\"2\"");
    assert_render(m, "# HELP b_total B.\n# TYPE b_total counter\n"
                     "b_total{k=\"1\"} 0\nb_total{k=\"2\"} 0\n"
                     "# HELP a_total A.\n# TYPE a_total counter\n"
                     "a_total 0\n");
}

static void test_many_series_survive_growth(void **state)
{
    struct metrics *m = *state;
    struct metrics_value *v[300];
    char labels[32];
    int i;

    for (i = 0; i < 300; i++) {
        snprintf(labels, sizeof(labels), "i=\"%d\"", i);
        v[i] = metrics_counter(m, "many_total", "", labels);
        assert_non_null(v[i]);
        metrics_add(v[i], i);
    }
    for (i = 0; i < 300; i++) {
        snprintf(labels, sizeof(labels), "i=\"%d\"", i);
        assert_ptr_equal(metrics_counter(m, "many_total", "", labels), v[i]);
        assert_int_equal(metrics_get(v[i]), i);
    }
}

struct hammer {
    struct metrics_value *c;
    struct metrics_hist *h;
};

static void *hammer_run(void *arg)
{
    struct hammer *hm = arg;
    int i;

    for (i = 0; i < 100000; i++) {
        metrics_add(hm->c, 1);
        metrics_observe(hm->h, 0.5);
    }
    return NULL;
}

static void test_concurrent_updates_are_exact(void **state)
{
    static const double bounds[] = {1};
    struct metrics *m = *state;
    struct hammer hm;
    pthread_t t[4];
    char *text;
    size_t len;
    int i;

    hm.c = metrics_counter(m, "c_total", "", NULL);
    hm.h = metrics_histogram(m, "h_seconds", "", NULL, bounds, 1);
    for (i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer_run, &hm), 0);
    for (i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(metrics_get(hm.c), 400000);
    assert_int_equal(metrics_render(m, &text, &len), CHATD_OK);
    assert_non_null(strstr(text, "h_seconds_count 400000\n"));
    assert_non_null(strstr(text, "h_seconds_sum 200000\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_registry_renders_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_counter_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gauge_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_histogram_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_histogram_without_labels, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_histogram_refusals, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_label_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names_and_labels, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_collector_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_is_registration_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_series_survive_growth, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_updates_are_exact,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
