/*
 * The log: open/reopen, append/get/scan, stream versions, child
 * transactions, corrupt records, batches, backup under load.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "evlog/internal.h"
#include "testdir.h"

struct fx {
    char *dir;
    struct evlog *log;
};

static int open_log(struct fx *f, bool read_only)
{
    struct evlog_options opt = {.dir = f->dir,
                                .map_size = 64u << 20,
                                .read_only = read_only};
    return evlog_open(&f->log, &opt);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    f->dir = testdir_make();
    if (!f->dir || open_log(f, false) != CHATD_OK)
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

static struct chatd_event mk(const char *type, const char *stream,
                             const char *data)
{
    return (struct chatd_event){.type = type,
                                .v = 1,
                                .stream = stream,
                                .correlation_id = "req-1",
                                .actor = "user:u1",
                                .data = data,
                                .data_len = strlen(data)};
}

/* Appends one event in its own write txn; returns the status. */
static int append1(struct evlog *log, const char *stream, uint64_t expect)
{
    struct evlog_txn *txn;
    struct chatd_event ev = mk("chat.message_posted", stream, "{}");
    int rc = evlog_txn_begin(log, true, &txn);

    if (rc != CHATD_OK)
        return rc;
    rc = evlog_append(txn, &ev, expect, NULL);
    if (rc != CHATD_OK) {
        evlog_txn_abort(txn);
        return rc;
    }
    return evlog_txn_commit(txn);
}

static void test_open_creates_layout(void **state)
{
    struct fx *f = *state;
    struct stat sb;
    char *db = testdir_join(f->dir, "db/data.mdb");
    struct evlog_txn *txn;
    uint64_t fmt;

    assert_int_equal(stat(f->dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(db, &sb), 0);
    free(db);
    assert_int_equal(strlen(evlog_epoch(f->log)), 16);
    assert_int_equal(strspn(evlog_epoch(f->log), "0123456789abcdef"), 16);
    assert_int_equal(evlog_last_seq(f->log), 0);
    assert_non_null(strstr(evlog_path(f->log), "/db"));
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_meta_get_u64(txn, "format", &fmt), CHATD_OK);
    assert_int_equal(fmt, 2);
    assert_int_equal(evlog_meta_get_u64(txn, "nope", &fmt), CHATD_ENOTFOUND);
    assert_int_equal(evlog_txn_last_seq(txn), 0);
    evlog_txn_abort(txn);
}

static void test_append_get_scan(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn;
    struct chatd_event ev = mk("chat.message_posted", "room:a", "{\"n\":1}");
    struct chatd_event out, got;

    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_append(txn, &ev, CHATD_ANY_VERSION, &out),
                     CHATD_OK);
    assert_int_equal(out.seq, 1);
    assert_int_equal(out.stream_ver, 1);
    assert_string_equal(out.type, "chat.message_posted");
    assert_string_equal(out.stream, "room:a");
    assert_string_equal(out.correlation_id, "req-1");
    assert_string_equal(out.actor, "user:u1");
    assert_string_equal(out.data, "{\"n\":1}");
    assert_true(out.time_ms > 1600000000000LL);
    ev.stream = "room:b";
    ev.time_ms = 42;
    assert_int_equal(evlog_append(txn, &ev, CHATD_NO_STREAM, &out),
                     CHATD_OK);
    assert_int_equal(out.seq, 2);
    assert_int_equal(out.time_ms, 42);
    ev.stream = "room:a";
    assert_int_equal(evlog_append(txn, &ev, 1, &out), CHATD_OK);
    assert_int_equal(out.seq, 3);
    assert_int_equal(out.stream_ver, 2);
    assert_int_equal(evlog_txn_last_seq(txn), 3);
    assert_int_equal(evlog_last_seq(f->log), 0); /* not committed yet */
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    assert_int_equal(evlog_last_seq(f->log), 3);

    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_get(txn, 2, &got), CHATD_OK);
    assert_int_equal(got.seq, 2);
    assert_string_equal(got.stream, "room:b");
    assert_int_equal(got.time_ms, 42);
    assert_int_equal(got.v, 1);
    assert_int_equal(got.data_len, 7);
    assert_int_equal(got.size, sizeof(struct chatd_event));
    assert_int_equal(evlog_get(txn, 4, &got), CHATD_ENOTFOUND);
    assert_int_equal(evlog_get(txn, 0, &got), CHATD_ENOTFOUND);
    assert_int_equal(evlog_txn_last_seq(txn), 3);
    evlog_txn_abort(txn);
}

