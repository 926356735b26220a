/*
 * fuzz_ws_tracker — the WebSocket frame tracker on any split of the bytes.
 *
 * The tracker (src/ws/tracker.c) decides when an idle connection's wslay
 * context may be freed; saying "boundary" inside a frame would lose
 * wslay's half-read frame and break a good client. The input describes
 * frames (FIN, opcode, mask, payload length in each of the three length
 * forms) and where the reads split them. The stream is written by an
 * encoder here, fed to the tracker in those pieces, and after every piece
 * the tracker must say "boundary" exactly when the piece ends at the end
 * of a frame and no fragmented message is open. Then the whole stream is
 * fed at once, and then one byte at a time: the same final state.
 */
#include <string.h>

#include "fuzz.h"
#include "ws/tracker.h"

#define MAX_FRAMES 64
#define MAX_STREAM (64 * 1024)

struct stream {
    uint8_t bytes[MAX_STREAM];
    size_t len;
    size_t end[MAX_FRAMES];    /* offset just past each frame */
    bool boundary[MAX_FRAMES]; /* at a boundary after it */
    size_t nframes;
};

/* One frame from 3 bytes of input; false when there is no room left. */
static bool add_frame(struct stream *st, const uint8_t *in, bool *open)
{
    static const uint8_t ops[] = {0x0, 0x1, 0x2, 0x8, 0x9, 0xA, 0x3, 0xB};
    uint8_t fin = in[0] & 0x80, op = ops[in[0] & 7];
    bool mask = in[0] & 0x40;
    unsigned form = in[1] >> 6; /* 0, 1: 7-bit; 2: 16-bit; 3: 64-bit */
    size_t plen = form < 2 ? (size_t)(in[1] & 0x3F) * 2 % 126
                           : (size_t)in[2] * (form == 2 ? 3 : 1);
    uint8_t *o = st->bytes + st->len;
    size_t hl = 2 + (form == 2 ? 2 : form == 3 ? 8 : 0) + (mask ? 4 : 0);

    if (st->nframes == MAX_FRAMES || st->len + hl + plen > MAX_STREAM)
        return false;
    o[0] = fin | op;
    o[1] = mask ? 0x80 : 0;
    if (form < 2) {
        o[1] |= (uint8_t)plen;
    } else if (form == 2) {
        o[1] |= 126;
        o[2] = (uint8_t)(plen >> 8);
        o[3] = (uint8_t)plen;
    } else {
        o[1] |= 127;
        memset(o + 2, 0, 8);
        o[9] = (uint8_t)plen;
    }
    /* mask key and payload: bytes that look like headers, on purpose */
    memset(o + hl - (mask ? 4 : 0), 0x81, (mask ? 4 : 0) + plen);
    st->len += hl + plen;
    if (op < 8) /* data or continuation; control frames leave it */
        *open = !fin;
    st->end[st->nframes] = st->len;
    st->boundary[st->nframes++] = !*open;
    return true;
}

static bool same_state(const struct frame_tracker *a,
                       const struct frame_tracker *b)
{
    return a->payload_left == b->payload_left && a->hdr_len == b->hdr_len &&
           memcmp(a->hdr, b->hdr, a->hdr_len) == 0 &&
           a->in_message == b->in_message &&
           (a->hdr_len != 0 || a->payload_left != 0 ||
            a->cur_fin_op == b->cur_fin_op);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct stream st;
    struct frame_tracker pieces = {0}, whole = {0}, bytes = {0};
    size_t nf, i, off = 0, f = 0, k = 0, cut;
    bool open = false;

    if (size < 1)
        return 0;
    nf = data[0] % (MAX_FRAMES + 1);
    st.len = st.nframes = 0;
    for (i = 0; i < nf && 1 + 3 * i + 3 <= size; i++)
        if (!add_frame(&st, data + 1 + 3 * i, &open))
            break;
    /* the rest of the input: the sizes of the reads */
    for (k = 1 + 3 * i; off < st.len; k++) {
        cut = k < size ? (size_t)data[k] % 23 + 1 : st.len - off;
        if (cut > st.len - off)
            cut = st.len - off;
        tracker_feed(&pieces, st.bytes + off, cut);
        off += cut;
        while (f < st.nframes && st.end[f] < off)
            f++;
        bool at_end = f < st.nframes && st.end[f] == off;
        bool want = at_end ? st.boundary[f] : false;
        FUZZ_CHECK(tracker_at_boundary(&pieces) == want,
                   "after %zu of %zu bytes (%s frame %zu): boundary %d, "
                   "want %d", off, st.len, at_end ? "end of" : "inside",
                   f, tracker_at_boundary(&pieces), want);
    }
    tracker_feed(&whole, st.bytes, st.len);
    for (i = 0; i < st.len; i++)
        tracker_feed(&bytes, st.bytes + i, 1);
    FUZZ_CHECK(same_state(&whole, &pieces) && same_state(&whole, &bytes),
               "the final state depends on how the bytes were split");
    FUZZ_CHECK(tracker_at_boundary(&whole) ==
                   (st.nframes == 0 || st.boundary[st.nframes - 1]),
               "at the end of the stream: boundary %d",
               tracker_at_boundary(&whole));
    return 0;
}
