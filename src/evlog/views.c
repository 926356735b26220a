/*
 * views.c — the read models' environment (DIR/views) and when to trust it.
 *
 * The read models are a function of the log, so they are committed without
 * fsync: a process crash loses nothing (the kernel still has every page
 * LMDB wrote), and on the next start the events after "applied" (the last
 * seq they reflect, written in the same commit as them) are replayed into
 * them. A machine crash is different: without fsync the kernel may have
 * written any subset of the pages, in any order, so the environment may be
 * torn beyond what LMDB can detect. So while the views are open for writing
 * the log's meta carries "views_boot" = this boot's id (synced); a clean
 * close syncs the views and removes it. Finding it at open means the last
 * writer did not close: the same boot id means a process crash (views
 * sound), another means the machine went down under it, and the views are
 * emptied before anything reads them, to be rebuilt from the log: a new
 * environment's meta pages go over theirs before LMDB opens them
 * (reset_views_files), as emptying them through LMDB would read them
 * (dropping a tree walks every page of it, and a torn page can send LMDB
 * anywhere).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "evlog/internal.h"

#define MARKER "views_boot"
#define APPLIED "applied"
#define FORMAT "format"
/* The layout of the host's own read models ("streams", the real-time
 * feed's "host/feed" and "host/feedseq"). Read models written with
 * another are emptied at open and rebuilt from the log. 1 (or no key):
 * one "host/feedseq" entry per delivery; 2: one record per event; 3: a
 * user's "host/feed" positions in records of 128. */
#define VIEWS_FORMAT 3
#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"
/* LMDB's largest page (its MAX_PAGESIZE): room for a new environment's
 * two meta pages, whatever the system's page size. */
#define EVLOG_MAX_PAGE 65536

/* This boot's id; if the system does not tell, a random one, so every
 * unclean stop is taken for a machine crash (safe, only slower). */
static void read_boot_id(char *out, size_t size, const char *given)
{
    char buf[64] = "";
    int fd;
    ssize_t n = 0;

    if (given && given[0]) {
        snprintf(out, size, "%s", given);
        return;
    }
    fd = open(BOOT_ID_PATH, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        n--;
    if (n > 0) {
        buf[n] = '\0';
        snprintf(out, size, "%s", buf);
        return;
    }
    snprintf(out, size, "unknown-");
    if (core_random_hex(out + 8, 8) != CHATD_OK)
        snprintf(out, size, "unknown");
}

int evlog_drop_named(MDB_txn *txn, const char *exact, const char *prefix)
{
    MDB_dbi main_dbi, dbi;
    MDB_cursor *mc;
    MDB_val k, v;
    char name[512];
    int rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);

    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    /* Dropping changes the main DB under a cursor: look up afresh each
     * time, from the first name that matches. */
    for (;;) {
        bool found = false;

        rc = mdb_cursor_open(txn, main_dbi, &mc);
        if (rc != MDB_SUCCESS)
            return evlog_status(rc);
        for (rc = mdb_cursor_get(mc, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
             rc = mdb_cursor_get(mc, &k, &v, MDB_NEXT)) {
            if (k.mv_size >= sizeof name)
                continue;
            memcpy(name, k.mv_data, k.mv_size);
            name[k.mv_size] = '\0';
            if (strlen(name) != k.mv_size) /* not a DB name */
                continue;
            if ((exact && strcmp(name, exact) == 0) ||
                (prefix && strncmp(name, prefix, strlen(prefix)) == 0)) {
                found = true;
                break;
            }
        }
        mdb_cursor_close(mc);
        if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
            return evlog_status(rc);
        if (!found)
            return CHATD_OK;
        rc = mdb_dbi_open(txn, name, 0, &dbi);
        if (rc == MDB_SUCCESS)
            rc = mdb_drop(txn, dbi, 1);
        if (rc != MDB_SUCCESS)
            return evlog_status(rc);
    }
}

static int get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out)
{
    return evlog_mdb_get_u64(txn, dbi, key, strlen(key), true, out);
}

static int open_view_dbis(struct evlog *log, MDB_txn *txn)
{
    unsigned flags = log->read_only ? 0 : MDB_CREATE;
    int rc = mdb_dbi_open(txn, "streams", flags, &log->streams_dbi);

    if (rc == MDB_SUCCESS)
        rc = mdb_dbi_open(txn, "vmeta", flags, &log->vmeta_dbi);
    return evlog_status(rc);
}

/* The marker left by the last writer, "" if it closed cleanly. */
static int read_marker(struct evlog *log, char *out, size_t size)
{
    MDB_txn *txn;
    MDB_val k = {strlen(MARKER), MARKER}, v;
    int rc = mdb_txn_begin(log->env, NULL, MDB_RDONLY, &txn);

    out[0] = '\0';
    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    rc = mdb_get(txn, log->meta_dbi, &k, &v);
    if (rc == MDB_SUCCESS)
        snprintf(out, size, "%.*s", (int)v.mv_size, (const char *)v.mv_data);
    mdb_txn_abort(txn);
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? CHATD_OK
                                                   : evlog_status(rc);
}

