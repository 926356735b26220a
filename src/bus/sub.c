/*
 * sub.c — async subscriber runners.
 *
 * Each runner copies a bounded chunk of events out of a short read
 * transaction (evlog_batch) and only then calls the handler, because the
 * handler may open its own transaction and LMDB allows one per thread.
 * Holding no read transaction while a slow handler runs also keeps old
 * pages from being pinned.
 *
 * The position is persisted through the commit writer like any other
 * write, at most every 50 ms while advancing, so a busy subscriber costs
 * at most 20 small jobs a second; after a crash at most the last 50 ms of
 * events (plus whatever was in flight) are handled again. Effects are
 * idempotent by contract, so that is at-least-once, never a loss.
 *
 * A handler that only buffers (the analytics exporter appends to files
 * it does not sync per event) gives a flush hook: the runner calls it on
 * its own thread before it queues a checkpoint and when it stops, and
 * persists nothing the hook has not made durable. The owner of such a
 * runner usually asks for a longer interval (sub_spec.persist_every_ms):
 * each flush costs device syncs of its own. While the runner is idle the
 * hook is also called once per interval, for buffered work that waits for
 * time rather than events (the exporter seals an hour that is over on a
 * server that has gone quiet).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/sub.h"
#include "core/core.h"

#define PERSIST_EVERY_NS (50ull * 1000 * 1000)
#define IDLE_POLL_NS (1000ull * 1000 * 1000)
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 10000
#define CHUNK_EVENTS 256
#define CHUNK_BYTES ((size_t)4 << 20)

struct sub_runner {
    struct evlog *log;
    struct commit *commit;
    char *name, *prefix, *ckpt_key;
    int (*handle)(void *ctx, const struct chatd_event *ev);
    int (*flush)(void *ctx);
    void *ctx;
    pthread_t thread;
    struct evlog_batch *batch; /* the runner thread's */

    pthread_mutex_t mu; /* guards the fields below and the cv */
    pthread_cond_t cv;  /* CLOCK_MONOTONIC */
    bool stopping;
    bool persist_busy;  /* persist_job is queued or running */
    uint64_t persist_val;
    uint64_t notified;

    _Atomic uint64_t position, persisted;
    uint64_t last_persist_ns; /* runner thread only */
    uint64_t last_flush_ns;   /* runner thread only */
    uint64_t persist_every_ns; /* spec's, or PERSIST_EVERY_NS */
    uint64_t persist_wait_ns; /* persist_every_ns, longer while flush
                                 fails */
    uint64_t final_pos;       /* set by the thread as it exits: what stop
                                 may persist (flushed) */
    struct commit_job persist_job;
};

/* --- the checkpoint --- */

static int persist_run(void *arg, struct evlog_txn *txn)
{
    struct sub_runner *r = arg;

    return evlog_meta_put_u64(txn, r->ckpt_key, r->persist_val);
}

/* Logs before clearing persist_busy: sub_runner_stop waits for that flag
 * and then frees the runner, so nothing of r may be read after it. */
