/*
 * payment_notice — pure logic (logic.h): validation, amounts, idempotency
 * decisions, keys, signatures. Nothing here touches the host.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <nettle/base16.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>

#include "logic.h"

int pn_err_set(struct pn_err *err, unsigned status, const char *code,
               const char *fmt, ...)
{
    va_list ap;

    err->status = status;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

bool pn_id_valid(const char *s)
{
    size_t i;

    if (s == NULL)
        return false;
    for (i = 0; s[i] != '\0'; i++) {
        if (i >= PN_ID_MAX || s[i] <= ' ' || s[i] > '~' || s[i] == '/')
            return false;
    }
    return i > 0;
}

int pn_body_parse(const void *data, size_t len, json_t **out,
                  struct pn_err *err)
{
    json_error_t jerr;
    json_t *v;

    if (data == NULL || len == 0)
        return pn_err_set(err, 400, "invalid_json",
                          "the body is empty; expected a JSON object");
    /* jansson refuses invalid UTF-8 (and NUL) anywhere in the text. */
    v = json_loadb(data, len, JSON_DECODE_ANY, &jerr);
    if (v == NULL)
        return pn_err_set(err, 400, "invalid_json",
                          "the body is not valid JSON: %s", jerr.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return pn_err_set(err, 400, "invalid_argument",
                          "the body must be a JSON object");
    }
    *out = v;
    return 0;
}

int pn_amount_get(const json_t *body, int64_t max, int64_t *out,
                  struct pn_err *err)
{
    const json_t *a = json_object_get(body, "amount");
    json_int_t v;

    if (!json_is_integer(a))
        return pn_err_set(err, 400, "invalid_argument",
                          "\"amount\" must be an integer number of minor "
                          "units");
    v = json_integer_value(a);
    if (v < 1 || v > max)
        return pn_err_set(err, 400, "invalid_argument",
                          "\"amount\" must be from 1 to %lld",
                          (long long)max);
    *out = v;
    return 0;
}

/* The code point starting at s[*i] (valid UTF-8 assumed); advances *i. */
static uint32_t next_cp(const unsigned char *s, size_t len, size_t *i)
{
    uint32_t c = s[(*i)++];
    int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;

    c &= more == 3 ? 0x07 : more == 2 ? 0x0f : more == 1 ? 0x1f : 0x7f;
    while (more-- > 0 && *i < len)
        c = (c << 6) | (s[(*i)++] & 0x3f);
    return c;
}

static bool is_control(uint32_t c, bool multiline)
{
    if (multiline && (c == '\t' || c == '\n' || c == '\r'))
        return false;
    return c < 0x20 || (c >= 0x7f && c < 0xa0) || c == 0x2028 ||
           c == 0x2029;
}

int pn_text_check(const char *field, const char *s, size_t len,
                  size_t max_chars, bool multiline, struct pn_err *err)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, chars = 0;
    bool blank = true;
    uint32_t c;

    while (i < len) {
        c = next_cp(u, len, &i);
        if (is_control(c, multiline))
            return pn_err_set(err, 400, "invalid_argument",
                              "\"%s\" must not contain control characters",
                              field);
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            blank = false;
        chars++;
    }
    if (blank)
        return pn_err_set(err, 400, "invalid_argument",
                          "\"%s\" must not be empty or blank", field);
    if (chars > max_chars)
        return pn_err_set(err, 400, "invalid_argument",
                          "\"%s\" is longer than %zu characters", field,
                          max_chars);
    return 0;
}

int pn_id_get(const json_t *body, const char *field, const char **out,
              struct pn_err *err)
{
    const char *s = json_string_value(json_object_get(body, field));

    if (!pn_id_valid(s))
        return pn_err_set(err, 400, "invalid_argument",
                          "\"%s\" must be 1 to %d printable ASCII "
                          "characters without spaces or '/'",
                          field, PN_ID_MAX);
    *out = s;
    return 0;
}

/* Refuses any key of `body` not in the NULL-terminated `known`. */
static int only_fields(const json_t *body, const char *const *known,
                       struct pn_err *err)
{
    const char *k;
    const json_t *v;
    size_t i;

    json_object_foreach((json_t *)body, k, v) {
        for (i = 0; known[i] != NULL && strcmp(known[i], k) != 0; i++)
            ;
        if (known[i] == NULL)
            return pn_err_set(err, 400, "invalid_argument",
                              "unknown field \"%.60s\"", k);
    }
    return 0;
}

int pn_transfer_parse(const json_t *body, int64_t max_amount,
                      size_t memo_chars, struct pn_transfer_req *out,
                      struct pn_err *err)
{
    static const char *const known[] = {"to", "amount", "memo",
                                        "idempotency_key", NULL};
    const json_t *memo = json_object_get(body, "memo");

