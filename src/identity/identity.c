#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "config.h"

#include "core/core.h"
#include "crypto/crypto.h"
#include "identity/identity.h"

#define NAME_MAX_CHARS 64
#define TOKEN_TTL_MAX_S (10LL * 366 * 86400)
#define TOKEN_CACHE_SLOTS 1024 /* ~100 KiB; a power of two */
#define REVOKED_MAX 64

/* A token found in the tokens store, trusted while the cache's
 * generation is still the one it was looked up under: a committed
 * revocation moves the generation on (identity_after_commit), so every
 * remembered token is looked up again once. */
struct token_slot {
    uint8_t hash[CRYPTO_SHA256_LEN];
    uint64_t gen;
    struct http_principal who; /* kind NONE: the slot is empty */
};

struct identity {
    const struct chatd_host *host;
    struct chatd_module *mod;
    struct chatd_store *users;  /* id -> {"id","name","kind","created_at"} */
    struct chatd_store *tokens; /* sha256(token) -> user id */
    struct chatd_store *names;  /* name -> user id */
    struct chatd_store *user_tokens; /* user id '\0' sha256 -> "" */
    int64_t token_ttl_s; /* identity.token_ttl_s; 0: tokens never expire */
    /* Found tokens, direct-mapped by hash, so a request costs no read
     * transaction; unknown tokens are never cached. HTTP and WebSocket
     * threads share it under the lock. */
    pthread_mutex_t cache_lock;
    struct token_slot cache[TOKEN_CACHE_SLOTS];
    _Atomic uint64_t cache_gen;
    /* Writer thread: users whose tokens the batch revoked, for
     * identity_after_commit; past REVOKED_MAX, "every user". */
    bool revoked, revoked_all;
    size_t nrevoked;
    char revoked_users[REVOKED_MAX][HTTP_ID_MAX];
};

/* What a revocation carries to the writer. */
struct revocation {
    struct identity *id;
    char user_id[24];
    uint8_t hash[CRYPTO_SHA256_LEN]; /* DELETE /v1/me/token: this token */
};

/* What a POST /v1/users or token request carries to the writer. */
struct new_account {
    struct identity *id;
    char user_id[24];
    char name[4 * NAME_MAX_CHARS + 1];
    char kind[8];
    char token[64];
    int64_t expires_ms; /* set by issue_token; 0: never */
};

static void reply_json_value(const struct identity *id, struct chatd_req *req,
                             unsigned status, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;

    if (text == NULL)
        id->host->reply_error(req, 500, "internal", "out of memory");
    else
        id->host->reply_json(req, status, text, strlen(text));
    free(text);
    json_decref(v);
}

static int new_token(char *out)
{
    memcpy(out, "ct_", 3);
    return core_random_hex(out + 3, 24);
}

static int append_json(const struct identity *id, struct chatd_txn *txn,
                       const char *type, const char *stream,
                       uint64_t expected, json_t *data, uint64_t *seq)
{
    char *text = json_dumps(data, JSON_COMPACT);
    struct chatd_append a = {.size = sizeof(a),
                             .type = type,
                             .stream = stream,
                             .expected_ver = expected,
                             .data = text,
                             .data_len = text ? strlen(text) : 0};
    int rc = text ? id->host->append(txn, &a, seq) : CHATD_ENOMEM;

    free(text);
    json_decref(data);
    return rc;
}

/* identity.token_issued; with a TTL its data says when the token stops
 * working ("expires_at", ms), so a rebuild gives every token the expiry
 * it was issued with, whatever the setting is then. */
static int issue_token(const struct identity *id, struct chatd_txn *txn,
                       struct new_account *na)
{
    uint8_t hash[CRYPTO_SHA256_LEN];
    char hex[2 * CRYPTO_SHA256_LEN + 1];
    char stream[40];
    json_t *data;

    crypto_sha256(na->token, strlen(na->token), hash);
    crypto_hex(hash, sizeof(hash), hex);
    snprintf(stream, sizeof(stream), "user:%s", na->user_id);
    na->expires_ms = id->token_ttl_s > 0
                         ? core_now_ms() + id->token_ttl_s * 1000
                         : 0;
    data = json_pack("{s:s, s:s}", "user_id", na->user_id, "token_sha256",
                     hex);
    if (data != NULL && na->expires_ms > 0 &&
        json_object_set_new(data, "expires_at",
                            json_integer(na->expires_ms)) != 0) {
        json_decref(data);
        data = NULL;
    }
    return data ? append_json(id, txn, "identity.token_issued", stream,
                              CHATD_ANY_VERSION, data, NULL)
                : CHATD_ENOMEM;
}

