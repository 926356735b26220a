/*
 * identity — users, service accounts and their tokens. Built into the
 * binary but written against the public module API like any module, with
 * its own events (identity.user_created, identity.token_issued), stores
 * and routes. Tokens are stored only as SHA-256 hashes.
 */
#ifndef IDENTITY_IDENTITY_H
#define IDENTITY_IDENTITY_H

#include "chatd/module.h"
#include "http/http.h"

const struct chatd_module_info *identity_module_info(void);

/* Resolves a user or service token (not the admin's). Any thread.
 * CHATD_ENOTFOUND for an unknown token. `state` is the module's state.
 * Tokens found are remembered (they are never revoked), so a known token
 * costs no read transaction. */
int identity_authenticate(void *state, const char *token,
                          struct http_principal *out);
/* The same from the token's SHA-256 (CRYPTO_SHA256_LEN bytes, borrowed
 * for the call), for a caller that has hashed it already. */
int identity_authenticate_hash(void *state, const uint8_t *hash,
                               struct http_principal *out);

#endif /* IDENTITY_IDENTITY_H */
