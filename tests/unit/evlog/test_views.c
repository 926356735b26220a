/*
 * The read models' environment: what a clean stop, a process crash and a
 * machine crash (another boot id) leave; the log ahead of the read models
 * and the read models ahead of the log; the format 1 upgrade; an older
 * layout of the host's read models; pending
 * appends and meta writes; the map checked at append time. Crashes are
 * real: a forked child writes and _exits without closing anything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evlog/internal.h"
#include "testdir.h"

static int open_as(const char *dir, const char *boot, struct evlog **out)
{
    struct evlog_options opt = {.dir = dir, .map_size = 64u << 20,
                                .boot_id = boot};
    return evlog_open(out, &opt);
}

/* One event on stream "room:v" and the count of events in the store. */
static int post(struct evlog *log, struct evlog_store *st)
{
    struct chatd_event ev = {.type = "chat.m", .v = 1, .stream = "room:v",
                             .data = "{}", .data_len = 2};
    struct evlog_txn *txn;
    unsigned char buf[8];
    int rc = evlog_txn_begin(log, true, &txn);

    if (rc != CHATD_OK)
        return rc;
    rc = evlog_append(txn, &ev, CHATD_ANY_VERSION, NULL);
    core_be64_put(buf, evlog_txn_last_seq(txn));
    if (rc == CHATD_OK)
        rc = evlog_put_kv(txn, st, "count", 5, buf, 8);
    if (rc != CHATD_OK) {
        evlog_txn_abort(txn);
        return rc;
    }
    return evlog_txn_commit(txn);
}

/* A child process posts n events as boot `boot` and dies without closing
 * (no sync of the read models, the open mark left in the log). */