/* "expires_at" of an answer that hands out a token: the time, or null. */
static json_t *expiry_json(int64_t expires_ms)
{
    char when[40];

    return expires_ms > 0 ? json_string(core_format_time(expires_ms, when))
                          : json_null();
}

static json_t *stored_user(const struct identity *id, struct chatd_txn *txn,
                           const char *user_id)
{
    struct chatd_val v;

    if (id->host->get(txn, id->users, user_id, strlen(user_id), &v) !=
        CHATD_OK)
        return NULL;
    return json_loadb(v.data, v.len, 0, NULL);
}

static int create_user_cmd(void *arg, struct chatd_txn *txn,
                           struct chatd_req *req)
{
    struct new_account *na = arg;
    const struct identity *id = na->id;
    struct chatd_val v;
    char stream[40];
    json_t *user;
    int rc;

    if (id->host->get(txn, id->names, na->name, strlen(na->name), &v) ==
        CHATD_OK) {
        id->host->reply_error(req, 409, "conflict",
                              "a user with this name already exists");
        return CHATD_OK;
    }
    snprintf(stream, sizeof(stream), "user:%s", na->user_id);
    rc = append_json(id, txn, "identity.user_created", stream, CHATD_NO_STREAM,
                     json_pack("{s:s, s:s, s:s}", "id", na->user_id, "name",
                               na->name, "kind", na->kind),
                     NULL);
    if (rc == CHATD_OK)
        rc = issue_token(id, txn, na);
    if (rc != CHATD_OK)
        return rc;
    user = stored_user(id, txn, na->user_id);
    if (user == NULL)
        return CHATD_EIO;
    json_object_set_new(user, "token", json_string(na->token));
    json_object_set_new(user, "expires_at", expiry_json(na->expires_ms));
    reply_json_value(id, req, 201, user);
    return CHATD_OK;
}