    memset(out, 0, sizeof(*out));
    if (only_fields(body, known, err) != 0 ||
        pn_id_get(body, "to", &out->to, err) != 0 ||
        pn_amount_get(body, max_amount, &out->amount, err) != 0 ||
        pn_id_get(body, "idempotency_key", &out->key, err) != 0)
        return -1;
    if (memo == NULL || json_is_null(memo))
        return 0;
    if (!json_is_string(memo))
        return pn_err_set(err, 400, "invalid_argument",
                          "\"memo\" must be a string or null");
    if (pn_text_check("memo", json_string_value(memo),
                      json_string_length(memo), memo_chars, false, err) != 0)
        return -1;
    out->memo = json_string_value(memo);
    return 0;
}

int pn_deposit_parse(const json_t *body, int64_t max_amount, int64_t *amount,
                     const char **key, struct pn_err *err)
{
    static const char *const known[] = {"amount", "idempotency_key", NULL};

    if (only_fields(body, known, err) != 0 ||
        pn_amount_get(body, max_amount, amount, err) != 0 ||
        pn_id_get(body, "idempotency_key", key, err) != 0)
        return -1;
    return 0;
}

/* Copies an optional string field of at most `max` bytes (no control
 * characters) into out. */
static int optional_string(const json_t *body, const char *field,
                           size_t max, json_t *out, struct pn_err *err)
{
    const json_t *v = json_object_get(body, field);

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return pn_err_set(err, 400, "invalid_argument",
                          "\"%s\" must be a string or null", field);
    if (pn_text_check(field, json_string_value(v), json_string_length(v),
                      max, false, err) != 0)
        return -1;
    return json_object_set(out, field, (json_t *)v) == 0
               ? 0
               : pn_err_set(err, 503, "unavailable", "out of memory");
}

static int provider_fields(const json_t *body, json_t *n, struct pn_err *err)
{
    const char *id, *room;
    const json_t *text = json_object_get(body, "text");
    const json_t *amount = json_object_get(body, "amount");

    if (pn_id_get(body, "id", &id, err) != 0 ||
        pn_id_get(body, "room_id", &room, err) != 0)
        return -1;
    if (!json_is_string(text) || json_string_length(text) > PN_TEXT_MAX_BYTES)
        return pn_err_set(err, 400, "invalid_argument",
                          "\"text\" must be a string of at most %d "
                          "characters", PN_TEXT_MAX_CHARS);
    if (pn_text_check("text", json_string_value(text),
                      json_string_length(text), PN_TEXT_MAX_CHARS, true,
                      err) != 0)
        return -1;
    if (amount != NULL && !json_is_null(amount) &&
        (!json_is_integer(amount) || json_integer_value(amount) < 0 ||
         json_integer_value(amount) > PN_BALANCE_MAX))
        return pn_err_set(err, 400, "invalid_argument",
                          "\"amount\" must be an integer >= 0 or null");
    if (json_object_set_new(n, "id", json_string(id)) != 0 ||
        json_object_set_new(n, "room_id", json_string(room)) != 0 ||
        json_object_set(n, "text", (json_t *)text) != 0 ||
        (amount != NULL && !json_is_null(amount) &&
         json_object_set(n, "amount", (json_t *)amount) != 0))
        return pn_err_set(err, 503, "unavailable", "out of memory");
    return 0;
}

int pn_provider_parse(const json_t *body, json_t **out, struct pn_err *err)
{
    static const char *const known[] = {"id",       "room_id", "text",
                                        "amount",   "currency", "status",
                                        "reference", NULL};
    json_t *n = json_object();

    if (n == NULL)
        return pn_err_set(err, 503, "unavailable", "out of memory");
    if (only_fields(body, known, err) != 0 ||
        provider_fields(body, n, err) != 0 ||
        optional_string(body, "currency", 16, n, err) != 0 ||
        optional_string(body, "status", 32, n, err) != 0 ||
        optional_string(body, "reference", PN_ID_MAX, n, err) != 0) {
        json_decref(n);
        return -1;
    }
    *out = n;
    return 0;
}

static bool str_eq(const json_t *v, const char *s)
{
    const char *t = json_string_value(v);

    if (s == NULL)
        return v == NULL || json_is_null(v);
    return t != NULL && strcmp(t, s) == 0;
}

static bool int_eq(const json_t *v, int64_t n)
{
    return json_is_integer(v) && json_integer_value(v) == n;
}

enum pn_idem pn_transfer_idem(const json_t *stored, const char *room,
                              const struct pn_transfer_req *r)
{
    if (str_eq(json_object_get(stored, "room"), room) &&
        str_eq(json_object_get(stored, "to"), r->to) &&
        int_eq(json_object_get(stored, "amount"), r->amount) &&
        str_eq(json_object_get(stored, "memo"), r->memo))
        return PN_IDEM_REPLAY;
    return PN_IDEM_CONFLICT;
}

