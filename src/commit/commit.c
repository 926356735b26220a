/*
 * commit.c — the writer thread and group commit.
 *
 * Why group commit: a synced LMDB commit costs one fdatasync (about 0.7 ms
 * on our disks), whatever it carries. Taking every job that queued up while
 * the previous fsync ran, and committing them together, makes throughput
 * grow with the number of concurrent writers while nobody waits longer
 * than one fsync plus the batch's CPU time. There is no artificial delay:
 * a lone writer is committed at once.
 *
 * Why a child transaction per job: a job that fails (a conflict, a
 * refused command, a projection error) must vanish without touching the
 * jobs before or after it in the same batch. evlog's children undo
 * appends (kept in memory until the commit) but not store writes (the
 * read models' LMDB txn is not nested: evlog/internal.h). A job that fails
 * after writing to a store poisons the transaction; it is then aborted
 * and the batch run again without that job, which keeps its failure.
 * Commands decide before they write, so this is rare; each redo drops one
 * more job, so a batch of n jobs runs at most n + 1 times.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "commit/commit.h"
#include "core/core.h"

#define DEFAULT_MAX_QUEUE 65536
#define DEFAULT_MAX_BATCH 1024
#define NBUCKETS 12

static const double bucket_le[NBUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01,   0.025,   0.05,   0.1,   0.25,   INFINITY,
};

struct stats {
    _Atomic uint64_t batches, batches_failed, batches_redone, batches_full;
    _Atomic uint64_t jobs, jobs_failed, events;
    _Atomic uint64_t commit_ns_sum, queue_depth;
    _Atomic uint64_t hist[NBUCKETS];
};

struct commit {
    struct evlog *log;
    struct commit_hooks hooks;
    unsigned max_queue, max_batch;
    pthread_t thread;

    pthread_mutex_t mu; /* guards the queue, depth and closing */
    pthread_cond_t cv;
    struct commit_job *head, **tail;
    unsigned depth;
    bool closing;

    struct stats st;
};

static void stat_add(_Atomic uint64_t *a, uint64_t v)
{
    atomic_fetch_add_explicit(a, v, memory_order_relaxed);
}

double commit_bucket_le(unsigned i)
{
    return i < NBUCKETS ? bucket_le[i] : INFINITY;
}

static unsigned bucket_of(uint64_t ns)
{
    double s = (double)ns / 1e9;
    unsigned i = 0;

    while (i < NBUCKETS - 1 && s > bucket_le[i])
        i++;
    return i;
}

/* Waits for work; detaches up to max_batch jobs in submission order.
 * NULL only when closing and nothing is left. */
static struct commit_job *take_batch(struct commit *c)
{
    struct commit_job *batch, *last;
    unsigned n = 1;

    pthread_mutex_lock(&c->mu);
    while (!c->head && !c->closing)
        pthread_cond_wait(&c->cv, &c->mu);
    batch = c->head;
    if (batch) {
        for (last = batch; last->next && n < c->max_batch; n++)
            last = last->next;
        c->head = last->next;
        last->next = NULL;
        if (!c->head)
            c->tail = &c->head;
        c->depth -= n;
        atomic_store_explicit(&c->st.queue_depth, c->depth,
                              memory_order_relaxed);
    }
    pthread_mutex_unlock(&c->mu);
    return batch;
}

static void run_job(struct evlog_txn *top, struct commit_job *job)
{
    struct evlog_txn *child;
    int rc = evlog_txn_child(top, &child);

    if (rc == CHATD_OK) {
        rc = job->run(job->arg, child);
        if (rc == CHATD_OK)
            rc = evlog_txn_commit(child);
        else
            evlog_txn_abort(child);
    }
    job->status = rc;
}

