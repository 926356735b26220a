/*
 * flat.c — family, partition and object names, the flat record, dates
 * and stats keys. Pure: no host calls, no I/O (see flat.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "flat.h"

const char *const an_figure_names[AN_FIGURES] = {
    "messages_posted", "active_senders", "rooms_created", "users_created",
    "transfers",       "transfer_amount", "refunds"};

bool an_family(const char *type, char out[AN_FAMILY_MAX])
{
    size_t i;

    if (type == NULL || type[0] == '\0')
        return false;
    for (i = 0; type[i] != '\0'; i++) {
        char c = type[i];
        if (i + 1 >= AN_FAMILY_MAX)
            return false;
        if (c == '.')
            c = '_';
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '_'))
            return false;
        out[i] = c;
    }
    out[i] = '\0';
    return true;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t an_hour_of(int64_t time_ms)
{
    return floor_div(time_ms, AN_MS_PER_HOUR);
}

int64_t an_day_of(int64_t time_ms)
{
    return floor_div(time_ms, 24 * AN_MS_PER_HOUR);
}

/* Howard Hinnant's civil_from_days / days_from_civil. */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;

    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t)doe - 719468;
}

void an_partition(int64_t hour, char out[AN_PARTITION_MAX])
{
    int64_t y, day = floor_div(hour, 24);
    unsigned m, d;

    civil(day, &y, &m, &d);
    snprintf(out, AN_PARTITION_MAX, "year=%04" PRId64
             "/month=%02u/day=%02u/hour=%02u", y, m, d,
             (unsigned)(hour - day * 24));
}

void an_part_name(uint64_t first, uint64_t last, char out[AN_PART_NAME_MAX])
{
    snprintf(out, AN_PART_NAME_MAX, "part-%020" PRIu64 "-%020" PRIu64
             ".ndjson.gz", first, last);
}

void an_date_format(int64_t day, char out[AN_DATE_LEN])
{
    int64_t y;
    unsigned m, d;

    civil(day, &y, &m, &d);
    snprintf(out, AN_DATE_LEN, "%04u-%02u-%02u",
             (unsigned)(y % 10000) % 10000u, m % 100u, d % 100u);
}

static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

bool an_date_parse(const char *s, int64_t *day)
{
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30,
                                     31, 31, 30, 31, 30, 31};
    unsigned y, m, d;
    bool leap;

    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
        !digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d))
        return false;
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] ||
        (m == 2 && d == 29 && !leap))
        return false;
    *day = days_from_civil(y, m, d);
    return true;
}

size_t an_day_key(int64_t day, char out[AN_DAY_KEY_LEN])
{
    int64_t y;
    unsigned m, d;
    char tmp[16];

    civil(day, &y, &m, &d);
    snprintf(tmp, sizeof(tmp), "d%04u%02u%02u", (unsigned)(y % 10000), m, d);
    memcpy(out, tmp, AN_DAY_KEY_LEN);
    return AN_DAY_KEY_LEN;
}

size_t an_sender_key(int64_t day, const char *user, char *out)
{
    size_t n = strlen(user);

    if (n == 0 || AN_DAY_KEY_LEN + n > AN_SENDER_KEY_MAX)
        return 0;
    an_day_key(day, out);
    out[0] = 's';
    memcpy(out + AN_DAY_KEY_LEN, user, n);
    return AN_DAY_KEY_LEN + n;
}

void an_put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

uint64_t an_get_u64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* --- the flat record --- */

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

static int put(json_t *rec, const char *key, json_t *v)
{
    return v != NULL && json_object_set_new(rec, key, v) == 0
               ? CHATD_OK
               : CHATD_ENOMEM;
}

/* Adds `v` under `prefix` (".<key>" appended for members). */
static int flatten_into(json_t *rec, char *prefix, size_t plen,
                        size_t cap, json_t *v)
{
    const char *k;
    json_t *m;
    int rc = CHATD_OK;

    if (json_is_object(v) && json_object_size(v) > 0) {
        json_object_foreach(v, k, m) {
            size_t kl = strlen(k);
            if (plen + 1 + kl + 1 > cap)
                return CHATD_EINVAL;
            prefix[plen] = '.';
            memcpy(prefix + plen + 1, k, kl + 1);
            rc = flatten_into(rec, prefix, plen + 1 + kl, cap, m);
            prefix[plen] = '\0';
            if (rc != CHATD_OK)
                return rc;
        }
        return CHATD_OK;
    }
    if (json_is_array(v) || json_is_object(v)) {
        char *text = json_dumps(v, DUMP_FLAGS | JSON_ENCODE_ANY);
        if (text == NULL)
            return CHATD_ENOMEM;
        rc = put(rec, prefix, json_string(text));
        free(text);
        return rc;
    }
    return put(rec, prefix, json_incref(v));
}

void an_time_format(int64_t time_ms, char out[AN_TIME_LEN])
{
    int64_t s = time_ms / 1000, ms = time_ms % 1000;
    int64_t day = an_day_of(time_ms), y, sod;
    unsigned mo, d;

    if (ms < 0) {
        ms += 1000;
        s--;
    }
    sod = s - day * 86400;
    civil(day, &y, &mo, &d);
    snprintf(out, AN_TIME_LEN, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u."
             "%03uZ", y, mo, d, (unsigned)(sod / 3600),
             (unsigned)(sod / 60 % 60), (unsigned)(sod % 60), (unsigned)ms);
}

