/*
 * genlog — makes a long event log for the replay benchmark, fast.
 *
 *   genlog DATA_DIR EVENTS
 *
 * DATA_DIR is a stopped chatd's data directory in which users and rooms
 * were created through the real API (bench/peers/compare.py does that).
 * genlog reads its log, finds every `chat.room_created` (room id and
 * creator) and the last message seq of each room, then appends EVENTS
 * `chat.message_posted` events round-robin over those rooms, exactly as
 * the chat module's `POST /v1/rooms/{id}/messages` command appends them:
 * stream `room:<id>`, actor `user:<creator>`, data `{"room", "id", "seq"
 * (the room's next), "sender", "kind": "text", "text" (~200 bytes),
 * "client_msg_id"}`. Only the log is written (no fsync, 20,000 events per
 * transaction); the read models are then marked empty (applied 0), so
 * `chatd rebuild` — what the benchmark times — or the next `chatd serve`
 * rebuilds them: every appended event goes through the chat
 * projection (message, idempotency key, room record, each member's
 * record, inbox entry and real-time feed entry).
 *
 * Built by bench/run against build-bench/src/libchatd.a (evlog, core).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "evlog/evlog.h"

#define PER_TXN 20000
#define ID_MAX 128

struct room {
    char id[ID_MAX], sender[ID_MAX];
    uint64_t last_seq;
};

struct scan {
    struct room *rooms;
    size_t n, cap;
    uint64_t posted_seen;
};

/* The string value of "key" in a flat JSON object (ids need no escapes). */
static int json_str(const char *data, size_t len, const char *key, char *out,
                    size_t outsz)
{
    char pat[64];
    int pl = snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = memmem(data, len, pat, (size_t)pl);
    size_t i = 0;

    if (p == NULL)
        return -1;
    p += pl;
    while (p < data + len && *p != '"' && i + 1 < outsz)
        out[i++] = *p++;
    out[i] = '\0';
    return i > 0 ? 0 : -1;
}

static int json_u64(const char *data, size_t len, const char *key,
                    uint64_t *out)
{
    char pat[64];
    int pl = snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = memmem(data, len, pat, (size_t)pl);

    if (p == NULL)
        return -1;
    *out = strtoull(p + pl, NULL, 10);
    return 0;
}

static struct room *find_room(struct scan *s, const char *id)
{
    for (size_t i = s->n; i-- > 0;) /* only while scanning a fresh log */
        if (strcmp(s->rooms[i].id, id) == 0)
            return &s->rooms[i];
    return NULL;
}

static int on_event(void *arg, const struct chatd_event *ev)
{
    struct scan *s = arg;
    struct room r = {0}, *have;
    uint64_t seq;

    if (strcmp(ev->type, "chat.room_created") == 0) {
        if (json_str(ev->data, ev->data_len, "room", r.id, sizeof r.id) ||
            json_str(ev->data, ev->data_len, "created_by", r.sender,
                     sizeof r.sender))
            return 0;
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 1024;
            s->rooms = realloc(s->rooms, s->cap * sizeof *s->rooms);
            if (!s->rooms)
                return -1;
        }
        s->rooms[s->n++] = r;
    } else if (strcmp(ev->type, "chat.message_posted") == 0) {
        s->posted_seen++;
        if (json_str(ev->data, ev->data_len, "room", r.id, sizeof r.id) == 0 &&
            json_u64(ev->data, ev->data_len, "seq", &seq) == 0 &&
            (have = find_room(s, r.id)) != NULL && seq > have->last_seq)
            have->last_seq = seq;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct evlog *log;
    struct evlog_txn *txn = NULL;
    struct scan s = {0};
    char err[256] = "", text[201], data[1024], stream[ID_MAX + 8],
         actor[ID_MAX + 8];
    unsigned long long events;
    uint64_t t0;
    int rc;

    if (argc != 3 || (events = strtoull(argv[2], NULL, 10)) == 0) {
        fprintf(stderr, "usage: genlog DATA_DIR EVENTS\n");
        return 2;
    }
    core_log_set_level(CORE_LOG_WARN);
    struct evlog_options opt = {.dir = argv[1], .nosync = true, .err = err,
                                .err_size = sizeof err};
    if ((rc = evlog_open(&log, &opt)) != CHATD_OK) {
        fprintf(stderr, "genlog: %s: %s\n", argv[1],
                err[0] ? err : core_strerror(rc));
        return 1;
    }
    rc = evlog_txn_begin(log, false, &txn);
    if (rc == CHATD_OK)
        rc = evlog_scan(txn, 0, 0, on_event, &s);
    evlog_txn_abort(txn);
    if (rc != CHATD_OK || s.n == 0) {
        fprintf(stderr, "genlog: %s\n",
                rc != CHATD_OK ? core_strerror(rc) : "no chat rooms in the log");
        return 1;
    }
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    t0 = core_mono_ns();
    for (unsigned long long i = 0; i < events && rc == CHATD_OK; i++) {
        struct room *r = &s.rooms[i % s.n];
        uint64_t seq = ++r->last_seq;

        if (i % PER_TXN == 0 && (rc = evlog_txn_begin(log, true, &txn)))
            break;
        /* ~200 bytes of text, as bench/wrk/send.lua posts */
        int n = snprintf(data, sizeof data,
                         "{\"room\":\"%s\",\"id\":\"m_%016llx\",\"seq\":%" PRIu64
                         ",\"sender\":\"%s\",\"kind\":\"text\",\"text\":\"%.160s "
                         "%llu\",\"client_msg_id\":\"g%llu\"}",
                         r->id, 0xb000000000000000ull + i, seq, r->sender, text,
                         i, i);
        snprintf(stream, sizeof stream, "room:%s", r->id);
        snprintf(actor, sizeof actor, "user:%s", r->sender);
        struct chatd_event ev = {.size = sizeof ev,
                                 .type = "chat.message_posted",
                                 .v = 1,
                                 .stream = stream,
                                 .correlation_id = "genlog",
                                 .actor = actor,
                                 .data = data,
                                 .data_len = (size_t)n};
        rc = evlog_append(txn, &ev, CHATD_ANY_VERSION, NULL);
        if (rc != CHATD_OK)
            evlog_txn_abort(txn);
        else if (i % PER_TXN == PER_TXN - 1 || i + 1 == events)
            rc = evlog_txn_commit(txn);
    }
    /* The read models did not see these events: mark them empty, so a
     * server started on this directory rebuilds them (and rebuild has
     * nothing stale to trust). */
    if (rc == CHATD_OK && (rc = evlog_txn_begin(log, true, &txn)) == CHATD_OK) {
        rc = evlog_views_reset(txn);
        if (rc == CHATD_OK)
            rc = evlog_txn_commit(txn);
        else
            evlog_txn_abort(txn);
    }
    if (rc != CHATD_OK) {
        fprintf(stderr, "genlog: appending: %s\n", core_strerror(rc));
        evlog_close(log);
        return 1;
    }
    double secs = (double)(core_mono_ns() - t0) / 1e9;
    printf("genlog: %zu rooms, %llu messages seen, appended %llu "
           "chat.message_posted in %.1f s (%.0f/s); log now ends at seq %" PRIu64
           "\n", s.n, (unsigned long long)s.posted_seen, events, secs,
           (double)events / secs, evlog_last_seq(log));
    evlog_close(log);
    free(s.rooms);
    return 0;
}
