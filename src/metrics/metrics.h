/*
 * metrics — a registry of counters, gauges and histograms, rendered in the
 * Prometheus text format (0.0.4) for GET /metrics.
 *
 * Registration takes a mutex; updates are lock-free atomics, so any thread
 * may update any metric at any time. Handles stay valid until
 * metrics_close.
 *
 * Output order: families in the order they were first registered, each
 * with its "# HELP" and "# TYPE" lines, its series in creation order;
 * collector output follows, in the order collectors were added.
 * Label sets are stored (and rendered) canonically: `a="x",b="y"`, no
 * spaces, in the order given.
 */
#ifndef METRICS_METRICS_H
#define METRICS_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;
struct metrics_value; /* a counter or gauge series */
struct metrics_hist;  /* a histogram series */
struct metrics_out;   /* the text being rendered */

/* Creates an empty registry. CHATD_OK or CHATD_ENOMEM. Any thread. */
int metrics_open(struct metrics **out);
/* Frees the registry and every handle it gave out. No other thread may use
 * it or its handles any more. NULL is a no-op. */
void metrics_close(struct metrics *m);

/*
 * Returns the series `name{labels}`, creating it (and its family, with
 * `help`) on first use; the same name+labels returns the same handle.
 * `labels` is the label set without braces, e.g. `route="/v1/rooms",
 * status="201"`, or NULL. All strings copied. NULL on bad name / ENOMEM /
 * a name already used with another type.
 *
 * Names match [a-zA-Z_:][a-zA-Z0-9_:]*. Label values must already be
 * escaped (metrics_escape_label); a malformed label set (bad name, a
 * missing quote, an unknown escape, a raw newline, a repeated name) gives
 * NULL. The first `help` of a family wins. Any thread (takes the registry
 * mutex: cache the handle on hot paths).
 */
struct metrics_value *metrics_counter(struct metrics *m, const char *name,
                                      const char *help, const char *labels);
struct metrics_value *metrics_gauge(struct metrics *m, const char *name,
                                    const char *help, const char *labels);
/* Lock-free, any thread. A negative delta on a counter is ignored (counters
 * only go up); metrics_set works on both kinds. NULL `v` is a no-op (so a
 * failed registration does not need a check at every update). */
void metrics_add(struct metrics_value *v, int64_t delta);
void metrics_set(struct metrics_value *v, int64_t value);
/* 0 for NULL. */
int64_t metrics_get(const struct metrics_value *v);

/* Histogram with `n` ascending upper bounds (seconds, +Inf implied).
 * Bounds must be finite and strictly ascending, n <= 64; every series of a
 * family must use the same bounds (else NULL). A `le` label is refused.
 * Rendered as name_bucket{...,le="b"} (cumulative), name_bucket{le="+Inf"},
 * name_sum and name_count. metrics_observe is lock-free, any thread; NaN
 * is ignored; NULL `h` is a no-op. */
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
/* CHATD_OK or CHATD_ENOMEM. `ctx` borrowed until metrics_close. Any
 * thread. The collector runs with the registry mutex held. */
int metrics_collector(struct metrics *m, metrics_collect_fn fn, void *ctx);
void metrics_out_printf(struct metrics_out *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Renders everything; *text is malloc()ed and NUL-terminated, caller frees;
 * *len excludes the NUL. CHATD_OK or CHATD_ENOMEM (then *text is NULL).
 * Any thread (holds the registry mutex while rendering). */
int metrics_render(struct metrics *m, char **text, size_t *len);

/*
 * Added. Escapes a label value for the text format (backslash -> \\,
 * double quote -> \", newline -> \n) into `out` (`cap` bytes, always
 * NUL-terminated when cap > 0). Returns the length the escaped value
 * needs (without the NUL), like snprintf: a result >= cap means `out` was
 * truncated. Pure, any thread.
 */
size_t metrics_escape_label(char *out, size_t cap, const char *value);

#endif /* METRICS_METRICS_H */
