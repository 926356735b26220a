/*
 * The analytics module against the fake host of tests/sdk (registration,
 * the daily projection and route, the export through the subscriber),
 * and the exporter alone over real files with events of chosen times:
 * hourly partitions, the size limit, and a crash (a child process that
 * exits without a word, like kill -9) followed by redelivery, with and
 * without losing the unsynced tail: every event exactly once, and the
 * same objects either way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>

#include "../../../tests/unit/evlog/testdir.h"
#include "export.h"
#include "fake_host.h"
#include "flat.h"

const struct chatd_module_info *chatd_module_info(void);

/* --- reading the export tree back --- */

#define MAXSEQ 4096

static struct {
    int count[MAXSEQ];
    int objects;
    char bad[512]; /* first inconsistency found */
    int64_t (*time_of)(uint64_t seq);
    const char *root;
} rd;

static void bad(const char *fmt, ...)
{
    va_list ap;

    if (rd.bad[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(rd.bad, sizeof(rd.bad), fmt, ap);
    va_end(ap);
}

static int read_one(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    char line[65536], want_dir[1024], part[AN_PARTITION_MAX], fam[80];
    unsigned long long first, last, prev = 0, n_first = 0;
    const char *base = path + ftw->base;
    gzFile gz;

    (void)sb;
    if (flag != FTW_F || strstr(path, "/.staging/") != NULL)
        return 0;
    if (sscanf(base, "part-%20llu-%20llu.ndjson.gz", &first, &last) != 2) {
        bad("unexpected file %s", path);
        return 0;
    }
    rd.objects++;
    gz = gzopen(path, "rb");
    assert_non_null(gz);
    while (gzgets(gz, line, sizeof(line)) != NULL) {
        unsigned long long seq;
        char type[80];
        assert_int_equal(sscanf(line, "{\"seq\":%llu,", &seq), 1);
        assert_non_null(strchr(line, '\n'));
        if (seq >= MAXSEQ)
            bad("seq %llu out of range", seq);
        else
            rd.count[seq]++;
        if (n_first++ == 0 && seq != first)
            bad("%s starts with %llu", path, seq);
        if (seq <= prev)
            bad("%s: %llu after %llu", path, seq, prev);
        prev = seq;
        const char *t = strstr(line, "\"type\":\"");
        assert_non_null(t);
        sscanf(t + 8, "%79[^\"]", type);
        assert_true(an_family(type, fam));
        if (rd.time_of != NULL) {
            an_partition(an_hour_of(rd.time_of(seq)), part);
            snprintf(want_dir, sizeof(want_dir), "%s/%s/%s/", rd.root, fam,
                     part);
            if (strncmp(path, want_dir, strlen(want_dir)) != 0)
                bad("seq %llu in %s, expected under %s", seq, path,
                    want_dir);
        }
    }
    gzclose(gz);
    if (prev != last)
        bad("%s ends with %llu", path, prev);
    return 0;
}

static void read_tree(const char *root, int64_t (*time_of)(uint64_t))
{
    memset(&rd, 0, sizeof(rd));
    rd.time_of = time_of;
    rd.root = root;
    nftw(root, read_one, 16, FTW_PHYS);
    if (rd.bad[0] != '\0')
        print_error("%s\n", rd.bad);
    assert_true(rd.bad[0] == '\0');
}

static void assert_exactly_once(uint64_t first, uint64_t last)
{
    for (uint64_t s = first; s <= last; s++) {
        if (rd.count[s] != 1)
            print_error("seq %" PRIu64 " exported %d times\n", s,
                        rd.count[s]);
        assert_int_equal(rd.count[s], 1);
    }
    for (uint64_t s = last + 1; s < MAXSEQ; s++)
        assert_int_equal(rd.count[s], 0);
}

/* --- the module against the fake host --- */

static uint64_t ev(struct fake_host *fh, const char *type, const char *stream,
                   const char *data)
{
    uint64_t seq = fake_host_event(fh, type, 1, stream, data);

    assert_true(seq > 0);
    return seq;
}

static void test_registration(void **state)
{
    struct fake_host *fh;
    struct fake_counts n;

    (void)state;
    assert_int_equal(fake_host_init(&fh, chatd_module_info(), NULL),
                     CHATD_OK);
    n = fake_host_counts(fh);
    assert_int_equal(n.subscribers, 1);
    assert_int_equal(n.routes, 1);
    assert_int_equal(n.projections, 1);
    assert_int_equal(n.stores, 1);
    assert_int_equal(n.metrics, 7);
    assert_int_equal(n.event_types, 0);
    fake_host_free(fh);

    /* export off: no subscriber, stats still there */
    const struct fake_setting off[] = {{"export", "false"}, {NULL, NULL}};
    assert_int_equal(fake_host_init(&fh, chatd_module_info(), off),
                     CHATD_OK);
    assert_int_equal(fake_host_counts(fh).subscribers, 0);
    assert_int_equal(fake_host_counts(fh).routes, 1);
    fake_host_free(fh);

    const struct fake_setting tiny[] = {{"object_max_bytes", "10"},
                                        {NULL, NULL}};
    assert_int_not_equal(fake_host_init(&fh, chatd_module_info(), tiny),
                         CHATD_OK);
    fake_host_free(fh);

    const char *const levels[] = {"0", "10", "fast"};
    for (size_t i = 0; i < 3; i++) {
        const struct fake_setting lvl[] = {{"gzip_level", levels[i]},
                                           {NULL, NULL}};
        assert_int_not_equal(fake_host_init(&fh, chatd_module_info(), lvl),
                             CHATD_OK);
        fake_host_free(fh);
    }
    const struct fake_setting ok[] = {{"gzip_level", "9"}, {NULL, NULL}};
    assert_int_equal(fake_host_init(&fh, chatd_module_info(), ok), CHATD_OK);
    fake_host_free(fh);
}

static void get(struct fake_host *fh, const char *path, unsigned status,
                struct fake_response *r)
{
    assert_int_equal(fake_host_request(fh, "GET", path,
                                       CHATD_PRINCIPAL_ADMIN, NULL, r),
                     CHATD_OK);
    if (r->status != status)
        print_error("%s: %u %s\n", path, r->status, r->body);
    assert_int_equal(r->status, status);
}

/* The fake host's events are all at 2023-11-14T22:13:20Z (+1 ms each). */
static void test_daily_stats(void **state)
{
    struct fake_host *fh;
    struct fake_response r;

    (void)state;
    assert_int_equal(fake_host_init(&fh, chatd_module_info(), NULL),
                     CHATD_OK);
    ev(fh, "identity.user_created", "user:u_1",
       "{\"id\":\"u_1\",\"name\":\"A\",\"kind\":\"user\"}");
    ev(fh, "identity.user_created", "user:u_2",
       "{\"id\":\"u_2\",\"name\":\"B\",\"kind\":\"user\"}");
    ev(fh, "identity.token_issued", "user:u_1", "{\"user_id\":\"u_1\"}");
    ev(fh, "chat.room_created", "room:r_1", "{\"room\":\"r_1\"}");
    for (int i = 0; i < 3; i++)
        ev(fh, "chat.message_posted", "room:r_1",
           "{\"room\":\"r_1\",\"sender\":\"u_1\",\"kind\":\"text\"}");
    ev(fh, "chat.message_posted", "room:r_1",
       "{\"room\":\"r_1\",\"sender\":\"u_2\",\"kind\":\"text\"}");
    ev(fh, "chat.message_posted", "room:r_1",
       "{\"room\":\"r_1\",\"sender\":null,\"kind\":\"system\"}");
    ev(fh, "chat.message_posted", "room:r_1",
       "{\"room\":\"r_1\",\"sender\":\"u_1\",\"kind\":\"payment\"}");
    ev(fh, "payment_notice.transfer_completed", "transfer:t_1",
       "{\"id\":\"t_1\",\"amount\":500}");
    ev(fh, "payment_notice.transfer_completed", "transfer:t_2",
       "{\"id\":\"t_2\",\"amount\":250}");
    ev(fh, "payment_notice.transfer_refunded", "transfer:t_1",
       "{\"id\":\"t_1\",\"amount\":500}");

    get(fh, "/v1/stats/daily?from=2023-11-13&to=2023-11-15", 200, &r);
    assert_string_equal(
        r.body,
        "{\"from\":\"2023-11-13\",\"to\":\"2023-11-15\",\"days\":["
        "{\"date\":\"2023-11-13\",\"messages_posted\":0,\"active_senders\":0,"
        "\"rooms_created\":0,\"users_created\":0,\"transfers\":0,"
        "\"transfer_amount\":0,\"refunds\":0},"
        "{\"date\":\"2023-11-14\",\"messages_posted\":4,\"active_senders\":2,"
        "\"rooms_created\":1,\"users_created\":2,\"transfers\":2,"
        "\"transfer_amount\":750,\"refunds\":1},"
        "{\"date\":\"2023-11-15\",\"messages_posted\":0,\"active_senders\":0,"
        "\"rooms_created\":0,\"users_created\":0,\"transfers\":0,"
        "\"transfer_amount\":0,\"refunds\":0}]}");
    fake_response_free(&r);

    get(fh, "/v1/stats/daily?from=2023-11-14&to=2023-11-14", 200, &r);
    assert_non_null(strstr(r.body, "\"messages_posted\":4"));
    fake_response_free(&r);
    get(fh, "/v1/stats/daily?from=2023-01-01&to=2024-01-01", 200, &r);
    fake_response_free(&r); /* 366 days */

    const char *bad[] = {
        "/v1/stats/daily", "/v1/stats/daily?from=2023-11-14",
        "/v1/stats/daily?to=2023-11-14",
        "/v1/stats/daily?from=2023-02-29&to=2023-03-01",
        "/v1/stats/daily?from=2023-11-14&to=14-11-2023",
        "/v1/stats/daily?from=2023-11-15&to=2023-11-14",
        "/v1/stats/daily?from=2023-01-01&to=2024-01-02",
        "/v1/stats/daily?from=&to="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        get(fh, bad[i], 400, &r);
        assert_non_null(strstr(r.body, "invalid_argument"));
        fake_response_free(&r);
    }
    fake_host_free(fh);
}

static void test_export_through_the_module(void **state)
{
    struct fake_host *fh;
    char *dir = testdir_make(), root[4200];
    uint64_t last = 0;

    (void)state;
    assert_int_equal(fake_host_init(&fh, chatd_module_info(), NULL),
                     CHATD_OK);
    fake_host_set_data_dir(fh, dir);
    for (int i = 0; i < 30; i++) {
        last = ev(fh, i % 3 ? "chat.message_posted" : "chat.room_created",
                  "room:r_1", "{\"room\":\"r_1\",\"m\":[1,2],\"o\":{\"k\":1}}");
        assert_int_equal(fake_host_notify(fh, last), CHATD_OK);
        if (i % 7 == 0)
            assert_int_equal(fake_host_flush(fh), CHATD_OK);
    }
    assert_int_equal(fake_host_flush(fh), CHATD_OK);
    assert_int_equal(fake_host_metric(fh, "exported_seq"), 30);
    /* delivered again (at least once): dropped by seq */
    for (uint64_t s = 20; s <= last; s++)
        assert_int_equal(fake_host_notify(fh, s), CHATD_OK);
    assert_int_equal(fake_host_metric(fh, "duplicates_total"), 11);
    assert_int_equal(fake_host_metric(fh, "records_total"), 30);
    fake_host_free(fh); /* fini seals */
    snprintf(root, sizeof(root), "%s/export", dir);
    read_tree(root, NULL);
    assert_exactly_once(1, 30);
    assert_int_equal(rd.objects, 2); /* two families, one hour */
    testdir_remove(dir);
}

/* --- the exporter alone, with a minimal host and chosen times --- */

struct mini {
    struct chatd_host host;
    char dir[4096];
    int errors;
};

static struct mini mini_g;

static void mini_log(struct chatd_module *mod, enum chatd_log_level level,
                     const char *fmt, ...)
{
    (void)mod;
    (void)fmt;
    if (level >= CHATD_LOG_ERROR)
        mini_g.errors++;
}

static void mini_metric(struct chatd_metric *m, int64_t v)
{
    (void)m;
    (void)v;
}

static const char *mini_data_dir(struct chatd_module *mod)
{
    (void)mod;
    return mini_g.dir;
}

static int64_t fake_now_ms;

static int64_t fake_clock(void)
{
    return fake_now_ms;
}

static struct exporter *mini_exporter_level(const char *dir,
                                           int64_t max_bytes, int level)
{
    struct exp_metrics m = {0};
    struct exp_config cfg = {.root = NULL, .object_max_bytes = max_bytes,
                             .gzip_level = level, .clock_ms = fake_clock};
    struct exporter *ex;

    mini_g.host.log = mini_log;
    mini_g.host.metric_add = mini_metric;
    mini_g.host.metric_set = mini_metric;
    mini_g.host.data_dir = mini_data_dir;
    snprintf(mini_g.dir, sizeof(mini_g.dir), "%s", dir);
    assert_int_equal(exp_new(&ex, NULL, &mini_g.host, &cfg, &m), CHATD_OK);
    return ex;
}

static struct exporter *mini_exporter(const char *dir, int64_t max_bytes)
{
    return mini_exporter_level(dir, max_bytes, 0);
}

/* 20 events per hour, starting at 2026-11-22T19:00:00Z. */
static int64_t time_of(uint64_t seq)
{
    return 1795374000000LL + (int64_t)(seq - 1) * 180000;
}

static void give(struct exporter *ex, uint64_t seq)
{
    static const char *const types[] = {"chat.message_posted",
                                        "identity.user_created",
                                        "payment_notice.deposit_made"};
    char data[256], corr[32];
    struct chatd_event e = {.size = sizeof(e), .seq = seq,
                            .time_ms = time_of(seq), .type = types[seq % 3],
                            .v = 1, .stream = "room:r_1", .stream_ver = seq,
                            .actor = "user:u_1", .correlation_id = corr};

    snprintf(corr, sizeof(corr), "req-%" PRIu64, seq);
    snprintf(data, sizeof(data),
             "{\"n\":%" PRIu64 ",\"text\":\"%0*d\",\"a\":{\"b\":[%" PRIu64
             "]}}", seq, (int)(seq % 50), 0, seq);
    e.data = data;
    e.data_len = strlen(data);
    assert_int_equal(exp_handle(ex, &e), CHATD_OK);
}

static void test_hours_and_size_limit(void **state)
{
    char *dir = testdir_make(), root[4200];
    struct exporter *ex = mini_exporter(dir, 1024);

    (void)state;
    for (uint64_t s = 1; s <= 100; s++) {
        give(ex, s);
        if (s % 4 == 0)
            assert_int_equal(exp_flush(ex), CHATD_OK);
    }
    assert_int_equal(exp_covered(ex), 100);
    exp_free(ex);
    assert_int_equal(mini_g.errors, 0);
    snprintf(root, sizeof(root), "%s/export", dir);
    read_tree(root, time_of);
    assert_exactly_once(1, 100);
    /* 5 hours x 3 families at least, and more for the 1 KiB limit */
    assert_true(rd.objects > 15);
    testdir_remove(dir);
}

static int objects_under(const char *dir)
{
    char root[4200];

    snprintf(root, sizeof(root), "%s/export", dir);
    read_tree(root, time_of);
    return rd.objects;
}

/* A server that goes quiet: the last hour's partition is sealed by a
 * flush once no record came for EXP_QUIET_MS and its hour is over by the
 * wall clock, not only by the next event of a later hour. */
static void test_quiet_hour_sealed(void **state)
{
    char *dir = testdir_make();
    struct exporter *ex = mini_exporter(dir, 1 << 20);
    int64_t hour_end = time_of(1) - time_of(1) % AN_MS_PER_HOUR +
                       AN_MS_PER_HOUR;

    (void)state;
    for (uint64_t s = 1; s <= 10; s++) { /* one hour, 3 families */
        fake_now_ms = time_of(s) + 5;
        give(ex, s);
    }
    fake_now_ms = time_of(10) + EXP_QUIET_MS - 1; /* not quiet yet */
    assert_int_equal(exp_flush(ex), CHATD_OK);
    assert_int_equal(objects_under(dir), 0);
    fake_now_ms = time_of(10) + EXP_QUIET_MS; /* quiet, hour not over */
    assert_int_equal(exp_flush(ex), CHATD_OK);
    assert_int_equal(objects_under(dir), 0);
    fake_now_ms = hour_end; /* over: sealed */
    assert_int_equal(exp_flush(ex), CHATD_OK);
    assert_int_equal(objects_under(dir), 3);
    assert_exactly_once(1, 10);
    /* a late event of that hour (the clock stepped back) is still
     * exported once, in a new object of the same partition */
    fake_now_ms = hour_end + 1;
    give(ex, 11);
    struct chatd_event late = {.size = sizeof(late), .seq = 12,
                               .time_ms = time_of(1), .type = "chat.x",
                               .v = 1, .stream = "s", .stream_ver = 1,
                               .actor = "admin", .correlation_id = "",
                               .data = "{}", .data_len = 2};
    assert_int_equal(exp_handle(ex, &late), CHATD_OK);
    fake_now_ms = hour_end + 1 + EXP_QUIET_MS;
    assert_int_equal(exp_flush(ex), CHATD_OK);
    exp_free(ex);
    assert_int_equal(mini_g.errors, 0);
    (void)objects_under(dir);
    assert_exactly_once(1, 12);
    testdir_remove(dir);
}

/* The size of the one object under root (the test makes one). */
static off_t object_size(const char *root)
{
    char cmd[4400], out[64] = "";
    FILE *p;

    snprintf(cmd, sizeof(cmd), "find '%s' -name 'part-*.ndjson.gz' "
             "-printf '%%s\\n'", root);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, sizeof(out), p));
    assert_null(fgets(cmd, sizeof(cmd), p)); /* only one */
    pclose(p);
    return (off_t)atoll(out);
}

