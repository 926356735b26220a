/*
 * frame — JSON text of the server frames and of pushed events, built by
 * hand into a growable buffer (the hot path of fan-out: no JSON tree).
 * Pure functions, any thread.
 */
#ifndef WS_FRAME_H
#define WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chatd/module.h"

/* A growable byte buffer. Zero-initialise; free with wsbuf_free. On an
 * allocation failure `failed` is set and further appends do nothing. */
struct wsbuf {
    char *data;
    size_t len, cap;
    bool failed;
};

void wsbuf_free(struct wsbuf *b);
void wsbuf_reset(struct wsbuf *b); /* len = 0, keeps the memory */
void wsbuf_append(struct wsbuf *b, const void *p, size_t n);
void wsbuf_puts(struct wsbuf *b, const char *s);
void wsbuf_u64(struct wsbuf *b, uint64_t v);
/* Appends s[0..n) as a JSON string literal with quotes. */
void wsbuf_json_str(struct wsbuf *b, const char *s, size_t n);

/*
 * Appends the event object of the contract:
 *   {"seq","time","type","v","stream","stream_ver","correlation_id",
 *    "actor","data"}
 * with time as RFC 3339 UTC and data embedded as JSON: `data` (data_len
 * bytes, may differ from ev->data, e.g. upcast) if it looks like a JSON
 * object or array, else {}.
 */
void frame_event_object(struct wsbuf *b, const struct chatd_event *ev,
                        const char *data, size_t data_len);

/* {"type":"event","pos":P,"event":<event_obj>} */
void frame_event(struct wsbuf *b, uint64_t pos, const char *event_obj,
                 size_t len);
/* {"type":"hello","epoch":E,"user":U,"pos":P} */
void frame_hello(struct wsbuf *b, const char *epoch, const char *user,
                 uint64_t pos);
/* {"type":"resync","reason":R,"pos":P,"epoch":E} */
void frame_resync(struct wsbuf *b, const char *reason, uint64_t pos,
                  const char *epoch);
/* {"type":"error","error":{"code":C,"message":M}} plus "id" (raw JSON
 * value text, may be NULL) when the client gave one. */
void frame_error(struct wsbuf *b, const char *code, const char *message,
                 const char *id_json);

#endif /* WS_FRAME_H */
