/*
 * The read models in a writable map (src/evlog/vspace.c): their file is
 * written ahead of LMDB's last page at open and as it grows, and a full
 * disk refuses write transactions with CHATD_EFULL instead of killing the
 * process with SIGBUS. The full disk is real: a small tmpfs mounted in a
 * private mount namespace of a forked child (skipped, saying so, where
 * the machine does not allow one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "evlog/internal.h"
#include "testdir.h"

#define MIB (1u << 20)

static int open_writable(const char *dir, struct evlog **out)
{
    struct evlog_options opt = {.dir = dir, .map_size = 256u << 20,
                                .views_writable_map = true};
    return evlog_open(out, &opt);
}

/* Bytes of the views file past LMDB's last page before the first hole. */
static size_t written_ahead(struct evlog *log)
{
    MDB_envinfo info;
    MDB_stat st;
    int fd;
    off_t used, hole;

    assert_int_equal(mdb_env_info(log->venv, &info), MDB_SUCCESS);
    assert_int_equal(mdb_env_stat(log->venv, &st), MDB_SUCCESS);
    assert_int_equal(mdb_env_get_fd(log->venv, &fd), MDB_SUCCESS);
    used = (off_t)(info.me_last_pgno + 1) * st.ms_psize;
    hole = lseek(fd, used, SEEK_HOLE);
    assert_true(hole >= used);
    return (size_t)(hole - used);
}

/* One write txn that stores `len` bytes of `fill` under key i. */
static int put_value(struct evlog *log, struct evlog_store *st, unsigned i,
                     size_t len, int fill)
{
    struct evlog_txn *txn;
    char key[16];
    unsigned char *val = malloc(len);
    int rc;

    if (!val)
        return CHATD_ENOMEM;
    memset(val, fill, len);
    snprintf(key, sizeof key, "k%08u", i);
    rc = evlog_txn_begin(log, true, &txn);
    if (rc == CHATD_OK) {
        rc = evlog_put_kv(txn, st, key, strlen(key), val, len);
        if (rc == CHATD_OK)
            rc = evlog_txn_commit(txn);
        else
            evlog_txn_abort(txn);
    }
    free(val);
    return rc;
}

/* Whether key i holds len bytes of fill. */
static bool value_is(struct evlog *log, struct evlog_store *st, unsigned i,
                     size_t len, int fill)
{
    struct evlog_txn *txn;
    struct chatd_val v;
    char key[16];
    bool ok = false;

    snprintf(key, sizeof key, "k%08u", i);
    if (evlog_txn_begin(log, false, &txn) != CHATD_OK)
        return false;
    if (evlog_get_kv(txn, st, key, strlen(key), &v) == CHATD_OK &&
        v.len == len) {
        const unsigned char *p = v.data;
        ok = true;
        for (size_t j = 0; j < len && ok; j++)
            ok = p[j] == (unsigned char)fill;
    }
    evlog_txn_abort(txn);
    return ok;
}

static void test_written_ahead_at_open(void **state)
{
    const char *dir = *state;
    struct evlog *log;

    assert_int_equal(open_writable(dir, &log), CHATD_OK);
    assert_true(log->vmap_writable);
    assert_true(written_ahead(log) >= 3 * MIB);
    evlog_close(log);
}

static void test_read_only_open_is_not_writable(void **state)
{
    const char *dir = *state;
    struct evlog_options opt = {.dir = dir, .map_size = 256u << 20,
                                .views_writable_map = true,
                                .read_only = true};
    struct evlog *log;

    assert_int_equal(open_writable(dir, &log), CHATD_OK);
    evlog_close(log);
    assert_int_equal(evlog_open(&log, &opt), CHATD_OK);
    assert_false(log->vmap_writable);
    evlog_close(log);
}

/* 40 MiB of values in 320 transactions: before each one the margin is
 * back (at least twice the largest growth of one transaction: 256 KiB
 * values), and every value reads back, also after a reopen. */
static void test_stays_ahead_as_it_grows(void **state)
{
    const char *dir = *state;
    struct evlog_store *st;
    struct evlog *log;
    const size_t len = 128 * 1024;

    assert_int_equal(open_writable(dir, &log), CHATD_OK);
    assert_int_equal(evlog_store_open(log, "t", "big", &st), CHATD_OK);
    for (unsigned i = 0; i < 320; i++) {
        assert_int_equal(put_value(log, st, i, len, 'a' + i % 26), CHATD_OK);
        if (i % 40 == 39) {
            struct evlog_txn *txn;

            /* the check runs at the start of the next write txn */
            assert_int_equal(evlog_txn_begin(log, true, &txn), CHATD_OK);
            assert_true(written_ahead(log) >= 2 * log->vgrowth_max);
            assert_true(log->vgrowth_max >= len);
            evlog_txn_abort(txn);
        }
    }
    evlog_close(log);
    assert_int_equal(open_writable(dir, &log), CHATD_OK);
    assert_int_equal(evlog_store_open(log, "t", "big", &st), CHATD_OK);
    for (unsigned i = 0; i < 320; i++)
        assert_true(value_is(log, st, i, len, 'a' + i % 26));
    evlog_close(log);
}

