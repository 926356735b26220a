/*
 * typing — the in-memory rate limit of typing notifications: at most one
 * per (user, room) per interval. Never persisted (typing is ephemeral).
 * Thread-safe: one mutex guards the table, since routes run on several
 * threads. Unit-tested with explicit clocks (tests/test_typing.c).
 */
#ifndef CHAT_TYPING_H
#define CHAT_TYPING_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define CHAT_TYPING_BUCKETS 1024
/* Beyond this many entries, a sweep drops the expired ones. */
#define CHAT_TYPING_SWEEP_AT 4096

struct chat_typing_entry;

struct chat_typing {
    pthread_mutex_t lock;
    struct chat_typing_entry *buckets[CHAT_TYPING_BUCKETS];
    size_t count;
    size_t sweep_at; /* next count that triggers a sweep */
};

int chat_typing_init(struct chat_typing *t);
void chat_typing_fini(struct chat_typing *t);

/*
 * Whether (user, room) may send a typing notification at now_ms (a
 * monotonic clock): true if its last accepted one is at least interval_ms
 * old (or there is none), and then now_ms becomes its last. If false and
 * retry_ms is not NULL, *retry_ms is how long until it would be allowed.
 * Out of memory allows the notification without remembering it.
 */
bool chat_typing_allow(struct chat_typing *t, const char *user,
                       const char *room, int64_t now_ms, int64_t interval_ms,
                       int64_t *retry_ms);
/* Entries held now (for tests). */
size_t chat_typing_count(struct chat_typing *t);

#endif /* CHAT_TYPING_H */
