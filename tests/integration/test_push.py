"""Offline push through a webhook: a receiver that is down for a while
still gets every push once it is back, each idempotency key once, and
users with a live WebSocket connection get none."""

import json
import os
import socket
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import Server
from test_ws import RawWS


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Receiver:
    def __init__(self, port):
        self.port = port
        self.got = []  # (header key, body)
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                with outer.lock:
                    outer.got.append((self.headers.get("Idempotency-Key"), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), H)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class PushTest(unittest.TestCase):
    def test_down_receiver_gets_everything_once(self):
        port = free_port()
        config = {"push": {"webhook_url": "http://127.0.0.1:%d/hook" % port,
                           "timeout_ms": 1000}}
        with Server(config=config) as srv:
            time.sleep(0.2)
            if not any("pushing offline deliveries" in l for l in srv.log_lines):
                self.skipTest("push is not wired into `chatd serve` yet "
                              "(push_open not called; see /tmp/ws-host-issues.md)")
            a_id, a_tok = srv.create_user("alice")
            b_id, b_tok = srv.create_user("bob")
            c_id, c_tok = srv.create_user("carol")
            r = srv.post("/v1/rooms", {"kind": "group", "title": "p",
                                       "members": [b_id, c_id]}, token=a_tok)
            self.assertEqual(r.status, 201, r)
            room = r.json["id"]
            online = RawWS(srv.port, token=b_tok)  # bob is online
            self.assertEqual(online.recv_json()["type"], "hello")
            seqs = []
            for i in range(10):
                r = srv.post("/v1/rooms/%s/messages" % room,
                             {"text": "p%d" % i, "client_msg_id": "p%d" % i},
                             token=a_tok)
                self.assertEqual(r.status, 201, r)
            time.sleep(2.0)  # retries hit the closed port meanwhile
            rx = Receiver(port)
            try:
                deadline = time.time() + 40
                while time.time() < deadline:
                    with rx.lock:
                        carol = [b for k, b in rx.got if b["user"] == c_id]
                    if len(carol) >= 10:
                        break
                    time.sleep(0.1)
                time.sleep(0.5)
                with rx.lock:
                    got = list(rx.got)
            finally:
                rx.stop()
                online.close()
            carol = [b for k, b in got if b["user"] == c_id]
            self.assertEqual([b["event"]["data"]["text"] for b in carol],
                             ["p%d" % i for i in range(10)])
            self.assertEqual([b for k, b in got if b["user"] == b_id], [])
            # the author is not told of their own messages
            self.assertEqual([b for k, b in got if b["user"] == a_id], [])
            keys = [k for k, b in got]
            self.assertEqual(len(keys), len(set(keys)), keys)
            for k, b in got:
                self.assertEqual(k, b["idempotency_key"])
                self.assertEqual(k, "%d:%s" % (b["event"]["seq"], b["user"]))
                self.assertEqual(b["event"]["type"], "chat.message_posted")
            code = srv.stop()
            self.assertEqual(code, 0)
            bad = [l for l in srv.log_lines
                   if "AddressSanitizer" in l or "runtime error:" in l]
            self.assertEqual(bad, [])
            # An operator moves the checkpoint back by one event: the last
            # message is pushed again, with the keys it had (and to bob,
            # offline now), and nothing else is.
            last = max(b["event"]["seq"] for k, b in got)
            r = srv.run_cli("reset-subscriber", "host.push", "--after",
                            str(last - 1))
            self.assertEqual(r.returncode, 0, r.stderr)
            rx = Receiver(port)
            try:
                srv.start()
                want = {"%d:%s" % (last, c_id), "%d:%s" % (last, b_id)}
                deadline = time.time() + 20
                while time.time() < deadline:
                    with rx.lock:
                        if want <= {k for k, b in rx.got}:
                            break
                    time.sleep(0.1)
                time.sleep(0.3)
                with rx.lock:
                    again = {k for k, b in rx.got}
            finally:
                rx.stop()
            self.assertEqual(again, want)
            self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    import sys
    prog = unittest.main(verbosity=2, exit=False)
    r = prog.result
    if r.failures or r.errors:
        sys.exit(1)
    # everything skipped (push not wired yet): SKIP for automake, not PASS
    sys.exit(77 if r.testsRun and len(r.skipped) == r.testsRun else 0)
