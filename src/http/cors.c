/*
 * cors.c — web pages of other origins (http.cors_origins).
 *
 * A browser lets a page read a cross-origin answer only if the answer
 * names the page's origin, and asks first (a preflight OPTIONS) before any
 * request with an Authorization header or a JSON body: every chatd call
 * from a web app on another origin. chatd authenticates by bearer token,
 * never by cookie, so a page of a foreign origin cannot act as a user it
 * has no token for; the list only decides which pages may read answers
 * and open WebSockets. With no list nothing changes: no CORS headers, and
 * WebSocket handshakes are not checked for their Origin.
 */
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"

/* What chatd's answers carry that a page may need to read. */
#define EXPOSE "X-Request-Id, Retry-After, Allow, WWW-Authenticate"
/* What requests may carry beyond the browser's safe list. */
#define ALLOW_HEADERS "Authorization, Content-Type, X-Request-Id"
#define MAX_AGE "600"

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
}

bool http_cors_origin_valid(const char *o)
{
    const char *h;
    size_t n = 0;

    if (strcmp(o, "*") == 0)
        return true;
    if (strncmp(o, "https://", 8) == 0)
        h = o + 8;
    else if (strncmp(o, "http://", 7) == 0)
        h = o + 7;
    else
        return false;
    if (*h == '[') { /* an IPv6 literal */
        const char *close = strchr(h, ']');
        if (close == NULL || close == h + 1 ||
            strspn(h + 1, "0123456789abcdef:.") != (size_t)(close - h - 1))
            return false;
        h = close + 1;
    } else {
        while (host_char(h[n]))
            n++;
        if (n == 0 || h[0] == '.' || h[0] == '-' || h[n - 1] == '.')
            return false;
        h += n;
    }
    if (*h == ':') {
        size_t d = strspn(h + 1, "0123456789");
        if (d == 0 || d > 5 || h[1] == '0')
            return false;
        h += 1 + d;
    }
    return *h == '\0'; /* no path, no trailing slash, lower case only */
}

int http_cors_set(struct http_server *s, const char *const *origins)
{
    size_t n = 0;

    while (origins != NULL && origins[n] != NULL) {
        if (!http_cors_origin_valid(origins[n]) ||
            (strcmp(origins[n], "*") == 0 && (n > 0 || origins[1] != NULL)))
            return CHATD_EINVAL;
        n++;
    }
    if (n == 0)
        return CHATD_OK;
    s->cors = calloc(n, sizeof(*s->cors));
    if (s->cors == NULL)
        return CHATD_ENOMEM;
    for (s->ncors = 0; s->ncors < n; s->ncors++)
        if ((s->cors[s->ncors] = strdup(origins[s->ncors])) == NULL)
            return CHATD_ENOMEM; /* http_cors_free frees what was made */
    return CHATD_OK;
}

void http_cors_free(struct http_server *s)
{
    for (size_t i = 0; i < s->ncors; i++)
        free(s->cors[i]);
    free(s->cors);
    s->cors = NULL;
    s->ncors = 0;
}

const char *http_cors_match(const struct http_server *s, const char *origin)
{
    if (origin == NULL)
        return NULL;
    for (size_t i = 0; i < s->ncors; i++)
        if (strcmp(s->cors[i], "*") == 0 || strcmp(s->cors[i], origin) == 0)
            return s->cors[i];
    return NULL;
}

bool http_cors_preflight(struct chatd_req *r, const char *asked_method)
{
    char allow[128];

    if (strcmp(r->method, "OPTIONS") != 0 || asked_method == NULL ||
        r->cors_origin == NULL)
        return false;
    if (!http_router_methods(r, allow, sizeof(allow)))
        return true; /* 400 or 404, with the CORS headers */
    r->status = 204;
    r->reply_static = "";
    r->reply_len = 0;
    http_reply_header(r, "Access-Control-Allow-Methods", allow);
    http_reply_header(r, "Access-Control-Allow-Headers", ALLOW_HEADERS);
    http_reply_header(r, "Access-Control-Max-Age", MAX_AGE);
    return true;
}

void http_cors_headers(const struct chatd_req *r, struct MHD_Response *resp)
{
    const struct http_server *s = r->srv;

    /* The answer depends on Origin unless every origin gets the same */
    if (s->ncors > 0 && strcmp(s->cors[0], "*") != 0)
        MHD_add_response_header(resp, "Vary", "Origin");
    if (r->cors_origin == NULL)
        return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin",
                            r->cors_origin);
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", EXPOSE);
}
