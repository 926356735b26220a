/*
 * fuzz_analytics_record — the export's fast record against jansson's.
 *
 * The analytics exporter writes each event as a flat JSON record. Most
 * records come from a scan that copies the event's data through
 * (modules/analytics/record.c, an_record_scan); jansson's parse, build and
 * dump (flat.c, an_flatten) is the reference and does the rest. The
 * property: whenever the scan writes a record, it is byte for byte the
 * one jansson makes, and an_record, which picks the way, always gives
 * jansson's record or jansson's error. The first byte picks the type and
 * the envelope's strings, the rest is the event's data.
 */
#include <string.h>

#include "flat.h"
#include "fuzz.h"

static const char *const types[] = {"chat.message_posted", "chat.room_created",
                                    "payment.transfer_completed", "x.y"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct chatd_event ev = {.size = sizeof(ev), .seq = 7,
                             .time_ms = 1795000000123, .v = 1,
                             .stream = "room:r_1", .stream_ver = 3,
                             .correlation_id = "req-1", .actor = "user:u_1"};
    struct an_buf scan = {0}, rec = {0};
    char *ref = NULL, *copy;
    size_t ref_len = 0;
    bool scanned;
    int rc_ref, rc;

    if (size == 0)
        return 0;
    ev.type = types[data[0] & 3];
    if (data[0] & 4)
        ev.correlation_id = "";
    if (data[0] & 8)
        ev.actor = "a\"b\\c\n\xc3\xa9";
    /* data is NUL-terminated in the log (codec.c): so here */
    copy = malloc(size);
    if (copy == NULL)
        abort();
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    ev.data = copy;
    ev.data_len = size - 1;

    rc_ref = an_flatten(&ev, &ref, &ref_len);
    rc = an_record_scan(&ev, &scan);
    if (rc == CHATD_OK) {
        FUZZ_CHECK(rc_ref == CHATD_OK, "the scan wrote a record for data "
                   "jansson refuses (%d)", rc_ref);
        FUZZ_CHECK(scan.len == ref_len && memcmp(scan.p, ref, ref_len) == 0,
                   "the scan's record differs from jansson's:\n%.*s%.*s",
                   (int)scan.len, scan.p, (int)ref_len, ref);
    } else {
        FUZZ_CHECK(rc == 1, "an_record_scan: %d", rc);
    }
    rc = an_record(&ev, &rec, &scanned);
    FUZZ_CHECK(rc == rc_ref, "an_record %d, jansson %d", rc, rc_ref);
    if (rc == CHATD_OK)
        FUZZ_CHECK(rec.len == ref_len && memcmp(rec.p, ref, ref_len) == 0,
                   "an_record's record differs from jansson's");
    else
        FUZZ_CHECK(rec.len == 0, "an_record failed and left bytes behind");
    an_buf_free(&scan);
    an_buf_free(&rec);
    free(ref);
    free(copy);
    return 0;
}
