/*
 * export.c — staging files, the MANIFEST, sealing, and reconciling them
 * at open (export.h explains why this is exactly once).
 *
 * Layout under the export root:
 *   <family>/year=YYYY/month=MM/day=DD/hour=HH/part-<first>-<last>.ndjson.gz
 *   .staging/<family>.<hour since epoch>.<first seq>.ndjson   (open parts)
 *   .staging/MANIFEST                                         (see below)
 * MANIFEST, text: "chatd-analytics-staging 1\n", "covered <seq>\n", then
 * one "<file> <length> <first seq> <last seq>\n" per staging file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "export.h"
#include "flat.h"

#define MANIFEST_MAGIC "chatd-analytics-staging 1"
#define STAGING ".staging"
#define PATH_MAX_AN 4096
#define CHUNK (64 * 1024)
/* Records are buffered per part and written with one write() when this
 * much is waiting, or at the flush: a write() per record cost more than
 * the record itself. */
#define PART_BUF_MAX (64 * 1024)

struct part {
    char family[AN_FAMILY_MAX];
    int64_t hour;
    uint64_t first, last;
    char file[AN_FAMILY_MAX + 64]; /* name in .staging */
    int fd;
    off_t len;     /* appended: in the file or in `out` */
    off_t written; /* in the file */
    off_t synced;
    struct an_buf out; /* appended, not yet written */
    bool due;          /* seal at the next flush */
};

struct exporter {
    struct chatd_module *mod;
    const struct chatd_host *host;
    struct exp_metrics m;
    char *root;
    char staging[PATH_MAX_AN];
    int64_t max_bytes;
    int gzip_level;
    int64_t (*clock_ms)(void);
    int64_t last_record_ms; /* wall clock at the last record */
    bool opened, broken;
    uint64_t hi;      /* highest seq written to a staging file */
    uint64_t covered; /* highest seq the MANIFEST covers */
    int64_t max_hour; /* latest event hour seen */
    struct part *parts;
    size_t nparts, cap;
    struct an_buf rec; /* the record being made */
};

#define LOG(ex, lvl, ...) (ex)->host->log((ex)->mod, (lvl), __VA_ARGS__)
#define ROOT_MAX 2048 /* longer export roots are refused at open */

/* snprintf for paths and names whose parts are bounded (the root by
 * ROOT_MAX, families by AN_FAMILY_MAX), so nothing is ever cut. */
__attribute__((format(printf, 3, 4))) static void
fmt(char *out, size_t n, const char *f, ...)
{
    va_list ap;

    va_start(ap, f);
    vsnprintf(out, n, f, ap);
    va_end(ap);
}

/* --- small file helpers --- */

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* mkdir -p; each directory made is made durable in its parent. */
static int mkdir_p(char *path)
{
    char *slash;
    struct stat st;

    if (stat(path, &st) == 0)
        return S_ISDIR(st.st_mode) ? 0 : -1;
    slash = strrchr(path, '/');
    if (slash != NULL && slash != path) {
        *slash = '\0';
        int rc = mkdir_p(path);
        *slash = '/';
        if (rc != 0)
            return rc;
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -1;
    if (slash != NULL && slash != path) {
        *slash = '\0';
        int rc = fsync_dir(path);
        *slash = '/';
        return rc;
    }
    return 0;
}

static bool exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* --- the exporter's failure mode ---
 * After a failed sync the kernel may have dropped the dirty pages and a
 * later sync would succeed without them, so the exporter stops writing
 * until a restart, which cuts the files back to the MANIFEST. */
static int broken(struct exporter *ex, const char *what, const char *path)
{
    LOG(ex, CHATD_LOG_ERROR,
        "export stopped: %s %s failed (%s); the subscriber's checkpoint "
        "stays at seq %" PRIu64 ". Fix the disk and restart chatd: it "
        "exports again from there, nothing lost or doubled",
        what, path, strerror(errno), ex->covered);
    ex->broken = true;
    ex->host->metric_add(ex->m.errors, 1);
    return CHATD_EIO;
}

/* --- MANIFEST --- */

static int write_manifest(struct exporter *ex, uint64_t covered)
{
    char tmp[PATH_MAX_AN], dst[PATH_MAX_AN];
    FILE *f;
    int fd, bad;

    fmt(tmp, sizeof(tmp), "%s/MANIFEST.tmp", ex->staging);
    fmt(dst, sizeof(dst), "%s/MANIFEST", ex->staging);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
        if (fd >= 0)
            close(fd);
        return broken(ex, "writing", tmp);
    }
    bad = fprintf(f, "%s\ncovered %" PRIu64 "\n", MANIFEST_MAGIC,
                  covered) < 0;
    for (size_t i = 0; i < ex->nparts && !bad; i++) {
        const struct part *p = &ex->parts[i];
        bad = fprintf(f, "%s %lld %" PRIu64 " %" PRIu64 "\n", p->file,
                      (long long)p->synced, p->first, p->last) < 0;
    }
    bad = bad || fflush(f) != 0 || fsync(fileno(f)) != 0;
    if (fclose(f) != 0 || bad)
        return broken(ex, "writing", tmp);
    if (rename(tmp, dst) != 0 || fsync_dir(ex->staging) != 0)
        return broken(ex, "replacing", dst);
    ex->covered = covered;
    ex->host->metric_set(ex->m.covered_seq, (int64_t)covered);
    return CHATD_OK;
}