int an_flatten(const struct chatd_event *ev, char **out, size_t *len)
{
    char time[AN_TIME_LEN], prefix[1024] = "data";
    json_t *data = json_loadb(ev->data, ev->data_len, 0, NULL);
    json_t *rec = json_object();
    int rc = CHATD_EINVAL;

    an_time_format(ev->time_ms, time);
    if (rec == NULL) {
        rc = CHATD_ENOMEM;
        goto out;
    }
    if (!json_is_object(data))
        goto out;
    rc = put(rec, "seq", json_integer((json_int_t)ev->seq));
    if (rc == CHATD_OK) rc = put(rec, "time", json_string(time));
    if (rc == CHATD_OK) rc = put(rec, "type", json_string(ev->type));
    if (rc == CHATD_OK) rc = put(rec, "v", json_integer(ev->v));
    if (rc == CHATD_OK) rc = put(rec, "stream", json_string(ev->stream));
    if (rc == CHATD_OK)
        rc = put(rec, "stream_ver", json_integer((json_int_t)ev->stream_ver));
    if (rc == CHATD_OK)
        rc = put(rec, "correlation_id", json_string(ev->correlation_id
                                                        ? ev->correlation_id
                                                        : ""));
    if (rc == CHATD_OK)
        rc = put(rec, "actor", json_string(ev->actor ? ev->actor : ""));
    if (rc == CHATD_OK && json_object_size(data) > 0)
        rc = flatten_into(rec, prefix, 4, sizeof(prefix), data);
    else if (rc == CHATD_OK)
        rc = put(rec, "data", json_string("{}"));
    if (rc != CHATD_OK)
        goto out;
    char *text = json_dumps(rec, DUMP_FLAGS);
    size_t n = text ? strlen(text) : 0;
    char *line = text ? realloc(text, n + 2) : NULL;
    if (line == NULL) {
        free(text);
        rc = CHATD_ENOMEM;
        goto out;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    *out = line;
    *len = n + 1;
out:
    json_decref(data);
    json_decref(rec);
    return rc;
}

/* --- a scan of an object's top-level members (an_json_top_str) --- */

static size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' ||
                     p[i] == '\r'))
        i++;
    return i;
}

/* p[i] is '"': the index just past the closing quote, or n if none;
 * *escaped tells whether the string holds a backslash. */
static size_t skip_string(const char *p, size_t n, size_t i, bool *escaped)
{
    *escaped = false;
    for (i++; i < n; i++) {
        if (p[i] == '\\') {
            *escaped = true;
            i++;
        } else if (p[i] == '"') {
            return i + 1;
        }
    }
    return n;
}

/* A value other than a string at p[i]: an object or an array to its
 * matching close (strings inside skipped whole), or a scalar to the next
 * ',', '}', ']' or white space. The index just past it; n if it does not
 * end. */
static bool scalar_char(char c)
{
    return c != ',' && c != '}' && c != ']' && c != ' ' && c != '\t' &&
           c != '\n' && c != '\r' && c != '"' && c != '{' && c != '[';
}

static size_t skip_value(const char *p, size_t n, size_t i)
{
    size_t depth = 0;
    bool esc;

    if (i < n && (p[i] == '{' || p[i] == '[')) {
        while (i < n) {
            if (p[i] == '"') {
                i = skip_string(p, n, i, &esc);
                continue;
            }
            if (p[i] == '{' || p[i] == '[')
                depth++;
            else if ((p[i] == '}' || p[i] == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return n;
    }
    while (i < n && scalar_char(p[i]))
        i++;
    return i;
}

int an_json_top_str(const char *p, size_t n, const char *key,
                    const char **val, size_t *vlen)
{
    size_t klen = strlen(key), i = skip_ws(p, n, 0), k0, k1, v0;
    bool esc = false, kesc = false;

    if (i >= n || p[i] != '{')
        return -1;
    i = skip_ws(p, n, i + 1);
    if (i < n && p[i] == '}')
        return 0;
    while (i < n) {
        if (p[i] != '"')
            return -1;
        k0 = i + 1;
        i = skip_string(p, n, i, &kesc);
        if (i >= n)
            return -1;
        k1 = i - 1;
        i = skip_ws(p, n, i);
        if (i >= n || p[i] != ':')
            return -1;
        i = skip_ws(p, n, i + 1);
        v0 = i;
        if (i < n && p[i] == '"')
            i = skip_string(p, n, i, &esc);
        else
            i = skip_value(p, n, i);
        if (i >= n || i == v0)
            return -1;
        if (!kesc && k1 - k0 == klen && memcmp(p + k0, key, klen) == 0) {
            if (p[v0] != '"' || esc)
                return 0;
            *val = p + v0 + 1;
            *vlen = i - v0 - 2;
            return 1;
        }
        i = skip_ws(p, n, i);
        if (i < n && p[i] == '}')
            return 0;
        if (i >= n || p[i] != ',')
            return -1;
        i = skip_ws(p, n, i + 1);
    }
    return -1;
}
