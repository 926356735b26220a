/*
 * evlog.c — opening and closing the environment, the epoch, meta values.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "evlog/internal.h"

#define DEFAULT_MAP_SIZE ((size_t)64 << 30)
/* Every transaction allocates (and zeroes) a slot per possible database,
 * so the limits are what is needed, not more: the log has "log" and
 * "meta" (a few more while upgrading a format 1 directory); the read
 * models have "streams", "vmeta" and the stores of every module. */
#define LOG_MAX_DBS 8
#define VIEWS_MAX_DBS 128
#define MAX_READERS 512

int evlog_status(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return CHATD_OK;
    case MDB_NOTFOUND:
        return CHATD_ENOTFOUND;
    case MDB_KEYEXIST:
        return CHATD_EEXIST;
    case MDB_MAP_FULL:
    case MDB_DBS_FULL:
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL:
    case MDB_PAGE_FULL:
        return CHATD_EFULL;
    case MDB_BAD_VALSIZE:
    case EINVAL:
        return CHATD_EINVAL;
    case MDB_BAD_RSLOT:
    case MDB_BAD_TXN:
    case MDB_BAD_DBI:
    case EACCES:
        return CHATD_ESTATE;
    case ENOMEM:
        return CHATD_ENOMEM;
    case ENOSPC: /* the disk: a commit's pwrite */
    case EDQUOT:
        return CHATD_EFULL;
    default:
        return CHATD_EIO;
    }
}

void evlog_set_err(const struct evlog_options *opt, const char *fmt, ...)
{
    va_list ap;

    if (!opt->err || opt->err_size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(opt->err, opt->err_size, fmt, ap);
    va_end(ap);
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return CHATD_OK;
    return errno == EACCES ? CHATD_EPERM : CHATD_EIO;
}

static char *join_path(const char *dir, const char *leaf)
{
    size_t len = strlen(dir) + strlen(leaf) + 2;
    char *p = malloc(len);

    if (p)
        snprintf(p, len, "%s/%s", dir, leaf);
    return p;
}

/* The epoch is made once, when the data directory is created: it tells a
 * restored backup (same epoch, older seq) from a different directory. */
static int load_epoch(struct evlog *log, MDB_txn *txn)
{
    MDB_val k = {5, "epoch"}, v;
    int rc = mdb_get(txn, log->meta_dbi, &k, &v);

    if (rc == MDB_NOTFOUND && !log->read_only) {
        rc = core_random_hex(log->epoch, 8);
        if (rc != CHATD_OK)
            return rc;
        v = (MDB_val){16, log->epoch};
        return evlog_status(mdb_put(txn, log->meta_dbi, &k, &v, 0));
    }
    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    if (v.mv_size != 16)
        return CHATD_EIO;
    memcpy(log->epoch, v.mv_data, 16);
    log->epoch[16] = '\0';
    return CHATD_OK;
}

/* "format" names the layout of the data directory; a newer one is refused
 * rather than misread. Format 1 kept the read models beside the log: they
 * are dropped here and rebuilt in DIR/views from the log at start. */
static int check_format(struct evlog *log, MDB_txn *txn)
{
    MDB_val k = {6, "format"}, v;
    unsigned char buf[8];
    uint64_t have = 0;
    int rc = mdb_get(txn, log->meta_dbi, &k, &v);

    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        return evlog_status(rc);
    if (rc == MDB_SUCCESS) {
        if (v.mv_size != 8)
            return CHATD_EIO;
        have = core_be64_get(v.mv_data);
        if (have > EVLOG_ENV_FORMAT)
            return CHATD_EIO;
        if (have == EVLOG_ENV_FORMAT)
            return CHATD_OK;
    }
    if (log->read_only) /* an old layout is upgraded by a writable open */
        return have == 0 ? CHATD_ENOTFOUND : CHATD_ESTATE;
    if (have == 1) {
        rc = evlog_drop_named(txn, "streams", "s:");
        if (rc != CHATD_OK)
            return rc;
        core_log(CORE_LOG_INFO, "evlog", "%s: data directory of format 1 "
                 "upgraded to %d (read models move to %s)", log->path,
                 EVLOG_ENV_FORMAT, log->vpath);
    }
    core_be64_put(buf, EVLOG_ENV_FORMAT);
    v = (MDB_val){8, buf};
    return evlog_status(mdb_put(txn, log->meta_dbi, &k, &v, 0));
}

/* An LMDB result carrying a be64 number in `val` into *out: 0 when it is
 * MDB_NOTFOUND and `absent_is_zero`, CHATD_EIO when it is not 8 bytes. */
static int u64_result(int rc, const MDB_val *val, bool absent_is_zero,
                      uint64_t *out)
{
    if (rc == MDB_NOTFOUND && absent_is_zero) {
        *out = 0;
        return CHATD_OK;
    }
    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    if (val->mv_size != 8)
        return CHATD_EIO;
    *out = core_be64_get(val->mv_data);
    return CHATD_OK;
}

int evlog_last_key(MDB_txn *txn, MDB_dbi log_dbi, uint64_t *out)
{
    MDB_cursor *mc;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, log_dbi, &mc);

    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    rc = mdb_cursor_get(mc, &k, &v, MDB_LAST);
    mdb_cursor_close(mc);
    return u64_result(rc, &k, true, out);
}