struct mentry {
    char file[AN_FAMILY_MAX + 64];
    long long len;
    uint64_t first, last;
};

/* Reads the MANIFEST; absent is an empty one. */
static int read_manifest(struct exporter *ex, struct mentry **out,
                         size_t *n)
{
    char path[PATH_MAX_AN], line[256];
    struct mentry *e = NULL;
    size_t cap = 0;
    FILE *f;

    *out = NULL;
    *n = 0;
    fmt(path, sizeof(path), "%s/MANIFEST", ex->staging);
    f = fopen(path, "re");
    if (f == NULL && errno == ENOENT)
        return CHATD_OK;
    if (f == NULL) {
        LOG(ex, CHATD_LOG_ERROR, "cannot read %s (%s); retrying", path,
            strerror(errno));
        return CHATD_EIO;
    }
    if (fgets(line, sizeof(line), f) == NULL ||
        strcmp(line, MANIFEST_MAGIC "\n") != 0 ||
        fgets(line, sizeof(line), f) == NULL ||
        sscanf(line, "covered %" SCNu64, &ex->covered) != 1)
        goto bad;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            struct mentry *g = realloc(e, cap * sizeof(*e));
            if (g == NULL)
                goto bad;
            e = g;
        }
        struct mentry *x = &e[*n];
        if (sscanf(line, "%128s %lld %" SCNu64 " %" SCNu64, x->file, &x->len,
                   &x->first, &x->last) != 4 || x->len < 0)
            goto bad;
        (*n)++;
    }
    fclose(f);
    *out = e;
    return CHATD_OK;
bad:
    fclose(f);
    free(e);
    *n = 0;
    LOG(ex, CHATD_LOG_ERROR,
        "%s is malformed; refusing to export (it says which records are "
        "durable). Restore it, or move the export directory aside to "
        "export the events after the subscriber's checkpoint only",
        path);
    return CHATD_EINVAL;
}

/* --- parts --- */

static void staging_path(const struct exporter *ex, const struct part *p,
                         char out[PATH_MAX_AN])
{
    fmt(out, PATH_MAX_AN, "%s/%s", ex->staging, p->file);
}

static void object_dir(const struct exporter *ex, const struct part *p,
                       char out[PATH_MAX_AN])
{
    char part[AN_PARTITION_MAX];

    an_partition(p->hour, part);
    fmt(out, PATH_MAX_AN, "%s/%s/%s", ex->root, p->family, part);
}

static struct part *part_add(struct exporter *ex)
{
    if (ex->nparts == ex->cap) {
        size_t cap = ex->cap ? ex->cap * 2 : 16;
        struct part *g = realloc(ex->parts, cap * sizeof(*g));
        if (g == NULL)
            return NULL;
        ex->parts = g;
        ex->cap = cap;
    }
    struct part *p = &ex->parts[ex->nparts++];
    memset(p, 0, sizeof(*p));
    p->fd = -1;
    return p;
}

