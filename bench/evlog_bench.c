/*
 * evlog_bench — what the storage core costs on this disk.
 *
 *   (a) synced appends/s and commit latency through the commit writer, at
 *       batch sizes 1, 8 and 64 (commit max_batch), with N submitter
 *       threads keeping enough jobs in flight to fill the batches;
 *   (b) replay events/s over a log of E events (decode only; into the same
 *       environment with a projection; into a scratch environment);
 *   (c) the plain-file floor: write(2) of 200-byte records + fdatasync at
 *       batch 1, 8 and 64, appending (the file grows, so every sync also
 *       commits the size change) and overwriting a preallocated file.
 *
 * Usage: evlog_bench [-d DIR] [-s SECONDS] [-t THREADS] [-e EVENTS]
 *   DIR      parent of the scratch directories (default $TMPDIR or /tmp);
 *            everything made there is removed at the end
 *   SECONDS  per measurement of (a) and (c), default 2
 *   THREADS  submitter threads for (a), default 16
 *   EVENTS   log length for (b), default 100000
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/replay.h"
#include "commit/commit.h"
#include "core/core.h"
#include "evlog/evlog.h"

#define RECORD 200

struct args {
    const char *parent;
    double seconds;
    unsigned threads;
    unsigned long events;
};

static char payload[RECORD];

static void die(const char *what, int rc)
{
    fprintf(stderr, "evlog_bench: %s: %s\n", what, core_strerror(rc));
    exit(1);
}

static char *scratch_dir(const struct args *a, const char *tag)
{
    char *p = NULL;

    if (asprintf(&p, "%s/evlog-bench-%s-XXXXXX", a->parent, tag) < 0 ||
        !mkdtemp(p)) {
        perror("evlog_bench: mkdtemp");
        exit(1);
    }
    return p;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb, (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_dir(char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

static struct evlog *open_log(const char *dir, bool nosync)
{
    struct evlog *log;
    char err[256] = "";
    struct evlog_options opt = {.dir = dir, .nosync = nosync, .err = err,
                                .err_size = sizeof err};
    int rc = evlog_open(&log, &opt);

    if (rc != CHATD_OK)
        die(err[0] ? err : "evlog_open", rc);
    return log;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------ */
/* (a) group commit                                                    */
/* ------------------------------------------------------------------ */

struct bjob {
    struct commit_job cj;
    struct submitter *s;
    uint64_t t0;
    bool idle;
};

struct submitter {
    struct commit *c;
    uint64_t deadline;
    unsigned window;
    struct bjob *jobs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned idle;
    uint64_t *lat; /* end-to-end ns, one per completed job */
    size_t nlat, caplat;
    unsigned long errors;
};

static int bjob_run(void *arg, struct evlog_txn *txn)
{
    struct chatd_event ev = {.type = "bench.thing_happened",
                             .stream = "bench:1",
                             .correlation_id = "bench",
                             .actor = "bench",
                             .data = payload,
                             .data_len = RECORD - 1};

    return evlog_append(txn, &ev, CHATD_ANY_VERSION, NULL);
}

