"""The chat module over real HTTP (and WebSocket for real-time delivery):
rooms, membership, blocks, messages, idempotent sends, edits and deletes,
history pagination, inbox, unread counts and read receipts, typing and
presence, payment notices, and `chatd rebuild` giving identical answers.

Every server is checked at shutdown for a clean exit and no sanitizer
report.
"""

import asyncio
import json
import os
import re
import shutil
import subprocess
import threading
import time
import unittest

import websockets

from harness import (ADMIN_TOKEN, BUILDDIR, assert_module_file_ok, main,
                     module_file, Server, ServerTestCase, stop_checked)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NO_ROOM = "r_0000000000000000"
JSON_HDR = {"Content-Type": "application/json"}


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class ChatBase(ServerTestCase):
    @classmethod
    def tearDownClass(cls):
        try:
            stop_checked(cls.server)
        finally:
            cls.server.cleanup()

    # -- helpers ---------------------------------------------------------
    def user(self, name="u"):
        return self.server.create_user("%s_%s" % (name, os.urandom(4).hex()))

    def get(self, tok, path):
        return self.server.get(path, token=tok)

    def req(self, method, tok, path, body=None, raw=None):
        hdrs = dict(JSON_HDR) if raw is not None else None
        return self.server.request(method, path, body=body, token=tok,
                                   raw=raw, headers=hdrs)

    def create(self, tok, body):
        return self.server.post("/v1/rooms", body, token=tok)

    def direct(self, tok, other, context=None, status=201):
        body = {"kind": "direct", "members": [other]}
        if context is not None:
            body["context"] = context
        r = self.create(tok, body)
        self.assertEqual(r.status, status, r)
        return r.json

    def group(self, tok, members=(), title="team"):
        r = self.create(tok, {"kind": "group", "title": title,
                              "members": list(members)})
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def send(self, tok, room, text, cmid=None, conn=None, **extra):
        body = {"text": text}
        if cmid is not None:
            body["client_msg_id"] = cmid
        body.update(extra)
        return self.server.request("POST", "/v1/rooms/%s/messages" % room,
                                   body=body, token=tok, conn=conn)

    def send_ok(self, tok, room, text, cmid=None):
        r = self.send(tok, room, text, cmid)
        self.assertEqual(r.status, 201, r)
        return r.json

    def room_of(self, tok, room):
        r = self.get(tok, "/v1/rooms/" + room)
        self.assertEqual(r.status, 200, r)
        return r.json

    def history(self, tok, room, query=""):
        r = self.get(tok, "/v1/rooms/%s/messages%s" % (room, query))
        self.assertEqual(r.status, 200, r)
        return r.json

    def inbox_ids(self, tok, query=""):
        r = self.get(tok, "/v1/rooms" + query)
        self.assertEqual(r.status, 200, r)
        return [x["id"] for x in r.json["rooms"]]

    def last_seq(self):
        r = self.server.admin("GET", "/v1/events?after=0&limit=1")
        self.assertEqual(r.status, 200, r)
        return r.json["last_seq"]

    def assertNothingAppended(self, before):
        self.assertEqual(self.last_seq(), before,
                         "a refused or repeated request appended events")