static void part_drop(struct exporter *ex, size_t i)
{
    if (ex->parts[i].fd >= 0)
        close(ex->parts[i].fd);
    an_buf_free(&ex->parts[i].out);
    ex->parts[i] = ex->parts[--ex->nparts];
}

static int64_t staging_bytes(const struct exporter *ex)
{
    int64_t n = 0;

    for (size_t i = 0; i < ex->nparts; i++)
        n += ex->parts[i].len;
    return n;
}

/* gzip the part's synced bytes into its object: temp file, fsync, rename,
 * fsync of the directory. Deterministic (no name or time in the gzip
 * header), so a seal redone after a crash gives the same object. */
static int seal(struct exporter *ex, struct part *p)
{
    char dir[PATH_MAX_AN], name[AN_PART_NAME_MAX], dst[PATH_MAX_AN],
        tmp[PATH_MAX_AN], src[PATH_MAX_AN];
    static unsigned char in[CHUNK], out[CHUNK];
    z_stream z = {0};
    int fd = -1, flush, zrc = Z_OK;
    off_t at = 0;

    object_dir(ex, p, dir);
    an_part_name(p->first, p->last, name);
    fmt(dst, sizeof(dst), "%s/%s", dir, name);
    fmt(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    staging_path(ex, p, src);
    if (mkdir_p(dir) != 0)
        goto fail;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || deflateInit2(&z, ex->gzip_level, Z_DEFLATED, 15 + 16, 8,
                               Z_DEFAULT_STRATEGY) != Z_OK)
        goto fail;
    do {
        ssize_t r = 0;
        size_t want = (size_t)(p->synced - at) < CHUNK
                          ? (size_t)(p->synced - at) : CHUNK;
        if (want > 0 && (r = pread(p->fd, in, want, at)) <= 0)
            goto fail_z;
        at += r;
        flush = at >= p->synced ? Z_FINISH : Z_NO_FLUSH;
        z.next_in = in;
        z.avail_in = (uInt)r;
        do {
            z.next_out = out;
            z.avail_out = CHUNK;
            zrc = deflate(&z, flush);
            if (write_all(fd, out, CHUNK - z.avail_out) != 0)
                goto fail_z;
        } while (z.avail_out == 0);
    } while (flush != Z_FINISH);
    deflateEnd(&z);
    if (zrc != Z_STREAM_END || fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, dst) != 0 || fsync_dir(dir) != 0)
        goto fail;
    unlink(src); /* open() at the next start removes it if this is lost */
    LOG(ex, CHATD_LOG_DEBUG, "sealed %s/%s (%lld bytes, seq %" PRIu64
        "..%" PRIu64 ")", dir, name, (long long)p->synced, p->first,
        p->last);
    ex->host->metric_add(ex->m.sealed, 1);
    return CHATD_OK;
fail_z:
    deflateEnd(&z);
fail:
    LOG(ex, CHATD_LOG_ERROR, "cannot seal %s into %s (%s); it stays in "
        "staging and is tried again at the next flush", src, dst,
        strerror(errno));
    ex->host->metric_add(ex->m.errors, 1);
    if (fd >= 0)
        close(fd);
    return CHATD_EIO;
}

/* Writes the part's buffered records to its staging file. If that fails
 * the file is cut back to what it held and the records stay buffered. */
static int drain(struct exporter *ex, struct part *p)
{
    char path[PATH_MAX_AN];
    int err;

    if (p->out.len == 0)
        return CHATD_OK;
    if (write_all(p->fd, p->out.p, p->out.len) != 0) {
        err = errno;
        staging_path(ex, p, path);
        if (ftruncate(p->fd, p->written) != 0)
            return broken(ex, "cutting back", path);
        LOG(ex, CHATD_LOG_ERROR, "cannot append to %s (%s); retrying", path,
            strerror(err));
        ex->host->metric_add(ex->m.errors, 1);
        return CHATD_EIO;
    }
    p->written += (off_t)p->out.len;
    p->out.len = 0;
    return CHATD_OK;
}

