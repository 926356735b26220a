/* Appending chat events: every state change of the module goes through
 * here, from a command on the writer thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "chat.h"

int chat_append(struct chat *c, struct chatd_txn *txn, const char *type,
                const char *stream, uint64_t expected_ver, const json_t *data,
                uint64_t *seq_out)
{
    struct chatd_append a = {
        .size = sizeof(a),
        .type = type,
        .stream = stream,
        .expected_ver = expected_ver,
    };
    char *text = json_dumps(data, JSON_COMPACT);
    int rc;

    if (text == NULL)
        return CHATD_ENOMEM;
    a.data = text;
    a.data_len = strlen(text);
    rc = c->host->append(txn, &a, seq_out);
    free(text);
    return rc;
}

int chat_append_text(struct chat *c, struct chatd_txn *txn, const char *type,
                     const char *stream, uint64_t expected_ver,
                     const struct chat_buf *b, uint64_t *seq_out)
{
    struct chatd_append a = {
        .size = sizeof(a),
        .type = type,
        .stream = stream,
        .expected_ver = expected_ver,
        .data = b->p,
        .data_len = b->len,
    };

    if (b->failed || b->len == 0)
        return CHATD_ENOMEM;
    return c->host->append(txn, &a, seq_out);
}

char *chat_room_stream(char *buf, const char *room)
{
    size_t n = strnlen(room, CHAT_ID_MAX);

    memcpy(buf, "room:", 5);
    memcpy(buf + 5, room, n);
    buf[5 + n] = '\0';
    return buf;
}

int chat_new_id(char *buf, const char *prefix)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[8];
    size_t i, n = strlen(prefix);

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return CHATD_EIO;
    memcpy(buf, prefix, n);
    for (i = 0; i < sizeof(raw); i++) {
        buf[n + 2 * i] = hex[raw[i] >> 4];
        buf[n + 2 * i + 1] = hex[raw[i] & 15];
    }
    buf[n + 2 * sizeof(raw)] = '\0';
    return CHATD_OK;
}
