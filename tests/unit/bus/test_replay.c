/*
 * Replay: a projection rebuilt from the log, into the same environment and
 * into a scratch one, gives the same store digests as the live run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../evlog/testdir.h"
#include "bus/replay.h"

#define N_EVENTS 2500

struct proj {
    struct evlog_store *counts; /* stream -> number of events */
    struct evlog_store *types;  /* seq -> type */
    bool use_child;             /* apply through a child txn */
    uint64_t fail_at;           /* fail on this seq (0 = never) */
    unsigned chunk_ends;        /* calls with ev NULL */
    uint64_t since_end;         /* events since the last of them */
};

static void be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static int project_into(const struct proj *p, struct evlog_txn *txn,
                        const struct chatd_event *ev)
{
    struct chatd_val v;
    unsigned char buf[8], key[8];
    uint64_t n = 0;
    int rc = evlog_get_kv(txn, p->counts, ev->stream, strlen(ev->stream), &v);

    if (rc == CHATD_OK && v.len == 8)
        for (int i = 0; i < 8; i++)
            n = n << 8 | ((const unsigned char *)v.data)[i];
    else if (rc != CHATD_ENOTFOUND)
        return rc;
    be64(buf, n + 1);
    rc = evlog_put_kv(txn, p->counts, ev->stream, strlen(ev->stream), buf, 8);
    if (rc != CHATD_OK)
        return rc;
    be64(key, ev->seq);
    return evlog_put_kv(txn, p->types, key, 8, ev->type, strlen(ev->type));
}

static int project(void *ctx, struct evlog_txn *txn,
                   const struct chatd_event *ev)
{
    struct proj *p = ctx;
    struct evlog_txn *child;
    int rc;

    if (ev == NULL) { /* the chunk's end: never twice, never empty */
        assert_true(p->since_end > 0);
        p->since_end = 0;
        p->chunk_ends++;
        return CHATD_OK;
    }
    p->since_end++;
    if (p->fail_at && ev->seq == p->fail_at)
        return CHATD_EREJECTED;
    if (!p->use_child)
        return project_into(p, txn, ev);
    rc = evlog_txn_child(txn, &child);
    if (rc != CHATD_OK)
        return rc;
    rc = project_into(p, child, ev);
    if (rc != CHATD_OK) {
        evlog_txn_abort(child);
        return rc;
    }
    return evlog_txn_commit(child);
}

struct env {
    char *dir;
    struct evlog *log;
    struct proj p;
};

static void env_open(struct env *e)
{
    struct evlog_options opt = {.map_size = 64u << 20, .nosync = true};

    *e = (struct env){0};
    e->dir = testdir_make();
    opt.dir = e->dir;
    assert_int_equal(evlog_open(&e->log, &opt), CHATD_OK);
    assert_int_equal(evlog_store_open(e->log, "proj", "counts", &e->p.counts),
                     CHATD_OK);
    assert_int_equal(evlog_store_open(e->log, "proj", "types", &e->p.types),
                     CHATD_OK);
}

static void env_close(struct env *e)
{
    evlog_close(e->log);
    testdir_remove(e->dir);
}

/* The live path: append and project in the same txn, 50 per commit. */
static void fill_live(struct env *e)
{
    static const char *const types[] = {"chat.message_posted",
                                        "chat.room_created", "pay.paid"};
    char stream[32], data[64];
    struct evlog_txn *txn = NULL;
    struct chatd_event out;

    for (int i = 0; i < N_EVENTS; i++) {
        if (i % 50 == 0)
            assert_int_equal(evlog_txn_begin(e->log, true, &txn), CHATD_OK);
        snprintf(stream, sizeof stream, "room:%d", (i * 7) % 13);
        snprintf(data, sizeof data, "{\"i\":%d}", i);
        struct chatd_event ev = {.type = types[i % 3], .stream = stream,
                                 .data = data, .data_len = strlen(data)};
        assert_int_equal(evlog_append(txn, &ev, CHATD_ANY_VERSION, &out),
                         CHATD_OK);
        assert_int_equal(project(&e->p, txn, &out), CHATD_OK);
        if (i % 50 == 49)
            assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    }
}

