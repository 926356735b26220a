/* userfeed against a real LMDB environment in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/core.h"
#include "evlog/evlog.h"
#include "ws/userfeed.h"

struct fx {
    char dir[64];
    struct evlog *log;
    struct userfeed *uf;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct evlog_options o = {0};
    snprintf(f->dir, sizeof f->dir, "/tmp/chatd-uf-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    o.dir = f->dir;
    o.map_size = 64u << 20;
    o.nosync = true;
    assert_int_equal(evlog_open(&f->log, &o), CHATD_OK);
    assert_int_equal(userfeed_open(&f->uf, f->log), CHATD_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    userfeed_close(f->uf);
    evlog_close(f->log);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Appends one event and delivers it to the given users in one txn. */
static uint64_t post(struct fx *f, const char *const *users)
{
    struct evlog_txn *txn;
    struct chatd_event ev = {.size = sizeof ev, .type = "chat.message_posted",
                             .v = 1, .stream = "room:r1", .data = "{}",
                             .data_len = 2};
    struct chatd_event out;
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_append(txn, &ev, CHATD_ANY_VERSION, &out), CHATD_OK);
    for (; *users; users++)
        assert_int_equal(userfeed_deliver(f->uf, txn, *users, out.seq),
                         CHATD_OK);
    assert_int_equal(userfeed_flush(f->uf, txn), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    return out.seq;
}

static uint64_t last_pos(struct fx *f, const char *user)
{
    struct evlog_txn *txn;
    uint64_t pos = 99;
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(userfeed_last_pos(f->uf, txn, user, &pos), CHATD_OK);
    evlog_txn_abort(txn);
    return pos;
}

struct collect {
    uint64_t pos[64], seq[64];
    char user[64][16];
    size_t n;
};

static int collect_entry(void *arg, uint64_t pos, uint64_t seq)
{
    struct collect *c = arg;
    c->pos[c->n] = pos;
    c->seq[c->n++] = seq;
    return 0;
}

static int count_seq(void *arg, uint64_t seq, const char *user,
                     size_t user_len, uint64_t pos)
{
    assert_int_equal(user_len, strlen(user));
    ((struct collect *)arg)->n++;
    return 0;
}

static int collect_seq(void *arg, uint64_t seq, const char *user,
                       size_t user_len, uint64_t pos)
{
    struct collect *c = arg;
    assert_int_equal(user_len, strlen(user));
    c->seq[c->n] = seq;
    c->pos[c->n] = pos;
    snprintf(c->user[c->n++], 16, "%s", user);
    return 0;
}

/* How many deliveries "host/feedseq" holds for event seq. */
static size_t recipients(struct fx *f, uint64_t seq)
{
    struct evlog_txn *txn;
    struct collect c = {0};
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(userfeed_by_seq(f->uf, txn, seq, seq, count_seq, &c),
                     CHATD_OK);
    evlog_txn_abort(txn);
    return c.n;
}

