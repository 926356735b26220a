/*
 * pending — the inbox moves of one write transaction, made once per room
 * at its end (chat_flush, through chatd_host.projection_hooks).
 *
 * A message moves its room to the top of every member's inbox: a delete
 * and a put per member. A group commit that carries eleven messages to one
 * 100-member room would move each entry eleven times. Instead the first
 * message of the room in the transaction notes the room here, with the
 * room's message activity before it; every member's entry stays where it
 * was until chat_flush moves it once, to where the room's last message
 * puts it. A member whose own activity changes meanwhile (the sender, a
 * member who joins) has the place of their entry noted, since it can no
 * longer be told from their record. The final keys depend only on the
 * events, so a rebuild (other chunk boundaries) gives the same inbox.
 *
 * The same entry keeps what the message projection reads again and again
 * in the transaction: the room's record and its roster (each member with
 * their record), as copies, from the first read until the transaction
 * ends. A replay chunk brings a room about ten messages, a live batch
 * under load more: each read them from the B-trees once instead of once
 * per message. The roster stays an exact copy of the store because every
 * write of a member record reports here (chat_txn_member_stored,
 * chat_txn_roster_changed) and is written through. The room's record is
 * not written through: each message changes it (last message, seq,
 * activity), so the projection changes only the copy here
 * (chat_txn_room_put) and chat_flush stores the last version once
 * (chat_txn_rooms_write). So everything that reads a room's record inside
 * the writer's transaction (the projection, and the commands, which run
 * in the same transaction) reads it here; routes and other threads read
 * the store, which holds what the last commit left.
 *
 * Writer thread only (or an offline command's thread), one transaction at
 * a time: chat_discard empties it before each.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "chat.h"

struct pending_member {
    char uid[CHAT_ID_MAX + 1];
    uint64_t at; /* activity of the member's inbox entry now */
};

struct pending_room {
    char room[CHAT_ID_MAX + 1];
    bool moves;             /* inbox moves wait for chat_flush */
    uint64_t prev_activity; /* room's msg_activity before this txn's first */
    uint64_t last_activity; /* ... and after its last message so far */
    struct pending_member *moved;
    size_t nmoved, capmoved;
    bool has_rec, has_roster;
    bool rec_dirty;             /* rec is newer than the store's */
    struct chat_buf rec;        /* the room's record */
    struct chat_roster roster;  /* its members as stored */
};

/* Room for one more of `n` elements of `size` bytes at *arr (capacity
 * *cap, doubled from `first`); the new part zeroed. */
static int reserve_one(void **arr, size_t *cap, size_t n, size_t size,
                       size_t first)
{
    if (n < *cap)
        return CHATD_OK;
    size_t ncap = *cap ? *cap * 2 : first;
    char *na = realloc(*arr, ncap * size);
    if (!na)
        return CHATD_ENOMEM;
    memset(na + *cap * size, 0, (ncap - *cap) * size);
    *arr = na;
    *cap = ncap;
    return CHATD_OK;
}

static uint32_t id_hash(const char *s)
{
    return (uint32_t)XXH3_64bits(s, strlen(s));
}

/* Slot of `room` in the index (holding 0 if absent). */
static size_t *index_slot(struct chat_pending *p, const char *room)
{
    for (size_t i = id_hash(room) & (p->index_cap - 1);;
         i = (i + 1) & (p->index_cap - 1)) {
        size_t v = p->index[i];
        if (v == 0 || strcmp(p->rooms[v - 1].room, room) == 0)
            return &p->index[i];
    }
}

/* A message's projection asks for its room half a dozen times in a row:
 * the last one found is tried before the hash. */
static struct pending_room *find(struct chat_pending *p, const char *room)
{
    if (p->n == 0)
        return NULL;
    if (p->last != 0 && strcmp(p->rooms[p->last - 1].room, room) == 0)
        return &p->rooms[p->last - 1];
    size_t v = *index_slot(p, room);
    if (v != 0)
        p->last = v;
    return v ? &p->rooms[v - 1] : NULL;
}

