/*
 * an.h — the analytics module's state, shared by its files.
 */
#ifndef ANALYTICS_AN_H
#define ANALYTICS_AN_H

#include <stdbool.h>
#include <stdint.h>

#include "chatd/module.h"
#include "export.h"
#include "flat.h"

#define AN_MAX_RANGE_DAYS 366

struct an {
    struct chatd_module *mod;
    const struct chatd_host *host;
    /* config */
    bool export_on;
    const char *export_dir;
    int64_t object_max_bytes;
    int64_t gzip_level;
    /* stores */
    struct chatd_store *daily;
    /* Writer thread: what the write transaction in progress added to each
     * day's figures, written once per day at its end (an_stats_flush), so
     * a group commit of 100 messages reads and writes a day's record once
     * instead of 100 times; and the last sender key found in the store in
     * this transaction, so one user's messages look it up once. */
    size_t npending;
    int64_t pending_day[4];
    uint64_t pending[4][AN_FIGURES];
    char last_sender[AN_SENDER_KEY_MAX];
    size_t last_sender_len;
    /* exporter */
    struct exporter *ex;
    struct exp_metrics m;
};

/* stats.c */
extern const struct chatd_projection an_projection;
int an_project(void *state, struct chatd_txn *txn,
               const struct chatd_event *ev);
int an_stats_flush(void *state, struct chatd_txn *txn);
void an_stats_discard(void *state);
void an_stats_daily(void *state, struct chatd_req *req);

#endif /* ANALYTICS_AN_H */
