/*
 * Named stores: put/get/del, cursors (seek and step both ways), clear,
 * digest, names and limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "evlog/evlog.h"
#include "testdir.h"

struct fx {
    char *dir;
    struct evlog *log;
    struct evlog_store *st;
};

static int open_log(struct fx *f, bool read_only)
{
    struct evlog_options opt = {.dir = f->dir, .map_size = 64u << 20,
                                .read_only = read_only};
    return evlog_open(&f->log, &opt);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    f->dir = testdir_make();
    if (!f->dir || open_log(f, false) != CHATD_OK ||
        evlog_store_open(f->log, "chat", "rooms", &f->st) != CHATD_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    evlog_close(f->log);
    testdir_remove(f->dir);
    free(f);
    return 0;
}

static void put_s(struct evlog_txn *txn, struct evlog_store *st,
                  const char *k, const char *v)
{
    assert_int_equal(evlog_put_kv(txn, st, k, strlen(k), v, strlen(v)),
                     CHATD_OK);
}

static void fill(struct fx *f, const char *const *keys, size_t n)
{
    struct evlog_txn *txn;

    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    for (size_t i = 0; i < n; i++)
        put_s(txn, f->st, keys[i], keys[i]);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
}

static void assert_val(struct chatd_val v, const char *s)
{
    assert_int_equal(v.len, strlen(s));
    assert_memory_equal(v.data, s, v.len);
}

static void test_put_get_del(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn;
    struct chatd_val v;

    assert_string_equal(evlog_store_name(f->st), "chat/rooms");
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    put_s(txn, f->st, "a", "1");
    put_s(txn, f->st, "b", "2");
    put_s(txn, f->st, "a", "3"); /* overwrite */
    assert_int_equal(evlog_put_kv(txn, f->st, "e", 1, NULL, 0), CHATD_OK);
    assert_int_equal(evlog_get_kv(txn, f->st, "a", 1, &v), CHATD_OK);
    assert_val(v, "3");
    assert_int_equal(evlog_del_kv(txn, f->st, "b", 1), CHATD_OK);
    assert_int_equal(evlog_del_kv(txn, f->st, "b", 1), CHATD_ENOTFOUND);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);

    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_get_kv(txn, f->st, "a", 1, &v), CHATD_OK);
    assert_val(v, "3");
    assert_int_equal(evlog_get_kv(txn, f->st, "e", 1, &v), CHATD_OK);
    assert_int_equal(v.len, 0);
    assert_int_equal(evlog_get_kv(txn, f->st, "b", 1, &v), CHATD_ENOTFOUND);
    assert_int_equal(evlog_put_kv(txn, f->st, "c", 1, "x", 1), CHATD_ESTATE);
    assert_int_equal(evlog_del_kv(txn, f->st, "a", 1), CHATD_ESTATE);
    evlog_txn_abort(txn);
}

static void test_put_new_and_txn_ids(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn, *child, *ro;
    struct chatd_val v;

    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_put_kv_new(txn, f->st, "a", 1, "1", 1, &v),
                     CHATD_OK);
    assert_int_equal(evlog_put_kv_new(txn, f->st, "a", 1, "2", 1, &v),
                     CHATD_EEXIST);
    assert_val(v, "1"); /* the stored value, unchanged */
    assert_int_equal(evlog_put_kv_new(txn, f->st, "a", 1, "2", 1, NULL),
                     CHATD_EEXIST);
    assert_int_equal(evlog_get_kv(txn, f->st, "a", 1, &v), CHATD_OK);
    assert_val(v, "1");
    /* a child carries its top-level txn's id; every top-level txn a new one */
    assert_int_equal(evlog_txn_child(txn, &child), CHATD_OK);
    uint64_t id = evlog_txn_id(txn);
    assert_true(id != 0);
    assert_true(evlog_txn_id(child) == id);
    assert_int_equal(evlog_txn_commit(child), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    assert_int_equal(evlog_txn_begin(f->log, false, &ro), CHATD_OK);
    assert_true(evlog_txn_id(ro) != id);
    assert_int_equal(evlog_put_kv_new(ro, f->st, "b", 1, "1", 1, NULL),
                     CHATD_ESTATE);
    evlog_txn_abort(ro);
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_true(evlog_txn_id(txn) != id);
    evlog_txn_abort(txn);
}

static void test_key_limits(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn;
    char key[EVLOG_KEY_MAX + 1];
    struct chatd_val v;

    memset(key, 'k', sizeof key);
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_put_kv(txn, f->st, key, 0, "x", 1), CHATD_EINVAL);
    assert_int_equal(evlog_put_kv(txn, f->st, key, sizeof key, "x", 1),
                     CHATD_EINVAL);
    assert_int_equal(evlog_put_kv(txn, f->st, key, EVLOG_KEY_MAX, "x", 1),
                     CHATD_OK);
    assert_int_equal(evlog_get_kv(txn, f->st, key, sizeof key, &v),
                     CHATD_EINVAL);
    assert_int_equal(evlog_get_kv(txn, f->st, key, EVLOG_KEY_MAX, &v),
                     CHATD_OK);
    evlog_txn_abort(txn);
}

