/*
 * Group commit: real LMDB, synced commits, many threads. cmocka's asserts
 * are not thread-safe, so threads count problems in atomics and the test
 * thread asserts on the counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include "../evlog/testdir.h"
#include "commit/commit.h"

struct fx {
    char *dir;
    struct evlog *log;
    struct commit *c;
    /* hook state */
    atomic_int fail_before_commit;
    _Atomic uint64_t hook_first, hook_last;
    atomic_int hook_calls;
    atomic_int batch_begins;
};

static void before_batch(void *ctx)
{
    struct fx *f = ctx;

    atomic_fetch_add(&f->batch_begins, 1);
}

static int before_commit(void *ctx, struct evlog_txn *txn)
{
    struct fx *f = ctx;

    return atomic_load(&f->fail_before_commit) ? CHATD_EIO : CHATD_OK;
}

static void after_commit(void *ctx, uint64_t first, uint64_t last)
{
    struct fx *f = ctx;

    if (atomic_load(&f->hook_calls) && first != atomic_load(&f->hook_last) + 1)
        atomic_store(&f->hook_first, UINT64_MAX); /* a gap: flag it */
    else if (!atomic_load(&f->hook_calls))
        atomic_store(&f->hook_first, first);
    atomic_store(&f->hook_last, last);
    atomic_fetch_add(&f->hook_calls, 1);
}