/* Writes and syncs every staging file, then the MANIFEST. */
static int sync_all(struct exporter *ex)
{
    char path[PATH_MAX_AN];
    bool changed = ex->hi != ex->covered;
    int rc;

    for (size_t i = 0; i < ex->nparts; i++) {
        struct part *p = &ex->parts[i];
        if ((rc = drain(ex, p)) != CHATD_OK)
            return rc;
        if (p->written == p->synced)
            continue;
        if (fdatasync(p->fd) != 0) {
            staging_path(ex, p, path);
            return broken(ex, "syncing", path);
        }
        p->synced = p->written;
        changed = true;
    }
    return changed ? write_manifest(ex, ex->hi) : CHATD_OK;
}

/* Seals the parts marked due (all with `all`); a failed seal stays. */
static void seal_due(struct exporter *ex, bool all)
{
    size_t i = 0, sealed = 0;

    while (i < ex->nparts) {
        struct part *p = &ex->parts[i];
        if ((all || p->due) && p->synced == p->len && p->synced > 0 &&
            seal(ex, p) == CHATD_OK) {
            part_drop(ex, i);
            sealed++;
        } else
            i++;
    }
    if (sealed > 0) /* drop them from the MANIFEST; harmless if lost */
        (void)write_manifest(ex, ex->covered);
    ex->host->metric_set(ex->m.staging_bytes, staging_bytes(ex));
}

/* --- open: reconcile the staging files with the MANIFEST --- */

static const struct mentry *find_entry(const struct mentry *e, size_t n,
                                       const char *file)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].file, file) == 0)
            return &e[i];
    return NULL;
}

/* "<family>.<hour>.<first>.ndjson" */
static bool parse_staging_name(const char *file, struct part *p)
{
    const char *dot = strchr(file, '.');
    size_t fl = dot ? (size_t)(dot - file) : 0;
    long long hour;
    unsigned long long first;
    int used = 0;

    if (fl == 0 || fl >= AN_FAMILY_MAX ||
        sscanf(dot, ".%lld.%llu.ndjson%n", &hour, &first, &used) != 2 ||
        dot[used] != '\0')
        return false;
    memcpy(p->family, file, fl);
    p->family[fl] = '\0';
    p->hour = hour;
    p->first = first;
    return true;
}

static int recover_one(struct exporter *ex, const char *file,
                       const struct mentry *e, int *kept, int *cut)
{
    char path[PATH_MAX_AN], dir[PATH_MAX_AN], name[AN_PART_NAME_MAX],
        obj[PATH_MAX_AN];
    struct part tmp = {0}, *p;
    struct stat st;
    int fd;

    fmt(path, sizeof(path), "%s/%s", ex->staging, file);
    if (e == NULL || e->len == 0 || !parse_staging_name(file, &tmp)) {
        unlink(path); /* after the MANIFEST: delivered again */
        return CHATD_OK;
    }
    tmp.first = e->first;
    tmp.last = e->last;
    object_dir(ex, &tmp, dir);
    an_part_name(tmp.first, tmp.last, name);
    fmt(obj, sizeof(obj), "%s/%s", dir, name);
    if (exists(obj)) { /* sealed before the crash */
        unlink(path);
        return CHATD_OK;
    }
    fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return broken(ex, "opening", path);
    }
    if (st.st_size < e->len) {
        close(fd);
        errno = EIO;
        LOG(ex, CHATD_LOG_ERROR, "%s has %lld bytes but was synced with "
            "%lld: the disk lost synced data; refusing to export",
            path, (long long)st.st_size, e->len);
        return CHATD_EIO;
    }
    if (st.st_size > e->len) {
        if (ftruncate(fd, e->len) != 0 || fsync(fd) != 0) {
            close(fd);
            return broken(ex, "cutting back", path);
        }
        (*cut)++;
    }
    p = part_add(ex);
    if (p == NULL) {
        close(fd);
        return CHATD_ENOMEM;
    }
    *p = tmp;
    fmt(p->file, sizeof(p->file), "%s", file);
    p->fd = fd;
    p->len = p->written = p->synced = e->len;
    p->due = true; /* from before the restart: sealed at the next flush */
    if (p->hour > ex->max_hour)
        ex->max_hour = p->hour;
    (*kept)++;
    return CHATD_OK;
}

