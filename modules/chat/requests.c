/* Request bodies and queries of the chat routes: parsed and checked
 * without the host, so every rule below is unit-tested
 * (tests/test_validate.c). Unknown fields are ignored. */
#include <stdlib.h>
#include <string.h>

#include "chatd/module.h"
#include "render.h"
#include "validate.h"

static const char *text_problem(enum chat_text_check r)
{
    switch (r) {
    case CHAT_TEXT_EMPTY:
        return "is empty or only white space";
    case CHAT_TEXT_TOO_LONG:
        return "is too long";
    case CHAT_TEXT_BAD_UTF8:
        return "is not valid UTF-8";
    case CHAT_TEXT_CONTROL:
        return "contains a control character";
    default:
        return "is invalid";
    }
}

static int title_parse(const json_t *body, struct chat_room_req *req,
                       struct chat_err *err)
{
    const json_t *t = json_object_get(body, "title");
    enum chat_text_check r;

    if (!json_is_string(t))
        return chat_err_set(err, 400, "invalid_argument",
                            "a group room needs a \"title\" string");
    r = chat_text_check(json_string_value(t), json_string_length(t),
                        CHAT_TITLE_MAX_CHARS);
    if (r != CHAT_TEXT_OK)
        return chat_err_set(err, 400, "invalid_argument",
                            "\"title\" %s (1 to %d characters)",
                            text_problem(r), CHAT_TITLE_MAX_CHARS);
    req->title = json_string_value(t);
    return CHATD_OK;
}

static int context_parse(const json_t *body, struct chat_room_req *req,
                         struct chat_err *err)
{
    const json_t *c = json_object_get(body, "context");

    if (c == NULL || json_is_null(c))
        return CHATD_OK;
    if (!json_is_string(c) ||
        !chat_context_valid(json_string_value(c), json_string_length(c)))
        return chat_err_set(err, 400, "invalid_argument",
                            "\"context\" must be a string of 1 to %d bytes "
                            "without control characters",
                            CHAT_CONTEXT_MAX);
    req->context = json_string_value(c);
    return CHATD_OK;
}

static bool seen(const char **ids, size_t n, const char *id)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return true;
    return false;
}

/* Collects the other members: valid ids, de-duplicated, caller left out
 * (the host bounds the body size, hence the array). */
static int members_parse(const json_t *body, const char *caller,
                         int64_t max_members, struct chat_room_req *req,
                         struct chat_err *err)
{
    const json_t *arr = json_object_get(body, "members"), *m;
    size_t i;

    if (arr == NULL && req->kind == CHAT_ROOM_GROUP)
        return CHATD_OK;
    if (!json_is_array(arr))
        return chat_err_set(err, 400, "invalid_argument",
                            "\"members\" must be an array of user ids");
    req->members = calloc(json_array_size(arr) + 1, sizeof(*req->members));
    if (req->members == NULL)
        return chat_err_set(err, 503, "unavailable", "out of memory");
    json_array_foreach(arr, i, m) {
        if (!json_is_string(m) || !chat_id_valid(json_string_value(m)))
            goto bad_member;
        if (strcmp(json_string_value(m), caller) == 0 ||
            seen(req->members, req->n_members, json_string_value(m)))
            continue;
        req->members[req->n_members++] = json_string_value(m);
    }
    if (req->kind == CHAT_ROOM_GROUP &&
        (int64_t)req->n_members + 1 > max_members)
        goto full;
    return CHATD_OK;

bad_member:
    free(req->members);
    req->members = NULL;
    return chat_err_set(err, 400, "invalid_argument",
                        "\"members\" item %zu is not a user id", i);
full:
    free(req->members);
    req->members = NULL;
    return chat_err_set(err, 422, "room_full",
                        "a group room holds at most %lld members",
                        (long long)max_members);
}