/* One transaction that outgrows the margin (16 MiB in one commit, with
 * 4 MiB written ahead at open: a rebuild's first chunk after a projection
 * version changed does that). The zeros the next transaction writes ahead
 * start past its pages, never over them: every value reads back, in the
 * same run and after a reopen. */
static void test_a_transaction_past_the_margin_is_kept(void **state)
{
    const char *dir = *state;
    struct evlog_store *st;
    struct evlog_txn *txn;
    struct evlog *log;
    const size_t len = 64 * 1024;
    const unsigned big = 256; /* 16 MiB */
    unsigned char *val = malloc(len);
    char key[16];

    assert_non_null(val);
    assert_int_equal(open_writable(dir, &log), CHATD_OK);
    assert_int_equal(evlog_store_open(log, "t", "big", &st), CHATD_OK);
    assert_true(written_ahead(log) < big * len);
    assert_int_equal(evlog_txn_begin(log, true, &txn), CHATD_OK);
    for (unsigned i = 0; i < big; i++) {
        memset(val, 'a' + i % 26, len);
        snprintf(key, sizeof key, "k%08u", i);
        assert_int_equal(evlog_put_kv(txn, st, key, strlen(key), val, len),
                         CHATD_OK);
    }
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    /* the next transactions write ahead again, a step at a time */
    for (unsigned i = big; i < big + 40; i++)
        assert_int_equal(put_value(log, st, i, len, 'a' + i % 26), CHATD_OK);
    for (unsigned i = 0; i < big + 40; i++)
        assert_true(value_is(log, st, i, len, 'a' + i % 26));
    evlog_close(log);
    assert_int_equal(open_writable(dir, &log), CHATD_OK);
    assert_int_equal(evlog_store_open(log, "t", "big", &st), CHATD_OK);
    for (unsigned i = 0; i < big + 40; i++)
        assert_true(value_is(log, st, i, len, 'a' + i % 26));
    evlog_close(log);
    free(val);
}

enum { CHILD_OK = 0, CHILD_NEVER_FULL = 2, CHILD_BAD = 3, CHILD_SKIP = 77 };

/* In the child: a tmpfs of 16 MiB over dir, with a 4 MiB file taking
 * room; values until a write txn is refused; the filler removed, the
 * writes go on. */
static int fill_the_disk(const char *dir)
{
    const size_t len = 256 * 1024;
    struct evlog_store *st;
    struct evlog *log;
    char *filler;
    unsigned i, full_at = 0;
    int fd, rc = CHATD_OK;

    if (unshare(CLONE_NEWNS) != 0 ||
        mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("chatd-test", dir, "tmpfs", 0, "size=16m,mode=0700") != 0)
        return CHILD_SKIP;
    filler = testdir_join(dir, "filler");
    fd = open(filler, O_CREAT | O_WRONLY, 0600);
    if (fd < 0)
        return CHILD_BAD;
    for (i = 0; i < 64; i++) {
        static char buf[64 * 1024];

        memset(buf, 'f', sizeof buf);
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
            return CHILD_BAD;
    }
    close(fd);
    if (open_writable(dir, &log) != CHATD_OK ||
        evlog_store_open(log, "t", "big", &st) != CHATD_OK)
        return CHILD_BAD;
    for (i = 0; i < 200 && rc == CHATD_OK; i++) {
        rc = put_value(log, st, i, len, 'a' + i % 26);
        if (rc != CHATD_OK)
            full_at = i;
    }
    if (rc == CHATD_OK)
        return CHILD_NEVER_FULL;
    if (rc != CHATD_EFULL || full_at == 0)
        return CHILD_BAD;
    /* what was committed is intact */
    for (i = 0; i < full_at; i++)
        if (!value_is(log, st, i, len, 'a' + i % 26))
            return CHILD_BAD;
    /* room again: writes resume */
    if (unlink(filler) != 0 || put_value(log, st, full_at, len, 'z') !=
                                   CHATD_OK ||
        !value_is(log, st, full_at, len, 'z'))
        return CHILD_BAD;
    evlog_close(log);
    free(filler);
    return CHILD_OK;
}

static void test_full_disk_refuses_writes_without_sigbus(void **state)
{
    const char *dir = *state;
    int status = -1;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's handlers would catch a SIGBUS in the child and carry
         * on with the runner there: let it kill the child instead. */
        signal(SIGBUS, SIG_DFL);
        signal(SIGSEGV, SIG_DFL);
        _exit(fill_the_disk(dir));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("the child died of signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == CHILD_SKIP)
        skip(); /* no mount namespace here: say so, do not pass */
    assert_int_equal(WEXITSTATUS(status), CHILD_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TESTDIR_TEST(test_written_ahead_at_open),
        TESTDIR_TEST(test_read_only_open_is_not_writable),
        TESTDIR_TEST(test_stays_ahead_as_it_grows),
        TESTDIR_TEST(test_a_transaction_past_the_margin_is_kept),
        TESTDIR_TEST(test_full_disk_refuses_writes_without_sigbus),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