# --------------------------------------------------------------------------
class RoomsTest(ChatBase):
    def test_direct_room_is_one_per_pair_and_context(self):
        a, at = self.user("alice")
        b, bt = self.user("bob")
        first = self.direct(at, b, "listing:42")
        for k in ("id", "kind", "title", "context", "created_by", "created_at",
                  "members", "member_count", "last_seq", "last_message",
                  "last_activity_at", "unread", "read_seq"):
            self.assertIn(k, first)
        self.assertEqual(first["kind"], "direct")
        self.assertEqual(first["context"], "listing:42")
        self.assertEqual(first["created_by"], a)
        self.assertEqual(first["members"], [a, b])
        self.assertEqual(first["member_count"], 2)
        self.assertIsNone(first["last_message"])
        self.assertIsNone(first["title"])
        self.assertEqual((first["unread"], first["read_seq"], first["last_seq"]),
                         (0, 0, 0))
        self.assertRegex(first["created_at"], RFC3339)
        before = self.last_seq()
        again = self.direct(at, b, "listing:42", status=200)
        self.assertEqual(again, first)
        # the other user asking for the same pair and context: the same room
        other_side = self.direct(bt, a, "listing:42", status=200)
        self.assertEqual(other_side, first)
        # listing the caller too is the same request
        r = self.create(at, {"kind": "direct", "members": [a, b],
                             "context": "listing:42"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, first)
        self.assertNothingAppended(before)
        # another context, or none, is another room
        ctx43 = self.direct(at, b, "listing:43")
        plain = self.direct(bt, a)
        self.assertEqual(len({first["id"], ctx43["id"], plain["id"]}), 3)
        self.assertEqual(self.direct(at, b, status=200), plain)
        self.assertEqual(sorted(self.inbox_ids(bt)),
                         sorted([first["id"], ctx43["id"], plain["id"]]))

    def test_create_room_bad_input_changes_nothing(self):
        a, at = self.user("alice")
        b, _ = self.user("bob")
        c, _ = self.user("carol")
        before = self.last_seq()
        r = self.req("POST", at, "/v1/rooms", raw=b"{")
        self.assertError(r, 400, "invalid_json")
        r = self.req("POST", at, "/v1/rooms", raw=b"[1]")
        self.assertError(r, 400, "invalid_argument")
        r = self.req("POST", at, "/v1/rooms",
                     raw=b'{"kind":"direct","members":["\xff"]}')
        self.assertError(r, 400, "invalid_argument")
        for body in ({"kind": "direct", "members": [a]},
                     {"kind": "direct", "members": [b, c]},
                     {"kind": "direct", "members": b},
                     {"kind": "direct"},
                     {"kind": "direct", "members": [b], "context": ""},
                     {"kind": "direct", "members": [b], "context": 42},
                     {"kind": "direct", "members": [5]},
                     {"kind": "channel", "members": [b]},
                     {"members": [b]},
                     {"kind": "group"},
                     {"kind": "group", "title": " \t "},
                     {"kind": "group", "title": "x" * 201},
                     {"kind": "group", "title": 7},
                     {"kind": "group", "title": "t", "members": "bob"},
                     {"kind": "group", "title": "t", "members": [None]}):
            self.assertError(self.create(at, body), 400, "invalid_argument")
        self.assertError(self.create(at, {"kind": "direct",
                                          "members": ["u_nobody"]}),
                         422, "unknown_user")
        self.assertError(self.create(at, {"kind": "group", "title": "t",
                                          "members": [b, "u_nobody"]}),
                         422, "unknown_user")
        self.assertNothingAppended(before)

    def test_only_users_may_use_chat(self):
        r = self.server.post("/v1/rooms", {"kind": "group", "title": "t"})
        self.assertError(r, 401, "unauthenticated")
        r = self.server.admin("POST", "/v1/rooms", {"kind": "group", "title": "t"})
        self.assertError(r, 403, "forbidden")
        r = self.server.admin("GET", "/v1/rooms")
        self.assertError(r, 403, "forbidden")

    def test_group_membership(self):
        a, at = self.user("alice")
        b, bt = self.user("bob")
        c, ct = self.user("carol")
        d, dt = self.user("dave")
        g = self.group(at, [b], "Team")
        room = self.room_of(at, g)
        self.assertEqual(room["kind"], "group")
        self.assertEqual(room["title"], "Team")
        self.assertEqual(room["member_count"], 2)
        self.assertNotIn("members", room)
        self.assertError(self.get(ct, "/v1/rooms/" + g), 404, "not_found")

        # any member may add; adding again answers the member with 200
        r = self.server.post("/v1/rooms/%s/members" % g, {"user": c}, token=bt)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["user"], c)
        self.assertEqual(r.json["read_seq"], 0)
        self.assertRegex(r.json["joined_at"], RFC3339)
        self.assertTrue(r.json["name"].startswith("carol_"))
        before = self.last_seq()
        again = self.server.post("/v1/rooms/%s/members" % g, {"user": c}, token=at)
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json, r.json)
        self.assertNothingAppended(before)
        self.assertEqual(self.room_of(ct, g)["member_count"], 3)

        # refusals
        r = self.server.post("/v1/rooms/%s/members" % g, {"user": d}, token=dt)
        self.assertError(r, 404, "not_found")
        r = self.server.post("/v1/rooms/%s/members" % g, {"user": "u_nobody"},
                             token=at)
        self.assertError(r, 422, "unknown_user")
        r = self.server.post("/v1/rooms/%s/members" % g, {"user": 5}, token=at)
        self.assertError(r, 400, "invalid_argument")
        r = self.req("POST", at, "/v1/rooms/%s/members" % g, raw=b"nope")
        self.assertError(r, 400, "invalid_json")
        self.assertNothingAppended(before)

        members = self.get(bt, "/v1/rooms/%s/members" % g)
        self.assertEqual(members.status, 200, members)
        self.assertEqual(sorted(m["user"] for m in members.json["members"]),
                         sorted([a, b, c]))
        for m in members.json["members"]:
            self.assertEqual(sorted(m), ["joined_at", "name", "read_seq", "user"])

        # leaving keeps the history for those who stay
        self.send_ok(at, g, "before carol leaves")
        r = self.req("DELETE", ct, "/v1/rooms/%s/members/%s" % (g, c))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"room": g, "user": c, "removed": True})
        self.assertError(self.get(ct, "/v1/rooms/" + g), 404, "not_found")
        self.assertError(self.get(ct, "/v1/rooms/%s/messages" % g), 404, "not_found")
        self.assertNotIn(g, self.inbox_ids(ct))
        self.assertEqual([m["text"] for m in self.history(bt, g)["messages"]],
                         ["before carol leaves"])
        self.assertEqual(self.room_of(at, g)["member_count"], 2)

        # only the creator removes others
        r = self.req("DELETE", bt, "/v1/rooms/%s/members/%s" % (g, a))
        self.assertError(r, 403, "forbidden")
        r = self.req("DELETE", at, "/v1/rooms/%s/members/%s" % (g, c))
        self.assertError(r, 404, "not_found")
        r = self.req("DELETE", at, "/v1/rooms/%s/members/%s" % (g, b))
        self.assertEqual(r.status, 200, r)
        self.assertError(self.get(bt, "/v1/rooms/" + g), 404, "not_found")
        self.assertEqual(self.room_of(at, g)["member_count"], 1)

        # a removed user can be added back; nothing before is unread
        r = self.server.post("/v1/rooms/%s/members" % g, {"user": b}, token=at)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["read_seq"], 1)
        self.assertEqual(self.room_of(bt, g)["unread"], 0)

    def test_direct_rooms_never_change_members(self):
        a, at = self.user("alice")
        b, _ = self.user("bob")
        c, _ = self.user("carol")
        room = self.direct(at, b)["id"]
        before = self.last_seq()
        r = self.server.post("/v1/rooms/%s/members" % room, {"user": c}, token=at)
        self.assertError(r, 422, "direct_room")
        r = self.req("DELETE", at, "/v1/rooms/%s/members/%s" % (room, a))
        self.assertError(r, 422, "direct_room")
        self.assertNothingAppended(before)

    def test_non_member_gets_404_like_a_missing_room(self):
        a, at = self.user("alice")
        b, bt = self.user("bob")
        x, xt = self.user("mallory")
        g = self.group(at, [b])
        self.send_ok(at, g, "private")
        probes = [("GET", "", None), ("GET", "/messages", None),
                  ("GET", "/members", None), ("GET", "/presence", None),
                  ("POST", "/messages", {"text": "hi"}),
                  ("POST", "/read", {"seq": 1}), ("POST", "/typing", None),
                  ("PATCH", "/messages/1", {"text": "x"}),
                  ("DELETE", "/messages/1", None),
                  ("POST", "/members", {"user": x}),
                  ("DELETE", "/members/" + a, None)]
        before = self.last_seq()
        for method, sub, body in probes:
            real = self.server.request(method, "/v1/rooms/" + g + sub,
                                       body=body, token=xt)
            missing = self.server.request(method, "/v1/rooms/" + NO_ROOM + sub,
                                          body=body, token=xt)
            self.assertError(real, 404, "not_found")
            self.assertEqual(real.json, missing.json, (method, sub))
        self.assertNothingAppended(before)
        self.assertNotIn(g, self.inbox_ids(xt))

    def test_block(self):
        a, at = self.user("alice")
        b, bt = self.user("bob")
        room = self.direct(at, b, "listing:1")["id"]
        first = self.send_ok(at, room, "hello bob")
        r = self.server.post("/v1/users/%s/block" % a, token=bt)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"user": a, "blocked": True})
        before = self.last_seq()
        r2 = self.server.post("/v1/users/%s/block" % a, token=bt)
        self.assertEqual((r2.status, r2.json), (200, r.json))
        self.assertError(self.send(at, room, "are you there?"), 422, "blocked")
        r = self.req("PATCH", at, "/v1/rooms/%s/messages/%d" % (room, first["seq"]),
                     body={"text": "edited while blocked"})
        self.assertError(r, 422, "blocked")
        self.assertError(self.create(at, {"kind": "direct", "members": [b],
                                          "context": "listing:2"}),
                         422, "blocked")
        self.assertNothingAppended(before)
        # the existing room is still the same room; the blocker may post
        self.assertEqual(self.direct(at, b, "listing:1", status=200)["id"], room)
        self.send_ok(bt, room, "I blocked you")
        # blocks concern direct rooms only
        g = self.group(bt, [a])
        self.send_ok(at, g, "in a group")
        # refusals
        self.assertError(self.server.post("/v1/users/%s/block" % b, token=bt),
                         400, "invalid_argument")
        self.assertError(self.server.post("/v1/users/u_nobody/block", token=bt),
                         404, "not_found")
        # unblocking
        r = self.req("DELETE", bt, "/v1/users/%s/block" % a)
        self.assertEqual((r.status, r.json), (200, {"user": a, "blocked": False}))
        before = self.last_seq()
        r = self.req("DELETE", bt, "/v1/users/%s/block" % a)
        self.assertEqual((r.status, r.json), (200, {"user": a, "blocked": False}))
        self.assertNothingAppended(before)
        self.send_ok(at, room, "thanks")
        self.direct(at, b, "listing:2")