static int timed_commit(struct commit *c, struct evlog_txn *top)
{
    uint64_t t0 = core_mono_ns();
    int rc = evlog_txn_commit(top);
    uint64_t ns = core_mono_ns() - t0;

    stat_add(&c->st.batches, 1);
    stat_add(&c->st.commit_ns_sum, ns);
    stat_add(&c->st.hist[bucket_of(ns)], 1);
    if (rc != CHATD_OK)
        stat_add(&c->st.batches_failed, 1);
    return rc;
}

/* Tells every job its outcome. The counters move first, so whoever is
 * woken by a done already sees its job counted; and `done` may free its
 * job, so the link is read before the call. */
static void finish(struct commit *c, struct commit_job *batch, int rc)
{
    uint64_t n = 0, failed = 0;

    for (struct commit_job *job = batch; job; job = job->next) {
        n++;
        failed += job->status != CHATD_OK;
    }
    stat_add(&c->st.jobs, n);
    stat_add(&c->st.jobs_failed, failed);
    for (struct commit_job *job = batch, *next; job; job = next) {
        int status = job->status != CHATD_OK ? job->status : rc;

        next = job->next;
        if (job->done)
            job->done(job->arg, status);
    }
}

static size_t batch_len(const struct commit_job *batch)
{
    size_t n = 0;

    for (; batch; batch = batch->next)
        n++;
    return n;
}

/* Runs every job not dropped in one top-level txn (*out). Returns false if
 * one of them failed after writing to the read models: the txn is then
 * aborted and that job dropped, for a redo. */
static bool run_jobs(struct commit *c, struct commit_job *batch,
                     struct evlog_txn *top)
{
    for (struct commit_job *job = batch; job; job = job->next) {
        if (job->dropped)
            continue;
        job->status = CHATD_OK;
        run_job(top, job);
        if (evlog_txn_poisoned(top)) {
            job->dropped = true;
            evlog_txn_abort(top);
            stat_add(&c->st.batches_redone, 1);
            return false;
        }
    }
    return true;
}

static void run_batch(struct commit *c, struct commit_job *batch)
{
    struct evlog_txn *top;
    uint64_t first, last;
    int rc;

    for (struct commit_job *job = batch; job; job = job->next) {
        job->status = CHATD_OK;
        job->dropped = false;
    }
    do {
        if (c->hooks.before_batch)
            c->hooks.before_batch(c->hooks.ctx);
        rc = evlog_txn_begin(c->log, true, &top);
        if (rc != CHATD_OK) {
            core_log(CORE_LOG_ERROR, "commit",
                     "cannot begin a write transaction (%s): %zu jobs "
                     "refused", core_strerror(rc), batch_len(batch));
            stat_add(&c->st.batches_failed, 1);
            if (rc == CHATD_EFULL)
                stat_add(&c->st.batches_full, 1);
            finish(c, batch, rc);
            return;
        }
        first = evlog_txn_last_seq(top) + 1;
    } while (!run_jobs(c, batch, top));
    if (c->hooks.before_commit)
        rc = c->hooks.before_commit(c->hooks.ctx, top);
    last = evlog_txn_last_seq(top);
    if (rc == CHATD_OK) {
        rc = timed_commit(c, top);
    } else {
        evlog_txn_abort(top);
        stat_add(&c->st.batches, 1);
        stat_add(&c->st.batches_failed, 1);
    }
    if (rc == CHATD_EFULL)
        stat_add(&c->st.batches_full, 1);
    if (rc != CHATD_OK)
        core_log(CORE_LOG_ERROR, "commit",
                 "batch of %zu jobs not committed (%s); their writes are "
                 "lost and each job is told so", batch_len(batch),
                 core_strerror(rc));
    else if (last >= first) {
        stat_add(&c->st.events, last - first + 1);
        if (c->hooks.after_commit)
            c->hooks.after_commit(c->hooks.ctx, first, last);
    }
    finish(c, batch, rc);
}

static void *writer_main(void *arg)
{
    struct commit *c = arg;
    struct commit_job *batch;

    while ((batch = take_batch(c)) != NULL)
        run_batch(c, batch);
    return NULL;
}

