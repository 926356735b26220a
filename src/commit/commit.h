/*
 * commit — the writer thread and group commit.
 *
 * Jobs submitted from any thread are queued; the writer takes everything
 * pending, runs each job in its own child transaction of one write
 * transaction, commits that transaction once (synced to disk unless the
 * log was opened nosync), and only then calls every job's `done`. So many
 * concurrent writes share one fsync, and nobody hears "done" before their
 * events are durable.
 */
#ifndef COMMIT_COMMIT_H
#define COMMIT_COMMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "evlog/evlog.h"

struct commit;

/*
 * One unit of work. The submitter owns the memory; it must stay valid until
 * `done` has been called, and `done` is called exactly once (if
 * commit_submit returned CHATD_OK).
 *
 * run: on the writer thread, inside a child transaction. Return CHATD_OK to
 *   keep its writes, anything else to discard them (the child is aborted;
 *   the rest of the batch is unaffected). run may be called more than
 *   once before `done`: when a job fails after writing to the read models
 *   (which a child cannot undo, evlog.h), the batch is redone without it,
 *   so the other jobs of the batch run again. Only the last run counts;
 *   run must therefore depend only on its arg and the transaction.
 * done: on the writer thread, after the batch's commit. `status` is run's
 *   result if it was not CHATD_OK, else the commit's result (CHATD_OK when
 *   durable, CHATD_EIO/CHATD_EFULL if the commit failed and everything in
 *   the batch was lost, or before_commit's error). Must not block;
 *   typically wakes the submitter. `done` may free the job: commit does
 *   not touch it afterwards. It must not call commit_run or commit_close
 *   (it runs on the writer); commit_submit is fine.
 */
struct commit_job {
    int (*run)(void *arg, struct evlog_txn *txn);
    void (*done)(void *arg, int status);
    void *arg;
    struct commit_job *next; /* private to commit */
    int status;              /* private to commit (added): run's result */
    bool dropped;            /* private to commit (added): left out of the
                                batch's redo after failing */
};

struct commit_hooks {
    /* On the writer thread, before each top-level write transaction of a
     * batch begins (again when a batch is redone). May be NULL. */
    void (*before_batch)(void *ctx);
    /* On the writer thread, inside the top-level write transaction just
     * before it commits (after all jobs ran); e.g. persist checkpoints.
     * An error fails the whole batch. May be NULL. */
    int (*before_commit)(void *ctx, struct evlog_txn *txn);
    /* On the writer thread after a durable commit that appended events
     * first..last (inclusive), before the jobs' done. Must not block.
     * May be NULL. */
    void (*after_commit)(void *ctx, uint64_t first, uint64_t last);
    void *ctx;
};

struct commit_options {
    unsigned max_queue; /* jobs waiting; beyond it submit fails EFULL.
                           0 = default 65536 */
    unsigned max_batch; /* jobs per transaction; 0 = default 1024 */
};

/* Starts the writer thread on `log` (which must outlive the commit and
 * must not be written by anyone else meanwhile). opt and hooks may be
 * NULL; both are copied. The writer starts with every signal blocked, so
 * signals go to the other threads. CHATD_ENOMEM / CHATD_EIO if the thread
 * cannot start. */
int commit_open(struct commit **out, struct evlog *log,
                const struct commit_options *opt,
                const struct commit_hooks *hooks);
/* Any thread. CHATD_EFULL when the queue is full, CHATD_ECLOSED after
 * commit_close began. On error `done` is never called. */
int commit_submit(struct commit *c, struct commit_job *job);
/* Any thread but the writer: submit and wait for done; returns its status.
 * `job->done` may be NULL here (if not, it is called first, as usual).
 * CHATD_ESTATE on the writer thread, else commit_submit's errors. */
int commit_run(struct commit *c, struct commit_job *job);
/* Stops accepting, runs and completes everything queued, joins the thread,
 * frees. Not from the writer thread (a done callback). NULL is a no-op. */
void commit_close(struct commit *c);

/* Counters for /metrics; any thread (relaxed atomics). */
struct commit_stats {
    uint64_t batches;        /* top-level commits */
    uint64_t jobs;           /* jobs completed */
    uint64_t jobs_failed;    /* run returned an error */
    uint64_t events;         /* events appended and committed */
    /* batches counts every top-level commit attempted; failures are in
     * batches_failed (added). */
    uint64_t commit_ns_sum;  /* time in mdb_txn_commit (incl. fsync) */
    uint64_t commit_hist[12];/* commit latency buckets, see commit_bucket_le;
                                per bucket, not cumulative: hist[i] counts
                                commits slower than le(i-1), up to le(i) */
    uint64_t queue_depth;    /* jobs waiting now */
    uint64_t batches_failed; /* added: top-level commits that failed */
    uint64_t batches_redone; /* added: batches run again without a job
                                that failed after writing */
    uint64_t batches_full;   /* added: batches refused or not committed
                                because storage was full (CHATD_EFULL at
                                begin or commit); also in batches_failed */
};
void commit_stats_get(const struct commit *c, struct commit_stats *out);
/* Upper bound in seconds of commit_hist bucket i (last one = +Inf):
 * 0.0001 0.00025 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 +Inf.
 * An i past the last gives +Inf. */
double commit_bucket_le(unsigned i);

#endif /* COMMIT_COMMIT_H */