static void digests(struct env *e, uint64_t out[2])
{
    struct evlog_txn *txn;

    assert_int_equal(evlog_txn_begin(e->log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_store_digest(txn, e->p.counts, &out[0]), CHATD_OK);
    assert_int_equal(evlog_store_digest(txn, e->p.types, &out[1]), CHATD_OK);
    evlog_txn_abort(txn);
}

static void clear(struct env *e)
{
    struct evlog_txn *txn;

    assert_int_equal(evlog_txn_begin(e->log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_store_clear(txn, e->p.counts), CHATD_OK);
    assert_int_equal(evlog_store_clear(txn, e->p.types), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
}

static void test_replay_same_env(void **state)
{
    struct env e;
    uint64_t live[2], again[2], empty[2], n = 0;

    env_open(&e);
    fill_live(&e);
    digests(&e, live);
    clear(&e);
    digests(&e, empty);
    assert_int_not_equal(empty[0], live[0]);
    assert_int_equal(replay_run(e.log, e.log, 0, 7, project, &e.p, &n),
                     CHATD_OK);
    assert_int_equal(n, N_EVENTS);
    assert_int_equal(e.p.chunk_ends, (N_EVENTS + 6) / 7); /* one per chunk */
    digests(&e, again);
    assert_int_equal(again[0], live[0]);
    assert_int_equal(again[1], live[1]);
    assert_int_equal(evlog_last_seq(e.log), N_EVENTS); /* log untouched */

    /* Again with the default chunk and a child txn per event. */
    clear(&e);
    e.p.use_child = true;
    assert_int_equal(replay_run(e.log, e.log, 0, 0, project, &e.p, &n),
                     CHATD_OK);
    assert_int_equal(n, N_EVENTS);
    digests(&e, again);
    assert_int_equal(again[0], live[0]);
    assert_int_equal(again[1], live[1]);
    env_close(&e);
}

static void test_replay_scratch_env(void **state)
{
    struct env src, dst;
    uint64_t live[2], scratch[2], n = 0;

    env_open(&src);
    env_open(&dst);
    fill_live(&src);
    digests(&src, live);
    assert_int_equal(replay_run(src.log, dst.log, 0, 300, project, &dst.p,
                                &n),
                     CHATD_OK);
    assert_int_equal(n, N_EVENTS);
    digests(&dst, scratch);
    assert_int_equal(scratch[0], live[0]);
    assert_int_equal(scratch[1], live[1]);
    assert_int_equal(evlog_last_seq(dst.log), 0); /* only stores written */

    /* A digest that differs is noticed: drop one event's effect. */
    clear(&dst);
    assert_int_equal(replay_run(src.log, dst.log, 1, 0, project, &dst.p, &n),
                     CHATD_OK);
    assert_int_equal(n, N_EVENTS - 1);
    digests(&dst, scratch);
    assert_int_not_equal(scratch[0], live[0]);
    assert_int_not_equal(scratch[1], live[1]);
    env_close(&dst);
    env_close(&src);
}

static void test_replay_error_keeps_committed_chunks(void **state)
{
    struct env src, dst;
    uint64_t n = 0;
    struct chatd_val v;
    struct evlog_txn *txn;
    unsigned char key[8];

    env_open(&src);
    env_open(&dst);
    fill_live(&src);
    dst.p.fail_at = 1234;
    assert_int_equal(replay_run(src.log, dst.log, 0, 100, project, &dst.p,
                                &n),
                     CHATD_EREJECTED);
    assert_int_equal(n, 1200); /* 12 whole chunks; the 13th rolled back */
    assert_int_equal(evlog_txn_begin(dst.log, false, &txn), CHATD_OK);
    be64(key, 1200);
    assert_int_equal(evlog_get_kv(txn, dst.p.types, key, 8, &v), CHATD_OK);
    be64(key, 1201);
    assert_int_equal(evlog_get_kv(txn, dst.p.types, key, 8, &v),
                     CHATD_ENOTFOUND);
    evlog_txn_abort(txn);

    /* Resuming after the committed part finishes the job. */
    dst.p.fail_at = 0;
    assert_int_equal(replay_run(src.log, dst.log, 1200, 100, project, &dst.p,
                                &n),
                     CHATD_OK);
    assert_int_equal(n, N_EVENTS - 1200);
    uint64_t a[2], b[2];
    digests(&src, a);
    digests(&dst, b);
    assert_int_equal(a[0], b[0]);
    assert_int_equal(a[1], b[1]);
    assert_int_equal(replay_run(src.log, dst.log, 0, 0, NULL, NULL, &n),
                     CHATD_EINVAL);
    env_close(&dst);
    env_close(&src);
}

static void test_replay_empty_log(void **state)
{
    struct env e;
    uint64_t n = 99;

    env_open(&e);
    assert_int_equal(replay_run(e.log, e.log, 0, 0, project, &e.p, &n),
                     CHATD_OK);
    assert_int_equal(n, 0);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_same_env),
        cmocka_unit_test(test_replay_scratch_env),
        cmocka_unit_test(test_replay_error_keeps_committed_chunks),
        cmocka_unit_test(test_replay_empty_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
