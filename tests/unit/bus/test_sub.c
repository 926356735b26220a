/*
 * Async subscribers over a real log and commit writer: order, checkpoints,
 * catch-up after restart, prefix filter, retry with backoff, stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "../evlog/testdir.h"
#include "bus/sub.h"
#include "core/core.h"

#define MAX_SEEN 4096

struct fx {
    char *dir;
    struct evlog *log;
    struct commit *c;
    _Atomic(struct sub_runner *) runner; /* notified after each commit */
};

static void after_commit(void *ctx, uint64_t first, uint64_t last)
{
    struct fx *f = ctx;
    struct sub_runner *r = atomic_load(&f->runner);

    if (r)
        sub_runner_notify(r, last);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct evlog_options opt = {.map_size = 64u << 20};
    struct commit_hooks hooks = {.after_commit = after_commit, .ctx = f};

    f->dir = testdir_make();
    opt.dir = f->dir;
    if (!f->dir || evlog_open(&f->log, &opt) != CHATD_OK ||
        commit_open(&f->c, f->log, NULL, &hooks) != CHATD_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    commit_close(f->c);
    evlog_close(f->log);
    testdir_remove(f->dir);
    free(f);
    return 0;
}

/* --- appending through the writer --- */

struct append_job {
    const char *const *types; /* cycled */
    size_t ntypes, count;
};

static int append_run(void *arg, struct evlog_txn *txn)
{
    struct append_job *a = arg;

    for (size_t i = 0; i < a->count; i++) {
        struct chatd_event ev = {.type = a->types[i % a->ntypes],
                                 .stream = "room:s",
                                 .data = "{}",
                                 .data_len = 2};
        int rc = evlog_append(txn, &ev, CHATD_ANY_VERSION, NULL);
        if (rc != CHATD_OK)
            return rc;
    }
    return CHATD_OK;
}

static void append_n(struct fx *f, const char *const *types, size_t ntypes,
                     size_t count)
{
    struct append_job a = {types, ntypes, count};
    struct commit_job job = {.run = append_run, .arg = &a};

    assert_int_equal(commit_run(f->c, &job), CHATD_OK);
}

static const char *const plain[] = {"chat.message_posted"};

/* --- a recording handler --- */

struct rec {
    pthread_mutex_t mu;
    uint64_t seen[MAX_SEEN];
    char types[MAX_SEEN][32];
    size_t n;
    uint64_t fail_seq;   /* fail on this seq ... */
    int fail_times;      /* ... this many times (-1: always) */
    int failures;
    struct evlog *log;   /* if set, the handler reads the log itself */
    atomic_int bad;
    /* the flush hook (start_hooked) */
    bool flush_fails;
    int flushes;
    uint64_t flushed_seq; /* the last seq handled when flush last ran */
};

static int rec_handle(void *ctx, const struct chatd_event *ev)
{
    struct rec *r = ctx;
    int rc = CHATD_OK;

    if (r->log) { /* the runner holds no txn, so this must work */
        struct evlog_txn *txn;
        struct chatd_event again;
        if (evlog_txn_begin(r->log, false, &txn) != CHATD_OK)
            atomic_fetch_add(&r->bad, 1);
        else {
            if (evlog_get(txn, ev->seq, &again) != CHATD_OK ||
                strcmp(again.type, ev->type) != 0)
                atomic_fetch_add(&r->bad, 1);
            evlog_txn_abort(txn);
        }
    }
    pthread_mutex_lock(&r->mu);
    if (ev->seq == r->fail_seq &&
        (r->fail_times < 0 || r->failures < r->fail_times)) {
        r->failures++;
        rc = CHATD_EAGAIN;
    }
    if (r->n < MAX_SEEN) {
        r->seen[r->n] = ev->seq;
        snprintf(r->types[r->n], sizeof r->types[0], "%s", ev->type);
        r->n++;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* Records what the handler had seen when the host asked for a flush. */
static int rec_flush(void *ctx)
{
    struct rec *r = ctx;
    int rc;

    pthread_mutex_lock(&r->mu);
    r->flushes++;
    rc = r->flush_fails ? CHATD_EIO : CHATD_OK;
    if (rc == CHATD_OK && r->n > 0)
        r->flushed_seq = r->seen[r->n - 1];
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static struct rec *rec_new(void)
{
    struct rec *r = calloc(1, sizeof *r);

    pthread_mutex_init(&r->mu, NULL);
    return r;
}

static void rec_free(struct rec *r)
{
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static struct sub_runner *start(struct fx *f, const char *name,
                                const char *prefix, struct rec *r)
{
    struct sub_spec spec = {.name = name, .prefix = prefix,
                            .handle = rec_handle, .ctx = r};
    struct sub_runner *run = NULL;

    assert_int_equal(sub_runner_start(&run, f->log, f->c, &spec), CHATD_OK);
    atomic_store(&f->runner, run);
    return run;
}

static struct sub_runner *start_hooked_every(struct fx *f, const char *name,
                                             struct rec *r, unsigned every_ms)
{
    struct sub_spec spec = {.name = name, .handle = rec_handle,
                            .flush = rec_flush, .ctx = r,
                            .persist_every_ms = every_ms};
    struct sub_runner *run = NULL;

    assert_int_equal(sub_runner_start(&run, f->log, f->c, &spec), CHATD_OK);
    atomic_store(&f->runner, run);
    return run;
}

static struct sub_runner *start_hooked(struct fx *f, const char *name,
                                       struct rec *r)
{
    return start_hooked_every(f, name, r, 0);
}

static void stop(struct fx *f, struct sub_runner *run)
{
    atomic_store(&f->runner, NULL);
    sub_runner_stop(run);
}

/* Polls up to 10 s; false on timeout. */
static bool wait_pos(struct sub_runner *run, uint64_t want, bool persisted)
{
    for (int i = 0; i < 10000; i++) {
        uint64_t p = persisted ? sub_runner_persisted(run)
                               : sub_runner_position(run);
        if (p >= want)
            return true;
        usleep(1000);
    }
    return false;
}

static uint64_t stored_ckpt(struct fx *f, const char *name)
{
    struct evlog_txn *txn;
    char key[128];
    uint64_t v = 0;

    snprintf(key, sizeof key, "ckpt:%s", name);
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    if (evlog_meta_get_u64(txn, key, &v) != CHATD_OK)
        v = 0;
    evlog_txn_abort(txn);
    return v;
}

static void test_every_event_in_order(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new();
    struct sub_runner *run;

    append_n(f, plain, 1, 10); /* before start: caught up at once */
    r->log = f->log;
    run = start(f, "t.order", NULL, r);
    assert_string_equal(sub_runner_name(run), "t.order");
    for (int i = 0; i < 30; i++)
        append_n(f, plain, 1, 3);
    assert_true(wait_pos(run, 100, false));
    stop(f, run);
    assert_int_equal(r->n, 100);
    for (size_t i = 0; i < r->n; i++)
        assert_int_equal(r->seen[i], i + 1);
    assert_int_equal(atomic_load(&r->bad), 0);
    rec_free(r);
}

static void test_checkpoint_and_catch_up(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new();
    struct sub_runner *run = start(f, "t.ckpt", NULL, r);

    append_n(f, plain, 1, 50);
    assert_true(wait_pos(run, 50, false));
    /* Persisted while running, not only at stop (at most ~50 ms late). */
    assert_true(wait_pos(run, 50, true));
    assert_int_equal(stored_ckpt(f, "t.ckpt"), 50);
    append_n(f, plain, 1, 5);
    assert_true(wait_pos(run, 55, false));
    stop(f, run); /* persists 55 synchronously */
    assert_int_equal(stored_ckpt(f, "t.ckpt"), 55);
    assert_int_equal(r->n, 55);

    /* Events appended while it is down are caught up after a restart,
     * starting right after the checkpoint. */
    append_n(f, plain, 1, 30);
    rec_free(r);
    r = rec_new();
    run = start(f, "t.ckpt", NULL, r);
    assert_int_equal(sub_runner_persisted(run), 55);
    assert_true(wait_pos(run, 85, false));
    stop(f, run);
    assert_int_equal(r->n, 30);
    assert_int_equal(r->seen[0], 56);
    assert_int_equal(r->seen[29], 85);
    assert_int_equal(stored_ckpt(f, "t.ckpt"), 85);
    rec_free(r);
}

static void test_checkpoint_survives_reopen(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new();
    struct sub_runner *run = start(f, "t.reopen", NULL, r);
    struct evlog_options opt = {.dir = f->dir, .map_size = 64u << 20};
    struct commit_hooks hooks = {.after_commit = after_commit, .ctx = f};

    append_n(f, plain, 1, 20);
    assert_true(wait_pos(run, 20, false));
    stop(f, run);
    commit_close(f->c);
    evlog_close(f->log);
    assert_int_equal(evlog_open(&f->log, &opt), CHATD_OK);
    assert_int_equal(commit_open(&f->c, f->log, NULL, &hooks), CHATD_OK);
    append_n(f, plain, 1, 2);
    rec_free(r);
    r = rec_new();
    run = start(f, "t.reopen", NULL, r);
    assert_true(wait_pos(run, 22, false));
    stop(f, run);
    assert_int_equal(r->n, 2);
    assert_int_equal(r->seen[0], 21);
    rec_free(r);
}

static void test_prefix_filter(void **state)
{
    struct fx *f = *state;
    static const char *const mixed[] = {"chat.message_posted",
                                        "pay.payment_made", "chat.x_y",
                                        "payment.other_thing"};
    struct rec *r = rec_new();
    struct sub_runner *run = start(f, "t.prefix", "pay.", r);

    append_n(f, mixed, 4, 40);
    assert_true(wait_pos(run, 40, false)); /* skipped events count */
    stop(f, run);
    assert_int_equal(r->n, 10);
    for (size_t i = 0; i < r->n; i++) {
        assert_int_equal(r->seen[i], 2 + 4 * i);
        assert_string_equal(r->types[i], "pay.payment_made");
    }
    assert_int_equal(stored_ckpt(f, "t.prefix"), 40);
    rec_free(r);
}

static void test_retry_on_error(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new();
    struct sub_runner *run;
    uint64_t t0;

    r->fail_seq = 3;
    r->fail_times = 2;
    t0 = core_mono_ns();
    run = start(f, "t.retry", NULL, r);
    append_n(f, plain, 1, 5);
    assert_true(wait_pos(run, 5, false));
    /* Two failures: waits of 100 and 200 ms before the third try. */
    assert_true(core_mono_ns() - t0 >= 300u * 1000 * 1000);
    stop(f, run);
    assert_int_equal(r->n, 7);
    const uint64_t want[] = {1, 2, 3, 3, 3, 4, 5};
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(r->seen[i], want[i]);
    rec_free(r);
}

static void test_stop_during_backoff(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new();
    struct sub_runner *run;
    uint64_t t0;

    r->fail_seq = 2;
    r->fail_times = -1;
    run = start(f, "t.stuck", NULL, r);
    append_n(f, plain, 1, 4);
    assert_true(wait_pos(run, 1, false));
    usleep(350 * 1000); /* a few failed tries */
    t0 = core_mono_ns();
    stop(f, run);
    assert_true(core_mono_ns() - t0 < 2000u * 1000 * 1000);
    assert_int_equal(stored_ckpt(f, "t.stuck"), 1); /* not past the failure */
    assert_true(r->failures >= 2);

    /* After a restart it retries the same event. */
    r->fail_times = 0;
    r->n = 0;
    run = start(f, "t.stuck", NULL, r);
    assert_true(wait_pos(run, 4, false));
    stop(f, run);
    assert_int_equal(r->seen[0], 2);
    rec_free(r);
}

/* A checkpoint is persisted only after flush covered it: every stored
 * checkpoint is at most what the handler had seen at the last flush. */
static void test_flush_before_every_checkpoint(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new();
    struct sub_runner *run = start_hooked(f, "t.flush", r);
    uint64_t ck;

    for (int i = 0; i < 20; i++) {
        append_n(f, plain, 1, 5);
        usleep(15 * 1000);
        ck = stored_ckpt(f, "t.flush");
        pthread_mutex_lock(&r->mu);
        assert_true(ck <= r->flushed_seq);
        pthread_mutex_unlock(&r->mu);
    }
    assert_true(wait_pos(run, 100, true));
    assert_true(r->flushes >= 1);
    append_n(f, plain, 1, 3);
    assert_true(wait_pos(run, 103, false));
    int before = r->flushes;
    stop(f, run); /* flushes once more, then persists 103 */
    assert_true(r->flushes > before);
    assert_int_equal(r->flushed_seq, 103);
    assert_int_equal(stored_ckpt(f, "t.flush"), 103);
    rec_free(r);
}

/* A failing flush keeps the previous checkpoint, also at stop, so the
 * events come again after a restart; the next successful flush moves
 * it. */
static void test_flush_failure_keeps_checkpoint(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new();
    struct sub_runner *run = start_hooked(f, "t.noflush", r);

    append_n(f, plain, 1, 10);
    assert_true(wait_pos(run, 10, true));
    assert_int_equal(stored_ckpt(f, "t.noflush"), 10);
    pthread_mutex_lock(&r->mu);
    r->flush_fails = true;
    int before = r->flushes;
    pthread_mutex_unlock(&r->mu);
    append_n(f, plain, 1, 10);
    assert_true(wait_pos(run, 20, false));
    usleep(450 * 1000);
    /* tried again with a backoff (at about 0, 100, 300 ms), not every
     * 50 ms */
    pthread_mutex_lock(&r->mu);
    int failed = r->flushes - before;
    pthread_mutex_unlock(&r->mu);
    assert_true(failed >= 2 && failed <= 5);
    assert_int_equal(sub_runner_persisted(run), 10);
    stop(f, run);
    assert_int_equal(stored_ckpt(f, "t.noflush"), 10);

    r->flush_fails = false;
    r->n = 0;
    run = start_hooked(f, "t.noflush", r);
    assert_true(wait_pos(run, 20, true));
    assert_int_equal(r->seen[0], 11); /* handled again */
    assert_int_equal(stored_ckpt(f, "t.noflush"), 20);
    stop(f, run);
    rec_free(r);
}

/* A longer interval means fewer flushes and checkpoints: over ~1 s of
 * steady appends a 400 ms runner flushes about 3 times where the 50 ms
 * default flushes about 20 (the same loop for both, in one test). */
static void test_persist_interval(void **state)
{
    struct fx *f = *state;
    struct rec *slow = rec_new(), *fast = rec_new();
    struct sub_runner *rs = start_hooked_every(f, "t.slow", slow, 400);
    struct sub_runner *rf = start_hooked_every(f, "t.fast", fast, 0);

    for (int i = 0; i < 50; i++) {
        append_n(f, plain, 1, 2);
        usleep(20 * 1000);
    }
    assert_true(wait_pos(rs, 100, false));
    assert_true(wait_pos(rf, 100, false));
    pthread_mutex_lock(&slow->mu);
    int nslow = slow->flushes;
    pthread_mutex_unlock(&slow->mu);
    pthread_mutex_lock(&fast->mu);
    int nfast = fast->flushes;
    pthread_mutex_unlock(&fast->mu);
    assert_true(nslow >= 1 && nslow <= 5);
    assert_true(nfast >= 8);
    /* each checkpoint still covers only what was flushed */
    assert_true(stored_ckpt(f, "t.slow") <= slow->flushed_seq);
    atomic_store(&f->runner, NULL);
    sub_runner_stop(rs);
    sub_runner_stop(rf);
    assert_int_equal(stored_ckpt(f, "t.slow"), 100);
    assert_int_equal(stored_ckpt(f, "t.fast"), 100);
    rec_free(slow);
    rec_free(fast);
}

/* Caught up with nothing to persist, a runner with a flush hook still
 * calls it about once per interval; a failing one backs off. */
static void test_flush_while_idle(void **state)
{
    struct fx *f = *state;
    struct rec *r = rec_new();
    struct sub_runner *run = start_hooked_every(f, "t.idle", r, 100);
    int before, idle;

    append_n(f, plain, 1, 5);
    assert_true(wait_pos(run, 5, true));
    pthread_mutex_lock(&r->mu);
    before = r->flushes;
    pthread_mutex_unlock(&r->mu);
    usleep(750 * 1000);
    pthread_mutex_lock(&r->mu);
    idle = r->flushes - before;
    r->flush_fails = true;
    before = r->flushes;
    pthread_mutex_unlock(&r->mu);
    assert_true(idle >= 3 && idle <= 9); /* ~7 at 100 ms */
    assert_int_equal(r->n, 5);           /* nothing handled again */
    assert_int_equal(stored_ckpt(f, "t.idle"), 5);
    usleep(750 * 1000);
    pthread_mutex_lock(&r->mu);
    idle = r->flushes - before;
    pthread_mutex_unlock(&r->mu);
    assert_true(idle >= 1 && idle <= 4); /* at ~100, ~300, ~700 ms */
    stop(f, run);
    rec_free(r);
}

static void test_bad_args(void **state)
{
    struct fx *f = *state;
    struct sub_runner *run;
    struct sub_spec spec = {.name = "", .handle = rec_handle};

    assert_int_equal(sub_runner_start(&run, f->log, f->c, &spec),
                     CHATD_EINVAL);
    spec.name = "x";
    spec.handle = NULL;
    assert_int_equal(sub_runner_start(&run, f->log, f->c, &spec),
                     CHATD_EINVAL);
    sub_runner_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_event_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_and_catch_up, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_survives_reopen,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefix_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_on_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_during_backoff, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_flush_before_every_checkpoint,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_failure_keeps_checkpoint,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_persist_interval, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_flush_while_idle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