/* analytics.gzip_level reaches zlib: the same records (one partition)
 * make the same records at levels 1 and 9, and a smaller object at 9. */
static void test_gzip_level(void **state)
{
    char *dir[2] = {testdir_make(), testdir_make()}, root[4200];
    static const char *const words[] = {"listing", "price", "tomorrow",
                                        "station", "ok", "still", "meet",
                                        "available", "how", "much"};
    off_t size[2];
    int level[2] = {1, 9};

    (void)state;
    for (int i = 0; i < 2; i++) {
        struct exporter *ex = mini_exporter_level(dir[i], 1 << 24, level[i]);
        uint32_t r = 7;
        for (uint64_t s = 1; s <= 3000; s++) {
            char data[512], text[400] = "";
            struct chatd_event e = {.size = sizeof(e), .seq = s,
                                    .time_ms = time_of(1),
                                    .type = "chat.message_posted", .v = 1,
                                    .stream = "room:r_1", .stream_ver = s,
                                    .actor = "user:u_1",
                                    .correlation_id = ""};
            for (int w = 0; w < 20; w++) {
                r = r * 1103515245u + 12345u;
                strcat(text, words[(r >> 16) % 10]);
                strcat(text, " ");
            }
            snprintf(data, sizeof(data), "{\"n\":%" PRIu64 ",\"text\":\"%s\"}",
                     s, text);
            e.data = data;
            e.data_len = strlen(data);
            assert_int_equal(exp_handle(ex, &e), CHATD_OK);
        }
        exp_free(ex); /* seals */
        snprintf(root, sizeof(root), "%s/export", dir[i]);
        read_tree(root, NULL);
        assert_exactly_once(1, 3000);
        size[i] = object_size(root);
    }
    assert_true(size[1] < size[0]);
    assert_int_equal(mini_g.errors, 0);
    testdir_remove(dir[0]);
    testdir_remove(dir[1]);
}