# --------------------------------------------------------------------------
class MessagesTest(ChatBase):
    def pair_room(self):
        a, at = self.user("alice")
        b, bt = self.user("bob")
        return (a, at), (b, bt), self.group(at, [b])

    def test_post_message_shape(self):
        (a, at), _, g = self.pair_room()
        m = self.send_ok(at, g, "hello", "c-1")
        self.assertEqual(sorted(m), sorted(["id", "room", "seq", "sender", "kind",
                                            "text", "created_at", "edited_at",
                                            "deleted", "client_msg_id"]))
        self.assertIsInstance(m["id"], str)
        self.assertEqual((m["room"], m["seq"], m["sender"], m["kind"], m["text"]),
                         (g, 1, a, "text", "hello"))
        self.assertRegex(m["created_at"], RFC3339)
        self.assertIsNone(m["edited_at"])
        self.assertFalse(m["deleted"])
        self.assertEqual(m["client_msg_id"], "c-1")
        m2 = self.send_ok(at, g, "안녕 👋 ça va?")
        self.assertEqual((m2["seq"], m2["text"], m2["client_msg_id"]),
                         (2, "안녕 👋 ça va?", None))
        self.assertNotEqual(m2["id"], m["id"])
        r = self.send(at, g, "kind text is fine", kind="text", unknown={"x": 1})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.history(at, g)["messages"][0], r.json)

    def test_message_bad_input_changes_nothing(self):
        (a, at), _, g = self.pair_room()
        before = self.last_seq()
        for text in ("", "  \n\t ", "\u3000\u00a0\u200b", "x" * 4001, "가" * 4001,
                     "bell\u0007", 5, None, ["a"]):
            self.assertError(self.send(at, g, text), 400, "invalid_argument")
        r = self.server.post("/v1/rooms/%s/messages" % g, {"client_msg_id": "x"},
                             token=at)
        self.assertError(r, 400, "invalid_argument")
        self.assertError(self.send(at, g, "x", kind="system"), 403, "forbidden")
        self.assertError(self.send(at, g, "x", kind="payment"), 403, "forbidden")
        self.assertError(self.send(at, g, "x", kind="sticker"), 400,
                         "invalid_argument")
        for cmid in (5, "", "a\nb", "x" * 101):
            self.assertError(self.send(at, g, "x", cmid), 400, "invalid_argument")
        r = self.req("POST", at, "/v1/rooms/%s/messages" % g, raw=b'{"text":')
        self.assertError(r, 400, "invalid_json")
        r = self.req("POST", at, "/v1/rooms/%s/messages" % g,
                     raw=b'{"text":"caf\xe9"}')
        self.assertError(r, 400, "invalid_argument")
        self.assertNothingAppended(before)
        # the limits themselves are accepted: 4,000 characters, not bytes
        self.assertEqual(self.send_ok(at, g, "x" * 4000)["text"], "x" * 4000)
        self.assertEqual(self.send_ok(at, g, "가" * 4000)["text"], "가" * 4000)
        self.assertEqual(self.send_ok(at, g, " padded ")["text"], " padded ")

    def test_same_client_msg_id_is_one_message(self):
        (a, at), (b, bt), g = self.pair_room()
        other = self.group(at, [b])
        first = self.send(at, g, "once", "k1")
        self.assertEqual(first.status, 201, first)
        before = self.last_seq()
        again = self.send(at, g, "once", "k1")
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json, first.json)
        self.assertError(self.send(at, g, "twice", "k1"), 409, "conflict")
        self.assertError(self.send(at, other, "once", "k1"), 409, "conflict")
        self.assertNothingAppended(before)
        self.assertEqual([m["text"] for m in self.history(at, g)["messages"]],
                         ["once"])
        # the key is per sender
        theirs = self.send(bt, g, "once", "k1")
        self.assertEqual(theirs.status, 201, theirs)
        self.assertNotEqual(theirs.json["id"], first.json["id"])
        # after an edit the same retry still answers that message, edited
        r = self.req("PATCH", at, "/v1/rooms/%s/messages/1" % g,
                     body={"text": "once, edited"})
        self.assertEqual(r.status, 200, r)
        retry = self.send(at, g, "once", "k1")
        self.assertEqual((retry.status, retry.json), (200, r.json))

    def test_edit_and_delete(self):
        (a, at), (b, bt), g = self.pair_room()
        x, xt = self.user("mallory")
        self.send_ok(bt, g, "first")
        m = self.send_ok(at, g, "secret-text-XYZ")
        path = "/v1/rooms/%s/messages/%d" % (g, m["seq"])
        before = self.last_seq()
        self.assertError(self.req("PATCH", bt, path, {"text": "hijack"}), 403,
                         "forbidden")
        self.assertError(self.req("DELETE", bt, path), 403, "forbidden")
        self.assertError(self.req("PATCH", xt, path, {"text": "hijack"}), 404,
                         "not_found")
        self.assertError(self.req("DELETE", xt, path), 404, "not_found")
        for bad in ("999", "0", "abc", "-1"):
            p = "/v1/rooms/%s/messages/%s" % (g, bad)
            self.assertError(self.req("PATCH", at, p, {"text": "x"}), 404,
                             "not_found")
            self.assertError(self.req("DELETE", at, p), 404, "not_found")
        self.assertError(self.req("PATCH", at, path, {"text": " "}), 400,
                         "invalid_argument")
        self.assertError(self.req("PATCH", at, path, {}), 400, "invalid_argument")
        self.assertNothingAppended(before)

        r = self.req("PATCH", at, path, {"text": "edited-text-ABC"})
        self.assertEqual(r.status, 200, r)
        edited = r.json
        self.assertEqual((edited["id"], edited["seq"], edited["created_at"],
                          edited["text"]),
                         (m["id"], m["seq"], m["created_at"], "edited-text-ABC"))
        self.assertRegex(edited["edited_at"], RFC3339)
        before = self.last_seq()
        same = self.req("PATCH", at, path, {"text": "edited-text-ABC"})
        self.assertEqual((same.status, same.json), (200, edited))
        self.assertNothingAppended(before)
        self.assertEqual(self.history(bt, g)["messages"][0], edited)

        r = self.req("DELETE", at, path)
        self.assertEqual(r.status, 200, r)
        gone = r.json
        self.assertTrue(gone["deleted"])
        self.assertIsNone(gone["text"])
        self.assertEqual((gone["id"], gone["seq"], gone["sender"]),
                         (m["id"], m["seq"], a))
        before = self.last_seq()
        again = self.req("DELETE", at, path)
        self.assertEqual((again.status, again.json), (200, gone))
        self.assertError(self.req("PATCH", at, path, {"text": "revive"}), 422,
                         "message_deleted")
        self.assertNothingAppended(before)
        # the text is gone from every read model
        self.assertEqual(self.history(at, g)["messages"][0], gone)
        self.assertEqual(self.room_of(bt, g)["last_message"], gone)
        for tok in (at, bt):
            for p in ("/v1/rooms", "/v1/rooms/" + g, "/v1/rooms/%s/messages" % g,
                      "/v1/rooms/%s/messages?after=0" % g,
                      "/v1/rooms/%s/members" % g):
                body = self.get(tok, p).body
                self.assertNotIn("secret-text-XYZ", body, p)
                self.assertNotIn("edited-text-ABC", body, p)

    def test_unread_counts_and_read_receipts(self):
        a, at = self.user("alice")
        b, bt = self.user("bob")
        c, ct = self.user("carol")
        g = self.group(at, [b, c])
        for i in range(3):
            self.send_ok(at, g, "m%d" % i)
        self.assertEqual(self.room_of(at, g)["unread"], 0)
        self.assertEqual(self.room_of(bt, g)["unread"], 3)
        self.assertEqual(self.room_of(ct, g)["unread"], 3)
        inbox = self.get(bt, "/v1/rooms").json["rooms"]
        self.assertEqual([(x["id"], x["unread"]) for x in inbox], [(g, 3)])

        r = self.server.post("/v1/rooms/%s/read" % g, {"seq": 2}, token=bt)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"room": g, "user": b, "read_seq": 2, "unread": 1})
        self.assertEqual((self.room_of(bt, g)["unread"],
                          self.room_of(bt, g)["read_seq"]), (1, 2))
        before = self.last_seq()
        # monotonic: a lower position changes nothing
        r = self.server.post("/v1/rooms/%s/read" % g, {"seq": 1}, token=bt)
        self.assertEqual((r.status, r.json["read_seq"], r.json["unread"]),
                         (200, 2, 1))
        r = self.server.post("/v1/rooms/%s/read" % g, {"seq": 0}, token=at)
        self.assertEqual((r.status, r.json["read_seq"]), (200, 0))
        self.assertError(self.server.post("/v1/rooms/%s/read" % g, {"seq": 4},
                                          token=bt), 400, "invalid_argument")
        for body in ({"seq": "2"}, {"seq": -1}, {"seq": 1.5}, {}):
            self.assertError(self.server.post("/v1/rooms/%s/read" % g, body,
                                              token=bt), 400, "invalid_argument")
        self.assertError(self.req("POST", bt, "/v1/rooms/%s/read" % g, raw=b"{"),
                         400, "invalid_json")
        self.assertNothingAppended(before)

        # own messages are never unread; others' are
        self.send_ok(bt, g, "from bob")
        self.assertEqual(self.room_of(at, g)["unread"], 1)
        self.assertEqual(self.room_of(bt, g)["unread"], 1)
        self.assertEqual(self.room_of(ct, g)["unread"], 4)
        r = self.server.post("/v1/rooms/%s/read" % g, {"seq": 4}, token=bt)
        self.assertEqual(r.json["unread"], 0)
        r = self.server.post("/v1/rooms/%s/read" % g, {"seq": 3}, token=ct)
        self.assertEqual(r.json["unread"], 1)
        # members see each other's read positions
        members = self.get(at, "/v1/rooms/%s/members" % g).json["members"]
        self.assertEqual({m["user"]: m["read_seq"] for m in members},
                         {a: 0, b: 4, c: 3})

    def test_inbox_order_and_pagination(self):
        a, at = self.user("alice")
        b, bt = self.user("bob")
        r1, r2, r3 = (self.group(at, [b], "g%d" % i) for i in range(3))
        self.assertEqual(self.inbox_ids(at), [r3, r2, r1])
        self.send_ok(bt, r1, "news in r1")
        self.assertEqual(self.inbox_ids(at), [r1, r3, r2])
        first = self.get(at, "/v1/rooms").json["rooms"][0]
        self.assertEqual(first["last_message"]["text"], "news in r1")
        self.assertEqual(first["unread"], 1)
        self.assertEqual(self.inbox_ids(bt), [r1, r3, r2])
        self.send_ok(at, r2, "news in r2")
        self.assertEqual(self.inbox_ids(bt), [r2, r1, r3])
        # an edit or a read is not new activity
        self.req("PATCH", bt, "/v1/rooms/%s/messages/1" % r1, {"text": "edit"})
        self.server.post("/v1/rooms/%s/read" % r1, {"seq": 1}, token=at)
        self.assertEqual(self.inbox_ids(at), [r2, r1, r3])

        for limit in (1, 2, 3):
            seen, cursor, pages = [], None, 0
            while True:
                q = "?limit=%d" % limit + ("&cursor=" + cursor if cursor else "")
                page = self.get(at, "/v1/rooms" + q).json
                self.assertLessEqual(len(page["rooms"]), limit)
                seen += [x["id"] for x in page["rooms"]]
                pages += 1
                cursor = page["next_cursor"]
                if cursor is None:
                    break
                self.assertIsInstance(cursor, str)
            self.assertEqual(seen, [r2, r1, r3], limit)
            self.assertEqual(pages, (3 + limit - 1) // limit)
        for q in ("?cursor=zzz", "?cursor=", "?limit=0", "?limit=101",
                  "?limit=abc", "?limit=-1"):
            self.assertError(self.get(at, "/v1/rooms" + q), 400, "invalid_argument")

    def test_inbox_and_unread_follow_joins_posts_and_leaves(self):
        # A member's inbox place is the later of their own activity (joining,
        # posting) and the room's last message; unread counts come from the
        # room's last seq. Each room appears once, wherever it moved.
        a, at = self.user("alice")
        b, bt = self.user("bob")
        c, ct = self.user("carol")
        g = self.group(at, [b], "g")
        for i in range(3):
            self.send_ok(at, g, "early %d" % i)
        g2 = self.group(at, [b], "g2")
        self.assertEqual(self.inbox_ids(at), [g2, g])

        def unread(tok):
            return {x["id"]: x["unread"] for x in self.get(tok, "/v1/rooms").json["rooms"]}

        # joining after messages: on top, nothing unread
        self.server.post("/v1/rooms/%s/members" % g, {"user": c}, token=at)
        self.assertEqual(self.inbox_ids(ct), [g])
        self.assertEqual(unread(ct), {g: 0})
        self.send_ok(bt, g, "bob 4")
        self.assertEqual(self.inbox_ids(ct), [g])
        self.assertEqual(unread(ct), {g: 1})
        self.assertEqual(self.inbox_ids(at), [g, g2])
        self.assertEqual(unread(at), {g: 1, g2: 0})
        self.assertEqual(unread(bt), {g: 3, g2: 0})

        # a newer join moves the newer room above
        self.server.post("/v1/rooms/%s/members" % g2, {"user": c}, token=at)
        self.assertEqual(self.inbox_ids(ct), [g2, g])
        # a read does not move it; the count follows
        r = self.server.post("/v1/rooms/%s/read" % g, {"seq": 4}, token=ct)
        self.assertEqual(r.json["unread"], 0)
        self.assertEqual(self.inbox_ids(ct), [g2, g])
        # posting does; one's own message is never unread, others' before it
        # still are
        self.send_ok(bt, g, "bob 5")
        self.send_ok(ct, g, "carol 6")
        self.assertEqual(self.inbox_ids(ct), [g, g2])
        self.assertEqual(unread(ct), {g: 1, g2: 0})
        self.assertEqual(unread(at), {g: 3, g2: 0})
        self.assertEqual(unread(bt), {g: 4, g2: 0})

        # leaving takes the room out; coming back puts it on top, all read
        self.req("DELETE", ct, "/v1/rooms/%s/members/%s" % (g, c))
        self.assertEqual(self.inbox_ids(ct), [g2])
        self.send_ok(at, g2, "alice in g2")
        self.assertEqual(self.inbox_ids(ct), [g2])
        self.server.post("/v1/rooms/%s/members" % g, {"user": c}, token=at)
        self.assertEqual(self.inbox_ids(ct), [g, g2])
        self.assertEqual(unread(ct), {g: 0, g2: 1})
        self.send_ok(at, g2, "alice again")
        self.assertEqual(self.inbox_ids(ct), [g2, g])
        self.assertEqual(unread(ct), {g: 0, g2: 2})
        self.assertEqual(self.inbox_ids(at), [g2, g])

    def test_history_walks_1000_messages_both_ways(self):
        a, at = self.user("alice")
        b, bt = self.user("bob")
        g = self.group(at, [b])
        threads, per = 4, 250
        results, errors = {}, []

        def sender(i):
            tok = at if i % 2 == 0 else bt
            conn = self.server.connection()  # one keep-alive connection
            try:
                for n in range(per):
                    r = self.send(tok, g, "m-%d-%d" % (i, n), "t%d-%d" % (i, n),
                                  conn=conn)
                    if r.status != 201:
                        errors.append(r)
                        return
                    results[r.json["seq"]] = r.json
            except Exception as e:  # reported below, not swallowed
                errors.append(e)
            finally:
                conn.close()

        ths = [threading.Thread(target=sender, args=(i,)) for i in range(threads)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(300)
        self.assertEqual(errors, [])
        total = threads * per
        self.assertEqual(sorted(results), list(range(1, total + 1)))

        def walk(query_of, limit):
            seqs, cursor = [], None
            while True:
                page = self.history(bt, g, query_of(cursor, limit))
                self.assertLessEqual(len(page["messages"]), limit)
                for m in page["messages"]:
                    self.assertEqual(m, results[m["seq"]])
                    seqs.append(m["seq"])
                cursor = page["next_cursor"]
                if cursor is None:
                    return seqs

        newest = lambda cur, lim: "?limit=%d" % lim + ("&before=%d" % cur if cur else "")
        oldest = lambda cur, lim: "?limit=%d&after=%d" % (lim, cur or 0)
        default = lambda cur, lim: "?before=%d" % cur if cur else ""
        self.assertEqual(walk(newest, 100), list(range(total, 0, -1)))
        self.assertEqual(walk(newest, 7), list(range(total, 0, -1)))
        self.assertEqual(walk(default, 50), list(range(total, 0, -1)))
        self.assertEqual(walk(oldest, 100), list(range(1, total + 1)))
        self.assertEqual(walk(oldest, 13), list(range(1, total + 1)))
        self.assertEqual(len(self.history(bt, g)["messages"]), 50)

        self.assertEqual(self.history(bt, g, "?before=1"),
                         {"messages": [], "next_cursor": None})
        self.assertEqual(self.history(bt, g, "?after=%d" % total),
                         {"messages": [], "next_cursor": None})
        self.assertEqual([m["seq"] for m in
                          self.history(bt, g, "?after=995&limit=3")["messages"]],
                         [996, 997, 998])
        for q in ("?before=5&after=1", "?before=x", "?after=-1", "?limit=0",
                  "?limit=101", "?before=99999999999999999999"):
            self.assertError(self.get(bt, "/v1/rooms/%s/messages%s" % (g, q)),
                             400, "invalid_argument")
        self.assertEqual(self.room_of(at, g)["last_seq"], total)

    def test_typing_and_presence(self):
        (a, at), (b, bt), g = self.pair_room()
        r = self.server.post("/v1/rooms/%s/typing" % g, token=at)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"room": g, "user": a, "typing": True})
        r = self.get(at, "/v1/rooms/%s/presence" % g)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["room"], g)
        self.assertEqual(sorted((m["user"], m["online"]) for m in r.json["members"]),
                         sorted([(a, False), (b, False)]))


