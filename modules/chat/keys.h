/*
 * keys — byte layouts of the chat stores' keys and fixed-size values, and
 * the opaque inbox cursor. Pure functions (tests/test_keys.c).
 *
 * Stores compare keys with memcmp, so:
 *  - ids never contain NUL (validate.h), and a NUL ends each id inside a
 *    key: "room\0" is a prefix of exactly that room's keys, never of a
 *    room whose id merely starts the same way;
 *  - numbers are 8-byte big-endian, so byte order is numeric order;
 *  - the inbox stores ~activity (bitwise not), so ascending byte order is
 *    the most recent activity first.
 *
 * Layouts (see README.md for the stores):
 *   users     uid
 *   rooms     room
 *   members   room \0 uid                -> struct chat_member (32 bytes)
 *   messages  room \0 be64(seq)
 *   inbox     uid \0 be64(~activity) room -> room
 *   direct    min(a,b) \0 max(a,b) \0 context ("" if none) -> room
 *   blocks    blocker \0 blocked
 *   idem      sender \0 client_msg_id
 *   notices   be64(source event seq)
 */
#ifndef CHAT_KEYS_H
#define CHAT_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHAT_KEY_MAX 400 /* the host's key limit */

struct chat_key {
    size_t len;
    unsigned char b[CHAT_KEY_MAX];
};

void chat_be64_put(unsigned char *p, uint64_t v);
uint64_t chat_be64_get(const unsigned char *p);

/* Builders: CHATD_OK, or CHATD_EINVAL if the key would exceed
 * CHAT_KEY_MAX (impossible for ids that passed validate.h). */
int chat_key_str(struct chat_key *k, const char *s);
int chat_key_pair(struct chat_key *k, const char *a, const char *b);
int chat_key_prefix(struct chat_key *k, const char *a); /* a \0 */
int chat_key_message(struct chat_key *k, const char *room, uint64_t seq);
int chat_key_inbox(struct chat_key *k, const char *uid, uint64_t activity,
                   const char *room);
/* Where an inbox page after `activity` starts: every key of uid with an
 * older activity sorts at or after it. activity 0 means none: then the
 * key is past every key of uid. */
int chat_key_inbox_after(struct chat_key *k, const char *uid,
                         uint64_t activity);
int chat_key_direct(struct chat_key *k, const char *a, const char *b,
                    const char *context);
int chat_key_u64(struct chat_key *k, uint64_t v);

/* Whether key (data, len) starts with prefix p. */
bool chat_key_has_prefix(const void *data, size_t len,
                         const struct chat_key *p);
/* Decoders of keys found by a cursor, given the prefix length (the
 * "room\0" or "uid\0" part): CHATD_OK or CHATD_EINVAL if malformed. */
int chat_key_message_seq(const void *data, size_t len, size_t prefix_len,
                         uint64_t *seq);
/* *room points into data (not NUL-terminated), *room_len its length. */
int chat_key_inbox_decode(const void *data, size_t len, size_t prefix_len,
                          uint64_t *activity, const char **room,
                          size_t *room_len);
/* The uid after "room\0" in a members key. */
int chat_key_member_uid(const void *data, size_t len, size_t prefix_len,
                        const char **uid, size_t *uid_len);

/* One member of one room: what "members" stores per (room, user). */
struct chat_member {
    int64_t joined_ms;  /* time of the event that added the user */
    uint64_t read_seq;  /* read position: last seq the user has read */
    uint64_t unread;    /* messages by others after read_seq */
    uint64_t activity;  /* global seq of the room's last activity for this
                           user: the inbox key's order */
};
#define CHAT_MEMBER_LEN 32
void chat_member_encode(const struct chat_member *m,
                        unsigned char out[CHAT_MEMBER_LEN]);
/* CHATD_EINVAL if len is not CHAT_MEMBER_LEN. */
int chat_member_decode(const void *data, size_t len, struct chat_member *m);

/* Inbox cursor: the activity of the last room of a page, as 12 base64url
 * characters (a version byte and the 8-byte seq). `out` holds 13 bytes. */
#define CHAT_CURSOR_LEN 12
void chat_cursor_encode(uint64_t activity, char out[CHAT_CURSOR_LEN + 1]);
/* CHATD_EINVAL unless s is a cursor made by chat_cursor_encode. */
int chat_cursor_decode(const char *s, uint64_t *activity);

#endif /* CHAT_KEYS_H */