int chat_room_req_parse(const json_t *body, const char *caller,
                        int64_t max_members, struct chat_room_req *req,
                        struct chat_err *err)
{
    const char *kind = json_string_value(json_object_get(body, "kind"));
    int rc;

    memset(req, 0, sizeof(*req));
    if (kind != NULL && strcmp(kind, "direct") == 0)
        req->kind = CHAT_ROOM_DIRECT;
    else if (kind != NULL && strcmp(kind, "group") == 0)
        req->kind = CHAT_ROOM_GROUP;
    else
        return chat_err_set(err, 400, "invalid_argument",
                            "\"kind\" must be \"direct\" or \"group\"");
    rc = req->kind == CHAT_ROOM_GROUP ? title_parse(body, req, err)
                                      : context_parse(body, req, err);
    if (rc != CHATD_OK)
        return rc;
    rc = members_parse(body, caller, max_members, req, err);
    if (rc != CHATD_OK)
        return rc;
    if (req->kind == CHAT_ROOM_DIRECT && req->n_members != 1) {
        free(req->members);
        req->members = NULL;
        return chat_err_set(err, 400, "invalid_argument",
                            "a direct room needs exactly one other member");
    }
    return CHATD_OK;
}

static int kind_check(const struct chat_field *k, struct chat_err *err)
{
    const char *s = k->kind == CHAT_F_STRING ? k->s : NULL;

    if (k->kind == CHAT_F_ABSENT || k->kind == CHAT_F_NULL)
        return CHATD_OK;
    if (s != NULL && strcmp(s, "text") == 0)
        return CHATD_OK;
    if (s != NULL && (strcmp(s, "system") == 0 || strcmp(s, "payment") == 0))
        return chat_err_set(err, 403, "forbidden",
                            "messages of kind \"%s\" are posted only by "
                            "modules", s);
    return chat_err_set(err, 400, "invalid_argument",
                        "\"kind\" must be \"text\"");
}

int chat_msg_req_check(const struct chat_msg_fields *f, int64_t max_chars,
                       bool allow_cmid, struct chat_msg_req *req,
                       struct chat_err *err)
{
    const struct chat_field *c = &f->client_msg_id;
    enum chat_text_check r;
    int rc;

    memset(req, 0, sizeof(*req));
    if (f->text.kind != CHAT_F_STRING)
        return chat_err_set(err, 400, "invalid_argument",
                            "\"text\" must be a string");
    r = chat_text_check(f->text.s, f->text.len, max_chars);
    if (r != CHAT_TEXT_OK)
        return chat_err_set(err, 400, "invalid_argument",
                            "\"text\" %s (1 to %lld characters)",
                            text_problem(r), (long long)max_chars);
    req->text = f->text.s;
    req->text_len = f->text.len;
    rc = kind_check(&f->kind, err);
    if (rc != CHATD_OK || !allow_cmid || c->kind == CHAT_F_ABSENT ||
        c->kind == CHAT_F_NULL)
        return rc;
    if (c->kind != CHAT_F_STRING || !chat_cmid_valid(c->s, c->len))
        return chat_err_set(err, 400, "invalid_argument",
                            "\"client_msg_id\" must be 1 to %d printable "
                            "ASCII characters",
                            CHAT_CMID_MAX);
    req->client_msg_id = c->s;
    return CHATD_OK;
}

static void json_field(const json_t *v, struct chat_field *f)
{
    f->s = NULL;
    f->len = 0;
    if (v == NULL)
        f->kind = CHAT_F_ABSENT;
    else if (json_is_null(v))
        f->kind = CHAT_F_NULL;
    else if (json_is_string(v)) {
        f->kind = CHAT_F_STRING;
        f->s = json_string_value(v);
        f->len = json_string_length(v);
    } else
        f->kind = CHAT_F_OTHER;
}

int chat_msg_req_parse(const json_t *body, int64_t max_chars, bool allow_cmid,
                       struct chat_msg_req *req, struct chat_err *err)
{
    struct chat_msg_fields f;

