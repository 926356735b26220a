#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "http/internal.h"

#define REQUESTS "chatd_http_requests_total"
#define REQUESTS_HELP                                                          \
    "HTTP requests answered, by route pattern, method and status."
#define DURATION "chatd_http_request_duration_seconds"
#define DURATION_HELP                                                          \
    "Time from the request headers to the answer, by route pattern and "       \
    "method."

static const double duration_bounds[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

void http_stats_open(struct http_server *s)
{
    struct metrics *m = s->deps.metrics;

    if (m == NULL)
        return;
    s->connections = metrics_gauge(
        m, "chatd_http_connections",
        "Open HTTP connections, upgraded WebSockets included.", NULL);
    s->deferred = metrics_gauge(
        m, "chatd_http_deferred",
        "Requests whose answer waits for a command (deferred).", NULL);
}

/* Known methods keep their name; anything else is "other", so a client
 * cannot create series at will. */
static const char *method_label(const char *m)
{
    static const char *const known[] = {"GET",   "HEAD",   "POST",   "PUT",
                                        "PATCH", "DELETE", "OPTIONS"};
    size_t i;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(m, known[i]) == 0)
            return known[i];
    return "other";
}

static void labels_build(char *out, size_t cap, const char *route,
                         const char *method, unsigned status)
{
    char esc[512];

    metrics_escape_label(esc, sizeof(esc), route);
    if (status == 0)
        snprintf(out, cap, "route=\"%s\",method=\"%s\"", esc, method);
    else
        snprintf(out, cap, "route=\"%s\",method=\"%s\",status=\"%u\"", esc,
                 method, status);
}

void http_stats_route(struct http_server *s, struct http_route *rt)
{
    char labels[640];

    if (s->deps.metrics == NULL)
        return;
    labels_build(labels, sizeof(labels), rt->pattern, rt->method, 0);
    rt->duration = metrics_histogram(
        s->deps.metrics, DURATION, DURATION_HELP, labels, duration_bounds,
        sizeof(duration_bounds) / sizeof(duration_bounds[0]));
}

static struct metrics_value *counter_lookup(struct chatd_req *r,
                                            const char *method)
{
    char labels[640];

    labels_build(labels, sizeof(labels), r->route_label, method, r->status);
    return metrics_counter(r->srv->deps.metrics, REQUESTS, REQUESTS_HELP,
                           labels);
}

/* The route's own counters are cached per status in lock-free slots. */
static struct metrics_value *counter_cached(struct chatd_req *r)
{
    struct status_slot *slot;
    struct metrics_value *v;
    unsigned st, expected;
    size_t i;

    for (i = 0; i < HTTP_STATUS_SLOTS; i++) {
        slot = &r->route->statuses[i];
        st = atomic_load(&slot->status);
        if (st == 0) {
            expected = 0;
            if (!atomic_compare_exchange_strong(&slot->status, &expected,
                                                r->status)) {
                if (expected != r->status)
                    continue;
                break; /* another thread is filling it */
            }
            v = counter_lookup(r, r->route->method);
            atomic_store(&slot->value, v);
            return v;
        }
        if (st == r->status) {
            v = atomic_load(&slot->value);
            if (v != NULL)
                return v;
            break;
        }
    }
    return counter_lookup(r, r->route->method);
}

static void count(struct chatd_req *r, double secs)
{
    struct metrics *m = r->srv->deps.metrics;
    const char *method = method_label(r->method);
    struct metrics_hist *h;
    char labels[640];

    if (m == NULL)
        return;
    if (r->route != NULL && strcmp(r->route->method, r->method) == 0) {
        metrics_add(counter_cached(r), 1);
        metrics_observe(r->route->duration, secs);
        return;
    }
    metrics_add(counter_lookup(r, method), 1);
    labels_build(labels, sizeof(labels), r->route_label, method, 0);
    h = metrics_histogram(m, DURATION, DURATION_HELP, labels, duration_bounds,
                          sizeof(duration_bounds) / sizeof(duration_bounds[0]));
    metrics_observe(h, secs);
}

void http_stats_request(struct chatd_req *r)
{
    uint64_t ns = core_mono_ns() - r->start_ns;
    enum core_log_level level =
        r->status >= 500 ? CORE_LOG_WARN : CORE_LOG_DEBUG;

    count(r, (double)ns / 1e9);
    if (!core_log_enabled(level))
        return;
    core_log(level, "http",
             "access method=%s route=%s status=%u duration_ms=%.3f "
             "request_id=%s%s",
             r->method, r->route_label, r->status, (double)ns / 1e6,
             r->request_id, r->kind == REQ_SYNTH ? " synthetic=1" : "");
}
