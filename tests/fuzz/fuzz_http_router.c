/*
 * fuzz_http_router — request paths and queries against a plain router
 * written here.
 *
 * Every request's path and query string come from the client as sent:
 * the router (src/http/router.c) splits the path at '/', percent-decodes
 * each segment (so %2F stays inside its segment), refuses a bad escape, a
 * decoded NUL or bytes that are not UTF-8 with 400, and finds the route:
 * same method, same number of segments, literal segments equal to the
 * decoded ones, parameters not empty; literal segments beat parameters,
 * leftmost first. No route for the path is 404, a path that other
 * methods have is 405 with their list in Allow. Query arguments are split
 * at '&' and the first '=', decoded with '+' as a space, empty parts
 * skipped, at most HTTP_MAX_ARGS kept. A wrong answer here hands a
 * handler the wrong id, or another route's request.
 *
 * The input: one byte (the method, and the room left for the Allow list
 * of a CORS preflight), then the request target, "path?query", up to the
 * first NUL (what libmicrohttpd and http_dispatch hand the router is a C
 * string). The same routes as the real ones are registered; the answers
 * of http_router_resolve, http_router_methods, http_router_parse_query
 * and http_url_decode must equal those of the reference below, which
 * decodes with strtol and isxdigit, checks UTF-8 by code-point value and
 * ranks routes by comparing them segment by segment.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "http/internal.h"

#define NSEG HTTP_MAX_SEGMENTS

/* Methods that are prefixes and suffixes of one another, so that the
 * Allow list's de-duplication (which searches the list as text) is
 * tested too. */
static const char *const route_table[][2] = {
    {"GETS", "/v1/rooms"},
    {"GET", "/v1/rooms"},
    {"POST", "/v1/rooms"},
    {"GET", "/v1/rooms/search"},
    {"GET", "/v1/rooms/{room_id}"},
    {"PURGE", "/v1/rooms/{room_id}"},
    {"GET", "/v1/rooms/{room_id}/messages"},
    {"POST", "/v1/rooms/{room_id}/messages"},
    {"ET", "/v1/rooms/{room_id}/messages"},
    {"PATCH", "/v1/rooms/{room_id}/messages/{seq}"},
    {"DELETE", "/v1/rooms/{room_id}/messages/{seq}"},
    {"POST", "/v1/rooms/{room_id}/members"},
    {"DELETE", "/v1/rooms/{room_id}/members/{user_id}"},
    {"GET", "/v1/users/{user_id}"},
    {"GET", "/v1/{kind}/search"},
    {"POST", "/v1/{kind}/{id}/block"},
    {"PUT", "/v1/users/{user_id}/block"},
    {"GET", "/v1/ws"},
    {"GET", "/healthz"},
    {"POST", "/"},
    {"GET", "/deep/{p1}/{p2}/{p3}/{p4}/{p5}/{p6}/{p7}/{p8}/{p9}/{p10}/{p11}"
            "/{p12}/{p13}/{p14}/{p15}/{p16}/{p17}/{p18}/{p19}/{p20}/{p21}"
            "/{p22}/{p23}/{p24}/{p25}/{p26}/{p27}/{p28}/{p29}/{p30}/{p31}"},
};
#define NROUTES (sizeof(route_table) / sizeof(route_table[0]))

static const char *const methods[16] = {
    "GET",  "POST", "PUT",     "PATCH", "DELETE", "HEAD", "OPTIONS", "PURGE",
    "get",  "?",    "GETS",    "ET",    "POS",    "GE",   "T",       "TRACE",
};

/* A pattern's segments as the reference reads them. */
struct ref_route {
    size_t nseg;
    const char *seg[NSEG]; /* into buf: literal text or parameter name */
    bool param[NSEG];
    char buf[512];
};

/* The reference's view of one request path. */
struct ref_path {
    unsigned status; /* 0: split and decoded; 400; 404 */
    size_t nseg;
    char *seg[NSEG]; /* decoded; malloc()ed */
};

struct ref_arg {
    char *key, *value; /* decoded; malloc()ed */
};

