/*
 * flat — the pure parts of the analytics module: no host, no I/O.
 *
 * Export format (modules/analytics/README.md has the long version):
 *  - family: the event type with '.' turned into '_'
 *    ("chat.message_posted" → "chat_message_posted").
 *  - partition: "<family>/year=YYYY/month=MM/day=DD/hour=HH" from the
 *    event's own time (UTC), never the wall clock.
 *  - object: "part-<first seq>-<last seq>.ndjson.gz", both 20 digits, so
 *    names sort in log order and depend only on the events inside.
 *  - record: one flat JSON object per line: "seq", "time", "type", "v",
 *    "stream", "stream_ver", "correlation_id", "actor" as in the event
 *    feed, then each member of `data` as "data.<key>", nested objects as
 *    "data.<key>.<subkey>"...; arrays and empty objects as their compact
 *    JSON text (a string); strings, numbers, booleans and null as they are.
 */
#ifndef ANALYTICS_FLAT_H
#define ANALYTICS_FLAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chatd/module.h"

#define AN_FAMILY_MAX 65    /* a type is at most 64 bytes */
#define AN_PARTITION_MAX 128
#define AN_PART_NAME_MAX 64 /* "part-" 20 "-" 20 ".ndjson.gz" */
#define AN_DATE_LEN 11      /* "YYYY-MM-DD" + NUL */
#define AN_MS_PER_HOUR 3600000LL

/* "chat.message_posted" → "chat_message_posted". False if the type has a
 * character outside [a-z0-9_.] or does not fit. */
bool an_family(const char *type, char out[AN_FAMILY_MAX]);
/* Hours since the epoch (floor) of a time in ms. */
int64_t an_hour_of(int64_t time_ms);
/* Days since the epoch (floor) of a time in ms. */
int64_t an_day_of(int64_t time_ms);
/* "year=YYYY/month=MM/day=DD/hour=HH" of an hour since the epoch. */
void an_partition(int64_t hour, char out[AN_PARTITION_MAX]);
/* "part-%020llu-%020llu.ndjson.gz". */
void an_part_name(uint64_t first, uint64_t last,
                  char out[AN_PART_NAME_MAX]);
/* The flat record of `ev` as one line of JSON text ending in '\n',
 * malloc()ed into *out (*len bytes, NUL-terminated), built with jansson:
 * the reference for an_record. CHATD_EINVAL if ev->data is not a JSON
 * object, CHATD_ENOMEM. */
int an_flatten(const struct chatd_event *ev, char **out, size_t *len);
/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) of a time in ms; years 0..9999. */
#define AN_TIME_LEN 32
void an_time_format(int64_t time_ms, char out[AN_TIME_LEN]);

/* A growable byte buffer (zero-initialised is empty). */
struct an_buf {
    char *p;
    size_t len, cap;
};
/* Room for `more` bytes (and one more) after len. CHATD_ENOMEM. */
int an_buf_reserve(struct an_buf *b, size_t more);
void an_buf_free(struct an_buf *b);

/* Appends the flat record of `ev` to `out`: the same bytes as an_flatten,
 * from a scan that copies data already in the form jansson would print
 * (most events: modules dump with jansson) and from an_flatten for the
 * rest. *scanned (may be NULL): whether the scan did it. Same errors as
 * an_flatten; on error `out` is as it was. */
int an_record(const struct chatd_event *ev, struct an_buf *out,
              bool *scanned);
/* The scan alone: CHATD_OK, CHATD_ENOMEM, or 1 when the event needs the
 * parse. For tests. */
int an_record_scan(const struct chatd_event *ev, struct an_buf *out);

/* Days since the epoch <-> "YYYY-MM-DD" (proleptic Gregorian, UTC). */
void an_date_format(int64_t day, char out[AN_DATE_LEN]);
/* Strict "YYYY-MM-DD" with a real calendar date, years 1970..9999;
 * false otherwise. */
bool an_date_parse(const char *s, int64_t *day);

/* Daily figures, in the order of their names. */
enum an_figure {
    AN_MESSAGES_POSTED,
    AN_ACTIVE_SENDERS,
    AN_ROOMS_CREATED,
    AN_USERS_CREATED,
    AN_TRANSFERS,
    AN_TRANSFER_AMOUNT,
    AN_REFUNDS,
    AN_FIGURES
};
extern const char *const an_figure_names[AN_FIGURES];

/* Stats keys in the "daily" store: 'd' + 8 digits YYYYMMDD (the day's
 * figures: AN_FIGURES big-endian u64), and 's' + YYYYMMDD + user id (a
 * sender seen that day; empty value). Return the key length. */
#define AN_DAY_KEY_LEN 9
#define AN_SENDER_KEY_MAX 400
size_t an_day_key(int64_t day, char out[AN_DAY_KEY_LEN]);
/* 0 if the user id makes the key longer than AN_SENDER_KEY_MAX. */
size_t an_sender_key(int64_t day, const char *user, char *out);

/* The value of the top-level member `key` of the JSON object text (p, n)
 * when it is a string without escapes: 1, with *val and *vlen into p;
 * 0 when the member is absent or not such a string; -1 when the text is
 * not a well-formed object as far as this scan can tell (then parse it).
 * No tree is built: the daily figures read two members of every message
 * event, and a full parse cost more than the rest of the projection. */
int an_json_top_str(const char *p, size_t n, const char *key,
                    const char **val, size_t *vlen);

void an_put_u64(unsigned char *p, uint64_t v);
uint64_t an_get_u64(const unsigned char *p);

#endif /* ANALYTICS_FLAT_H */