static int exp_open(struct exporter *ex)
{
    struct mentry *e = NULL;
    size_t ne = 0;
    DIR *d;
    struct dirent *de;
    int rc, kept = 0, cut = 0, removed = 0;

    if (ex->broken)
        return CHATD_EIO;
    if (ex->opened)
        return CHATD_OK;
    if (ex->root == NULL) {
        const char *data = ex->host->data_dir(ex->mod);
        if (data == NULL || data[0] == '\0')
            return CHATD_ESTATE;
        if (asprintf(&ex->root, "%s/export", data) < 0) {
            ex->root = NULL;
            return CHATD_ENOMEM;
        }
    }
    if (strlen(ex->root) > ROOT_MAX) {
        LOG(ex, CHATD_LOG_ERROR, "export directory %s: longer than %d "
            "bytes; choose a shorter analytics.export_dir", ex->root,
            ROOT_MAX);
        return CHATD_EINVAL;
    }
    fmt(ex->staging, sizeof(ex->staging), "%s/" STAGING, ex->root);
    if (mkdir_p(ex->staging) != 0)
        return broken(ex, "creating", ex->staging);
    rc = read_manifest(ex, &e, &ne);
    if (rc != CHATD_OK)
        goto out;
    d = opendir(ex->staging);
    if (d == NULL) {
        rc = broken(ex, "listing", ex->staging);
        goto out;
    }
    while (rc == CHATD_OK && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n > 7 && strcmp(de->d_name + n - 7, ".ndjson") == 0) {
            int before = kept;
            rc = recover_one(ex, de->d_name,
                             find_entry(e, ne, de->d_name), &kept, &cut);
            removed += kept == before;
        }
    }
    closedir(d);
    if (rc == CHATD_OK)
        rc = fsync_dir(ex->staging) == 0
                 ? CHATD_OK
                 : broken(ex, "syncing", ex->staging);
out:
    free(e);
    if (rc != CHATD_OK)
        return rc;
    ex->hi = ex->covered;
    ex->opened = true;
    ex->host->metric_set(ex->m.covered_seq, (int64_t)ex->covered);
    ex->host->metric_set(ex->m.staging_bytes, staging_bytes(ex));
    LOG(ex, CHATD_LOG_INFO,
        "exporting to %s after seq %" PRIu64 ": %d staging file(s) "
        "recovered (%d cut back to the last sync), %d dropped or already "
        "sealed; objects up to %lld bytes (uncompressed)",
        ex->root, ex->covered, kept, cut, removed,
        (long long)ex->max_bytes);
    return CHATD_OK;
}

/* --- the subscriber --- */

static struct part *part_for(struct exporter *ex, const char *family,
                             int64_t hour, uint64_t seq)
{
    char path[PATH_MAX_AN];
    struct part *p;

    for (size_t i = 0; i < ex->nparts; i++)
        if (ex->parts[i].hour == hour &&
            strcmp(ex->parts[i].family, family) == 0)
            return &ex->parts[i];
    p = part_add(ex);
    if (p == NULL)
        return NULL;
    fmt(p->family, sizeof(p->family), "%s", family);
    p->hour = hour;
    p->first = seq;
    fmt(p->file, sizeof(p->file), "%s.%lld.%" PRIu64 ".ndjson", family,
             (long long)hour, seq);
    staging_path(ex, p, path);
    p->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
                 0600);
    if (p->fd < 0) {
        ex->nparts--;
        LOG(ex, CHATD_LOG_ERROR, "cannot create %s (%s); retrying", path,
            strerror(errno));
        return NULL;
    }
    return p;
}