static void test_store_names(void **state)
{
    struct fx *f = *state;
    struct evlog_store *st;

    assert_int_equal(evlog_store_open(f->log, "chat", "rooms", &st),
                     CHATD_OK);
    assert_ptr_equal(st, f->st); /* same name, same handle */
    assert_int_equal(evlog_store_open(f->log, "", "x", &st), CHATD_EINVAL);
    assert_int_equal(evlog_store_open(f->log, "a/b", "x", &st),
                     CHATD_EINVAL);
    assert_int_equal(evlog_store_open(f->log, "a", NULL, &st), CHATD_EINVAL);
    assert_int_equal(evlog_store_open(f->log, "chat", "members", &st),
                     CHATD_OK);
    assert_ptr_not_equal(st, f->st);
    assert_string_equal(evlog_store_name(st), "chat/members");
}

/* 128 database slots: "streams", "vmeta" and 126 stores. */
static void test_store_slots(void **state)
{
    struct fx *f = *state;
    struct evlog_store *st;
    char name[16];
    int i, rc = CHATD_OK;

    for (i = 0; rc == CHATD_OK && i < 200; i++) {
        snprintf(name, sizeof name, "s%d", i);
        rc = evlog_store_open(f->log, "many", name, &st);
    }
    assert_int_equal(rc, CHATD_EFULL);
    assert_int_equal(i - 1, 126 - 1); /* the fixture's own store is one */
}

static void test_stores_are_separate_and_persist(void **state)
{
    struct fx *f = *state;
    struct evlog_store *other;
    struct evlog_txn *txn;
    struct chatd_val v;

    assert_int_equal(evlog_store_open(f->log, "pay", "rooms", &other),
                     CHATD_OK);
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    put_s(txn, f->st, "k", "chat");
    put_s(txn, other, "k", "pay");
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    evlog_close(f->log);
    f->log = NULL;

    assert_int_equal(open_log(f, true), CHATD_OK);
    assert_int_equal(evlog_store_open(f->log, "pay", "nothere", &other),
                     CHATD_ENOTFOUND);
    assert_int_equal(evlog_store_open(f->log, "pay", "rooms", &other),
                     CHATD_OK);
    assert_int_equal(evlog_store_open(f->log, "chat", "rooms", &f->st),
                     CHATD_OK);
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_get_kv(txn, f->st, "k", 1, &v), CHATD_OK);
    assert_val(v, "chat");
    assert_int_equal(evlog_get_kv(txn, other, "k", 1, &v), CHATD_OK);
    assert_val(v, "pay");
    evlog_txn_abort(txn);
}

static const char *const keys5[] = {"b", "d", "d1", "f", "h"};

static void test_cursor_seek(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn;
    struct evlog_cursor *c;
    struct chatd_val k, v;

    fill(f, keys5, 5);
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_cursor_open(txn, f->st, &c), CHATD_OK);
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_FIRST, NULL, 0, &k, &v),
                     CHATD_OK);
    assert_val(k, "b");
    assert_val(v, "b");
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_LAST, NULL, 0, &k, NULL),
                     CHATD_OK);
    assert_val(k, "h");
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_GE, "d", 1, &k, NULL),
                     CHATD_OK);
    assert_val(k, "d");
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_GE, "d2", 2, &k, NULL),
                     CHATD_OK);
    assert_val(k, "f");
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_GE, "a", 1, &k, NULL),
                     CHATD_OK);
    assert_val(k, "b");
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_GE, "i", 1, &k, NULL),
                     CHATD_ENOTFOUND);
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_LE, "d", 1, &k, NULL),
                     CHATD_OK);
    assert_val(k, "d");
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_LE, "e", 1, &k, NULL),
                     CHATD_OK);
    assert_val(k, "d1");
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_LE, "zz", 2, &k, NULL),
                     CHATD_OK);
    assert_val(k, "h");
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_LE, "a", 1, &k, NULL),
                     CHATD_ENOTFOUND);
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_GE, NULL, 0, &k, NULL),
                     CHATD_EINVAL);
    assert_int_equal(evlog_cursor_seek(c, 99, "a", 1, &k, NULL),
                     CHATD_EINVAL);
    evlog_cursor_close(c);
    evlog_txn_abort(txn);
}

