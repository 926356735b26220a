/*
 * event_json — the public JSON form of a log event, used by the event feed,
 * `chatd dump` and the WebSocket frames:
 *   {"seq","time","type","v","stream","stream_ver","correlation_id",
 *    "actor","data":{...}}
 */
#ifndef JSON_EVENT_JSON_H
#define JSON_EVENT_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "chatd/module.h"

/* New reference, or NULL (ENOMEM, or data that is not a JSON object). */
json_t *event_json(const struct chatd_event *ev);
/* Compact text of event_json; malloc()ed, caller frees; NULL on error. */
char *event_json_text(const struct chatd_event *ev, size_t *len);

#endif /* JSON_EVENT_JSON_H */
