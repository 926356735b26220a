/* Event data of the filter (codec.h has the schemas). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec.h"

bool wf_id_valid(const char *s)
{
    size_t i;

    if (s == NULL)
        return false;
    for (i = 0; s[i] != '\0'; i++) {
        if (i >= WF_ID_MAX)
            return false;
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '/')
            return false;
    }
    return i > 0;
}

static bool copy_id(char *dst, const json_t *v)
{
    const char *s = json_string_value(v);

    /* json_string_length catches an id with an embedded \u0000. */
    if (!wf_id_valid(s) || json_string_length(v) != strlen(s))
        return false;
    strcpy(dst, s);
    return true;
}

static const json_t *room_of(const json_t *d)
{
    const json_t *room = json_object_get(d, "room");

    return room != NULL ? room : json_object_get(d, "room_id");
}

/* Fills out from a parsed message; WF_PARSE_OK or why not. */
static enum wf_parse read_message(const json_t *d, struct wf_source *out)
{
    const json_t *kind = json_object_get(d, "kind");
    const json_t *text = json_object_get(d, "text");
    const json_t *seq = json_object_get(d, "seq");

    /* Notices (kind "payment", no sender) are the system talking. */
    if (kind != NULL && !(json_is_string(kind) &&
                          strcmp(json_string_value(kind), "text") == 0))
        return WF_PARSE_SKIP;
    if (!json_is_string(text) || !json_is_integer(seq) ||
        json_integer_value(seq) < 1 || !copy_id(out->room, room_of(d)) ||
        !copy_id(out->sender, json_object_get(d, "sender")))
        return WF_PARSE_MALFORMED;
    if (!copy_id(out->message_id, json_object_get(d, "id")))
        out->message_id[0] = '\0';
    out->seq = (uint64_t)json_integer_value(seq);
    out->text = json_string_value(text);
    out->text_len = json_string_length(text);
    return WF_PARSE_OK;
}

enum wf_parse wf_source_read(const struct chatd_event *ev, void **doc,
                             struct wf_source *out)
{
    json_t *d;
    enum wf_parse r;

    *doc = NULL;
    memset(out, 0, sizeof(*out));
    if (strcmp(ev->type, WF_SOURCE_TYPE) != 0)
        return WF_PARSE_SKIP;
    d = json_loadb(ev->data, ev->data_len, 0, NULL);
    if (!json_is_object(d)) {
        json_decref(d);
        return WF_PARSE_MALFORMED;
    }
    r = read_message(d, out);
    if (r != WF_PARSE_OK) {
        json_decref(d);
        return r;
    }
    out->source_seq = ev->seq;
    *doc = d;
    return WF_PARSE_OK;
}

void wf_doc_free(void *doc)
{
    json_decref(doc);
}

static json_t *hit_words(const struct wf_words *w, const bool *hit)
{
    json_t *arr = json_array();
    size_t i;

    for (i = 0; arr != NULL && i < w->n; i++) {
        if (hit[i] && json_array_append_new(arr, json_string(w->word[i]))) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

char *wf_flag_data(const struct wf_source *src, const struct wf_words *w,
                   const bool *hit, size_t *len)
{
    json_t *words = hit_words(w, hit);
    json_t *d;
    char *text;

    if (words == NULL)
        return NULL;
    d = json_pack("{s:s, s:I, s:s?, s:s, s:o, s:I}", "room_id", src->room,
                  "seq", (json_int_t)src->seq, "message_id",
                  src->message_id[0] ? src->message_id : NULL, "sender",
                  src->sender, "words", words, "source_seq",
                  (json_int_t)src->source_seq);
    if (d == NULL)
        return NULL; /* json_pack released `words` ("o") */
    text = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    if (text != NULL)
        *len = strlen(text);
    return text;
}

/* v1 {"word": "spam", ...} → v2 {"words": ["spam"], "message_id": null,
 * ...}: everything else is unchanged between the two. */
static int upcast_v1(json_t *d)
{
    json_t *word = json_object_get(d, "word");
    json_t *words;

    if (!json_is_string(word))
        return CHATD_EINVAL;
    words = json_pack("[O]", word);
    if (words == NULL || json_object_set_new(d, "words", words) != 0 ||
        json_object_del(d, "word") != 0)
        return CHATD_ENOMEM;
    if (json_object_get(d, "message_id") == NULL &&
        json_object_set_new(d, "message_id", json_null()) != 0)
        return CHATD_ENOMEM;
    return CHATD_OK;
}

int wf_upcast_flag(const struct chatd_event *ev, char **out, size_t *out_len)
{
    json_t *d;
    int rc;

    if (ev->v != 1)
        return CHATD_EINVAL; /* only v1 ever existed before v2 */
    d = json_loadb(ev->data, ev->data_len, 0, NULL);
    if (!json_is_object(d)) {
        json_decref(d);
        return CHATD_EINVAL;
    }
    rc = upcast_v1(d);
    if (rc == CHATD_OK) {
        *out = json_dumps(d, JSON_COMPACT);
        rc = *out != NULL ? CHATD_OK : CHATD_ENOMEM;
    }
    if (rc == CHATD_OK)
        *out_len = strlen(*out);
    json_decref(d);
    return rc;
}