    json_field(json_object_get(body, "text"), &f.text);
    json_field(json_object_get(body, "kind"), &f.kind);
    json_field(json_object_get(body, "client_msg_id"), &f.client_msg_id);
    return chat_msg_req_check(&f, max_chars, allow_cmid, req, err);
}

enum { MB_TEXT, MB_KIND, MB_CMID, MB_N };
static const char *const msg_body_keys[] = {"text", "kind", "client_msg_id",
                                            NULL};

/* A scanned member as a field; strings decoded at *out (advanced). */
static void scanned_field(const struct chat_jval *v, struct chat_field *f,
                          char **out)
{
    size_t n = 0;

    *f = (struct chat_field){CHAT_F_ABSENT, NULL, 0};
    if (v->type == CHAT_J_NONE)
        return;
    if (v->type == CHAT_J_NULL) {
        f->kind = CHAT_F_NULL;
        return;
    }
    f->kind = CHAT_F_OTHER;
    if (v->type != CHAT_J_STR)
        return;
    /* flat_fields let no \u0000 or lone surrogate through: this decodes */
    chat_jval_str(v, *out, v->len, &n);
    (*out)[n] = '\0';
    *f = (struct chat_field){CHAT_F_STRING, *out, n};
    *out += n + 1;
}

int chat_msg_body_scan(const void *data, size_t len, struct chat_msg_fields *f,
                       char **owned)
{
    struct chat_jval v[MB_N];
    char *out;

    *owned = NULL;
    if (data == NULL || len == 0 ||
        chat_json_flat_fields(data, len, msg_body_keys, v) != CHATD_OK ||
        !chat_utf8_valid(data, len))
        return CHATD_EAGAIN;
    /* decoded strings are never longer than their tokens */
    *owned = malloc(v[MB_TEXT].len + v[MB_KIND].len + v[MB_CMID].len + 3);
    if (*owned == NULL)
        return CHATD_ENOMEM;
    out = *owned;
    scanned_field(&v[MB_TEXT], &f->text, &out);
    scanned_field(&v[MB_KIND], &f->kind, &out);
    scanned_field(&v[MB_CMID], &f->client_msg_id, &out);
    return CHATD_OK;
}

int chat_member_req_parse(const json_t *body, const char **user,
                          struct chat_err *err)
{
    const char *u = json_string_value(json_object_get(body, "user"));

    if (!chat_id_valid(u))
        return chat_err_set(err, 400, "invalid_argument",
                            "\"user\" must be a user id");
    *user = u;
    return CHATD_OK;
}

int chat_read_req_parse(const json_t *body, uint64_t *seq,
                        struct chat_err *err)
{
    const json_t *s = json_object_get(body, "seq");

    if (!json_is_integer(s) || json_integer_value(s) < 0)
        return chat_err_set(err, 400, "invalid_argument",
                            "\"seq\" must be a non-negative integer");
    *seq = (uint64_t)json_integer_value(s);
    return CHATD_OK;
}

int chat_page_req_parse(const char *before, const char *after,
                        const char *limit, struct chat_page_req *req,
                        struct chat_err *err)
{
    const char *bound = before != NULL ? before : after;
    int rc;

    memset(req, 0, sizeof(*req));
    if (before != NULL && after != NULL)
        return chat_err_set(err, 400, "invalid_argument",
                            "give \"before\" or \"after\", not both");
    rc = chat_parse_limit(limit, &req->limit, err);
    if (rc != CHATD_OK)
        return rc;
    req->ascending = after != NULL;
    req->bound = UINT64_MAX;
    if (bound != NULL && !chat_parse_u64(bound, 0, INT64_MAX, &req->bound))
        return chat_err_set(err, 400, "invalid_argument",
                            "\"%s\" must be a message seq (a non-negative "
                            "integer)",
                            before != NULL ? "before" : "after");
    return CHATD_OK;
}
