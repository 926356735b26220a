/*
 * analytics — the event log exported as GZIP NDJSON objects in Hive-style
 * partitions under DATA/export/ (export.c), and per-day figures for the
 * operator from an inline projection (stats.c). README.md is the manual.
 */
#include <stdlib.h>

#include "an.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct chatd_subscriber export_sub = {
    .name = "export", .prefix = NULL, .handle = NULL};

static const struct chatd_route routes[] = {
    {"GET", "/v1/stats/daily", CHATD_AUTH_ADMIN, an_stats_daily},
};

static int an_handle(void *state, const struct chatd_event *ev)
{
    return exp_handle(((struct an *)state)->ex, ev);
}

static int an_flush(void *state)
{
    return exp_flush(((struct an *)state)->ex);
}

static int register_config(struct an *a)
{
    const struct chatd_config_item items[] = {
        {.key = "export", .type = CHATD_CONFIG_BOOL, .def_int = 1,
         .target = &a->export_on},
        {.key = "export_dir", .type = CHATD_CONFIG_STRING, .def_str = NULL,
         .target = &a->export_dir},
        {.key = "object_max_bytes", .type = CHATD_CONFIG_INT,
         .def_int = 64 << 20, .min = 1024, .max = (int64_t)1 << 30,
         .target = &a->object_max_bytes},
        {.key = "gzip_level", .type = CHATD_CONFIG_INT, .def_int = 3,
         .min = 1, .max = 9, .target = &a->gzip_level},
        {.key = NULL},
    };

    return a->host->config(a->mod, items);
}

static int register_metrics(struct an *a)
{
    const struct {
        enum chatd_metric_kind kind;
        const char *name, *help;
        struct chatd_metric **out;
    } m[] = {
        {CHATD_METRIC_COUNTER, "records_total",
         "Events written to a staging file as export records",
         &a->m.records},
        {CHATD_METRIC_COUNTER, "duplicates_total",
         "Events delivered again after a restart and dropped (already "
         "exported)", &a->m.duplicates},
        {CHATD_METRIC_COUNTER, "objects_sealed_total",
         "GZIP objects sealed under the export directory", &a->m.sealed},
        {CHATD_METRIC_COUNTER, "skipped_total",
         "Events not exported (no valid type or data; logged)",
         &a->m.skipped},
        {CHATD_METRIC_COUNTER, "export_errors_total",
         "Export I/O errors (logged)", &a->m.errors},
        {CHATD_METRIC_GAUGE, "staging_bytes",
         "Bytes in staging files not yet sealed", &a->m.staging_bytes},
        {CHATD_METRIC_GAUGE, "exported_seq",
         "Highest seq whose record is durably exported", &a->m.covered_seq},
    };
    int rc = CHATD_OK;

    for (size_t i = 0; i < N(m) && rc == CHATD_OK; i++)
        rc = a->host->metric(a->mod, m[i].kind, m[i].name, m[i].help,
                             m[i].out);
    return rc;
}

static int register_export(struct an *a)
{
    struct chatd_subscriber s = export_sub;
    struct exp_config cfg = {.root = a->export_dir,
                             .object_max_bytes = a->object_max_bytes,
                             .gzip_level = (int)a->gzip_level};
    int rc;

    if (!a->export_on)
        return CHATD_OK;
    s.handle = an_handle;
    rc = exp_new(&a->ex, a->mod, a->host, &cfg, &a->m);
    if (rc == CHATD_OK)
        rc = a->host->subscriber(a->mod, &s);
    if (rc == CHATD_OK)
        rc = a->host->subscriber_hooks(a->mod, s.name, an_flush);
    return rc;
}

static int register_all(struct an *a)
{
    int rc = register_config(a);

    if (rc == CHATD_OK)
        rc = a->host->store(a->mod, "daily", &a->daily);
    if (rc == CHATD_OK)
        rc = a->host->projection(a->mod, &an_projection);
    if (rc == CHATD_OK)
        rc = a->host->projection_hooks(a->mod, an_projection.name,
                                       an_stats_flush, an_stats_discard);
    for (size_t i = 0; i < N(routes) && rc == CHATD_OK; i++)
        rc = a->host->route(a->mod, &routes[i]);
    if (rc == CHATD_OK)
        rc = register_metrics(a);
    if (rc == CHATD_OK)
        rc = register_export(a);
    return rc;
}

/* After every subscriber stopped: seals what is left in staging. */
static void an_fini(void *state)
{
    struct an *a = state;

    exp_free(a->ex);
    free(a);
}

static int an_init(struct chatd_module *mod, const struct chatd_host *host,
                   void **state)
{
    struct an *a;
    int rc;

    if (host->abi_minor < 3 || host->size < sizeof(struct chatd_host))
        return CHATD_EABI;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return CHATD_ENOMEM;
    a->mod = mod;
    a->host = host;
    rc = register_all(a);
    if (rc != CHATD_OK) {
        host->log(mod, CHATD_LOG_ERROR, "registration failed: %s",
                  host->strerror(rc));
        an_fini(a);
        return rc;
    }
    *state = a;
    return CHATD_OK;
}

static int an_start(void *state)
{
    const struct an *a = state;

    if (!a->export_on)
        a->host->log(a->mod, CHATD_LOG_INFO,
                     "export off (analytics.export is false); daily stats "
                     "on");
    return CHATD_OK;
}

CHATD_MODULE(.name = "analytics", .version = "1.0.0",
             .description = "the event log exported as GZIP NDJSON in "
                            "Hive-style hourly partitions, and daily "
                            "figures for the operator",
             .init = an_init, .start = an_start, .fini = an_fini);
