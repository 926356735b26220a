/*
 * The inline projection "counts": applies wordfilter.message_flagged
 * events to the module's four stores, on the writer thread inside the
 * transaction that appended them (so the flagger's command sees "seen" at
 * once) and again, in log order, during `chatd rebuild`. It reads only the
 * event, so a rebuild gives the same stores.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "wordfilter.h"

void wf_be64_put(unsigned char out[8], uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

uint64_t wf_be64_get(const void *p)
{
    const unsigned char *b = p;
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

size_t wf_flag_key(unsigned char key[WF_FLAG_KEY_MAX], const char *room,
                   uint64_t source_seq)
{
    size_t n = strlen(room);

    memcpy(key, room, n);
    key[n] = '\0';
    wf_be64_put(key + n + 1, source_seq);
    return n + 1 + 8;
}

int wf_counter_get(const struct wordfilter *wf, struct chatd_txn *txn,
                   const struct chatd_store *st, const void *key, size_t klen,
                   uint64_t *out)
{
    struct chatd_val v;
    int rc = wf->host->get(txn, st, key, klen, &v);

    *out = 0;
    if (rc == CHATD_ENOTFOUND)
        return CHATD_OK;
    if (rc != CHATD_OK)
        return rc;
    if (v.len != 8)
        return CHATD_EIO;
    *out = wf_be64_get(v.data);
    return CHATD_OK;
}

static int counter_add(const struct wordfilter *wf, struct chatd_txn *txn,
                       const struct chatd_store *st, const char *key)
{
    unsigned char val[8];
    uint64_t n;
    int rc = wf_counter_get(wf, txn, st, key, strlen(key), &n);

    if (rc != CHATD_OK)
        return rc;
    wf_be64_put(val, n + 1);
    return wf->host->put(txn, st, key, strlen(key), val, sizeof(val));
}

/* The flag as the room route shows it: the event's data plus when it was
 * flagged. */
static int put_flag(const struct wordfilter *wf, struct chatd_txn *txn,
                    json_t *d, const char *room, uint64_t source_seq,
                    int64_t time_ms)
{
    unsigned char key[WF_FLAG_KEY_MAX];
    size_t klen = wf_flag_key(key, room, source_seq);
    char *text;
    int rc;

    if (json_object_set_new(d, "flagged_ms", json_integer(time_ms)) != 0)
        return CHATD_ENOMEM;
    text = json_dumps(d, JSON_COMPACT);
    if (text == NULL)
        return CHATD_ENOMEM;
    rc = wf->host->put(txn, wf->st.flags, key, klen, text, strlen(text));
    free(text);
    return rc;
}

static int count_words(const struct wordfilter *wf, struct chatd_txn *txn,
                       const json_t *words)
{
    const json_t *w;
    size_t i;
    int rc = counter_add(wf, txn, wf->st.totals, WF_TOTAL_KEY);

    json_array_foreach(words, i, w) {
        if (rc != CHATD_OK)
            break;
        rc = counter_add(wf, txn, wf->st.counts, json_string_value(w));
    }
    return rc;
}

/* Checks the flag's data (v2 after upcasting): CHATD_EINVAL if it is not
 * what this module writes, which makes the append that carried it fail. */
static int flag_fields(const json_t *d, const char **room, uint64_t *seq)
{
    const json_t *words = json_object_get(d, "words");
    const json_t *w;
    const json_t *s = json_object_get(d, "source_seq");
    size_t i;

    *room = json_string_value(json_object_get(d, "room_id"));
    if (!wf_id_valid(*room) || !json_is_integer(s) ||
        json_integer_value(s) < 1 || !json_is_array(words))
        return CHATD_EINVAL;
    json_array_foreach(words, i, w) {
        if (!json_is_string(w) || json_string_length(w) == 0 ||
            json_string_length(w) > WF_WORD_MAX ||
            strlen(json_string_value(w)) != json_string_length(w))
            return CHATD_EINVAL;
    }
    *seq = (uint64_t)json_integer_value(s);
    return CHATD_OK;
}

static int apply_flag(const struct wordfilter *wf, struct chatd_txn *txn,
                      const struct chatd_event *ev, json_t *d)
{
    unsigned char key[8];
    struct chatd_val v;
    const char *room;
    uint64_t source_seq;
    int rc = flag_fields(d, &room, &source_seq);

    if (rc != CHATD_OK)
        return rc;
    wf_be64_put(key, source_seq);
    rc = wf->host->get(txn, wf->st.seen, key, sizeof(key), &v);
    if (rc == CHATD_OK)
        return CHATD_OK; /* the command prevents this; stay idempotent */
    if (rc != CHATD_ENOTFOUND)
        return rc;
    rc = wf->host->put(txn, wf->st.seen, key, sizeof(key), room,
                       strlen(room));
    if (rc == CHATD_OK)
        rc = count_words(wf, txn, json_object_get(d, "words"));
    if (rc == CHATD_OK)
        rc = put_flag(wf, txn, d, room, source_seq, ev->time_ms);
    return rc;
}

int wf_project(void *state, struct chatd_txn *txn,
               const struct chatd_event *ev)
{
    const struct wordfilter *wf = state;
    json_t *d;
    int rc;

    /* Every event of the log comes through here; only ours matter. */
    if (strcmp(ev->type, WF_TYPE_FLAGGED) != 0)
        return CHATD_OK;
    d = json_loadb(ev->data, ev->data_len, 0, NULL);
    rc = json_is_object(d) ? apply_flag(wf, txn, ev, d) : CHATD_EINVAL;
    if (rc != CHATD_OK)
        wf->host->log(wf->mod, CHATD_LOG_ERROR,
                      "event %llu (%s v%u): cannot project: %s",
                      (unsigned long long)ev->seq, ev->type, ev->v,
                      wf->host->strerror(rc));
    json_decref(d);
    return rc;
}