/* The child exports 1..n, flushing (the host's checkpoint) every
 * `every` events, and vanishes without fini, like kill -9. */
static void crash_child(const char *dir, uint64_t n, uint64_t every)
{
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0) {
        struct exporter *ex = mini_exporter(dir, 1 << 20);
        for (uint64_t s = 1; s <= n; s++) {
            give(ex, s);
            if (s % every == 0 && exp_flush(ex) != CHATD_OK)
                _exit(3);
        }
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Power loss: every staging file loses up to 37 bytes of what was
 * written after its last sync (so mid-line), never what was synced. */
static void cut_tails(const char *dir)
{
    char path[4300], line[256], file[160];
    long long len;
    struct stat st;
    FILE *f;

    snprintf(path, sizeof(path), "%s/export/.staging/MANIFEST", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%159s %lld", file, &len) != 2 ||
            strcmp(file, "covered") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/export/.staging/%s", dir, file);
        if (stat(path, &st) != 0 || st.st_size == len)
            continue;
        off_t to = st.st_size - 37 > len ? st.st_size - 37 : len;
        assert_int_equal(truncate(path, to), 0);
    }
    fclose(f);
}

static int cmp_files(const char *a, const char *b)
{
    char cmd[9000];

    snprintf(cmd, sizeof(cmd),
             "diff -r -x .staging '%s/export' '%s/export' >/dev/null", a, b);
    return system(cmd);
}

/* Restart after a crash: the host redelivers from its checkpoint (at
 * most what the last flush covered; here from 1, the worst case). */
static void restart(const char *dir, uint64_t to)
{
    struct exporter *ex = mini_exporter(dir, 1 << 20);

    for (uint64_t s = 1; s <= to; s++)
        give(ex, s);
    assert_int_equal(exp_flush(ex), CHATD_OK);
    exp_free(ex);
}

static void test_crash_exactly_once(void **state)
{
    char *a = testdir_make(), *b = testdir_make(), root[4200];

    (void)state;
    /* 170 events, flushed every 15: 165 covered, 5 more written after
     * into the same hour's staging files (161..180 is one hour) */
    crash_child(a, 170, 15);
    crash_child(b, 170, 15);
    cut_tails(b); /* b: power loss cut the unsynced tails */
    restart(a, 200);
    restart(b, 200);
    assert_int_equal(mini_g.errors, 0);
    snprintf(root, sizeof(root), "%s/export", a);
    read_tree(root, time_of);
    assert_exactly_once(1, 200);
    snprintf(root, sizeof(root), "%s/export", b);
    read_tree(root, time_of);
    assert_exactly_once(1, 200);
    assert_int_equal(cmp_files(a, b), 0); /* the same objects */
    testdir_remove(a);
    testdir_remove(b);
}

static char first_obj[4300];

static int find_obj(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    if (flag == FTW_F && strncmp(path + ftw->base, "part-", 5) == 0 &&
        (first_obj[0] == '\0' || strcmp(path, first_obj) < 0))
        snprintf(first_obj, sizeof(first_obj), "%s", path);
    return 0;
}

/* A crash right after a seal's rename, before its staging file and its
 * MANIFEST line went: the restart finds the object and drops the staging
 * file (and were it sealed again, it would get the same name and bytes):
 * no record twice. */
static void test_crash_after_seal(void **state)
{
    char *dir = testdir_make(), root[4200], cmd[9400], fam[80];
    unsigned long long first, last;
    struct stat st;
    FILE *f;

    (void)state;
    crash_child(dir, 45, 45); /* 3 hours, all flushed, hours 1-2 sealed */
    snprintf(root, sizeof(root), "%s/export", dir);
    first_obj[0] = '\0';
    nftw(root, find_obj, 16, FTW_PHYS);
    assert_true(first_obj[0] != '\0');
    assert_int_equal(sscanf(first_obj + strlen(root) + 1, "%79[^/]", fam), 1);
    assert_int_equal(sscanf(strrchr(first_obj, '/') + 1,
                            "part-%20llu-%20llu", &first, &last), 2);
    snprintf(cmd, sizeof(cmd), "zcat '%s' > '%s/.staging/%s.%lld.%llu.ndjson'",
             first_obj, root, fam, (long long)an_hour_of(time_of(first)),
             first);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s/.staging/%s.%lld.%llu.ndjson", root, fam,
             (long long)an_hour_of(time_of(first)), first);
    assert_int_equal(stat(cmd, &st), 0);
    snprintf(cmd, sizeof(cmd), "%s/.staging/MANIFEST", root);
    f = fopen(cmd, "a");
    assert_non_null(f);
    fprintf(f, "%s.%lld.%llu.ndjson %lld %llu %llu\n", fam,
            (long long)an_hour_of(time_of(first)), first,
            (long long)st.st_size, first, last);
    fclose(f);
    restart(dir, 60);
    read_tree(root, time_of);
    assert_exactly_once(1, 60);
    testdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registration),
        cmocka_unit_test(test_daily_stats),
        cmocka_unit_test(test_export_through_the_module),
        cmocka_unit_test(test_hours_and_size_limit),
        cmocka_unit_test(test_gzip_level),
        cmocka_unit_test(test_quiet_hour_sealed),
        cmocka_unit_test(test_crash_exactly_once),
        cmocka_unit_test(test_crash_after_seal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