static int load_last_seq(struct evlog *log, MDB_txn *txn)
{
    uint64_t last = 0;
    int rc = evlog_last_key(txn, log->log_dbi, &last);

    if (rc == CHATD_OK)
        atomic_store(&log->last_seq, last);
    return rc;
}

static int open_dbis(struct evlog *log, MDB_txn *txn)
{
    unsigned flags = log->read_only ? 0 : MDB_CREATE;
    int rc = mdb_dbi_open(txn, "log", flags, &log->log_dbi);

    if (rc == MDB_SUCCESS)
        rc = mdb_dbi_open(txn, "meta", flags, &log->meta_dbi);
    return evlog_status(rc);
}

/* Everything that reads or creates the databases, in one transaction so a
 * crash during the first open leaves nothing half made. */
static int init_dbs(struct evlog *log, const struct evlog_options *opt)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(log->env, NULL, log->read_only ? MDB_RDONLY : 0,
                           &txn);

    if (rc != MDB_SUCCESS) {
        evlog_set_err(opt, "%s: cannot begin a transaction: %s", log->path,
                mdb_strerror(rc));
        return evlog_status(rc);
    }
    rc = open_dbis(log, txn);
    if (rc != CHATD_OK) {
        evlog_set_err(opt, "%s: no event log here (%s); is it a chatd data "
                "directory?", log->path, core_strerror(rc));
        goto out_abort_txn;
    }
    rc = check_format(log, txn);
    if (rc == CHATD_OK)
        rc = load_epoch(log, txn);
    if (rc == CHATD_OK)
        rc = load_last_seq(log, txn);
    if (rc != CHATD_OK) {
        if (rc == CHATD_ESTATE)
            evlog_set_err(opt, "%s: data directory of an older format; start "
                    "`chatd serve` on it once to upgrade it", log->path);
        else
            evlog_set_err(opt, "%s: meta data unreadable or of a newer format "
                    "than %d (%s); use a newer chatd", log->path,
                    EVLOG_ENV_FORMAT, core_strerror(rc));
        goto out_abort_txn;
    }
    rc = evlog_status(mdb_txn_commit(txn));
    if (rc != CHATD_OK)
        evlog_set_err(opt, "%s: cannot initialise: %s", log->path,
                core_strerror(rc));
    return rc;

out_abort_txn:
    mdb_txn_abort(txn);
    return rc;
}

