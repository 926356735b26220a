/*
 * chat — the module's private header: its state, its stores and the
 * helpers the route, command and projection files share. Nothing here is
 * visible outside the .so (built with -fvisibility=hidden; only
 * chatd_module_info is exported).
 *
 * Threads: routes run on HTTP/WebSocket threads, commands and the
 * projection on the writer thread, the payment subscriber on its own
 * thread. struct chat is read-only after init except the typing table,
 * which has its own mutex.
 */
#ifndef CHAT_CHAT_H
#define CHAT_CHAT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "chatd/module.h"
#include "keys.h"
#include "render.h"
#include "typing.h"
#include "validate.h"

struct chat_stores {
    struct chatd_store *users;    /* uid -> user record (keys.h) */
    struct chatd_store *rooms;    /* room -> room record (keys.h) */
    struct chatd_store *members;  /* room \0 uid -> struct chat_member */
    struct chatd_store *messages; /* room \0 be64(seq) -> message record */
    struct chatd_store *inbox;    /* uid \0 be64(~activity) room ->
                                     struct chat_member (copy) */
    struct chatd_store *direct;   /* a \0 b \0 context -> room */
    struct chatd_store *blocks;   /* blocker \0 blocked -> "1" */
    struct chatd_store *idem;     /* sender \0 client_msg_id -> idem record */
    struct chatd_store *notices;  /* be64(source seq) -> be64(seq) room */
};

/* The members of a room with their records, copied. */
struct chat_roster {
    struct chat_buf ids;  /* NUL-terminated uids, one after the other */
    struct chat_buf recs; /* struct chat_member[n] */
    size_t n;
};

/* pending.c: the rooms whose inbox moves wait for the end of the write
 * transaction, and the records read again in it. */
struct pending_room;
struct chat_pending {
    struct pending_room *rooms;
    size_t n, cap;
    size_t *index; /* open addressing: room -> position + 1 */
    size_t index_cap;
    size_t last;   /* position + 1 of the last room found (0: none) */
};

struct chat {
    struct chatd_module *mod;
    const struct chatd_host *host;
    struct chat_stores st;
    int64_t max_members;
    int64_t max_text_chars;
    int64_t typing_interval_ms;
    struct chat_typing typing;
    struct chat_pending pending; /* writer thread */
};

/* --- rooms.c, messages.c, inbox.c, reads.c, realtime.c: route handlers */
void chat_route_room_create(void *state, struct chatd_req *req);
void chat_route_room_get(void *state, struct chatd_req *req);
void chat_route_inbox(void *state, struct chatd_req *req);
void chat_route_member_add(void *state, struct chatd_req *req);
void chat_route_member_remove(void *state, struct chatd_req *req);
void chat_route_member_list(void *state, struct chatd_req *req);
void chat_route_block(void *state, struct chatd_req *req);
void chat_route_unblock(void *state, struct chatd_req *req);
void chat_route_message_post(void *state, struct chatd_req *req);
void chat_route_message_edit(void *state, struct chatd_req *req);
void chat_route_message_delete(void *state, struct chatd_req *req);
void chat_route_history(void *state, struct chatd_req *req);
void chat_route_read(void *state, struct chatd_req *req);
void chat_route_typing(void *state, struct chatd_req *req);
void chat_route_presence(void *state, struct chatd_req *req);
void chat_route_presence_announce(void *state, struct chatd_req *req);

/* --- project.c --- */
int chat_project(void *state, struct chatd_txn *txn,
                 const struct chatd_event *ev);
/* project_msgs.c: the transaction's deferred inbox moves (pending.c). */
int chat_flush(void *state, struct chatd_txn *txn);

/* --- pending.c (writer thread) --- */
/* Notes that room's inbox moves wait for chat_flush: a message with
 * msg_activity `activity` arrived; prev_activity is the room's
 * msg_activity before it (kept from the transaction's first message). */
int chat_pending_room(struct chat *c, const char *room,
                      uint64_t prev_activity, uint64_t activity);
/* Activity of uid's inbox entry for room now (the member's record m and
 * the room's msg_activity as stored, pending moves considered). */
uint64_t chat_inbox_where(struct chat *c, const char *room, const char *uid,
                          const struct chat_member *m,
                          uint64_t room_msg_activity);