/* Keeps the index at most half full. */
static int index_grow(struct chat_pending *p)
{
    if (p->index_cap != 0 && (p->n + 1) * 2 <= p->index_cap)
        return CHATD_OK;
    size_t cap = p->index_cap ? p->index_cap * 2 : 64;
    size_t *ni = calloc(cap, sizeof *ni);
    if (!ni)
        return CHATD_ENOMEM;
    free(p->index);
    p->index = ni;
    p->index_cap = cap;
    for (size_t i = 0; i < p->n; i++)
        *index_slot(p, p->rooms[i].room) = i + 1;
    return CHATD_OK;
}

/* The entry of room, made (empty) if there is none; NULL if out of
 * memory. A slot's buffers are kept from one transaction to the next. */
static struct pending_room *entry(struct chat_pending *p, const char *room)
{
    struct pending_room *pr = find(p, room);

    if (pr)
        return pr;
    if (index_grow(p) != CHATD_OK ||
        reserve_one((void **)&p->rooms, &p->cap, p->n, sizeof *p->rooms,
                    16) != CHATD_OK)
        return NULL;
    pr = &p->rooms[p->n++];
    strcpy(pr->room, room); /* ids are checked: at most CHAT_ID_MAX */
    pr->moves = false;
    pr->nmoved = 0;
    pr->has_rec = pr->has_roster = pr->rec_dirty = false;
    *index_slot(p, room) = p->n;
    return pr;
}

int chat_pending_room(struct chat *c, const char *room,
                      uint64_t prev_activity, uint64_t activity)
{
    struct pending_room *pr = entry(&c->pending, room);

    if (!pr)
        return CHATD_ENOMEM;
    if (!pr->moves) {
        pr->moves = true;
        pr->prev_activity = prev_activity;
    }
    pr->last_activity = activity;
    return CHATD_OK;
}

static struct pending_member *moved_find(struct pending_room *pr,
                                         const char *uid)
{
    for (size_t i = 0; i < pr->nmoved; i++)
        if (strcmp(pr->moved[i].uid, uid) == 0)
            return &pr->moved[i];
    return NULL;
}

uint64_t chat_inbox_where(struct chat *c, const char *room, const char *uid,
                          const struct chat_member *m,
                          uint64_t room_msg_activity)
{
    struct pending_room *pr = find(&c->pending, room);

    if (!pr || !pr->moves)
        return chat_member_activity(m, room_msg_activity);
    struct pending_member *pm = moved_find(pr, uid);
    return pm ? pm->at : chat_member_activity(m, pr->prev_activity);
}

int chat_pending_note(struct chat *c, const char *room, const char *uid,
                      uint64_t at, bool replace)
{
    struct pending_room *pr = find(&c->pending, room);

    if (!pr || !pr->moves)
        return CHATD_OK; /* nothing deferred: the record tells */
    struct pending_member *pm = moved_find(pr, uid);
    if (pm) {
        if (replace)
            pm->at = at;
        return CHATD_OK;
    }
    if (reserve_one((void **)&pr->moved, &pr->capmoved, pr->nmoved,
                    sizeof *pr->moved, 4) != CHATD_OK)
        return CHATD_ENOMEM;
    pm = &pr->moved[pr->nmoved++];
    strcpy(pm->uid, uid);
    pm->at = at;
    return CHATD_OK;
}

void chat_pending_forget(struct chat *c, const char *room, const char *uid)
{
    struct pending_room *pr = find(&c->pending, room);
    struct pending_member *pm = pr ? moved_find(pr, uid) : NULL;

    if (pm)
        *pm = pr->moved[--pr->nmoved];
}

size_t chat_pending_count(const struct chat *c)
{
    return c->pending.n;
}

const char *chat_pending_at(const struct chat *c, size_t i,
                            uint64_t *last_activity)
{
    if (!c->pending.rooms[i].moves)
        return NULL;
    *last_activity = c->pending.rooms[i].last_activity;
    return c->pending.rooms[i].room;
}

/* --- the records read again within the transaction --- */

