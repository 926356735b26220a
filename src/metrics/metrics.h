/*
 * metrics — a registry of counters, gauges and histograms, rendered in the
 * Prometheus text format (0.0.4) for GET /metrics.
 *
 * Registration takes a mutex; updates are lock-free atomics, so any thread
 * may update any metric at any time. Handles stay valid until
 * metrics_close.
 */
#ifndef METRICS_METRICS_H
#define METRICS_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;
struct metrics_value; /* a counter or gauge series */
struct metrics_hist;  /* a histogram series */
struct metrics_out;   /* the text being rendered */

int metrics_open(struct metrics **out);
void metrics_close(struct metrics *m);

/*
 * Returns the series `name{labels}`, creating it (and its family, with
 * `help`) on first use; the same name+labels returns the same handle.
 * `labels` is the label set without braces, e.g. `route="/v1/rooms",
 * status="201"`, or NULL. All strings copied. NULL on bad name / ENOMEM /
 * a name already used with another type.
 */
struct metrics_value *metrics_counter(struct metrics *m, const char *name,
                                      const char *help, const char *labels);
struct metrics_value *metrics_gauge(struct metrics *m, const char *name,
                                    const char *help, const char *labels);
void metrics_add(struct metrics_value *v, int64_t delta);
void metrics_set(struct metrics_value *v, int64_t value);
int64_t metrics_get(const struct metrics_value *v);

/* Histogram with `n` ascending upper bounds (seconds, +Inf implied). */
struct metrics_hist *metrics_histogram(struct metrics *m, const char *name,
                                       const char *help, const char *labels,
                                       const double *bounds, size_t n);
void metrics_observe(struct metrics_hist *h, double value);

/*
 * A collector runs at render time (on the thread serving /metrics) and
 * appends whole families of its own with metrics_out_printf, e.g. values
 * read from another subsystem's stats. It must not call back into the
 * registry.
 */
typedef void (*metrics_collect_fn)(void *ctx, struct metrics_out *out);
int metrics_collector(struct metrics *m, metrics_collect_fn fn, void *ctx);
void metrics_out_printf(struct metrics_out *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Renders everything; *text is malloc()ed, caller frees. */
int metrics_render(struct metrics *m, char **text, size_t *len);

#endif /* METRICS_METRICS_H */
