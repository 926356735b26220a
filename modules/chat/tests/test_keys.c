/* Unit tests of modules/chat/keys.c: key layouts, their byte order (the
 * stores compare with memcmp), member records and the inbox cursor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chatd/module.h"
#include "keys.h"
#include "validate.h"

/* memcmp order of two keys, as the store sees them. */
static int key_cmp(const struct chat_key *a, const struct chat_key *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->b, b->b, n);

    if (c != 0)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

static void test_be64(void **state)
{
    static const uint64_t v[] = {0, 1, 255, 256, 65535, 1ULL << 32,
                                 (1ULL << 56) + 3, UINT64_MAX - 1, UINT64_MAX};
    unsigned char a[8], b[8];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        chat_be64_put(a, v[i]);
        assert_true(chat_be64_get(a) == v[i]);
        if (i > 0) {
            chat_be64_put(b, v[i - 1]);
            assert_true(memcmp(b, a, 8) < 0); /* byte order = numeric order */
        }
    }
    chat_be64_put(a, 0x0102030405060708ULL);
    assert_memory_equal(a, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
}

static void test_message_order(void **state)
{
    static const uint64_t seqs[] = {1, 2, 9, 10, 255, 256, 1000, 65536,
                                    1ULL << 40};
    struct chat_key prev, k, prefix, other;
    uint64_t seq;
    size_t i;

    (void)state;
    assert_int_equal(chat_key_prefix(&prefix, "r_ab"), CHATD_OK);
    assert_int_equal(prefix.len, 5);
    for (i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
        assert_int_equal(chat_key_message(&k, "r_ab", seqs[i]), CHATD_OK);
        assert_true(chat_key_has_prefix(k.b, k.len, &prefix));
        assert_int_equal(chat_key_message_seq(k.b, k.len, prefix.len, &seq),
                         CHATD_OK);
        assert_true(seq == seqs[i]);
        if (i > 0)
            assert_true(key_cmp(&prev, &k) < 0);
        prev = k;
    }
    /* a room whose id extends this one's is never inside its prefix */
    assert_int_equal(chat_key_message(&other, "r_abc", 1), CHATD_OK);
    assert_false(chat_key_has_prefix(other.b, other.len, &prefix));
    assert_int_equal(chat_key_message_seq(k.b, k.len - 1, prefix.len, &seq),
                     CHATD_EINVAL);
}

