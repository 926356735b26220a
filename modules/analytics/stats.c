/*
 * stats.c — the "daily" projection and GET /v1/stats/daily.
 *
 * Per UTC day of the event's own time, one key 'd'+YYYYMMDD holds the
 * figures of flat.h (AN_FIGURES big-endian u64), and one key
 * 's'+YYYYMMDD+<user id> marks a sender already counted that day, so the
 * distinct count is kept up to date as events come and the route reads
 * one key range, never the log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "an.h"
#include "flat.h"

#define DAY_VAL_LEN (AN_FIGURES * 8)

static const char *const daily_stores[] = {"daily", NULL};

const struct chatd_projection an_projection = {
    .name = "daily", .version = 1, .stores = daily_stores,
    .apply = an_project};

/* Adds deltas[] to the day's stored figures. */
static int day_add(struct an *a, struct chatd_txn *txn, int64_t day,
                   const uint64_t deltas[AN_FIGURES])
{
    char key[AN_DAY_KEY_LEN];
    unsigned char val[DAY_VAL_LEN] = {0};
    struct chatd_val cur;
    int rc;

    an_day_key(day, key);
    rc = a->host->get(txn, a->daily, key, sizeof(key), &cur);
    if (rc == CHATD_OK && cur.len == DAY_VAL_LEN)
        memcpy(val, cur.data, DAY_VAL_LEN);
    else if (rc != CHATD_ENOTFOUND && rc != CHATD_OK)
        return rc;
    for (int f = 0; f < AN_FIGURES; f++)
        an_put_u64(val + 8 * f, an_get_u64(val + 8 * f) + deltas[f]);
    return a->host->put(txn, a->daily, key, sizeof(key), val, sizeof(val));
}

/* Adds to one figure of the event's day: in memory until the end of the
 * transaction (an_stats_flush); at once if the transaction already holds
 * four other days (a replay chunk across midnights). */
static int bump(struct an *a, struct chatd_txn *txn, int64_t day,
                enum an_figure f, uint64_t delta)
{
    size_t i;

    for (i = 0; i < a->npending && a->pending_day[i] != day; i++)
        ;
    if (i == a->npending) {
        if (i == sizeof(a->pending_day) / sizeof(a->pending_day[0])) {
            uint64_t one[AN_FIGURES] = {0};
            one[f] = delta;
            return day_add(a, txn, day, one);
        }
        a->pending_day[i] = day;
        memset(a->pending[i], 0, sizeof(a->pending[i]));
        a->npending++;
    }
    a->pending[i][f] += delta;
    return CHATD_OK;
}

int an_stats_flush(void *state, struct chatd_txn *txn)
{
    struct an *a = state;
    int rc = CHATD_OK;

    for (size_t i = 0; i < a->npending && rc == CHATD_OK; i++)
        rc = day_add(a, txn, a->pending_day[i], a->pending[i]);
    an_stats_discard(a);
    return rc;
}

void an_stats_discard(void *state)
{
    struct an *a = state;

    a->npending = 0;
    a->last_sender_len = 0;
}

/* A sender counts once per day. */
static int sender(struct an *a, struct chatd_txn *txn, int64_t day,
                  const char *user)
{
    char key[AN_SENDER_KEY_MAX];
    struct chatd_val cur;
    size_t n = an_sender_key(day, user, key);
    int rc;

    if (n == 0 ||
        (n == a->last_sender_len && memcmp(key, a->last_sender, n) == 0))
        return CHATD_OK;
    rc = a->host->get(txn, a->daily, key, n, &cur);
    if (rc == CHATD_ENOTFOUND) {
        rc = a->host->put(txn, a->daily, key, n, "", 0);
        if (rc == CHATD_OK)
            rc = bump(a, txn, day, AN_ACTIVE_SENDERS, 1);
    }
    if (rc == CHATD_OK) { /* in the store now: this transaction knows it */
        memcpy(a->last_sender, key, n);
        a->last_sender_len = n;
    }
    return rc;
}

static int on_message(struct an *a, struct chatd_txn *txn, int64_t day,
                      const json_t *d)
{
    const char *kind = json_string_value(json_object_get(d, "kind"));
    const char *from = json_string_value(json_object_get(d, "sender"));
    int rc;

    if (kind == NULL || strcmp(kind, "text") != 0)
        return CHATD_OK; /* system and payment notices */
    rc = bump(a, txn, day, AN_MESSAGES_POSTED, 1);
    if (rc == CHATD_OK && from != NULL)
        rc = sender(a, txn, day, from);
    return rc;
}

/* chat.message_posted read by a scan of its two members, when both are
 * plain strings (always, for what the chat module writes): *done false
 * leaves the event to the parse in an_project, which gives the same
 * answer for any text. */
static int on_message_scan(struct an *a, struct chatd_txn *txn, int64_t day,
                           const struct chatd_event *ev, bool *done)
{
    char from[AN_SENDER_KEY_MAX];
    const char *k, *s;
    size_t kl, sl;
    int rc;

    *done = false;
    if (an_json_top_str(ev->data, ev->data_len, "kind", &k, &kl) != 1)
        return CHATD_OK;
    if (kl != 4 || memcmp(k, "text", 4) != 0) {
        *done = true; /* system and payment notices */
        return CHATD_OK;
    }
    if (an_json_top_str(ev->data, ev->data_len, "sender", &s, &sl) != 1 ||
        sl >= sizeof(from))
        return CHATD_OK;
    memcpy(from, s, sl);
    from[sl] = '\0';
    *done = true;
    rc = bump(a, txn, day, AN_MESSAGES_POSTED, 1);
    return rc == CHATD_OK ? sender(a, txn, day, from) : rc;
}