static void persist_done(void *arg, int status)
{
    struct sub_runner *r = arg;

    if (status != CHATD_OK) /* persist_val is stable while busy */
        core_log(CORE_LOG_WARN, "bus",
                 "subscriber %s: checkpoint %llu not saved (%s); "
                 "will retry", r->name, (unsigned long long)r->persist_val,
                 core_strerror(status));
    pthread_mutex_lock(&r->mu);
    if (status == CHATD_OK)
        atomic_store(&r->persisted, r->persist_val);
    r->persist_busy = false;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* The flush hook, if any, before a checkpoint of `pos`. Runner thread. */
static bool flushed(struct sub_runner *r, uint64_t pos)
{
    int rc;

    if (!r->flush)
        return true;
    r->last_flush_ns = core_mono_ns();
    rc = r->flush(r->ctx);
    if (rc != CHATD_OK)
        core_log(CORE_LOG_WARN, "bus",
                 "subscriber %s: flush before checkpoint %llu failed (%s); "
                 "the checkpoint stays at %llu", r->name,
                 (unsigned long long)pos, core_strerror(rc),
                 (unsigned long long)atomic_load(&r->persisted));
    return rc == CHATD_OK;
}

static uint64_t backoff(uint64_t wait_ns)
{
    return wait_ns * 2 > (uint64_t)BACKOFF_MAX_MS * 1000000u
               ? (uint64_t)BACKOFF_MAX_MS * 1000000u
               : wait_ns * 2;
}

/* Queues one checkpoint job unless one is in flight. Runner thread (the
 * only one that sets persist_busy, so it cannot change under flush). */
static void persist_async(struct sub_runner *r)
{
    uint64_t pos = atomic_load(&r->position);

    pthread_mutex_lock(&r->mu);
    if (r->persist_busy || pos <= atomic_load(&r->persisted)) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    pthread_mutex_unlock(&r->mu);

    r->last_persist_ns = core_mono_ns();
    if (!flushed(r, pos)) { /* again later: twice as long, up to 10 s */
        r->persist_wait_ns = backoff(r->persist_wait_ns);
        return;
    }
    r->persist_wait_ns = r->persist_every_ns;
    pthread_mutex_lock(&r->mu);
    r->persist_busy = true;
    r->persist_val = pos;
    pthread_mutex_unlock(&r->mu);
    if (commit_submit(r->commit, &r->persist_job) != CHATD_OK) {
        pthread_mutex_lock(&r->mu); /* queue full or closing: next time */
        r->persist_busy = false;
        pthread_mutex_unlock(&r->mu);
    }
}

static bool persist_due(const struct sub_runner *r, uint64_t now)
{
    return atomic_load(&r->position) > atomic_load(&r->persisted) &&
           now - r->last_persist_ns >= r->persist_wait_ns;
}

/* --- waiting --- */

static struct timespec deadline_after(uint64_t ns)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ns += (uint64_t)ts.tv_nsec;
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    return ts;
}

/* Sleeps up to `ns` unless stopping; false if stopping. */
static bool sleep_unless_stopped(struct sub_runner *r, uint64_t ns)
{
    struct timespec until = deadline_after(ns);
    bool stopping;

    pthread_mutex_lock(&r->mu);
    while (!r->stopping &&
           pthread_cond_timedwait(&r->cv, &r->mu, &until) == 0)
        ;
    stopping = r->stopping;
    pthread_mutex_unlock(&r->mu);
    return !stopping;
}

/* Idle: wait for new events, a due checkpoint, or stop. The predicate is
 * checked under the mutex that notify takes, so no wake-up is lost; the
 * poll interval is only a safety net. */