static void test_positions_are_gapless_per_user(void **state)
{
    struct fx *f = *state;
    const char *ab[] = {"alice", "bob", NULL}, *a[] = {"alice", NULL},
               *b[] = {"bob", NULL};
    uint64_t s1 = post(f, ab), s2 = post(f, a), s3 = post(f, b),
             s4 = post(f, ab);
    assert_int_equal(last_pos(f, "alice"), 3);
    assert_int_equal(last_pos(f, "bob"), 3);
    assert_int_equal(last_pos(f, "carol"), 0);

    struct evlog_txn *txn;
    struct collect c = {0};
    size_t n;
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(userfeed_range(f->uf, txn, "alice", 0, 0, collect_entry,
                                    &c, &n),
                     CHATD_OK);
    assert_int_equal(n, 3);
    assert_int_equal(c.pos[0], 1);
    assert_int_equal(c.seq[0], s1);
    assert_int_equal(c.pos[1], 2);
    assert_int_equal(c.seq[1], s2);
    assert_int_equal(c.pos[2], 3);
    assert_int_equal(c.seq[2], s4);
    /* after and max */
    memset(&c, 0, sizeof c);
    assert_int_equal(userfeed_range(f->uf, txn, "bob", 1, 1, collect_entry,
                                    &c, &n),
                     CHATD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(c.pos[0], 2);
    assert_int_equal(c.seq[0], s3);
    /* a user id that is a prefix of another does not see its entries */
    memset(&c, 0, sizeof c);
    assert_int_equal(userfeed_range(f->uf, txn, "bo", 0, 0, collect_entry, &c,
                                    &n),
                     CHATD_OK);
    assert_int_equal(n, 0);
    uint64_t seq;
    assert_int_equal(userfeed_get(f->uf, txn, "bob", 3, &seq), CHATD_OK);
    assert_int_equal(seq, s4);
    assert_int_equal(userfeed_get(f->uf, txn, "bob", 4, &seq),
                     CHATD_ENOTFOUND);
    evlog_txn_abort(txn);
}

static void test_redeliver_is_idempotent(void **state)
{
    struct fx *f = *state;
    const char *a[] = {"alice", NULL};
    uint64_t s1 = post(f, a);
    struct evlog_txn *txn;
    uint64_t pos = 0;
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(userfeed_deliver(f->uf, txn, "alice", s1), CHATD_OK);
    assert_int_equal(userfeed_deliver_pos(f->uf, txn, "alice", s1, &pos),
                     CHATD_OK);
    assert_int_equal(pos, 1);
    assert_int_equal(userfeed_flush(f->uf, txn), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    assert_int_equal(last_pos(f, "alice"), 1);
    assert_int_equal(recipients(f, s1), 1); /* no second record entry */
}

static void test_aborted_child_leaves_nothing(void **state)
{
    struct fx *f = *state;
    const char *a[] = {"alice", NULL};
    uint64_t s1 = post(f, a);
    struct evlog_txn *txn, *child;
    struct chatd_event ev = {.size = sizeof ev, .type = "chat.message_posted",
                             .v = 1, .stream = "room:r1"};
    struct chatd_event out;

    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_txn_child(txn, &child), CHATD_OK);
    assert_int_equal(evlog_append(child, &ev, CHATD_ANY_VERSION, &out),
                     CHATD_OK);
    assert_int_equal(userfeed_deliver(f->uf, child, "alice", out.seq),
                     CHATD_OK);
    assert_int_equal(userfeed_deliver(f->uf, child, "zed", out.seq), CHATD_OK);
    evlog_txn_abort(child);
    /* Feed writes cannot be taken back in the shared transaction: the
     * whole transaction refuses to commit, and nothing of it stays. */
    assert_true(evlog_txn_poisoned(txn));
    assert_int_equal(evlog_txn_commit(txn), EVLOG_EREDO);
    assert_int_equal(last_pos(f, "alice"), 1);
    assert_int_equal(last_pos(f, "zed"), 0);
    /* The redo without that child gets the same positions again. */
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(evlog_txn_child(txn, &child), CHATD_OK);
    assert_int_equal(evlog_append(child, &ev, CHATD_ANY_VERSION, &out),
                     CHATD_OK);
    uint64_t pos;
    assert_int_equal(userfeed_deliver_pos(f->uf, child, "alice", out.seq,
                                          &pos),
                     CHATD_OK);
    assert_int_equal(pos, 2);
    assert_int_equal(evlog_txn_commit(child), CHATD_OK);
    assert_false(evlog_txn_poisoned(txn));
    assert_int_equal(userfeed_flush(f->uf, txn), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    assert_int_equal(last_pos(f, "alice"), 2);
    assert_int_equal(last_pos(f, "zed"), 0);
    assert_int_equal(out.seq, s1 + 1);
    /* the journal of the poisoned txn is gone: "zed" is no recipient */
    assert_int_equal(recipients(f, out.seq), 1);
}

/* Appends one event in txn; its seq. */
static uint64_t append_in(struct evlog_txn *txn)
{
    struct chatd_event ev = {.size = sizeof ev, .type = "chat.message_posted",
                             .v = 1, .stream = "room:r1", .data = "{}",
                             .data_len = 2};
    struct chatd_event out;
    assert_int_equal(evlog_append(txn, &ev, CHATD_ANY_VERSION, &out), CHATD_OK);
    return out.seq;
}

/* Many users fed several times in one txn: more users than the position
 * cache takes at first (it then looks them up in the store), ids that are
 * prefixes of others, a redelivery, and a clear in the middle. */
static void test_many_users_in_one_txn(void **state)
{
    struct fx *f = *state;
    enum { N = 300 };
    char users[N][8];
    struct evlog_txn *txn;
    uint64_t seq[3], pos, got;

    for (int i = 0; i < N; i++)
        snprintf(users[i], sizeof users[i], "u%d", i); /* u1, u10, u100 */
    for (int round = 0; round < 2; round++) {
        assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
        /* two events in the first txn, one in the second */
        for (int k = round ? 2 : 0; k < (round ? 3 : 2); k++) {
            seq[k] = append_in(txn);
            for (int i = 0; i < N; i++) {
                assert_int_equal(userfeed_deliver_pos(f->uf, txn, users[i],
                                                      seq[k], &pos),
                                 CHATD_OK);
                assert_int_equal(pos, (uint64_t)(k + 1));
            }
        }
        /* the same delivery again: the position it got, nothing new */
        assert_int_equal(userfeed_deliver_pos(f->uf, txn, users[7],
                                              seq[round ? 2 : 1], &pos),
                         CHATD_OK);
        assert_int_equal(pos, (uint64_t)(round ? 3 : 2));
        assert_int_equal(userfeed_flush(f->uf, txn), CHATD_OK);
        assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    }
    for (int k = 0; k < 3; k++)
        assert_int_equal(recipients(f, seq[k]), N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(last_pos(f, users[i]), 3);
        assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
        for (uint64_t p = 1; p <= 3; p++) {
            assert_int_equal(userfeed_get(f->uf, txn, users[i], p, &got),
                             CHATD_OK);
            assert_int_equal(got, seq[p - 1]);
        }
        evlog_txn_abort(txn);
    }
    /* cleared and fed again in one txn: positions start over */
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    uint64_t s = append_in(txn);
    assert_int_equal(userfeed_deliver_pos(f->uf, txn, "u1", s, &pos), CHATD_OK);
    assert_int_equal(pos, 4);
    assert_int_equal(userfeed_clear(f->uf, txn), CHATD_OK);
    assert_int_equal(userfeed_deliver_pos(f->uf, txn, "u1", s, &pos), CHATD_OK);
    assert_int_equal(pos, 1);
    assert_int_equal(userfeed_flush(f->uf, txn), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    assert_int_equal(last_pos(f, "u1"), 1);
    assert_int_equal(last_pos(f, "u10"), 0);
    assert_int_equal(recipients(f, s), 1);
}

static void test_seq_index(void **state)
{
    struct fx *f = *state;
    const char *ab[] = {"bob", "alice", NULL}, *b[] = {"bob", NULL};
    uint64_t s1 = post(f, ab), s2 = post(f, b), s3 = post(f, ab);
    struct evlog_txn *txn;
    struct collect c = {0};

    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(userfeed_by_seq(f->uf, txn, s1, s3, collect_seq, &c),
                     CHATD_OK);
    assert_int_equal(c.n, 5);
    /* by seq, then in the order delivered */
    assert_int_equal(c.seq[0], s1);
    assert_string_equal(c.user[0], "bob");
    assert_int_equal(c.pos[0], 1);
    assert_string_equal(c.user[1], "alice");
    assert_int_equal(c.pos[1], 1);
    assert_int_equal(c.seq[2], s2);
    assert_int_equal(c.pos[2], 2);
    assert_int_equal(c.seq[3], s3);
    assert_string_equal(c.user[3], "bob");
    assert_int_equal(c.pos[3], 3);
    assert_string_equal(c.user[4], "alice");
    assert_int_equal(c.pos[4], 2);
    memset(&c, 0, sizeof c);
    assert_int_equal(userfeed_by_seq(f->uf, txn, s2, s2, collect_seq, &c),
                     CHATD_OK);
    assert_int_equal(c.n, 1);
    evlog_txn_abort(txn);
}

/* What userfeed_flush writes: only the deliveries of the txn it is given,
 * nothing from an aborted or discarded one, and not deliveries out of log
 * order; a record that does not decode is an error, not a short list. */
static void test_flush_writes_this_txns_deliveries(void **state)
{
    struct fx *f = *state;
    const char *a[] = {"alice", NULL};
    uint64_t s1 = post(f, a);
    struct evlog_txn *txn;

    /* a txn without deliveries: nothing, not the last txn's again */
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    uint64_t s2 = append_in(txn);
    assert_int_equal(userfeed_flush(f->uf, txn), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    assert_int_equal(recipients(f, s1), 1);
    assert_int_equal(recipients(f, s2), 0);

    /* aborted, then redone with other deliveries */
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    uint64_t s3 = append_in(txn);
    assert_int_equal(userfeed_deliver(f->uf, txn, "bob", s3), CHATD_OK);
    evlog_txn_abort(txn);
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(append_in(txn), s3);
    assert_int_equal(userfeed_deliver(f->uf, txn, "carol", s3), CHATD_OK);
    assert_int_equal(userfeed_flush(f->uf, txn), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    struct collect c = {0};
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(userfeed_by_seq(f->uf, txn, s3, s3, collect_seq, &c),
                     CHATD_OK);
    evlog_txn_abort(txn);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.user[0], "carol");
    assert_int_equal(c.pos[0], 1);

    /* discarded: flush writes nothing */
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    uint64_t s4 = append_in(txn);
    assert_int_equal(userfeed_deliver(f->uf, txn, "dave", s4), CHATD_OK);
    userfeed_discard(f->uf);
    assert_int_equal(userfeed_flush(f->uf, txn), CHATD_OK);
    evlog_txn_abort(txn);

    /* out of log order */
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    uint64_t s5 = append_in(txn), s6 = append_in(txn);
    assert_int_equal(userfeed_deliver(f->uf, txn, "alice", s6), CHATD_OK);
    assert_int_equal(userfeed_deliver(f->uf, txn, "bob", s5), CHATD_OK);
    assert_int_equal(userfeed_flush(f->uf, txn), CHATD_ESTATE);
    evlog_txn_abort(txn);

    /* a record that does not decode */
    struct evlog_store *st;
    unsigned char key[8], bad[] = {5, 'a', 'b'};
    assert_int_equal(evlog_store_open(f->log, "host", "feedseq", &st),
                     CHATD_OK);
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    core_be64_put(key, 999);
    assert_int_equal(evlog_put_kv(txn, st, key, 8, bad, sizeof bad), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    memset(&c, 0, sizeof c);
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(userfeed_by_seq(f->uf, txn, 999, 999, collect_seq, &c),
                     CHATD_EIO);
    evlog_txn_abort(txn);
    assert_int_equal(c.n, 0);
}

/* Delivers `n` events to "alice" (and every third to "bob"), `per_txn[i]`
 * events in the i-th txn (cycling); returns the seqs. */
static void feed_in_txns(struct evlog *log, struct userfeed *uf, int n,
                         const int *per_txn, size_t nper, uint64_t *seqs)
{
    int done = 0;
    for (size_t t = 0; done < n; t++) {
        struct evlog_txn *txn;
        assert_int_equal(evlog_txn_begin(log, true, &txn), CHATD_OK);
        for (int k = 0; k < per_txn[t % nper] && done < n; k++, done++) {
            seqs[done] = append_in(txn);
            assert_int_equal(userfeed_deliver(uf, txn, "alice", seqs[done]),
                             CHATD_OK);
            if (done % 3 == 0)
                assert_int_equal(userfeed_deliver(uf, txn, "bob", seqs[done]),
                                 CHATD_OK);
        }
        uint64_t pos;
        /* the writer's own txn sees what it has not flushed yet */
        assert_int_equal(userfeed_last_pos(uf, txn, "alice", &pos), CHATD_OK);
        assert_int_equal(pos, (uint64_t)done);
        assert_int_equal(userfeed_flush(uf, txn), CHATD_OK);
        assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    }
}

static uint64_t feed_digest(struct evlog *log)
{
    struct evlog_store *st;
    struct evlog_txn *txn;
    uint64_t d = 0;
    assert_int_equal(evlog_store_open(log, "host", "feed", &st), CHATD_OK);
    assert_int_equal(evlog_txn_begin(log, false, &txn), CHATD_OK);
    assert_int_equal(evlog_store_digest(txn, st, &d), CHATD_OK);
    evlog_txn_abort(txn);
    return d;
}

/* Positions are stored 128 to a record: every position reads back, ranges
 * cross records, and the records are the same bytes whether the
 * deliveries came in one transaction or in many of any size (a rebuild
 * must equal the live feed). A record that does not decode is an error. */
static void test_records_of_positions(void **state)
{
    struct fx *f = *state;
    enum { N = 300 };
    static const int one[] = {N}, mixed[] = {1, 7, 128, 2, 64, 3, 127, 5};
    uint64_t seqs[N], other[N], pos, seq;
    struct evlog_txn *txn;

    feed_in_txns(f->log, f->uf, N, one, 1, seqs);
    assert_int_equal(last_pos(f, "alice"), N);
    assert_int_equal(last_pos(f, "bob"), (N + 2) / 3);

    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    for (uint64_t p = 1; p <= N; p++) {
        assert_int_equal(userfeed_get(f->uf, txn, "alice", p, &seq), CHATD_OK);
        assert_int_equal(seq, seqs[p - 1]);
    }
    assert_int_equal(userfeed_get(f->uf, txn, "alice", N + 1, &seq),
                     CHATD_ENOTFOUND);
    assert_int_equal(userfeed_get(f->uf, txn, "alice", 0, &seq),
                     CHATD_ENOTFOUND);
    /* ranges that start inside a record and cross into the next ones */
    static const uint64_t afters[] = {0, 1, 127, 128, 129, 200, 255, 256, 299};
    for (size_t a = 0; a < sizeof afters / sizeof *afters; a++) {
        struct collect c = {0};
        size_t n;
        assert_int_equal(userfeed_range(f->uf, txn, "alice", afters[a], 60,
                                        collect_entry, &c, &n),
                         CHATD_OK);
        size_t want = N - afters[a] < 60 ? N - afters[a] : 60;
        assert_int_equal(n, want);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(c.pos[i], afters[a] + 1 + i);
            assert_int_equal(c.seq[i], seqs[afters[a] + i]);
        }
    }
    evlog_txn_abort(txn);

    /* the same deliveries in many transactions of many sizes */
    char dir[64];
    struct evlog_options o = {0};
    struct evlog *log2;
    struct userfeed *uf2;
    snprintf(dir, sizeof dir, "/tmp/chatd-uf-XXXXXX");
    assert_non_null(mkdtemp(dir));
    o.dir = dir;
    o.map_size = 64u << 20;
    o.nosync = true;
    assert_int_equal(evlog_open(&log2, &o), CHATD_OK);
    assert_int_equal(userfeed_open(&uf2, log2), CHATD_OK);
    feed_in_txns(log2, uf2, N, mixed, sizeof mixed / sizeof *mixed, other);
    assert_memory_equal(other, seqs, sizeof seqs); /* the same log */
    assert_int_equal(feed_digest(log2), feed_digest(f->log));
    userfeed_close(uf2);
    evlog_close(log2);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);

    /* a record whose length is not whole positions */
    struct evlog_store *st;
    unsigned char key[16] = "carol", bad[12] = {0};
    assert_int_equal(evlog_store_open(f->log, "host", "feed", &st), CHATD_OK);
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    core_be64_put(key + 6, 1);
    assert_int_equal(evlog_put_kv(txn, st, key, 14, bad, sizeof bad), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(userfeed_last_pos(f->uf, txn, "carol", &pos), CHATD_EIO);
    evlog_txn_abort(txn);
}

static void test_clear_and_bad_arguments(void **state)
{
    struct fx *f = *state;
    const char *a[] = {"alice", NULL};
    post(f, a);
    struct evlog_txn *txn;
    char longid[USERFEED_USER_MAX + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = 0;

    assert_int_equal(evlog_txn_begin(f->log, false, &txn), CHATD_OK);
    assert_int_equal(userfeed_deliver(f->uf, txn, "alice", 1), CHATD_ESTATE);
    evlog_txn_abort(txn);
    assert_int_equal(evlog_txn_begin(f->log, true, &txn), CHATD_OK);
    assert_int_equal(userfeed_deliver(f->uf, txn, "", 1), CHATD_EINVAL);
    assert_int_equal(userfeed_deliver(f->uf, txn, longid, 1), CHATD_EINVAL);
    assert_int_equal(userfeed_deliver(f->uf, txn, "alice", 0), CHATD_EINVAL);
    assert_int_equal(userfeed_clear(f->uf, txn), CHATD_OK);
    assert_int_equal(evlog_txn_commit(txn), CHATD_OK);
    assert_int_equal(last_pos(f, "alice"), 0);
}

static void test_be64(void **state)
{
    unsigned char b[8];
    core_be64_put(b, 0x0102030405060708ull);
    assert_int_equal(b[0], 1);
    assert_int_equal(b[7], 8);
    assert_true(core_be64_get(b) == 0x0102030405060708ull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_positions_are_gapless_per_user,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_redeliver_is_idempotent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_aborted_child_leaves_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_seq_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_users_in_one_txn, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_flush_writes_this_txns_deliveries,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_of_positions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_clear_and_bad_arguments, setup,
                                        teardown),
        cmocka_unit_test(test_be64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