struct collect {
    uint64_t seqs[16];
    size_t n;
    size_t stop_at;
};

static int collect_fn(void *arg, const struct chatd_event *ev)
{
    struct collect *c = arg;

    c->seqs[c->n++] = ev->seq;
    return c->stop_at && c->n == c->stop_at ? 77 : 0;
}

static void test_scan(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn;
    struct collect c = {0};

    for (int i = 0; i < 5; i++)
        assert_int_equal(append1(f->log, "room:s", CHATD_ANY_VERSION),
                         CHATD_OK);
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_scan(txn, 0, 0, collect_fn, &c), CHATD_OK);
    assert_int_equal(c.n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(c.seqs[i], i + 1);
    c = (struct collect){0};
    assert_int_equal(evlog_scan(txn, 2, 2, collect_fn, &c), CHATD_OK);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.seqs[0], 3);
    assert_int_equal(c.seqs[1], 4);
    c = (struct collect){.stop_at = 3};
    assert_int_equal(evlog_scan(txn, 0, 0, collect_fn, &c), 77);
    assert_int_equal(c.n, 3);
    c = (struct collect){0};
    assert_int_equal(evlog_scan(txn, 5, 0, collect_fn, &c), CHATD_OK);
    assert_int_equal(evlog_scan(txn, UINT64_MAX, 0, collect_fn, &c),
                     CHATD_OK);
    assert_int_equal(c.n, 0);
    evlog_txn_abort(txn);
}

static char *filled(size_t n)
{
    char *s = malloc(n + 1);

    memset(s, 'x', n);
    s[n] = '\0';
    return s;
}

