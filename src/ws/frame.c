/* frame — see frame.h. */
#include "ws/frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

void wsbuf_free(struct wsbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void wsbuf_reset(struct wsbuf *b)
{
    b->len = 0;
    b->failed = false;
}

static bool wsbuf_reserve(struct wsbuf *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void wsbuf_append(struct wsbuf *b, const void *p, size_t n)
{
    if (!wsbuf_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void wsbuf_puts(struct wsbuf *b, const char *s)
{
    wsbuf_append(b, s, strlen(s));
}

/* Not snprintf: this runs once per frame sent, and the format parser
 * costs more than the digits. */
void wsbuf_u64(struct wsbuf *b, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    wsbuf_append(b, tmp + i, sizeof tmp - i);
}

void wsbuf_json_str(struct wsbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    wsbuf_append(b, "\"", 1);
    size_t run = 0; /* bytes copied verbatim in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        wsbuf_append(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0};
        size_t elen = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        wsbuf_append(b, esc, elen);
    }
    wsbuf_append(b, s + run, n - run);
    wsbuf_append(b, "\"", 1);
}

static void str_field(struct wsbuf *b, const char *name, const char *v)
{
    wsbuf_puts(b, name);
    v = v ? v : "";
    wsbuf_json_str(b, v, strlen(v));
}

/* Data is stored as JSON text by the host (validated on append); embed it
 * when it at least looks like a JSON object or array. */
static bool looks_like_json(const char *d, size_t n)
{
    while (n > 0 && (*d == ' ' || *d == '\n' || *d == '\t' || *d == '\r')) {
        d++;
        n--;
    }
    return n >= 2 && (d[0] == '{' || d[0] == '[');
}

void frame_event_object(struct wsbuf *b, const struct chatd_event *ev,
                        const char *data, size_t data_len)
{
    char t[CORE_TIME_LEN];

    wsbuf_puts(b, "{\"seq\":");
    wsbuf_u64(b, ev->seq);
    str_field(b, ",\"time\":", core_format_time(ev->time_ms, t));
    str_field(b, ",\"type\":", ev->type);
    wsbuf_puts(b, ",\"v\":");
    wsbuf_u64(b, ev->v);
    str_field(b, ",\"stream\":", ev->stream);
    wsbuf_puts(b, ",\"stream_ver\":");
    wsbuf_u64(b, ev->stream_ver);
    str_field(b, ",\"correlation_id\":", ev->correlation_id);
    str_field(b, ",\"actor\":", ev->actor);
    wsbuf_puts(b, ",\"data\":");
    if (data && looks_like_json(data, data_len))
        wsbuf_append(b, data, data_len);
    else
        wsbuf_puts(b, "{}");
    wsbuf_puts(b, "}");
}

void frame_event(struct wsbuf *b, uint64_t pos, const char *event_obj,
                 size_t len)
{
    wsbuf_puts(b, "{\"type\":\"event\",\"pos\":");
    wsbuf_u64(b, pos);
    wsbuf_puts(b, ",\"event\":");
    wsbuf_append(b, event_obj, len);
    wsbuf_puts(b, "}");
}

void frame_hello(struct wsbuf *b, const char *epoch, const char *user,
                 uint64_t pos)
{
    str_field(b, "{\"type\":\"hello\",\"epoch\":", epoch);
    str_field(b, ",\"user\":", user);
    wsbuf_puts(b, ",\"pos\":");
    wsbuf_u64(b, pos);
    wsbuf_puts(b, "}");
}

void frame_resync(struct wsbuf *b, const char *reason, uint64_t pos,
                  const char *epoch)
{
    str_field(b, "{\"type\":\"resync\",\"reason\":", reason);
    wsbuf_puts(b, ",\"pos\":");
    wsbuf_u64(b, pos);
    str_field(b, ",\"epoch\":", epoch);
    wsbuf_puts(b, "}");
}

void frame_error(struct wsbuf *b, const char *code, const char *message,
                 const char *id_json)
{
    wsbuf_puts(b, "{\"type\":\"error\"");
    if (id_json) {
        wsbuf_puts(b, ",\"id\":");
        wsbuf_puts(b, id_json);
    }
    str_field(b, ",\"error\":{\"code\":", code);
    str_field(b, ",\"message\":", message);
    wsbuf_puts(b, "}}");
}