static void crash_after_posts(const char *dir, const char *boot, int n)
{
    int status = -1;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        struct evlog *log;
        struct evlog_store *st;

        if (open_as(dir, boot, &log) != CHATD_OK ||
            evlog_store_open(log, "test", "counts", &st) != CHATD_OK)
            _exit(2);
        for (int i = 0; i < n; i++)
            if (post(log, st) != CHATD_OK)
                _exit(3);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

struct seen {
    uint64_t applied, count, stream_ver;
    int count_rc;
};

static struct seen look(struct evlog *log)
{
    struct seen s = {0};
    struct evlog_store *st;
    struct evlog_txn *txn;
    struct chatd_val v;

    assert_int_equal(evlog_store_open(log, "test", "counts", &st), CHATD_OK);
    assert_int_equal(evlog_txn_begin(log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_views_applied(txn, &s.applied), CHATD_OK);
    assert_int_equal(evlog_stream_version(txn, "room:v", &s.stream_ver),
                     CHATD_OK);
    s.count_rc = evlog_get_kv(txn, st, "count", 5, &v);
    if (s.count_rc == CHATD_OK)
        s.count = core_be64_get(v.data);
    evlog_txn_abort(txn);
    return s;
}

/* A new data directory (nothing to redo), two posts, a clean close. */
static void new_dir_with_two_posts(const char *dir, const char *boot)
{
    struct evlog *log;
    struct evlog_store *st;

    assert_int_equal(open_as(dir, boot, &log), CHATD_OK);
    assert_false(evlog_views_were_reset(log));
    assert_int_equal(evlog_store_open(log, "test", "counts", &st), CHATD_OK);
    assert_int_equal(post(log, st), CHATD_OK);
    assert_int_equal(post(log, st), CHATD_OK);
    evlog_close(log);
}

static void test_clean_close_is_trusted_on_any_boot(void **state)
{
    const char *dir = *state;
    struct evlog *log;
    struct seen s;

    new_dir_with_two_posts(dir, "boot-a");

    assert_int_equal(open_as(dir, "boot-b", &log), CHATD_OK);
    assert_false(evlog_views_were_reset(log));
    s = look(log);
    assert_int_equal(s.applied, 2);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.stream_ver, 2);
    evlog_close(log);
}

static void test_process_crash_keeps_read_models(void **state)
{
    const char *dir = *state;
    struct evlog *log;
    struct seen s;

    crash_after_posts(dir, "boot-a", 5);
    assert_int_equal(open_as(dir, "boot-a", &log), CHATD_OK);
    assert_false(evlog_views_were_reset(log));
    assert_int_equal(evlog_last_seq(log), 5);
    s = look(log);
    assert_int_equal(s.applied, 5);
    assert_int_equal(s.count, 5);
    assert_int_equal(s.stream_ver, 5);
    evlog_close(log);
}

static void test_machine_crash_empties_read_models(void **state)
{
    const char *dir = *state;
    struct evlog *log;
    struct evlog_txn *txn;
    struct chatd_event ev;
    struct seen s;

    crash_after_posts(dir, "boot-a", 4);
    assert_int_equal(open_as(dir, "boot-b", &log), CHATD_OK);
    assert_true(evlog_views_were_reset(log));
    assert_int_equal(evlog_last_seq(log), 4); /* the log is the truth */
    s = look(log);
    assert_int_equal(s.applied, 0);
    assert_int_equal(s.count_rc, CHATD_ENOTFOUND);
    assert_int_equal(s.stream_ver, 0);
    assert_int_equal(evlog_txn_begin(log, false, &txn), CHATD_OK);
    for (uint64_t seq = 1; seq <= 4; seq++)
        assert_int_equal(evlog_get(txn, seq, &ev), CHATD_OK);
    evlog_txn_abort(txn);
    evlog_close(log);

    /* Emptied once: a clean close in between makes them trusted again. */
    assert_int_equal(open_as(dir, "boot-c", &log), CHATD_OK);
    assert_false(evlog_views_were_reset(log));
    evlog_close(log);
}

/* A crash between the log's commit and the read models' leaves the log
 * ahead; evlog_views_advance is how a replay catches them up. */
static void test_log_ahead_then_advance(void **state)
{
    const char *dir = *state;
    struct evlog *log;
    struct evlog_store *st;
    struct evlog_txn *txn;
    struct evlog_batch *b;
    struct seen s;
    MDB_txn *lw;
    unsigned char key[8];
    struct chatd_event ev = {.type = "chat.m", .v = 1, .stream = "room:v",
                             .stream_ver = 2, .seq = 2, .time_ms = 1,
                             .data = "{}", .data_len = 2,
                             .correlation_id = "", .actor = ""};
    size_t len = evlog_codec_size(&ev);
    unsigned char *rec = malloc(len);

    assert_int_equal(open_as(dir, "boot-a", &log), CHATD_OK);
    assert_int_equal(evlog_store_open(log, "test", "counts", &st), CHATD_OK);
    assert_int_equal(post(log, st), CHATD_OK);
    evlog_codec_encode(&ev, rec);
    core_be64_put(key, 2);
    MDB_val k = {8, key}, v = {len, rec};
    assert_int_equal(mdb_txn_begin(log->env, NULL, 0, &lw), 0);
    assert_int_equal(mdb_put(lw, log->log_dbi, &k, &v, MDB_APPEND), 0);
    assert_int_equal(mdb_txn_commit(lw), 0);
    evlog_close(log);
    free(rec);

    assert_int_equal(open_as(dir, "boot-a", &log), CHATD_OK);
    assert_int_equal(evlog_last_seq(log), 2);
    s = look(log);
    assert_int_equal(s.applied, 1);
    assert_int_equal(s.stream_ver, 1);
    assert_int_equal(evlog_batch_new(&b), CHATD_OK);
    assert_int_equal(evlog_txn_begin(log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_batch_fill(b, txn, s.applied, 0, 0, NULL),
                     CHATD_OK);
    assert_int_equal(evlog_batch_count(b), 1);
    assert_int_equal(evlog_views_advance(txn, b), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    evlog_batch_free(b);
    s = look(log);
    assert_int_equal(s.applied, 2);
    assert_int_equal(s.stream_ver, 2);
    /* The next append continues the stream after the replayed event. */
    assert_int_equal(evlog_store_open(log, "test", "counts", &st), CHATD_OK);
    assert_int_equal(post(log, st), CHATD_OK);
    s = look(log);
    assert_int_equal(s.applied, 3);
    assert_int_equal(s.stream_ver, 3);

    /* A full rebuild starts from nothing. */
    assert_int_equal(evlog_txn_begin(log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_views_reset(txn), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    s = look(log);
    assert_int_equal(s.applied, 0);
    assert_int_equal(s.stream_ver, 0);
    evlog_close(log);
}

static int copy_file(const char *from, const char *to)
{
    char cmd[8192];

    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    return system(cmd);
}

/* An operator restores an older log beside newer read models: they
 * describe events that no longer exist and must not be used. */
static void test_read_models_ahead_of_log_are_emptied(void **state)
{
    const char *dir = *state;
    struct evlog *log;
    struct evlog_store *st;
    char *db = testdir_join(dir, "db/data.mdb");
    char *saved = testdir_join(dir, "saved.mdb");
    struct seen s;

    assert_int_equal(open_as(dir, "boot-a", &log), CHATD_OK);
    assert_int_equal(evlog_store_open(log, "test", "counts", &st), CHATD_OK);
    assert_int_equal(post(log, st), CHATD_OK);
    evlog_close(log);
    assert_int_equal(copy_file(db, saved), 0);
    assert_int_equal(open_as(dir, "boot-a", &log), CHATD_OK);
    assert_int_equal(evlog_store_open(log, "test", "counts", &st), CHATD_OK);
    assert_int_equal(post(log, st), CHATD_OK);
    assert_int_equal(post(log, st), CHATD_OK);
    evlog_close(log);
    assert_int_equal(copy_file(saved, db), 0);

    assert_int_equal(open_as(dir, "boot-a", &log), CHATD_OK);
    assert_true(evlog_views_were_reset(log));
    assert_int_equal(evlog_last_seq(log), 1);
    s = look(log);
    assert_int_equal(s.applied, 0);
    assert_int_equal(s.count_rc, CHATD_ENOTFOUND);
    evlog_close(log);
    free(db);
    free(saved);
}

/* A data directory of format 1 (read models inside DIR/db): opened
 * writable it becomes format 2 and the old read models are dropped. */
static void test_format1_upgrade(void **state)
{
    const char *dir = *state;
    char *db = testdir_join(dir, "db");
    unsigned char fmt[8];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta, old, logdbi;
    MDB_val k = {6, "format"}, v = {8, fmt}, ek = {5, "epoch"},
            ev = {16, "0123456789abcdef"}, sk = {1, "k"}, sv = {1, "v"};
    struct evlog *log;
    struct evlog_txn *et;
    uint64_t got;

    assert_int_equal(mkdir(db, 0700), 0);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, db, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "log", MDB_CREATE, &logdbi), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), 0);
    core_be64_put(fmt, 1);
    assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
    assert_int_equal(mdb_put(txn, meta, &ek, &ev, 0), 0);
    assert_int_equal(mdb_dbi_open(txn, "streams", MDB_CREATE, &old), 0);
    assert_int_equal(mdb_put(txn, old, &sk, &sv, 0), 0);
    assert_int_equal(mdb_dbi_open(txn, "s:chat/rooms", MDB_CREATE, &old), 0);
    assert_int_equal(mdb_put(txn, old, &sk, &sv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    /* Read-only commands ask for an upgrade first. */
    struct evlog_options ro = {.dir = dir, .read_only = true};
    assert_int_equal(evlog_open(&log, &ro), CHATD_ESTATE);

    assert_int_equal(open_as(dir, "boot-a", &log), CHATD_OK);
    assert_string_equal(evlog_epoch(log), "0123456789abcdef");
    assert_int_equal(evlog_txn_begin(log, false, &et), CHATD_OK);
    assert_int_equal(evlog_meta_get_u64(et, "format", &got), CHATD_OK);
    assert_int_equal(got, 2);
    evlog_txn_abort(et);
    evlog_close(log);

    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, db, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "s:chat/rooms", 0, &old),
                     MDB_NOTFOUND);
    assert_int_equal(mdb_dbi_open(txn, "streams", 0, &old), MDB_NOTFOUND);
    assert_int_equal(mdb_dbi_open(txn, "log", 0, &logdbi), 0);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    free(db);
}

/* Read models written by a build with another layout of the host's own
 * stores (no "format" key: before the real-time feed kept one record per
 * event) are emptied at open, to be rebuilt from the log; an empty
 * environment just gets the key; the current layout is kept. */
static void test_older_views_layout_is_rebuilt(void **state)
{
    const char *dir = *state;
    struct evlog *log;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi vmeta;
    MDB_val k = {6, "format"};
    char *views = NULL;

    new_dir_with_two_posts(dir, "boot-a");

    /* the current layout: kept */
    assert_int_equal(open_as(dir, "boot-a", &log), CHATD_OK);
    assert_false(evlog_views_were_reset(log));
    assert_int_equal(look(log).count, 2);
    evlog_close(log);

    /* as an earlier build left them */
    assert_true(asprintf(&views, "%s/views", dir) > 0);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, views, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "vmeta", 0, &vmeta), 0);
    assert_int_equal(mdb_del(txn, vmeta, &k, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    free(views);

    assert_int_equal(open_as(dir, "boot-a", &log), CHATD_OK);
    assert_true(evlog_views_were_reset(log));
    struct seen s = look(log);
    assert_int_equal(s.applied, 0);
    assert_int_equal(s.count_rc, CHATD_ENOTFOUND);
    assert_int_equal(evlog_last_seq(log), 2); /* the log is the truth */
    evlog_close(log);

    /* emptied once, then trusted */
    assert_int_equal(open_as(dir, "boot-a", &log), CHATD_OK);
    assert_false(evlog_views_were_reset(log));
    evlog_close(log);
}

/* Appends and meta writes wait in the txn: a child's vanish with it, a
 * committed child's reach the parent, and readers see them only after the
 * top-level commit. */
static void test_pending_writes(void **state)
{
    const char *dir = *state;
    struct evlog *log;
    struct evlog_txn *top, *child, *rd;
    struct chatd_event ev = {.type = "chat.m", .v = 1, .stream = "room:p",
                             .data = "{\"a\":1}", .data_len = 7};
    struct chatd_event got, out;
    uint64_t val;

    assert_int_equal(open_as(dir, "boot-a", &log), CHATD_OK);
    assert_int_equal(evlog_txn_begin(log, true, &top), CHATD_OK);
    assert_int_equal(evlog_append(top, &ev, CHATD_NO_STREAM, &out),
                     CHATD_OK);
    assert_int_equal(out.seq, 1);
    assert_int_equal(evlog_get(top, 1, &got), CHATD_OK); /* its own */
    assert_string_equal(got.data, "{\"a\":1}");

    assert_int_equal(evlog_txn_child(top, &child), CHATD_OK);
    assert_int_equal(evlog_append(child, &ev, 1, NULL), CHATD_OK);
    assert_int_equal(evlog_meta_put_u64(child, "ckpt:x", 7), CHATD_OK);
    assert_int_equal(evlog_meta_get_u64(child, "ckpt:x", &val), CHATD_OK);
    assert_int_equal(val, 7);
    evlog_txn_abort(child);
    assert_int_equal(evlog_get(top, 2, &got), CHATD_ENOTFOUND);
    assert_int_equal(evlog_meta_get_u64(top, "ckpt:x", &val),
                     CHATD_ENOTFOUND);

    assert_int_equal(evlog_txn_child(top, &child), CHATD_OK);
    assert_int_equal(evlog_append(child, &ev, 1, &out), CHATD_OK);
    assert_int_equal(out.seq, 2);
    assert_int_equal(evlog_meta_put_u64(child, "ckpt:x", 8), CHATD_OK);
    assert_int_equal(evlog_txn_commit(child), CHATD_OK);
    assert_int_equal(evlog_get(top, 2, &got), CHATD_OK);
    assert_int_equal(got.stream_ver, 2);
    assert_int_equal(evlog_meta_get_u64(top, "ckpt:x", &val), CHATD_OK);
    assert_int_equal(val, 8);
    assert_int_equal(evlog_last_seq(log), 0); /* nothing committed yet */
    assert_int_equal(evlog_txn_commit(top), CHATD_OK);

    assert_int_equal(evlog_last_seq(log), 2);
    assert_int_equal(evlog_txn_begin(log, false, &rd), CHATD_OK);
    assert_int_equal(evlog_get(rd, 2, &got), CHATD_OK);
    assert_int_equal(got.seq, 2);
    assert_int_equal(evlog_meta_get_u64(rd, "ckpt:x", &val), CHATD_OK);
    assert_int_equal(val, 8);
    assert_int_equal(evlog_views_applied(rd, &val), CHATD_OK);
    assert_int_equal(val, 2);
    evlog_txn_abort(rd);
    evlog_close(log);
}

/* An append that cannot fit the log's map fails by itself, at once; the
 * txn stays usable and commits what fits. */
static void test_map_checked_at_append(void **state)
{
    const char *dir = *state;
    struct evlog_options opt = {.dir = dir, .map_size = 4u << 20};
    struct evlog *log;
    struct evlog_txn *top, *child;
    char *big = malloc(EVLOG_DATA_MAX);
    struct chatd_event ev = {.type = "chat.m", .v = 1, .stream = "room:b",
                             .data = big, .data_len = EVLOG_DATA_MAX};
    struct chatd_event small = {.type = "chat.m", .v = 1, .stream = "room:b",
                                .data = "{}", .data_len = 2};
    int rc = CHATD_OK, n = 0;

    memset(big, 'x', EVLOG_DATA_MAX);
    assert_int_equal(evlog_open(&log, &opt), CHATD_OK);
    assert_int_equal(evlog_txn_begin(log, true, &top), CHATD_OK);
    assert_int_equal(evlog_append(top, &small, CHATD_ANY_VERSION, NULL),
                     CHATD_OK);
    assert_int_equal(evlog_txn_child(top, &child), CHATD_OK);
    while (rc == CHATD_OK && n < 8) {
        rc = evlog_append(child, &ev, CHATD_ANY_VERSION, NULL);
        n += rc == CHATD_OK;
    }
    assert_int_equal(rc, CHATD_EFULL);
    assert_true(n >= 1 && n < 4);
    evlog_txn_abort(child);
    assert_int_equal(evlog_append(top, &small, CHATD_ANY_VERSION, NULL),
                     CHATD_OK);
    assert_int_equal(evlog_txn_commit(top), CHATD_OK);
    assert_int_equal(evlog_last_seq(log), 2);
    evlog_close(log);
    free(big);
}

/* Read models torn past their meta pages, as a machine crash or a bad disk
 * can leave them: a fresh start must neither read those pages nor refuse
 * to open, and keeps the file's blocks (its size) for the new models. */
static void test_fresh_start_never_reads_torn_pages(void **state)
{
    const char *dir = *state;
    struct evlog_options opt = {.dir = dir, .map_size = 64u << 20,
                                .boot_id = "boot-a"};
    unsigned char value[3000], junk[4096];
    char path[512];
    struct evlog *log;
    struct evlog_store *st;
    struct evlog_txn *txn;
    struct stat before, after;
    struct seen s;
    off_t page = (off_t)sysconf(_SC_PAGESIZE); /* LMDB's page here */
    int fd;

    new_dir_with_two_posts(dir, "boot-a");
    /* enough read models to fill a file well past LMDB's largest page */
    memset(value, 'v', sizeof value);
    assert_int_equal(evlog_open(&log, &opt), CHATD_OK);
    assert_int_equal(evlog_store_open(log, "test", "blobs", &st), CHATD_OK);
    assert_int_equal(evlog_txn_begin(log, true, &txn), CHATD_OK);
    for (int i = 0; i < 400; i++) {
        char key[16];

        snprintf(key, sizeof key, "k%04d", i);
        assert_int_equal(evlog_put_kv(txn, st, key, strlen(key), value,
                                      sizeof value), CHATD_OK);
    }
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    evlog_close(log);

    /* every page but LMDB's two meta pages becomes garbage */
    snprintf(path, sizeof path, "%s/views/data.mdb", dir);
    assert_int_equal(stat(path, &before), 0);
    assert_true(before.st_size > 4 * 65536);
    memset(junk, 0xA5, sizeof junk);
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    for (off_t off = 2 * page; off < before.st_size; off += sizeof junk)
        assert_int_equal(pwrite(fd, junk, sizeof junk, off),
                         (ssize_t)sizeof junk);
    close(fd);

    opt.fresh_views = true;
    assert_int_equal(evlog_open(&log, &opt), CHATD_OK);
    assert_true(evlog_views_were_reset(log));
    assert_int_equal(evlog_last_seq(log), 2); /* the log is untouched */
    s = look(log);
    assert_int_equal(s.applied, 0);
    assert_int_equal(s.count_rc, CHATD_ENOTFOUND);
    assert_int_equal(s.stream_ver, 0);
    assert_int_equal(evlog_store_open(log, "test", "counts", &st), CHATD_OK);
    assert_int_equal(post(log, st), CHATD_OK);
    evlog_close(log);
    assert_int_equal(stat(path, &after), 0);
    assert_true(after.st_size >= before.st_size); /* its blocks were kept */

    opt.fresh_views = false;
    assert_int_equal(evlog_open(&log, &opt), CHATD_OK);
    assert_false(evlog_views_were_reset(log));
    s = look(log); /* what was written after the reset is kept */
    assert_int_equal(s.applied, 3);
    assert_int_equal(s.count, 3);
    evlog_close(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TESTDIR_TEST(test_clean_close_is_trusted_on_any_boot),
        TESTDIR_TEST(test_process_crash_keeps_read_models),
        TESTDIR_TEST(test_machine_crash_empties_read_models),
        TESTDIR_TEST(test_fresh_start_never_reads_torn_pages),
        TESTDIR_TEST(test_log_ahead_then_advance),
        TESTDIR_TEST(test_read_models_ahead_of_log_are_emptied),
        TESTDIR_TEST(test_format1_upgrade),
        TESTDIR_TEST(test_older_views_layout_is_rebuilt),
        TESTDIR_TEST(test_pending_writes),
        TESTDIR_TEST(test_map_checked_at_append),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
