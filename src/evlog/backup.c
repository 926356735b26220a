/*
 * backup.c — a consistent online copy of both environments.
 *
 * mdb_env_copy2 copies one read snapshot while the writer goes on. The read
 * models are copied first, then the log: the writer commits the log before
 * the read models, so the copied read models reflect a prefix of the
 * copied log, and the copy catches up from its own log when opened. The
 * copy's log then loses the "open" mark of the running server (views.c),
 * so opening the copy does not take the server's run for a crash.
 * Compaction leaves out free pages, so the copy is usually smaller than
 * the original. The copy has the layout of a data directory (DEST/db,
 * DEST/views), so `chatd --data DEST` opens it as it is.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evlog/internal.h"

/* CHATD_OK if path is an empty directory or does not exist (*created says
 * which, after creating it). */
static int dest_prepare(const char *path, bool *created)
{
    DIR *d;
    struct dirent *e;
    int rc = CHATD_OK;

    *created = false;
    if (mkdir(path, 0700) == 0) {
        *created = true;
        return CHATD_OK;
    }
    if (errno != EEXIST)
        return CHATD_EIO;
    d = opendir(path);
    if (!d)
        return errno == ENOTDIR ? CHATD_EEXIST : CHATD_EIO;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            rc = CHATD_EEXIST;
            break;
        }
    }
    closedir(d);
    return rc;
}

static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return CHATD_EIO;
    rc = fsync(fd) == 0 ? CHATD_OK : CHATD_EIO;
    close(fd);
    return rc;
}

/* The copy is only a backup once it is on disk, names included. */
static int sync_copy(const char *dest, const char *db, const char *file)
{
    int rc = fsync_path(file, O_RDONLY);

    if (rc == CHATD_OK)
        rc = fsync_path(db, O_RDONLY | O_DIRECTORY);
    if (rc == CHATD_OK)
        rc = fsync_path(dest, O_RDONLY | O_DIRECTORY);
    return rc;
}

/* Copies one environment into sub (created) and syncs it. */
static int copy_env(MDB_env *env, const char *dest, const char *sub)
{
    char *file = NULL;
    int rc;

    if (asprintf(&file, "%s/data.mdb", sub) < 0)
        return CHATD_ENOMEM;
    if (mkdir(sub, 0700) != 0) {
        free(file);
        return CHATD_EIO;
    }
    rc = evlog_status(mdb_env_copy2(env, sub, MDB_CP_COMPACT));
    /* LMDB creates the copy 0666 less the umask: the messages in it are
     * no one else's to read, wherever the file is moved later. */
    if (rc == CHATD_OK && chmod(file, 0600) != 0)
        rc = CHATD_EIO;
    if (rc == CHATD_OK)
        rc = sync_copy(dest, sub, file);
    if (rc != CHATD_OK) {
        unlink(file);
        rmdir(sub);
    }
    free(file);
    return rc;
}

/* The copy was taken from a running writer: drop its "open" mark. */
static int unmark_copy(const char *db)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    MDB_val k = {10, "views_boot"};
    int rc = mdb_env_create(&env);

    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    rc = mdb_env_set_maxdbs(env, 4);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_open(env, db, 0, 0600);
    if (rc == MDB_SUCCESS)
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "meta", 0, &meta);
        if (rc == MDB_SUCCESS)
            rc = mdb_del(txn, meta, &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = MDB_SUCCESS;
        if (rc == MDB_SUCCESS)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    if (rc == MDB_SUCCESS) { /* lock.mdb is not part of a backup */
        char *lock = NULL;

        if (asprintf(&lock, "%s/lock.mdb", db) >= 0)
            unlink(lock);
        free(lock);
    }
    return evlog_status(rc);
}

static int remove_copy(const char *sub)
{
    char *file = NULL;

    if (asprintf(&file, "%s/data.mdb", sub) >= 0)
        unlink(file);
    free(file);
    return rmdir(sub);
}

int evlog_backup(struct evlog *log, const char *dest_dir)
{
    char *db = NULL, *views = NULL;
    bool created;
    int rc;

    if (!log || !dest_dir || !dest_dir[0])
        return CHATD_EINVAL;
    if (asprintf(&db, "%s/db", dest_dir) < 0)
        return CHATD_ENOMEM;
    if (asprintf(&views, "%s/views", dest_dir) < 0) {
        rc = CHATD_ENOMEM;
        goto out_free_db;
    }
    rc = dest_prepare(dest_dir, &created);
    if (rc != CHATD_OK)
        goto out_free_views;
    rc = copy_env(log->venv, dest_dir, views);
    if (rc == CHATD_OK) {
        rc = copy_env(log->env, dest_dir, db);
        if (rc == CHATD_OK)
            rc = unmark_copy(db);
        if (rc != CHATD_OK) {
            remove_copy(db);
            remove_copy(views);
        }
    }
    if (rc != CHATD_OK && created)
        rmdir(dest_dir);

out_free_views:
    free(views);
out_free_db:
    free(db);
    return rc;
}
