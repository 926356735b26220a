/*
 * fuzz_http_auth — the Authorization and X-Request-Id headers against
 * their grammars written plainly.
 *
 * Both headers come from any client. Authorization (src/http/auth.c) is
 * "Bearer <token>": optional white space (SP, HTAB) first and last, the
 * scheme in any case (RFC 7235), at least one SP or HTAB, then a token of
 * anything else but white space — exactly two words, the first "bearer".
 * The token, and only it, goes to the auth callback; a header that is not
 * one, an unknown token or a principal of kind NONE is 401 on routes that
 * need a principal, a failing callback 503, too low a principal 403; on
 * open routes a bad header is ignored. X-Request-Id (src/http/req.c) is
 * the client's when it is 1..HTTP_REQUEST_ID_MAX bytes of [A-Za-z0-9._:-],
 * else a new one of 32 lowercase hex digits. The reference splits the
 * header into words and compares the scheme letter by letter, and checks
 * the id with strspn.
 *
 * The input: one byte (the buffer size given to http_bearer_token, and
 * whether the header is sent at all), then the Authorization value up to
 * a NUL, then the X-Request-Id value (absent if there is no NUL).
 */
#include <stdbool.h>
#include <string.h>

#include "core/core.h"
#include "fuzz.h"
#include "http/internal.h"

/* What the auth callback saw, and the principals it makes: a token's
 * first byte says what it is. */
struct fake_auth {
    unsigned calls;
    char token[HTTP_TOKEN_MAX + 1];
};

static int fake_auth(void *ctx, const char *token, struct http_principal *out)
{
    struct fake_auth *fa = ctx;

    fa->calls++;
    snprintf(fa->token, sizeof(fa->token), "%s", token);
    memset(out->id, 'x', sizeof(out->id)); /* no NUL: the server adds one */
    switch (token[0]) {
    case 'u':
        out->kind = CHATD_PRINCIPAL_USER;
        return CHATD_OK;
    case 's':
        out->kind = CHATD_PRINCIPAL_SERVICE;
        return CHATD_OK;
    case 'a':
        out->kind = CHATD_PRINCIPAL_ADMIN;
        return CHATD_OK;
    case 'n':
        out->kind = CHATD_PRINCIPAL_NONE;
        return CHATD_OK;
    case '!':
        return CHATD_EIO;
    default:
        return CHATD_ENOTFOUND;
    }
}

/* --- the reference ---------------------------------------------------- */

static bool ref_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The words of h: runs of bytes other than SP and HTAB. Up to 3 are
 * kept in w/len; returns how many there are, at most 3. */
static size_t ref_words(const char *h, const char *w[3], size_t len[3])
{
    size_t n = 0, i = 0, start;

    while (h[i] != '\0' && n < 3) {
        if (ref_space(h[i])) {
            i++;
            continue;
        }
        for (start = i; h[i] != '\0' && !ref_space(h[i]); i++)
            ;
        w[n] = h + start;
        len[n++] = i - start;
    }
    return n;
}

/* The token of a Bearer header that fits in cap bytes with its NUL, or
 * NULL; *len its length. */
static const char *ref_bearer(const char *h, size_t cap, size_t *len)
{
    static const char lower[] = "bearer", upper[] = "BEARER";
    const char *w[3];
    size_t wl[3], i;

    if (ref_words(h, w, wl) != 2 || wl[0] != 6 || wl[1] >= cap)
        return NULL;
    for (i = 0; i < 6; i++)
        if (w[0][i] != lower[i] && w[0][i] != upper[i])
            return NULL;
    *len = wl[1];
    return w[1];
}

static bool ref_request_id(const char *id)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-";
    size_t n = strlen(id);

    return n >= 1 && n <= HTTP_REQUEST_ID_MAX && strspn(id, ok) == n;
}

/* The principal the reference expects from a header (NULL: absent). */
struct ref_who {
    enum { ABSENT, OK, BAD, FAILED } res;
    enum chatd_principal_kind kind;
};

static struct ref_who ref_resolve(const char *h)
{
    struct ref_who w = {ABSENT, CHATD_PRINCIPAL_NONE};
    const char *tok;
    size_t len;

    if (h == NULL)
        return w;
    tok = ref_bearer(h, HTTP_TOKEN_MAX, &len);
    w.res = BAD;
    if (tok == NULL)
        return w;
    w.res = tok[0] == '!' ? FAILED : OK;
    w.kind = tok[0] == 'u'   ? CHATD_PRINCIPAL_USER
             : tok[0] == 's' ? CHATD_PRINCIPAL_SERVICE
             : tok[0] == 'a' ? CHATD_PRINCIPAL_ADMIN
                             : CHATD_PRINCIPAL_NONE;
    if (w.res == OK && w.kind == CHATD_PRINCIPAL_NONE)
        w.res = BAD;
    return w;
}

/* The status a route of `level` answers (0: let through). */
static unsigned ref_status(enum chatd_auth level, const struct ref_who *w,
                           bool optional)
{
    if (optional)
        return w->res == BAD ? 401 : w->res == FAILED ? 503 : 0;
    if (level == CHATD_AUTH_NONE)
        return 0;
    if (w->res == FAILED)
        return 503;
    if (w->res != OK)
        return 401;
    return (unsigned)w->kind >= (unsigned)level ? 0 : 403;
}

