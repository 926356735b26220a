/*
 * an.h — the analytics module's state, shared by its files.
 */
#ifndef ANALYTICS_AN_H
#define ANALYTICS_AN_H

#include <stdbool.h>
#include <stdint.h>

#include "chatd/module.h"
#include "export.h"

#define AN_MAX_RANGE_DAYS 366

struct an {
    struct chatd_module *mod;
    const struct chatd_host *host;
    /* config */
    bool export_on;
    const char *export_dir;
    int64_t object_max_bytes;
    /* stores */
    struct chatd_store *daily;
    /* exporter */
    struct exporter *ex;
    struct exp_metrics m;
};

/* stats.c */
extern const struct chatd_projection an_projection;
int an_project(void *state, struct chatd_txn *txn,
               const struct chatd_event *ev);
void an_stats_daily(void *state, struct chatd_req *req);

#endif /* ANALYTICS_AN_H */
