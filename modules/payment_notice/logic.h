/*
 * payment_notice — the module's pure logic: no host, no storage, no
 * threads. Validation of request fields, amounts and their display, the
 * idempotency decision, store key layouts, and the HMAC check of provider
 * notices. Unit-tested on its own (tests/test_logic.c).
 *
 * Every function is reentrant and may be called from any thread.
 */
#ifndef PAYMENT_NOTICE_LOGIC_H
#define PAYMENT_NOTICE_LOGIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PN_ID_MAX 100 /* ids and idempotency keys: 1..100 bytes */
/* The largest balance a wallet may hold: 2^53 - 1, the largest integer
 * every JSON client reads exactly. */
#define PN_BALANCE_MAX INT64_C(9007199254740991)
#define PN_TEXT_MAX_BYTES 4096 /* provider notice text, before the chars */
#define PN_TEXT_MAX_CHARS 1000 /* provider notice text, code points */

/* A failed check: the HTTP status, a stable code and a sentence. */
struct pn_err {
    unsigned status;
    const char *code;
    char message[160];
};

/* Always returns -1 (so `return pn_err_set(...)` reads as a failure). */
int pn_err_set(struct pn_err *err, unsigned status, const char *code,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* An id (user, room, transfer, provider notice) or an idempotency key:
 * 1..PN_ID_MAX printable ASCII characters, no space and no '/'. NULL is
 * not valid. */
bool pn_id_valid(const char *s);

/* Parses a request body: non-empty, a JSON object. 0 or -1 with *err. */
int pn_body_parse(const void *data, size_t len, json_t **out,
                  struct pn_err *err);

/* body["amount"]: a JSON integer in 1..max. 0 or -1 with *err (400). */
int pn_amount_get(const json_t *body, int64_t max, int64_t *out,
                  struct pn_err *err);

/* A text field of at most max_chars code points (0 < max), not blank and
 * without control characters (tab, LF and CR allowed only if multiline).
 * `s` is UTF-8 as jansson hands it over (already valid). 0 or -1. */
int pn_text_check(const char *field, const char *s, size_t len,
                  size_t max_chars, bool multiline, struct pn_err *err);

/* body[field] as a valid id / key; `what` names it in the message. */
int pn_id_get(const json_t *body, const char *field, const char **out,
              struct pn_err *err);

/* The transfer request a POST /v1/rooms/{id}/transfers body describes. */
struct pn_transfer_req {
    const char *to;     /* borrowed from the body */
    int64_t amount;
    const char *memo;   /* NULL when absent or null */
    const char *key;    /* idempotency_key */
};

/* Checks every field of a transfer body; unknown fields are refused so a
 * typo ("ammount") is not silently ignored. 0 or -1 with *err. */
int pn_transfer_parse(const json_t *body, int64_t max_amount,
                      size_t memo_chars, struct pn_transfer_req *out,
                      struct pn_err *err);

/* The same for a deposit body {"amount", "idempotency_key"}. */
int pn_deposit_parse(const json_t *body, int64_t max_amount, int64_t *amount,
                     const char **key, struct pn_err *err);

/* A provider notice body {"id", "room_id", "text", "amount"?,
 * "currency"?, "status"?, "reference"?} normalised into a new object with
 * exactly the given fields (*out, json_decref). 0 or -1 with *err. */
int pn_provider_parse(const json_t *body, json_t **out, struct pn_err *err);

/* Idempotency: what a retried request with a key already used gets. */
enum pn_idem {
    PN_IDEM_REPLAY = 1,   /* same request: answer the stored result */
    PN_IDEM_CONFLICT = 2, /* another request with the same key: 409 */
};

/* A retried transfer: `stored` is the transfer object as the API shows
 * it; replay only when room, to, amount and memo all match. */
enum pn_idem pn_transfer_idem(const json_t *stored, const char *room,
                              const struct pn_transfer_req *r);
/* A retried deposit: replay only when user_id and amount match. */
enum pn_idem pn_deposit_idem(const json_t *stored, const char *user_id,
                             int64_t amount);
/* A retried provider notice: replay when every field of the normalised
 * request equals the stored notice's (its received_at aside). */
enum pn_idem pn_provider_idem(const json_t *stored, const json_t *request);

/* "5,000" for (5000, 0), "1,234.56" for (123456, 2), "-0.05" for (-5, 2):
 * an amount in minor units with thousands separators. Returns the length
 * written; `out` holds at least PN_AMOUNT_TEXT_MAX bytes. */
#define PN_AMOUNT_TEXT_MAX 40
size_t pn_amount_format(char *out, int64_t minor, unsigned decimals);

/* RFC 3339 UTC with milliseconds: "2026-11-22T19:05:40.123Z". `out`
 * holds at least 32 bytes. */
void pn_time_format(char *out, int64_t ms);

/* --- store keys: numbers big-endian so that byte order is numeric --- */
void pn_be64_put(unsigned char out[8], uint64_t v);
uint64_t pn_be64_get(const void *p);
#define PN_KEY2_MAX (2 * PN_ID_MAX + 1)
/* a \0 b into key; returns its length. Both valid ids. */
size_t pn_key2(unsigned char key[PN_KEY2_MAX], const char *a, const char *b);
#define PN_LEDGER_KEY_MAX (PN_ID_MAX + 1 + 8)
/* uid \0 be64(entry) into key; returns its length. */
size_t pn_ledger_key(unsigned char key[PN_LEDGER_KEY_MAX], const char *uid,
                     uint64_t entry);

/* A wallet record: be64 balance, be64 number of ledger entries. */
#define PN_WALLET_LEN 16
struct pn_wallet {
    int64_t balance;
    uint64_t entries;
};
void pn_wallet_encode(unsigned char out[PN_WALLET_LEN],
                      const struct pn_wallet *w);
/* false if `len` is not PN_WALLET_LEN or the balance is out of range. */
bool pn_wallet_decode(const void *data, size_t len, struct pn_wallet *w);

/* --- provider notices: HMAC-SHA256 of the raw body, hex --- */

/* True when `sig_hex` (64 hex digits, either case, optionally prefixed
 * "sha256=") is HMAC-SHA256(secret, body). The comparison takes the same
 * time wherever the digests differ. NULL or malformed: false. */
bool pn_signature_ok(const char *secret, const void *body, size_t len,
                     const char *sig_hex);
/* HMAC-SHA256(secret, body) as 64 lowercase hex digits and a NUL. */
void pn_signature_hex(char out[65], const char *secret, const void *body,
                      size_t len);

#endif /* PAYMENT_NOTICE_LOGIC_H */