/* Names: 1..64 characters of valid UTF-8 without control characters. */
static bool name_valid(const char *name)
{
    size_t len = strlen(name);
    size_t i;

    if (len == 0 || !core_utf8_valid(name, len) ||
        core_utf8_length(name, len) > NAME_MAX_CHARS)
        return false;
    for (i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    return true;
}

static json_t *parse_body(const struct identity *id, struct chatd_req *req)
{
    struct chatd_val body = id->host->req_body(req);
    json_t *root;

    root = body.len ? json_loadb(body.data, body.len, 0, NULL) : NULL;
    if (root == NULL)
        id->host->reply_error(req, 400, "invalid_json",
                              "the body must be a JSON object");
    else if (!json_is_object(root)) {
        id->host->reply_error(req, 400, "invalid_argument",
                              "the body must be a JSON object");
        json_decref(root);
        root = NULL;
    }
    return root;
}

/* Reads name and kind from the body into `na`; answers 400 if invalid. */
static bool read_account(const struct identity *id, struct chatd_req *req,
                         const json_t *root, struct new_account *na)
{
    const json_t *name = json_object_get(root, "name");
    const json_t *kind = json_object_get(root, "kind");
    const char *k = kind ? json_string_value(kind) : "user";

    if (!json_is_string(name) || !name_valid(json_string_value(name)) ||
        strlen(json_string_value(name)) >= sizeof(na->name)) {
        id->host->reply_error(req, 400, "invalid_argument",
                              "\"name\" must be a string of 1 to 64 "
                              "characters without control characters");
        return false;
    }
    if (k == NULL || (strcmp(k, "user") != 0 && strcmp(k, "service") != 0)) {
        id->host->reply_error(req, 400, "invalid_argument",
                              "\"kind\" must be \"user\" or \"service\"");
        return false;
    }
    snprintf(na->name, sizeof(na->name), "%s", json_string_value(name));
    snprintf(na->kind, sizeof(na->kind), "%s", k);
    return true;
}

static void post_users(void *state, struct chatd_req *req)
{
    struct identity *id = state;
    struct new_account *na = NULL;
    json_t *root = parse_body(id, req);

    if (root == NULL)
        return;
    na = calloc(1, sizeof(*na));
    if (na == NULL) {
        id->host->reply_error(req, 500, "internal", "out of memory");
        goto out_free;
    }
    if (!read_account(id, req, root, na))
        goto out_free;
    na->id = id;
    memcpy(na->user_id, "u_", 2);
    if (core_random_hex(na->user_id + 2, 8) != CHATD_OK ||
        new_token(na->token) != CHATD_OK) {
        id->host->reply_error(req, 500, "internal", "no randomness");
        goto out_free;
    }
    id->host->submit(req, create_user_cmd, na, free); /* owns na now */
    na = NULL;
out_free:
    free(na);
    json_decref(root);
}

static int new_token_cmd(void *arg, struct chatd_txn *txn,
                         struct chatd_req *req)
{
    struct new_account *na = arg;
    const struct identity *id = na->id;
    struct chatd_val v;
    int rc;

    if (id->host->get(txn, id->users, na->user_id, strlen(na->user_id), &v) !=
        CHATD_OK) {
        id->host->reply_error(req, 404, "not_found", "no such user");
        return CHATD_OK;
    }
    rc = issue_token(id, txn, na);
    if (rc != CHATD_OK)
        return rc;
    reply_json_value(id, req, 201,
                     json_pack("{s:s, s:s, s:o}", "user_id", na->user_id,
                               "token", na->token, "expires_at",
                               expiry_json(na->expires_ms)));
    return CHATD_OK;
}

static void post_tokens(void *state, struct chatd_req *req)
{
    struct identity *id = state;
    const char *user_id = id->host->req_param(req, "user_id");
    struct new_account *na;

    if (user_id == NULL || strlen(user_id) >= sizeof(na->user_id)) {
        id->host->reply_error(req, 404, "not_found", "no such user");
        return;
    }
    na = calloc(1, sizeof(*na));
    if (na == NULL || new_token(na->token) != CHATD_OK) {
        free(na);
        id->host->reply_error(req, 500, "internal", "cannot make a token");
        return;
    }
    na->id = id;
    snprintf(na->user_id, sizeof(na->user_id), "%s", user_id);
    id->host->submit(req, new_token_cmd, na, free);
}

static void reply_user(const struct identity *id, struct chatd_req *req,
                       const char *user_id, bool full)
{
    struct chatd_txn *txn = id->host->req_txn(req);
    json_t *user = txn && user_id ? stored_user(id, txn, user_id) : NULL;

    if (user == NULL) {
        id->host->reply_error(req, 404, "not_found", "no such user");
        return;
    }
    if (!full)
        json_object_del(user, "created_at");
    reply_json_value(id, req, 200, user);
}

static void get_me(void *state, struct chatd_req *req)
{
    struct identity *id = state;
    struct chatd_principal who = id->host->req_principal(req);

    if (who.kind == CHATD_PRINCIPAL_ADMIN) {
        reply_json_value(id, req, 200,
                         json_pack("{s:s, s:s, s:s}", "id", "admin", "name",
                                   "admin", "kind", "admin"));
        return;
    }
    reply_user(id, req, who.id, true);
}

static void get_user(void *state, struct chatd_req *req)
{
    struct identity *id = state;

    reply_user(id, req, id->host->req_param(req, "user_id"), false);
}

/* --- revocation --- */

/* A tokens index value: "<u|s>:<user id>", then for a token that
 * expires a NUL and its expiry (be64 ms). */
struct token_entry {
    bool service;
    const char *uid; /* into the value, not NUL-terminated */
    size_t uid_len;
    int64_t expires_ms; /* 0: never */
};

static bool token_entry_read(const struct chatd_val *v, struct token_entry *e)
{
    const char *p = v->data, *nul = memchr(p, '\0', v->len);
    size_t len = nul ? (size_t)(nul - p) : v->len;

    if (len < 3 || len - 2 >= HTTP_ID_MAX || (nul && v->len - len != 9))
        return false;
    e->service = p[0] == 's';
    e->uid = p + 2;
    e->uid_len = len - 2;
    e->expires_ms = nul ? (int64_t)core_be64_get((const unsigned char *)nul + 1)
                        : 0;
    return true;
}

/* The token of a revocation or rotation still belongs to its user (it may
 * have gone since it let the request in); else a 401 is set. */
static bool still_mine(const struct identity *id, struct chatd_txn *txn,
                       struct chatd_req *req, const struct revocation *r)
{
    struct chatd_val v;
    struct token_entry e;

    if (id->host->get(txn, id->tokens, r->hash, CRYPTO_SHA256_LEN, &v) ==
            CHATD_OK &&
        token_entry_read(&v, &e) && e.uid_len == strlen(r->user_id) &&
        memcmp(e.uid, r->user_id, e.uid_len) == 0)
        return true;
    id->host->reply_error(req, 401, "unauthenticated",
                          "this token is not valid any more");
    return false;
}

static int revoke_one(const struct identity *id, struct chatd_txn *txn,
                      const char *user_id, const uint8_t *hash)
{
    char hex[2 * CRYPTO_SHA256_LEN + 1];
    char stream[40];

    crypto_hex(hash, CRYPTO_SHA256_LEN, hex);
    snprintf(stream, sizeof(stream), "user:%s", user_id);
    return append_json(id, txn, "identity.token_revoked", stream,
                       CHATD_ANY_VERSION,
                       json_pack("{s:s, s:s}", "user_id", user_id,
                                 "token_sha256", hex),
                       NULL);
}

static int revoke_mine_cmd(void *arg, struct chatd_txn *txn,
                           struct chatd_req *req)
{
    const struct revocation *r = arg;
    const struct identity *id = r->id;

    if (!still_mine(id, txn, req, r))
        return CHATD_OK;
    int rc = revoke_one(id, txn, r->user_id, r->hash);
    if (rc == CHATD_OK)
        id->host->reply_json(req, 204, NULL, 0);
    return rc;
}

/* POST /v1/me/token: a new token for the caller, and the one of this
 * request revoked in the same commit. */
struct rotation {
    struct revocation old;
    struct new_account fresh;
};

static int rotate_mine_cmd(void *arg, struct chatd_txn *txn,
                           struct chatd_req *req)
{
    struct rotation *rot = arg;
    const struct identity *id = rot->old.id;
    int rc;

    if (!still_mine(id, txn, req, &rot->old))
        return CHATD_OK;
    rc = issue_token(id, txn, &rot->fresh);
    if (rc == CHATD_OK)
        rc = revoke_one(id, txn, rot->old.user_id, rot->old.hash);
    if (rc == CHATD_OK)
        reply_json_value(id, req, 201,
                         json_pack("{s:s, s:s, s:o}", "user_id",
                                   rot->fresh.user_id, "token",
                                   rot->fresh.token, "expires_at",
                                   expiry_json(rot->fresh.expires_ms)));
    return rc;
}

static int revoke_all_cmd(void *arg, struct chatd_txn *txn,
                          struct chatd_req *req)
{
    const struct revocation *r = arg;
    const struct identity *id = r->id;
    struct chatd_cursor *cur;
    struct chatd_val k, v;
    uint8_t prefix[HTTP_ID_MAX + 1], (*hashes)[CRYPTO_SHA256_LEN] = NULL;
    size_t plen = strlen(r->user_id) + 1, n = 0, cap = 0;
    int rc;

    if (id->host->get(txn, id->users, r->user_id, strlen(r->user_id), &v) !=
        CHATD_OK) {
        id->host->reply_error(req, 404, "not_found", "no such user");
        return CHATD_OK;
    }
    /* The hashes first: each revocation deletes from the range. */
    memcpy(prefix, r->user_id, plen);
    rc = id->host->cursor_open(txn, id->user_tokens, &cur);
    if (rc != CHATD_OK)
        return rc;
    rc = id->host->cursor_seek(cur, CHATD_SEEK_GE, prefix, plen, &k, &v);
    while (rc == CHATD_OK && k.len == plen + CRYPTO_SHA256_LEN &&
           memcmp(k.data, prefix, plen) == 0) {
        if (n == cap) {
            void *nh = realloc(hashes, (cap = cap ? cap * 2 : 8) *
                                           sizeof(*hashes));
            if (nh == NULL) {
                rc = CHATD_ENOMEM;
                break;
            }
            hashes = nh;
        }
        memcpy(hashes[n++], (const uint8_t *)k.data + plen, CRYPTO_SHA256_LEN);
        rc = id->host->cursor_step(cur, 1, &k, &v);
    }
    id->host->cursor_close(cur);
    if (rc == CHATD_ENOTFOUND)
        rc = CHATD_OK;
    for (size_t i = 0; rc == CHATD_OK && i < n; i++)
        rc = revoke_one(id, txn, r->user_id, hashes[i]);
    free(hashes);
    if (rc == CHATD_OK)
        reply_json_value(id, req, 200,
                         json_pack("{s:s, s:I}", "user_id", r->user_id,
                                   "revoked", (json_int_t)n));
    return rc;
}

/* The token of this request, from its Authorization header. */
static bool bearer_hash(const struct identity *id, struct chatd_req *req,
                        uint8_t *hash)
{
    const char *h = id->host->req_header(req, "Authorization");

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    if (*h == '\0')
        return false;
    crypto_sha256(h, strlen(h), hash);
    return true;
}

/* DELETE and POST /v1/me/token: the caller and the hash of the token of
 * this request into r; false with the answer set (403 for the admin,
 * whose token is configured, not issued; 401 without a bearer token). */
static bool my_token(struct identity *id, struct chatd_req *req,
                     struct revocation *r, const char *what)
{
    struct chatd_principal who = id->host->req_principal(req);
    char msg[64];

    if (who.kind == CHATD_PRINCIPAL_ADMIN) {
        id->host->reply_error(req, 403, "forbidden",
                              "the admin token is configured, not issued: "
                              "change CHATD_ADMIN_TOKEN (or DATA/admin.token) "
                              "and restart instead");
        return false;
    }
    if (who.id == NULL || strlen(who.id) >= sizeof(r->user_id) ||
        !bearer_hash(id, req, r->hash)) {
        snprintf(msg, sizeof(msg), "send the token to %s as the Bearer token",
                 what);
        id->host->reply_error(req, 401, "unauthenticated", msg);
        return false;
    }
    r->id = id;
    snprintf(r->user_id, sizeof(r->user_id), "%s", who.id);
    return true;
}

static void delete_my_token(void *state, struct chatd_req *req)
{
    struct identity *id = state;
    struct revocation *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        id->host->reply_error(req, 500, "internal", "out of memory");
        return;
    }
    if (!my_token(id, req, r, "revoke")) {
        free(r);
        return;
    }
    id->host->submit(req, revoke_mine_cmd, r, free);
}