/* --- the server's answers against the reference ----------------------- */

static void check_token(const char *h, size_t cap)
{
    char *buf = malloc(cap + 1);
    size_t len = 0;
    const char *want = ref_bearer(h, cap, &len);
    bool ok;

    if (buf == NULL)
        abort();
    buf[cap] = 'x';
    ok = http_bearer_token(h, buf, cap);
    FUZZ_CHECK(ok == (want != NULL), "\"%s\" in %zu bytes: %s", h, cap,
               want ? "refused" : "accepted");
    FUZZ_CHECK(buf[cap] == 'x', "the token overruns %zu bytes", cap);
    if (ok)
        FUZZ_CHECK(strlen(buf) == len && memcmp(buf, want, len) == 0,
                   "\"%s\": token \"%s\"", h, buf);
    free(buf);
}

/* One request on a route of `level` (or the upgrade's optional check). */
static void check_auth(struct http_server *s, const char *h,
                       enum chatd_auth level, bool optional)
{
    struct fake_auth *fa = s->deps.auth_ctx;
    struct ref_who w = ref_resolve(h);
    struct http_route rt;
    struct chatd_req *r = http_req_alloc(s, REQ_MHD);
    size_t len = 0;
    const char *tok = h ? ref_bearer(h, HTTP_TOKEN_MAX, &len) : NULL;
    unsigned want = ref_status(level, &w, optional);
    bool pass;

    if (r == NULL)
        abort();
    memset(&rt, 0, sizeof(rt));
    rt.auth = level;
    r->route = &rt;
    fa->calls = 0;
    pass = optional ? http_auth_optional(r, h) : http_auth_check(r, h);
    FUZZ_CHECK(fa->calls == (tok != NULL), "the callback ran %u times",
               fa->calls);
    FUZZ_CHECK(tok == NULL || (strlen(fa->token) == len &&
                               memcmp(fa->token, tok, len) == 0),
               "the callback got \"%s\"", fa->token);
    FUZZ_CHECK(pass == (want == 0) && http_reply_status(r) == want,
               "level %d%s: %s, status %u; the reference %u", (int)level,
               optional ? " (optional)" : "", pass ? "passed" : "stopped",
               http_reply_status(r), want);
    FUZZ_CHECK((http_reply_header_find(r, "WWW-Authenticate") != NULL) ==
                   (want == 401),
               "WWW-Authenticate with %u", want);
    if (pass && w.res == OK)
        FUZZ_CHECK(r->who.kind == w.kind && strlen(r->who.id) < HTTP_ID_MAX,
                   "principal of kind %d", (int)r->who.kind);
    if (pass && w.res != OK)
        FUZZ_CHECK(r->who.kind == CHATD_PRINCIPAL_NONE,
                   "a principal from a bad header");
    http_req_free(r);
}

static void check_request_id(struct http_server *s, const char *id)
{
    struct chatd_req *r = http_req_alloc(s, REQ_MHD);
    bool want = id != NULL && ref_request_id(id);
    size_t n;

    if (r == NULL)
        abort();
    FUZZ_CHECK(http_req_id_valid(id) == want, "request id \"%s\" %s",
               id ? id : "(none)", want ? "refused" : "accepted");
    http_req_set_id(r, id);
    n = strlen(r->request_id);
    if (want)
        FUZZ_CHECK(strcmp(r->request_id, id) == 0, "request id \"%s\" kept as "
                   "\"%s\"", id, r->request_id);
    else
        FUZZ_CHECK(n == 2 * HTTP_ID_BYTES &&
                       strspn(r->request_id, "0123456789abcdef") == n,
                   "request id \"%s\" replaced by \"%s\"", id ? id : "(none)",
                   r->request_id);
    http_req_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[8] = {HTTP_TOKEN_MAX, 1, 2, 3, 7, 8, 33, 64};
    struct fake_auth fa;
    struct http_server *s;
    const char *h, *id = NULL;
    char *buf;
    int level;

    if (size == 0)
        return 0;
    /* A failing callback is logged at ERROR: none of that while fuzzing. */
    core_log_set_level((enum core_log_level)(CORE_LOG_ERROR + 1));
    buf = malloc(size);
    s = calloc(1, sizeof(*s));
    if (buf == NULL || s == NULL || pthread_mutex_init(&s->id_lock, NULL))
        abort();
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    if (strlen(buf) < size - 1)
        id = buf + strlen(buf) + 1;
    h = data[0] & 8 ? NULL : buf;
    s->deps.auth = fake_auth;
    s->deps.auth_ctx = &fa;

    if (h != NULL)
        check_token(h, caps[data[0] & 7]);
    for (level = CHATD_AUTH_NONE; level <= CHATD_AUTH_ADMIN; level++)
        check_auth(s, h, (enum chatd_auth)level, false);
    check_auth(s, h, CHATD_AUTH_NONE, true);
    check_request_id(s, id);
    pthread_mutex_destroy(&s->id_lock);
    free(s);
    free(buf);
    return 0;
}
