/* tracker.c — see tracker.h. */
#include "ws/tracker.h"

static unsigned header_size(const uint8_t *h)
{
    unsigned len7 = h[1] & 0x7f;
    unsigned n = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
    return n + ((h[1] & 0x80) ? 4 : 0);
}

static void frame_end(struct frame_tracker *ft)
{
    unsigned op = ft->cur_fin_op & 0x0f;
    if (op < 8) /* data or continuation: FIN closes the message */
        ft->in_message = !(ft->cur_fin_op & 0x80);
}

void tracker_feed(struct frame_tracker *ft, const uint8_t *p, size_t n)
{
    while (n > 0) {
        if (ft->payload_left > 0) {
            size_t take = n < ft->payload_left ? n : (size_t)ft->payload_left;
            ft->payload_left -= take;
            p += take;
            n -= take;
            if (ft->payload_left == 0)
                frame_end(ft);
            continue;
        }
        ft->hdr[ft->hdr_len++] = *p++;
        n--;
        if (ft->hdr_len < 2 || ft->hdr_len < header_size(ft->hdr))
            continue;
        uint64_t len = ft->hdr[1] & 0x7f;
        unsigned ext = len == 126 ? 2 : len == 127 ? 8 : 0;
        if (ext) {
            len = 0;
            for (unsigned i = 0; i < ext; i++)
                len = (len << 8) | ft->hdr[2 + i];
        }
        ft->cur_fin_op = ft->hdr[0] & 0x8f;
        ft->hdr_len = 0;
        ft->payload_left = len;
        if (len == 0)
            frame_end(ft);
    }
}

bool tracker_at_boundary(const struct frame_tracker *ft)
{
    return ft->hdr_len == 0 && ft->payload_left == 0 && !ft->in_message;
}
