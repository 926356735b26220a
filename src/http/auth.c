#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "http/internal.h"


enum who_result {
    WHO_ABSENT, /* no Authorization header */
    WHO_OK,     /* r->who is set */
    WHO_BAD,    /* not a Bearer header, or an unknown token */
    WHO_FAILED, /* the auth callback failed */
};

/* Copies the token of "Bearer <token>" (scheme case-insensitive, RFC 7235)
 * into buf; false if the header is not one. */
bool http_bearer_token(const char *h, char *buf, size_t cap)
{
    size_t n;

    while (*h == ' ' || *h == '\t')
        h++;
    if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
        return false;
    for (h += 6; *h == ' ' || *h == '\t'; h++)
        ;
    n = strcspn(h, " \t");
    if (n == 0 || n >= cap || h[n + strspn(h + n, " \t")] != '\0')
        return false;
    memcpy(buf, h, n);
    buf[n] = '\0';
    return true;
}

static enum who_result resolve(struct chatd_req *r, const char *authorization)
{
    const struct http_deps *d = &r->srv->deps;
    struct http_principal who;
    char token[HTTP_TOKEN_MAX];
    int rc;

    if (authorization == NULL)
        return WHO_ABSENT;
    if (!http_bearer_token(authorization, token, sizeof(token)) ||
        d->auth == NULL)
        return WHO_BAD;
    memset(&who, 0, sizeof(who));
    rc = d->auth(d->auth_ctx, token, &who);
    if (rc == CHATD_ENOTFOUND ||
        (rc == CHATD_OK && who.kind == CHATD_PRINCIPAL_NONE))
        return WHO_BAD;
    if (rc != CHATD_OK) {
        core_log(CORE_LOG_ERROR, "http",
                 "%s %s (request %s): token check failed: %s", r->method,
                 r->route_label, r->request_id, core_strerror(rc));
        return WHO_FAILED;
    }
    who.id[HTTP_ID_MAX - 1] = '\0';
    r->who = who;
    return WHO_OK;
}

static bool level_ok(enum chatd_auth level, enum chatd_principal_kind kind)
{
    switch (level) {
    case CHATD_AUTH_NONE:
        return true;
    case CHATD_AUTH_USER:
        return kind == CHATD_PRINCIPAL_USER ||
               kind == CHATD_PRINCIPAL_SERVICE || kind == CHATD_PRINCIPAL_ADMIN;
    case CHATD_AUTH_SERVICE:
        return kind == CHATD_PRINCIPAL_SERVICE || kind == CHATD_PRINCIPAL_ADMIN;
    case CHATD_AUTH_ADMIN:
        return kind == CHATD_PRINCIPAL_ADMIN;
    }
    return false;
}

static const char *level_name(enum chatd_auth level)
{
    switch (level) {
    case CHATD_AUTH_USER:
        return "a user";
    case CHATD_AUTH_SERVICE:
        return "a service or the admin";
    case CHATD_AUTH_ADMIN:
        return "the admin";
    default:
        return "anyone";
    }
}

static void reply_401(struct chatd_req *r)
{
    http_reply_error(r, 401, "unauthenticated",
                     "missing, unknown, revoked or expired bearer token "
                     "(send Authorization: Bearer <token>)");
    http_reply_header(r, "WWW-Authenticate", "Bearer");
}

bool http_auth_level(struct chatd_req *r)
{
    enum chatd_auth level = r->route->auth;
    char msg[96];

    if (level == CHATD_AUTH_NONE)
        return true;
    if (r->who.kind == CHATD_PRINCIPAL_NONE) {
        reply_401(r);
        return false;
    }
    if (!level_ok(level, r->who.kind)) {
        snprintf(msg, sizeof(msg), "only %s may do this", level_name(level));
        http_reply_error(r, 403, "forbidden", msg);
        return false;
    }
    return true;
}

bool http_auth_check(struct chatd_req *r, const char *authorization)
{
    enum who_result res = resolve(r, authorization);

    if (r->route->auth == CHATD_AUTH_NONE) {
        /* Anyone may come in; a bad header is ignored, not refused. */
        if (res != WHO_OK)
            memset(&r->who, 0, sizeof(r->who));
        return true;
    }
    if (res == WHO_FAILED) {
        http_reply_error(r, 503, "unavailable",
                         "cannot check the token now; try again");
        return false;
    }
    return http_auth_level(r);
}

bool http_auth_optional(struct chatd_req *r, const char *authorization)
{
    switch (resolve(r, authorization)) {
    case WHO_ABSENT:
    case WHO_OK:
        return true;
    case WHO_BAD:
        reply_401(r);
        return false;
    case WHO_FAILED:
        http_reply_error(r, 503, "unavailable",
                         "cannot check the token now; try again");
        return false;
    }
    return false;
}