/* Sets (boot id) or removes (NULL) the marker, in a synced commit. */
static int write_marker(struct evlog *log, const char *boot)
{
    MDB_txn *txn;
    MDB_val k = {strlen(MARKER), MARKER};
    int rc = mdb_txn_begin(log->env, NULL, 0, &txn);

    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    if (boot) {
        MDB_val v = {strlen(boot), (void *)boot};
        rc = mdb_put(txn, log->meta_dbi, &k, &v, 0);
    } else {
        rc = mdb_del(txn, log->meta_dbi, &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = MDB_SUCCESS;
    }
    if (rc != MDB_SUCCESS) {
        mdb_txn_abort(txn);
        return evlog_status(rc);
    }
    rc = mdb_txn_commit(txn);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_sync(log->env, 1); /* even in relaxed mode */
    return evlog_status(rc);
}

/* Opens the views' databases and, for a writer, empties them if they
 * cannot be trusted, syncing the empty state before anything else. */
static int init_views(struct evlog *log, bool wipe)
{
    MDB_txn *txn;
    uint64_t applied = 0;
    int rc = evlog_views_begin(log, &txn);

    if (rc != CHATD_OK)
        return rc;
    rc = wipe ? evlog_drop_named(txn, NULL, "") : CHATD_OK;
    if (rc == CHATD_OK)
        rc = open_view_dbis(log, txn);
    if (rc == CHATD_OK)
        rc = get_u64(txn, log->vmeta_dbi, APPLIED, &applied);
    if (rc == CHATD_OK && applied > evlog_last_seq(log) && !log->read_only) {
        /* Read models ahead of the log: the log was restored without
         * them. They describe events that do not exist any more. */
        core_log(CORE_LOG_WARN, "evlog", "%s: read models reflect seq %llu "
                 "but the log ends at %llu; emptying them for a rebuild",
                 log->vpath, (unsigned long long)applied,
                 (unsigned long long)evlog_last_seq(log));
        mdb_txn_abort(txn);
        return init_views(log, true);
    }
    uint64_t format = 0;
    if (rc == CHATD_OK)
        rc = get_u64(txn, log->vmeta_dbi, FORMAT, &format);
    if (rc == CHATD_OK && format != VIEWS_FORMAT && !log->read_only) {
        if (applied > 0 && !wipe) {
            core_log(CORE_LOG_WARN, "evlog", "%s: read models written by an "
                     "earlier build (layout %llu, now %d); emptying them for "
                     "a rebuild from the log", log->vpath,
                     (unsigned long long)format, VIEWS_FORMAT);
            mdb_txn_abort(txn);
            return init_views(log, true);
        }
        unsigned char buf[8];
        MDB_val k = {strlen(FORMAT), FORMAT}, v = {8, buf};
        core_be64_put(buf, VIEWS_FORMAT);
        rc = evlog_status(mdb_put(txn, log->vmeta_dbi, &k, &v, 0));
    }
    if (rc != CHATD_OK) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = evlog_status(mdb_txn_commit(txn));
    if (rc == CHATD_OK && wipe) {
        rc = evlog_status(mdb_env_sync(log->venv, 1));
        log->views_reset = true;
    }
    return rc;
}

int evlog_views_begin(struct evlog *log, MDB_txn **out)
{
    int rc = evlog_status(mdb_txn_begin(log->venv, NULL,
                                        log->read_only ? MDB_RDONLY : 0, out));

    if (rc == CHATD_OK && !log->read_only) {
        rc = evlog_vspace_ensure(log);
        if (rc != CHATD_OK)
            mdb_txn_abort(*out);
    }
    return rc;
}

/* An environment's file `name` in `dir`, which may be torn: gone, never
 * read. A failure is told through opt, when given. */
static int remove_env_file(const char *dir, const char *name,
                           const struct evlog_options *opt)
{
    char path[PATH_MAX + 16]; /* dir + a file name */

    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (unlink(path) != 0 && errno != ENOENT) {
        int err = errno;

        if (opt)
            evlog_set_err(opt, "%s: cannot remove it: %s", path,
                          strerror(err));
        return evlog_status(err);
    }
    return CHATD_OK;
}

static int remove_env_files(const char *dir, const struct evlog_options *opt)
{
    int rc = remove_env_file(dir, "data.mdb", opt);

    return rc == CHATD_OK ? remove_env_file(dir, "lock.mdb", opt) : rc;
}

/* The two meta pages of a new, empty environment (made in `dir`, then
 * removed) into metas[], which holds 2 * EVLOG_MAX_PAGE bytes; *len: how
 * many bytes they take. */
static int empty_env_metas(const char *dir, const struct evlog_options *opt,
                           unsigned char *metas, size_t *len)
{
    struct evlog_options writable = *opt;
    char path[PATH_MAX + 16];
    MDB_env *env;
    MDB_stat st;
    int fd, rc;
    ssize_t n = -1;

    writable.read_only = false;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return evlog_status(errno);
    remove_env_files(dir, NULL); /* what a start that died here left */
    rc = evlog_env_open(&env, dir, true, MDB_NOSYNC, &writable);
    if (rc != CHATD_OK)
        goto out_remove;
    rc = evlog_status(mdb_env_stat(env, &st));
    mdb_env_close(env);
    if (rc != CHATD_OK)
        goto out_remove;
    *len = 2 * (size_t)st.ms_psize;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = *len <= 2 * EVLOG_MAX_PAGE ? pread(fd, metas, *len, 0) : -1;
        close(fd);
    }
    if (n < 0 || (size_t)n != *len)
        rc = CHATD_EIO;
out_remove:
    remove_env_files(dir, NULL);
    rmdir(dir);
    return rc;
}

