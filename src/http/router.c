#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "http/internal.h"

static bool method_valid(const char *m)
{
    size_t n;

    for (n = 0; m[n] != '\0'; n++)
        if (n + 1 >= HTTP_METHOD_MAX || m[n] < 'A' || m[n] > 'Z')
            return false;
    return n > 0;
}

static bool param_name_valid(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* Checks one segment of a pattern; a parameter is stripped of its braces
 * in place. */
static bool segment_parse(struct http_route *rt, char *seg, size_t i)
{
    size_t n = strlen(seg), j;

    if (n == 0)
        return false;
    if (seg[0] == '{') {
        if (seg[n - 1] != '}' || !param_name_valid(seg + 1, n - 2))
            return false;
        seg[n - 1] = '\0';
        rt->seg[i] = seg + 1;
        for (j = 0; j < i; j++)
            if ((rt->param_mask & (1u << j)) &&
                strcmp(rt->seg[j], rt->seg[i]) == 0)
                return false;
        rt->param_mask |= 1u << i;
        return true;
    }
    if (strpbrk(seg, "{}%?#\"\\") != NULL)
        return false;
    rt->seg[i] = seg;
    rt->rank |= 1ull << (63 - i);
    return true;
}

static int pattern_parse(struct http_route *rt, const char *pattern)
{
    char *p, *slash;

    if (pattern[0] != '/')
        return CHATD_EINVAL;
    rt->seg_buf = strdup(pattern + 1);
    if (rt->seg_buf == NULL)
        return CHATD_ENOMEM;
    if (pattern[1] == '\0')
        return CHATD_OK; /* "/" has no segments */
    for (p = rt->seg_buf; p != NULL; p = slash) {
        slash = strchr(p, '/');
        if (slash != NULL)
            *slash++ = '\0';
        if (rt->nseg >= HTTP_MAX_SEGMENTS || !segment_parse(rt, p, rt->nseg))
            return CHATD_EINVAL;
        rt->nseg++;
    }
    return CHATD_OK;
}

static bool same_shape(const struct http_route *a, const struct http_route *b)
{
    size_t i;

    if (strcmp(a->method, b->method) != 0 || a->nseg != b->nseg ||
        a->param_mask != b->param_mask)
        return false;
    for (i = 0; i < a->nseg; i++)
        if (!(a->param_mask & (1u << i)) && strcmp(a->seg[i], b->seg[i]) != 0)
            return false;
    return true;
}

static void route_free(struct http_route *rt)
{
    if (rt == NULL)
        return;
    free(rt->pattern);
    free(rt->owner);
    free(rt->seg_buf);
    free(rt);
}

static int route_append(struct http_server *s, struct http_route *rt)
{
    struct http_route **routes;
    size_t i, cap;

    for (i = 0; i < s->nroutes; i++)
        if (same_shape(s->routes[i], rt))
            return CHATD_EEXIST;
    if (s->nroutes == s->routes_cap) {
        cap = s->routes_cap == 0 ? 16 : s->routes_cap * 2;
        routes = realloc(s->routes, cap * sizeof(*routes));
        if (routes == NULL)
            return CHATD_ENOMEM;
        s->routes = routes;
        s->routes_cap = cap;
    }
    s->routes[s->nroutes++] = rt;
    return CHATD_OK;
}

int http_router_add(struct http_server *s, const char *method,
                    const char *pattern, enum chatd_auth auth,
                    http_handler_fn fn, http_upgrade_fn up, void *ctx,
                    const char *owner)
{
    struct http_route *rt;
    int rc;

    if (atomic_load(&s->started))
        return CHATD_ESTATE;
    if (method == NULL || pattern == NULL || (fn == NULL) == (up == NULL) ||
        !method_valid(method) || auth < CHATD_AUTH_NONE ||
        auth > CHATD_AUTH_ADMIN)
        return CHATD_EINVAL;
    rt = calloc(1, sizeof(*rt));
    if (rt == NULL)
        return CHATD_ENOMEM;
    strcpy(rt->method, method);
    rt->auth = auth;
    rt->kind = up != NULL ? ROUTE_UPGRADE : ROUTE_HANDLER;
    rt->ctx = ctx;
    rt->fn = fn;
    rt->upgrade = up;
    rt->pattern = strdup(pattern);
    rt->owner = strdup(owner == NULL ? "http" : owner);
    rc = CHATD_ENOMEM;
    if (rt->pattern == NULL || rt->owner == NULL)
        goto free_rt;
    rc = pattern_parse(rt, pattern);
    if (rc != CHATD_OK)
        goto free_rt;
    rc = route_append(s, rt);
    if (rc != CHATD_OK)
        goto free_rt;
    http_stats_route(s, rt);
    return CHATD_OK;

free_rt:
    route_free(rt);
    return rc;
}

void http_router_free(struct http_server *s)
{
    size_t i;

    for (i = 0; i < s->nroutes; i++)
        route_free(s->routes[i]);
    free(s->routes);
    s->routes = NULL;
    s->nroutes = 0;
}

bool http_url_decode(char *s, bool plus_is_space)
{
    char *o = s;
    int hi, lo;

    for (; *s != '\0'; s++) {
        if (*s == '%') {
            hi = crypto_hex_digit(s[1]);
            lo = hi < 0 ? -1 : crypto_hex_digit(s[2]);
            if (lo < 0 || (hi == 0 && lo == 0))
                return false;
            *o++ = (char)(hi * 16 + lo);
            s += 2;
        } else {
            *o++ = (plus_is_space && *s == '+') ? ' ' : *s;
        }
    }
    *o = '\0';
    return true;
}

/* Splits r->path into decoded segments. False if an error reply is set. */
static bool path_split(struct chatd_req *r)
{
    char *p, *slash;

    if (r->path[0] != '/') {
        http_reply_error(r, 404, "not_found", "no such path");
        return false;
    }
    r->seg_buf = strdup(r->path + 1);
    if (r->seg_buf == NULL) {
        http_reply_error(r, 500, "internal", "out of memory");
        return false;
    }
    if (r->path[1] == '\0')
        return true;
    for (p = r->seg_buf; p != NULL; p = slash) {
        slash = strchr(p, '/');
        if (slash != NULL)
            *slash++ = '\0';
        if (r->nseg >= HTTP_MAX_SEGMENTS) {
            http_reply_error(r, 404, "not_found", "no such path");
            return false;
        }
        if (!http_url_decode(p, false) || !core_utf8_valid(p, strlen(p))) {
            http_reply_error(r, 400, "invalid_argument",
                             "the path has a malformed percent-encoding or "
                             "is not UTF-8");
            return false;
        }
        r->seg[r->nseg++] = p;
    }
    return true;
}

static bool route_matches(const struct http_route *rt,
                          const struct chatd_req *r)
{
    size_t i;

    if (rt->nseg != r->nseg)
        return false;
    for (i = 0; i < rt->nseg; i++) {
        if (rt->param_mask & (1u << i)) {
            if (r->seg[i][0] == '\0')
                return false;
        } else if (strcmp(rt->seg[i], r->seg[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* Appends `method` to the comma-separated list unless it is there. */
static void allow_add(char *allow, size_t cap, const char *method)
{
    size_t n = strlen(allow), m = strlen(method);
    const char *p;

    for (p = allow; (p = strstr(p, method)) != NULL; p += m)
        if ((p == allow || p[-1] == ' ') && (p[m] == ',' || p[m] == '\0'))
            return;
    if (n + m + 3 > cap)
        return;
    snprintf(allow + n, cap - n, "%s%s", n == 0 ? "" : ", ", method);
}

static void reply_405(struct chatd_req *r, const char *allow)
{
    char msg[200];

    snprintf(msg, sizeof(msg), "%s is not allowed here; allowed: %s", r->method,
             allow);
    http_reply_error(r, 405, "method_not_allowed", msg);
    http_reply_header(r, "Allow", allow);
}

/* The methods of the routes that match the path ("GET, POST"), and the
 * best of those routes (NULL if none). */
static const struct http_route *path_methods(const struct chatd_req *r,
                                             char *allow, size_t cap)
{
    const struct http_server *s = r->srv;
    const struct http_route *best = NULL, *rt;
    size_t i;

    allow[0] = '\0';
    for (i = 0; i < s->nroutes; i++) {
        rt = s->routes[i];
        if (!route_matches(rt, r))
            continue;
        if (best == NULL || rt->rank > best->rank)
            best = rt;
        allow_add(allow, cap, rt->method);
    }
    return best;
}

/* No route for the method: 405 with the methods that do match the path
 * (Allow), or 404. Only on a miss, so a hit costs one pass. */
static void reply_miss(struct chatd_req *r)
{
    char allow[128];
    const struct http_route *other = path_methods(r, allow, sizeof(allow));

    if (other != NULL) {
        r->route_label = other->pattern;
        reply_405(r, allow);
        return;
    }
    http_reply_error(r, 404, "not_found", "no such path");
}

bool http_router_resolve(struct chatd_req *r)
{
    const struct http_server *s = r->srv;
    struct http_route *best = NULL, *rt;
    size_t i;

    if (!path_split(r))
        return false;
    for (i = 0; i < s->nroutes; i++) {
        rt = s->routes[i];
        if (strcmp(rt->method, r->method) != 0 || !route_matches(rt, r))
            continue;
        if (best == NULL || rt->rank > best->rank)
            best = rt;
    }
    if (best != NULL) {
        r->route = best;
        r->route_label = best->pattern;
        return true;
    }
    reply_miss(r);
    return false;
}

bool http_router_methods(struct chatd_req *r, char *allow, size_t cap)
{
    const struct http_route *best;

    if (!path_split(r))
        return false;
    best = path_methods(r, allow, cap);
    if (best == NULL) {
        http_reply_error(r, 404, "not_found", "no such path");
        return false;
    }
    r->route_label = best->pattern;
    return true;
}

bool http_router_add_arg(struct chatd_req *r, const char *key,
                         const char *value, bool plus_is_space)
{
    struct http_arg *args, *a;

    if (r->nargs >= HTTP_MAX_ARGS)
        return true;
    args = realloc(r->args, (r->nargs + 1) * sizeof(*args));
    if (args == NULL)
        goto oom;
    r->args = args;
    a = &args[r->nargs];
    a->key = strdup(key);
    a->value = strdup(value == NULL ? "" : value);
    if (a->key == NULL || a->value == NULL) {
        free(a->key);
        free(a->value);
        goto oom;
    }
    r->nargs++;
    if (!http_url_decode(a->key, plus_is_space) ||
        !http_url_decode(a->value, plus_is_space) ||
        !core_utf8_valid(a->key, strlen(a->key)) ||
        !core_utf8_valid(a->value, strlen(a->value))) {
        http_reply_error(r, 400, "invalid_argument",
                         "the query has a malformed percent-encoding or is "
                         "not UTF-8");
        return false;
    }
    return true;

oom:
    http_reply_error(r, 500, "internal", "out of memory");
    return false;
}

bool http_router_parse_query(struct chatd_req *r, const char *query)
{
    char *copy, *part, *next, *eq;
    bool ok = true;

    copy = strdup(query);
    if (copy == NULL) {
        http_reply_error(r, 500, "internal", "out of memory");
        return false;
    }
    for (part = copy; ok && part != NULL; part = next) {
        next = strchr(part, '&');
        if (next != NULL)
            *next++ = '\0';
        if (*part == '\0')
            continue;
        eq = strchr(part, '=');
        if (eq != NULL)
            *eq++ = '\0';
        ok = http_router_add_arg(r, part, eq, true);
    }
    free(copy);
    return ok;
}