# --------------------------------------------------------------------------
class LimitsTest(ChatBase):
    server_config = {"chat": {"max_members": 3, "max_text_chars": 10,
                              "typing_interval_ms": 60000}}

    def test_member_limit(self):
        a, at = self.user("alice")
        others = [self.user("m%d" % i) for i in range(3)]
        ids = [u for u, _ in others]
        self.assertError(self.create(at, {"kind": "group", "title": "big",
                                          "members": ids}), 422, "room_full")
        g = self.group(at, ids[:2])
        r = self.server.post("/v1/rooms/%s/members" % g, {"user": ids[2]}, token=at)
        self.assertError(r, 422, "room_full")
        r = self.req("DELETE", others[1][1], "/v1/rooms/%s/members/%s" % (g, ids[1]))
        self.assertEqual(r.status, 200, r)
        r = self.server.post("/v1/rooms/%s/members" % g, {"user": ids[2]}, token=at)
        self.assertEqual(r.status, 201, r)

    def test_text_limit_counts_characters(self):
        a, at = self.user("alice")
        g = self.group(at)
        self.assertEqual(self.send_ok(at, g, "가" * 10)["text"], "가" * 10)
        self.assertError(self.send(at, g, "가" * 11), 400, "invalid_argument")
        self.assertError(self.send(at, g, "x" * 11), 400, "invalid_argument")
        r = self.req("PATCH", at, "/v1/rooms/%s/messages/1" % g, {"text": "y" * 11})
        self.assertError(r, 400, "invalid_argument")

    def test_typing_rate_limit(self):
        a, at = self.user("alice")
        b, bt = self.user("bob")
        g1 = self.group(at, [b])
        g2 = self.group(at, [b])
        self.assertEqual(self.server.post("/v1/rooms/%s/typing" % g1,
                                          token=at).status, 200)
        r = self.server.post("/v1/rooms/%s/typing" % g1, token=at)
        self.assertError(r, 429, "rate_limited")
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        self.assertEqual(self.server.post("/v1/rooms/%s/typing" % g1,
                                          token=bt).status, 200)
        self.assertEqual(self.server.post("/v1/rooms/%s/typing" % g2,
                                          token=at).status, 200)

    def test_config_out_of_range_is_refused(self):
        s = Server(config={"chat": {"max_members": 1}})
        try:
            with self.assertRaises(RuntimeError):
                s.start(timeout=10)
            self.assertTrue(any("max_members" in l for l in s.log_lines),
                            s.log_lines[-5:])
        finally:
            s.cleanup()


