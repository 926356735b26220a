/*
 * metrics internals shared by metrics.c (the registry and updates) and
 * render.c (the text format). Not for other folders.
 */
#ifndef METRICS_INTERNAL_H
#define METRICS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/metrics.h"

#define METRICS_MAX_BOUNDS 64

enum family_kind {
    FAMILY_COUNTER,
    FAMILY_GAUGE,
    FAMILY_HISTOGRAM,
};

struct series;

/* One metric name: its HELP, TYPE and every series (label set) of it. */
struct family {
    struct family *next; /* registration order */
    char *name;
    char *help;
    enum family_kind kind;
    double *bounds; /* histograms only */
    size_t nbounds;
    struct series *first; /* creation order */
    struct series **tail;
};

/* What every series starts with; the registry links series through it. */
struct series {
    struct series *next;  /* next series of the same family */
    struct series *hnext; /* next in the same hash bucket */
    struct family *fam;
    char *labels; /* canonical label set, "" for none */
    uint64_t hash;
};

struct metrics_value {
    struct series s;
    _Atomic int64_t v;
};

struct metrics_hist {
    struct series s;
    _Atomic uint64_t sum_bits;  /* a double, updated by compare-and-swap */
    _Atomic uint64_t buckets[]; /* nbounds + 1 (the last is +Inf), not
                                   cumulative */
};

struct collector {
    struct collector *next;
    metrics_collect_fn fn;
    void *ctx;
};

struct metrics {
    pthread_mutex_t mu; /* guards everything below; updates need none */
    struct family *families;
    struct family **ftail;
    struct series **table; /* hash of (family, labels) */
    size_t table_size;     /* a power of two */
    size_t nseries;
    struct collector *collectors;
    struct collector **ctail;
};

struct metrics_out {
    char *buf;
    size_t len;
    size_t cap;
    bool oom;
};

/* render.c: appends `s` (len bytes) to out. */
void metrics_out_append(struct metrics_out *out, const char *s, size_t len);

#endif /* METRICS_INTERNAL_H */
