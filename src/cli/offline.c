/*
 * The commands that run beside or instead of the server: rebuild, verify
 * and reset-subscriber (offline: they take the data directory's lock,
 * like serve), and backup, dump and check-module (online: read-only).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <ftw.h>

#include "cli/cli.h"
#include "core/core.h"
#include "evlog/evlog.h"
#include "json/event_json.h"
#include "modhost/modhost.h"
#include "ws/userfeed.h"

/* An exclusive lock on DATA/chatd.lock, held until the process exits, so
 * rebuild/verify never run under a live server (and vice versa). */
int cli_lock_data(const struct config *cfg, const char *what)
{
    char path[PATH_MAX + 32];
    int fd;

    snprintf(path, sizeof(path), "%s/chatd.lock", cfg->data_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        core_log(CORE_LOG_ERROR, "chatd",
                 "%s: the data directory %s is in use by another chatd "
                 "(stop the server first)",
                 what, cfg->data_dir);
        if (fd >= 0)
            close(fd);
        return CHATD_ESTATE;
    }
    return CHATD_OK; /* the descriptor stays open on purpose */
}

struct offline {
    struct evlog *log;
    struct userfeed *userfeed;
    struct modhost *mh;
};

/* How the commands here open the data directory (through pwrite, never
 * the writable map). */
static struct evlog_options offline_options(const struct config *cfg)
{
    return (struct evlog_options){.dir = cfg->data_dir,
                                  .map_size = (size_t)cfg->map_size,
                                  .nosync = cfg->nosync,
                                  .boot_id = getenv("CHATD_BOOT_ID")};
}

/* fresh_views: the read models start empty, unread (a full rebuild). */
static int offline_open(const struct config *cfg, struct offline *o,
                        bool fresh_views)
{
    struct evlog_options opt = offline_options(cfg);
    struct modhost_deps deps = {0};
    int rc;

    opt.fresh_views = fresh_views;
    memset(o, 0, sizeof(*o));
    rc = evlog_open(&o->log, &opt);
    if (rc == CHATD_OK)
        rc = userfeed_open(&o->userfeed, o->log);
    if (rc == CHATD_OK)
        rc = cli_modules_load(cfg, NULL, &o->mh);
    if (rc != CHATD_OK)
        return rc;
    deps.log = o->log;
    deps.userfeed = o->userfeed;
    return modhost_attach(o->mh, &deps);
}

static void offline_close(struct offline *o)
{
    modhost_free(o->mh);
    if (o->userfeed != NULL)
        userfeed_close(o->userfeed);
    if (o->log != NULL)
        evlog_close(o->log);
}

/* How far the read models are behind the log (0 if not). Opening the log
 * empties untrustworthy read models, as serve's own open would. */
static int views_behind(const struct config *cfg, uint64_t *behind,
                        char *err, size_t err_size)
{
    struct evlog_options opt = offline_options(cfg);
    struct evlog_txn *t = NULL;
    struct evlog *log = NULL;
    uint64_t applied = 0;
    int rc;

    opt.err = err;
    opt.err_size = err_size;
    rc = evlog_open(&log, &opt);

    if (rc == CHATD_OK)
        rc = evlog_txn_begin(log, false, &t);
    if (rc == CHATD_OK)
        rc = evlog_views_applied(t, &applied);
    if (t != NULL)
        evlog_txn_abort(t);
    *behind = rc == CHATD_OK && evlog_last_seq(log) > applied
                  ? evlog_last_seq(log) - applied
                  : 0;
    if (log != NULL)
        evlog_close(log);
    return rc;
}

int cli_views_catch_up(const struct config *cfg, char *err, size_t err_size)
{
    struct offline o = {0};
    uint64_t behind = 0;
    int rc = views_behind(cfg, &behind, err, err_size);

    if (rc != CHATD_OK || behind == 0)
        return rc;
    core_log(CORE_LOG_INFO, "chatd", "the read models are %llu events "
             "behind the log: catching them up before serving",
             (unsigned long long)behind);
    rc = offline_open(cfg, &o, false);
    if (rc == CHATD_OK)
        rc = modhost_prepare(o.mh);
    offline_close(&o);
    return rc;
}