/* --- the reference ---------------------------------------------------- */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        abort();
    return p;
}

/* Strict UTF-8 by code-point value: no overlong forms, no surrogates,
 * nothing above U+10FFFF. */
static bool ref_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0, n, k;
    uint32_t cp;

    while (i < len) {
        n = s[i] < 0x80   ? 1
            : s[i] < 0xC0 ? 0
            : s[i] < 0xE0 ? 2
            : s[i] < 0xF0 ? 3
                          : 4;
        if (n == 0 || n > len - i || s[i] > 0xF7)
            return false;
        cp = n == 1 ? s[i] : s[i] & (0x7F >> n);
        for (k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
            (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

/* Percent-decodes the n bytes at in (RFC 3986 pct-encoded: '%' and two
 * hex digits; with plus, '+' is a space as in forms) into a new string.
 * NULL for a '%' without two hex digits after it, or an escape that
 * decodes to NUL (the router's policy: a NUL never reaches a handler). */
static char *ref_pct(const char *in, size_t n, bool plus)
{
    char *out = xmalloc(n + 1), hex[3] = {0, 0, 0};
    size_t i, o = 0;
    long v;

    for (i = 0; i < n; i++) {
        if (in[i] != '%') {
            out[o++] = plus && in[i] == '+' ? ' ' : in[i];
            continue;
        }
        if (n - i < 3 || !isxdigit((unsigned char)in[i + 1]) ||
            !isxdigit((unsigned char)in[i + 2]))
            goto bad;
        memcpy(hex, in + i + 1, 2);
        v = strtol(hex, NULL, 16);
        if (v == 0)
            goto bad;
        out[o++] = (char)v;
        i += 2;
    }
    out[o] = '\0';
    return out;

bad:
    free(out);
    return NULL;
}

/* ref_pct, and the result must be UTF-8. */
static char *ref_decode(const char *in, size_t n, bool plus)
{
    char *s = ref_pct(in, n, plus);

    if (s != NULL && !ref_utf8((const unsigned char *)s, strlen(s))) {
        free(s);
        s = NULL;
    }
    return s;
}

static void ref_route_parse(struct ref_route *rr, const char *pattern)
{
    char *p;

    memset(rr, 0, sizeof(*rr));
    snprintf(rr->buf, sizeof(rr->buf), "%s", pattern + 1);
    if (rr->buf[0] == '\0')
        return;
    for (p = strtok(rr->buf, "/"); p != NULL; p = strtok(NULL, "/")) {
        rr->param[rr->nseg] = p[0] == '{';
        if (p[0] == '{') {
            p[strlen(p) - 1] = '\0';
            p++;
        }
        rr->seg[rr->nseg++] = p;
    }
}

/* Splits and decodes a path. The first NSEG segments are decoded: any
 * bad one is 400; then a path with more segments than that is 404. */
static void ref_split(const char *path, struct ref_path *rp)
{
    size_t total = 1, i, start = 1, len = strlen(path);

    memset(rp, 0, sizeof(*rp));
    if (path[0] != '/') {
        rp->status = 404;
        return;
    }
    if (len == 1)
        return;
    for (i = 1; i < len; i++)
        total += path[i] == '/';
    for (i = 1; i <= len && rp->nseg < NSEG; i++) {
        if (i < len && path[i] != '/')
            continue;
        rp->seg[rp->nseg] = ref_decode(path + start, i - start, false);
        if (rp->seg[rp->nseg] == NULL) {
            rp->status = 400;
            return;
        }
        rp->nseg++;
        start = i + 1;
    }
    if (total > NSEG)
        rp->status = 404;
}

static void ref_path_free(struct ref_path *rp)
{
    size_t i;

    for (i = 0; i < rp->nseg; i++)
        free(rp->seg[i]);
}

static bool ref_matches(const struct ref_route *rr, const struct ref_path *rp)
{
    size_t i;

    if (rp->status != 0 || rr->nseg != rp->nseg)
        return false;
    for (i = 0; i < rr->nseg; i++)
        if (rr->param[i] ? rp->seg[i][0] == '\0'
                         : strcmp(rr->seg[i], rp->seg[i]) != 0)
            return false;
    return true;
}

/* Whether a beats b: at the first segment where one is literal and the
 * other a parameter, the literal one. */
static bool ref_beats(const struct ref_route *a, const struct ref_route *b)
{
    size_t i;

    for (i = 0; i < a->nseg; i++)
        if (a->param[i] != b->param[i])
            return !a->param[i];
    return false;
}

/* The best route matching rp: of the given method, or of any (NULL).
 * -1 if none. */
static int ref_best(const struct ref_route *rr, const struct ref_path *rp,
                    const char *method)
{
    int best = -1;
    size_t i;

    for (i = 0; i < NROUTES; i++) {
        if ((method != NULL && strcmp(route_table[i][0], method) != 0) ||
            !ref_matches(&rr[i], rp))
            continue;
        if (best < 0 || ref_beats(&rr[i], &rr[best]))
            best = (int)i;
    }
    return best;
}

/* The Allow list: the methods of the routes matching rp, each once, in
 * the order of the table; a method is left out when it and ", " and the
 * NUL would not fit in the cap bytes left. */
static void ref_allow(const struct ref_route *rr, const struct ref_path *rp,
                      char *out, size_t cap)
{
    const char *seen[NROUTES];
    size_t nseen = 0, i, j, n = 0, m;

    out[0] = '\0';
    for (i = 0; i < NROUTES; i++) {
        if (!ref_matches(&rr[i], rp))
            continue;
        for (j = 0; j < nseen && strcmp(seen[j], route_table[i][0]); j++)
            ;
        m = strlen(route_table[i][0]);
        if (j < nseen || n + m + 3 > cap)
            continue;
        seen[nseen++] = route_table[i][0];
        n += (size_t)sprintf(out + n, "%s%s", n ? ", " : "",
                             route_table[i][0]);
    }
}

static void ref_args_free(struct ref_arg *args, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(args[i].key);
        free(args[i].value);
    }
}

/* The query's arguments: parts between '&', empty ones skipped, key and
 * value split at the first '='; at most HTTP_MAX_ARGS, the rest not even
 * looked at. False (none kept) if one of those kept does not decode. */
static bool ref_query(const char *q, struct ref_arg *args, size_t *nargs)
{
    const char *end, *eq;

    *nargs = 0;
    for (; *nargs < HTTP_MAX_ARGS; q = end + 1) {
        end = q + strcspn(q, "&");
        eq = memchr(q, '=', (size_t)(end - q));
        if (end > q) {
            args[*nargs].key =
                ref_decode(q, (size_t)((eq ? eq : end) - q), true);
            args[*nargs].value =
                eq ? ref_decode(eq + 1, (size_t)(end - eq - 1), true)
                   : ref_decode("", 0, true);
            if (args[*nargs].key == NULL || args[*nargs].value == NULL) {
                ref_args_free(args, *nargs + 1);
                *nargs = 0;
                return false;
            }
            (*nargs)++;
        }
        if (*end == '\0')
            break;
    }
    return true;
}

/* --- the router's answers against the reference ---------------------- */

static struct chatd_req *req_new(struct http_server *s, const char *method,
                                 const char *path)
{
    struct chatd_req *r = http_req_alloc(s, REQ_SYNTH);

    if (r == NULL)
        abort();
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->path = strdup(path);
    if (r->path == NULL)
        abort();
    return r;
}

static void never_called(void *ctx, struct chatd_req *req)
{
    abort();
}

static struct http_server *server_new(struct ref_route *rr)
{
    struct http_server *s = calloc(1, sizeof(*s));
    size_t i;
    int rc;

    if (s == NULL)
        abort();
    for (i = 0; i < NROUTES; i++) {
        rc = http_router_add(s, route_table[i][0], route_table[i][1],
                             CHATD_AUTH_NONE, never_called, NULL, NULL,
                             "fuzz");
        FUZZ_CHECK(rc == CHATD_OK, "%s %s refused: %d", route_table[i][0],
                   route_table[i][1], rc);
        ref_route_parse(&rr[i], route_table[i][1]);
        FUZZ_CHECK(s->routes[i]->nseg == rr[i].nseg, "%s: %zu segments",
                   route_table[i][1], s->routes[i]->nseg);
    }
    return s;
}

static void check_segments(const struct chatd_req *r, const struct ref_path *rp)
{
    size_t i;

    FUZZ_CHECK(r->nseg == rp->nseg, "%zu segments, the reference %zu",
               r->nseg, rp->nseg);
    for (i = 0; i < rp->nseg; i++)
        FUZZ_CHECK(strcmp(r->seg[i], rp->seg[i]) == 0,
                   "segment %zu decodes to \"%s\", the reference \"%s\"", i,
                   r->seg[i], rp->seg[i]);
}

/* A match: the route, and each parameter's decoded value. */
static void check_hit(struct chatd_req *r, const struct ref_route *rr,
                      const struct ref_path *rp, int want)
{
    size_t i;

    FUZZ_CHECK(want >= 0, "%s %s: matched %s, the reference has no route",
               r->method, r->path, r->route->pattern);
    FUZZ_CHECK(strcmp(r->route->pattern, route_table[want][1]) == 0 &&
                   strcmp(r->route->method, route_table[want][0]) == 0,
               "%s %s: matched %s, the reference %s", r->method, r->path,
               r->route->pattern, route_table[want][1]);
    FUZZ_CHECK(http_reply_status(r) == 0, "a match with a reply set");
    check_segments(r, rp);
    for (i = 0; i < rr[want].nseg; i++)
        if (rr[want].param[i])
            FUZZ_CHECK(http_req_param(r, rr[want].seg[i]) == r->seg[i],
                       "parameter %s is not segment %zu", rr[want].seg[i], i);
    FUZZ_CHECK(http_req_param(r, "nope") == NULL, "a parameter not there");
}

/* A miss: 400 or 404 for the path, 405 and Allow, 404. */
static void check_miss(struct chatd_req *r, const struct ref_route *rr,
                       const struct ref_path *rp, int want)
{
    const struct http_hdr *h = http_reply_header_find(r, "Allow");
    int other = ref_best(rr, rp, NULL);
    unsigned status = rp->status ? rp->status : other >= 0 ? 405 : 404;
    char allow[128];

    FUZZ_CHECK(want < 0, "%s %s: no route, the reference %s", r->method,
               r->path, route_table[want][1]);
    FUZZ_CHECK(r->route == NULL, "a route set on a miss");
    FUZZ_CHECK(http_reply_status(r) == status, "%s %s: %u, the reference %u",
               r->method, r->path, http_reply_status(r), status);
    FUZZ_CHECK((h != NULL) == (status == 405), "Allow %s",
               h ? "set" : "missing");
    FUZZ_CHECK(strcmp(r->route_label,
                      status == 405 ? route_table[other][1] : "unmatched") ==
                   0,
               "%s %s: labelled %s", r->method, r->path, r->route_label);
    if (status != 405)
        return;
    check_segments(r, rp);
    ref_allow(rr, rp, allow, sizeof(allow));
    FUZZ_CHECK(strcmp(h->value, allow) == 0,
               "%s %s: Allow \"%s\", the reference \"%s\"", r->method,
               r->path, h->value, allow);
}

static void check_resolve(struct http_server *s, const struct ref_route *rr,
                          const char *method, const char *path)
{
    struct chatd_req *r = req_new(s, method, path);
    struct ref_path rp;
    int want;

    ref_split(path, &rp);
    want = ref_best(rr, &rp, method);
    if (http_router_resolve(r))
        check_hit(r, rr, &rp, want);
    else
        check_miss(r, rr, &rp, want);
    ref_path_free(&rp);
    http_req_free(r);
}

/* A CORS preflight: every method of the path, in cap bytes. */
static void check_methods(struct http_server *s, const struct ref_route *rr,
                          const char *path, size_t cap)
{
    struct chatd_req *r = req_new(s, "OPTIONS", path);
    char got[128], want[128];
    struct ref_path rp;
    int best;

    ref_split(path, &rp);
    best = ref_best(rr, &rp, NULL);
    if (http_router_methods(r, got, cap)) {
        FUZZ_CHECK(best >= 0, "%s: methods \"%s\", the reference has none",
                   path, got);
        ref_allow(rr, &rp, want, cap);
        FUZZ_CHECK(strcmp(got, want) == 0,
                   "%s in %zu bytes: \"%s\", the reference \"%s\"", path, cap,
                   got, want);
        FUZZ_CHECK(strcmp(r->route_label, route_table[best][1]) == 0,
                   "%s: labelled %s", path, r->route_label);
    } else {
        FUZZ_CHECK(best < 0, "%s: no methods, the reference has %s", path,
                   route_table[best][1]);
        FUZZ_CHECK(http_reply_status(r) == (rp.status ? rp.status : 404),
                   "%s: %u for the preflight", path, http_reply_status(r));
    }
    ref_path_free(&rp);
    http_req_free(r);
}

static void check_query(struct http_server *s, const char *query)
{
    struct chatd_req *r = req_new(s, "GET", "/");
    struct ref_arg args[HTTP_MAX_ARGS];
    size_t n, i, j;
    bool ok = ref_query(query, args, &n);

    FUZZ_CHECK(http_router_parse_query(r, query) == ok, "?%s: %s", query,
               ok ? "refused" : "accepted");
    FUZZ_CHECK(http_reply_status(r) == (ok ? 0 : 400), "?%s: status %u",
               query, http_reply_status(r));
    if (ok) {
        FUZZ_CHECK(r->nargs == n, "?%s: %zu arguments, the reference %zu",
                   query, r->nargs, n);
        for (i = 0; i < n; i++) {
            FUZZ_CHECK(strcmp(r->args[i].key, args[i].key) == 0 &&
                           strcmp(r->args[i].value, args[i].value) == 0,
                       "?%s: argument %zu is %s=%s, the reference %s=%s",
                       query, i, r->args[i].key, r->args[i].value,
                       args[i].key, args[i].value);
            for (j = 0; strcmp(args[j].key, args[i].key) != 0; j++)
                ;
            FUZZ_CHECK(strcmp(http_req_query(r, args[i].key), args[j].value) ==
                           0,
                       "?%s: %s is not the first one's value", query,
                       args[i].key);
        }
    }
    ref_args_free(args, n);
    http_req_free(r);
}

/* http_url_decode itself, on the whole target, both ways. */
static void check_decode(const char *target, bool plus)
{
    char *got = strdup(target), *want = ref_pct(target, strlen(target), plus);

    if (got == NULL)
        abort();
    FUZZ_CHECK(http_url_decode(got, plus) == (want != NULL),
               "http_url_decode(\"%s\") %s", target,
               want ? "refuses" : "accepts");
    if (want != NULL)
        FUZZ_CHECK(strcmp(got, want) == 0,
                   "http_url_decode(\"%s\") is \"%s\", the reference \"%s\"",
                   target, got, want);
    free(got);
    free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[16] = {128, 1, 3, 4, 5, 6, 7, 8,
                                    9,   10, 11, 12, 13, 15, 16, 30};
    struct ref_route rr[NROUTES];
    struct http_server *s;
    char *target, *q;

    if (size == 0)
        return 0;
    target = xmalloc(size);
    memcpy(target, data + 1, size - 1);
    target[size - 1] = '\0';
    s = server_new(rr);
    check_decode(target, false);
    check_decode(target, true);
    q = strchr(target, '?');
    if (q != NULL) {
        *q++ = '\0';
        check_query(s, q);
    }
    check_resolve(s, rr, methods[data[0] & 15], target);
    check_methods(s, rr, target, caps[data[0] >> 4]);
    http_router_free(s);
    free(s);
    free(target);
    return 0;
}
