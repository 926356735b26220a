/*
 * fuzz_chat_json — the chat module's JSON scanner against jansson.
 *
 * The chat module reads message bodies and its own stored records with a
 * scanner (render.c, chat_json_fields) instead of building a jansson tree;
 * a client's body takes that way when it is a flat object, and jansson's
 * otherwise (validate.h, chat_msg_body_scan). Two properties:
 *
 *  1. A message body gets the same answer both ways: whenever the scan
 *     takes it, jansson's path accepts or refuses it with the same
 *     status, code and message, and accepts the same text and
 *     client_msg_id.
 *  2. The scanner agrees with jansson on what JSON is: an object jansson
 *     parses (valid UTF-8, nested at most 64 deep) scans, with the same
 *     members; and what scans, jansson parses, unless jansson refuses it
 *     for a reason the scanner leaves to its callers (numbers out of
 *     jansson's range, \u0000, lone surrogates).
 */
#include <string.h>

#include <jansson.h>

#include "core/core.h"
#include "fuzz.h"
#include "render.h"
#include "validate.h"

#define MAX_CHARS 4000

static void same_answer(const char *what, int rc1, const struct chat_err *e1,
                        const struct chat_msg_req *r1, int rc2,
                        const struct chat_err *e2,
                        const struct chat_msg_req *r2)
{
    FUZZ_CHECK(rc1 == rc2, "%s: the scan's verdict %d, jansson's %d", what,
               rc1, rc2);
    if (rc1 != CHATD_OK) {
        FUZZ_CHECK(e1->status == e2->status &&
                       strcmp(e1->code, e2->code) == 0 &&
                       strcmp(e1->message, e2->message) == 0,
                   "%s: the scan answers %u %s \"%s\", jansson %u %s \"%s\"",
                   what, e1->status, e1->code, e1->message, e2->status,
                   e2->code, e2->message);
        return;
    }
    FUZZ_CHECK(r1->text_len == r2->text_len &&
                   memcmp(r1->text, r2->text, r1->text_len) == 0,
               "%s: the text differs", what);
    FUZZ_CHECK((r1->client_msg_id == NULL) == (r2->client_msg_id == NULL) &&
                   (r1->client_msg_id == NULL ||
                    strcmp(r1->client_msg_id, r2->client_msg_id) == 0),
               "%s: the client_msg_id differs", what);
}

static void message_body(const uint8_t *data, size_t size)
{
    struct chat_msg_fields f;
    struct chat_msg_req r1, r2;
    struct chat_err e1, e2;
    json_t *body = NULL;
    char *owned = NULL;
    int rc, rc1, rc2;

    rc = chat_msg_body_scan(data, size, &f, &owned);
    if (rc != CHATD_OK) {
        FUZZ_CHECK(rc == CHATD_EAGAIN, "chat_msg_body_scan: %d", rc);
        return;
    }
    rc = chat_body_parse(data, size, &body, &e2);
    FUZZ_CHECK(rc == CHATD_OK, "the scan took a body jansson's path refuses: "
               "%s \"%s\"", e2.code, e2.message);
    for (int allow_cmid = 0; allow_cmid < 2; allow_cmid++) {
        rc1 = chat_msg_req_check(&f, MAX_CHARS, allow_cmid, &r1, &e1);
        rc2 = chat_msg_req_parse(body, MAX_CHARS, allow_cmid, &r2, &e2);
        same_answer(allow_cmid ? "post" : "edit", rc1, &e1, &r1, rc2, &e2,
                    &r2);
    }
    json_decref(body);
    free(owned);
}

static size_t depth_of(const json_t *v)
{
    size_t d = 0, c;
    const char *k;
    json_t *m;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, m) {
            c = depth_of(m);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, m) {
            c = depth_of(m);
            d = c > d ? c : d;
        }
        return d + 1;
    }
    return 0;
}

static const char *const keys[] = {"text", "kind", "id", "seq", "a", "",
                                   NULL};

/* Whether a scanned value's type is jansson's type for it. */
static bool same_type(enum chat_jtype t, const json_t *j)
{
    switch (t) {
    case CHAT_J_STR: return json_is_string(j);
    case CHAT_J_NUM: return json_is_number(j);
    case CHAT_J_OBJ: return json_is_object(j);
    case CHAT_J_ARR: return json_is_array(j);
    case CHAT_J_TRUE: return json_is_true(j);
    case CHAT_J_FALSE: return json_is_false(j);
    case CHAT_J_NULL: return json_is_null(j);
    default: return false;
    }
}

static void same_member(const char *key, const struct chat_jval *v,
                        const json_t *j, bool keys_plain)
{
    char buf[4096];
    size_t n;

    if (!keys_plain) /* "t\u0065xt" is "text" to jansson, not the scan */
        return;
    FUZZ_CHECK((v->type == CHAT_J_NONE) == (j == NULL),
               "member \"%s\": present to one and not the other", key);
    if (j == NULL)
        return;
    FUZZ_CHECK(same_type(v->type, j), "member \"%s\": types differ (%d)",
               key, (int)v->type);
    if (v->type != CHAT_J_STR)
        return;
    if (chat_jval_str(v, buf, sizeof(buf), &n) == CHATD_OK)
        FUZZ_CHECK(n == json_string_length(j) &&
                       memcmp(buf, json_string_value(j), n) == 0,
                   "member \"%s\": the strings differ", key);
    else
        FUZZ_CHECK(v->len > sizeof(buf),
                   "member \"%s\": jansson decodes a string "
                   "chat_jval_str refuses", key);
}

/* Reasons jansson refuses text the scanner, by its contract, passes. */
static bool left_to_callers(const char *why)
{
    return strstr(why, "too big") || strstr(why, "overflow") ||
           strstr(why, "\\u0000") || strstr(why, "NUL byte") ||
           strstr(why, "nvalid Unicode");
}

static void scanner(const uint8_t *data, size_t size)
{
    struct chat_jval v[sizeof(keys) / sizeof(keys[0])];
    json_error_t err;
    json_t *j;
    bool plain;
    int rc;

    if (!core_utf8_valid(data, size))
        return; /* jansson refuses it; the scanner's callers check first */
    /* jansson's lexer ends a number at a NUL byte and reads on, so it
     * takes {"n":1\0} (a NUL is not JSON whitespace): there the scanner
     * is the stricter one, and a body with a NUL goes to jansson */
    if (memchr(data, '\0', size) != NULL)
        return;
    rc = chat_json_fields((const char *)data, size, keys, v);
    j = json_loadb((const char *)data, size, JSON_DECODE_ANY, &err);
    plain = memchr(data, '\\', size) == NULL;
    if (j != NULL && json_is_object(j) && depth_of(j) <= 64) {
        FUZZ_CHECK(rc == CHATD_OK, "jansson parses an object the scanner "
                   "refuses");
        for (size_t i = 0; keys[i] != NULL; i++)
            same_member(keys[i], &v[i], json_object_get(j, keys[i]), plain);
    } else if (rc == CHATD_OK) {
        FUZZ_CHECK(j == NULL, "the scanner takes a non-object or one "
                   "nested deeper than 64");
        FUZZ_CHECK(left_to_callers(err.text),
                   "the scanner takes what jansson refuses: %s", err.text);
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    message_body(data, size);
    scanner(data, size);
    return 0;
}