int cli_rebuild(const struct config *cfg, const char *name)
{
    struct offline o = {0};
    uint64_t events = 0;
    uint64_t start = core_mono_ns();
    int rc;

    rc = cli_lock_data(cfg, "rebuild");
    if (rc == CHATD_OK)
        rc = offline_open(cfg, &o, name == NULL);
    if (rc == CHATD_OK && name != NULL) /* the others must be current */
        rc = modhost_recover(o.mh);
    if (rc == CHATD_OK)
        rc = modhost_rebuild(o.mh, name, &events);
    if (rc == CHATD_OK)
        printf("rebuilt %s from %llu events in %.3f s\n",
               name ? name : "all read models", (unsigned long long)events,
               (double)(core_mono_ns() - start) / 1e9);
    offline_close(&o);
    return rc == CHATD_OK ? 0 : 1;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    return remove(path);
}

int cli_verify(const struct config *cfg)
{
    char scratch[PATH_MAX + 32];
    struct offline o = {0};
    int rc;

    if (cli_lock_data(cfg, "verify") != CHATD_OK)
        return 1;
    snprintf(scratch, sizeof(scratch), "%s/verify.XXXXXX", cfg->data_dir);
    if (mkdtemp(scratch) == NULL) {
        core_log(CORE_LOG_ERROR, "verify", "cannot make %s: %s", scratch,
                 strerror(errno));
        return 1;
    }
    rc = offline_open(cfg, &o, false);
    if (rc == CHATD_OK)
        rc = modhost_recover(o.mh);
    if (rc == CHATD_OK)
        rc = modhost_verify(o.mh, scratch);
    offline_close(&o);
    nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("verify: %s\n", rc == CHATD_OK ? "ok" : "FAILED");
    return rc == CHATD_OK ? 0 : 1;
}

int cli_backup(const struct config *cfg, const char *dest)
{
    struct evlog_options opt = {.dir = cfg->data_dir,
                                .map_size = (size_t)cfg->map_size,
                                .read_only = true};
    struct evlog *log;
    int rc;

    rc = evlog_open(&log, &opt);
    if (rc != CHATD_OK) {
        core_log(CORE_LOG_ERROR, "backup", "cannot open %s: %s",
                 cfg->data_dir, core_strerror(rc));
        return 1;
    }
    rc = evlog_backup(log, dest);
    if (rc == CHATD_OK)
        printf("backup of %s (up to seq %llu) written to %s\n", cfg->data_dir,
               (unsigned long long)evlog_last_seq(log), dest);
    else
        core_log(CORE_LOG_ERROR, "backup", "to %s failed: %s", dest,
                 core_strerror(rc));
    evlog_close(log);
    return rc == CHATD_OK ? 0 : 1;
}

static int print_event(void *arg, const struct chatd_event *ev)
{
    size_t len = 0;
    char *text = event_json_text(ev, &len);

    if (text == NULL)
        return CHATD_EIO;
    fwrite(text, 1, len, stdout);
    fputc('\n', stdout);
    free(text);
    return ferror(stdout) ? CHATD_EIO : CHATD_OK;
}

int cli_dump(const struct config *cfg, uint64_t after)
{
    struct evlog_options opt = {.dir = cfg->data_dir,
                                .map_size = (size_t)cfg->map_size,
                                .read_only = true};
    struct evlog_txn *txn;
    struct evlog *log;
    int rc;

    rc = evlog_open(&log, &opt);
    if (rc != CHATD_OK) {
        core_log(CORE_LOG_ERROR, "dump", "cannot open %s: %s", cfg->data_dir,
                 core_strerror(rc));
        return 1;
    }
    rc = evlog_txn_begin(log, false, &txn);
    if (rc == CHATD_OK) {
        rc = evlog_scan(txn, after, 0, print_event, NULL);
        evlog_txn_abort(txn);
    }
    evlog_close(log);
    fflush(stdout);
    return rc == CHATD_OK ? 0 : 1;
}