static void test_append_limits(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn;
    char *t64 = filled(64), *t65 = filled(65), *s200 = filled(200),
         *s201 = filled(201), *c128 = filled(128), *c129 = filled(129);
    char *big = filled(EVLOG_DATA_MAX + 1);
    struct chatd_event ev = mk("a.b_c", "s", "{}"), out;

    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    struct chatd_event bad[] = {
        mk("", "s", "{}"), mk(t65, "s", "{}"), mk("a.b_c", "", "{}"),
        mk("a.b_c", s201, "{}"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(evlog_append(txn, &bad[i], CHATD_ANY_VERSION, NULL),
                         CHATD_EINVAL);
    ev.correlation_id = c129;
    assert_int_equal(evlog_append(txn, &ev, CHATD_ANY_VERSION, NULL),
                     CHATD_EINVAL);
    ev.correlation_id = NULL;
    ev.actor = c129;
    assert_int_equal(evlog_append(txn, &ev, CHATD_ANY_VERSION, NULL),
                     CHATD_EINVAL);
    ev.actor = NULL;
    ev.data = big;
    ev.data_len = EVLOG_DATA_MAX + 1;
    assert_int_equal(evlog_append(txn, &ev, CHATD_ANY_VERSION, NULL),
                     CHATD_EINVAL);
    ev.type = NULL;
    assert_int_equal(evlog_append(txn, &ev, CHATD_ANY_VERSION, NULL),
                     CHATD_EINVAL);

    /* Exactly at every limit is fine; NULL strings become "". */
    ev = (struct chatd_event){.type = t64, .stream = s200,
                              .correlation_id = c128, .actor = c128,
                              .data = big, .data_len = EVLOG_DATA_MAX};
    assert_int_equal(evlog_append(txn, &ev, CHATD_ANY_VERSION, &out),
                     CHATD_OK);
    assert_int_equal(out.data_len, EVLOG_DATA_MAX);
    assert_int_equal(strlen(out.type), 64);
    ev = (struct chatd_event){.type = "a.b_c", .stream = "s"};
    assert_int_equal(evlog_append(txn, &ev, CHATD_ANY_VERSION, &out),
                     CHATD_OK);
    assert_string_equal(out.correlation_id, "");
    assert_string_equal(out.actor, "");
    assert_string_equal(out.data, "");
    assert_int_equal(out.data_len, 0);
    assert_int_equal(out.seq, 2); /* the refused ones took no seq */
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    free(t64), free(t65), free(s200), free(s201), free(c128), free(c129);
    free(big);
}

static void test_expected_versions(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn;
    uint64_t ver;

    assert_int_equal(append1(f->log, "room:x", CHATD_NO_STREAM), CHATD_OK);
    assert_int_equal(append1(f->log, "room:x", CHATD_NO_STREAM),
                     CHATD_ECONFLICT);
    assert_int_equal(append1(f->log, "room:x", 1), CHATD_OK);
    assert_int_equal(append1(f->log, "room:x", 1), CHATD_ECONFLICT);
    assert_int_equal(append1(f->log, "room:x", 3), CHATD_ECONFLICT);
    assert_int_equal(append1(f->log, "room:x", 2), CHATD_OK);
    assert_int_equal(append1(f->log, "room:x", CHATD_ANY_VERSION), CHATD_OK);
    assert_int_equal(append1(f->log, "room:y", 5), CHATD_ECONFLICT);
    assert_int_equal(append1(f->log, "room:y", CHATD_ANY_VERSION), CHATD_OK);
    assert_int_equal(evlog_last_seq(f->log), 5);

    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_stream_version(txn, "room:x", &ver), CHATD_OK);
    assert_int_equal(ver, 4);
    assert_int_equal(evlog_stream_version(txn, "room:y", &ver), CHATD_OK);
    assert_int_equal(ver, 1);
    assert_int_equal(evlog_stream_version(txn, "room:z", &ver), CHATD_OK);
    assert_int_equal(ver, 0);
    assert_int_equal(evlog_stream_version(txn, "", &ver), CHATD_EINVAL);
    evlog_txn_abort(txn);
}

/* Many versions of a few streams in one batch, through children: each
 * stream's newest version is what the next transaction sees. */
static void test_stream_versions_of_a_batch(void **state)
{
    static const char *const streams[] = {"room:a", "room:b", "room:c"};
    struct fx *f = *state;
    struct evlog_txn *top, *child;
    uint64_t ver;

    assert_int_equal(append1(f->log, "room:b", CHATD_NO_STREAM), CHATD_OK);
    assert_int_equal(evlog_txn_begin(f->log, true, &top), CHATD_OK);
    for (int i = 0; i < 40; i++) {
        struct chatd_event ev = mk("chat.message_posted", streams[i % 3], "{}");
        assert_int_equal(evlog_txn_child(top, &child), CHATD_OK);
        assert_int_equal(evlog_append(child, &ev, CHATD_ANY_VERSION, NULL),
                         CHATD_OK);
        assert_int_equal(evlog_txn_commit(child), CHATD_OK);
    }
    assert_int_equal(evlog_txn_commit(top), CHATD_OK);
    assert_int_equal(evlog_txn_begin(f->log, false, &top), CHATD_OK);
    assert_int_equal(evlog_stream_version(top, "room:a", &ver), CHATD_OK);
    assert_int_equal(ver, 14); /* i = 0, 3, ..., 39 */
    assert_int_equal(evlog_stream_version(top, "room:b", &ver), CHATD_OK);
    assert_int_equal(ver, 1 + 13);
    assert_int_equal(evlog_stream_version(top, "room:c", &ver), CHATD_OK);
    assert_int_equal(ver, 13);
    evlog_txn_abort(top);
    /* and the next append expects exactly those */
    assert_int_equal(append1(f->log, "room:a", 13), CHATD_ECONFLICT);
    assert_int_equal(append1(f->log, "room:a", 14), CHATD_OK);
}

static void test_child_abort_rolls_back(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *top, *child, *grand;
    struct chatd_event ev = mk("chat.x_done", "room:c", "{}"), out;
    uint64_t ver;

    assert_int_equal(evlog_txn_begin(f->log, true, &top), CHATD_OK);
    assert_int_equal(evlog_txn_child(top, &child), CHATD_OK);
    assert_int_equal(evlog_append(child, &ev, CHATD_NO_STREAM, &out),
                     CHATD_OK);
    assert_int_equal(out.seq, 1);
    assert_int_equal(evlog_txn_commit(child), CHATD_OK);
    assert_int_equal(evlog_txn_last_seq(top), 1);

    /* Two appends in a child (one in a grandchild), then abort. */
    assert_int_equal(evlog_txn_child(top, &child), CHATD_OK);
    assert_int_equal(evlog_append(top, &ev, CHATD_ANY_VERSION, NULL),
                     CHATD_ESTATE); /* parent busy while the child lives */
    assert_int_equal(evlog_append(child, &ev, 1, &out), CHATD_OK);
    assert_int_equal(out.seq, 2);
    assert_int_equal(evlog_txn_child(child, &grand), CHATD_OK);
    assert_int_equal(evlog_append(grand, &ev, 2, &out), CHATD_OK);
    assert_int_equal(out.seq, 3);
    assert_int_equal(evlog_txn_commit(grand), CHATD_OK);
    assert_int_equal(evlog_txn_last_seq(child), 3);
    evlog_txn_abort(child);
    assert_int_equal(evlog_txn_last_seq(top), 1);

    /* The next child continues from the parent, not the aborted child. */
    assert_int_equal(evlog_txn_child(top, &child), CHATD_OK);
    assert_int_equal(evlog_append(child, &ev, 2, NULL), CHATD_ECONFLICT);
    assert_int_equal(evlog_append(child, &ev, 1, &out), CHATD_OK);
    assert_int_equal(out.seq, 2);
    assert_int_equal(out.stream_ver, 2);
    assert_int_equal(evlog_txn_commit(child), CHATD_OK);
    assert_int_equal(evlog_txn_commit(top), CHATD_OK);
    assert_int_equal(evlog_last_seq(f->log), 2);

    assert_int_equal(evlog_txn_begin(f->log, false, &top), CHATD_OK);
    assert_int_equal(evlog_get(top, 3, &out), CHATD_ENOTFOUND);
    assert_int_equal(evlog_stream_version(top, "room:c", &ver), CHATD_OK);
    assert_int_equal(ver, 2);
    evlog_txn_abort(top);
}

static void test_abort_top_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn, *child;
    struct chatd_event ev = mk("chat.x_done", "room:c", "{}");

    assert_int_equal(append1(f->log, "room:c", CHATD_ANY_VERSION), CHATD_OK);
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_append(txn, &ev, CHATD_ANY_VERSION, NULL),
                     CHATD_OK);
    evlog_txn_abort(txn);
    assert_int_equal(evlog_last_seq(f->log), 1);
    assert_int_equal(append1(f->log, "room:c", 1), CHATD_OK);
    assert_int_equal(evlog_last_seq(f->log), 2);

    /* Ending a parent with a live child is a caller bug, but safe. */
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_txn_child(txn, &child), CHATD_OK);
    assert_int_equal(evlog_append(child, &ev, CHATD_ANY_VERSION, NULL),
                     CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_ESTATE);
    assert_int_equal(evlog_txn_commit(child), CHATD_ESTATE);
    assert_int_equal(evlog_last_seq(f->log), 2);
}