# --------------------------------------------------------------------------
class RealtimeTest(ChatBase):
    def url(self):
        return "ws://127.0.0.1:%d/v1/ws" % self.server.port

    async def connect(self, tok):
        ws = await websockets.connect(self.url(), max_size=2 ** 22)
        await ws.send(json.dumps({"type": "auth", "token": tok}))
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        self.assertEqual(hello["type"], "hello", hello)
        return ws

    async def drain(self, ws, quiet=0.4):
        """Every frame that arrives until the connection is quiet."""
        out = []
        while True:
            try:
                out.append(json.loads(await asyncio.wait_for(ws.recv(), quiet)))
            except asyncio.TimeoutError:
                return out

    async def until(self, ws, pred, timeout=10):
        out, deadline = [], time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out; got %r" % out[-5:])
            f = json.loads(await asyncio.wait_for(ws.recv(), left))
            out.append(f)
            if pred(f):
                return out

    @staticmethod
    def events(frames):
        return [(f["event"]["type"], f["event"]["data"]) for f in frames
                if f["type"] == "event"]

    def test_room_events_reach_exactly_the_members_concerned(self):
        a, at = self.user("alice")
        b, bt = self.user("bob")
        c, ct = self.user("carol")
        x, xt = self.user("mallory")

        async def go():
            wa, wb, wc, wx = [await self.connect(t) for t in (at, bt, ct, xt)]
            g = await asyncio.to_thread(self.group, at, [b])
            f = await self.until(wb, lambda f: f["type"] == "event")
            (typ, data), = self.events(f)
            self.assertEqual(typ, "chat.room_created")
            self.assertEqual((data["room"], data["kind"], data["members"]),
                             (g, "group", [a, b]))
            await asyncio.to_thread(self.server.post, "/v1/rooms/%s/members" % g,
                                    {"user": c}, token=at)
            f = await self.until(wc, lambda f: f["type"] == "event")
            self.assertEqual(self.events(f)[-1][0], "chat.member_added")
            self.assertEqual(self.events(f)[-1][1]["user"], c)
            m = await asyncio.to_thread(self.send_ok, at, g, "hi all")
            for ws in (wa, wb, wc):
                f = await self.until(ws, lambda f: f["type"] == "event" and
                                     f["event"]["type"] == "chat.message_posted")
                d = f[-1]["event"]["data"]
                self.assertEqual((d["room"], d["seq"], d["sender"], d["kind"],
                                  d["text"], d["id"]),
                                 (g, 1, a, "text", "hi all", m["id"]))
                self.assertEqual(f[-1]["event"]["stream"], "room:" + g)
            await asyncio.to_thread(self.server.post, "/v1/rooms/%s/read" % g,
                                    {"seq": 1}, token=bt)
            f = await self.until(wc, lambda f: f["type"] == "event" and
                                 f["event"]["type"] == "chat.read_marked")
            self.assertEqual(f[-1]["event"]["data"],
                             {"room": g, "user": b, "seq": 1})
            await asyncio.to_thread(self.req, "PATCH", at,
                                    "/v1/rooms/%s/messages/1" % g, {"text": "hi!"})
            await asyncio.to_thread(self.req, "DELETE", at,
                                    "/v1/rooms/%s/messages/1" % g)
            f = await self.until(wb, lambda f: f["type"] == "event" and
                                 f["event"]["type"] == "chat.message_deleted")
            evs = [e for e in self.events(f) if e[0].startswith("chat.message_")]
            self.assertEqual([e[0] for e in evs],
                             ["chat.message_edited", "chat.message_deleted"])
            self.assertEqual(evs[0][1]["text"], "hi!")
            self.assertNotIn("text", evs[-1][1])
            # the removed member hears of it, then nothing more
            await asyncio.to_thread(self.req, "DELETE", at,
                                    "/v1/rooms/%s/members/%s" % (g, c))
            f = await self.until(wc, lambda f: f["type"] == "event" and
                                 f["event"]["type"] == "chat.member_removed")
            self.assertEqual(f[-1]["event"]["data"]["user"], c)
            await asyncio.to_thread(self.send_ok, at, g, "after carol")
            f = await self.until(wb, lambda f: f["type"] == "event" and
                                 f["event"]["type"] == "chat.message_posted")
            self.assertEqual(f[-1]["event"]["data"]["text"], "after carol")
            self.assertEqual(self.events(await self.drain(wc)), [])
            # blocks are told to the blocker only
            await asyncio.to_thread(self.server.post, "/v1/users/%s/block" % x,
                                    token=bt)
            f = await self.until(wb, lambda f: f["type"] == "event")
            self.assertEqual(self.events(f)[-1],
                             ("chat.user_blocked", {"user": b, "blocked": x}))
            # typing goes to the other members, live only
            await asyncio.to_thread(self.server.post, "/v1/rooms/%s/typing" % g,
                                    token=at)
            f = await self.until(wb, lambda f: f["type"] == "typing")
            self.assertEqual(f[-1], {"type": "typing", "room": g, "user": a})
            presence = await asyncio.to_thread(self.get, at,
                                               "/v1/rooms/%s/presence" % g)
            self.assertEqual(sorted((m["user"], m["online"])
                                    for m in presence.json["members"]),
                             sorted([(a, True), (b, True)]))
            self.assertEqual([f for f in await self.drain(wa)
                              if f["type"] == "typing"], [])
            # the outsider saw nothing at all
            self.assertEqual(self.events(await self.drain(wx)), [])
            for ws in (wa, wb, wc, wx):
                await ws.close()
        run(go())