static void bjob_done(void *arg, int status)
{
    struct bjob *j = arg;
    struct submitter *s = j->s;
    uint64_t ns = core_mono_ns() - j->t0;

    pthread_mutex_lock(&s->mu);
    if (status != CHATD_OK)
        s->errors++;
    if (s->nlat < s->caplat)
        s->lat[s->nlat++] = ns;
    j->idle = true;
    s->idle++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void submit_idle(struct submitter *s)
{
    for (unsigned i = 0; i < s->window; i++) {
        struct bjob *j = &s->jobs[i];

        if (!j->idle)
            continue;
        j->idle = false;
        s->idle--;
        j->t0 = core_mono_ns();
        pthread_mutex_unlock(&s->mu);
        int rc = commit_submit(s->c, &j->cj);
        pthread_mutex_lock(&s->mu);
        if (rc != CHATD_OK) {
            s->errors++;
            j->idle = true;
            s->idle++;
        }
    }
}

static void *submitter_main(void *arg)
{
    struct submitter *s = arg;

    pthread_mutex_lock(&s->mu);
    while (core_mono_ns() < s->deadline) {
        submit_idle(s);
        while (s->idle == 0)
            pthread_cond_wait(&s->cv, &s->mu);
    }
    while (s->idle < s->window) /* let the jobs in flight finish */
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void submitter_init(struct submitter *s, struct commit *c,
                           unsigned window, uint64_t deadline,
                           size_t caplat)
{
    memset(s, 0, sizeof *s);
    s->c = c;
    s->window = window;
    s->deadline = deadline;
    s->jobs = calloc(window, sizeof *s->jobs);
    s->caplat = caplat;
    s->lat = calloc(caplat, sizeof *s->lat);
    if (!s->jobs || !s->lat)
        die("calloc", CHATD_ENOMEM);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    for (unsigned i = 0; i < window; i++)
        s->jobs[i] = (struct bjob){.cj = {.run = bjob_run,
                                          .done = bjob_done,
                                          .arg = &s->jobs[i]},
                                   .s = s, .idle = true};
    s->idle = window;
}

/* Upper bound of the histogram bucket that holds quantile q. */
static double hist_quantile(const struct commit_stats *st, double q)
{
    uint64_t want = (uint64_t)((double)st->batches * q + 0.5), sum = 0;

    for (unsigned i = 0; i < 12; i++) {
        sum += st->commit_hist[i];
        if (sum >= want && sum)
            return commit_bucket_le(i) * 1e3;
    }
    return commit_bucket_le(11);
}

static void gather_latencies(struct submitter *subs, unsigned n,
                             double *p50, double *p99)
{
    size_t total = 0, k = 0;

    for (unsigned i = 0; i < n; i++)
        total += subs[i].nlat;
    uint64_t *all = malloc((total ? total : 1) * sizeof *all);
    for (unsigned i = 0; i < n; i++)
        for (size_t j = 0; j < subs[i].nlat; j++)
            all[k++] = subs[i].lat[j];
    qsort(all, total, sizeof *all, cmp_u64);
    *p50 = total ? (double)all[total / 2] / 1e6 : 0;
    *p99 = total ? (double)all[total * 99 / 100] / 1e6 : 0;
    free(all);
}

static void bench_group(const struct args *a, unsigned batch)
{
    char *dir = scratch_dir(a, "commit");
    struct evlog *log = open_log(dir, false);
    struct commit *c;
    struct commit_options opt = {.max_batch = batch};
    struct commit_stats st;
    unsigned n = a->threads;
    unsigned window = (2 * batch + n - 1) / n; /* 2 batches in flight */
    struct submitter *subs = calloc(n, sizeof *subs);
    pthread_t *th = calloc(n, sizeof *th);
    uint64_t t0 = core_mono_ns();
    uint64_t deadline = t0 + (uint64_t)(a->seconds * 1e9);
    unsigned long errors = 0;
    double p50, p99, secs;
    int rc = commit_open(&c, log, &opt, NULL);

    if (rc != CHATD_OK)
        die("commit_open", rc);
    for (unsigned i = 0; i < n; i++) {
        submitter_init(&subs[i], c, window ? window : 1, deadline, 1 << 20);
        pthread_create(&th[i], NULL, submitter_main, &subs[i]);
    }
    for (unsigned i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    secs = (double)(core_mono_ns() - t0) / 1e9;
    commit_stats_get(c, &st);
    commit_close(c);
    gather_latencies(subs, n, &p50, &p99);
    for (unsigned i = 0; i < n; i++) {
        errors += subs[i].errors;
        free(subs[i].jobs);
        free(subs[i].lat);
        pthread_cond_destroy(&subs[i].cv);
        pthread_mutex_destroy(&subs[i].mu);
    }
    printf("%5u %7u %11.0f %10.0f %9.1f %10.3f %9.2f %10.3f %10.3f %6lu\n",
           batch, n * (window ? window : 1), (double)st.events / secs,
           (double)st.batches / secs,
           st.batches ? (double)st.jobs / (double)st.batches : 0,
           st.batches ? (double)st.commit_ns_sum / (double)st.batches / 1e6
                      : 0,
           hist_quantile(&st, 0.99), p50, p99, errors);
    free(subs);
    free(th);
    evlog_close(log);
    remove_dir(dir);
}

/* ------------------------------------------------------------------ */
/* (b) replay                                                          */
/* ------------------------------------------------------------------ */

static void build_log(struct evlog *log, unsigned long events)
{
    char stream[32];
    struct evlog_txn *txn = NULL;
    int rc = CHATD_OK;

    for (unsigned long i = 0; i < events && rc == CHATD_OK; i++) {
        if (i % 1000 == 0 && (rc = evlog_txn_begin(log, true, &txn)))
            break;
        snprintf(stream, sizeof stream, "room:%lu", i % 1000);
        struct chatd_event ev = {.type = "bench.thing_happened",
                                 .stream = stream, .actor = "bench",
                                 .data = payload, .data_len = 120};
        rc = evlog_append(txn, &ev, CHATD_ANY_VERSION, NULL);
        if (rc == CHATD_OK && (i % 1000 == 999 || i + 1 == events))
            rc = evlog_txn_commit(txn);
    }
    if (rc != CHATD_OK)
        die("building the log", rc);
}

static int count_fn(void *arg, const struct chatd_event *ev)
{
    (*(uint64_t *)arg) += ev->data_len;
    return 0;
}

/* A typical projection: one get and one put per event. */
static int project(void *ctx, struct evlog_txn *txn,
                   const struct chatd_event *ev)
{
    struct evlog_store *st = ctx;
    unsigned char buf[8] = {0};
    struct chatd_val v;

    if (ev == NULL)
        return CHATD_OK; /* a chunk's end: nothing deferred */
    size_t len = strlen(ev->stream);

    if (evlog_get_kv(txn, st, ev->stream, len, &v) == CHATD_OK && v.len == 8)
        memcpy(buf, v.data, 8);
    buf[7]++;
    return evlog_put_kv(txn, st, ev->stream, len, buf, 8);
}

static double rate(unsigned long n, uint64_t t0)
{
    return (double)n / ((double)(core_mono_ns() - t0) / 1e9);
}

static void bench_replay(const struct args *a)
{
    char *dir = scratch_dir(a, "replay"), *dir2 = scratch_dir(a, "scratch");
    struct evlog *log = open_log(dir, true), *log2;
    struct evlog_store *st, *st2;
    struct evlog_txn *txn;
    uint64_t n = 0, sum = 0, t0 = core_mono_ns();
    int rc;

    build_log(log, a->events);
    printf("(b) replay of %lu events (built at %.0f appends/s, nosync, "
           "1000 per txn)\n", a->events, rate(a->events, t0));
    t0 = core_mono_ns();
    rc = evlog_txn_begin(log, false, &txn);
    if (rc == CHATD_OK)
        rc = evlog_scan(txn, 0, 0, count_fn, &sum);
    evlog_txn_abort(txn);
    if (rc != CHATD_OK)
        die("scan", rc);
    printf("    scan+decode only         %12.0f events/s\n",
           rate(a->events, t0));
    if ((rc = evlog_store_open(log, "bench", "counts", &st)) != CHATD_OK)
        die("store", rc);
    t0 = core_mono_ns();
    if ((rc = replay_run(log, log, 0, 0, project, st, &n)) != CHATD_OK)
        die("replay", rc);
    printf("    replay into same env     %12.0f events/s (get+put each)\n",
           rate(n, t0));
    log2 = open_log(dir2, true);
    if ((rc = evlog_store_open(log2, "bench", "counts", &st2)) != CHATD_OK)
        die("store", rc);
    t0 = core_mono_ns();
    if ((rc = replay_run(log, log2, 0, 0, project, st2, &n)) != CHATD_OK)
        die("replay", rc);
    printf("    replay into scratch env  %12.0f events/s (get+put each)\n",
           rate(n, t0));
    evlog_close(log2);
    evlog_close(log);
    remove_dir(dir2);
    remove_dir(dir);
}

/* ------------------------------------------------------------------ */
/* (c) the fdatasync floor                                             */
/* ------------------------------------------------------------------ */

#define PREALLOC ((off_t)16 << 20)

static int open_records(const char *path, bool prealloc)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC |
                            (prealloc ? 0 : O_APPEND), 0600);

    if (fd < 0 || !prealloc)
        return fd;
    /* Written, not fallocate()d: writes into unwritten extents would
     * make every sync commit an extent conversion, the case we avoid. */
    static const char zero[1 << 16];
    for (off_t at = 0; at < PREALLOC; at += (off_t)sizeof zero) {
        if (write(fd, zero, sizeof zero) != (ssize_t)sizeof zero) {
            close(fd);
            return -1;
        }
    }
    if (fsync(fd) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void write_records(int fd, unsigned batch, bool prealloc,
                          uint64_t *records)
{
    for (unsigned i = 0; i < batch; i++) {
        off_t at = (off_t)((*records + i) * RECORD % (uint64_t)PREALLOC);
        ssize_t w = prealloc ? pwrite(fd, payload, RECORD, at)
                             : write(fd, payload, RECORD);
        if (w != RECORD)
            die("write", CHATD_EIO);
    }
    *records += batch;
}

static void bench_fsync(const struct args *a, unsigned batch, bool prealloc)
{
    char *dir = scratch_dir(a, "fsync"), path[4200];
    size_t cap = 1 << 20, n = 0;
    uint64_t *lat = malloc(cap * sizeof *lat), records = 0;
    uint64_t t0, end;
    int fd;

    snprintf(path, sizeof path, "%s/records", dir);
    fd = open_records(path, prealloc);
    if (fd < 0 || !lat) {
        perror("evlog_bench: open");
        exit(1);
    }
    t0 = core_mono_ns(); /* after the preallocation */
    end = t0 + (uint64_t)(a->seconds * 1e9);
    while (core_mono_ns() < end) {
        write_records(fd, batch, prealloc, &records);
        uint64_t f0 = core_mono_ns();
        if (fdatasync(fd) != 0)
            die("fdatasync", CHATD_EIO);
        if (n < cap)
            lat[n++] = core_mono_ns() - f0;
    }
    double secs = (double)(core_mono_ns() - t0) / 1e9;
    qsort(lat, n, sizeof *lat, cmp_u64);
    printf("%-9s %5u %11.0f %10.0f %10.3f %10.3f\n",
           prealloc ? "overwrite" : "append", batch,
           (double)records / secs, (double)n / secs,
           (double)lat[n / 2] / 1e6, (double)lat[n * 99 / 100] / 1e6);
    close(fd);
    free(lat);
    remove_dir(dir);
}

/* ------------------------------------------------------------------ */

static void parse_args(int argc, char **argv, struct args *a)
{
    const char *tmp = getenv("TMPDIR");
    int opt;

    *a = (struct args){tmp && tmp[0] ? tmp : "/tmp", 2.0, 16, 100000};
    while ((opt = getopt(argc, argv, "d:s:t:e:h")) != -1) {
        switch (opt) {
        case 'd': a->parent = optarg; break;
        case 's': a->seconds = atof(optarg); break;
        case 't': a->threads = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'e': a->events = strtoul(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: evlog_bench [-d DIR] [-s SECONDS] "
                            "[-t THREADS] [-e EVENTS]\n");
            exit(opt == 'h' ? 0 : 2);
        }
    }
    if (a->seconds <= 0 || a->seconds > 600 || a->threads < 1 ||
        a->threads > 256 || a->events < 1 || a->events > 100000000) {
        fprintf(stderr, "evlog_bench: SECONDS 0..600, THREADS 1..256, "
                        "EVENTS 1..1e8\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    static const unsigned batches[] = {1, 8, 64};
    struct args a;

    parse_args(argc, argv, &a);
    memset(payload, 'x', sizeof payload);
    payload[0] = '{', payload[RECORD - 2] = '}', payload[RECORD - 1] = '\0';
    core_log_set_level(CORE_LOG_WARN);

    printf("(a) group commit, synced, %u submitter threads, %.1f s each, "
           "%d-byte events\n", a.threads, a.seconds, RECORD - 1);
    printf("batch inflight   appends/s  commits/s avg batch "
           "commit ms  p99 le ms    e2e p50    e2e p99 errors\n");
    for (unsigned i = 0; i < 3; i++)
        bench_group(&a, batches[i]);
    printf("\n");
    bench_replay(&a);
    printf("\n(c) plain file: write(2) %d-byte records + fdatasync, "
           "%.1f s each\n", RECORD, a.seconds);
    printf("mode      batch   records/s   fsyncs/s    p50 ms     p99 ms\n");
    for (unsigned i = 0; i < 6; i++)
        bench_fsync(&a, batches[i % 3], i >= 3);
    return 0;
}
