/*
 * wordfilter — the module's private header: its state, its stores and the
 * functions its files share. Nothing here leaves the .so (built with
 * -fvisibility=hidden; only chatd_module_info is exported).
 *
 * Threads: routes run on the HTTP thread, the flagger subscriber on its
 * own thread, commands and the projection on the writer thread. struct
 * wordfilter is read-only after init (metrics are updated through the
 * host, which makes that thread-safe), so no lock is needed.
 */
#ifndef WORDFILTER_WORDFILTER_H
#define WORDFILTER_WORDFILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "chatd/module.h"
#include "codec.h"
#include "match.h"

/* The stores, each "wordfilter/<name>", all written by the projection. */
struct wf_stores {
    struct chatd_store *seen;   /* be64(source_seq) -> room id */
    struct chatd_store *flags;  /* room \0 be64(source_seq) -> flag JSON */
    struct chatd_store *counts; /* word -> be64(messages flagged for it) */
    struct chatd_store *totals; /* "flagged" -> be64(messages flagged) */
};

struct wordfilter {
    struct chatd_module *mod;
    const struct chatd_host *host;
    struct wf_stores st;
    const char *words_conf;   /* wordfilter.words, valid until fini */
    bool case_sensitive;      /* wordfilter.case_sensitive */
    struct wf_words words;    /* parsed from words_conf at init */
    struct chatd_metric *flagged_total;
    struct chatd_metric *skipped_total;
};

/* --- flag.c: the subscriber on chat.message_posted and its command --- */
int wf_on_message(void *state, const struct chatd_event *ev);

/* --- project.c: the inline projection of wordfilter.message_flagged --- */
int wf_project(void *state, struct chatd_txn *txn,
               const struct chatd_event *ev);

/* --- routes.c: the admin routes --- */
void wf_route_stats(void *state, struct chatd_req *req);
void wf_route_room_flags(void *state, struct chatd_req *req);

/* --- keys (project.c): big-endian numbers keep keys in numeric order --- */
#define WF_TOTAL_KEY "flagged"
#define WF_FLAG_KEY_MAX (WF_ID_MAX + 1 + 8)
void wf_be64_put(unsigned char out[8], uint64_t v);
uint64_t wf_be64_get(const void *p);
/* room \0 be64(source_seq) into key; returns its length. */
size_t wf_flag_key(unsigned char key[WF_FLAG_KEY_MAX], const char *room,
                   uint64_t source_seq);
/* A be64 counter value (0 when absent); CHATD_OK or a storage error. */
int wf_counter_get(const struct wordfilter *wf, struct chatd_txn *txn,
                   const struct chatd_store *st, const void *key, size_t klen,
                   uint64_t *out);

#endif /* WORDFILTER_WORDFILTER_H */