enum pn_idem pn_deposit_idem(const json_t *stored, const char *user_id,
                             int64_t amount)
{
    if (str_eq(json_object_get(stored, "user_id"), user_id) &&
        int_eq(json_object_get(stored, "amount"), amount))
        return PN_IDEM_REPLAY;
    return PN_IDEM_CONFLICT;
}

enum pn_idem pn_provider_idem(const json_t *stored, const json_t *request)
{
    const char *k;
    const json_t *v;
    size_t n = 0;

    json_object_foreach((json_t *)stored, k, v) {
        if (strcmp(k, "received_at") == 0)
            continue;
        n++;
        if (!json_equal(v, json_object_get(request, k)))
            return PN_IDEM_CONFLICT;
    }
    return n == json_object_size(request) ? PN_IDEM_REPLAY
                                          : PN_IDEM_CONFLICT;
}

size_t pn_amount_format(char *out, int64_t minor, unsigned decimals)
{
    char digits[24], *p = out;
    uint64_t v = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    size_t n, i, whole;

    if (decimals > 6)
        decimals = 6;
    n = (size_t)snprintf(digits, sizeof(digits), "%0*llu", (int)decimals + 1,
                         (unsigned long long)v);
    whole = n - decimals;
    if (minor < 0)
        *p++ = '-';
    for (i = 0; i < whole; i++) {
        if (i > 0 && (whole - i) % 3 == 0)
            *p++ = ',';
        *p++ = digits[i];
    }
    if (decimals > 0) {
        *p++ = '.';
        memcpy(p, digits + whole, decimals);
        p += decimals;
    }
    *p = '\0';
    return (size_t)(p - out);
}

void pn_time_format(char *out, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    char buf[96];
    struct tm tm;
    size_t n;

    gmtime_r(&secs, &tm);
    n = (size_t)snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    /* 24 characters for every year from 1000 to 9999 */
    if (n > 31)
        n = 31;
    memcpy(out, buf, n);
    out[n] = '\0';
}

void pn_be64_put(unsigned char out[8], uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

uint64_t pn_be64_get(const void *p)
{
    const unsigned char *b = p;
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

size_t pn_key2(unsigned char key[PN_KEY2_MAX], const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);

    memcpy(key, a, na);
    key[na] = '\0';
    memcpy(key + na + 1, b, nb);
    return na + 1 + nb;
}

size_t pn_ledger_key(unsigned char key[PN_LEDGER_KEY_MAX], const char *uid,
                     uint64_t entry)
{
    size_t n = strlen(uid);

    memcpy(key, uid, n);
    key[n] = '\0';
    pn_be64_put(key + n + 1, entry);
    return n + 1 + 8;
}

void pn_wallet_encode(unsigned char out[PN_WALLET_LEN],
                      const struct pn_wallet *w)
{
    pn_be64_put(out, (uint64_t)w->balance);
    pn_be64_put(out + 8, w->entries);
}

bool pn_wallet_decode(const void *data, size_t len, struct pn_wallet *w)
{
    if (len != PN_WALLET_LEN)
        return false;
    w->balance = (int64_t)pn_be64_get(data);
    w->entries = pn_be64_get((const unsigned char *)data + 8);
    return w->balance >= 0 && w->balance <= PN_BALANCE_MAX;
}

static void hmac(uint8_t digest[SHA256_DIGEST_SIZE], const char *secret,
                 const void *body, size_t len)
{
    struct hmac_sha256_ctx ctx;

    hmac_sha256_set_key(&ctx, strlen(secret), (const uint8_t *)secret);
    hmac_sha256_update(&ctx, len, body);
    hmac_sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
}

void pn_signature_hex(char out[65], const char *secret, const void *body,
                      size_t len)
{
    uint8_t d[SHA256_DIGEST_SIZE];

    hmac(d, secret, body, len);
    base16_encode_update(out, sizeof(d), d);
    out[BASE16_ENCODE_LENGTH(sizeof(d))] = '\0';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool pn_signature_ok(const char *secret, const void *body, size_t len,
                     const char *sig_hex)
{
    uint8_t want[SHA256_DIGEST_SIZE], got[SHA256_DIGEST_SIZE];
    size_t i;
    int hi, lo;

    if (secret == NULL || sig_hex == NULL)
        return false;
    if (strncmp(sig_hex, "sha256=", 7) == 0)
        sig_hex += 7;
    if (strlen(sig_hex) != 2 * SHA256_DIGEST_SIZE)
        return false;
    for (i = 0; i < SHA256_DIGEST_SIZE; i++) {
        hi = hex_val(sig_hex[2 * i]);
        lo = hex_val(sig_hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        got[i] = (uint8_t)(hi << 4 | lo);
    }
    hmac(want, secret, body, len);
    /* in constant time: the time does not say where they differ */
    return memeql_sec(want, got, SHA256_DIGEST_SIZE) != 0;
}
