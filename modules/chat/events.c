/* Appending chat events: every state change of the module goes through
 * here, from a command on the writer thread. */
#include <errno.h>
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

/* 8 random bytes from a per-thread pool: one getrandom per 64 ids rather
 * than a syscall for every message (ids are made on the writer thread,
 * inside the batch everyone waits for). Each byte is handed out once. */
static int random8(unsigned char *out)
{
    static __thread unsigned char pool[512];
    static __thread size_t used = sizeof(pool);
    size_t got = 0;
    ssize_t n;

    if (used + 8 > sizeof(pool)) {
        while (got < sizeof(pool)) {
            n = getrandom(pool + got, sizeof(pool) - got, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return CHATD_EIO;
            got += (size_t)n;
        }
        used = 0;
    }
    memcpy(out, pool + used, 8);
    used += 8;
    return CHATD_OK;
}

int chat_new_id(char *buf, const char *prefix)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[8];
    size_t i, n = strlen(prefix);

    if (random8(raw) != CHATD_OK)
        return CHATD_EIO;
    memcpy(buf, prefix, n);
    for (i = 0; i < sizeof(raw); i++) {
        buf[n + 2 * i] = hex[raw[i] >> 4];
        buf[n + 2 * i + 1] = hex[raw[i] & 15];
    }
    buf[n + 2 * sizeof(raw)] = '\0';
    return CHATD_OK;
}
