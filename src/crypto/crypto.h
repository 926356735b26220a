/*
 * crypto — the only folder that includes nettle: hashing for tokens,
 * HMAC for signed webhooks, SHA-1 + base64 for the WebSocket handshake.
 * All functions are pure and thread-safe.
 */
#ifndef CRYPTO_CRYPTO_H
#define CRYPTO_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN 32

void crypto_sha256(const void *data, size_t len,
                   uint8_t out[CRYPTO_SHA256_LEN]);
void crypto_hmac_sha256(const void *key, size_t klen, const void *data,
                        size_t len, uint8_t out[CRYPTO_SHA256_LEN]);
/* Compares without an early exit, so timing does not leak the position of
 * the first difference. */
bool crypto_equal(const void *a, const void *b, size_t len);
/* Lowercase hex of `len` bytes into out (2*len+1 bytes). */
void crypto_hex(const uint8_t *in, size_t len, char *out);
/* Value of one hex digit (either case), or -1. */
int crypto_hex_digit(char c);
/* Decodes 2*len hex chars; false if malformed. */
bool crypto_unhex(const char *in, size_t len, uint8_t *out);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2):
 * base64(SHA-1(key + GUID)), 28 chars + NUL into out. */
#define CRYPTO_WS_ACCEPT_LEN 29
void crypto_ws_accept(const char *key, char out[CRYPTO_WS_ACCEPT_LEN]);

#endif /* CRYPTO_CRYPTO_H */
