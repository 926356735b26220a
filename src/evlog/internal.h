/*
 * evlog internals — shared by the .c files of src/evlog only. Nothing
 * outside this folder includes it (LMDB types stay in this folder).
 */
#ifndef EVLOG_INTERNAL_H
#define EVLOG_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "evlog/evlog.h"

/* Version of the environment layout, in meta "format". */
#define EVLOG_ENV_FORMAT 1

struct evlog {
    MDB_env *env;
    MDB_dbi log_dbi;
    MDB_dbi streams_dbi;
    MDB_dbi meta_dbi;
    _Atomic uint64_t last_seq;
    bool read_only;
    char epoch[17];
    char *dir;  /* the data directory */
    char *path; /* dir + "/db" */
    pthread_mutex_t stores_lock;
    struct evlog_store *stores; /* owned; freed by evlog_close */
};

struct evlog_store {
    struct evlog_store *next;
    MDB_dbi dbi;
    char name[]; /* "owner/name" */
};

/* A copy of an appended event kept alive until the top-level txn ends, so
 * evlog_append's `out` does not point into a page a later write may move. */
struct evlog_keep {
    struct evlog_keep *next;
    size_t len;
    unsigned char rec[];
};

struct evlog_txn {
    struct evlog *log;
    struct evlog_txn *parent;
    MDB_txn *mdb;
    bool write;
    struct evlog_txn *child; /* live child: LMDB forbids using the parent */
    uint64_t next_seq;     /* write txns: seq the next append gets */
    struct evlog_cursor *cursors; /* open cursors, closed at txn end */
    struct evlog_keep *keep;
};

struct evlog_cursor {
    struct evlog_txn *txn;
    MDB_cursor *mc;
    struct evlog_cursor *prev, *next;
};

/* Maps an LMDB or errno result to a CHATD_* status. */
int evlog_status(int rc);

/* Usable for reads/writes now (not finished, no live child). */
int evlog_txn_check(const struct evlog_txn *txn, bool need_write);

/* --- codec.c --- */

/* Size of the encoded form of `ev` (its strings must be validated). */
size_t evlog_codec_size(const struct chatd_event *ev);
/* Checks the limits of one event to append: CHATD_OK or CHATD_EINVAL. */
int evlog_codec_check(const struct chatd_event *ev);
/* Writes the encoded event into buf (evlog_codec_size bytes). */
void evlog_codec_encode(const struct chatd_event *ev, unsigned char *buf);

/* 8-byte big-endian helpers for keys and values. */

#endif /* EVLOG_INTERNAL_H */