static void wait_for_work(struct sub_runner *r)
{
    uint64_t wait_ns = IDLE_POLL_NS;

    if (atomic_load(&r->position) > atomic_load(&r->persisted) ||
        (r->flush && r->persist_every_ns < wait_ns))
        wait_ns = r->persist_wait_ns; /* come back to save or to flush */
    struct timespec until = deadline_after(wait_ns);

    pthread_mutex_lock(&r->mu);
    while (!r->stopping &&
           evlog_last_seq(r->log) <= atomic_load(&r->position) &&
           pthread_cond_timedwait(&r->cv, &r->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&r->mu);
}

/* Caught up and nothing to persist: the flush hook once per interval
 * anyway. No checkpoint waits on it, so a failure is only logged, and
 * backs off like a failed flush before a checkpoint. */
static void idle_flush(struct sub_runner *r)
{
    uint64_t now = core_mono_ns();
    int rc;

    if (!r->flush || now - r->last_flush_ns < r->persist_wait_ns ||
        atomic_load(&r->position) > atomic_load(&r->persisted))
        return;
    r->last_flush_ns = now;
    rc = r->flush(r->ctx);
    if (rc == CHATD_OK) {
        r->persist_wait_ns = r->persist_every_ns;
        return;
    }
    core_log(CORE_LOG_WARN, "bus", "subscriber %s: flush while idle failed "
             "(%s)", r->name, core_strerror(rc));
    r->persist_wait_ns = backoff(r->persist_wait_ns);
}

static bool is_stopping(struct sub_runner *r)
{
    bool s;

    pthread_mutex_lock(&r->mu);
    s = r->stopping;
    pthread_mutex_unlock(&r->mu);
    return s;
}

/* --- handling --- */

/* Calls the handler until it accepts the event, backing off 100 ms, 200,
 * ... up to 10 s between tries. False if stopped before it succeeded. */
static bool handle_one(struct sub_runner *r, const struct chatd_event *ev)
{
    unsigned delay_ms = BACKOFF_FIRST_MS;
    int rc;

    while ((rc = r->handle(r->ctx, ev)) != CHATD_OK) {
        core_log(CORE_LOG_WARN, "bus",
                 "subscriber %s: handler failed on event %llu (%s, %s); "
                 "retrying in %u ms", r->name, (unsigned long long)ev->seq,
                 ev->type, core_strerror(rc), delay_ms);
        if (!sleep_unless_stopped(r, (uint64_t)delay_ms * 1000000u))
            return false;
        delay_ms = delay_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                 : delay_ms * 2;
    }
    return true;
}

/* Copies the next chunk out of a short read txn. */
static int read_chunk(struct sub_runner *r)
{
    struct evlog_txn *txn;
    int rc = evlog_txn_begin(r->log, false, &txn);

    if (rc != CHATD_OK)
        return rc;
    rc = evlog_batch_fill(r->batch, txn, atomic_load(&r->position),
                          CHUNK_EVENTS, CHUNK_BYTES, r->prefix);
    evlog_txn_abort(txn);
    return rc;
}

/* Hands the chunk to the handler in order. The position moves past events
 * the prefix skipped only once every copied event before them is done. */
static void run_chunk(struct sub_runner *r)
{
    struct chatd_event ev;
    size_t n = evlog_batch_count(r->batch);

    for (size_t i = 0; i < n; i++) {
        if (is_stopping(r) || evlog_batch_event(r->batch, i, &ev) != CHATD_OK)
            return;
        if (!handle_one(r, &ev))
            return;
        atomic_store(&r->position, ev.seq);
        if (persist_due(r, core_mono_ns()))
            persist_async(r);
    }
    if (evlog_batch_last_seq(r->batch) > atomic_load(&r->position))
        atomic_store(&r->position, evlog_batch_last_seq(r->batch));
}

static void *runner_main(void *arg)
{
    struct sub_runner *r = arg;
    int rc;

    while (!is_stopping(r)) {
        if (persist_due(r, core_mono_ns()))
            persist_async(r);
        if (evlog_last_seq(r->log) <= atomic_load(&r->position)) {
            idle_flush(r);
            wait_for_work(r);
            continue;
        }
        rc = read_chunk(r);
        if (rc != CHATD_OK) {
            core_log(CORE_LOG_ERROR, "bus",
                     "subscriber %s: cannot read the log after %llu (%s); "
                     "retrying in %d ms", r->name,
                     (unsigned long long)atomic_load(&r->position),
                     core_strerror(rc), BACKOFF_MAX_MS);
            sleep_unless_stopped(r, (uint64_t)BACKOFF_MAX_MS * 1000000u);
            continue;
        }
        run_chunk(r);
    }
    /* Stopping: make what was handled durable before stop persists it. */
    uint64_t pos = atomic_load(&r->position);
    if (pos > atomic_load(&r->persisted) && !flushed(r, pos))
        pos = 0;
    r->final_pos = pos;
    return NULL;
}

/* --- life cycle --- */

static int load_checkpoint(struct sub_runner *r)
{
    struct evlog_txn *txn;
    uint64_t pos = 0;
    int rc = evlog_txn_begin(r->log, false, &txn);

    if (rc != CHATD_OK)
        return rc;
    rc = evlog_meta_get_u64(txn, r->ckpt_key, &pos);
    evlog_txn_abort(txn);
    if (rc == CHATD_ENOTFOUND)
        rc = CHATD_OK;
    if (rc != CHATD_OK)
        return rc;
    if (pos > evlog_last_seq(r->log))
        core_log(CORE_LOG_WARN, "bus",
                 "subscriber %s: checkpoint %llu is past the end of the "
                 "log (%llu); was an older backup restored?", r->name,
                 (unsigned long long)pos,
                 (unsigned long long)evlog_last_seq(r->log));
    atomic_store(&r->position, pos);
    atomic_store(&r->persisted, pos);
    return CHATD_OK;
}

static void runner_free(struct sub_runner *r)
{
    evlog_batch_free(r->batch);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r->ckpt_key);
    free(r->prefix);
    free(r->name);
    free(r);
}