/* For a pending room: uid's entry is at `at` (replace: even if noted). */
int chat_pending_note(struct chat *c, const char *room, const char *uid,
                      uint64_t at, bool replace);
void chat_pending_forget(struct chat *c, const char *room, const char *uid);
size_t chat_pending_count(const struct chat *c);
/* The i-th pending room and its msg_activity now. */
const char *chat_pending_at(const struct chat *c, size_t i,
                            uint64_t *last_activity);
void chat_discard(void *state);
void chat_pending_free(struct chat *c);
/* The room's record / roster as the writer's transaction has them, read
 * from the store the first time in the transaction (the projection and
 * the commands: on the writer thread, in its write transaction, never in
 * a route). The record's pointers and *out stay valid until the next
 * write of that room's record or of one of its members. */
int chat_txn_room_get(struct chat *c, struct chatd_txn *txn, const char *room,
                      struct chat_room_rec *out);
int chat_txn_roster(struct chat *c, struct chatd_txn *txn, const char *room,
                    struct chat_roster **out);
/* A room's new record, kept here until chat_txn_rooms_write stores the
 * last one of the transaction (chat_flush). */
int chat_txn_room_put(struct chat *c, const char *room, const void *rec,
                      size_t len);
int chat_txn_rooms_write(struct chat *c, struct chatd_txn *txn);
/* Every write of a member record and removal of a member reports here
 * (store.c, project.c), after the store took it. */
void chat_txn_member_stored(struct chat *c, const char *room, const char *uid,
                            const struct chat_member *m);
void chat_txn_roster_changed(struct chat *c, const char *room);
/* project_msgs.c: room's members in key order into r (emptied first). */
int chat_roster_load(struct chat *c, struct chatd_txn *txn,
                     const char *room, struct chat_roster *r);

/* --- notices.c: the payment subscriber --- */
int chat_payment_notice(void *state, const struct chatd_event *ev);

/* --- store.c: typed access to the stores ---
 * Records are decoded in place: their pointers are borrowed from the
 * stored value, valid until the transaction ends or its next write (an
 * append, in a command). Copy what must outlive that. */

int chat_room_get(struct chat *c, struct chatd_txn *txn, const char *room,
                  struct chat_room_rec *out);
/* chat_room_get in its two steps: the stored value, and its decoding
 * (a record that does not decode is logged as a broken read model). */
int chat_room_value(struct chat *c, struct chatd_txn *txn, const char *room,
                    struct chatd_val *v);
int chat_room_decode(struct chat *c, const void *data, size_t len,
                     struct chat_room_rec *out);
int chat_message_get(struct chat *c, struct chatd_txn *txn,
                     const char *room, uint64_t seq,
                     struct chat_msg_rec *out);
int chat_member_get(struct chat *c, struct chatd_txn *txn, const char *room,
                    const char *uid, struct chat_member *m);
/* Writes the member record and its copy in the user's inbox entry at
 * `inbox_activity` (chat_member_activity: the entry that exists, or the
 * one being made). Projection only. */
int chat_member_put(struct chat *c, struct chatd_txn *txn, const char *room,
                    const char *uid, const struct chat_member *m,
                    uint64_t inbox_activity);
/* Only the record; its inbox entry is left as it is. Projection only. */
int chat_member_record_put(struct chat *c, struct chatd_txn *txn,
                           const char *room, const char *uid,
                           const struct chat_member *m);
/* Only the inbox entry (record unchanged). Projection only. */
int chat_inbox_put(struct chat *c, struct chatd_txn *txn, const char *room,
                   const char *uid, const struct chat_member *m,
                   uint64_t inbox_activity);
/* Whether key k exists in st (errors count as absent after a log line). */
bool chat_exists(struct chat *c, struct chatd_txn *txn,
                 const struct chatd_store *st, const struct chat_key *k);
/* Whether uid is a known user of kind "user" (identity.user_created). */
bool chat_user_is_person(struct chat *c, struct chatd_txn *txn,
                         const char *uid);
/* The user's name as a JSON token (borrowed), or NULL if unknown. */
const char *chat_user_name(struct chat *c, struct chatd_txn *txn,
                           const char *uid, size_t *len);