static void test_cursor_step(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn;
    struct evlog_cursor *c;
    struct chatd_val k;
    size_t i = 0;

    fill(f, keys5, 5);
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_cursor_open(txn, f->st, &c), CHATD_OK);
    for (int rc = evlog_cursor_seek(c, CHATD_SEEK_FIRST, NULL, 0, &k, NULL);
         rc == CHATD_OK; rc = evlog_cursor_step(c, 1, &k, NULL))
        assert_val(k, keys5[i++]);
    assert_int_equal(i, 5);
    for (int rc = evlog_cursor_seek(c, CHATD_SEEK_LAST, NULL, 0, &k, NULL);
         rc == CHATD_OK; rc = evlog_cursor_step(c, -1, &k, NULL))
        assert_val(k, keys5[--i]);
    assert_int_equal(i, 0);
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_GE, "d1", 2, &k, NULL),
                     CHATD_OK);
    assert_int_equal(evlog_cursor_step(c, -1, &k, NULL), CHATD_OK);
    assert_val(k, "d");
    assert_int_equal(evlog_cursor_step(c, 1, &k, NULL), CHATD_OK);
    assert_val(k, "d1");
    assert_int_equal(evlog_cursor_step(c, 0, &k, NULL), CHATD_EINVAL);
    /* A second cursor, never closed: the txn end closes it (ASan/LSan
     * would see a leak otherwise). */
    assert_int_equal(evlog_cursor_open(txn, f->st, &c), CHATD_OK);
    assert_int_equal(evlog_cursor_step(c, 1, &k, NULL), CHATD_OK);
    assert_val(k, "b");
    evlog_txn_abort(txn);
}

static void test_cursor_empty_store_and_write_txn(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn, *child;
    struct evlog_cursor *c, *c2;
    struct chatd_val k;

    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_cursor_open(txn, f->st, &c), CHATD_OK);
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_FIRST, NULL, 0, &k, NULL),
                     CHATD_ENOTFOUND);
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_LE, "x", 1, &k, NULL),
                     CHATD_ENOTFOUND);
    /* Cursors see the txn's own writes. */
    put_s(txn, f->st, "m", "1");
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_LE, "x", 1, &k, NULL),
                     CHATD_OK);
    assert_val(k, "m");
    /* The parent's cursor is unusable while a child lives. */
    assert_int_equal(evlog_txn_child(txn, &child), CHATD_OK);
    assert_int_equal(evlog_cursor_step(c, 1, &k, NULL), CHATD_ESTATE);
    assert_int_equal(evlog_cursor_open(child, f->st, &c2), CHATD_OK);
    assert_int_equal(evlog_cursor_seek(c2, CHATD_SEEK_FIRST, NULL, 0, &k,
                                       NULL), CHATD_OK);
    assert_int_equal(evlog_txn_commit(child), CHATD_OK);
    evlog_cursor_close(c);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
}

static void test_clear(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn;
    struct evlog_cursor *c;
    struct chatd_val k;
    struct evlog_store *other;

    assert_int_equal(evlog_store_open(f->log, "chat", "other", &other),
                     CHATD_OK);
    fill(f, keys5, 5);
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    put_s(txn, other, "keep", "me");
    assert_int_equal(evlog_store_clear(txn, f->st), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);

    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_store_clear(txn, f->st), CHATD_ESTATE);
    assert_int_equal(evlog_cursor_open(txn, f->st, &c), CHATD_OK);
    assert_int_equal(evlog_cursor_seek(c, CHATD_SEEK_FIRST, NULL, 0, &k, NULL),
                     CHATD_ENOTFOUND);
    assert_int_equal(evlog_get_kv(txn, other, "keep", 4, &k), CHATD_OK);
    evlog_txn_abort(txn);

    /* Usable again after the clear. */
    fill(f, keys5, 2);
}

static uint64_t digest(struct fx *f, struct evlog_store *st)
{
    struct evlog_txn *txn;
    uint64_t d;

    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_store_digest(txn, st, &d), CHATD_OK);
    evlog_txn_abort(txn);
    return d;
}

static void test_digest(void **state)
{
    struct fx *f = *state;
    struct evlog_store *a, *b;
    struct evlog_txn *txn;
    uint64_t empty;

    assert_int_equal(evlog_store_open(f->log, "d", "a", &a), CHATD_OK);
    assert_int_equal(evlog_store_open(f->log, "d", "b", &b), CHATD_OK);
    empty = digest(f, a);
    assert_int_equal(empty, digest(f, b));
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    put_s(txn, a, "x", "1"); /* same pairs, inserted in another order */
    put_s(txn, a, "y", "2");
    put_s(txn, b, "y", "2");
    put_s(txn, b, "x", "1");
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    assert_int_equal(digest(f, a), digest(f, b));
    assert_int_not_equal(digest(f, a), empty);

    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    put_s(txn, b, "y", "3"); /* a value differs */
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    assert_int_not_equal(digest(f, a), digest(f, b));

    /* The lengths are hashed: "xy"+"" differs from "x"+"y". */
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_store_clear(txn, a), CHATD_OK);
    assert_int_equal(evlog_store_clear(txn, b), CHATD_OK);
    put_s(txn, a, "xy", "");
    put_s(txn, b, "x", "y");
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    assert_int_not_equal(digest(f, a), digest(f, b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_new_and_txn_ids, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_key_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stores_are_separate_and_persist,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_seek, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_empty_store_and_write_txn,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
