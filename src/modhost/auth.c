/*
 * Who is calling: the admin token (from the environment or DATA/
 * admin.token) first, then the identity module's user and service tokens.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "identity/identity.h"
#include "modhost/modhost_int.h"

void modhost_set_admin_token(struct modhost *mh, const char *token)
{
    snprintf(mh->admin_token, sizeof(mh->admin_token), "%s", token);
    crypto_sha256(mh->admin_token, strlen(mh->admin_token), mh->admin_hash);
}

void *modhost_identity_state(const struct modhost *mh)
{
    return mh->identity_state;
}

int modhost_authenticate(void *arg, const char *token,
                         struct http_principal *out)
{
    const struct modhost *mh = arg;
    uint8_t hash[CRYPTO_SHA256_LEN];
    void *state;

    /* One hash per token: compared with the admin's (so the comparison
     * time depends on neither length), then looked up by identity. */
    crypto_sha256(token, strlen(token), hash);
    if (mh->admin_token[0] != '\0') {
        if (crypto_equal(hash, mh->admin_hash, sizeof(hash))) {
            out->kind = CHATD_PRINCIPAL_ADMIN;
            snprintf(out->id, sizeof(out->id), "admin");
            return CHATD_OK;
        }
    }
    state = modhost_identity_state(mh);
    if (state == NULL)
        return CHATD_ENOTFOUND;
    return identity_authenticate_hash(state, hash, out);
}
