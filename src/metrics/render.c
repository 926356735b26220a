#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "metrics/internal.h"

static bool out_reserve(struct metrics_out *out, size_t more)
{
    size_t cap = out->cap == 0 ? 4096 : out->cap;
    char *buf;

    if (out->oom)
        return false;
    if (out->len + more + 1 <= out->cap)
        return true;
    while (cap < out->len + more + 1)
        cap *= 2;
    buf = realloc(out->buf, cap);
    if (buf == NULL) {
        out->oom = true;
        return false;
    }
    out->buf = buf;
    out->cap = cap;
    out->buf[out->len] = '\0';
    return true;
}

void metrics_out_append(struct metrics_out *out, const char *s, size_t len)
{
    if (!out_reserve(out, len))
        return;
    memcpy(out->buf + out->len, s, len);
    out->len += len;
    out->buf[out->len] = '\0';
}

static void out_puts(struct metrics_out *out, const char *s)
{
    metrics_out_append(out, s, strlen(s));
}

void metrics_out_printf(struct metrics_out *out, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !out_reserve(out, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(out->buf + out->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    out->len += (size_t)n;
}

/* Whole numbers in full ("200000", not "2e+05"), others as the shortest
 * "%g" text that reads back as the same double (0.0005, 2.5, 1e-06), the
 * way Prometheus clients print floats. */
static void format_double(double d, char *buf, size_t cap)
{
    int prec;

    if (isinf(d)) {
        snprintf(buf, cap, "%s", d > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (fabs(d) < 1e15 && d == (double)(long long)d) {
        snprintf(buf, cap, "%.0f", d);
        return;
    }
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

/* HELP text escaping: backslash and newline. */
static void out_help(struct metrics_out *out, const char *help)
{
    for (; *help != '\0'; help++) {
        if (*help == '\\')
            out_puts(out, "\\\\");
        else if (*help == '\n')
            out_puts(out, "\\n");
        else
            metrics_out_append(out, help, 1);
    }
}

static const char *kind_name(enum family_kind kind)
{
    switch (kind) {
    case FAMILY_COUNTER:
        return "counter";
    case FAMILY_GAUGE:
        return "gauge";
    case FAMILY_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

/* name{labels} or name{labels,extra} or name{extra} or name. */
static void out_series_name(struct metrics_out *out, const char *name,
                            const char *suffix, const char *labels,
                            const char *extra)
{
    out_puts(out, name);
    out_puts(out, suffix);
    if (*labels == '\0' && extra == NULL)
        return;
    out_puts(out, "{");
    out_puts(out, labels);
    if (extra != NULL) {
        if (*labels != '\0')
            out_puts(out, ",");
        out_puts(out, extra);
    }
    out_puts(out, "}");
}

static void render_value(struct metrics_out *out, const struct family *f,
                         const struct metrics_value *v)
{
    out_series_name(out, f->name, "", v->s.labels, NULL);
    metrics_out_printf(out, " %" PRId64 "\n", metrics_get(v));
}

static void render_hist(struct metrics_out *out, const struct family *f,
                        struct metrics_hist *h)
{
    char num[40], le[48];
    uint64_t cum = 0, bits;
    double sum;
    size_t i;

    for (i = 0; i <= f->nbounds; i++) {
        cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        format_double(i < f->nbounds ? f->bounds[i] : INFINITY, num,
                      sizeof(num));
        snprintf(le, sizeof(le), "le=\"%s\"", num);
        out_series_name(out, f->name, "_bucket", h->s.labels, le);
        metrics_out_printf(out, " %" PRIu64 "\n", cum);
    }
    bits = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
    memcpy(&sum, &bits, sizeof(sum));
    format_double(sum, num, sizeof(num));
    out_series_name(out, f->name, "_sum", h->s.labels, NULL);
    metrics_out_printf(out, " %s\n", num);
    /* _count is the +Inf bucket so the two always agree in one scrape. */
    out_series_name(out, f->name, "_count", h->s.labels, NULL);
    metrics_out_printf(out, " %" PRIu64 "\n", cum);
}

static void render_family(struct metrics_out *out, const struct family *f)
{
    struct series *s;

    metrics_out_printf(out, "# HELP %s ", f->name);
    out_help(out, f->help);
    metrics_out_printf(out, "\n# TYPE %s %s\n", f->name, kind_name(f->kind));
    for (s = f->first; s != NULL; s = s->next) {
        if (f->kind == FAMILY_HISTOGRAM)
            render_hist(out, f, (struct metrics_hist *)s);
        else
            render_value(out, f, (struct metrics_value *)s);
    }
}

int metrics_render(struct metrics *m, char **text, size_t *len)
{
    struct metrics_out out = {0};
    const struct family *f;
    const struct collector *c;

    *text = NULL;
    *len = 0;
    out_reserve(&out, 0);
    pthread_mutex_lock(&m->mu);
    for (f = m->families; f != NULL; f = f->next)
        render_family(&out, f);
    for (c = m->collectors; c != NULL; c = c->next)
        c->fn(c->ctx, &out);
    pthread_mutex_unlock(&m->mu);
    if (out.oom) {
        free(out.buf);
        return CHATD_ENOMEM;
    }
    *text = out.buf;
    *len = out.len;
    return CHATD_OK;
}