int an_project(void *state, struct chatd_txn *txn,
               const struct chatd_event *ev)
{
    struct an *a = state;
    int64_t day = an_day_of(ev->time_ms);
    const char *t = ev->type;
    json_t *d;
    int rc = CHATD_OK;

    if (strcmp(t, "identity.user_created") == 0)
        return bump(a, txn, day, AN_USERS_CREATED, 1);
    if (strcmp(t, "chat.room_created") == 0)
        return bump(a, txn, day, AN_ROOMS_CREATED, 1);
    if (strcmp(t, "payment_notice.transfer_refunded") == 0)
        return bump(a, txn, day, AN_REFUNDS, 1);
    if (strcmp(t, "chat.message_posted") == 0) {
        bool done;
        rc = on_message_scan(a, txn, day, ev, &done);
        if (done || rc != CHATD_OK)
            return rc;
    } else if (strcmp(t, "payment_notice.transfer_completed") != 0) {
        return CHATD_OK;
    }
    d = json_loadb(ev->data, ev->data_len, 0, NULL);
    if (d == NULL)
        return CHATD_OK; /* the host only commits objects */
    if (t[0] == 'c') {
        rc = on_message(a, txn, day, d);
    } else {
        json_int_t amount = json_integer_value(json_object_get(d, "amount"));
        rc = bump(a, txn, day, AN_TRANSFERS, 1);
        if (rc == CHATD_OK && amount > 0)
            rc = bump(a, txn, day, AN_TRANSFER_AMOUNT, (uint64_t)amount);
    }
    json_decref(d);
    return rc;
}

/* --- GET /v1/stats/daily?from=YYYY-MM-DD&to=YYYY-MM-DD --- */

static json_t *day_json(int64_t day, const unsigned char *val)
{
    char date[AN_DATE_LEN];
    json_t *o = json_object();

    an_date_format(day, date);
    json_object_set_new(o, "date", json_string(date));
    for (int f = 0; f < AN_FIGURES; f++)
        json_object_set_new(o, an_figure_names[f],
                            json_integer(val ? (json_int_t)an_get_u64(
                                                   val + 8 * f)
                                             : 0));
    return o;
}

static bool parse_range(struct an *a, struct chatd_req *req, int64_t *from,
                        int64_t *to)
{
    const char *f = a->host->req_query(req, "from");
    const char *t = a->host->req_query(req, "to");
    const char *msg = NULL;

    if (f == NULL || t == NULL)
        msg = "from and to are required (YYYY-MM-DD, UTC)";
    else if (!an_date_parse(f, from))
        msg = "from: expected a date YYYY-MM-DD (UTC), from 1970-01-01";
    else if (!an_date_parse(t, to))
        msg = "to: expected a date YYYY-MM-DD (UTC), from 1970-01-01";
    else if (*to < *from)
        msg = "to is before from";
    else if (*to - *from + 1 > AN_MAX_RANGE_DAYS)
        msg = "at most 366 days per request";
    if (msg != NULL)
        a->host->reply_error(req, 400, "invalid_argument", msg);
    return msg == NULL;
}

void an_stats_daily(void *state, struct chatd_req *req)
{
    struct an *a = state;
    int64_t from, to, day;
    char lo[AN_DAY_KEY_LEN], hi[AN_DAY_KEY_LEN];
    struct chatd_txn *txn;
    struct chatd_cursor *c = NULL;
    struct chatd_val k, v;
    json_t *days, *body;
    char *text;
    int rc;

    if (!parse_range(a, req, &from, &to))
        return;
    txn = a->host->req_txn(req);
    if (txn == NULL) {
        a->host->reply_error(req, 503, "unavailable", "storage unavailable");
        return;
    }
    an_day_key(from, lo);
    an_day_key(to, hi);
    days = json_array();
    day = from;
    rc = a->host->cursor_open(txn, a->daily, &c);
    if (rc == CHATD_OK)
        rc = a->host->cursor_seek(c, CHATD_SEEK_GE, lo, sizeof(lo), &k, &v);
    while (rc == CHATD_OK && k.len == AN_DAY_KEY_LEN &&
           memcmp(k.data, hi, AN_DAY_KEY_LEN) <= 0) {
        /* keys are 'd' + digits: fill the days before this one with 0 */
        for (; day <= to; day++) {
            char want[AN_DAY_KEY_LEN];
            an_day_key(day, want);
            if (memcmp(want, k.data, AN_DAY_KEY_LEN) == 0)
                break;
            json_array_append_new(days, day_json(day, NULL));
        }
        if (day > to)
            break;
        json_array_append_new(days, day_json(day++, v.len == DAY_VAL_LEN
                                                        ? v.data : NULL));
        rc = a->host->cursor_step(c, 1, &k, &v);
    }
    a->host->cursor_close(c);
    if (rc != CHATD_OK && rc != CHATD_ENOTFOUND) {
        json_decref(days);
        a->host->reply_error(req, 503, "unavailable", "storage unavailable");
        return;
    }
    for (; day <= to; day++)
        json_array_append_new(days, day_json(day, NULL));
    body = json_pack("{s:s%,s:s%,s:o}", "from", a->host->req_query(req, "from"),
                     (size_t)10, "to", a->host->req_query(req, "to"),
                     (size_t)10, "days", days);
    text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (text == NULL) {
        a->host->reply_error(req, 500, "internal", "out of memory");
        return;
    }
    a->host->reply_json_take(req, 200, text, strlen(text));
}
