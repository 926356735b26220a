"""WebSocket real-time delivery: fan-out, gapless resume, send/ack,
typing and presence, slow consumers, protocol errors, resync.

Uses python3-websockets (10.x) for well-behaved clients and a small raw
client (RawWS below) where a test needs to misbehave on purpose.
"""

import asyncio
import base64
import json
import os
import re
import socket
import struct
import threading
import time
import unittest

import websockets

from harness import ServerTestCase, main


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# --------------------------------------------------------------------------
# A deliberately simple blocking client that can break the protocol.
class RawWS:
    def __init__(self, port, token=None, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.sock.settimeout(10)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (port, key))
        if token:
            req += "Authorization: Bearer %s\r\n" % token
        self.sock.sendall((req + "\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError("handshake: connection closed")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise AssertionError("handshake: %r" % head[:200])

    def send_frame(self, opcode, payload, mask=True, fin=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            hdr += key
        self.sock.sendall(hdr + payload)

    def send_json(self, obj):
        self.send_frame(1, json.dumps(obj).encode())

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self):
        """Returns (opcode, payload)."""
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._need(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._need(8))[0]
        return b0 & 0x0F, self._need(n)

    def recv_json(self):
        while True:
            op, data = self.recv_frame()
            if op == 1:
                return json.loads(data)
            if op == 8:
                raise AssertionError("closed: %r" % data)

    def close_code(self):
        """Reads until a close frame; returns its code (None on EOF)."""
        try:
            while True:
                op, data = self.recv_frame()
                if op == 8:
                    return struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
        except (EOFError, ConnectionResetError, socket.timeout):
            return None

    def close(self):
        self.sock.close()


# --------------------------------------------------------------------------
class WsBase(ServerTestCase):
    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        bad = [l for l in cls.server.log_lines
               if "AddressSanitizer" in l or "runtime error:" in l
               or "LeakSanitizer" in l]
        cls.server.cleanup()
        if bad or code != 0:
            raise AssertionError("server exit %r; sanitizer reports:\n%s"
                                 % (code, "\n".join(bad[:40])))

    def url(self):
        return "ws://127.0.0.1:%d/v1/ws" % self.server.port

    def user(self, name):
        return self.server.create_user(name + "_" + os.urandom(3).hex())

    def room(self, owner_tok, members):
        r = self.server.post("/v1/rooms", {"kind": "group", "title": "t",
                                           "members": members}, token=owner_tok)
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def post_msg(self, tok, room, text, cmid=None):
        r = self.server.post("/v1/rooms/%s/messages" % room,
                             {"text": text, "client_msg_id": cmid or os.urandom(8).hex()},
                             token=tok)
        self.assertIn(r.status, (200, 201), r)
        return r.json

    async def connect(self, tok, after=None, epoch=None):
        ws = await websockets.connect(self.url(), max_size=2 ** 22)
        frame = {"type": "auth", "token": tok}
        if after is not None:
            frame["after"] = after
        if epoch is not None:
            frame["epoch"] = epoch
        await ws.send(json.dumps(frame))
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        self.assertEqual(hello["type"], "hello", hello)
        return ws, hello

    async def recv_until(self, ws, pred, timeout=10):
        """Frames until pred(frame) is true; returns all of them."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out; got %r" % out[-5:])
            f = json.loads(await asyncio.wait_for(ws.recv(), left))
            out.append(f)
            if pred(f):
                return out

    def metric(self, name):
        body = self.server.get("/metrics").body
        m = re.search(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(name), body, re.M)
        return float(m.group(1)) if m else None


def texts(frames):
    return [f["event"]["data"]["text"] for f in frames
            if f["type"] == "event" and f["event"]["type"] == "chat.message_posted"]


class WsTest(WsBase):
    def test_fanout_to_members_and_devices(self):
        a_id, a_tok = self.user("alice")
        b_id, b_tok = self.user("bob")
        c_id, c_tok = self.user("carol")
        room = self.room(a_tok, [b_id, c_id])

        async def go():
            conns = [await self.connect(t) for t in (b_tok, b_tok, c_tok, a_tok)]
            for i in range(5):
                self.post_msg(a_tok, room, "m%d" % i)
            for ws, hello in conns:
                frames = await self.recv_until(ws, lambda f: texts([f]) == ["m4"])
                self.assertEqual(texts(frames), ["m%d" % i for i in range(5)])
                pos = [f["pos"] for f in frames if f["type"] == "event"]
                self.assertEqual(pos, list(range(hello["pos"] + 1, hello["pos"] + 1 + len(pos))))
                ev = frames[-1]["event"]
                for k in ("seq", "time", "type", "v", "stream", "stream_ver",
                          "correlation_id", "actor", "data"):
                    self.assertIn(k, ev)
                self.assertTrue(ev["time"].endswith("Z"))
                self.assertEqual(ev["actor"], "user:" + a_id)
                await ws.close()
            # both bob devices saw identical positions
        run(go())

    def test_resume_seam_under_concurrent_sends(self):
        a_id, a_tok = self.user("alice")
        b_id, b_tok = self.user("bob")
        room = self.room(a_tok, [b_id])
        total = 150
        stop = threading.Event()

        def sender():
            for i in range(total):
                self.post_msg(a_tok, room, "s%d" % i)
            stop.set()

        async def go():
            seen = []  # (pos, seq) in arrival order across sessions
            last = None
            th = threading.Thread(target=sender)
            ws, hello = await self.connect(b_tok, after=0)
            epoch = hello["epoch"]
            th.start()
            sessions = 0
            while True:
                got = 0
                want = 5 + sessions * 7
                try:
                    while got < want:
                        f = json.loads(await asyncio.wait_for(ws.recv(), 5))
                        if f["type"] == "event":
                            seen.append((f["pos"], f["event"]["seq"], texts([f])))
                            last = f["pos"]
                            got += 1
                except asyncio.TimeoutError:
                    pass
                await ws.close()
                sessions += 1
                if stop.is_set() and got < want:
                    break
                ws, hello = await self.connect(b_tok, after=last, epoch=epoch)
                self.assertNotEqual(hello.get("type"), "resync")
            th.join()
            positions = [p for p, _, _ in seen]
            self.assertEqual(positions, list(range(1, len(positions) + 1)))
            seqs = [s for _, s, _ in seen]
            self.assertEqual(len(seqs), len(set(seqs)))
            got_texts = [t[0] for _, _, t in seen if t]
            self.assertEqual(got_texts, ["s%d" % i for i in range(total)])
            self.assertGreater(sessions, 3)
        run(go(), timeout=120)

    def test_send_ack_is_idempotent(self):
        a_id, a_tok = self.user("alice")
        b_id, b_tok = self.user("bob")
        room = self.room(a_tok, [b_id])

        async def go():
            ws, _ = await self.connect(a_tok)
            frame = {"type": "send", "room": room, "client_msg_id": "cm-1", "text": "once"}
            await ws.send(json.dumps(frame))
            acks = await self.recv_until(ws, lambda f: f["type"] == "ack")
            first = acks[-1]
            self.assertEqual(first["status"], 201, first)
            self.assertEqual(first["client_msg_id"], "cm-1")
            await ws.send(json.dumps(frame))
            second = (await self.recv_until(ws, lambda f: f["type"] == "ack"))[-1]
            self.assertEqual(second["status"], 200, second)
            self.assertEqual(second["message"]["id"], first["message"]["id"])
            frame["text"] = "different"
            await ws.send(json.dumps(frame))
            third = (await self.recv_until(ws, lambda f: f["type"] == "ack"))[-1]
            self.assertEqual(third["status"], 409, third)
            self.assertEqual(third["error"]["code"], "conflict")
            await ws.send(json.dumps({"type": "send", "room": "nope!/x", "text": "x",
                                      "client_msg_id": "z"}))
            err = (await self.recv_until(ws, lambda f: f["type"] == "error"))[-1]
            self.assertEqual(err["error"]["code"], "invalid_argument")
            await ws.close()
        run(go())
        r = self.server.get("/v1/rooms/%s/messages" % room, token=a_tok)
        self.assertEqual([m["text"] for m in r.json["messages"]], ["once"])

    def test_typing_and_presence(self):
        a_id, a_tok = self.user("alice")
        b_id, b_tok = self.user("bob")
        room = self.room(a_tok, [b_id])

        def online(uid):
            r = self.server.get("/v1/rooms/%s/presence" % room, token=a_tok)
            self.assertEqual(r.status, 200, r)
            return {m["user"]: m["online"] for m in r.json["members"]}[uid]

        async def go():
            self.assertFalse(online(b_id))
            wb, _ = await self.connect(b_tok)
            wb2, _ = await self.connect(b_tok)
            wa, _ = await self.connect(a_tok)
            self.assertTrue(online(b_id))
            await wa.send(json.dumps({"type": "typing", "room": room}))
            for ws in (wb, wb2):
                f = (await self.recv_until(ws, lambda f: f["type"] == "typing"))[-1]
                self.assertEqual(f["user"], a_id)
                self.assertEqual(f["room"], room)
            await wa.send(json.dumps({"type": "ping", "id": 7}))
            f = (await self.recv_until(wa, lambda f: f["type"] == "pong"))[-1]
            self.assertEqual(f.get("id"), 7)
            await wa.send(json.dumps({"type": "bogus"}))
            f = (await self.recv_until(wa, lambda f: f["type"] == "error"))[-1]
            self.assertEqual(f["error"]["code"], "invalid_argument")
            await wa.send(json.dumps({"type": "ping"}))
            await self.recv_until(wa, lambda f: f["type"] == "pong")
            await wb.close()
            self.assertTrue(online(b_id))  # second device still there
            await wb2.close()
            deadline = time.time() + 5
            while online(b_id) and time.time() < deadline:
                time.sleep(0.05)
            self.assertFalse(online(b_id))
            await wa.close()
        run(go())

    def test_presence_pushed_to_co_members_once(self):
        a_id, a_tok = self.user("alice")
        b_id, b_tok = self.user("bob")
        c_id, c_tok = self.user("carol")
        self.room(a_tok, [b_id])
        self.room(a_tok, [b_id])  # two shared rooms: still one frame each
        room_c = self.room(c_tok, [b_id])  # carol shares no room with alice

        def presence(frames):
            return [(f["user"], f["online"]) for f in frames if f["type"] == "presence"]

        async def go():
            wb, _ = await self.connect(b_tok)
            wc, _ = await self.connect(c_tok)
            await asyncio.sleep(0.3)
            wa, _ = await self.connect(a_tok)
            wa2, _ = await self.connect(a_tok)  # a second device: no new frame
            is_alice = lambda f: f["type"] == "presence" and f["user"] == a_id
            got = await self.recv_until(wb, is_alice)
            await wa.close()
            await wa2.close()
            got += await self.recv_until(wb, lambda f: is_alice(f) and not f["online"])
            alice = [p for p in presence(got) if p[0] == a_id]
            self.assertEqual(alice, [(a_id, True), (a_id, False)])
            # carol shares nothing with alice: she only ever heard of bob's
            # room mates through her own room, never of alice.
            self.post_msg(c_tok, room_c, "marker")
            got = await self.recv_until(wc, lambda f: texts([f]) == ["marker"])
            self.assertNotIn(a_id, [u for u, _ in presence(got)])
            await wb.close()
            await wc.close()
        run(go())

    def test_read_frame(self):
        a_id, a_tok = self.user("alice")
        b_id, b_tok = self.user("bob")
        room = self.room(a_tok, [b_id])
        m = self.post_msg(a_tok, room, "r1")

        async def go():
            wb, _ = await self.connect(b_tok)
            await wb.send(json.dumps({"type": "read", "room": room, "seq": m["seq"], "id": "r"}))
            f = (await self.recv_until(wb, lambda f: f["type"] == "ack"))[-1]
            self.assertEqual(f["status"] // 100, 2, f)
            self.assertEqual(f["id"], "r")
            await wb.close()
        run(go())

    def test_resync_on_wrong_epoch_and_future_pos(self):
        a_id, a_tok = self.user("alice")
        b_id, b_tok = self.user("bob")
        room = self.room(a_tok, [b_id])
        self.post_msg(a_tok, room, "before")

        async def go():
            for args, reason in (({"after": 1, "epoch": "0000000000000000"}, "epoch_mismatch"),
                                 ({"after": 10 ** 9}, "position_ahead"),
                                 ({"after": 1}, "epoch_required")):
                ws, hello = await self.connect(b_tok, **args)
                f = json.loads(await asyncio.wait_for(ws.recv(), 10))
                self.assertEqual(f["type"], "resync", f)
                self.assertEqual(f["reason"], reason)
                self.post_msg(a_tok, room, "after-" + reason)
                frames = await self.recv_until(ws, lambda f: texts([f]) == ["after-" + reason])
                ev = [f for f in frames if f["type"] == "event"]
                self.assertEqual(ev[0]["pos"], hello["pos"] + 1)
                await ws.close()
            # the right epoch and a valid pos: no resync, backlog follows hello
            ws, hello = await self.connect(b_tok)
            epoch = hello["epoch"]
            await ws.close()
            ws, hello = await self.connect(b_tok, after=0, epoch=epoch)
            f = json.loads(await asyncio.wait_for(ws.recv(), 10))
            self.assertEqual((f["type"], f["pos"]), ("event", 1))
            await ws.close()
        run(go())

    def test_header_auth_and_resume_frame(self):
        a_id, a_tok = self.user("alice")
        b_id, b_tok = self.user("bob")
        room = self.room(a_tok, [b_id])
        self.post_msg(a_tok, room, "h1")

        async def go():
            hdr = {"Authorization": "Bearer " + b_tok}
            ws = await websockets.connect(self.url(), extra_headers=hdr)
            hello = json.loads(await ws.recv())
            self.assertEqual(hello["type"], "hello")
            self.assertEqual(hello["user"], b_id)
            await ws.send(json.dumps({"type": "resume", "after": 0, "epoch": hello["epoch"]}))
            frames = await self.recv_until(ws, lambda f: texts([f]) == ["h1"])
            self.assertEqual(frames[0]["pos"], 1)
            await ws.close()
            # no resume frame: live from hello's pos
            ws = await websockets.connect(self.url(), extra_headers=hdr)
            hello = json.loads(await ws.recv())
            self.post_msg(a_tok, room, "h2")
            f = (await self.recv_until(ws, lambda f: f["type"] == "event"))[-1]
            self.assertEqual(f["pos"], hello["pos"] + 1)
            self.assertEqual(texts([f]), ["h2"])
            await ws.close()
        run(go())

    def test_protocol_errors_close_codes(self):
        a_id, a_tok = self.user("alice")
        port = self.server.port
        # bad token in the auth frame -> 1008
        c = RawWS(port)
        c.send_json({"type": "auth", "token": "nope"})
        self.assertEqual(c.close_code(), 1008)
        c.close()
        # first frame not auth -> 1008
        c = RawWS(port)
        c.send_json({"type": "ping"})
        self.assertEqual(c.close_code(), 1008)
        c.close()
        # unmasked client frame -> 1002
        c = RawWS(port, token=a_tok)
        self.assertEqual(c.recv_json()["type"], "hello")
        c.send_frame(1, b'{"type":"ping"}', mask=False)
        self.assertEqual(c.close_code(), 1002)
        c.close()
        # invalid UTF-8 in a text frame -> 1007
        c = RawWS(port, token=a_tok)
        c.recv_json()
        c.send_frame(1, b'{"type":"\xff\xfe"}')
        self.assertEqual(c.close_code(), 1007)
        c.close()
        # over max_message (64 KiB) -> 1009
        c = RawWS(port, token=a_tok)
        c.recv_json()
        c.send_frame(1, b"x" * (70 * 1024))
        self.assertEqual(c.close_code(), 1009)
        c.close()
        # fragmented message: accepted and answered
        c = RawWS(port, token=a_tok)
        c.recv_json()
        c.send_frame(1, b'{"type":', fin=False)
        c.send_frame(9, b"hb")  # a ping between fragments
        c.send_frame(0, b'"ping"}', fin=True)
        while True:
            op, data = c.recv_frame()
            if op == 1:
                self.assertEqual(json.loads(data)["type"], "pong")
                break
            self.assertEqual(op, 10)  # the pong of our ping
        c.close()
        # nothing at all within the auth window is tested in WsTimeoutTest

    def paused_reader(self, sender, reader):
        """A room of two new users; the reader's connection, live, with a
        small receive buffer it does not read yet. Returns (sender's
        token, room, connection)."""
        a_id, a_tok = self.user(sender)
        b_id, b_tok = self.user(reader)
        room = self.room(a_tok, [b_id])
        paused = RawWS(self.server.port, token=b_tok, rcvbuf=4096)
        hello = paused.recv_json()
        paused.send_json({"type": "resume", "after": hello["pos"]})
        return a_tok, room, paused

    def test_paused_reader_gets_every_frame_intact(self):
        # More than the sockets hold but less than max_outbuf: the server
        # must keep what the socket refused (frames cut mid-way included)
        # and send it, in order, once the client reads again.
        a_tok, room, paused = self.paused_reader("alice", "bob")
        before = self.metric("chatd_ws_slow_consumer_closes_total") or 0
        n, text = 120, "z" * 3900
        for i in range(n):
            self.post_msg(a_tok, room, "%d:%s" % (i, text))
        got, pos = [], []
        while len(got) < n:
            f = paused.recv_json()
            if f["type"] == "event" and f["event"]["type"] == "chat.message_posted":
                got.append(f["event"]["data"]["text"])
                pos.append(f["pos"])
        self.assertEqual(got, ["%d:%s" % (i, text) for i in range(n)])
        self.assertEqual(pos, list(range(pos[0], pos[0] + n)))
        self.assertEqual(self.metric("chatd_ws_slow_consumer_closes_total") or 0, before)
        paused.close()

    def test_paused_reader_gets_pongs_and_frames_in_order(self):
        # Our text frames wait in the connection's own buffer and wslay's
        # pongs in wslay's queue; while a pong waits, text joins it there.
        # Whatever waits where, the stream stays whole frames, in order.
        a_tok, room, paused = self.paused_reader("amy", "ben")
        n, text = 90, "q" * 3900
        for i in range(n):
            self.post_msg(a_tok, room, "%d:%s" % (i, text))
            if i % 3 == 0:
                paused.send_frame(9, b"p%d" % i)
        got, pos, pongs = [], [], []
        while len(got) < n or len(pongs) < n // 3:
            op, data = paused.recv_frame()
            self.assertNotEqual(op, 8, data)
            if op == 10:
                pongs.append(data)
            elif op == 1:
                f = json.loads(data)
                if f["type"] == "event" and f["event"]["type"] == "chat.message_posted":
                    got.append(f["event"]["data"]["text"])
                    pos.append(f["pos"])
        self.assertEqual(pongs, [b"p%d" % i for i in range(0, n, 3)])
        self.assertEqual(got, ["%d:%s" % (i, text) for i in range(n)])
        self.assertEqual(pos, list(range(pos[0], pos[0] + n)))
        paused.close()

    def test_revoked_tokens_close_connections(self):
        # The server cannot tell which of a user's tokens let a connection
        # in: a revocation closes all of that user's connections (1008),
        # the revoked token cannot come back, the others can, and other
        # users' connections are untouched.
        a_id, t1 = self.user("rita")
        t2 = self.server.admin("POST", "/v1/users/%s/tokens" % a_id).json["token"]
        b_id, b_tok = self.user("rob")
        room = self.room(b_tok, [a_id])
        c1, c2, cb = (RawWS(self.server.port, token=t) for t in (t1, t2, b_tok))
        for c in (c1, c2, cb):
            hello = c.recv_json()
            c.send_json({"type": "resume", "after": hello["pos"]})
        r = self.server.request("DELETE", "/v1/me/token", token=t1)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(c1.close_code(), 1008)
        self.assertEqual(c2.close_code(), 1008)
        with self.assertRaisesRegex(AssertionError, "401"):
            RawWS(self.server.port, token=t1)
        again = RawWS(self.server.port, token=t2)
        self.assertEqual(again.recv_json()["type"], "hello")
        self.post_msg(b_tok, room, "still here")
        while True:
            f = cb.recv_json()
            if f["type"] == "event" and f["event"]["type"] == "chat.message_posted":
                self.assertEqual(f["event"]["data"]["text"], "still here")
                break
        for c in (c1, c2, cb, again):
            c.close()

    def test_handshakes_racing_a_revocation_do_not_survive_it(self):
        # The token of a header-authenticated handshake is checked on the
        # HTTP thread before the 101; the connection joins its user on the
        # WebSocket thread a moment later. Handshakes keep coming while
        # the token is revoked: every one the server let in must be closed
        # with 1008, including any that passed the first check just before
        # the revocation committed (the hand-off checks the token again).
        a_id, _ = self.user("rae")
        for rnd in range(6):
            tok = self.server.admin("POST", "/v1/users/%s/tokens" % a_id).json["token"]
            opened, refused, stop = [], [], threading.Event()
            lock = threading.Lock()

            def opener():
                while not stop.is_set():
                    try:
                        c = RawWS(self.server.port, token=tok)
                    except AssertionError as e:
                        self.assertIn("401", str(e))
                        with lock:
                            refused.append(1)
                        return
                    c.sock.settimeout(5)
                    with lock:
                        opened.append(c)
            threads = [threading.Thread(target=opener) for _ in range(4)]
            for t in threads:
                t.start()
            time.sleep(0.05 + 0.02 * rnd)
            r = self.server.admin("DELETE", "/v1/users/%s/tokens" % a_id)
            self.assertEqual(r.status, 200, r)
            for t in threads:
                t.join(10)
            stop.set()
            self.assertEqual(len(refused), 4)  # each opener ended on a 401
            self.assertGreater(len(opened), 0)
            codes = [c.close_code() for c in opened]
            for c in opened:
                c.close()
            self.assertEqual(codes, [1008] * len(opened),
                             "round %d: connections let in before the "
                             "revocation must all be closed" % rnd)

    def test_metrics_exported(self):
        self.assertIsNotNone(self.metric("chatd_ws_connections"))
        self.assertIsNotNone(self.metric("chatd_ws_frames_sent_total"))
        self.assertIsNotNone(self.metric("chatd_ws_deliveries_total"))
        self.assertIsNotNone(self.metric("chatd_ws_slow_consumer_closes_total"))


class WsSlowConsumerTest(WsBase):
    server_config = {"ws": {"max_outbuf": 65536}}

    def test_slow_consumer_cut_off_other_keeps_receiving(self):
        a_id, a_tok = self.user("alice")
        b_id, b_tok = self.user("bob")
        room = self.room(a_tok, [b_id])
        slow = RawWS(self.server.port, token=b_tok, rcvbuf=4096)
        slow.recv_json()  # hello, then never read again (until the end)
        slow.send_json({"type": "resume", "after": None})
        before = self.metric("chatd_ws_slow_consumer_closes_total") or 0
        n = 200
        text = "y" * 3900

        async def go():
            fast, hello = await self.connect(b_tok)

            def post_all():  # in a thread, so this loop keeps reading
                for i in range(n):
                    self.post_msg(a_tok, room, "%d:%s" % (i, text))
            poster = asyncio.get_running_loop().run_in_executor(None, post_all)
            frames = await self.recv_until(
                fast, lambda f: texts([f])[:1] and texts([f])[0].startswith("%d:" % (n - 1)),
                timeout=60)
            await poster
            got = [t.split(":")[0] for t in texts(frames)]
            self.assertEqual(got, [str(i) for i in range(n)])
            await fast.close()
        run(go(), timeout=120)
        deadline = time.time() + 5
        while (self.metric("chatd_ws_slow_consumer_closes_total") or 0) <= before \
                and time.time() < deadline:
            time.sleep(0.05)
        self.assertGreater(self.metric("chatd_ws_slow_consumer_closes_total"), before)
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.assertEqual(slow.close_code(), 4008)
        slow.close()


class WsTimeoutTest(WsBase):
    server_config = {"ws": {"ping_interval_s": 1, "idle_timeout_s": 3}}

    def test_ping_keeps_alive_and_silence_times_out(self):
        a_id, a_tok = self.user("alice")

        async def go():
            # websockets answers pings, so the connection stays up
            ws, _ = await self.connect(a_tok)
            await asyncio.sleep(4.5)
            await ws.send(json.dumps({"type": "ping"}))
            await self.recv_until(ws, lambda f: f["type"] == "pong")
            await ws.close()
        run(go())
        # a raw client that never answers pings is closed after the idle timeout
        c = RawWS(self.server.port, token=a_tok)
        c.sock.settimeout(8)
        t0 = time.time()
        code = None
        try:
            while True:
                op, data = c.recv_frame()
                if op == 8:
                    code = struct.unpack("!H", data[:2])[0]
                    break
        except (EOFError, socket.timeout):
            pass
        self.assertEqual(code, 1001)
        self.assertLess(time.time() - t0, 7)
        c.close()


if __name__ == "__main__":
    main()