/* The writer must never take a signal meant for the main loop. */
static int start_thread(struct commit *c)
{
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&c->thread, NULL, writer_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? CHATD_OK : rc == ENOMEM ? CHATD_ENOMEM : CHATD_EIO;
}

int commit_open(struct commit **out, struct evlog *log,
                const struct commit_options *opt,
                const struct commit_hooks *hooks)
{
    struct commit *c;
    int rc;

    if (!out || !log)
        return CHATD_EINVAL;
    c = calloc(1, sizeof *c);
    if (!c)
        return CHATD_ENOMEM;
    c->log = log;
    if (hooks)
        c->hooks = *hooks;
    c->max_queue = opt && opt->max_queue ? opt->max_queue : DEFAULT_MAX_QUEUE;
    c->max_batch = opt && opt->max_batch ? opt->max_batch : DEFAULT_MAX_BATCH;
    c->tail = &c->head;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    rc = start_thread(c);
    if (rc != CHATD_OK)
        goto out_destroy_sync;
    *out = c;
    return CHATD_OK;

out_destroy_sync:
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
    return rc;
}

int commit_submit(struct commit *c, struct commit_job *job)
{
    int rc = CHATD_OK;

    if (!c || !job || !job->run)
        return CHATD_EINVAL;
    pthread_mutex_lock(&c->mu);
    if (c->closing)
        rc = CHATD_ECLOSED;
    else if (c->depth >= c->max_queue)
        rc = CHATD_EFULL;
    if (rc == CHATD_OK) {
        job->next = NULL;
        *c->tail = job;
        c->tail = &job->next;
        c->depth++;
        atomic_store_explicit(&c->st.queue_depth, c->depth,
                              memory_order_relaxed);
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* commit_run's own job around the caller's, so the caller can wait. */
struct waiter {
    struct commit_job job;
    struct commit_job *user;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool finished;
    int status;
};

static int waiter_run(void *arg, struct evlog_txn *txn)
{
    struct waiter *w = arg;

    return w->user->run(w->user->arg, txn);
}

/* The waiter lives on commit_run's stack: after the unlock below nothing
 * here may touch it, because commit_run may already have returned. */
static void waiter_done(void *arg, int status)
{
    struct waiter *w = arg;

    if (w->user->done)
        w->user->done(w->user->arg, status);
    pthread_mutex_lock(&w->mu);
    w->status = status;
    w->finished = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int commit_run(struct commit *c, struct commit_job *job)
{
    struct waiter w = {.user = job};
    int rc;

    if (!c || !job || !job->run)
        return CHATD_EINVAL;
    if (pthread_equal(pthread_self(), c->thread))
        return CHATD_ESTATE;
    w.job = (struct commit_job){.run = waiter_run, .done = waiter_done,
                                .arg = &w};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    rc = commit_submit(c, &w.job);
    if (rc == CHATD_OK) {
        pthread_mutex_lock(&w.mu);
        while (!w.finished)
            pthread_cond_wait(&w.cv, &w.mu);
        rc = w.status;
        pthread_mutex_unlock(&w.mu);
    }
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    return rc;
}

void commit_close(struct commit *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static uint64_t stat_get(const _Atomic uint64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

void commit_stats_get(const struct commit *c, struct commit_stats *out)
{
    *out = (struct commit_stats){
        .batches = stat_get(&c->st.batches),
        .jobs = stat_get(&c->st.jobs),
        .jobs_failed = stat_get(&c->st.jobs_failed),
        .events = stat_get(&c->st.events),
        .commit_ns_sum = stat_get(&c->st.commit_ns_sum),
        .queue_depth = stat_get(&c->st.queue_depth),
        .batches_failed = stat_get(&c->st.batches_failed),
        .batches_redone = stat_get(&c->st.batches_redone),
        .batches_full = stat_get(&c->st.batches_full),
    };
    for (unsigned i = 0; i < NBUCKETS; i++)
        out->commit_hist[i] = stat_get(&c->st.hist[i]);
}