static void test_read_txn_rules(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn, *child;
    struct chatd_event ev = mk("chat.x_done", "room:c", "{}");

    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_false(evlog_txn_writable(txn));
    assert_int_equal(evlog_append(txn, &ev, CHATD_ANY_VERSION, NULL),
                     CHATD_ESTATE);
    assert_int_equal(evlog_meta_put_u64(txn, "k", 1), CHATD_ESTATE);
    assert_int_equal(evlog_txn_child(txn, &child), CHATD_ESTATE);
    evlog_txn_abort(txn);
}

static void test_reopen_keeps_state(void **state)
{
    struct fx *f = *state;
    char epoch[17];
    struct evlog_txn *txn;
    struct chatd_event out;
    uint64_t v;

    for (int i = 0; i < 3; i++)
        assert_int_equal(append1(f->log, "room:r", CHATD_ANY_VERSION),
                         CHATD_OK);
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_meta_put_u64(txn, "ckpt:x", 7), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    strcpy(epoch, evlog_epoch(f->log));
    evlog_close(f->log);
    f->log = NULL;

    assert_int_equal(open_log(f, false), CHATD_OK);
    assert_string_equal(evlog_epoch(f->log), epoch);
    assert_int_equal(evlog_last_seq(f->log), 3);
    assert_int_equal(append1(f->log, "room:r", 3), CHATD_OK);
    assert_int_equal(evlog_last_seq(f->log), 4);
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_get(txn, 4, &out), CHATD_OK);
    assert_int_equal(out.stream_ver, 4);
    assert_int_equal(evlog_meta_get_u64(txn, "ckpt:x", &v), CHATD_OK);
    assert_int_equal(v, 7);
    evlog_txn_abort(txn);
    evlog_close(f->log);
    f->log = NULL;

    /* Read-only: same state, no writing. */
    assert_int_equal(open_log(f, true), CHATD_OK);
    assert_string_equal(evlog_epoch(f->log), epoch);
    assert_int_equal(evlog_last_seq(f->log), 4);
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_ESTATE);
}

