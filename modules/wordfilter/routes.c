/*
 * The admin routes. Both answer at once from the request's read
 * transaction (no command: they change nothing), on the HTTP thread, and
 * read only keyed ranges of the module's own stores.
 *
 *   GET /v1/wordfilter/stats
 *     200 {"flagged": N, "by_word": {"spam": 3, ...}}
 *   GET /v1/wordfilter/rooms/{room_id}/flags?after=SOURCE_SEQ&limit=N
 *     200 {"room_id": "...", "flags": [flag, ...], "next_after": S|null}
 *     flags oldest first; limit 1..200 (default 50); pass next_after as
 *     `after` to get the next page. An unknown room has no flags (200).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "wordfilter.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX 200
#define WORDS_SHOWN_MAX 1000 /* distinct words ever flagged */

static void reply(const struct wordfilter *wf, struct chatd_req *req,
                  json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;

    if (text == NULL)
        wf->host->reply_error(req, 503, "unavailable", "out of memory");
    else
        wf->host->reply_json(req, 200, text, strlen(text));
    free(text);
    json_decref(v);
}

static void reply_storage(const struct wordfilter *wf, struct chatd_req *req,
                          int rc)
{
    wf->host->log(wf->mod, CHATD_LOG_ERROR, "reading the stores: %s",
                  wf->host->strerror(rc));
    wf->host->reply_error(req, 500, "internal",
                          "the wordfilter module could not read its data");
}

/* by_word from the "counts" store, in word (byte) order. */
static int by_word(const struct wordfilter *wf, struct chatd_txn *txn,
                   json_t *out)
{
    struct chatd_cursor *c;
    struct chatd_val k, v;
    size_t n = 0;
    int rc = wf->host->cursor_open(txn, wf->st.counts, &c);

    if (rc != CHATD_OK)
        return rc;
    rc = wf->host->cursor_seek(c, CHATD_SEEK_FIRST, NULL, 0, &k, &v);
    while (rc == CHATD_OK && n++ < WORDS_SHOWN_MAX) {
        if (v.len != 8)
            rc = CHATD_EIO;
        else if (json_object_setn_new(out, k.data, k.len,
                                      json_integer((json_int_t)wf_be64_get(
                                          v.data))) != 0)
            rc = CHATD_ENOMEM;
        else
            rc = wf->host->cursor_step(c, 1, &k, &v);
    }
    wf->host->cursor_close(c);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

void wf_route_stats(void *state, struct chatd_req *req)
{
    const struct wordfilter *wf = state;
    struct chatd_txn *txn = wf->host->req_txn(req);
    json_t *words = json_object();
    uint64_t total = 0;
    int rc = txn ? CHATD_OK : CHATD_EIO;

    if (words == NULL)
        rc = CHATD_ENOMEM;
    if (rc == CHATD_OK)
        rc = wf_counter_get(wf, txn, wf->st.totals, WF_TOTAL_KEY,
                            strlen(WF_TOTAL_KEY), &total);
    if (rc == CHATD_OK)
        rc = by_word(wf, txn, words);
    if (rc != CHATD_OK) {
        json_decref(words);
        reply_storage(wf, req, rc);
        return;
    }
    reply(wf, req, json_pack("{s:I, s:o}", "flagged", (json_int_t)total,
                             "by_word", words));
}

/* A query number in [min, max], or `def` when absent; false if invalid. */
static bool query_u64(const struct wordfilter *wf, struct chatd_req *req,
                      const char *name, uint64_t def, uint64_t min,
                      uint64_t max, uint64_t *out)
{
    const char *s = wf->host->req_query(req, name);
    char *end;
    unsigned long long v;

    *out = def;
    if (s == NULL)
        return true;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < min ||
        v > max)
        return false;
    *out = v;
    return true;
}

struct page {
    const char *room;
    uint64_t after;
    uint64_t limit;
    json_t *flags;
    uint64_t last;       /* source seq of the last flag on the page */
    uint64_t next_after; /* 0: no more */
};

/* Adds the flag (k, v) to the page, or, when the page is full, notes that
 * there is more. *in_room turns false at the first key of another room. */
static int page_add(struct page *p, const struct chatd_val *k,
                    const struct chatd_val *v, bool *in_room)
{
    size_t n = strlen(p->room);
    json_t *flag;

    *in_room = k->len == n + 1 + 8 && memcmp(k->data, p->room, n) == 0 &&
               ((const char *)k->data)[n] == '\0';
    if (!*in_room)
        return CHATD_OK;
    if (json_array_size(p->flags) == p->limit) {
        p->next_after = p->last;
        return CHATD_OK;
    }
    flag = json_loadb(v->data, v->len, 0, NULL);
    if (flag == NULL)
        return CHATD_EIO;
    if (json_array_append_new(p->flags, flag) != 0)
        return CHATD_ENOMEM;
    p->last = wf_be64_get((const char *)k->data + n + 1);
    return CHATD_OK;
}

static int read_page(const struct wordfilter *wf, struct chatd_txn *txn,
                     struct page *p)
{
    unsigned char key[WF_FLAG_KEY_MAX];
    size_t klen = wf_flag_key(key, p->room, p->after + 1);
    struct chatd_cursor *c;
    struct chatd_val k, v;
    bool in_room = true;
    int rc = wf->host->cursor_open(txn, wf->st.flags, &c);

    if (rc != CHATD_OK)
        return rc;
    rc = wf->host->cursor_seek(c, CHATD_SEEK_GE, key, klen, &k, &v);
    while (rc == CHATD_OK && in_room && p->next_after == 0) {
        rc = page_add(p, &k, &v, &in_room);
        if (rc == CHATD_OK && in_room && p->next_after == 0)
            rc = wf->host->cursor_step(c, 1, &k, &v);
    }
    wf->host->cursor_close(c);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

void wf_route_room_flags(void *state, struct chatd_req *req)
{
    const struct wordfilter *wf = state;
    struct page p = {.room = wf->host->req_param(req, "room_id")};
    struct chatd_txn *txn;
    int rc;

    if (!wf_id_valid(p.room)) {
        wf->host->reply_error(req, 404, "not_found", "room not found");
        return;
    }
    if (!query_u64(wf, req, "after", 0, 0, INT64_MAX, &p.after) ||
        !query_u64(wf, req, "limit", PAGE_DEFAULT, 1, PAGE_MAX, &p.limit)) {
        wf->host->reply_error(req, 400, "invalid_argument",
                              "\"after\" must be a number >= 0 and \"limit\" "
                              "a number from 1 to 200");
        return;
    }
    txn = wf->host->req_txn(req);
    p.flags = json_array();
    rc = txn == NULL ? CHATD_EIO : p.flags == NULL ? CHATD_ENOMEM : CHATD_OK;
    if (rc == CHATD_OK)
        rc = read_page(wf, txn, &p);
    if (rc != CHATD_OK) {
        json_decref(p.flags);
        reply_storage(wf, req, rc);
        return;
    }
    reply(wf, req, json_pack("{s:s, s:o, s:o}", "room_id", p.room, "flags",
                             p.flags, "next_after",
                             p.next_after ? json_integer((json_int_t)
                                                             p.next_after)
                                          : json_null()));
}