static int open_commit(struct fx *f, unsigned max_queue, unsigned max_batch)
{
    struct commit_options opt = {.max_queue = max_queue,
                                 .max_batch = max_batch};
    struct commit_hooks hooks = {.before_batch = before_batch,
                                 .before_commit = before_commit,
                                 .after_commit = after_commit,
                                 .ctx = f};
    return commit_open(&f->c, f->log, &opt, &hooks);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct evlog_options opt = {.map_size = 256u << 20};

    f->dir = testdir_make();
    opt.dir = f->dir;
    if (!f->dir || evlog_open(&f->log, &opt) != CHATD_OK ||
        open_commit(f, 0, 0) != CHATD_OK)
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

/* --- one job: appends one event to its stream --- */

struct job {
    struct commit_job cj;
    struct fx *f;
    char stream[32];
    int result;           /* what run returns after appending */
    struct evlog_store *st; /* if set, run also writes key `stream` here */
    atomic_int runs;      /* times run was called */
    uint64_t seq;         /* set by run */
    atomic_int done_calls;
    atomic_int status;
    atomic_int bad;       /* done saw something wrong */
    pthread_mutex_t *mu;  /* the submitter's, to wake it */
    pthread_cond_t *cv;
};

static int job_run(void *arg, struct evlog_txn *txn)
{
    struct job *j = arg;
    struct chatd_event ev = {.type = "test.thing_done",
                             .stream = j->stream,
                             .data = "{\"k\":1}",
                             .data_len = 7},
                       out;
    int rc = evlog_append(txn, &ev, CHATD_ANY_VERSION, &out);

    atomic_fetch_add(&j->runs, 1);
    if (rc == CHATD_OK && j->st)
        rc = evlog_put_kv(txn, j->st, j->stream, strlen(j->stream), "x", 1);
    if (rc != CHATD_OK)
        return rc;
    j->seq = out.seq;
    return j->result;
}

static void job_done(void *arg, int status)
{
    struct job *j = arg;

    /* Durable before done: the seq is already published, and the hook
     * that wakes subscribers has already seen it. */
    if (status == CHATD_OK && (evlog_last_seq(j->f->log) < j->seq ||
                               atomic_load(&j->f->hook_last) < j->seq))
        atomic_fetch_add(&j->bad, 1);
    atomic_store(&j->status, status);
    if (j->mu)
        pthread_mutex_lock(j->mu);
    atomic_fetch_add(&j->done_calls, 1);
    if (j->cv)
        pthread_cond_broadcast(j->cv);
    if (j->mu)
        pthread_mutex_unlock(j->mu);
}

static void job_init(struct job *j, struct fx *f, const char *stream,
                     int result)
{
    memset(j, 0, sizeof *j);
    j->cj = (struct commit_job){.run = job_run, .done = job_done, .arg = j};
    j->f = f;
    j->result = result;
    snprintf(j->stream, sizeof j->stream, "%s", stream);
}

/* --- a gate: a job that holds the writer until released, so the jobs
 * submitted meanwhile form one batch --- */

struct gate {
    struct commit_job cj;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, open;
    atomic_int done_calls;
};

static int gate_run(void *arg, struct evlog_txn *txn)
{
    struct gate *g = arg;

    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return CHATD_OK;
}

static void gate_done(void *arg, int status)
{
    struct gate *g = arg;

    atomic_fetch_add(&g->done_calls, 1);
}

static void gate_close_and_wait(struct gate *g, struct commit *c)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->cj = (struct commit_job){.run = gate_run, .done = gate_done, .arg = g};
    assert_int_equal(commit_submit(c, &g->cj), CHATD_OK);
    pthread_mutex_lock(&g->mu);
    while (!g->entered)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_destroy(struct gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

/* --- 16 threads x 200 submits --- */

#define THREADS 16
#define PER_THREAD 200

struct submitter {
    struct fx *f;
    int id;
    struct job *jobs; /* PER_THREAD */
    atomic_int *problems;
};

/* After done: a fresh read txn on this (another) thread sees the event. */
static bool visible(struct evlog *log, const struct job *j)
{
    struct evlog_txn *txn;
    struct chatd_event ev;
    bool ok;

    if (evlog_txn_begin(log, false, &txn) != CHATD_OK)
        return false;
    ok = evlog_get(txn, j->seq, &ev) == CHATD_OK &&
         strcmp(ev.stream, j->stream) == 0;
    evlog_txn_abort(txn);
    return ok;
}

static void *submitter_main(void *arg)
{
    struct submitter *s = arg;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    char stream[32];

    snprintf(stream, sizeof stream, "thread:%d", s->id);
    for (int i = 0; i < PER_THREAD; i++) {
        struct job *j = &s->jobs[i];

        job_init(j, s->f, stream, CHATD_OK);
        j->mu = &mu;
        j->cv = &cv;
        if (commit_submit(s->f->c, &j->cj) != CHATD_OK) {
            atomic_fetch_add(s->problems, 1);
            continue;
        }
        pthread_mutex_lock(&mu);
        while (atomic_load(&j->done_calls) == 0)
            pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        if (atomic_load(&j->status) != CHATD_OK || !visible(s->f->log, j))
            atomic_fetch_add(s->problems, 1);
    }
    return NULL;
}

static void test_group_commit_many_threads(void **state)
{
    struct fx *f = *state;
    struct submitter subs[THREADS];
    pthread_t th[THREADS];
    atomic_int problems = 0;
    struct commit_stats st;
    struct job *all = calloc(THREADS * PER_THREAD, sizeof *all);

    for (int i = 0; i < THREADS; i++) {
        subs[i] = (struct submitter){f, i, all + i * PER_THREAD, &problems};
        assert_int_equal(pthread_create(&th[i], NULL, submitter_main,
                                        &subs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&problems), 0);
    for (int i = 0; i < THREADS * PER_THREAD; i++) {
        assert_int_equal(atomic_load(&all[i].done_calls), 1);
        assert_int_equal(atomic_load(&all[i].bad), 0);
    }
    commit_stats_get(f->c, &st);
    assert_int_equal(st.jobs, THREADS * PER_THREAD);
    assert_int_equal(st.jobs_failed, 0);
    assert_int_equal(st.events, THREADS * PER_THREAD);
    assert_int_equal(evlog_last_seq(f->log), THREADS * PER_THREAD);
    assert_true(st.batches < st.jobs); /* real batching happened */
    assert_true(st.commit_ns_sum > 0);
    assert_int_equal(st.queue_depth, 0);
    uint64_t hist = 0;
    for (int i = 0; i < 12; i++)
        hist += st.commit_hist[i];
    assert_int_equal(hist, st.batches);
    assert_int_equal(atomic_load(&f->hook_first), 1);
    assert_int_equal(atomic_load(&f->hook_last), THREADS * PER_THREAD);
    print_message("%llu jobs in %llu batches, mean commit %.3f ms\n",
                  (unsigned long long)st.jobs,
                  (unsigned long long)st.batches,
                  (double)st.commit_ns_sum / (double)st.batches / 1e6);
    free(all);
}

static void wait_done(struct job *j)
{
    while (atomic_load(&j->done_calls) == 0)
        usleep(200);
}

/* Submits three jobs behind a closed gate, so they form one batch, then
 * opens it and waits for all three. */
static void run_three(struct fx *f, struct gate *g, struct job *a,
                      struct job *b, struct job *c)
{
    assert_int_equal(commit_submit(f->c, &a->cj), CHATD_OK);
    assert_int_equal(commit_submit(f->c, &b->cj), CHATD_OK);
    assert_int_equal(commit_submit(f->c, &c->cj), CHATD_OK);
    gate_open(g);
    wait_done(a), wait_done(b), wait_done(c);
}

static void test_failing_job_discarded(void **state)
{
    struct fx *f = *state;
    struct gate g = {0};
    struct job a, b, c;
    struct evlog_txn *txn;
    struct chatd_event ev;
    struct commit_stats st;
    uint64_t ver;

    gate_close_and_wait(&g, f->c);
    job_init(&a, f, "room:1", CHATD_OK);
    job_init(&b, f, "room:1", CHATD_EREJECTED); /* appends, then refuses */
    job_init(&c, f, "room:1", CHATD_OK);
    run_three(f, &g, &a, &b, &c);
    assert_int_equal(atomic_load(&a.status), CHATD_OK);
    assert_int_equal(atomic_load(&b.status), CHATD_EREJECTED);
    assert_int_equal(atomic_load(&c.status), CHATD_OK);
    assert_int_equal(a.seq, 1);
    assert_int_equal(c.seq, 2); /* b's seq was rolled back */
    assert_int_equal(evlog_last_seq(f->log), 2);
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_stream_version(txn, "room:1", &ver), CHATD_OK);
    assert_int_equal(ver, 2);
    assert_int_equal(evlog_get(txn, 3, &ev), CHATD_ENOTFOUND);
    evlog_txn_abort(txn);
    commit_stats_get(f->c, &st);
    assert_int_equal(st.batches, 2); /* the gate, then a+b+c together */
    assert_int_equal(st.jobs_failed, 1);
    assert_int_equal(st.events, 2);
    assert_int_equal(atomic_load(&g.done_calls), 1);
    gate_destroy(&g);
}

/* A job that wrote to a store and then fails cannot be undone inside the
 * shared transaction: the batch is redone without it. The others run
 * twice and commit once; nothing of the failed job stays. */
static void test_failure_after_store_write_redoes_batch(void **state)
{
    struct fx *f = *state;
    struct gate g = {0};
    struct job a, b, c;
    struct evlog_store *st;
    struct evlog_txn *txn;
    struct chatd_val v;
    struct commit_stats st0, st1;

    assert_int_equal(evlog_store_open(f->log, "test", "things", &st),
                     CHATD_OK);
    commit_stats_get(f->c, &st0);
    gate_close_and_wait(&g, f->c);
    int begins = atomic_load(&f->batch_begins);
    job_init(&a, f, "room:a", CHATD_OK);
    job_init(&b, f, "room:b", CHATD_EREJECTED); /* writes, then refuses */
    job_init(&c, f, "room:c", CHATD_OK);
    a.st = b.st = c.st = st;
    run_three(f, &g, &a, &b, &c);
    assert_int_equal(atomic_load(&a.status), CHATD_OK);
    assert_int_equal(atomic_load(&b.status), CHATD_EREJECTED);
    assert_int_equal(atomic_load(&c.status), CHATD_OK);
    assert_int_equal(atomic_load(&a.runs), 2); /* before b, then the redo */
    assert_int_equal(atomic_load(&b.runs), 1); /* dropped from the redo */
    assert_int_equal(atomic_load(&c.runs), 1); /* only in the redo */
    /* each attempt began afresh: what the first deferred is dropped */
    assert_int_equal(atomic_load(&f->batch_begins) - begins, 2);
    assert_int_equal(a.seq, 1);
    assert_int_equal(c.seq, 2);
    assert_int_equal(atomic_load(&a.bad) + atomic_load(&c.bad), 0);
    assert_int_equal(evlog_last_seq(f->log), 2);
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_get_kv(txn, st, "room:a", 6, &v), CHATD_OK);
    assert_int_equal(evlog_get_kv(txn, st, "room:b", 6, &v),
                     CHATD_ENOTFOUND);
    assert_int_equal(evlog_get_kv(txn, st, "room:c", 6, &v), CHATD_OK);
    evlog_txn_abort(txn);
    commit_stats_get(f->c, &st1);
    assert_int_equal(st1.batches_redone - st0.batches_redone, 1);
    assert_int_equal(st1.jobs_failed - st0.jobs_failed, 1);
    assert_int_equal(st1.events - st0.events, 2);
    gate_destroy(&g);
}

static void test_commit_failure_fails_batch(void **state)
{
    struct fx *f = *state;
    struct gate g = {0};
    struct job a, b, c;
    struct commit_stats st;

    assert_int_equal(commit_run(f->c, &(struct job){0}.cj), CHATD_EINVAL);
    job_init(&a, f, "room:f", CHATD_OK);
    assert_int_equal(commit_run(f->c, &a.cj), CHATD_OK);
    assert_int_equal(evlog_last_seq(f->log), 1);

    gate_close_and_wait(&g, f->c);
    job_init(&a, f, "room:f", CHATD_OK);
    job_init(&b, f, "room:f", CHATD_EREJECTED);
    job_init(&c, f, "room:f", CHATD_OK);
    assert_int_equal(commit_submit(f->c, &a.cj), CHATD_OK);
    assert_int_equal(commit_submit(f->c, &b.cj), CHATD_OK);
    assert_int_equal(commit_submit(f->c, &c.cj), CHATD_OK);
    atomic_store(&f->fail_before_commit, 1);
    gate_open(&g);
    wait_done(&a), wait_done(&b), wait_done(&c);
    assert_int_equal(atomic_load(&a.status), CHATD_EIO);
    assert_int_equal(atomic_load(&b.status), CHATD_EREJECTED);
    assert_int_equal(atomic_load(&c.status), CHATD_EIO);
    assert_int_equal(evlog_last_seq(f->log), 1); /* nothing committed */
    atomic_store(&f->fail_before_commit, 0);
    commit_stats_get(f->c, &st);
    assert_int_equal(st.batches_failed, 2); /* gate's and a+b+c's batch */

    /* The next batch goes through and reuses the lost seqs. */
    job_init(&a, f, "room:f", CHATD_OK);
    assert_int_equal(commit_run(f->c, &a.cj), CHATD_OK);
    assert_int_equal(a.seq, 2);
    assert_int_equal(evlog_last_seq(f->log), 2);
    assert_int_equal(atomic_load(&a.done_calls), 1);
    gate_destroy(&g);
}

/* commit_run from the writer itself would wait for ever: refused. */
static int nested_run(void *arg, struct evlog_txn *txn)
{
    struct fx *f = arg;
    struct job j;

    job_init(&j, f, "x", CHATD_OK);
    return commit_run(f->c, &j.cj) == CHATD_ESTATE ? CHATD_OK : CHATD_EIO;
}

static void test_commit_run_rules(void **state)
{
    struct fx *f = *state;
    struct commit_job nested = {.run = nested_run, .arg = f};
    struct job j;

    assert_int_equal(commit_run(f->c, &nested), CHATD_OK);
    job_init(&j, f, "room:r", CHATD_ECONFLICT);
    assert_int_equal(commit_run(f->c, &j.cj), CHATD_ECONFLICT);
    assert_int_equal(atomic_load(&j.done_calls), 1);
    assert_int_equal(commit_submit(f->c, NULL), CHATD_EINVAL);
}

static void test_queue_full_and_max_batch(void **state)
{
    struct fx *f = *state;
    struct gate g = {0};
    struct job jobs[5];
    struct commit_stats st;

    commit_close(f->c);
    assert_int_equal(open_commit(f, 5, 2), CHATD_OK);
    gate_close_and_wait(&g, f->c);
    for (int i = 0; i < 5; i++) {
        job_init(&jobs[i], f, "room:q", CHATD_OK);
        assert_int_equal(commit_submit(f->c, &jobs[i].cj),
                         i < 5 ? CHATD_OK : CHATD_EFULL);
    }
    struct job extra;
    job_init(&extra, f, "room:q", CHATD_OK);
    assert_int_equal(commit_submit(f->c, &extra.cj), CHATD_EFULL);
    commit_stats_get(f->c, &st);
    assert_int_equal(st.queue_depth, 5);
    gate_open(&g);
    for (int i = 0; i < 5; i++)
        wait_done(&jobs[i]);
    commit_stats_get(f->c, &st);
    assert_int_equal(st.batches, 1 + 3); /* gate; then 2 + 2 + 1 */
    assert_int_equal(st.events, 5);
    assert_int_equal(atomic_load(&extra.done_calls), 0);
    gate_destroy(&g);
}

/* --- close drains the queue and refuses new work --- */

struct closer {
    struct commit *c;
};

static void *closer_main(void *arg)
{
    struct closer *cl = arg;

    commit_close(cl->c);
    return NULL;
}

static void test_close_drains(void **state)
{
    struct fx *f = *state;
    struct gate g = {0};
    struct job jobs[50], probe[64];
    struct closer cl = {f->c};
    pthread_t th;
    int probes = 0, rc;

    gate_close_and_wait(&g, f->c);
    for (int i = 0; i < 50; i++) {
        job_init(&jobs[i], f, "room:d", CHATD_OK);
        assert_int_equal(commit_submit(f->c, &jobs[i].cj), CHATD_OK);
    }
    assert_int_equal(pthread_create(&th, NULL, closer_main, &cl), 0);
    /* Probe until close has begun; the probes that got in are drained too. */
    do {
        assert_true(probes < 64);
        job_init(&probe[probes], f, "room:p", CHATD_OK);
        rc = commit_submit(f->c, &probe[probes].cj);
        if (rc == CHATD_OK) {
            probes++;
            usleep(1000);
        }
    } while (rc == CHATD_OK);
    assert_int_equal(rc, CHATD_ECLOSED);
    gate_open(&g);
    pthread_join(th, NULL);
    f->c = NULL;
    for (int i = 0; i < 50; i++) {
        assert_int_equal(atomic_load(&jobs[i].done_calls), 1);
        assert_int_equal(atomic_load(&jobs[i].status), CHATD_OK);
    }
    for (int i = 0; i < probes; i++)
        assert_int_equal(atomic_load(&probe[i].done_calls), 1);
    assert_int_equal(evlog_last_seq(f->log), 50 + (uint64_t)probes);
    gate_destroy(&g);
}

/* A job that runs out of map space fails alone (CHATD_EFULL); the rest of
 * its batch commits. */
struct big_job {
    struct commit_job cj;
    char *data;
    atomic_int status;
    atomic_int done_calls;
};

static int big_run(void *arg, struct evlog_txn *txn)
{
    struct big_job *b = arg;
    struct chatd_event ev = {.type = "test.big_thing", .stream = "room:big",
                             .data = b->data, .data_len = EVLOG_DATA_MAX};
    int rc = CHATD_OK;

    for (int i = 0; i < 8 && rc == CHATD_OK; i++)
        rc = evlog_append(txn, &ev, CHATD_ANY_VERSION, NULL);
    return rc;
}

static void big_done(void *arg, int status)
{
    struct big_job *b = arg;

    atomic_store(&b->status, status);
    atomic_fetch_add(&b->done_calls, 1);
}

static void test_map_full_job_discarded(void **state)
{
    struct fx *f = *state;
    struct evlog_options opt = {.map_size = 4u << 20};
    struct gate g = {0};
    struct job a, c;
    struct big_job big = {.cj = {.run = big_run, .done = big_done}};

    commit_close(f->c);
    evlog_close(f->log);
    testdir_remove(f->dir);
    f->dir = testdir_make();
    opt.dir = f->dir;
    assert_int_equal(evlog_open(&f->log, &opt), CHATD_OK);
    assert_int_equal(open_commit(f, 0, 0), CHATD_OK);
    big.cj.arg = &big;
    big.data = malloc(EVLOG_DATA_MAX);
    memset(big.data, 'x', EVLOG_DATA_MAX);

    gate_close_and_wait(&g, f->c);
    job_init(&a, f, "room:m", CHATD_OK);
    job_init(&c, f, "room:m", CHATD_OK);
    assert_int_equal(commit_submit(f->c, &a.cj), CHATD_OK);
    assert_int_equal(commit_submit(f->c, &big.cj), CHATD_OK);
    assert_int_equal(commit_submit(f->c, &c.cj), CHATD_OK);
    gate_open(&g);
    wait_done(&a), wait_done(&c);
    while (atomic_load(&big.done_calls) == 0)
        usleep(200);
    assert_int_equal(atomic_load(&big.status), CHATD_EFULL);
    assert_int_equal(atomic_load(&a.status), CHATD_OK);
    assert_int_equal(atomic_load(&c.status), CHATD_OK);
    assert_int_equal(a.seq, 1);
    assert_int_equal(c.seq, 2);
    assert_int_equal(evlog_last_seq(f->log), 2);
    free(big.data);
    gate_destroy(&g);
}

static void test_buckets(void **state)
{
    assert_true(commit_bucket_le(0) > 0);
    for (unsigned i = 1; i < 11; i++)
        assert_true(commit_bucket_le(i) > commit_bucket_le(i - 1));
    assert_true(isinf(commit_bucket_le(11)));
    assert_true(isinf(commit_bucket_le(99)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_commit_many_threads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failing_job_discarded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_failure_after_store_write_redoes_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_failure_fails_batch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_run_rules, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_full_and_max_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full_job_discarded, setup,
                                        teardown),
        cmocka_unit_test(test_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