static void test_open_errors(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    char *missing = testdir_join(f->dir, "nope");
    struct evlog *log = NULL;
    struct evlog_options opt = {.dir = missing, .read_only = true,
                                .err = err, .err_size = sizeof err};

    assert_int_equal(evlog_open(&log, &opt), CHATD_ENOTFOUND);
    assert_null(log);
    assert_non_null(strstr(err, missing));
    opt.dir = "";
    assert_int_equal(evlog_open(&log, &opt), CHATD_EINVAL);
    assert_int_equal(evlog_open(&log, NULL), CHATD_EINVAL);
    free(missing);
}

static void test_newer_format_refused(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn;
    char err[256] = "";
    struct evlog_options opt = {.dir = f->dir, .map_size = 64u << 20,
                                .err = err, .err_size = sizeof err};

    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_meta_put_u64(txn, "format", 3), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    evlog_close(f->log);
    f->log = NULL;
    assert_int_equal(evlog_open(&f->log, &opt), CHATD_EIO);
    assert_null(f->log);
    assert_non_null(strstr(err, "newer"));
}

/* A record damaged on disk must be refused, never read out of bounds. */
static void put_raw(struct evlog *log, uint64_t seq, const void *rec,
                    size_t len)
{
    struct evlog_txn *txn;
    unsigned char key[8];

    MDB_txn *lw;

    (void)txn;
    core_be64_put(key, seq);
    MDB_val k = {8, key}, v = {len, (void *)rec};
    assert_int_equal(mdb_txn_begin(log->env, NULL, 0, &lw), 0);
    assert_int_equal(mdb_put(lw, log->log_dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(lw), 0);
}

static void test_corrupt_record_in_db(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn;
    struct chatd_event out;
    struct collect c = {0};
    struct evlog_batch *b;
    const unsigned char junk[40] = {1, 5, 5, 0, 0, 0, 0, 0, 0, 0, 0, 1};

    assert_int_equal(append1(f->log, "room:k", CHATD_ANY_VERSION), CHATD_OK);
    put_raw(f->log, 2, junk, sizeof junk);
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_get(txn, 1, &out), CHATD_OK);
    assert_int_equal(evlog_get(txn, 2, &out), CHATD_EIO);
    assert_int_equal(evlog_scan(txn, 0, 0, collect_fn, &c), CHATD_EIO);
    assert_int_equal(c.n, 1);
    assert_int_equal(evlog_batch_new(&b), CHATD_OK);
    assert_int_equal(evlog_batch_fill(b, txn, 0, 0, 0, NULL), CHATD_EIO);
    assert_int_equal(evlog_batch_count(b), 0);
    evlog_batch_free(b);
    evlog_txn_abort(txn);
}