/* b = (p, n); false if out of memory. */
static bool buf_set(struct chat_buf *b, const void *p, size_t n)
{
    b->len = 0;
    b->failed = false;
    chat_buf_add(b, p, n);
    return !b->failed;
}

int chat_txn_room_get(struct chat *c, struct chatd_txn *txn, const char *room,
                      struct chat_room_rec *out)
{
    struct pending_room *pr = entry(&c->pending, room);
    struct chatd_val v;
    int rc;

    if (!pr)
        return CHATD_ENOMEM;
    if (!pr->has_rec) {
        rc = chat_room_value(c, txn, room, &v);
        if (rc != CHATD_OK)
            return rc;
        if (!buf_set(&pr->rec, v.data, v.len))
            return CHATD_ENOMEM;
        pr->has_rec = true;
    }
    return chat_room_decode(c, pr->rec.p, pr->rec.len, out);
}

int chat_txn_room_put(struct chat *c, const char *room, const void *rec,
                      size_t len)
{
    struct pending_room *pr = entry(&c->pending, room);

    if (!pr)
        return CHATD_ENOMEM;
    pr->has_rec = buf_set(&pr->rec, rec, len);
    pr->rec_dirty = pr->has_rec;
    return pr->has_rec ? CHATD_OK : CHATD_ENOMEM;
}

int chat_txn_rooms_write(struct chat *c, struct chatd_txn *txn)
{
    struct chat_pending *p = &c->pending;
    int rc = CHATD_OK;

    for (size_t i = 0; rc == CHATD_OK && i < p->n; i++) {
        struct pending_room *pr = &p->rooms[i];
        struct chat_key k;

        if (!pr->rec_dirty)
            continue;
        rc = chat_key_str(&k, pr->room);
        if (rc == CHATD_OK)
            rc = c->host->put(txn, c->st.rooms, k.b, k.len, pr->rec.p,
                              pr->rec.len);
        pr->rec_dirty = false;
    }
    return rc;
}

int chat_txn_roster(struct chat *c, struct chatd_txn *txn, const char *room,
                    struct chat_roster **out)
{
    struct pending_room *pr = entry(&c->pending, room);
    int rc;

    if (!pr)
        return CHATD_ENOMEM;
    if (!pr->has_roster) {
        rc = chat_roster_load(c, txn, room, &pr->roster);
        if (rc != CHATD_OK)
            return rc;
        pr->has_roster = true;
    }
    *out = &pr->roster;
    return CHATD_OK;
}

void chat_txn_member_stored(struct chat *c, const char *room, const char *uid,
                            const struct chat_member *m)
{
    struct pending_room *pr = find(&c->pending, room);
    struct chat_member *recs;
    const char *id;

    if (!pr || !pr->has_roster)
        return;
    recs = (struct chat_member *)(void *)pr->roster.recs.p;
    id = pr->roster.ids.p;
    for (size_t i = 0; i < pr->roster.n; i++, id += strlen(id) + 1)
        if (strcmp(id, uid) == 0) {
            if (&recs[i] != m)
                recs[i] = *m;
            return;
        }
    pr->has_roster = false; /* a new member */
}

void chat_txn_roster_changed(struct chat *c, const char *room)
{
    struct pending_room *pr = find(&c->pending, room);

    if (pr)
        pr->has_roster = false;
}

void chat_discard(void *state)
{
    struct chat *c = state;
    struct chat_pending *p = &c->pending;

    if (p->n == 0)
        return;
    p->n = 0;
    p->last = 0;
    memset(p->index, 0, p->index_cap * sizeof *p->index);
}

void chat_pending_free(struct chat *c)
{
    struct chat_pending *p = &c->pending;

    for (size_t i = 0; i < p->cap; i++) {
        free(p->rooms[i].moved);
        chat_buf_free(&p->rooms[i].rec);
        chat_buf_free(&p->rooms[i].roster.ids);
        chat_buf_free(&p->rooms[i].roster.recs);
    }
    free(p->rooms);
    free(p->index);
    memset(p, 0, sizeof *p);
}