# --------------------------------------------------------------------------
def fake_module(name):
    return os.path.join(BUILDDIR, "modules", "chat", "tests", ".libs",
                        "fake_%s.so" % name)


class PaymentNoticeTest(ChatBase):
    server_config = {"modules": ["chat", fake_module("payment"),
                                 fake_module("payment_notice")]}

    @classmethod
    def setUpClass(cls):
        for name in ("payment", "payment_notice"):
            if not os.path.exists(fake_module(name)):
                raise AssertionError(
                    "%s is missing: build it with `make check` or "
                    "`make modules/chat/tests/fake_%s.la`" % (fake_module(name), name))
        super().setUpClass()

    def notice(self, module, body, server=None):
        s = server or self.server
        r = s.request("POST", "/v1/test/%s/notices" % module, body=body,
                      token=ADMIN_TOKEN)
        self.assertEqual(r.status, 201, r)
        return r.json["seq"]

    def wait_messages(self, tok, room, count, server=None, timeout=15):
        s = server or self.server
        deadline = time.time() + timeout
        while True:
            r = s.get("/v1/rooms/%s/messages?after=0&limit=100" % room, token=tok)
            self.assertEqual(r.status, 200, r)
            if len(r.json["messages"]) >= count or time.time() > deadline:
                return r.json["messages"]
            time.sleep(0.01)

    def test_notice_becomes_a_payment_message(self):
        a, at = self.user("alice")
        b, bt = self.user("bob")
        room = self.direct(at, b, "listing:9")["id"]
        notice = {"text": "Alice paid Bob 5,000 KRW", "amount": 5000,
                  "currency": "KRW", "transfer_id": "t_1"}
        self.notice("payment", {"room_id": room, "notice": notice, "extra": 1})
        msgs = self.wait_messages(at, room, 1)
        self.assertEqual(len(msgs), 1, msgs)
        m = msgs[0]
        self.assertEqual((m["kind"], m["sender"], m["text"], m["payment"], m["seq"]),
                         ("payment", None, notice["text"], notice, 1))
        # a notice is unread for everyone, and nobody may change it
        self.assertEqual(self.room_of(at, room)["unread"], 1)
        self.assertEqual(self.room_of(bt, room)["unread"], 1)
        self.assertError(self.req("PATCH", at, "/v1/rooms/%s/messages/1" % room,
                                  {"text": "forged"}), 403, "forbidden")
        self.assertError(self.req("DELETE", bt, "/v1/rooms/%s/messages/1" % room),
                         403, "forbidden")
        # events that are not notices for an existing room are ignored; the
        # module "payment_notice" is heard as well
        self.notice("payment", {"room_id": room})
        self.notice("payment", {"room_id": room, "notice": {"amount": 1}})
        self.notice("payment", {"notice": {"text": "no room"}})
        self.notice("payment", {"room_id": NO_ROOM, "notice": {"text": "lost"}})
        self.notice("payment_notice", {"room_id": room,
                                       "notice": {"text": "Refunded 5,000 KRW"}})
        msgs = self.wait_messages(at, room, 2)
        self.assertEqual([(m["seq"], m["kind"], m["text"]) for m in msgs],
                         [(1, "payment", notice["text"]),
                          (2, "payment", "Refunded 5,000 KRW")])
        self.send_ok(bt, room, "thanks")
        self.assertEqual(len(self.history(at, room)["messages"]), 3)

    def test_redelivery_after_a_crash_appends_nothing(self):
        # The subscriber persists its position a little after handling an
        # event, so a SIGKILL right after a notice shows up makes the
        # restarted server deliver that event again. The module logs each
        # repeat it recognises (debug level), which proves the path ran.
        config = dict(self.server_config, log_level="debug")
        s = Server(config=config).start()
        repeats = 0
        try:
            a, at = s.create_user("alice_" + os.urandom(4).hex())
            b, bt = s.create_user("bob_" + os.urandom(4).hex())
            r = s.post("/v1/rooms", {"kind": "direct", "members": [b]}, token=at)
            self.assertEqual(r.status, 201, r)
            room = r.json["id"]
            for i in range(5):
                self.notice("payment", {"room_id": room,
                                        "notice": {"text": "paid #%d" % i}},
                            server=s)
                self.assertEqual(len(self.wait_messages(at, room, i + 1, server=s)),
                                 i + 1)
                s.kill()
                s = Server(data_dir=s.data_dir, config=config).start()
                self.wait_messages(at, room, i + 1, server=s)
                time.sleep(0.3)  # room for a (wrong) second append
                msgs = self.wait_messages(at, room, i + 2, server=s, timeout=0)
                self.assertEqual([m["text"] for m in msgs],
                                 ["paid #%d" % n for n in range(i + 1)])
                repeats += any("delivered again" in l for l in s.log_lines)
            self.assertGreater(repeats, 0, "no redelivery was provoked")
        finally:
            stop_checked(s)
            shutil.rmtree(s.data_dir, ignore_errors=True)
            if os.path.exists(s.data_dir + ".json"):
                os.unlink(s.data_dir + ".json")