static void test_out_survives_later_writes(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn, *child;
    struct chatd_event first, out;
    struct chatd_event ev = mk("chat.a_b", "room:p", "{\"first\":true}");
    char stream[32];

    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_txn_child(txn, &child), CHATD_OK);
    assert_int_equal(evlog_append(child, &ev, CHATD_ANY_VERSION, &first),
                     CHATD_OK);
    assert_int_equal(evlog_txn_commit(child), CHATD_OK);
    ev.data = "{\"pad\":\"................................................\"}";
    ev.data_len = strlen(ev.data);
    for (int i = 0; i < 3000; i++) { /* many page splits */
        snprintf(stream, sizeof stream, "room:%d", i);
        ev.stream = stream;
        assert_int_equal(evlog_append(txn, &ev, CHATD_ANY_VERSION, &out),
                         CHATD_OK);
    }
    assert_string_equal(first.data, "{\"first\":true}");
    assert_string_equal(first.stream, "room:p");
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    assert_int_equal(evlog_last_seq(f->log), 3001);
}

static void test_batch(void **state)
{
    struct fx *f = *state;
    struct evlog_txn *txn;
    struct evlog_batch *b;
    struct chatd_event ev;
    const char *types[] = {"chat.a_x", "pay.b_x", "chat.c_x", "pay.d_x",
                           "chat.e_x"};

    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    for (size_t i = 0; i < 5; i++) {
        ev = mk(types[i], "s", "{\"some\":\"data\"}");
        assert_int_equal(evlog_append(txn, &ev, CHATD_ANY_VERSION, NULL),
                         CHATD_OK);
    }
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    assert_int_equal(evlog_batch_new(&b), CHATD_OK);
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);

    assert_int_equal(evlog_batch_fill(b, txn, 0, 0, 0, "chat."), CHATD_OK);
    assert_int_equal(evlog_batch_count(b), 3);
    assert_int_equal(evlog_batch_last_seq(b), 5);
    assert_int_equal(evlog_batch_event(b, 1, &ev), CHATD_OK);
    assert_int_equal(ev.seq, 3);
    assert_string_equal(ev.type, "chat.c_x");
    assert_int_equal(evlog_batch_event(b, 3, &ev), CHATD_EINVAL);

    /* Skipped events count as examined. */
    assert_int_equal(evlog_batch_fill(b, txn, 1, 2, 0, "chat."), CHATD_OK);
    assert_int_equal(evlog_batch_count(b), 1);
    assert_int_equal(evlog_batch_last_seq(b), 3);

    /* The byte bound stops early, but always takes one. */
    assert_int_equal(evlog_batch_fill(b, txn, 0, 0, 1, NULL), CHATD_OK);
    assert_int_equal(evlog_batch_count(b), 1);
    assert_int_equal(evlog_batch_last_seq(b), 1);
    assert_int_equal(evlog_batch_fill(b, txn, 5, 0, 0, NULL), CHATD_OK);
    assert_int_equal(evlog_batch_count(b), 0);
    assert_int_equal(evlog_batch_last_seq(b), 0);
    evlog_txn_abort(txn);

    /* The copies outlive the txn. */
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_batch_fill(b, txn, 0, 0, 0, NULL), CHATD_OK);
    evlog_txn_abort(txn);
    assert_int_equal(evlog_batch_event(b, 4, &ev), CHATD_OK);
    assert_string_equal(ev.type, "chat.e_x");
    assert_string_equal(ev.data, "{\"some\":\"data\"}");
    evlog_batch_free(b);
}

/* --- backup while another thread appends --- */

