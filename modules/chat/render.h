/*
 * render — JSON text in and out, without building trees. Pure
 * (tests/test_render.c); thread-safe.
 *
 * The chat stores keep every answer as its final JSON text, rendered once
 * by the projection (README.md, "Stores"), so reads only concatenate
 * stored bytes. This file is how that text is made:
 *  - struct chat_buf, a growing byte buffer with JSON writers (escaped
 *    strings, numbers, RFC 3339 times);
 *  - chat_json_fields, a scanner that finds the members of one JSON object
 *    and hands back each value as its raw token (the bytes in the text),
 *    so a value can be copied into an answer without being decoded;
 *  - the renderers of messages, rooms, members and read positions.
 *
 * Raw tokens are copied as they are, so they must come from well-formed
 * JSON: the event data the host committed (written by this module) or
 * text this file rendered. chat_json_fields checks the syntax of
 * everything it passes over.
 */
#ifndef CHAT_RENDER_H
#define CHAT_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "keys.h"

/* --- the buffer ---------------------------------------------------------- */

/* A growing buffer; zero-initialise it ({0}), free with chat_buf_free.
 * Writers never fail: on out of memory they set `failed` and do nothing
 * more, so a caller checks once at the end. `p` is not NUL-terminated. */
struct chat_buf {
    char *p;
    size_t len;
    size_t cap;
    bool failed;
};

void chat_buf_free(struct chat_buf *b);
/* Makes room for `more` bytes; false (and `failed`) if out of memory. */
bool chat_buf_reserve(struct chat_buf *b, size_t more);
void chat_buf_add(struct chat_buf *b, const void *p, size_t n);
/* A NUL-terminated string, as is (no quotes, no escaping). */
void chat_buf_lit(struct chat_buf *b, const char *s);
/* A number in decimal. */
void chat_buf_u64(struct chat_buf *b, uint64_t v);
/* s (len bytes of UTF-8) as a quoted JSON string, escaped as jansson
 * does: \" \\ \b \f \n \r \t, other bytes below 0x20 as \u00XX. */
void chat_buf_jstr(struct chat_buf *b, const char *s, size_t len);
/* The time as a quoted RFC 3339 string (chat_format_time). */
void chat_buf_time(struct chat_buf *b, int64_t ms);

/* RFC 3339 UTC with milliseconds, "2026-11-22T09:30:00.123Z". */
#define CHAT_TIME_LEN 32
char *chat_format_time(int64_t ms, char out[CHAT_TIME_LEN]);

/* --- reading JSON text --------------------------------------------------- */

enum chat_jtype {
    CHAT_J_NONE = 0, /* absent */
    CHAT_J_STR,
    CHAT_J_NUM,
    CHAT_J_OBJ,
    CHAT_J_ARR,
    CHAT_J_TRUE,
    CHAT_J_FALSE,
    CHAT_J_NULL,
};

/* One value of a JSON text: its raw token (for a string, with the quotes
 * and the escapes as written), borrowed from the scanned text. */
struct chat_jval {
    const char *p;
    size_t len;
    enum chat_jtype type;
};

/* Scans the JSON object in (s, len) and, for each key in `keys` (a
 * NULL-terminated list), sets vals[i] to its value (type CHAT_J_NONE if
 * absent; the last one if repeated). Other members are checked and
 * skipped. CHATD_EINVAL if the text is not one well-formed JSON object
 * (nesting deeper than 64 included). Keys are compared as written, so a
 * key spelt with escapes matches nothing. */
int chat_json_fields(const char *s, size_t len, const char *const *keys,
                     struct chat_jval *vals);

/* The same for text from a client, when it is a flat object: CHATD_OK
 * only if (s, len) is one JSON object whose values are all strings, true,
 * false or null, with no string (key or value) that jansson would refuse
 * (\u0000, an unpaired surrogate). Anything else is CHATD_EAGAIN: the
 * caller parses with jansson, which decides (and words the error). With
 * valid UTF-8 input, what this accepts jansson accepts with the same
 * meaning. */
int chat_json_flat_fields(const char *s, size_t len, const char *const *keys,
                          struct chat_jval *vals);

/* Decodes a string token into out (cap bytes, not NUL-terminated) and sets
 * *out_len. CHATD_EINVAL if v is not a string, holds a lone surrogate or
 * does not fit. A decoded string is never longer than its token. */
int chat_jval_str(const struct chat_jval *v, char *out, size_t cap,
                  size_t *out_len);
/* A string token decoded into a NUL-terminated id (validate.h's
 * chat_id_valid); false if it is anything else. */
bool chat_jval_id(const struct chat_jval *v, char out[], size_t cap);
/* A non-negative integer token; false for anything else (absent, negative,
 * fractional, beyond UINT64_MAX). */
bool chat_jval_u64(const struct chat_jval *v, uint64_t *out);
/* The XXH3 digest (chat_text_digest) of a string token's decoded text;
 * CHATD_EINVAL if it is not a string, CHATD_ENOMEM. */
int chat_jval_digest(const struct chat_jval *v, uint64_t *out);

/* --- answers ------------------------------------------------------------- */

/* A message as its parts, each a raw JSON token; a part of type
 * CHAT_J_NONE renders as null (payment: left out). */
struct chat_msg_view {
    struct chat_jval id, room, sender, kind, text, created_at, edited_at,
        client_msg_id, payment;
    uint64_t seq;
    bool deleted;
};

/* {"id", "room", "seq", "sender", "kind", "text"|null, "created_at",
 *  "edited_at"|null, "deleted", "client_msg_id"|null, "payment"?}.
 * CHATD_EINVAL (nothing written) if id is not a string. */
int chat_render_message(struct chat_buf *b, const struct chat_msg_view *m);

/* The parts of a room that never change after its creation:
 * {"id", "kind", "title", "context", "created_by", "created_at",
 *  "members"? — without the closing brace. Strings are given decoded
 * (len bytes); title/context NULL render as null; members NULL leaves the
 * "members" member out (groups). */
struct chat_room_static {
    const char *id, *kind, *created_by;
    const char *title, *context;
    size_t title_len, context_len;
    int64_t created_ms;
    const char *const *members;
    size_t n_members;
};
void chat_render_room_static(struct chat_buf *b,
                             const struct chat_room_static *r);
/* What changes with the room's life, after the static part:
 * ,"member_count", "last_seq", "last_message" (last_msg: the message's
 * JSON text, or NULL for null), "last_activity_at". */
void chat_render_room_dynamic(struct chat_buf *b, uint64_t member_count,
                              uint64_t last_seq, const char *last_msg,
                              size_t last_msg_len, int64_t activity_ms);
/* The caller's part that closes a room: ,"unread", "read_seq"}; unread
 * from the room's last seq (chat_member_unread). */
void chat_render_room_tail(struct chat_buf *b, const struct chat_member *m,
                           uint64_t room_last_seq);

/* {"user", "name", "joined_at", "read_seq"}; name is a raw token (NULL
 * renders null). */
void chat_render_member(struct chat_buf *b, const char *uid,
                        const char *name, size_t name_len,
                        const struct chat_member *m);

/* {"room", "user", "read_seq", "unread"} */
void chat_render_read(struct chat_buf *b, const char *room, const char *uid,
                      const struct chat_member *m, uint64_t room_last_seq);

/* Serialises a jansson value compactly (the answers that are not on a hot
 * path); takes the reference `v` (decref'd). The result is malloc()ed
 * (free()), NULL if v is NULL or out of memory. */
char *chat_dump(json_t *v, size_t *len);

#endif /* CHAT_RENDER_H */
