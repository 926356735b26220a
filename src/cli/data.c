#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/core.h"

int cli_data_dir(const struct config *cfg)
{
    if (mkdir(cfg->data_dir, 0700) == 0 || errno == EEXIST)
        return CHATD_OK;
    core_log(CORE_LOG_ERROR, "chatd", "data directory %s: cannot create: %s",
             cfg->data_dir, strerror(errno));
    return CHATD_EIO;
}

static int read_token(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return errno == ENOENT ? CHATD_ENOTFOUND : CHATD_EIO;
    n = fread(out, 1, len - 1, f);
    fclose(f);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        n--;
    out[n] = '\0';
    return n > 0 ? CHATD_OK : CHATD_EIO;
}

static int write_token(const char *path, char *out, size_t len)
{
    char tmp[PATH_MAX + 48];
    int fd;
    ssize_t w;

    if (len < 49 || core_random_hex(out, 24) != CHATD_OK)
        return CHATD_EIO;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return CHATD_EIO;
    w = write(fd, out, strlen(out));
    if (w != (ssize_t)strlen(out) || fsync(fd) != 0 || close(fd) != 0 ||
        rename(tmp, path) != 0) {
        unlink(tmp);
        return CHATD_EIO;
    }
    return CHATD_OK;
}

int cli_admin_token(const struct config *cfg, char *out, size_t len)
{
    const char *env = getenv("CHATD_ADMIN_TOKEN");
    char path[PATH_MAX + 32];
    int rc;

    if (env != NULL && env[0] != '\0') {
        snprintf(out, len, "%s", env);
        return CHATD_OK;
    }
    snprintf(path, sizeof(path), "%s/admin.token", cfg->data_dir);
    rc = read_token(path, out, len);
    if (rc == CHATD_ENOTFOUND) {
        rc = write_token(path, out, len);
        if (rc == CHATD_OK)
            core_log(CORE_LOG_INFO, "chatd",
                     "generated an admin token in %s (mode 0600)", path);
    }
    if (rc != CHATD_OK)
        core_log(CORE_LOG_ERROR, "chatd",
                 "admin token: cannot read or create %s (set "
                 "CHATD_ADMIN_TOKEN instead)",
                 path);
    return rc;
}