/* The async subscribers this configuration runs: the modules' and, with
 * push.webhook_url set, the host's push subscriber (whose checkpoint,
 * while push is off, must stay absent: push starts at the end of the log
 * when it is turned on). */
static bool subscriber_known(const struct config *cfg,
                             const struct modhost *mh, const char *name)
{
    const json_t *push = config_section(cfg, "push");
    bool push_on = push != NULL &&
                   json_is_string(json_object_get(push, "webhook_url"));
    const char *names[64];
    uint64_t pos[64];
    size_t n = modhost_subscriber_positions(mh, names, pos, 64);

    if (push_on && strcmp(name, "host.push") == 0)
        return true;
    for (size_t i = 0; i < n && i < 64; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    core_log(CORE_LOG_ERROR, "reset-subscriber",
             "no subscriber \"%s\" in this configuration; there are:", name);
    for (size_t i = 0; i < n && i < 64; i++)
        core_log(CORE_LOG_ERROR, "reset-subscriber", "  %s", names[i]);
    if (push_on)
        core_log(CORE_LOG_ERROR, "reset-subscriber", "  host.push");
    else if (strcmp(name, "host.push") == 0)
        core_log(CORE_LOG_ERROR, "reset-subscriber", "(host.push runs only "
                 "with push.webhook_url set)");
    return false;
}

static int set_checkpoint(struct evlog *log, const char *key, uint64_t after,
                          uint64_t *was)
{
    struct evlog_txn *txn;
    int rc = evlog_txn_begin(log, true, &txn);

    if (rc != CHATD_OK)
        return rc;
    rc = evlog_meta_get_u64(txn, key, was);
    if (rc == CHATD_ENOTFOUND) {
        *was = 0;
        rc = CHATD_OK;
    }
    if (rc == CHATD_OK)
        rc = evlog_meta_put_u64(txn, key, after);
    if (rc != CHATD_OK) {
        evlog_txn_abort(txn);
        return rc;
    }
    return evlog_txn_commit(txn); /* synced, like every log commit */
}

int cli_reset_subscriber(const struct config *cfg, const char *name,
                         uint64_t after)
{
    struct offline o = {0};
    char key[EVLOG_KEY_MAX];
    uint64_t was = 0, last;
    int rc;

    if (snprintf(key, sizeof(key), "ckpt:%s", name) >= (int)sizeof(key)) {
        core_log(CORE_LOG_ERROR, "reset-subscriber", "no subscriber has a "
                 "name that long");
        return 2;
    }
    rc = cli_lock_data(cfg, "reset-subscriber");
    if (rc == CHATD_OK)
        rc = offline_open(cfg, &o, false);
    if (rc != CHATD_OK) {
        offline_close(&o);
        return 1;
    }
    last = evlog_last_seq(o.log);
    if (!subscriber_known(cfg, o.mh, name)) {
        offline_close(&o);
        return 1;
    }
    if (after > last) {
        core_log(CORE_LOG_ERROR, "reset-subscriber",
                 "--after %llu is past the end of the log (%llu)",
                 (unsigned long long)after, (unsigned long long)last);
        offline_close(&o);
        return 2;
    }
    rc = set_checkpoint(o.log, key, after, &was);
    if (rc == CHATD_OK)
        printf("subscriber %s: checkpoint %llu -> %llu; at the next start it "
               "handles the %llu events after %llu again\n", name,
               (unsigned long long)was, (unsigned long long)after,
               (unsigned long long)(last - after), (unsigned long long)after);
    else
        core_log(CORE_LOG_ERROR, "reset-subscriber",
                 "cannot write the checkpoint of %s: %s", name,
                 core_strerror(rc));
    offline_close(&o);
    return rc == CHATD_OK ? 0 : 1;
}

int cli_check_module(const char *path)
{
    char why[512] = "";
    int rc = modhost_check_file(path, why, sizeof(why));

    if (rc == CHATD_OK)
        printf("%s: ok (ABI %d.%d)\n", path, CHATD_ABI_MAJOR, CHATD_ABI_MINOR);
    else
        printf("%s: refused: %s\n", path, why);
    return rc == CHATD_OK ? 0 : 1;
}