# --------------------------------------------------------------------------
class StoredAnswersTest(ChatBase):
    """The read models hold rendered answers (README.md, "Stores"): what a
    send answers is what history, the room and the inbox answer later, and
    the room's rendered JSON follows every change of its last message and
    of its members."""

    TRICKY = ['quote " backslash \\ slash / </script>',
              "tab\tnew line\nreturn\r end",
              "\u2028\u2029 \u00e9\u0301 \uc548\ub155 \U0001F44B \U0001F1F0\U0001F1F7",
              "\\u0000 is text here, and so is \\n",
              '{"json": [1, 2]} end']

    def views(self, tok, room):
        """The room as the room route and as the caller's inbox show it."""
        direct = self.room_of(tok, room)
        listed = [x for x in self.get(tok, "/v1/rooms?limit=100").json["rooms"]
                  if x["id"] == room]
        self.assertEqual(len(listed), 1)
        self.assertEqual(listed[0], direct)
        return direct

    def test_texts_needing_escapes_round_trip(self):
        (a, at), (b, bt) = self.user("alice"), self.user("bob")
        g = self.group(at, [b], 'T "quoted" \\ \u00e9')
        self.assertEqual(self.room_of(bt, g)["title"], 'T "quoted" \\ \u00e9')
        sent = []
        for i, text in enumerate(self.TRICKY):
            m = self.send_ok(at, g, text, 'cmid "%d" \\' % i)
            self.assertEqual((m["text"], m["client_msg_id"]),
                             (text, 'cmid "%d" \\' % i))
            sent.append(m)
            self.assertEqual(self.views(bt, g)["last_message"], m)
        self.assertEqual(self.history(bt, g)["messages"], sent[::-1])
        self.assertEqual(self.history(bt, g, "?after=0")["messages"], sent)
        # a retry is recognised by its text, escapes and all
        before = self.last_seq()
        for i, text in enumerate(self.TRICKY):
            r = self.send(at, g, text, 'cmid "%d" \\' % i)
            self.assertEqual((r.status, r.json), (200, sent[i]))
            r = self.send(at, g, text + " ", 'cmid "%d" \\' % i)
            self.assertError(r, 409, "conflict")
        self.assertNothingAppended(before)
        # editing to a text that differs only by an escape is a change
        last = sent[-1]
        path = "/v1/rooms/%s/messages/%d" % (g, last["seq"])
        r = self.req("PATCH", at, path, {"text": last["text"] + "\n"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["text"], last["text"] + "\n")
        self.assertEqual(self.views(at, g)["last_message"], r.json)

    def test_room_follows_its_last_message_and_members(self):
        (a, at), (b, bt), (c, ct) = (self.user("alice"), self.user("bob"),
                                     self.user("carol"))
        g = self.group(at, [b], "team")
        created = self.views(at, g)
        m1 = self.send_ok(at, g, "one")
        m2 = self.send_ok(bt, g, "two")
        room = self.views(at, g)
        self.assertEqual((room["last_seq"], room["last_message"], room["unread"]),
                         (2, m2, 1))
        self.assertGreaterEqual(room["last_activity_at"],
                                created["last_activity_at"])
        # editing an older message leaves the room's last message alone
        r = self.req("PATCH", at, "/v1/rooms/%s/messages/1" % g, {"text": "uno"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.history(at, g, "?after=0")["messages"][0], r.json)
        self.assertEqual(self.views(at, g), room)
        # editing the last one changes it, not the activity
        r = self.req("PATCH", bt, "/v1/rooms/%s/messages/2" % g, {"text": "dos"})
        edited = r.json
        now = self.views(at, g)
        self.assertEqual(now["last_message"], edited)
        self.assertEqual(now["last_activity_at"], room["last_activity_at"])
        # members come and go: the count follows, the last message stays
        self.assertEqual(self.server.post("/v1/rooms/%s/members" % g,
                                          {"user": c}, token=bt).status, 201)
        for tok in (at, bt, ct):
            v = self.views(tok, g)
            self.assertEqual((v["member_count"], v["last_message"]), (3, edited))
        self.assertEqual((self.views(ct, g)["unread"],
                          self.views(ct, g)["read_seq"]), (0, 2))
        r = self.req("DELETE", bt, "/v1/rooms/%s/members/%s" % (g, b))
        self.assertEqual(r.status, 200, r)
        v = self.views(at, g)
        self.assertEqual((v["member_count"], v["last_message"]), (2, edited))
        # deleting the last message shows the tombstone everywhere
        r = self.req("DELETE", at, "/v1/rooms/%s/messages/1" % g)
        self.assertEqual(self.views(ct, g)["last_message"], edited)
        m3 = self.send_ok(ct, g, "three")
        r = self.req("DELETE", ct, "/v1/rooms/%s/messages/3" % g)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.views(at, g)["last_message"], r.json)
        self.assertEqual(r.json["id"], m3["id"])
        self.assertEqual(m1["seq"], 1)
        # the inbox copy of the caller's position follows reads
        self.assertEqual(self.views(at, g)["unread"], 2)
        self.server.post("/v1/rooms/%s/read" % g, {"seq": 2}, token=at)
        self.assertEqual((self.views(at, g)["unread"],
                          self.views(at, g)["read_seq"]), (1, 2))

    def test_message_bodies_in_any_json_form(self):
        """Bodies are read without a JSON tree when they are flat objects;
        every other form is left to jansson: the answers do not depend on
        which one read the body."""
        (a, at), (b, bt) = self.user("alice"), self.user("bob")
        g = self.group(at, [b])
        path = "/v1/rooms/%s/messages" % g
        ok = [(b'{"te\\u0078t": "escaped key"}', "escaped key", None),
              (b'{"text": "first", "text": "last wins"}', "last wins", None),
              (b' \n{ "text" : "spaced" ,"client_msg_id":"sp-1" } \n', "spaced",
               "sp-1"),
              (b'{"text": "nested", "x": {"y": [1, 2.5e3, null]}}', "nested", None),
              (b'{"text": "n", "big": 1e300, "kind": "text"}', "n", None),
              (b'{"text": "\\ud83d\\udc4b pair"}', "\U0001F44B pair", None),
              (b'{"text": "a\\\\u0000b"}', "a\\u0000b", None)]
        for raw, text, cmid in ok:
            r = self.req("POST", at, path, raw=raw)
            self.assertEqual(r.status, 201, (raw, r))
            self.assertEqual((r.json["text"], r.json["client_msg_id"]),
                             (text, cmid), raw)
            self.assertEqual(self.history(bt, g)["messages"][0], r.json)
        before = self.last_seq()
        bad = [(b'{"text": "a\\u0000b"}', "invalid_json"),
               (b'{"text": "x", "other": "\\u0000"}', "invalid_json"),
               (b'{"text": "\\ud800 lone"}', "invalid_json"),
               (b'{"text": "\\udc00 lone"}', "invalid_json"),
               (b'{"text": "x",}', "invalid_json"),
               (b'{"text": "x"} trailing', "invalid_json"),
               (b'{"text": "raw\ttab"}', "invalid_json"),
               (b'{"text": "caf\xe9"}', "invalid_argument"),
               (b'{"text": true}', "invalid_argument"),
               (b'{"text": "x", "kind": false}', "invalid_argument"),
               (b'{"text": "x", "client_msg_id": false}', "invalid_argument"),
               (b'["text"]', "invalid_argument")]
        for raw, code in bad:
            self.assertError(self.req("POST", at, path, raw=raw), 400, code)
        self.assertError(self.req("POST", at, path,
                                  raw=b'{"text": "x", "kind": "system"}'),
                         403, "forbidden")
        self.assertNothingAppended(before)


# --------------------------------------------------------------------------
class RebuildTest(ChatBase):
    def build_state(self):
        u = {n: self.user(n) for n in ("alice", "bob", "carol", "dave")}
        (a, at), (b, bt), (c, ct), (d, dt) = (u[n] for n in
                                              ("alice", "bob", "carol", "dave"))
        ab = self.direct(at, b, "listing:42")["id"]
        ac = self.direct(ct, a)["id"]
        g = self.group(at, [b, c], "Team")
        for i in range(30):
            tok = (at, bt, ct)[i % 3]
            self.send_ok(tok, g, "g-%d" % i, "g%d" % i)
        for i in range(5):
            self.send_ok(at, ab, "ab-%d" % i)
            self.send_ok(ct, ac, "ac-%d" % i, "ac%d" % i)
        self.req("PATCH", at, "/v1/rooms/%s/messages/1" % g, {"text": "g-0 edited"})
        self.req("DELETE", bt, "/v1/rooms/%s/messages/2" % g)
        self.req("DELETE", at, "/v1/rooms/%s/messages/5" % ab)
        self.server.post("/v1/rooms/%s/read" % g, {"seq": 10}, token=bt)
        self.server.post("/v1/rooms/%s/read" % g, {"seq": 25}, token=ct)
        self.server.post("/v1/rooms/%s/read" % ab, {"seq": 3}, token=bt)
        self.req("DELETE", ct, "/v1/rooms/%s/members/%s" % (g, c))
        self.server.post("/v1/rooms/%s/members" % g, {"user": d}, token=bt)
        self.send_ok(dt, g, "dave here", "d1")
        self.server.post("/v1/users/%s/block" % c, token=bt)
        self.server.post("/v1/users/%s/block" % d, token=at)
        self.req("DELETE", at, "/v1/users/%s/block" % d)
        return u, {"ab": ab, "ac": ac, "g": g}

    def snapshot(self, server, u, rooms):
        """Every read endpoint for every user, plus the no-op writes that
        read the idempotency, direct-room and block stores."""
        snap = {}

        def take(key, method, tok, path, body=None):
            r = server.request(method, path, body=body, token=tok)
            snap[key] = (r.status, r.body)

        for name, (uid, tok) in u.items():
            take((name, "inbox"), "GET", tok, "/v1/rooms")
            cursor, page = None, 0
            while True:
                q = "?limit=1" + ("&cursor=" + cursor if cursor else "")
                r = server.get("/v1/rooms" + q, token=tok)
                snap[(name, "inbox", page)] = (r.status, r.body)
                cursor, page = r.json["next_cursor"], page + 1
                if cursor is None:
                    break
            for rname, room in rooms.items():
                base = "/v1/rooms/" + room
                for sub in ("", "/members", "/presence", "/messages",
                            "/messages?limit=7", "/messages?before=20&limit=7",
                            "/messages?after=0&limit=13",
                            "/messages?after=13&limit=13"):
                    take((name, rname, sub), "GET", tok, base + sub)
        (a, at), (b, bt), (c, ct), (d, dt) = (u[n] for n in
                                              ("alice", "bob", "carol", "dave"))
        take("retry", "POST", at, "/v1/rooms/%s/messages" % rooms["g"],
             {"text": "g-0", "client_msg_id": "g0"})
        take("retry-conflict", "POST", at, "/v1/rooms/%s/messages" % rooms["g"],
             {"text": "other", "client_msg_id": "g0"})
        take("direct-again", "POST", bt, "/v1/rooms",
             {"kind": "direct", "members": [a], "context": "listing:42"})
        take("blocked", "POST", ct, "/v1/rooms",
             {"kind": "direct", "members": [b]})
        take("read-lower", "POST", ct, "/v1/rooms/%s/read" % rooms["ac"], {"seq": 0})
        return snap

    def test_rebuild_answers_exactly_as_before(self):
        u, rooms = self.build_state()
        before_seq = self.last_seq()
        before = self.snapshot(self.server, u, rooms)
        self.assertEqual(self.last_seq(), before_seq)
        self.assertEqual(before["retry"][0], 200)
        self.assertEqual(before["retry-conflict"][0], 409)
        self.assertEqual(before["direct-again"][0], 200)
        self.assertEqual(before["blocked"][0], 422)
        self.assertEqual(before[("carol", "g", "")][0], 404)
        self.assertEqual(before[("dave", "g", "/messages?after=0&limit=13")][0], 200)

        stop_checked(self.server)
        r = self.server.run_cli("verify")
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        # the whole rebuild, then the chat module's alone
        for args in (("rebuild",), ("rebuild", "chat")):
            r = self.server.run_cli(*args)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            again = Server(data_dir=self.server.data_dir).start()
            try:
                after = self.snapshot(again, u, rooms)
                self.assertEqual(sorted(after, key=repr), sorted(before, key=repr))
                for key in before:
                    self.assertEqual(after[key], before[key], (args, key))
            finally:
                stop_checked(again)


class BatchedInboxTest(ChatBase):
    """Many posts, reads and membership changes at once, so group commits
    carry several messages per room: the inbox moves deferred to the end
    of each transaction must leave exactly what one move per message would
    (`chatd verify` rebuilds everything in other batches and compares)."""

    def test_concurrent_posts_reads_and_joins(self):
        names = ("ann", "ben", "cat", "dan")
        u = {n: self.user(n) for n in names}
        ids = {n: u[n][0] for n in names}
        tok = {n: u[n][1] for n in names}
        g1 = self.group(tok["ann"], [ids["ben"], ids["cat"]], "g1")
        g2 = self.group(tok["ann"], [ids["ben"], ids["dan"]], "g2")
        g3 = self.group(tok["cat"], [ids["ann"], ids["dan"]], "g3")
        plan = {g1: ("ann", "ben", "cat"), g2: ("ann", "ben", "dan"),
                g3: ("cat", "ann", "dan")}
        errors = []

        def poster(k):
            conn = self.server.connection()
            try:
                for i in range(40):
                    room = (g1, g2, g3)[(k + i) % 3]
                    who = plan[room][(k * 7 + i) % 3]
                    r = self.send(tok[who], room, "t%d-%d" % (k, i),
                                  "c%d-%d" % (k, i), conn=conn)
                    if r.status != 201:
                        errors.append(r)
                    if i % 9 == 4:  # a read to somewhere in the past
                        seq = max(1, r.json["seq"] - 3) if r.status == 201 else 1
                        self.server.request("POST", "/v1/rooms/%s/read" % room,
                                            body={"seq": seq}, token=tok[who],
                                            conn=conn)
            finally:
                conn.close()

        def churn():  # dan joins, leaves and joins g1 while it is busy
            for _ in range(3):
                self.server.post("/v1/rooms/%s/members" % g1, {"user": ids["dan"]},
                                 token=tok["ann"])
                time.sleep(0.01)
                self.req("DELETE", tok["dan"], "/v1/rooms/%s/members/%s" % (g1, ids["dan"]))
                time.sleep(0.01)
            self.server.post("/v1/rooms/%s/members" % g1, {"user": ids["dan"]},
                             token=tok["ann"])

        before = self.server.get("/metrics").body
        threads = [threading.Thread(target=poster, args=(k,)) for k in range(8)]
        threads.append(threading.Thread(target=churn))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        after = self.server.get("/metrics").body

        def counter(body, name):
            m = re.search(r"^%s (\S+)$" % name, body, re.M)
            return float(m.group(1)) if m else 0.0
        events = (counter(after, "chatd_events_appended_total") -
                  counter(before, "chatd_events_appended_total"))
        batches = (counter(after, "chatd_commit_batches_total") -
                   counter(before, "chatd_commit_batches_total"))
        self.assertGreater(events / max(batches, 1), 1.2, "no batching happened")

        members = {g1: set(names), g2: {"ann", "ben", "dan"}, g3: {"cat", "ann", "dan"}}
        for n in names:
            inbox = self.get(tok[n], "/v1/rooms").json["rooms"]
            got = [x["id"] for x in inbox]
            self.assertEqual(len(got), len(set(got)), (n, got))  # each once
            self.assertEqual(set(got), {r for r, m in members.items() if n in m})
            for x in inbox:  # unread: others' messages after the read position
                msgs, after = [], x["read_seq"]
                while True:
                    page = self.history(tok[n], x["id"], "?after=%d&limit=100" % after)
                    msgs += page["messages"]
                    if page["next_cursor"] is None:
                        break
                    after = page["next_cursor"]
                others = [m for m in msgs if m["sender"] != ids[n]]
                self.assertEqual(x["unread"], len(others), (n, x["id"]))
        stop_checked(self.server)
        r = self.server.run_cli("verify")
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        self.server.start()


class ModuleFileTest(unittest.TestCase):
    """The built module as a file: the loader's checks, one export."""

    path = module_file("chat")

    def test_loader_checks_pass_and_only_the_descriptor_is_exported(self):
        assert_module_file_ok(self, self.path)


if __name__ == "__main__":
    main()
