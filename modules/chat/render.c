#include <stdio.h>
#include <string.h>
#include <time.h>

#include "render.h"

char *chat_format_time(int64_t ms, char out[CHAT_TIME_LEN])
{
    time_t secs = (time_t)(ms / 1000);
    int milli = (int)(ms % 1000);
    struct tm tm;
    size_t n;

    if (milli < 0) {
        milli += 1000;
        secs--;
    }
    if (gmtime_r(&secs, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    n = strftime(out, CHAT_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, CHAT_TIME_LEN - n, ".%03dZ", milli);
    return out;
}

/* A time field of a record (milliseconds) as an RFC 3339 string, or JSON
 * null when the field is absent. */
static json_t *time_or_null(const json_t *rec, const char *field)
{
    const json_t *v = json_object_get(rec, field);
    char buf[CHAT_TIME_LEN];

    if (!json_is_integer(v))
        return json_null();
    return json_string(chat_format_time(json_integer_value(v), buf));
}

/* The value of rec[field], or JSON null (a new reference either way). */
static json_t *copy_or_null(const json_t *rec, const char *field)
{
    json_t *v = json_object_get(rec, field);

    return v != NULL ? json_incref(v) : json_null();
}

json_t *chat_render_message(const char *room, const json_t *msg)
{
    const json_t *payment = json_object_get(msg, "payment");
    json_t *out;

    if (!json_is_integer(json_object_get(msg, "seq")) ||
        !json_is_string(json_object_get(msg, "id")))
        return NULL;
    out = json_pack("{s:O, s:s, s:O, s:o, s:O, s:o, s:o, s:o, s:b, s:o}",
                    "id", json_object_get(msg, "id"), "room", room, "seq",
                    json_object_get(msg, "seq"), "sender",
                    copy_or_null(msg, "sender"), "kind",
                    json_object_get(msg, "kind"), "text",
                    copy_or_null(msg, "text"), "created_at",
                    time_or_null(msg, "created_ms"), "edited_at",
                    time_or_null(msg, "edited_ms"), "deleted",
                    json_object_get(msg, "deleted_ms") != NULL,
                    "client_msg_id", copy_or_null(msg, "client_msg_id"));
    if (out != NULL && payment != NULL &&
        json_object_set(out, "payment", (json_t *)payment) != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static int room_add_view(json_t *out, const json_t *room,
                         const json_t *last_msg, const struct chat_member *m)
{
    json_t *last = json_null();
    const char *id = json_string_value(json_object_get(room, "id"));

    if (last_msg != NULL) {
        json_decref(last);
        last = chat_render_message(id, last_msg);
        if (last == NULL)
            return -1;
    }
    if (json_object_set_new(out, "last_message", last) != 0)
        return -1;
    if (json_object_set_new(out, "last_activity_at",
                            time_or_null(room, "activity_ms")) != 0)
        return -1;
    if (json_object_set_new(out, "unread", json_integer((json_int_t)m->unread))
        != 0)
        return -1;
    return json_object_set_new(out, "read_seq",
                               json_integer((json_int_t)m->read_seq));
}

json_t *chat_render_room(const json_t *room, const json_t *last_msg,
                         const struct chat_member *m)
{
    const json_t *members = json_object_get(room, "members");
    json_t *out;

    if (!json_is_string(json_object_get(room, "id")))
        return NULL;
    out = json_pack("{s:O, s:O, s:o, s:o, s:O, s:o}", "id",
                    json_object_get(room, "id"), "kind",
                    json_object_get(room, "kind"), "title",
                    copy_or_null(room, "title"), "context",
                    copy_or_null(room, "context"), "created_by",
                    json_object_get(room, "created_by"), "created_at",
                    time_or_null(room, "created_ms"));
    if (out == NULL)
        return NULL;
    if (members != NULL &&
        json_object_set(out, "members", (json_t *)members) != 0)
        goto fail;
    if (json_object_set(out, "member_count",
                        json_object_get(room, "member_count")) != 0 ||
        json_object_set(out, "last_seq", json_object_get(room, "last_seq")) !=
            0)
        goto fail;
    if (room_add_view(out, room, last_msg, m) != 0)
        goto fail;
    return out;

fail:
    json_decref(out);
    return NULL;
}

json_t *chat_render_member(const char *uid, const json_t *user_rec,
                           const struct chat_member *m)
{
    char buf[CHAT_TIME_LEN];

    return json_pack("{s:s, s:o, s:s, s:I}", "user", uid, "name",
                     copy_or_null(user_rec, "name"), "joined_at",
                     chat_format_time(m->joined_ms, buf), "read_seq",
                     (json_int_t)m->read_seq);
}

json_t *chat_render_read(const char *room, const char *uid,
                         const struct chat_member *m)
{
    return json_pack("{s:s, s:s, s:I, s:I}", "room", room, "user", uid,
                     "read_seq", (json_int_t)m->read_seq, "unread",
                     (json_int_t)m->unread);
}

char *chat_dump(json_t *v, size_t *len)
{
    char *s;

    if (v == NULL)
        return NULL;
    s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (s != NULL && len != NULL)
        *len = strlen(s);
    return s;
}
