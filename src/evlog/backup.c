/*
 * backup.c — a consistent online copy of the environment.
 *
 * mdb_env_copy2 copies one read snapshot while the writer goes on, so the
 * copy holds a prefix of the log and the stores exactly as they were at
 * one commit. Compaction leaves out free pages, so the copy is usually
 * smaller than the original. The copy lands in DEST/db/, the same layout
 * as a data directory, so `chatd --data DEST` can open it as it is.
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

static int copy_into(struct evlog *log, const char *dest, const char *db,
                     const char *file)
{
    int rc;

    if (mkdir(db, 0700) != 0)
        return CHATD_EIO;
    rc = evlog_status(mdb_env_copy2(log->env, db, MDB_CP_COMPACT));
    if (rc == CHATD_OK)
        rc = sync_copy(dest, db, file);
    if (rc != CHATD_OK) {
        unlink(file);
        rmdir(db);
    }
    return rc;
}

int evlog_backup(struct evlog *log, const char *dest_dir)
{
    char *db = NULL, *file = NULL;
    bool created;
    int rc;

    if (!log || !dest_dir || !dest_dir[0])
        return CHATD_EINVAL;
    if (asprintf(&db, "%s/db", dest_dir) < 0)
        return CHATD_ENOMEM;
    if (asprintf(&file, "%s/data.mdb", db) < 0) {
        rc = CHATD_ENOMEM;
        goto out_free_db;
    }
    rc = dest_prepare(dest_dir, &created);
    if (rc != CHATD_OK)
        goto out_free_file;
    rc = copy_into(log, dest_dir, db, file);
    if (rc != CHATD_OK && created)
        rmdir(dest_dir);

out_free_file:
    free(file);
out_free_db:
    free(db);
    return rc;
}
