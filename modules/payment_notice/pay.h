/*
 * payment_notice — the module's private header: its state, its stores and
 * the functions its files share (README.md is the long description).
 *
 * Threads: routes run on the HTTP thread, commands and the projection on
 * the writer thread. struct pn is read-only after init (metrics go
 * through the host, which makes them thread-safe), so no lock is needed.
 */
#ifndef PAYMENT_NOTICE_PAY_H
#define PAYMENT_NOTICE_PAY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "chatd/module.h"
#include "logic.h"

#define PN_TYPE_DEPOSIT "payment_notice.deposit_made"
#define PN_TYPE_TRANSFER "payment_notice.transfer_completed"
#define PN_TYPE_REFUND "payment_notice.transfer_refunded"
#define PN_TYPE_PROVIDER "payment_notice.provider_notice_received"

/* The stores, each "payment_notice/<name>", all written by the one
 * projection "ledger" (README.md, "Stores", has the layouts). */
struct pn_stores {
    struct chatd_store *users;     /* uid -> u8 is_user, name */
    struct chatd_store *rooms;     /* room -> "1" */
    struct chatd_store *members;   /* room \0 uid -> "1" */
    struct chatd_store *wallets;   /* uid -> be64 balance, be64 entries */
    struct chatd_store *ledger;    /* uid \0 be64(entry) -> entry JSON */
    struct chatd_store *deposits;  /* deposit id -> deposit JSON */
    struct chatd_store *dep_idem;  /* idempotency key -> deposit id */
    struct chatd_store *transfers; /* transfer id -> transfer JSON */
    struct chatd_store *xfer_idem; /* from \0 key -> transfer id */
    struct chatd_store *notices;   /* provider id -> notice JSON */
};

struct pn {
    struct chatd_module *mod;
    const struct chatd_host *host;
    struct pn_stores st;
    const char *currency;      /* payment_notice.currency */
    int64_t max_amount;        /* payment_notice.max_amount */
    int64_t max_memo_chars;    /* payment_notice.max_memo_chars */
    int64_t decimals;          /* payment_notice.decimals (display only) */
    const char *secret_conf;   /* payment_notice.provider_secret */
    const char *secret;        /* the environment's, else secret_conf;
                                  NULL: provider notices are off (503) */
    struct chatd_metric *m_deposits, *m_transfers, *m_refunds, *m_notices,
        *m_rejected;
};

/* --- project.c: the inline projection "ledger" --- */
int pn_project(void *state, struct chatd_txn *txn,
               const struct chatd_event *ev);

/* --- store.c: keyed reads shared by commands, routes and projection --- */
/* The value under key, or CHATD_ENOTFOUND / a storage error. */
int pn_get(const struct pn *p, struct chatd_txn *txn,
           const struct chatd_store *st, const void *key, size_t klen,
           struct chatd_val *out);
/* A stored JSON object (json_decref), CHATD_ENOTFOUND, or an error. */
int pn_get_json(const struct pn *p, struct chatd_txn *txn,
                const struct chatd_store *st, const char *key, json_t **out);
/* The wallet (all zero when the user never had money). */
int pn_wallet_get(const struct pn *p, struct chatd_txn *txn, const char *uid,
                  struct pn_wallet *w);
/* Whether uid is a member of room, per the chat events seen. */
int pn_is_member(const struct pn *p, struct chatd_txn *txn, const char *room,
                 const char *uid, bool *out);
/* The user's name into out (its id when unknown); is_user false for
 * service accounts and unknown ids. CHATD_ENOTFOUND when unknown. */
int pn_user_get(const struct pn *p, struct chatd_txn *txn, const char *uid,
                char *out, size_t cap, bool *is_user);
/* Appends one event of this module with `data` (a JSON object). */
int pn_append(const struct pn *p, struct chatd_txn *txn, const char *type,
              const char *stream, uint64_t expected_ver, const json_t *data);

/* --- req.c: request plumbing --- */
/* The calling user's id, or NULL after answering 403 (service, admin). */
const char *pn_req_user(const struct pn *p, struct chatd_req *req);
/* Parses the body; NULL after answering 400. */
json_t *pn_req_body(const struct pn *p, struct chatd_req *req);
void pn_reply_err(const struct pn *p, struct chatd_req *req,
                  const struct pn_err *err);
/* Answers the stored JSON under key with `status`; 500 if it is gone. */
int pn_reply_stored(const struct pn *p, struct chatd_txn *txn,
                    struct chatd_req *req, const struct chatd_store *st,
                    const char *key, unsigned status);
/* Logs a storage error and answers 500; returns status (never OK). */
int pn_reply_storage(const struct pn *p, struct chatd_req *req, int status,
                     const char *what);
/* A new random id "<prefix><16 hex>" (buf holds 24 bytes). */
int pn_new_id(char *buf, const char *prefix);
/* A zeroed command argument of `size` bytes, or NULL with a 503 answered. */
void *pn_cmd_new(const struct pn *p, struct chatd_req *req, size_t size);
/* Answers `v` as compact JSON (and drops the reference), or 503 when it
 * is NULL or cannot be written. */
void pn_reply_json(const struct pn *p, struct chatd_req *req,
                   unsigned status, json_t *v);

/* --- wallet.c: deposits, the wallet and its history --- */
void pn_route_deposit(void *state, struct chatd_req *req);
void pn_route_wallet(void *state, struct chatd_req *req);
void pn_route_history(void *state, struct chatd_req *req);

/* --- transfer.c: transfers and refunds --- */
void pn_route_transfer(void *state, struct chatd_req *req);
void pn_route_transfer_get(void *state, struct chatd_req *req);
void pn_route_refund(void *state, struct chatd_req *req);

/* --- provider.c: signed notices from an external payment provider --- */
void pn_route_provider_notice(void *state, struct chatd_req *req);

#endif /* PAYMENT_NOTICE_PAY_H */