static void test_member_keys(void **state)
{
    struct chat_key prefix, k, other;
    const char *uid;
    size_t len;

    (void)state;
    chat_key_prefix(&prefix, "r_1");
    assert_int_equal(chat_key_pair(&k, "r_1", "u_42"), CHATD_OK);
    assert_memory_equal(k.b, "r_1\0u_42", 8);
    assert_int_equal(k.len, 8);
    assert_true(chat_key_has_prefix(k.b, k.len, &prefix));
    assert_int_equal(chat_key_member_uid(k.b, k.len, prefix.len, &uid, &len),
                     CHATD_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(uid, "u_42", 4);
    chat_key_pair(&other, "r_10", "u_42");
    assert_false(chat_key_has_prefix(other.b, other.len, &prefix));
    assert_int_equal(chat_key_member_uid(prefix.b, prefix.len, prefix.len, &uid,
                                         &len),
                     CHATD_EINVAL);
}

static void test_inbox_order(void **state)
{
    struct chat_key newer, older, prefix, after, beyond;
    const char *room;
    uint64_t act;
    size_t len;

    (void)state;
    chat_key_prefix(&prefix, "u_1");
    chat_key_inbox(&newer, "u_1", 500, "r_z");
    chat_key_inbox(&older, "u_1", 499, "r_a");
    /* most recent activity first, whatever the room ids */
    assert_true(key_cmp(&newer, &older) < 0);
    assert_true(chat_key_has_prefix(newer.b, newer.len, &prefix));
    assert_int_equal(chat_key_inbox_decode(newer.b, newer.len, prefix.len,
                                           &act, &room, &len),
                     CHATD_OK);
    assert_int_equal(act, 500);
    assert_int_equal(len, 3);
    assert_memory_equal(room, "r_z", 3);
    assert_int_equal(chat_key_inbox_decode(prefix.b, prefix.len, prefix.len,
                                           &act, &room, &len),
                     CHATD_EINVAL);

    /* the page after activity 500 starts past it and at or before 499 */
    chat_key_inbox_after(&after, "u_1", 500);
    assert_true(key_cmp(&newer, &after) < 0);
    assert_true(key_cmp(&after, &older) <= 0);
    chat_key_inbox(&older, "u_1", 1, "r_a");
    assert_true(key_cmp(&after, &older) < 0);
    /* after activity 1 nothing of u_1 remains, and u_1's range ends */
    chat_key_inbox_after(&beyond, "u_1", 1);
    assert_true(key_cmp(&older, &beyond) < 0);
    assert_true(chat_key_has_prefix(beyond.b, beyond.len, &prefix));
}

static void test_direct_key(void **state)
{
    struct chat_key ab, ba, ctx, ctx2;

    (void)state;
    chat_key_direct(&ab, "u_a", "u_b", NULL);
    chat_key_direct(&ba, "u_b", "u_a", NULL);
    assert_int_equal(ab.len, ba.len);
    assert_memory_equal(ab.b, ba.b, ab.len); /* one room per pair */
    assert_memory_equal(ab.b, "u_a\0u_b\0", 8);
    chat_key_direct(&ctx, "u_b", "u_a", "listing:42");
    chat_key_direct(&ctx2, "u_a", "u_b", "listing:43");
    assert_true(key_cmp(&ab, &ctx) != 0);
    assert_true(key_cmp(&ctx, &ctx2) != 0);
    /* "u_a"+"u_bc" and "u_ab"+"u_c" do not collide */
    chat_key_direct(&ab, "u_a", "u_bc", NULL);
    chat_key_direct(&ba, "u_ab", "u_c", NULL);
    assert_true(key_cmp(&ab, &ba) != 0);
}

static void test_key_limits(void **state)
{
    char big[CHAT_KEY_MAX + 1];
    char id[CHAT_ID_MAX + 1], ctx[CHAT_CONTEXT_MAX + 1];
    struct chat_key k;

    (void)state;
    memset(big, 'x', CHAT_KEY_MAX);
    big[CHAT_KEY_MAX] = '\0';
    assert_int_equal(chat_key_str(&k, big), CHATD_OK);
    assert_int_equal(chat_key_pair(&k, big, "a"), CHATD_EINVAL);
    assert_int_equal(chat_key_message(&k, big, 1), CHATD_EINVAL);
    /* the largest valid ids and context always fit */
    memset(id, 'i', CHAT_ID_MAX);
    id[CHAT_ID_MAX] = '\0';
    memset(ctx, 'c', CHAT_CONTEXT_MAX);
    ctx[CHAT_CONTEXT_MAX] = '\0';
    assert_int_equal(chat_key_direct(&k, id, id, ctx), CHATD_OK);
    assert_int_equal(chat_key_inbox(&k, id, 1, id), CHATD_OK);
    assert_int_equal(chat_key_pair(&k, id, id), CHATD_OK);
}

static void test_member_record(void **state)
{
    struct chat_member m = {1700000000123, 41, 7, 99}, out;
    unsigned char buf[CHAT_MEMBER_LEN];

    (void)state;
    chat_member_encode(&m, buf);
    assert_int_equal(chat_member_decode(buf, sizeof(buf), &out), CHATD_OK);
    assert_true(out.joined_ms == m.joined_ms);
    assert_int_equal(out.read_seq, 41);
    assert_int_equal(out.own_after, 7);
    assert_int_equal(out.activity, 99);
    assert_int_equal(chat_member_decode(buf, sizeof(buf) - 1, &out),
                     CHATD_EINVAL);
}

/* Unread = the room's messages after the read position that are not the
 * member's own; the inbox order is the later of the member's own and the
 * room's last message. */
static void test_member_unread_and_activity(void **state)
{
    struct chat_member m = {.read_seq = 41, .own_after = 7, .activity = 99};

    (void)state;
    assert_int_equal(chat_member_unread(&m, 60), 12);
    assert_int_equal(chat_member_unread(&m, 48), 0); /* all after are own */
    assert_int_equal(chat_member_unread(&m, 45), 0); /* never below zero */
    assert_int_equal(chat_member_unread(&m, 41), 0);
    assert_int_equal(chat_member_unread(&m, 3), 0);
    m.own_after = 0;
    assert_int_equal(chat_member_unread(&m, 42), 1);
    assert_int_equal(chat_member_activity(&m, 50), 99);
    assert_int_equal(chat_member_activity(&m, 120), 120);
    assert_int_equal(chat_member_activity(&m, 0), 99);
}

static void test_message_record(void **state)
{
    unsigned char buf[CHAT_MSG_HDR_MAX + 16];
    struct chat_msg_rec r;
    size_t n;

    (void)state;
    n = chat_msg_hdr_encode(buf, false, "u_ab", 4);
    assert_int_equal(n, 7);
    memcpy(buf + n, "{\"id\":1}", 8);
    assert_int_equal(chat_msg_rec_decode(buf, n + 8, &r), CHATD_OK);
    assert_false(r.deleted);
    assert_int_equal(r.sender_len, 4);
    assert_memory_equal(r.sender, "u_ab", 4);
    assert_int_equal(r.json_len, 8);
    assert_memory_equal(r.json, "{\"id\":1}", 8);
    /* no sender (a payment notice), deleted */
    n = chat_msg_hdr_encode(buf, true, NULL, 0);
    assert_int_equal(n, 3);
    assert_int_equal(chat_msg_rec_decode(buf, n + 2, &r), CHATD_OK);
    assert_true(r.deleted);
    assert_null(r.sender);
    assert_int_equal(r.json_len, 2);
    /* truncated, or another format */
    n = chat_msg_hdr_encode(buf, false, "u_ab", 4);
    assert_int_equal(chat_msg_rec_decode(buf, 6, &r), CHATD_EINVAL);
    assert_int_equal(chat_msg_rec_decode(buf, 2, &r), CHATD_EINVAL);
    buf[0] = 9;
    assert_int_equal(chat_msg_rec_decode(buf, n, &r), CHATD_EINVAL);
}

static void test_room_record(void **state)
{
    unsigned char buf[CHAT_ROOM_HDR_MAX + 64];
    char big[256];
    struct chat_room_rec in = {
        .kind = CHAT_ROOM_DIRECT, .last_seq = 1ULL << 40, .ver = 77,
        .member_count = 2, .activity_ms = -5, .msg_activity = 1ULL << 50,
        .static_len = 3,
        .creator = "u_a", .creator_len = 3, .n_peers = 2,
        .peer = {"u_a", "u_bb"}, .peer_len = {3, 4},
    }, out;
    size_t n;

    (void)state;
    n = chat_room_hdr_encode(buf, &in);
    memcpy(buf + n, "{\"x\":1", 7);
    assert_int_equal(chat_room_rec_decode(buf, n + 7, &out), CHATD_OK);
    assert_int_equal(out.kind, CHAT_ROOM_DIRECT);
    assert_true(out.last_seq == 1ULL << 40);
    assert_int_equal(out.ver, 77);
    assert_int_equal(out.member_count, 2);
    assert_true(out.activity_ms == -5);
    assert_true(out.msg_activity == 1ULL << 50);
    assert_int_equal(out.static_len, 3);
    assert_int_equal(out.creator_len, 3);
    assert_memory_equal(out.creator, "u_a", 3);
    assert_int_equal(out.n_peers, 2);
    assert_int_equal(out.peer_len[1], 4);
    assert_memory_equal(out.peer[1], "u_bb", 4);
    assert_int_equal(out.json_len, 7);
    assert_memory_equal(out.json, "{\"x\":1", 7);
    /* the static part cannot be longer than the text */
    assert_int_equal(chat_room_rec_decode(buf, n + 2, &out), CHATD_EINVAL);
    assert_int_equal(chat_room_rec_decode(buf, n - 1, &out), CHATD_EINVAL);
    /* a group with the longest ids fits the header's bound */
    memset(big, 'i', sizeof(big));
    in = (struct chat_room_rec){.kind = CHAT_ROOM_GROUP, .creator = big,
                                .creator_len = 255, .n_peers = 2,
                                .peer = {big, big}, .peer_len = {255, 255},
                                .static_len = 0};
    n = chat_room_hdr_encode(buf, &in);
    assert_int_equal(n, CHAT_ROOM_HDR_MAX);
    assert_int_equal(chat_room_rec_decode(buf, n, &out), CHATD_OK);
    assert_int_equal(out.json_len, 0);
    assert_int_equal(out.peer_len[0], 255);
}

static void test_idem_and_user_records(void **state)
{
    unsigned char buf[CHAT_IDEM_MAX];
    struct chat_idem in = {.seq = 9, .digest = UINT64_MAX - 3,
                           .room = "r_7", .room_len = 3}, out;
    const char *name;
    bool person;
    size_t n;

    (void)state;
    n = chat_idem_encode(buf, &in);
    assert_int_equal(chat_idem_decode(buf, n, &out), CHATD_OK);
    assert_int_equal(out.seq, 9);
    assert_true(out.digest == UINT64_MAX - 3);
    assert_int_equal(out.room_len, 3);
    assert_memory_equal(out.room, "r_7", 3);
    assert_int_equal(chat_idem_decode(buf, 16, &out), CHATD_EINVAL);

    assert_int_equal(chat_user_decode("\1\"al\"", 5, &person, &name, &n),
                     CHATD_OK);
    assert_true(person);
    assert_int_equal(n, 4);
    assert_memory_equal(name, "\"al\"", 4);
    assert_int_equal(chat_user_decode("\0null", 5, &person, &name, &n),
                     CHATD_OK);
    assert_false(person);
    assert_int_equal(chat_user_decode("\2x", 2, &person, &name, &n),
                     CHATD_EINVAL);
    assert_int_equal(chat_user_decode("\1", 1, &person, &name, &n),
                     CHATD_EINVAL);
}

static void test_cursor(void **state)
{
    static const uint64_t v[] = {1, 2, 63, 64, 1000000, 1ULL << 40,
                                 UINT64_MAX};
    char c[CHAT_CURSOR_LEN + 8];
    uint64_t out;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        chat_cursor_encode(v[i], c);
        assert_int_equal(strlen(c), CHAT_CURSOR_LEN);
        assert_int_equal(strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
                                   "opqrstuvwxyz0123456789-_"),
                         CHAT_CURSOR_LEN);
        assert_int_equal(chat_cursor_decode(c, &out), CHATD_OK);
        assert_true(out == v[i]);
    }
    assert_int_equal(chat_cursor_decode(NULL, &out), CHATD_EINVAL);
    assert_int_equal(chat_cursor_decode("", &out), CHATD_EINVAL);
    assert_int_equal(chat_cursor_decode("abc", &out), CHATD_EINVAL);
    chat_cursor_encode(5, c);
    c[3] = '=';
    assert_int_equal(chat_cursor_decode(c, &out), CHATD_EINVAL);
    /* version byte 0 */
    assert_int_equal(chat_cursor_decode("AAAAAAAAAAAF", &out), CHATD_EINVAL);
    /* a well-formed cursor for activity 0 is never made */
    chat_cursor_encode(0, c);
    assert_int_equal(chat_cursor_decode(c, &out), CHATD_EINVAL);
    chat_cursor_encode(5, c);
    strcat(c, "A");
    assert_int_equal(chat_cursor_decode(c, &out), CHATD_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_be64),
        cmocka_unit_test(test_message_order),
        cmocka_unit_test(test_member_keys),
        cmocka_unit_test(test_inbox_order),
        cmocka_unit_test(test_direct_key),
        cmocka_unit_test(test_key_limits),
        cmocka_unit_test(test_member_record),
        cmocka_unit_test(test_member_unread_and_activity),
        cmocka_unit_test(test_message_record),
        cmocka_unit_test(test_room_record),
        cmocka_unit_test(test_idem_and_user_records),
        cmocka_unit_test(test_cursor),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
