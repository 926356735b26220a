/*
 * project — helpers shared by the projection's files (project.c: dispatch,
 * users, rooms and members; project_msgs.c: messages, reads, blocks).
 * Writer thread only, inside the host's write transaction.
 */
#ifndef CHAT_PROJECT_H
#define CHAT_PROJECT_H

#include "chat.h"

typedef int (*apply_fn)(struct chat *c, struct chatd_txn *txn,
                        const struct chatd_event *ev, const json_t *d);

/* d[key] as a string (borrowed from d) or NULL; as a count (0 if absent
 * or negative). */
const char *chat_proj_str(const json_t *d, const char *key);
uint64_t chat_proj_u64(const json_t *d, const char *key);
/* Logs that event ev cannot be applied and returns CHATD_EINVAL. */
int chat_proj_bad(struct chat *c, const struct chatd_event *ev,
                  const char *why);
int chat_proj_set_int(json_t *o, const char *key, int64_t v);
/* Stores the room record with "ver" set to the event's stream version. */
int chat_proj_room_save(struct chat *c, struct chatd_txn *txn, json_t *room,
                        const struct chatd_event *ev);
/* Loads the room d["room"] names (CHATD_EINVAL if it does not exist). */
int chat_proj_event_room(struct chat *c, struct chatd_txn *txn,
                         const struct chatd_event *ev, const json_t *d,
                         json_t **room);
/* host->deliver for every current member of the room. */
int chat_proj_deliver_room(struct chat *c, struct chatd_txn *txn,
                           const char *room);
int chat_proj_inbox_put(struct chat *c, struct chatd_txn *txn,
                        const char *uid, uint64_t activity, const char *room);
int chat_proj_inbox_del(struct chat *c, struct chatd_txn *txn,
                        const char *uid, uint64_t activity, const char *room);

/* project_msgs.c */
int chat_on_message_posted(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev, const json_t *d);
int chat_on_message_edited(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev, const json_t *d);
int chat_on_message_deleted(struct chat *c, struct chatd_txn *txn,
                            const struct chatd_event *ev, const json_t *d);
int chat_on_read_marked(struct chat *c, struct chatd_txn *txn,
                        const struct chatd_event *ev, const json_t *d);
int chat_on_user_blocked(struct chat *c, struct chatd_txn *txn,
                         const struct chatd_event *ev, const json_t *d);
int chat_on_user_unblocked(struct chat *c, struct chatd_txn *txn,
                           const struct chatd_event *ev, const json_t *d);

#endif /* CHAT_PROJECT_H */
