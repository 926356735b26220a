/*
 * export — the exporter behind the "export" subscriber: every event of
 * the log becomes one flat record, appended (not synced) to a staging
 * file of its partition, made durable in batches by the host's flush
 * hook, and sealed into a gzip object once its hour is over, it reached
 * the size limit, or the server stops.
 *
 * Crash safety (README.md, "Nothing lost, nothing doubled"):
 *  - exp_flush syncs every staging file, then writes the MANIFEST
 *    (atomically: temp file, fsync, rename, fsync of the directory): the
 *    highest seq covered and each staging file's synced length and seq
 *    range. The host persists the subscriber's position only after that,
 *    so the position is never past the MANIFEST.
 *  - At open, staging files are cut back to the MANIFEST (records after
 *    it were never promised: the host delivers them again) and files it
 *    does not list are removed; events up to its seq are dropped as
 *    duplicates. So kill -9, power loss or a failed sync all end the
 *    same way: each event exactly once.
 *  - Only data the MANIFEST covers is sealed, and an object's name
 *    depends only on its events, so a seal cut short by a crash is redone
 *    under the same name; a staging file whose object exists is removed.
 *
 * One thread at a time: the subscriber's (handle, flush), then fini.
 */
#ifndef ANALYTICS_EXPORT_H
#define ANALYTICS_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "chatd/module.h"

struct exporter;

struct exp_metrics {
    struct chatd_metric *records, *duplicates, *sealed, *skipped,
        *errors, *staging_bytes, *covered_seq;
};

struct exp_config {
    const char *root;         /* the export directory; copied */
    int64_t object_max_bytes; /* uncompressed NDJSON per object */
    int gzip_level;           /* zlib's 1 (fast) to 9 (small); 0 = 3 */
    int64_t (*clock_ms)(void); /* wall clock; NULL = the real one (tests
                                  give their own) */
};
/* With no record for this long, a flush also seals the partitions whose
 * hour is over by the wall clock: a server that has gone quiet would
 * otherwise keep its last hour in staging until the next event. */
#define EXP_QUIET_MS (60 * 1000)

/* Makes the exporter; nothing touches the disk before the first call of
 * exp_handle or exp_flush. */
int exp_new(struct exporter **out, struct chatd_module *mod,
            const struct chatd_host *host, const struct exp_config *cfg,
            const struct exp_metrics *m);
/* The subscriber's handler and flush hook. */
int exp_handle(struct exporter *ex, const struct chatd_event *ev);
int exp_flush(struct exporter *ex);
/* Flushes and seals every open partition (at fini, after the subscriber
 * stopped); closes files; frees. NULL is a no-op. */
void exp_free(struct exporter *ex);
/* Highest seq made durable (for tests and logs). */
uint64_t exp_covered(const struct exporter *ex);

#endif /* ANALYTICS_EXPORT_H */
