/*
 * fuzz_codec — the log's record format, both ways.
 *
 * evlog_decode reads records from the data directory, where a disk fault
 * or a bad restore can put anything: it must answer CHATD_EIO without
 * reading outside the record, and what it accepts must be exactly what
 * the encoder writes (the format has one spelling per event, so a record
 * decodes, encodes back to the same bytes). The other way, any event the
 * codec accepts comes back from its record with every field equal.
 */
#include <string.h>

#include "evlog/internal.h"
#include "fuzz.h"

static void decode_any(const uint8_t *data, size_t size)
{
    struct chatd_event ev;
    unsigned char *again;

    if (evlog_decode(42, data, size, &ev) != CHATD_OK)
        return;
    FUZZ_CHECK(ev.seq == 42, "seq %llu", (unsigned long long)ev.seq);
    FUZZ_CHECK(evlog_codec_size(&ev) == size,
               "decoded a record of %zu bytes that encodes to %zu", size,
               evlog_codec_size(&ev));
    again = malloc(size);
    if (again == NULL)
        abort();
    evlog_codec_encode(&ev, again);
    FUZZ_CHECK(memcmp(again, data, size) == 0,
               "a decoded record encodes to other bytes");
    free(again);
}

/* The fields of an event from the input: 24 bytes of numbers, then type,
 * stream, correlation id, actor and data separated by '\n'. */
static char *field(const uint8_t **p, const uint8_t *end, size_t *len)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    const uint8_t *stop = nl ? nl : end;
    char *s = malloc((size_t)(stop - *p) + 1);

    if (s == NULL)
        abort();
    *len = (size_t)(stop - *p);
    memcpy(s, *p, *len);
    s[*len] = '\0';
    *p = nl ? nl + 1 : end;
    return s;
}

/* A NULL correlation id or actor is stored, and read back, as "". */
static void same_str(const char *what, const char *got, const char *want)
{
    FUZZ_CHECK(strcmp(got, want ? want : "") == 0,
               "%s differs after a round trip", what);
}

static void encode_any(const uint8_t *data, size_t size)
{
    const uint8_t *p = data + 24, *end = data + size;
    struct chatd_event ev = {.size = sizeof(ev)}, back;
    char *f[5];
    size_t len[5], n;
    unsigned char *rec;
    uint64_t a, b;

    if (size < 24)
        return;
    memcpy(&a, data, 8);
    memcpy(&b, data + 8, 8);
    ev.time_ms = (int64_t)a;
    ev.stream_ver = b;
    memcpy(&ev.v, data + 16, 4);
    for (int i = 0; i < 5; i++)
        f[i] = field(&p, end, &len[i]);
    ev.type = f[0];
    ev.stream = f[1];
    ev.correlation_id = data[20] & 1 ? NULL : f[2];
    ev.actor = data[20] & 2 ? NULL : f[3];
    ev.data = f[4];
    ev.data_len = len[4]; /* may hold NUL bytes: data is counted */
    if (evlog_codec_check(&ev) == CHATD_OK) {
        n = evlog_codec_size(&ev);
        rec = malloc(n);
        if (rec == NULL)
            abort();
        evlog_codec_encode(&ev, rec);
        FUZZ_CHECK(evlog_decode(ev.seq, rec, n, &back) == CHATD_OK,
                   "an event the codec accepts does not decode");
        FUZZ_CHECK(back.time_ms == ev.time_ms && back.v == ev.v &&
                       back.stream_ver == ev.stream_ver,
                   "a number differs after a round trip");
        same_str("type", back.type, ev.type);
        same_str("stream", back.stream, ev.stream);
        same_str("correlation_id", back.correlation_id, ev.correlation_id);
        same_str("actor", back.actor, ev.actor);
        FUZZ_CHECK(back.data_len == ev.data_len &&
                       memcmp(back.data, ev.data, ev.data_len) == 0 &&
                       back.data[back.data_len] == '\0',
                   "data differs after a round trip");
        free(rec);
    }
    for (int i = 0; i < 5; i++)
        free(f[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_any(data, size);
    encode_any(data, size);
    return 0;
}
