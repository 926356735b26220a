/*
 * identity — users, service accounts and their tokens. Built into the
 * binary but written against the public module API like any module, with
 * its own events (identity.user_created, identity.token_issued,
 * identity.token_revoked), stores and routes. Tokens are stored only as
 * SHA-256 hashes.
 */
#ifndef IDENTITY_IDENTITY_H
#define IDENTITY_IDENTITY_H

#include "chatd/module.h"
#include "http/http.h"

const struct chatd_module_info *identity_module_info(void);

/* Resolves a user or service token (not the admin's). Any thread.
 * CHATD_ENOTFOUND for an unknown or revoked token. `state` is the
 * module's state. Tokens found are remembered until a revocation commits,
 * so a known token costs no read transaction. */
int identity_authenticate(void *state, const char *token,
                          struct http_principal *out);
/* The same from the token's SHA-256 (CRYPTO_SHA256_LEN bytes, borrowed
 * for the call), for a caller that has hashed it already. */
int identity_authenticate_hash(void *state, const uint8_t *hash,
                               struct http_principal *out);

/* The writer thread, after each commit, before its answers go out: if
 * the batch revoked tokens, every remembered token is looked up again
 * from then on, so no request that starts after the revocation's answer
 * gets in with it, and `revoked` (may be NULL) is called for each user
 * whose tokens went (user_id NULL: too many to list, every user), so their
 * live connections can be closed. A batch that was redone may name a user
 * whose revocation did not commit: the caller's action must be harmless
 * then. NULL state is a no-op. */
void identity_after_commit(void *state,
                           void (*revoked)(void *arg, const char *user_id),
                           void *arg);

#endif /* IDENTITY_IDENTITY_H */
