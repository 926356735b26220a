/*
 * render — the JSON the chat API answers with, made from the records the
 * projection stores. Pure (tests/test_render.c); thread-safe.
 *
 * Stored records (JSON objects; field names are the store format):
 *   message  {"id", "seq", "sender": uid|null, "kind", "text" (absent once
 *             deleted), "created_ms", "edited_ms"?, "deleted_ms"?,
 *             "client_msg_id"?, "payment"?}
 *   room     {"id", "kind", "title"|null, "context"|null, "created_by",
 *             "created_ms", "members" (direct rooms only), "member_count",
 *             "last_seq", "ver" (room stream version), "activity_ms"}
 *   user     {"name", "kind"}
 *
 * Every render_* returns a new reference (caller json_decref's it), or
 * NULL when out of memory or when a record lacks a required field.
 */
#ifndef CHAT_RENDER_H
#define CHAT_RENDER_H

#include <stdint.h>

#include <jansson.h>

#include "keys.h"

/* RFC 3339 UTC with milliseconds, "2026-11-22T09:30:00.123Z". */
#define CHAT_TIME_LEN 32
char *chat_format_time(int64_t ms, char out[CHAT_TIME_LEN]);

/* {"id", "room", "seq", "sender", "kind", "text"|null, "created_at",
 *  "edited_at"|null, "deleted", "client_msg_id"|null, "payment"?} */
json_t *chat_render_message(const char *room, const json_t *msg);

/* The room as `m` (the caller's membership) sees it:
 * {"id", "kind", "title", "context", "created_by", "created_at",
 *  "members"? (direct), "member_count", "last_seq", "last_message",
 *  "last_activity_at", "unread", "read_seq"}. last_msg may be NULL. */
json_t *chat_render_room(const json_t *room, const json_t *last_msg,
                         const struct chat_member *m);

/* {"user", "name"|null, "joined_at", "read_seq"}; user_rec may be NULL. */
json_t *chat_render_member(const char *uid, const json_t *user_rec,
                           const struct chat_member *m);

/* {"room", "user", "read_seq", "unread"} */
json_t *chat_render_read(const char *room, const char *uid,
                         const struct chat_member *m);

/* Serialises compactly; takes the reference `v` (decref'd). The result
 * is malloc()ed (free()), NULL if v is NULL or out of memory. */
char *chat_dump(json_t *v, size_t *len);

#endif /* CHAT_RENDER_H */