static int runner_new(struct sub_runner **out, struct evlog *log,
                      struct commit *c, const struct sub_spec *spec)
{
    struct sub_runner *r = calloc(1, sizeof *r);
    pthread_condattr_t ca;

    if (!r)
        return CHATD_ENOMEM;
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = r;
    r->log = log;
    r->commit = c;
    r->handle = spec->handle;
    r->flush = spec->flush;
    r->persist_every_ns = spec->persist_every_ms
                              ? (uint64_t)spec->persist_every_ms * 1000000u
                              : PERSIST_EVERY_NS;
    r->persist_wait_ns = r->persist_every_ns;
    r->ctx = spec->ctx;
    r->persist_job = (struct commit_job){.run = persist_run,
                                         .done = persist_done, .arg = r};
    r->name = strdup(spec->name);
    r->prefix = spec->prefix ? strdup(spec->prefix) : NULL;
    if (!r->name || (spec->prefix && !r->prefix) ||
        asprintf(&r->ckpt_key, "ckpt:%s", spec->name) < 0) {
        r->ckpt_key = NULL;
        return CHATD_ENOMEM;
    }
    return evlog_batch_new(&r->batch);
}

int sub_runner_start(struct sub_runner **out, struct evlog *log,
                     struct commit *c, const struct sub_spec *spec)
{
    struct sub_runner *r = NULL;
    sigset_t all, old;
    int rc;

    if (!out || !log || !c || !spec || !spec->handle || !spec->name ||
        !spec->name[0] || strlen(spec->name) > EVLOG_KEY_MAX - 5)
        return CHATD_EINVAL;
    rc = runner_new(&r, log, c, spec);
    if (rc == CHATD_OK)
        rc = load_checkpoint(r);
    if (rc != CHATD_OK)
        goto out_free_runner;
    /* Signals belong to the main loop, not to subscriber threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&r->thread, NULL, runner_main, r) == 0 ? CHATD_OK
                                                               : CHATD_EIO;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != CHATD_OK)
        goto out_free_runner;
    *out = r;
    return CHATD_OK;

out_free_runner:
    if (r)
        runner_free(r);
    return rc;
}

void sub_runner_notify(struct sub_runner *r, uint64_t last)
{
    pthread_mutex_lock(&r->mu);
    if (last > r->notified) {
        r->notified = last;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
}

uint64_t sub_runner_position(const struct sub_runner *r)
{
    return atomic_load(&r->position);
}

uint64_t sub_runner_persisted(const struct sub_runner *r)
{
    return atomic_load(&r->persisted);
}

const char *sub_runner_name(const struct sub_runner *r)
{
    return r->name;
}

/* The final checkpoint is written synchronously: once stop returns, a
 * restart resumes exactly after the last event the handler accepted. */
void sub_runner_stop(struct sub_runner *r)
{
    uint64_t pos;
    int rc;

    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);

    pthread_mutex_lock(&r->mu); /* persist_job is ours again after this */
    while (r->persist_busy)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    pos = r->final_pos; /* joined: flushed up to here, or 0 */
    if (pos > atomic_load(&r->persisted)) {
        r->persist_val = pos;
        r->persist_job.done = NULL; /* commit_run waits itself */
        rc = commit_run(r->commit, &r->persist_job);
        if (rc == CHATD_OK)
            atomic_store(&r->persisted, pos);
        else
            core_log(CORE_LOG_ERROR, "bus",
                     "subscriber %s: final checkpoint %llu not saved (%s); "
                     "events after the previous one will be handled again",
                     r->name, (unsigned long long)pos, core_strerror(rc));
    }
    runner_free(r);
}