/* The views' files, which may be torn, made empty without reading them:
 * a new environment's two meta pages are written over the old file's, so
 * LMDB finds no tree in it and takes pages from the third on, over blocks
 * it never reads (nothing points to them). Keeping the file's blocks
 * spares the kernel what a new file costs: allocating every block and
 * page cache page anew, ~4 s of system time for 4.4 GB of read models
 * (docs/PERFORMANCE.md, "Replay"). With no old file worth keeping, or if
 * this fails, both files are removed instead. */
static int reset_views_files(const struct evlog *log,
                             const struct evlog_options *opt)
{
    char dir[PATH_MAX], path[PATH_MAX];
    unsigned char *metas;
    struct stat sb;
    size_t len = 0;
    ssize_t n = -1;
    int fd;

    snprintf(path, sizeof path, "%s/data.mdb", log->vpath);
    snprintf(dir, sizeof dir, "%s/reset.tmp", log->vpath);
    if (stat(path, &sb) != 0 || sb.st_size < 2 * EVLOG_MAX_PAGE)
        return remove_env_files(log->vpath, opt);
    metas = malloc(2 * EVLOG_MAX_PAGE);
    if (metas && empty_env_metas(dir, opt, metas, &len) == CHATD_OK) {
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            n = pwrite(fd, metas, len, 0);
            close(fd);
        }
    }
    free(metas);
    if (n < 0 || (size_t)n != len)
        return remove_env_files(log->vpath, opt);
    /* the reader table: LMDB makes it anew */
    return remove_env_file(log->vpath, "lock.mdb", opt);
}

/* Before a writer opens the views: whether they start empty (*fresh),
 * because it was asked or because the machine went down under the last
 * writer; their files are then reset without being read. */
static int views_start_fresh(struct evlog *log,
                             const struct evlog_options *opt, bool *fresh)
{
    char marker[64];
    int rc;

    *fresh = opt->fresh_views;
    if (!*fresh) {
        rc = read_marker(log, marker, sizeof marker);
        if (rc != CHATD_OK)
            return rc;
        if (marker[0] && strcmp(marker, log->boot_id) != 0) {
            core_log(CORE_LOG_WARN, "evlog", "%s: the machine went down "
                     "while chatd was running (boot %s, now %s): the read "
                     "models may be torn and are rebuilt from the log",
                     log->vpath, marker, log->boot_id);
            *fresh = true;
        } else if (marker[0]) {
            core_log(CORE_LOG_INFO, "evlog", "%s: chatd did not stop "
                     "cleanly; the read models catch up from the log",
                     log->vpath);
        }
    }
    return *fresh ? reset_views_files(log, opt) : CHATD_OK;
}

int evlog_views_open(struct evlog *log, const struct evlog_options *opt)
{
    bool wipe = false; /* reset files: init_views marks them so */
    int rc;

    read_boot_id(log->boot_id, sizeof log->boot_id, opt->boot_id);
    if (!log->read_only) {
        rc = views_start_fresh(log, opt, &wipe);
        if (rc != CHATD_OK)
            return rc;
    }
    /* Mapped writable only with the file written ahead: vspace.c. */
    rc = evlog_env_open(&log->venv, log->vpath, true,
                        MDB_NOSYNC | (log->vmap_writable ? MDB_WRITEMAP : 0),
                        opt);
    if (rc != CHATD_OK)
        return rc;
    rc = evlog_vspace_open(log);
    if (rc != CHATD_OK) {
        evlog_set_err(opt, "%s: cannot write the read models' file ahead: "
                      "%s", log->vpath,
                      rc == CHATD_EFULL ? "no room left on its file system"
                                        : core_strerror(rc));
        goto out_close;
    }
    rc = init_views(log, wipe);
    if (rc == CHATD_OK && !log->read_only)
        rc = write_marker(log, log->boot_id);
    if (rc != CHATD_OK) {
        evlog_set_err(opt, "%s: cannot open the read models: %s", log->vpath,
                    core_strerror(rc));
        goto out_close;
    }
    return CHATD_OK;

out_close:
    mdb_env_close(log->venv);
    log->venv = NULL;
    return rc;
}

