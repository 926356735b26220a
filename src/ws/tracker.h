/*
 * tracker — frame boundaries of a connection's inbound bytes.
 *
 * wslay's event API keeps a partly read frame inside its context, so an
 * idle connection's context (~8.8 KB of buffers) may be freed only when
 * the bytes read so far end exactly at the end of a message: no header or
 * payload half read, no fragmented message open. The tracker follows the
 * same bytes as they are read (any split: a header may arrive a byte at a
 * time) and says when that is. It reads only the framing, never payloads;
 * malformed frames are wslay's to refuse. Pure (tests/fuzz/fuzz_ws_tracker).
 */
#ifndef WS_TRACKER_H
#define WS_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Zero-initialised: at a boundary. */
struct frame_tracker {
    uint64_t payload_left;
    uint8_t hdr[14];
    uint8_t hdr_len;
    uint8_t cur_fin_op; /* FIN bit | opcode of the frame being read */
    bool in_message;    /* a fragmented data message is open */
};

/* Follows n more bytes of the stream. */
void tracker_feed(struct frame_tracker *ft, const uint8_t *p, size_t n);
/* Whether the bytes so far end at the end of a message (or of a control
 * frame between messages). */
bool tracker_at_boundary(const struct frame_tracker *ft);

#endif /* WS_TRACKER_H */