int exp_handle(struct exporter *ex, const struct chatd_event *ev)
{
    char family[AN_FAMILY_MAX];
    struct part *p;
    struct an_buf *rec = &ex->rec;
    int64_t hour = an_hour_of(ev->time_ms);
    int rc = exp_open(ex);

    if (rc != CHATD_OK)
        return rc;
    if (ev->seq <= ex->hi) {
        ex->host->metric_add(ex->m.duplicates, 1);
        return CHATD_OK;
    }
    rec->len = 0;
    rc = an_family(ev->type, family) ? an_record(ev, rec, NULL)
                                     : CHATD_EINVAL;
    if (rc == CHATD_EINVAL) { /* cannot happen for a valid log: say so */
        LOG(ex, CHATD_LOG_ERROR, "event %" PRIu64 " (%s) has no valid "
            "type or data object; not exported", ev->seq, ev->type);
        ex->host->metric_add(ex->m.skipped, 1);
        ex->hi = ev->seq;
        return CHATD_OK;
    }
    if (rc != CHATD_OK)
        return rc;
    p = part_for(ex, family, hour, ev->seq);
    if (p == NULL)
        return CHATD_EIO;
    if (p->out.len > 0 && p->out.len + rec->len > PART_BUF_MAX &&
        (rc = drain(ex, p)) != CHATD_OK)
        return rc;
    if (an_buf_reserve(&p->out, rec->len) != CHATD_OK)
        return CHATD_ENOMEM;
    memcpy(p->out.p + p->out.len, rec->p, rec->len);
    p->out.len += rec->len;
    p->len += (off_t)rec->len;
    p->last = ev->seq;
    ex->hi = ev->seq;
    if (p->len >= ex->max_bytes)
        p->due = true;
    if (hour > ex->max_hour) { /* a later hour began: earlier ones end */
        ex->max_hour = hour;
        for (size_t i = 0; i < ex->nparts; i++)
            if (ex->parts[i].hour < hour)
                ex->parts[i].due = true;
    }
    ex->host->metric_add(ex->m.records, 1);
    ex->last_record_ms = ex->clock_ms();
    return CHATD_OK;
}

/* Quiet for EXP_QUIET_MS: every partition of an hour that is over by the
 * wall clock is due (one of the current hour stays open). A late event of
 * such an hour, after a clock step back, starts a new part: another
 * object in the same partition, still exactly once. */
static void mark_quiet_hours_due(struct exporter *ex)
{
    int64_t now = ex->clock_ms(), hour = an_hour_of(now);

    if (ex->nparts == 0 || now - ex->last_record_ms < EXP_QUIET_MS)
        return;
    for (size_t i = 0; i < ex->nparts; i++)
        if (ex->parts[i].hour < hour)
            ex->parts[i].due = true;
}

int exp_flush(struct exporter *ex)
{
    int rc = exp_open(ex);

    if (rc == CHATD_OK)
        rc = sync_all(ex);
    if (rc == CHATD_OK) {
        mark_quiet_hours_due(ex);
        seal_due(ex, false);
    }
    return rc;
}

uint64_t exp_covered(const struct exporter *ex)
{
    return ex->covered;
}

static int64_t real_clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int exp_new(struct exporter **out, struct chatd_module *mod,
            const struct chatd_host *host, const struct exp_config *cfg,
            const struct exp_metrics *m)
{
    struct exporter *ex = calloc(1, sizeof(*ex));

    if (ex == NULL)
        return CHATD_ENOMEM;
    ex->mod = mod;
    ex->host = host;
    ex->m = *m;
    ex->max_bytes = cfg->object_max_bytes;
    ex->clock_ms = cfg->clock_ms ? cfg->clock_ms : real_clock_ms;
    ex->gzip_level = cfg->gzip_level >= 1 && cfg->gzip_level <= 9
                         ? cfg->gzip_level
                         : 3;
    ex->max_hour = INT64_MIN;
    if (cfg->root != NULL && cfg->root[0] != '\0' &&
        (ex->root = strdup(cfg->root)) == NULL) {
        free(ex);
        return CHATD_ENOMEM;
    }
    *out = ex;
    return CHATD_OK;
}

void exp_free(struct exporter *ex)
{
    if (ex == NULL)
        return;
    if (ex->opened && !ex->broken && sync_all(ex) == CHATD_OK) {
        seal_due(ex, true);
        if (ex->nparts > 0)
            LOG(ex, CHATD_LOG_WARN, "%zu partition(s) left in staging; "
                "sealed at the next start", ex->nparts);
    }
    while (ex->nparts > 0)
        part_drop(ex, ex->nparts - 1);
    an_buf_free(&ex->rec);
    free(ex->parts);
    free(ex->root);
    free(ex);
}