struct appender {
    struct evlog *log;
    struct evlog_store *st;
    atomic_bool stop;
    atomic_int failures;
    uint64_t n;
};

/* Each txn appends one event and counts it in the store, so any
 * consistent snapshot of the read models has count == applied seq. */
static int append_counted(struct appender *a)
{
    struct evlog_txn *txn;
    struct chatd_event ev = mk("chat.m_posted", "room:bk", "{\"x\":1}");
    unsigned char buf[8];
    int rc = evlog_txn_begin(a->log, true, &txn);

    if (rc != CHATD_OK)
        return rc;
    rc = evlog_append(txn, &ev, CHATD_ANY_VERSION, NULL);
    core_be64_put(buf, ++a->n);
    if (rc == CHATD_OK)
        rc = evlog_put_kv(txn, a->st, "count", 5, buf, 8);
    if (rc != CHATD_OK) {
        evlog_txn_abort(txn);
        return rc;
    }
    return evlog_txn_commit(txn);
}

static void *appender_main(void *arg)
{
    struct appender *a = arg;

    while (!atomic_load(&a->stop) && a->n < 20000)
        if (append_counted(a) != CHATD_OK)
            atomic_fetch_add(&a->failures, 1);
    return NULL;
}

static void check_backup(const char *dir, uint64_t max_seq)
{
    struct evlog *bk;
    struct evlog_store *st;
    struct evlog_txn *txn;
    struct chatd_val v;
    struct chatd_event ev;
    struct evlog_options opt = {.dir = dir, .map_size = 64u << 20};
    uint64_t last, applied;

    assert_int_equal(evlog_open(&bk, &opt), CHATD_OK);
    assert_false(evlog_views_were_reset(bk)); /* the server's mark is gone */
    last = evlog_last_seq(bk);
    assert_true(last >= 1 && last <= max_seq);
    assert_int_equal(evlog_store_open(bk, "test", "counts", &st), CHATD_OK);
    assert_int_equal(evlog_txn_begin(bk, false, &txn), CHATD_OK);
    /* The read models were copied first: a prefix of the copied log. */
    assert_int_equal(evlog_views_applied(txn, &applied), CHATD_OK);
    assert_true(applied >= 50 && applied <= last);
    assert_int_equal(evlog_get_kv(txn, st, "count", 5, &v), CHATD_OK);
    assert_int_equal(core_be64_get(v.data), applied);
    for (uint64_t s = 1; s <= last; s++)
        assert_int_equal(evlog_get(txn, s, &ev), CHATD_OK);
    assert_int_equal(evlog_get(txn, last + 1, &ev), CHATD_ENOTFOUND);
    evlog_txn_abort(txn);
    evlog_close(bk);
}

static void test_backup_under_load(void **state)
{
    struct fx *f = *state;
    struct appender a = {.log = f->log};
    pthread_t th;
    char *dest = testdir_make();
    char *dest2 = testdir_join(dest, "copy");

    assert_int_equal(evlog_store_open(f->log, "test", "counts", &a.st),
                     CHATD_OK);
    for (int i = 0; i < 50; i++)
        assert_int_equal(append_counted(&a), CHATD_OK);
    assert_int_equal(pthread_create(&th, NULL, appender_main, &a), 0);
    while (evlog_last_seq(f->log) < 200)
        usleep(1000);
    assert_int_equal(evlog_backup(f->log, dest), CHATD_OK);  /* empty dir */
    assert_int_equal(evlog_backup(f->log, dest2), CHATD_OK); /* new dir */
    assert_int_equal(evlog_backup(f->log, dest), CHATD_EEXIST);
    atomic_store(&a.stop, true);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&a.failures), 0);
    check_backup(dest2, evlog_last_seq(f->log));
    check_backup(dest, evlog_last_seq(f->log));
    free(dest2);
    testdir_remove(dest);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_layout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_append_get_scan, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expected_versions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stream_versions_of_a_batch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_child_abort_rolls_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_abort_top_changes_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_txn_rules, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_state, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_format_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_record_in_db, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_out_survives_later_writes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_under_load, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
