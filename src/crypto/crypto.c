#include <string.h>

#include <nettle/base64.h>
#include <nettle/hmac.h>
#include <nettle/sha1.h>
#include <nettle/sha2.h>

#include "crypto/crypto.h"

void crypto_sha256(const void *data, size_t len,
                   uint8_t out[CRYPTO_SHA256_LEN])
{
    struct sha256_ctx ctx;

    sha256_init(&ctx);
    sha256_update(&ctx, len, data);
    sha256_digest(&ctx, CRYPTO_SHA256_LEN, out);
}

void crypto_hmac_sha256(const void *key, size_t klen, const void *data,
                        size_t len, uint8_t out[CRYPTO_SHA256_LEN])
{
    struct hmac_sha256_ctx ctx;

    hmac_sha256_set_key(&ctx, klen, key);
    hmac_sha256_update(&ctx, len, data);
    hmac_sha256_digest(&ctx, CRYPTO_SHA256_LEN, out);
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    uint8_t diff = 0;
    size_t i;

    for (i = 0; i < len; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}

void crypto_hex(const uint8_t *in, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * len] = '\0';
}

int crypto_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool crypto_unhex(const char *in, size_t len, uint8_t *out)
{
    size_t i;
    int hi, lo;

    for (i = 0; i < len; i++) {
        hi = crypto_hex_digit(in[2 * i]);
        lo = hi < 0 ? -1 : crypto_hex_digit(in[2 * i + 1]);
        if (lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

void crypto_ws_accept(const char *key, char out[CRYPTO_WS_ACCEPT_LEN])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_SIZE];

    sha1_init(&ctx);
    sha1_update(&ctx, strlen(key), (const uint8_t *)key);
    sha1_update(&ctx, sizeof(guid) - 1, (const uint8_t *)guid);
    sha1_digest(&ctx, sizeof(digest), digest);
    base64_encode_raw((char *)out, sizeof(digest), digest);
    out[CRYPTO_WS_ACCEPT_LEN - 1] = '\0';
}