void evlog_views_close(struct evlog *log)
{
    if (!log->venv)
        return;
    if (!log->read_only) {
        int rc = evlog_status(mdb_env_sync(log->venv, 1));

        if (rc == CHATD_OK)
            rc = write_marker(log, NULL);
        if (rc != CHATD_OK)
            core_log(CORE_LOG_WARN, "evlog", "%s: read models not closed "
                     "cleanly (%s); the next start treats them as after a "
                     "crash", log->vpath, core_strerror(rc));
    }
    evlog_rpool_drain(&log->vpool);
    mdb_env_close(log->venv);
    log->venv = NULL;
}

bool evlog_views_were_reset(const struct evlog *log)
{
    return log->views_reset;
}

/* --- inside transactions --- */

int evlog_views_put_applied(struct evlog_txn *txn, uint64_t seq)
{
    unsigned char buf[8];
    MDB_val k = {strlen(APPLIED), APPLIED}, v = {8, buf};

    core_be64_put(buf, seq);
    evlog_txn_wrote(txn);
    return evlog_status(mdb_put(txn->mdb, txn->log->vmeta_dbi, &k, &v, 0));
}

int evlog_views_applied(struct evlog_txn *txn, uint64_t *out)
{
    int rc = evlog_txn_check(txn, false);

    if (rc != CHATD_OK)
        return rc;
    return get_u64(txn->mdb, txn->log->vmeta_dbi, APPLIED, out);
}

/* A txn usable for the access and a key a module's caller may use. */
static int views_meta_check(struct evlog_txn *txn, const char *key,
                            bool write)
{
    int rc = evlog_txn_check(txn, write);

    if (rc != CHATD_OK)
        return rc;
    if (!key || !key[0] || strlen(key) > EVLOG_KEY_MAX ||
        strcmp(key, APPLIED) == 0 || strcmp(key, FORMAT) == 0)
        return CHATD_EINVAL;
    return CHATD_OK;
}

int evlog_views_meta_get_u64(struct evlog_txn *txn, const char *key,
                             uint64_t *out)
{
    int rc = views_meta_check(txn, key, false);

    if (rc != CHATD_OK)
        return rc;
    return evlog_mdb_get_u64(txn->mdb, txn->log->vmeta_dbi, key, strlen(key),
                             false, out);
}

int evlog_views_meta_put_u64(struct evlog_txn *txn, const char *key,
                             uint64_t val)
{
    unsigned char buf[8];
    int rc = views_meta_check(txn, key, true);

    if (rc != CHATD_OK)
        return rc;
    core_be64_put(buf, val);

    MDB_val k = {strlen(key), (void *)key}, v = {8, buf};
    evlog_txn_wrote(txn);
    return evlog_status(mdb_put(txn->mdb, txn->log->vmeta_dbi, &k, &v, 0));
}

int evlog_views_reset(struct evlog_txn *txn)
{
    int rc = evlog_txn_check(txn, true);

    if (rc != CHATD_OK)
        return rc;
    evlog_txn_wrote(txn);
    rc = evlog_status(mdb_drop(txn->mdb, txn->log->streams_dbi, 0));
    if (rc == CHATD_OK)
        rc = evlog_views_put_applied(txn, 0);
    return rc;
}

int evlog_views_advance(struct evlog_txn *txn, const struct evlog_batch *b)
{
    struct chatd_event ev;
    unsigned char buf[8];
    size_t n = evlog_batch_count(b);
    int rc = evlog_txn_check(txn, true);

    if (rc == CHATD_OK)
        evlog_txn_wrote(txn);
    for (size_t i = 0; rc == CHATD_OK && i < n; i++) {
        rc = evlog_batch_event(b, i, &ev);
        if (rc != CHATD_OK)
            break;
        core_be64_put(buf, ev.stream_ver);

        MDB_val k = {strlen(ev.stream), (void *)ev.stream}, v = {8, buf};
        rc = evlog_status(mdb_put(txn->mdb, txn->log->streams_dbi, &k, &v, 0));
    }
    if (rc == CHATD_OK && evlog_batch_last_seq(b) != 0)
        rc = evlog_views_put_applied(txn, evlog_batch_last_seq(b));
    return rc;
}