/* The user ids of a room's members, in key (byte) order. *out is a
 * NULL-terminated malloc()ed array of malloc()ed strings: free with
 * chat_ids_free. Copies, so the caller may write to the stores after. */
int chat_room_member_ids(struct chat *c, struct chatd_txn *txn,
                         const char *room, char ***out, size_t *n);
void chat_ids_free(char **ids);

/* Who reads: a route, in a read transaction that sees the store; or a
 * command, in the writer's transaction, where a room's record is ahead of
 * the store until the end of the transaction (pending.c). */
enum chat_reader { CHAT_IN_ROUTE, CHAT_IN_COMMAND };

/* Loads a room for `uid`: CHATD_ENOTFOUND if the room does not exist or
 * uid is not a member (the caller answers 404 either way), else *room and
 * *m. CHATD_EIO if a record is broken. */
int chat_room_for_member(struct chat *c, struct chatd_txn *txn,
                         enum chat_reader who, const char *room_id,
                         const char *uid,
                         struct chat_room_rec *room, struct chat_member *m);

/* --- req.c: request plumbing shared by the routes --- */

/* The calling user's id, borrowed until the reply; NULL after answering
 * 403 when the principal is not a user. */
const char *chat_req_user(struct chat *c, struct chatd_req *req);
/* Parses the body into *out (json_decref) or answers 400 and returns
 * CHATD_EREJECTED. */
int chat_req_body(struct chat *c, struct chatd_req *req, json_t **out);
/* The request's read transaction; NULL after answering 503. */
struct chatd_txn *chat_req_txn(struct chat *c, struct chatd_req *req);
/* A path parameter that must be an id; NULL after answering 404. */
const char *chat_req_id(struct chat *c, struct chatd_req *req,
                        const char *name, const char *what);

/* Answers with the error, or 404 "room not found". */
void chat_reply_err(struct chat *c, struct chatd_req *req,
                    const struct chat_err *err);
void chat_reply_room_404(struct chat *c, struct chatd_req *req);
/* Answers 500 for a storage/memory status and returns it (commands return
 * it so the host discards what they appended). */
int chat_reply_status(struct chat *c, struct chatd_req *req, int status,
                      const char *what);
/* Serialises v (taking the reference) and answers `status`; 500 if that
 * fails. Returns CHATD_OK or the failure status. */
int chat_reply(struct chat *c, struct chatd_req *req, unsigned status,
               json_t *v);
/* Answers `status` with the JSON text in b (500 if b failed) and frees
 * b. Returns CHATD_OK or the failure status. */
int chat_reply_buf(struct chat *c, struct chatd_req *req, unsigned status,
                   struct chat_buf *b);

/* --- rooms.c --- */

/* Answers `status` with the room as uid sees it, or 404 if uid is not a
 * member. Returns CHATD_OK, or a storage status after answering 500. */
int chat_reply_room(struct chat *c, struct chatd_txn *txn,
                    enum chat_reader who, struct chatd_req *req,
                    const char *room_id,
                    const char *uid, unsigned status);
/* Answers a failed append (409 for CHATD_ECONFLICT, else 500); returns
 * rc so that the command discards its events. */
int chat_reply_append_error(struct chat *c, struct chatd_req *req, int rc);

/* --- events.c: appending --- */

/* Appends one event of this module; data is serialised here. */
int chat_append(struct chat *c, struct chatd_txn *txn, const char *type,
                const char *stream, uint64_t expected_ver, const json_t *data,
                uint64_t *seq_out);
/* The same with the data already JSON text (b; CHATD_ENOMEM if it
 * failed). */
int chat_append_text(struct chat *c, struct chatd_txn *txn, const char *type,
                     const char *stream, uint64_t expected_ver,
                     const struct chat_buf *b, uint64_t *seq_out);
/* "room:<id>" into buf (at least 8 + CHAT_ID_MAX bytes). */
#define CHAT_STREAM_MAX (8 + CHAT_ID_MAX)
char *chat_room_stream(char *buf, const char *room);
/* A new random id "<prefix><16 hex>" (prefix "r_" or "m_") into buf of
 * at least 24 bytes. CHATD_EIO if the kernel gives no randomness. */
int chat_new_id(char *buf, const char *prefix);

#endif /* CHAT_CHAT_H */
