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
 *   users     uid                         -> user record
 *   rooms     room                        -> room record
 *   members   room \0 uid                -> struct chat_member (32 bytes)
 *   messages  room \0 be64(seq)          -> message record
 *   inbox     uid \0 be64(~activity) room -> struct chat_member (a copy)
 *   direct    min(a,b) \0 max(a,b) \0 context ("" if none) -> room
 *   blocks    blocker \0 blocked
 *   idem      sender \0 client_msg_id    -> idem record
 *   notices   be64(source event seq)     -> be64(seq) room
 *
 * Records are a small binary header (what commands decide on, read
 * without parsing) and, for messages and rooms, the JSON text the API
 * answers with (render.h). Decoders return pointers into the stored value:
 * borrowed like the value (until the transaction ends or its next write).
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
    uint64_t own_after; /* the user's own messages after read_seq */
    uint64_t activity;  /* global seq of this user's last own activity in
                           the room (joining, posting); the inbox key's
                           order is chat_member_activity() */
};

/* Messages by others after the read position: the room's last seq minus
 * what is read and what the user wrote. Computed, so a message to a
 * 100-member room writes the sender's record only. */
static inline uint64_t chat_member_unread(const struct chat_member *m,
                                          uint64_t room_last_seq)
{
    uint64_t after = room_last_seq > m->read_seq ? room_last_seq - m->read_seq
                                                 : 0;
    return after > m->own_after ? after - m->own_after : 0;
}

/* The activity that orders the user's inbox entry for the room: the later
 * of the user's own and the room's last message (room_msg_activity, the
 * global seq of its chat.message_posted event). */
static inline uint64_t chat_member_activity(const struct chat_member *m,
                                            uint64_t room_msg_activity)
{
    return m->activity > room_msg_activity ? m->activity : room_msg_activity;
}
#define CHAT_MEMBER_LEN 32
void chat_member_encode(const struct chat_member *m,
                        unsigned char out[CHAT_MEMBER_LEN]);
/* CHATD_EINVAL if len is not CHAT_MEMBER_LEN. */
int chat_member_decode(const void *data, size_t len, struct chat_member *m);

/* Message record: u8 format, u8 flags, u8 sender length (0xFF: no
 * sender), the sender id, then the message's public JSON text. */
#define CHAT_MSG_FORMAT 1
#define CHAT_MSG_DELETED 0x01
#define CHAT_MSG_HDR_MAX (3 + 254)
struct chat_msg_rec {
    bool deleted;
    const char *sender; /* NULL for a payment notice (no sender) */
    size_t sender_len;
    const char *json;   /* the message as the API answers it */
    size_t json_len;
};
/* Writes the header into out and returns its length; sender NULL for
 * none, else at most 254 bytes (ids are at most 100). */
size_t chat_msg_hdr_encode(unsigned char out[CHAT_MSG_HDR_MAX], bool deleted,
                           const char *sender, size_t sender_len);
/* CHATD_EINVAL if the value is not a message record. */
int chat_msg_rec_decode(const void *data, size_t len, struct chat_msg_rec *r);

/* Room record: u8 format, u8 kind, be64 last_seq, ver, member_count,
 * activity_ms, be32 static_len, u8 creator length + creator, u8 number of
 * peers (2 for a direct room, else 0) + for each u8 length + id; then the
 * room's JSON as every member sees it, up to (not including) the caller's
 * part: {"id", ..., "last_activity_at": T  — render.h. Its first
 * static_len bytes never change after the room is created. */
#define CHAT_ROOM_FORMAT 2
#define CHAT_ROOM_HDR_MAX (2 + 8 * 5 + 4 + 1 + 255 + 1 + 2 * (1 + 255))
struct chat_room_rec {
    unsigned kind;         /* enum chat_room_kind (validate.h) */
    uint64_t last_seq;     /* seq of the room's last message, 0 if none */
    uint64_t ver;          /* the room stream's version: expected_ver */
    uint64_t member_count;
    int64_t activity_ms;   /* time of the last message (or creation) */
    uint64_t msg_activity; /* global seq of the last message's event, 0 if
                              none: see chat_member_activity */
    size_t static_len;
    const char *creator;
    size_t creator_len;
    unsigned n_peers;      /* direct rooms: the two members */
    const char *peer[2];
    size_t peer_len[2];
    const char *json;
    size_t json_len;
};
/* Writes the header of r (everything but json) into out; its length. Ids
 * at most 255 bytes, n_peers at most 2. */
size_t chat_room_hdr_encode(unsigned char out[CHAT_ROOM_HDR_MAX],
                            const struct chat_room_rec *r);
int chat_room_rec_decode(const void *data, size_t len,
                         struct chat_room_rec *r);

/* Idempotency record of a client_msg_id: be64 seq, be64 digest of the
 * text (chat_text_digest), the room id. */
#define CHAT_IDEM_MAX (16 + 255)
struct chat_idem {
    uint64_t seq;
    uint64_t digest;
    const char *room;
    size_t room_len;
};
size_t chat_idem_encode(unsigned char out[CHAT_IDEM_MAX],
                        const struct chat_idem *r);
int chat_idem_decode(const void *data, size_t len, struct chat_idem *r);

/* User record: u8 1 if the account's kind is "user" (a person chat may
 * put in rooms), else 0; then the user's name as a JSON token (`null` if
 * identity gave none). */
int chat_user_decode(const void *data, size_t len, bool *person,
                     const char **name, size_t *name_len);

/* Inbox cursor: the activity of the last room of a page, as 12 base64url
 * characters (a version byte and the 8-byte seq). `out` holds 13 bytes. */
#define CHAT_CURSOR_LEN 12
void chat_cursor_encode(uint64_t activity, char out[CHAT_CURSOR_LEN + 1]);
/* CHATD_EINVAL unless s is a cursor made by chat_cursor_encode. */
int chat_cursor_decode(const char *s, uint64_t *activity);

#endif /* CHAT_KEYS_H */
