/*
 * project — helpers shared by the projection's files (project.c: dispatch,
 * users, rooms and members; project_msgs.c: messages, reads, blocks).
 * Writer thread only, inside the host's write transaction.
 *
 * Rare events (users, rooms, members, blocks) are parsed with jansson;
 * the frequent ones (messages, edits, deletes, read marks) are scanned in
 * place (render.h, chat_json_fields), so that a send costs no JSON tree.
 */
#ifndef CHAT_PROJECT_H
#define CHAT_PROJECT_H

#include "chat.h"

/* A handler of a rare event, given its parsed data. */
typedef int (*apply_fn)(struct chat *c, struct chatd_txn *txn,
                        const struct chatd_event *ev, const json_t *d);
/* A handler of a frequent event: reads ev->data itself. */
typedef int (*apply_raw_fn)(struct chat *c, struct chatd_txn *txn,
                            const struct chatd_event *ev);

/* d[key] as a string (borrowed from d) or NULL; as a count (0 if absent
 * or negative). */
const char *chat_proj_str(const json_t *d, const char *key);
uint64_t chat_proj_u64(const json_t *d, const char *key);
/* Logs that event ev cannot be applied and returns CHATD_EINVAL. */
int chat_proj_bad(struct chat *c, const struct chatd_event *ev,
                  const char *why);
/* Loads the room an event names (CHATD_EINVAL, logged, if it does not
 * exist: a broken log). */
int chat_proj_room_load(struct chat *c, struct chatd_txn *txn,
                        const struct chatd_event *ev, const char *room,
                        struct chat_room_rec *r);
/* Stores room record r with r->ver = the event's stream version (the
 * commands' expected_ver). With `redo`, the changing part of its JSON is
 * rendered again from r's numbers and last_msg (the last message's JSON,
 * or NULL for none); else r->json is kept. r may point into the
 * transaction's copy of the record: it is copied before the write, which
 * goes to that copy (chat_txn_room_put) and reaches the store at the end
 * of the transaction. */
int chat_proj_room_put(struct chat *c, const struct chatd_event *ev,
                       const char *room, struct chat_room_rec *r, bool redo,
                       const char *last_msg, size_t last_len);
/* host->deliver for every current member of the room. */
int chat_proj_deliver_room(struct chat *c, struct chatd_txn *txn,
                           const char *room);
int chat_proj_inbox_del(struct chat *c, struct chatd_txn *txn,
                        const char *uid, uint64_t activity, const char *room);

/* project_msgs.c */
int chat_on_message_posted(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev);
int chat_on_message_edited(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev);
int chat_on_message_deleted(struct chat *c, struct chatd_txn *txn,
                            const struct chatd_event *ev);
int chat_on_read_marked(struct chat *c, struct chatd_txn *txn,
                        const struct chatd_event *ev);
int chat_on_user_blocked(struct chat *c, struct chatd_txn *txn,
                         const struct chatd_event *ev, const json_t *d);
int chat_on_user_unblocked(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev, const json_t *d);

#endif /* CHAT_PROJECT_H */