int evlog_env_open(MDB_env **env, const char *path, bool views,
                   unsigned flags, const struct evlog_options *opt)
{
    int rc = mdb_env_create(env);

    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    if (opt->read_only)
        flags |= MDB_RDONLY;
    flags |= MDB_NOTLS; /* reset read txns are pooled across threads */
    rc = mdb_env_set_maxdbs(*env, views ? VIEWS_MAX_DBS : LOG_MAX_DBS);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_maxreaders(*env, MAX_READERS);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_mapsize(*env, opt->map_size ? opt->map_size
                                                     : DEFAULT_MAP_SIZE);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_open(*env, path, flags, 0600);
    if (rc != MDB_SUCCESS) {
        evlog_set_err(opt, "%s: cannot open the LMDB environment: %s", path,
                mdb_strerror(rc));
        mdb_env_close(*env);
        *env = NULL;
        return rc == ENOENT   ? CHATD_ENOTFOUND
               : rc == EACCES ? CHATD_EPERM
                              : evlog_status(rc);
    }
    /* Reader slots left by a process that died would pin old pages for
     * ever; clear them before anyone reads. */
    int dead;
    mdb_reader_check(*env, &dead);
    return CHATD_OK;
}

static int read_sizes(struct evlog *log)
{
    MDB_envinfo info;
    MDB_stat st;
    int rc = mdb_env_info(log->env, &info);

    if (rc == MDB_SUCCESS)
        rc = mdb_env_stat(log->env, &st);
    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    log->map_size = info.me_mapsize;
    log->page_size = st.ms_psize;
    return CHATD_OK;
}

static int make_dirs(struct evlog *log, const struct evlog_options *opt)
{
    int rc = make_dir(log->dir);

    if (rc == CHATD_OK)
        rc = make_dir(log->path);
    if (rc == CHATD_OK)
        rc = make_dir(log->vpath);
    if (rc != CHATD_OK)
        evlog_set_err(opt, "%s: cannot create the data directory: %s", log->path,
                strerror(errno));
    return rc;
}

int evlog_open(struct evlog **out, const struct evlog_options *opt)
{
    int rc = CHATD_ENOMEM;
    struct evlog *log;

    if (!opt || !opt->dir || !opt->dir[0])
        return CHATD_EINVAL;
    log = calloc(1, sizeof *log);
    if (!log)
        return CHATD_ENOMEM;
    log->read_only = opt->read_only;
    log->vmap_writable = opt->views_writable_map && !opt->read_only;
    log->vfd = -1;
    pthread_mutex_init(&log->lpool.mu, NULL);
    pthread_mutex_init(&log->vpool.mu, NULL);
    log->dir = strdup(opt->dir);
    log->path = join_path(opt->dir, "db");
    log->vpath = join_path(opt->dir, "views");
    if (!log->dir || !log->path || !log->vpath)
        goto out_free_log;
    if (!opt->read_only) {
        rc = make_dirs(log, opt);
        if (rc != CHATD_OK)
            goto out_free_log;
    }
    rc = evlog_env_open(&log->env, log->path, false,
                        opt->nosync ? MDB_NOSYNC : 0, opt);
    if (rc != CHATD_OK)
        goto out_free_log;
    rc = init_dbs(log, opt);
    if (rc == CHATD_OK)
        rc = read_sizes(log);
    if (rc == CHATD_OK)
        rc = evlog_views_open(log, opt);
    if (rc != CHATD_OK)
        goto out_close_env;
    pthread_mutex_init(&log->stores_lock, NULL);
    *out = log;
    return CHATD_OK;

out_close_env:
    mdb_env_close(log->env);
out_free_log:
    if (rc == CHATD_ENOMEM)
        evlog_set_err(opt, "%s: out of memory", opt->dir);
    pthread_mutex_destroy(&log->lpool.mu); /* no txn was pooled yet */
    pthread_mutex_destroy(&log->vpool.mu);
    free(log->vpath);
    free(log->path);
    free(log->dir);
    free(log);
    return rc;
}

