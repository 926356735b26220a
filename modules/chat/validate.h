/*
 * validate — pure checks of client input for the chat module: texts,
 * identifiers, numbers in query strings and request bodies. No host, no
 * storage: every function here depends only on its arguments, so it is
 * unit-tested directly (tests/test_validate.c). Thread-safe.
 */
#ifndef CHAT_VALIDATE_H
#define CHAT_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Limits that are not configurable (bytes unless said otherwise). They keep
 * every store key under the host's 400-byte limit (keys.h). */
#define CHAT_ID_MAX 100         /* user and room ids */
#define CHAT_CONTEXT_MAX 128    /* direct room context, e.g. "listing:42" */
#define CHAT_CMID_MAX 100       /* client_msg_id */
#define CHAT_TITLE_MAX_CHARS 200 /* group title, in code points */
#define CHAT_LIMIT_MAX 100      /* page size */
#define CHAT_LIMIT_DEFAULT 50

/* An error answer decided by a check: HTTP status, stable code, message. */
struct chat_err {
    unsigned status;
    const char *code; /* static string */
    char message[192];
};

/* Fills *err and returns CHATD_EREJECTED, so callers can write
 * `return chat_err_set(err, 400, "invalid_argument", "...")`. */
int chat_err_set(struct chat_err *err, unsigned status, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
bool chat_utf8_valid(const char *s, size_t len);
/* Code points in valid UTF-8. */
size_t chat_utf8_chars(const char *s, size_t len);

enum chat_text_check {
    CHAT_TEXT_OK = 0,
    CHAT_TEXT_EMPTY,     /* empty, or only white space / invisible spaces */
    CHAT_TEXT_TOO_LONG,  /* more than max_chars code points */
    CHAT_TEXT_BAD_UTF8,  /* not strict UTF-8 */
    CHAT_TEXT_CONTROL,   /* a C0 control other than TAB, LF, CR, or DEL */
};
/* Classifies a message text or title of `len` bytes. */
enum chat_text_check chat_text_check(const char *s, size_t len,
                                     int64_t max_chars);
/* Length in bytes of the longest prefix of valid UTF-8 `s` that holds at
 * most max_chars code points (for truncating module-supplied notices). */
size_t chat_utf8_prefix(const char *s, size_t len, int64_t max_chars);

/* An id (user or room) as it may appear in a path or a body: 1..CHAT_ID_MAX
 * bytes of printable ASCII other than space and '/'. */
bool chat_id_valid(const char *s);
/* client_msg_id: 1..CHAT_CMID_MAX bytes of printable ASCII (space
 * allowed). */
bool chat_cmid_valid(const char *s, size_t len);
/* Direct room context: 1..CHAT_CONTEXT_MAX bytes of UTF-8 without control
 * characters. */
bool chat_context_valid(const char *s, size_t len);

/* Parses a whole decimal number in [min, max] (no sign, no spaces); false
 * if `s` is not one. */
bool chat_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Page size from a query value: NULL gives CHAT_LIMIT_DEFAULT; else
 * 1..CHAT_LIMIT_MAX. CHATD_EREJECTED with *err filled if invalid. */
int chat_parse_limit(const char *s, unsigned *out, struct chat_err *err);

/* XXH3 (64-bit, libxxhash) of a text: what the idempotency store keeps
 * instead of the text, so that deleting a message leaves no copy of it
 * behind. */
uint64_t chat_text_digest(const char *s, size_t len);

/* Parses a request body that must be a JSON object. The caller frees *out
 * with json_decref. Raw bytes that are not UTF-8 give 400
 * invalid_argument; anything jansson refuses gives 400 invalid_json; a
 * non-object gives 400 invalid_argument. */
int chat_body_parse(const void *data, size_t len, json_t **out,
                    struct chat_err *err);

/* --- request bodies, already parsed; strings point into the json_t --- */

enum chat_room_kind { CHAT_ROOM_DIRECT = 1, CHAT_ROOM_GROUP = 2 };

struct chat_room_req {
    enum chat_room_kind kind;
    const char *title;   /* group only; NULL for direct */
    const char *context; /* direct only; NULL if none */
    /* Other members: unique, never the caller, in the order given. */
    const char **members;
    size_t n_members;
};
/* POST /v1/rooms. `caller` is the creating user. A direct room needs
 * exactly one other user; a group room a title and at most max_members
 * members counting the caller (422 room_full beyond it). On success
 * req->members is malloc()ed: free it with free(). */
int chat_room_req_parse(const json_t *body, const char *caller,
                        int64_t max_members, struct chat_room_req *req,
                        struct chat_err *err);

struct chat_msg_req {
    const char *text;
    size_t text_len;
    const char *client_msg_id; /* NULL if absent */
};
/* POST .../messages (allow_cmid) and PATCH .../messages/{seq}: "text"
 * checked by chat_text_check; optional "kind" must be "text" (the system
 * kinds "system" and "payment" are refused with 403 forbidden). */
int chat_msg_req_parse(const json_t *body, int64_t max_chars, bool allow_cmid,
                       struct chat_msg_req *req, struct chat_err *err);

/* One member of a request body as the checks see it. */
enum chat_field_kind {
    CHAT_F_ABSENT = 0,
    CHAT_F_NULL,
    CHAT_F_STRING, /* s, len: decoded, NUL-terminated (no NUL inside) */
    CHAT_F_OTHER,  /* a number, boolean, array or object */
};
struct chat_field {
    enum chat_field_kind kind;
    const char *s;
    size_t len;
};
struct chat_msg_fields {
    struct chat_field text, kind, client_msg_id;
};
/* The rules of chat_msg_req_parse on fields however they were read;
 * req's strings point where f's do. */
int chat_msg_req_check(const struct chat_msg_fields *f, int64_t max_chars,
                       bool allow_cmid, struct chat_msg_req *req,
                       struct chat_err *err);
/* The fast way to a message body, without a JSON tree: CHATD_OK if the
 * body is valid UTF-8 and a flat JSON object (render.h,
 * chat_json_flat_fields), with *f filled and its strings decoded into
 * *owned (malloc()ed; the caller frees it). CHATD_EAGAIN for anything
 * else — empty, not UTF-8, nested or numeric members, a syntax error —
 * and the caller parses with chat_body_parse and chat_msg_req_parse,
 * which give the answer (the same, for what both accept). CHATD_ENOMEM. */
int chat_msg_body_scan(const void *data, size_t len, struct chat_msg_fields *f,
                       char **owned);

/* POST .../members {"user": id}. */
int chat_member_req_parse(const json_t *body, const char **user,
                          struct chat_err *err);
/* POST .../read {"seq": N}, N a non-negative integer. */
int chat_read_req_parse(const json_t *body, uint64_t *seq,
                        struct chat_err *err);

/* History query: at most one of before/after (decimal seqs), and limit. */
struct chat_page_req {
    bool ascending;  /* "after" given: oldest first */
    uint64_t bound;  /* exclusive: before (descending) or after */
    unsigned limit;
};
int chat_page_req_parse(const char *before, const char *after,
                        const char *limit, struct chat_page_req *req,
                        struct chat_err *err);

#endif /* CHAT_VALIDATE_H */
