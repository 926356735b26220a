#include <string.h>

#include "core/core.h"
#include "json/event_json.h"

json_t *event_json(const struct chatd_event *ev)
{
    char when[CORE_TIME_LEN];
    json_t *data = json_loadb(ev->data, ev->data_len, 0, NULL);

    if (data == NULL)
        return NULL;
    return json_pack("{s:I, s:s, s:s, s:i, s:s, s:I, s:s, s:s, s:o}", "seq",
                     (json_int_t)ev->seq, "time",
                     core_format_time(ev->time_ms, when), "type", ev->type,
                     "v", (int)ev->v, "stream", ev->stream, "stream_ver",
                     (json_int_t)ev->stream_ver, "correlation_id",
                     ev->correlation_id ? ev->correlation_id : "", "actor",
                     ev->actor ? ev->actor : "", "data", data);
}

char *event_json_text(const struct chatd_event *ev, size_t *len)
{
    json_t *v = event_json(ev);
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

    json_decref(v);
    if (text != NULL && len != NULL)
        *len = strlen(text);
    return text;
}
