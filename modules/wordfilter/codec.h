/*
 * wordfilter — event data in and out: reading a chat.message_posted,
 * writing a wordfilter.message_flagged, and the upcaster that turns the
 * flag's schema v1 into v2. jansson and the public header only (no host
 * calls), so it is unit-tested (tests/test_codec.c).
 *
 * wordfilter.message_flagged, schema v2 (the current one):
 *   {"room_id": "r_…", "seq": 12, "message_id": "m_…", "sender": "u_…",
 *    "words": ["scam", "spam"], "source_seq": 345}
 * `seq` is the message's number in its room, `source_seq` the global seq
 * of the chat.message_posted event that was flagged (the idempotency key).
 * Schema v1 (wordfilter 0.1) recorded only the first word, as
 * "word": "spam", and no message_id; wf_upcast_flag turns it into v2. No
 * v1 event is written any more, but a log that has them stays readable.
 *
 * Threads: every function here may run on any thread at once.
 */
#ifndef WORDFILTER_CODEC_H
#define WORDFILTER_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chatd/module.h"
#include "match.h"

#define WF_ID_MAX 100 /* room, message and user ids: printable ASCII */

#define WF_TYPE_FLAGGED "wordfilter.message_flagged"
#define WF_FLAGGED_VERSION 2
#define WF_SOURCE_TYPE "chat.message_posted"

/* The parts of a chat.message_posted the filter needs. Strings are
 * copied; `text` is borrowed from the parsed document passed alongside. */
struct wf_source {
    uint64_t source_seq;
    uint64_t seq;
    char room[WF_ID_MAX + 1];
    char message_id[WF_ID_MAX + 1];
    char sender[WF_ID_MAX + 1];
    const char *text;
    size_t text_len;
};

enum wf_parse {
    WF_PARSE_OK = 0,        /* a text message: *out is filled */
    WF_PARSE_SKIP = 1,      /* not a user's text message (e.g. a notice) */
    WF_PARSE_MALFORMED = 2, /* not the schema we know: log and skip */
};

/* 1..WF_ID_MAX bytes of printable ASCII without space or '/'. */
bool wf_id_valid(const char *s);

/*
 * Reads ev (a chat.message_posted, data already upcast by the host) into
 * *out. The room is "room" (chat's schema v1) or, failing that,
 * "room_id". On WF_PARSE_OK, *doc holds the parsed data (json_decref it
 * with wf_doc_free once `out->text` is no longer needed); otherwise *doc
 * is NULL.
 */
enum wf_parse wf_source_read(const struct chatd_event *ev, void **doc,
                             struct wf_source *out);
void wf_doc_free(void *doc);

/*
 * The data of a wordfilter.message_flagged v2 for `src` and the words
 * marked in hit[0..w->n). Returns malloc()ed JSON text (free()), its
 * length in *len; NULL when out of memory.
 */
char *wf_flag_data(const struct wf_source *src, const struct wf_words *w,
                   const bool *hit, size_t *len);

/* The chatd_upcast_fn of wordfilter.message_flagged: v1 → v2. Pure. */
int wf_upcast_flag(const struct chatd_event *ev, char **out,
                   size_t *out_len);

#endif /* WORDFILTER_CODEC_H */