void evlog_close(struct evlog *log)
{
    if (!log)
        return;
    /* Closing the environments releases every DB handle; stores are only
     * our wrappers around them. The views first: their clean close is
     * recorded in the log's meta. */
    evlog_views_close(log);
    evlog_rpool_drain(&log->lpool);
    mdb_env_close(log->env);
    for (struct evlog_store *st = log->stores, *next; st; st = next) {
        next = st->next;
        free(st);
    }
    pthread_mutex_destroy(&log->stores_lock);
    pthread_mutex_destroy(&log->lpool.mu);
    pthread_mutex_destroy(&log->vpool.mu);
    free(log->vpath);
    free(log->path);
    free(log->dir);
    free(log);
}

const char *evlog_epoch(const struct evlog *log)
{
    return log->epoch;
}

uint64_t evlog_last_seq(const struct evlog *log)
{
    return atomic_load_explicit(&log->last_seq, memory_order_acquire);
}

const char *evlog_dir(const struct evlog *log)
{
    return log->dir;
}

const char *evlog_path(const struct evlog *log)
{
    return log->path;
}

int evlog_mdb_get_u64(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                      bool absent_is_zero, uint64_t *out)
{
    MDB_val k = {klen, (void *)key}, v;

    return u64_result(mdb_get(txn, dbi, &k, &v), &v, absent_is_zero, out);
}

/* The newest pending write of `key` in txn or its parents, if any. */
static const struct evlog_meta_op *meta_pending(const struct evlog_txn *txn,
                                                const char *key, size_t klen)
{
    for (; txn; txn = txn->parent)
        for (const struct evlog_meta_op *m = txn->metas; m; m = m->next)
            if (m->klen == klen && memcmp(m->data, key, klen) == 0)
                return m;
    return NULL;
}

int evlog_meta_get_raw(struct evlog_txn *txn, const char *key,
                       struct chatd_val *out)
{
    size_t klen = key ? strlen(key) : 0;
    const struct evlog_meta_op *m;
    MDB_txn *lt;
    int rc = evlog_txn_check(txn, false);

    if (rc != CHATD_OK)
        return rc;
    if (klen == 0 || klen > EVLOG_KEY_MAX)
        return CHATD_EINVAL;
    m = txn->write ? meta_pending(txn, key, klen) : NULL;
    if (m) {
        *out = (struct chatd_val){m->data + m->klen, m->vlen};
        return CHATD_OK;
    }
    rc = evlog_log_snapshot(txn, &lt);
    if (rc != CHATD_OK)
        return rc;

    MDB_val k = {klen, (void *)key}, v;
    rc = mdb_get(lt, txn->log->meta_dbi, &k, &v);
    if (rc != MDB_SUCCESS)
        return evlog_status(rc);
    *out = (struct chatd_val){v.mv_data, v.mv_size};
    return CHATD_OK;
}

int evlog_meta_put_raw(struct evlog_txn *txn, const char *key,
                       const void *val, size_t vlen)
{
    size_t klen = key ? strlen(key) : 0;
    struct evlog_meta_op *m;
    int rc = evlog_txn_check(txn, true);

    if (rc != CHATD_OK)
        return rc;
    if (klen == 0 || klen > EVLOG_KEY_MAX)
        return CHATD_EINVAL;
    m = malloc(sizeof *m + klen + vlen);
    if (!m)
        return CHATD_ENOMEM;
    m->klen = klen;
    m->vlen = vlen;
    memcpy(m->data, key, klen);
    memcpy(m->data + klen, val, vlen);
    m->next = txn->metas;
    txn->metas = m;
    return CHATD_OK;
}

int evlog_meta_get_u64(struct evlog_txn *txn, const char *key, uint64_t *out)
{
    struct chatd_val v;
    int rc = evlog_meta_get_raw(txn, key, &v);

    if (rc != CHATD_OK)
        return rc;
    if (v.len != 8)
        return CHATD_EIO;
    *out = core_be64_get(v.data);
    return CHATD_OK;
}

int evlog_meta_put_u64(struct evlog_txn *txn, const char *key, uint64_t val)
{
    unsigned char buf[8];

    core_be64_put(buf, val);
    return evlog_meta_put_raw(txn, key, buf, 8);
}
