/*
 * vspace.c — the read models' file, written ahead of what LMDB uses.
 *
 * When serving, the read models are mapped writable (MDB_WRITEMAP): a
 * commit then has nothing left to write, where it used to `pwrite` each
 * dirty page (about 150 calls per group commit of 32 messages, a fifth of
 * the writer's time). LMDB sizes such a file to the whole map, sparse,
 * and two things go wrong with a page first stored to in a hole: the
 * kernel finds it a block only when it writes the page back, and the
 * log's synced commits then stalled now and then (p99 of 64-client sends
 * 15.7-17.4 ms against 9.2-10.0 ms with the file written ahead); and with
 * the disk full the store itself fails, as SIGBUS, where `pwrite` would
 * have returned an error.
 *
 * So the file is kept written with zeros some way past LMDB's last page,
 * checked at the start of each write transaction (under LMDB's write
 * lock, before the transaction has taken a page): writing there is safe
 * because no transaction is using the region, and a transaction takes
 * fresh pages only from the end it finds. When not even the minimum can
 * be written (a full disk), the transaction is refused with CHATD_EFULL.
 * The margin follows the largest growth of one transaction seen, so a
 * transaction would have to grow more than twice that within one commit
 * to reach an unwritten page.
 */

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "evlog/internal.h"

#define MIB ((size_t)1 << 20)
#define AHEAD_MIN (4 * MIB)
#define AHEAD_MAX (64 * MIB)
#define STEP (1 * MIB) /* written at once; the hysteresis of the margin */

static char zeros[64 * 1024]; /* never written: bss, costs no memory */

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* The margin to keep written past `used`: an eighth of the file, within
 * [AHEAD_MIN, AHEAD_MAX], and at least four times the largest growth of
 * one transaction; `*floor` is what a transaction cannot start without. */
static size_t ahead_of(const struct evlog *log, size_t used, size_t *floor)
{
    size_t ahead = min_size(max_size(used / 8, AHEAD_MIN), AHEAD_MAX);

    ahead = max_size(ahead, 4 * log->vgrowth_max);
    *floor = max_size(ahead / 4, 2 * log->vgrowth_max);
    return ahead;
}

/* Zeros over [from, to): the file system takes the room for each page
 * there now, and says so here (ENOSPC) rather than at a store later.
 * *err: the errno of a failure. */
static int write_zeros(int fd, size_t from, size_t to, int *err)
{
    size_t off = from;

    while (off < to) {
        size_t n = min_size(sizeof zeros, to - off);
        ssize_t w = pwrite(fd, zeros, n, (off_t)off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            *err = w < 0 ? errno : EIO;
            return evlog_status(*err);
        }
        off += (size_t)w;
    }
    return CHATD_OK;
}

/* full: all of the margin at once (at open), else a STEP at most. */
static int ensure(struct evlog *log, bool full)
{
    MDB_envinfo info;
    size_t used, ahead, floor, end;
    int rc, err = 0;

    if (!log->vmap_writable)
        return CHATD_OK;
    if (mdb_env_info(log->venv, &info) != MDB_SUCCESS)
        return CHATD_EIO;
    used = ((size_t)info.me_last_pgno + 1) * log->vpage_size;
    if (used > log->vused)
        log->vgrowth_max = max_size(log->vgrowth_max, used - log->vused);
    log->vused = used;
    /* A transaction that outgrew the margin (a rebuild's first chunk)
     * stored its last pages in the holes past it: zeros start after them,
     * never over them. */
    if (log->vready < used)
        log->vready = used;
    ahead = ahead_of(log, used, &floor);
    ahead = min_size(used + ahead, info.me_mapsize);
    floor = min_size(used + floor, info.me_mapsize);
    if (log->vready + STEP > ahead)
        return CHATD_OK;
    end = full ? ahead : max_size(floor, min_size(log->vready + STEP, ahead));
    rc = write_zeros(log->vfd, log->vready, end, &err);
    if (rc == CHATD_OK) {
        log->vready = end;
        log->vfull_logged = false;
        return CHATD_OK;
    }
    if (!log->vfull_logged) {
        core_log(CORE_LOG_ERROR, "evlog", "%s: cannot write ahead of the "
                 "read models (%s): %s", log->vpath, strerror(err),
                 log->vready >= floor ? "still within the margin"
                                      : "writes are refused until there "
                                        "is room on the disk");
        log->vfull_logged = true;
    }
    return log->vready >= floor ? CHATD_OK : rc;
}

int evlog_vspace_ensure(struct evlog *log)
{
    return ensure(log, false);
}

int evlog_vspace_open(struct evlog *log)
{
    MDB_envinfo info;
    MDB_stat st;

    if (!log->vmap_writable)
        return CHATD_OK;
    if (mdb_env_get_fd(log->venv, &log->vfd) != MDB_SUCCESS ||
        mdb_env_info(log->venv, &info) != MDB_SUCCESS ||
        mdb_env_stat(log->venv, &st) != MDB_SUCCESS)
        return CHATD_EIO;
    log->vpage_size = st.ms_psize;
    log->vused = ((size_t)info.me_last_pgno + 1) * log->vpage_size;
    /* What an earlier run wrote ahead is written again (at most
     * AHEAD_MAX): asking the file system where its first hole is
     * (SEEK_HOLE) would be cheaper, but one that cannot tell answers
     * "the end of the file", the whole map. */
    log->vready = log->vused;
    return ensure(log, true);
}
