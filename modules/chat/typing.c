#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "chatd/module.h"
#include "typing.h"

struct chat_typing_entry {
    struct chat_typing_entry *next;
    int64_t last_ms;
    char key[]; /* user \0 room \0 */
};

int chat_typing_init(struct chat_typing *t)
{
    memset(t, 0, sizeof(*t));
    t->sweep_at = CHAT_TYPING_SWEEP_AT;
    return pthread_mutex_init(&t->lock, NULL) == 0 ? CHATD_OK : CHATD_ENOMEM;
}

void chat_typing_fini(struct chat_typing *t)
{
    struct chat_typing_entry *e, *next;
    size_t i;

    for (i = 0; i < CHAT_TYPING_BUCKETS; i++) {
        for (e = t->buckets[i]; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
        t->buckets[i] = NULL;
    }
    pthread_mutex_destroy(&t->lock);
}

static size_t bucket_of(const char *user, const char *room)
{
    /* the user's hash seeds the room's, so ("ab","c") and ("a","bc")
     * differ */
    uint64_t h = XXH3_64bits_withSeed(room, strlen(room),
                                      XXH3_64bits(user, strlen(user)));

    return (size_t)(h % CHAT_TYPING_BUCKETS);
}

static bool entry_is(const struct chat_typing_entry *e, const char *user,
                     const char *room)
{
    size_t ul = strlen(user);

    return strcmp(e->key, user) == 0 && strcmp(e->key + ul + 1, room) == 0;
}

/* Drops entries whose interval has passed: they no longer limit anyone.
 * Runs when the table has grown past sweep_at, so its cost is spread over
 * at least as many inserts as it examines. */
static void sweep(struct chat_typing *t, int64_t now_ms, int64_t interval_ms)
{
    struct chat_typing_entry **pp, *e;
    size_t i;

    for (i = 0; i < CHAT_TYPING_BUCKETS; i++) {
        pp = &t->buckets[i];
        while ((e = *pp) != NULL) {
            if (now_ms - e->last_ms >= interval_ms) {
                *pp = e->next;
                free(e);
                t->count--;
            } else {
                pp = &e->next;
            }
        }
    }
    t->sweep_at = t->count * 2 > CHAT_TYPING_SWEEP_AT ? t->count * 2
                                                     : CHAT_TYPING_SWEEP_AT;
}

static void insert(struct chat_typing *t, size_t b, const char *user,
                   const char *room, int64_t now_ms)
{
    size_t ul = strlen(user), rl = strlen(room);
    struct chat_typing_entry *e = malloc(sizeof(*e) + ul + rl + 2);

    if (e == NULL)
        return;
    memcpy(e->key, user, ul + 1);
    memcpy(e->key + ul + 1, room, rl + 1);
    e->last_ms = now_ms;
    e->next = t->buckets[b];
    t->buckets[b] = e;
    t->count++;
}

bool chat_typing_allow(struct chat_typing *t, const char *user,
                       const char *room, int64_t now_ms, int64_t interval_ms,
                       int64_t *retry_ms)
{
    size_t b = bucket_of(user, room);
    struct chat_typing_entry *e;
    bool allow = true;

    pthread_mutex_lock(&t->lock);
    for (e = t->buckets[b]; e != NULL && !entry_is(e, user, room);)
        e = e->next;
    if (e != NULL && now_ms - e->last_ms < interval_ms) {
        allow = false;
        if (retry_ms != NULL)
            *retry_ms = interval_ms - (now_ms - e->last_ms);
    } else if (e != NULL) {
        e->last_ms = now_ms;
    } else {
        if (t->count >= t->sweep_at)
            sweep(t, now_ms, interval_ms);
        insert(t, b, user, room, now_ms);
    }
    pthread_mutex_unlock(&t->lock);
    return allow;
}

size_t chat_typing_count(struct chat_typing *t)
{
    size_t n;

    pthread_mutex_lock(&t->lock);
    n = t->count;
    pthread_mutex_unlock(&t->lock);
    return n;
}