static void post_my_token(void *state, struct chatd_req *req)
{
    struct identity *id = state;
    struct rotation *rot = calloc(1, sizeof(*rot));

    if (rot == NULL || new_token(rot->fresh.token) != CHATD_OK) {
        free(rot);
        id->host->reply_error(req, 500, "internal", "cannot make a token");
        return;
    }
    if (!my_token(id, req, &rot->old, "replace")) {
        free(rot);
        return;
    }
    rot->fresh.id = id;
    snprintf(rot->fresh.user_id, sizeof(rot->fresh.user_id), "%s",
             rot->old.user_id);
    id->host->submit(req, rotate_mine_cmd, rot, free);
}

static void delete_user_tokens(void *state, struct chatd_req *req)
{
    struct identity *id = state;
    const char *user_id = id->host->req_param(req, "user_id");
    struct revocation *r;

    if (user_id == NULL || strlen(user_id) >= sizeof(r->user_id)) {
        id->host->reply_error(req, 404, "not_found", "no such user");
        return;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        id->host->reply_error(req, 500, "internal", "out of memory");
        return;
    }
    r->id = id;
    snprintf(r->user_id, sizeof(r->user_id), "%s", user_id);
    id->host->submit(req, revoke_all_cmd, r, free);
}

static int put_user(const struct identity *id, struct chatd_txn *txn,
                    const struct chatd_event *ev, const json_t *data)
{
    const char *user_id = json_string_value(json_object_get(data, "id"));
    const char *name = json_string_value(json_object_get(data, "name"));
    const char *kind;
    char when[CORE_TIME_LEN];
    json_t *user;
    char *text;
    int rc;

    if (user_id == NULL || name == NULL)
        return CHATD_EINVAL;
    kind = json_string_value(json_object_get(data, "kind"));
    user = json_pack("{s:s, s:s, s:s, s:s}", "id", user_id, "name", name,
                     "kind", kind ? kind : "user", "created_at",
                     core_format_time(ev->time_ms, when));
    text = user ? json_dumps(user, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(user);
    if (text == NULL)
        return CHATD_ENOMEM;
    rc = id->host->put(txn, id->users, user_id, strlen(user_id), text,
                       strlen(text));
    free(text);
    if (rc == CHATD_OK)
        rc = id->host->put(txn, id->names, name, strlen(name), user_id,
                           strlen(user_id));
    return rc;
}

/* "user_tokens" key: the user's id, a NUL, the token's hash, so a user's
 * tokens are one range. Its length. */
static size_t user_token_key(uint8_t *key, const char *user_id,
                             const uint8_t *hash)
{
    size_t n = strlen(user_id) + 1;

    memcpy(key, user_id, n);
    memcpy(key + n, hash, CRYPTO_SHA256_LEN);
    return n + CRYPTO_SHA256_LEN;
}

/* The {"user_id", "token_sha256"} of identity.token_issued and
 * identity.token_revoked; false if it is not one. */
static bool token_event_read(const json_t *data, const char **user_id,
                             uint8_t *hash)
{
    const char *hex = json_string_value(json_object_get(data, "token_sha256"));

    *user_id = json_string_value(json_object_get(data, "user_id"));
    return *user_id != NULL && strlen(*user_id) < HTTP_ID_MAX && hex != NULL &&
           strlen(hex) == 2 * CRYPTO_SHA256_LEN &&
           crypto_unhex(hex, CRYPTO_SHA256_LEN, hash);
}

/* The token index maps a token hash to "<u|s>:<user id>", followed for
 * a token that expires by a NUL and its expiry (be64 ms), so that
 * authenticating a request is one lookup with no JSON to parse. */
static int put_token(const struct identity *id, struct chatd_txn *txn,
                     const json_t *data)
{
    const char *user_id;
    uint8_t hash[CRYPTO_SHA256_LEN];
    char value[HTTP_ID_MAX + 2 + 1 + 8];
    json_t *user, *exp = json_object_get(data, "expires_at");
    const char *kind;
    size_t n;

    if (!token_event_read(data, &user_id, hash) ||
        (exp != NULL && (!json_is_integer(exp) || json_integer_value(exp) <= 0)))
        return CHATD_EINVAL;
    user = stored_user(id, txn, user_id);
    if (user == NULL)
        return CHATD_EINVAL; /* a token is always issued after its user */
    kind = json_string_value(json_object_get(user, "kind"));
    n = (size_t)snprintf(value, HTTP_ID_MAX + 2, "%c:%s",
                         kind && strcmp(kind, "service") == 0 ? 's' : 'u',
                         user_id);
    json_decref(user);
    if (exp != NULL) {
        value[n++] = '\0';
        core_be64_put((unsigned char *)value + n,
                      (uint64_t)json_integer_value(exp));
        n += 8;
    }
    int rc = id->host->put(txn, id->tokens, hash, sizeof(hash), value, n);
    uint8_t key[HTTP_ID_MAX + 1 + CRYPTO_SHA256_LEN];
    if (rc == CHATD_OK)
        rc = id->host->put(txn, id->user_tokens, key,
                           user_token_key(key, user_id, hash), "", 0);
    return rc;
}

static void note_revoked(struct identity *id, const char *user_id)
{
    id->revoked = true;
    for (size_t i = 0; i < id->nrevoked; i++)
        if (strcmp(id->revoked_users[i], user_id) == 0)
            return;
    if (id->nrevoked == REVOKED_MAX)
        id->revoked_all = true;
    else
        snprintf(id->revoked_users[id->nrevoked++], HTTP_ID_MAX, "%s",
                 user_id);
}

/* identity.token_revoked: the token stops authenticating; the cache
 * forgets it when the transaction has committed (identity_after_commit). */
static int drop_token(struct identity *id, struct chatd_txn *txn,
                      const json_t *data)
{
    const char *user_id;
    uint8_t hash[CRYPTO_SHA256_LEN];
    uint8_t key[HTTP_ID_MAX + 1 + CRYPTO_SHA256_LEN];

    if (!token_event_read(data, &user_id, hash))
        return CHATD_EINVAL;
    int rc = id->host->del(txn, id->tokens, hash, sizeof(hash));
    if (rc == CHATD_OK || rc == CHATD_ENOTFOUND)
        rc = id->host->del(txn, id->user_tokens, key,
                           user_token_key(key, user_id, hash));
    note_revoked(id, user_id);
    return rc == CHATD_ENOTFOUND ? CHATD_OK : rc;
}

static int project_accounts(void *state, struct chatd_txn *txn,
                            const struct chatd_event *ev)
{
    struct identity *id = state;
    json_t *data;
    int rc;

    if (strncmp(ev->type, "identity.", 9) != 0)
        return CHATD_OK;
    data = json_loadb(ev->data, ev->data_len, 0, NULL);
    if (data == NULL)
        return CHATD_EINVAL;
    if (strcmp(ev->type, "identity.user_created") == 0)
        rc = put_user(id, txn, ev, data);
    else if (strcmp(ev->type, "identity.token_issued") == 0)
        rc = put_token(id, txn, data);
    else if (strcmp(ev->type, "identity.token_revoked") == 0)
        rc = drop_token(id, txn, data);
    else
        rc = CHATD_OK;
    json_decref(data);
    return rc;
}

static struct token_slot *cache_slot(struct identity *id, const uint8_t *hash)
{
    uint32_t h;

    memcpy(&h, hash, sizeof(h)); /* a hash: any four bytes are uniform */
    return &id->cache[h & (TOKEN_CACHE_SLOTS - 1)];
}

static bool expired(int64_t expires_ms)
{
    return expires_ms > 0 && core_now_ms() >= expires_ms;
}

/* A hit for an expired token is a miss: the lookup then refuses it. */
static bool cache_get(struct identity *id, const uint8_t *hash,
                      struct http_principal *out)
{
    struct token_slot *slot = cache_slot(id, hash);
    uint64_t gen = atomic_load(&id->cache_gen);
    bool hit;

    pthread_mutex_lock(&id->cache_lock);
    hit = slot->who.kind != CHATD_PRINCIPAL_NONE && slot->gen == gen &&
          crypto_equal(slot->hash, hash, CRYPTO_SHA256_LEN) &&
          !expired(slot->who.expires_ms);
    if (hit)
        *out = slot->who;
    pthread_mutex_unlock(&id->cache_lock);
    return hit;
}

/* gen: the cache's generation read before the lookup began, so a
 * lookup that raced with a revocation's commit is not trusted. */
static void cache_put(struct identity *id, const uint8_t *hash,
                      const struct http_principal *who, uint64_t gen)
{
    struct token_slot *slot = cache_slot(id, hash);

    pthread_mutex_lock(&id->cache_lock);
    memcpy(slot->hash, hash, CRYPTO_SHA256_LEN);
    slot->gen = gen;
    slot->who = *who;
    pthread_mutex_unlock(&id->cache_lock);
}

/* An expired token is an unknown one (CHATD_ENOTFOUND: 401). */
static int token_lookup(struct identity *id, const uint8_t *hash,
                        struct http_principal *out)
{
    struct chatd_txn *txn;
    struct chatd_val v;
    struct token_entry e;
    int rc;

    txn = id->host->read_begin(id->mod);
    if (txn == NULL)
        return CHATD_EIO;
    rc = id->host->get(txn, id->tokens, hash, CRYPTO_SHA256_LEN, &v);
    if (rc == CHATD_OK && !token_entry_read(&v, &e))
        rc = CHATD_EIO;
    if (rc == CHATD_OK && expired(e.expires_ms))
        rc = CHATD_ENOTFOUND;
    if (rc == CHATD_OK) {
        out->kind = e.service ? CHATD_PRINCIPAL_SERVICE : CHATD_PRINCIPAL_USER;
        memcpy(out->id, e.uid, e.uid_len);
        out->id[e.uid_len] = '\0';
        out->expires_ms = e.expires_ms;
    }
    id->host->read_end(txn);
    return rc;
}

int identity_authenticate_hash(void *state, const uint8_t *hash,
                               struct http_principal *out)
{
    struct identity *id = state;
    uint64_t gen = atomic_load(&id->cache_gen);
    int rc;

    if (cache_get(id, hash, out))
        return CHATD_OK;
    rc = token_lookup(id, hash, out);
    if (rc == CHATD_OK)
        cache_put(id, hash, out, gen);
    return rc;
}

void identity_after_commit(void *state,
                           void (*revoked)(void *arg, const char *user_id),
                           void *arg)
{
    struct identity *id = state;

    if (id == NULL || !id->revoked)
        return;
    atomic_fetch_add(&id->cache_gen, 1);
    if (revoked != NULL && id->revoked_all)
        revoked(arg, NULL);
    for (size_t i = 0; revoked != NULL && !id->revoked_all && i < id->nrevoked;
         i++)
        revoked(arg, id->revoked_users[i]);
    id->revoked = id->revoked_all = false;
    id->nrevoked = 0;
}

int identity_authenticate(void *state, const char *token,
                          struct http_principal *out)
{
    uint8_t hash[CRYPTO_SHA256_LEN];

    crypto_sha256(token, strlen(token), hash);
    return identity_authenticate_hash(state, hash, out);
}

static const struct chatd_event_type event_types[] = {
    {"identity.user_created", 1, NULL},
    {"identity.token_issued", 1, NULL},
    {"identity.token_revoked", 1, NULL},
};

static const char *const accounts_stores[] = {"users", "tokens", "names",
                                              "user_tokens", NULL};

static const struct chatd_route routes[] = {
    {"POST", "/v1/users", CHATD_AUTH_ADMIN, post_users},
    {"POST", "/v1/users/{user_id}/tokens", CHATD_AUTH_ADMIN, post_tokens},
    {"GET", "/v1/me", CHATD_AUTH_USER, get_me},
    {"GET", "/v1/users/{user_id}", CHATD_AUTH_USER, get_user},
    {"DELETE", "/v1/me/token", CHATD_AUTH_USER, delete_my_token},
    {"POST", "/v1/me/token", CHATD_AUTH_USER, post_my_token},
    {"DELETE", "/v1/users/{user_id}/tokens", CHATD_AUTH_ADMIN,
     delete_user_tokens},
};

static int register_all(struct identity *id, struct chatd_module *mod)
{
    const struct chatd_host *h = id->host;
    const struct chatd_config_item config[] = {
        {.key = "token_ttl_s", .type = CHATD_CONFIG_INT, .def_int = 0,
         .min = 0, .max = TOKEN_TTL_MAX_S, .target = &id->token_ttl_s},
        {.key = NULL},
    };
    /* version 3: the user_tokens index, for revocations */
    const struct chatd_projection accounts = {"accounts", 3, accounts_stores,
                                              project_accounts};
    size_t i;
    int rc = h->config(mod, config);

    for (i = 0; rc == CHATD_OK &&
                i < sizeof(event_types) / sizeof(event_types[0]);
         i++)
        rc = h->event_type(mod, &event_types[i]);
    if (rc == CHATD_OK)
        rc = h->store(mod, "users", &id->users);
    if (rc == CHATD_OK)
        rc = h->store(mod, "tokens", &id->tokens);
    if (rc == CHATD_OK)
        rc = h->store(mod, "names", &id->names);
    if (rc == CHATD_OK)
        rc = h->store(mod, "user_tokens", &id->user_tokens);
    if (rc == CHATD_OK)
        rc = h->projection(mod, &accounts);
    for (i = 0; rc == CHATD_OK && i < sizeof(routes) / sizeof(routes[0]); i++)
        rc = h->route(mod, &routes[i]);
    return rc;
}

static int identity_init(struct chatd_module *mod, const struct chatd_host *host,
                         void **state)
{
    struct identity *id = calloc(1, sizeof(*id));
    int rc;

    if (id == NULL)
        return CHATD_ENOMEM;
    id->host = host;
    id->mod = mod;
    if (pthread_mutex_init(&id->cache_lock, NULL) != 0) {
        free(id);
        return CHATD_ENOMEM;
    }
    rc = register_all(id, mod);
    if (rc != CHATD_OK) {
        pthread_mutex_destroy(&id->cache_lock);
        free(id);
        return rc;
    }
    *state = id;
    return CHATD_OK;
}

static void identity_fini(void *state)
{
    struct identity *id = state;

    pthread_mutex_destroy(&id->cache_lock);
    free(id);
}

const struct chatd_module_info *identity_module_info(void)
{
    static const struct chatd_module_info info = {
        .size = sizeof(struct chatd_module_info),
        .abi_major = CHATD_ABI_MAJOR,
        .abi_minor = CHATD_ABI_MINOR,
        .abi_tag = CHATD_ABI_TAG,
        .name = "identity",
        .version = PACKAGE_VERSION,
        .description = "users, service accounts and tokens",
        .init = identity_init,
        .fini = identity_fini,
    };
    return &info;
}
