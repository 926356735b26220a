"""The host over real HTTP: identity, errors, request ids, the event feed,
metrics, backup while writing, and crash recovery (SIGKILL under load)."""

import datetime
import errno
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import (ADMIN_TOKEN, BIN, Server, ServerTestCase,
                     stop_checked, ws_handshake, ws_read_frame)


class IdentityTest(ServerTestCase):
    def test_create_user_returns_token_once_and_me_works(self):
        r = self.server.admin("POST", "/v1/users", {"name": "alice-id"})
        self.assertEqual(r.status, 201, r)
        self.assertTrue(r.json["id"].startswith("u_"))
        self.assertEqual(r.json["name"], "alice-id")
        self.assertEqual(r.json["kind"], "user")
        token = r.json["token"]
        me = self.server.get("/v1/me", token=token)
        self.assertEqual(me.status, 200, me)
        self.assertEqual(me.json["id"], r.json["id"])
        self.assertNotIn("token", me.json)
        # The public profile, visible to another user, has no token either.
        other = self.server.get("/v1/users/" + r.json["id"], token=token)
        self.assertEqual(other.status, 200)
        self.assertEqual(other.json["name"], "alice-id")

    def test_duplicate_name_conflicts(self):
        self.server.create_user("dup-name")
        r = self.server.admin("POST", "/v1/users", {"name": "dup-name"})
        self.assertError(r, 409, "conflict")

    def test_new_token_for_user(self):
        uid, old = self.server.create_user("tokens-user")
        r = self.server.admin("POST", "/v1/users/%s/tokens" % uid)
        self.assertEqual(r.status, 201, r)
        new = r.json["token"]
        self.assertNotEqual(new, old)
        for t in (old, new):
            self.assertEqual(self.server.get("/v1/me", token=t).json["id"], uid)
        r = self.server.admin("POST", "/v1/users/u_nobody/tokens")
        self.assertError(r, 404, "not_found")

    def test_service_account(self):
        sid, stoken = self.server.create_user("svc-1", kind="service")
        me = self.server.get("/v1/me", token=stoken)
        self.assertEqual(me.json["kind"], "service")
        # A service may read the event feed; a plain user may not.
        self.assertEqual(self.server.get("/v1/events", token=stoken).status, 200)
        _, utoken = self.server.create_user("plain-1")
        self.assertError(self.server.get("/v1/events", token=utoken), 403, "forbidden")

    def test_tokens_answer_the_same_when_used_again(self):
        # A token once found is remembered: repeated use gives the same
        # principal and kind; tokens that differ by one byte stay unknown.
        uid, utoken = self.server.create_user("repeat-user")
        sid, stoken = self.server.create_user("repeat-svc", kind="service")
        for _ in range(3):
            me = self.server.get("/v1/me", token=utoken).json
            self.assertEqual((me["id"], me["kind"]), (uid, "user"))
            me = self.server.get("/v1/me", token=stoken).json
            self.assertEqual((me["id"], me["kind"]), (sid, "service"))
        last = "0" if utoken[-1] != "0" else "1"
        for bad in (utoken[:-1] + last, utoken + "0", utoken[:-1]):
            self.assertError(self.server.get("/v1/me", token=bad), 401,
                             "unauthenticated")

    def test_revoke_own_token(self):
        # Logging out: the token that sends DELETE /v1/me/token stops
        # working at once (it was remembered by the token cache), the
        # user's other tokens do not, and the event names only its hash.
        uid, t1 = self.server.create_user("revoke-me")
        t2 = self.server.admin("POST", "/v1/users/%s/tokens" % uid).json["token"]
        self.assertEqual(self.server.get("/v1/me", token=t1).status, 200)
        r = self.server.request("DELETE", "/v1/me/token", token=t1)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, "")
        self.assertError(self.server.get("/v1/me", token=t1), 401,
                         "unauthenticated")
        self.assertEqual(self.server.get("/v1/me", token=t2).json["id"], uid)
        self.assertError(self.server.request("DELETE", "/v1/me/token", token=t1),
                         401, "unauthenticated")
        feed = self.server.admin("GET", "/v1/events?limit=1000").json["events"]
        revoked = [e for e in feed if e["type"] == "identity.token_revoked"
                   and e["data"]["user_id"] == uid]
        self.assertEqual(len(revoked), 1)
        self.assertNotIn(t1, json.dumps(revoked))
        self.assertEqual(len(revoked[0]["data"]["token_sha256"]), 64)
        # the admin's token is configured, not issued
        self.assertError(self.server.admin("DELETE", "/v1/me/token"), 403,
                         "forbidden")

    def test_rotate_own_token(self):
        # POST /v1/me/token: a new token for the caller, the old one
        # revoked in the same commit; other tokens untouched.
        uid, t1 = self.server.create_user("rotate-me")
        t2 = self.server.admin("POST", "/v1/users/%s/tokens" % uid).json["token"]
        self.assertEqual(self.server.get("/v1/me", token=t1).status, 200)
        r = self.server.post("/v1/me/token", token=t1)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["user_id"], uid)
        self.assertIsNone(r.json["expires_at"])
        t3 = r.json["token"]
        self.assertNotIn(t3, (t1, t2))
        self.assertError(self.server.get("/v1/me", token=t1), 401,
                         "unauthenticated")
        self.assertEqual(self.server.get("/v1/me", token=t3).json["id"], uid)
        self.assertEqual(self.server.get("/v1/me", token=t2).json["id"], uid)
        self.assertError(self.server.post("/v1/me/token", token=t1), 401,
                         "unauthenticated")
        self.assertError(self.server.admin("POST", "/v1/me/token"), 403,
                         "forbidden")

    def test_revocation_races_with_requests_using_the_token(self):
        # Requests with the token run on other connections while it is
        # revoked: whatever they raced with (a lookup that read the token
        # just before the revocation committed), none that starts after
        # the revocation's answer gets in.
        for round_ in range(3):
            uid, tok = self.server.create_user("race-%d" % round_)
            stop = threading.Event()
            seen = []

            def hammer():
                conn = self.server.connection()
                while not stop.is_set():
                    t0 = time.monotonic()
                    r = self.server.request("GET", "/v1/me", token=tok, conn=conn)
                    seen.append((t0, r.status))
                conn.close()

            threads = [threading.Thread(target=hammer) for _ in range(4)]
            for t in threads:
                t.start()
            time.sleep(0.2)
            r = self.server.request("DELETE", "/v1/me/token", token=tok)
            answered = time.monotonic()
            self.assertEqual(r.status, 204, r)
            time.sleep(0.2)
            stop.set()
            for t in threads:
                t.join()
            after = [st for t0, st in seen if t0 > answered]
            self.assertTrue(after, "no request started after the answer")
            self.assertEqual(set(after), {401})
            self.assertIn(200, [st for t0, st in seen if t0 < answered])

    def test_admin_revokes_every_token_of_a_user(self):
        uid, t1 = self.server.create_user("revoke-all")
        t2 = self.server.admin("POST", "/v1/users/%s/tokens" % uid).json["token"]
        other_id, other = self.server.create_user("revoke-bystander")
        for t in (t1, t2, other):
            self.assertEqual(self.server.get("/v1/me", token=t).status, 200)
        r = self.server.admin("DELETE", "/v1/users/%s/tokens" % uid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"user_id": uid, "revoked": 2})
        for t in (t1, t2):
            self.assertError(self.server.get("/v1/me", token=t), 401,
                             "unauthenticated")
        self.assertEqual(self.server.get("/v1/me", token=other).json["id"], other_id)
        # again: nothing left to revoke; a new token works
        r = self.server.admin("DELETE", "/v1/users/%s/tokens" % uid)
        self.assertEqual(r.json["revoked"], 0)
        t3 = self.server.admin("POST", "/v1/users/%s/tokens" % uid).json["token"]
        self.assertEqual(self.server.get("/v1/me", token=t3).json["id"], uid)
        self.assertError(self.server.admin("DELETE", "/v1/users/u_nobody/tokens"),
                         404, "not_found")
        self.assertError(self.server.request("DELETE", "/v1/users/%s/tokens" % uid,
                                             token=t3), 403, "forbidden")

    def test_admin_only_routes(self):
        _, utoken = self.server.create_user("not-admin")
        r = self.server.post("/v1/users", {"name": "x"}, token=utoken)
        self.assertError(r, 403, "forbidden")

    def test_me_for_admin(self):
        self.assertEqual(self.server.admin("GET", "/v1/me").json["kind"], "admin")


def assert_configs_refused(test, configs, code, needle):
    """`chatd verify` with each config exits with `code` and names the
    setting (`needle`) on stderr."""
    data = tempfile.mkdtemp(prefix="chatd-cfg-")
    cfg = os.path.join(data, "c.json")
    try:
        for config in configs:
            with open(cfg, "w") as f:
                json.dump(config, f)
            r = subprocess.run([BIN, "verify", "--config", cfg, "--data", data],
                               capture_output=True, text=True)
            test.assertEqual(r.returncode, code, (config, r.stderr))
            test.assertIn(needle, r.stderr)
    finally:
        shutil.rmtree(data, ignore_errors=True)


class TokenExpiryTest(unittest.TestCase):
    """identity.token_ttl_s: tokens issued with it stop working when it
    has passed, by the expiry written into their event (so a rebuild or a
    changed setting keeps it); without it tokens do not expire."""

    def test_tokens_expire_after_the_ttl(self):
        s = Server(config={"identity": {"token_ttl_s": 2}}).start()
        try:
            t0 = time.time()
            r = s.admin("POST", "/v1/users", {"name": "ttl-a"})
            self.assertEqual(r.status, 201, r)
            uid, tok = r.json["id"], r.json["token"]
            exp = datetime.datetime.fromisoformat(
                r.json["expires_at"].replace("Z", "+00:00")).timestamp()
            self.assertAlmostEqual(exp, t0 + 2, delta=1.0)
            self.assertEqual(s.get("/v1/me", token=tok).status, 200)
            time.sleep(max(0.0, exp - time.time()) + 0.3)
            r = s.get("/v1/me", token=tok)  # it was in the cache
            self.assertEqual(r.status, 401, r)
            self.assertIn("expired", r.json["error"]["message"])
            self.assertEqual(s.get("/v1/me", token=ADMIN_TOKEN).status, 200)
            r = s.admin("POST", "/v1/users/%s/tokens" % uid)
            self.assertEqual(r.status, 201, r)
            tok2 = r.json["token"]
            exp2 = datetime.datetime.fromisoformat(
                r.json["expires_at"].replace("Z", "+00:00")).timestamp()
            self.assertEqual(s.get("/v1/me", token=tok2).status, 200)
            # an expiring token can be rotated (the new one expires too)
            # and revoked
            r = s.admin("POST", "/v1/users/%s/tokens" % uid)
            r = s.post("/v1/me/token", token=r.json["token"])
            self.assertEqual(r.status, 201, r)
            self.assertIsNotNone(r.json["expires_at"])
            r = s.request("DELETE", "/v1/me/token", token=r.json["token"])
            self.assertEqual(r.status, 204, r)
            # a WebSocket opened with tok2 is closed when it expires (1008)
            status, _, sock, rest = ws_handshake(s.port, {
                "Upgrade": "websocket", "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
                "Authorization": "Bearer " + tok2})
            self.assertEqual(status, 101)
            sock.settimeout(exp2 - time.time() + 5)
            op = None
            while op != 8:
                op, payload, rest = ws_read_frame(sock, rest)
            sock.close()
            self.assertGreaterEqual(time.time(), exp2 - 0.05)
            self.assertEqual(int.from_bytes(payload[:2], "big"), 1008)
            self.assertIn(b"token expired", payload)
            # the expiry is in the event: a restart without the setting and
            # a rebuild keep it
            s.stop()
            s.config = None
            r = s.run_cli("rebuild")
            self.assertEqual(r.returncode, 0, r.stderr)
            s.start()
            self.assertEqual(s.get("/v1/me", token=tok).status, 401)
            r = s.admin("POST", "/v1/users/%s/tokens" % uid)
            self.assertIsNone(r.json["expires_at"])  # issued without TTL
            tok3 = r.json["token"]
            time.sleep(max(0.0, exp2 - time.time()) + 0.3)
            self.assertEqual(s.get("/v1/me", token=tok2).status, 401)
            self.assertEqual(s.get("/v1/me", token=tok3).status, 200)
            stop_checked(s)
        finally:
            s.cleanup()

    def test_bad_ttl_refuses_to_start(self):
        assert_configs_refused(
            self, [{"identity": {"token_ttl_s": bad}}
                   for bad in (-1, "1h", 400000000)],
            1, "identity.token_ttl_s")  # a module's setting: init fails


class ErrorTest(ServerTestCase):
    def test_missing_and_wrong_tokens(self):
        r = self.server.get("/v1/me")
        self.assertError(r, 401, "unauthenticated")
        r = self.server.get("/v1/me", token="nope")
        self.assertError(r, 401, "unauthenticated")
        r = self.server.get("/v1/me", headers={"Authorization": "Basic abc"})
        self.assertError(r, 401, "unauthenticated")

    def test_bad_json_and_wrong_types(self):
        r = self.server.admin("POST", "/v1/users", raw=b"{not json",
                              headers={"Content-Type": "application/json"})
        self.assertError(r, 400, "invalid_json")
        # Valid JSON of the wrong type is an invalid argument, as in chat.
        r = self.server.admin("POST", "/v1/users", raw=b"[1,2]",
                              headers={"Content-Type": "application/json"})
        self.assertError(r, 400, "invalid_argument")
        for body in ({"name": 5}, {"name": ""}, {"name": "a\u0001b"},
                     {"name": "x" * 65}, {"name": "ok", "kind": "robot"}):
            r = self.server.admin("POST", "/v1/users", body)
            self.assertError(r, 400, "invalid_argument")

    def test_invalid_utf8_body(self):
        r = self.server.admin("POST", "/v1/users", raw=b'{"name":"\xff\xfe"}',
                              headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 400, r)

    def raw_post_start(self, extra_headers, body_start):
        """Sends headers and the start of a body, returns (head, body) of
        the answer: the server must answer before the body is complete."""
        import socket
        with socket.create_connection(("127.0.0.1", self.server.port), 10) as s:
            s.sendall(("POST /v1/users HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer %s\r\n"
                       "Content-Type: application/json\r\n%s\r\n"
                       % (ADMIN_TOKEN, extra_headers)).encode() + body_start)
            data = b""
            while not (b"\r\n\r\n" in data and data.rstrip().endswith(b"}")):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return head, body

    def test_oversize_body(self):
        head, body = self.raw_post_start("Content-Length: %d\r\n" % (2 << 20),
                                         b'{"name":"' + b"a" * 1000)
        self.assertTrue(head.startswith(b"HTTP/1.1 413"), head)
        self.assertEqual(json.loads(body)["error"]["code"], "too_large")
        # A chunked body (no length up front) over the limit: libmicrohttpd
        # cannot answer while a body is arriving, so it is drained and
        # refused at its end.
        chunk = b"%x\r\n%s\r\n" % (65536, b"a" * 65536)
        head, body = self.raw_post_start("Transfer-Encoding: chunked\r\n",
                                         chunk * 20 + b"0\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 413"), head)
        self.assertEqual(json.loads(body)["error"]["code"], "too_large")

    def test_unsupported_media_type(self):
        r = self.server.admin("POST", "/v1/users", raw=b'{"name":"m"}',
                              headers={"Content-Type": "text/plain"})
        self.assertError(r, 415, "unsupported_media_type")

    def test_unknown_route_and_wrong_method(self):
        self.assertError(self.server.get("/v1/nothing/here"), 404, "not_found")
        r = self.server.admin("DELETE", "/v1/users")
        self.assertError(r, 405, "method_not_allowed")
        self.assertIn("POST", r.header("Allow"))

    def test_errors_change_nothing(self):
        before = self.server.admin("GET", "/v1/events?after=0&limit=1000").json["last_seq"]
        self.server.admin("POST", "/v1/users", raw=b"{", headers={"Content-Type": "application/json"})
        self.server.admin("POST", "/v1/users", {"name": 1})
        self.server.post("/v1/users", {"name": "sneaky"})
        after = self.server.admin("GET", "/v1/events?after=0&limit=1000").json["last_seq"]
        self.assertEqual(before, after)


class RequestIdTest(ServerTestCase):
    def test_request_id_echoed_and_becomes_correlation_id(self):
        r = self.server.admin("POST", "/v1/users", {"name": "rid-user"},
                              headers={"X-Request-Id": "trace-abc.123"})
        self.assertEqual(r.status, 201)
        self.assertEqual(r.header("X-Request-Id"), "trace-abc.123")
        events = self.server.admin("GET", "/v1/events?after=0&limit=1000").json["events"]
        mine = [e for e in events if e["data"].get("id") == r.json["id"]
                or e["data"].get("user_id") == r.json["id"]]
        self.assertEqual(len(mine), 2)
        for e in mine:
            self.assertEqual(e["correlation_id"], "trace-abc.123")
            self.assertEqual(e["actor"], "admin")

    def test_request_id_generated_when_missing_or_invalid(self):
        a = self.server.get("/healthz").header("X-Request-Id")
        b = self.server.get("/healthz").header("X-Request-Id")
        self.assertTrue(a and b and a != b)
        c = self.server.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
        self.assertNotEqual(c.header("X-Request-Id"), "bad id with spaces")


class CorsTest(ServerTestCase):
    """http.cors_origins: web pages of the listed origins may read answers
    (preflight, Access-Control-* headers) and open WebSockets; others get
    no CORS headers and a 403 on the WebSocket handshake."""

    APP = "https://app.example.com"
    server_config = {"http": {"cors_origins": [APP, "http://localhost:3000"]}}

    def preflight(self, origin, path="/v1/rooms", method="POST"):
        return self.server.request("OPTIONS", path, headers={
            "Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type"})

    def test_preflight_from_a_listed_origin(self):
        r = self.preflight(self.APP)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), self.APP)
        self.assertEqual(r.header("Vary"), "Origin")
        self.assertIn("POST", r.header("Access-Control-Allow-Methods"))
        self.assertIn("GET", r.header("Access-Control-Allow-Methods"))
        allowed = r.header("Access-Control-Allow-Headers").lower()
        self.assertIn("authorization", allowed)
        self.assertIn("content-type", allowed)
        self.assertEqual(r.header("Access-Control-Max-Age"), "600")
        self.assertEqual(r.body, "")
        # the methods are the path's own
        r = self.preflight("http://localhost:3000", "/v1/me", "DELETE")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.header("Access-Control-Allow-Methods"), "GET")
        # a path nobody serves
        r = self.preflight(self.APP, "/v1/nothing/here")
        self.assertError(r, 404, "not_found")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), self.APP)

    def test_other_origins_get_no_cors_headers(self):
        for origin in ("https://evil.example.com", "https://APP.example.com",
                       "https://app.example.com:8443", "null"):
            r = self.preflight(origin)
            self.assertError(r, 405, "method_not_allowed")
            self.assertIsNone(r.header("Access-Control-Allow-Origin"))
            self.assertEqual(r.header("Vary"), "Origin")
            r = self.server.get("/v1/me", token=ADMIN_TOKEN,
                                headers={"Origin": origin})
            self.assertEqual(r.status, 200, r)
            self.assertIsNone(r.header("Access-Control-Allow-Origin"))

    def test_answers_to_a_listed_origin_can_be_read(self):
        uid, tok = self.server.create_user("cors-reader")
        r = self.server.get("/v1/me", token=tok, headers={"Origin": self.APP})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), self.APP)
        self.assertIn("X-Request-Id", r.header("Access-Control-Expose-Headers"))
        # errors too, so the page can show them
        r = self.server.get("/v1/me", headers={"Origin": self.APP})
        self.assertError(r, 401, "unauthenticated")
        self.assertEqual(r.header("Access-Control-Allow-Origin"), self.APP)
        # no Origin (not a browser): nothing added but Vary
        r = self.server.get("/v1/me", token=tok)
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))

    def ws_status(self, origin):
        headers = {"Upgrade": "websocket", "Connection": "Upgrade",
                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                   "Sec-WebSocket-Version": "13"}
        if origin:
            headers["Origin"] = origin
        status, _, sock, _ = ws_handshake(self.server.port, headers)
        sock.close()
        return status

    def test_websocket_handshake_checks_the_origin(self):
        self.assertEqual(self.ws_status(self.APP), 101)
        self.assertEqual(self.ws_status(None), 101)  # not a browser
        self.assertEqual(self.ws_status("https://evil.example.com"), 403)

    def test_bad_lists_refuse_to_start(self):
        assert_configs_refused(
            self, [{"http": {"cors_origins": bad}}
                   for bad in (["app.example.com"], ["https://app.example.com/"],
                               ["https://App.example.com"], ["*", self.APP],
                               "https://app.example.com", [42],
                               ["https://app.example.com:0"],
                               ["ftp://x.example"])],
            2, "http.cors_origins")  # a host setting: usage error


class CorsAnyOriginTest(ServerTestCase):
    server_config = {"http": {"cors_origins": ["*"]}}

    def test_any_origin(self):
        r = self.server.get("/healthz", headers={"Origin": "https://x.example"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")
        self.assertIsNone(r.header("Vary"))


class NoCorsTest(ServerTestCase):
    def test_no_list_no_headers(self):
        r = self.server.request("OPTIONS", "/v1/rooms", headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST"})
        self.assertError(r, 405, "method_not_allowed")
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        self.assertIsNone(r.header("Vary"))


class FeedTest(ServerTestCase):
    def test_feed_pages_and_envelope(self):
        for i in range(3):
            self.server.create_user("feed-%d" % i)
        r = self.server.admin("GET", "/v1/events?after=0&limit=2")
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.json["events"]), 2)
        e = r.json["events"][0]
        for key in ("seq", "time", "type", "v", "stream", "stream_ver",
                    "correlation_id", "actor", "data"):
            self.assertIn(key, e)
        self.assertEqual(e["seq"], 1)
        nxt = self.server.admin("GET", "/v1/events?after=%d&limit=1000" % r.json["next_after"])
        self.assertEqual(nxt.json["events"][0]["seq"], 3)
        seqs = [x["seq"] for x in nxt.json["events"]]
        self.assertEqual(seqs, list(range(3, 3 + len(seqs))))

    def test_feed_bad_arguments(self):
        for q in ("after=-1", "limit=0", "limit=1001", "wait=61", "after=x"):
            self.assertError(self.server.admin("GET", "/v1/events?" + q),
                             400, "invalid_argument")

    def test_long_poll_wakes_on_commit(self):
        head = self.server.admin("GET", "/v1/events?after=0&limit=1000").json["last_seq"]
        result = {}

        def poll():
            t0 = time.time()
            result["r"] = self.server.admin("GET", "/v1/events?after=%d&wait=10" % head)
            result["t"] = time.time() - t0

        th = threading.Thread(target=poll)
        th.start()
        time.sleep(0.5)
        self.server.create_user("poll-wake")
        th.join(15)
        self.assertEqual(result["r"].status, 200)
        self.assertGreaterEqual(len(result["r"].json["events"]), 1)
        self.assertGreater(result["r"].json["events"][0]["seq"], head)
        self.assertLess(result["t"], 5)

    def test_long_poll_times_out_empty(self):
        head = self.server.admin("GET", "/v1/events?after=0&limit=1000").json["last_seq"]
        t0 = time.time()
        r = self.server.admin("GET", "/v1/events?after=%d&wait=1" % head)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["events"], [])
        self.assertGreaterEqual(time.time() - t0, 0.9)


class MetricsTest(ServerTestCase):
    def test_metrics_exposition(self):
        self.server.create_user("metrics-user")
        self.server.get("/v1/nope")
        r = self.server.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"))
        text = r.body
        for needle in ("chatd_http_requests_total{", 'route="/v1/users"',
                       "chatd_http_request_duration_seconds_bucket",
                       "chatd_events_appended_total", "chatd_commit_duration_seconds_bucket",
                       "chatd_commit_batches_total"):
            self.assertIn(needle, text)
        appended = [l for l in text.splitlines() if l.startswith("chatd_events_appended_total ")]
        self.assertGreaterEqual(int(appended[0].split()[1]), 2)
        self.assertIn("\nchatd_commit_storage_full_total 0\n", text)
        self.assertIn("\nchatd_commit_batches_failed_total 0\n", text)

    def test_health_and_ready(self):
        self.assertEqual(self.server.get("/healthz").json["status"], "ok")
        self.assertEqual(self.server.get("/readyz").status, 200)


def room_with_messages(test, server, prefix, posts):
    """A group room of a new user and a peer, with `posts` (dicts of a
    message body) posted in order by the owner; returns (token, room)."""
    _, tok = server.create_user(prefix + "-owner")
    pid, _ = server.create_user(prefix + "-peer")
    r = server.post("/v1/rooms", {"kind": "group", "title": prefix,
                                  "members": [pid]}, token=tok)
    test.assertEqual(r.status, 201, r)
    room = r.json["id"]
    for body in posts:
        r = server.post("/v1/rooms/%s/messages" % room, body, token=tok)
        test.assertEqual(r.status, 201, r)
    return tok, room


def create_users_concurrently(server, prefix, threads, per_thread, acked, stop=None):
    """Creates users over keep-alive connections; records each 2xx."""
    lock = threading.Lock()

    def worker(t):
        conn = server.connection()
        for i in range(per_thread):
            if stop is not None and stop.is_set():
                return
            name = "%s-%d-%d" % (prefix, t, i)
            try:
                r = server.request("POST", "/v1/users", {"name": name},
                                   token=ADMIN_TOKEN, conn=conn)
            except OSError:
                return
            if r.status == 201:
                with lock:
                    acked.append((name, r.json["id"]))

    ths = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in ths:
        th.start()
    return ths


class DurabilityTest(unittest.TestCase):
    def test_sigkill_during_writes_loses_nothing_acknowledged(self):
        # Both ways of writing the read models: in place through their
        # writable map (the default) and with pwrite.
        for writable in (True, False):
            with self.subTest(writable_map=writable):
                self.sigkill_during_writes({"writable_map": writable})

    def sigkill_during_writes(self, config):
        server = Server(config=config).start()
        try:
            acked = []
            stop = threading.Event()
            ths = create_users_concurrently(server, "crash", 16, 400, acked, stop)
            time.sleep(1.5)
            server.kill()  # mid-stream: no shutdown at all
            stop.set()
            for th in ths:
                th.join(10)
            self.assertGreater(len(acked), 20)
            # Every acknowledged write is in the log exactly once.
            out = server.run_cli("dump")
            self.assertEqual(out.returncode, 0, out.stderr)
            created = [json.loads(l) for l in out.stdout.splitlines()]
            names = [e["data"]["name"] for e in created
                     if e["type"] == "identity.user_created"]
            self.assertEqual(len(names), len(set(names)))
            for name, _ in acked:
                self.assertIn(name, names)
            seqs = [e["seq"] for e in created]
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
            v = server.run_cli("verify")
            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
            # Restart: every acknowledged user can authenticate.
            server.start()
            r = server.admin("GET", "/v1/users/" + acked[-1][1])
            self.assertEqual(r.status, 200)
            server.stop()
        finally:
            server.cleanup()

    def test_machine_crash_rebuilds_read_models_from_the_log(self):
        # The read models are committed without fsync; after the machine
        # (not just the process) went down they may be torn, so a start on
        # another boot empties and rebuilds them from the synced log.
        # CHATD_BOOT_ID stands in for /proc/sys/kernel/random/boot_id.
        server = Server(env={"CHATD_BOOT_ID": "boot-before"}).start()
        try:
            tok, room = room_with_messages(
                self, server, "mc",
                [{"text": "m%d" % i, "client_msg_id": "c%d" % i}
                 for i in range(30)])
            before = server.get("/v1/rooms/%s/messages?limit=100" % room, token=tok)
            inbox = server.get("/v1/rooms", token=tok)
            acked = []
            stop = threading.Event()
            ths = create_users_concurrently(server, "mc", 8, 300, acked, stop)
            time.sleep(1.0)
            server.kill()
            stop.set()
            for th in ths:
                th.join(10)
            self.assertGreater(len(acked), 20)

            server.extra_env = {"CHATD_BOOT_ID": "boot-after"}
            seen = len(server.log_lines)
            server.start()
            logs = "\n".join(server.log_lines[seen:])
            self.assertIn("the machine went down", logs)
            self.assertIn("rebuilding them", logs)
            # ...before the read models are mapped writable for serving
            # (a replay through pwrite is faster).
            self.assertRegex(logs, r"the read models are \d+ events behind "
                             r"the log: catching them up before serving")
            after = server.get("/v1/rooms/%s/messages?limit=100" % room, token=tok)
            self.assertEqual(after.status, 200)
            self.assertEqual(after.json, before.json)
            self.assertEqual(server.get("/v1/rooms", token=tok).json, inbox.json)
            for name, user_id in acked:
                r = server.admin("GET", "/v1/users/" + user_id)
                self.assertEqual(r.status, 200, name)
            # The same room goes on with the next seq, no gap, no repeat.
            r = server.post("/v1/rooms/%s/messages" % room,
                            {"text": "after", "client_msg_id": "c-after"}, token=tok)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json["seq"], 31)
            r = server.post("/v1/rooms/%s/messages" % room,
                            {"text": "m3", "client_msg_id": "c3"}, token=tok)
            self.assertEqual(r.status, 200, r)  # idempotent replay of c3
            self.assertEqual(r.json["seq"], 4)
            self.assertEqual(server.stop(), 0)
            # A clean stop: the next start trusts them, on any boot.
            server.extra_env = {"CHATD_BOOT_ID": "boot-third"}
            seen = len(server.log_lines)
            server.start()
            logs = "\n".join(server.log_lines[seen:])
            self.assertNotIn("rebuilding them", logs)
            self.assertNotIn("did not stop cleanly", logs)
            self.assertNotIn("catching them up", logs)
            self.assertEqual(server.stop(), 0)
            v = server.run_cli("verify")
            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        finally:
            server.cleanup()

    def test_machine_crash_never_reads_torn_read_models(self):
        # What a machine crash may leave of the unsynced read models: any
        # page torn. Here every page but LMDB's two meta pages is garbage,
        # so the trees the metas point to are nonsense. Emptying them in
        # place would walk them (LMDB frees a tree page by page): the
        # start must not read them at all, and rebuild from the log.
        server = Server(env={"CHATD_BOOT_ID": "torn-before"}).start()
        try:
            tok, room = room_with_messages(
                self, server, "torn",
                [{"text": "m%d " % i + "x" * 300} for i in range(200)])
            before = server.get("/v1/rooms/%s/messages?limit=100" % room,
                                token=tok)
            server.kill()
            views = os.path.join(server.data_dir, "views", "data.mdb")
            rng = random.Random(7)
            with open(views, "r+b") as f:
                f.seek(2 * 4096)
                f.write(bytes(rng.getrandbits(8) for _ in range(1 << 20)))

            server.extra_env = {"CHATD_BOOT_ID": "torn-after"}
            seen = len(server.log_lines)
            server.start()
            logs = "\n".join(server.log_lines[seen:])
            self.assertIn("the machine went down", logs)
            after = server.get("/v1/rooms/%s/messages?limit=100" % room,
                               token=tok)
            self.assertEqual(after.status, 200)
            self.assertEqual(after.json, before.json)
            self.assertEqual(server.stop(), 0)
            v = server.run_cli("verify")
            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)

            # Damaged after a clean stop (no crash to tell): the operator's
            # `chatd rebuild` makes the read models anew from the log,
            # without reading the damaged file either.
            with open(views, "r+b") as f:
                f.seek(2 * 4096)
                f.write(bytes(rng.getrandbits(8) for _ in range(1 << 20)))
            r = server.run_cli("rebuild", timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("rebuilt all read models from", r.stdout)
            server.start()
            again = server.get("/v1/rooms/%s/messages?limit=100" % room,
                               token=tok)
            self.assertEqual(again.json, before.json)
            self.assertEqual(server.stop(), 0)
        finally:
            server.cleanup()

    def test_sigterm_finishes_accepted_writes(self):
        server = Server().start()
        try:
            acked = []
            stop = threading.Event()
            ths = create_users_concurrently(server, "term", 16, 400, acked, stop)
            time.sleep(1.0)
            code = server.stop()  # SIGTERM while 16 clients write
            stop.set()
            for th in ths:
                th.join(10)
            self.assertEqual(code, 0)
            self.assertGreater(len(acked), 20)
            out = server.run_cli("dump")
            names = [json.loads(l)["data"]["name"] for l in out.stdout.splitlines()
                     if '"identity.user_created"' in l]
            self.assertEqual(len(names), len(set(names)))
            for name, _ in acked:
                self.assertIn(name, names)
            self.assertEqual(server.run_cli("verify").returncode, 0)
            stopped = "\n".join(server.log_lines)
            self.assertIn("shutting down", stopped)
            self.assertIn('"stopped"', stopped)
        finally:
            server.cleanup()

    def test_backup_while_writing_is_consistent(self):
        server = Server().start()
        dest = tempfile.mkdtemp(prefix="chatd-backup-")
        shutil.rmtree(dest)
        try:
            acked = []
            ths = create_users_concurrently(server, "bk", 8, 150, acked)
            time.sleep(0.5)
            out = subprocess.run([BIN, "backup", dest, "--data", server.data_dir],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            # Only its owner may read it, directories and files alike.
            for sub in ("", "/db", "/views", "/db/data.mdb", "/views/data.mdb"):
                mode = os.stat(dest + sub).st_mode & 0o777
                self.assertEqual(mode & 0o077, 0, "%s%s is %o" % (dest, sub, mode))
            for th in ths:
                th.join(60)
            server.stop()
            # The copy is a data directory on its own: verify passes and it
            # serves a prefix of the log.
            v = subprocess.run([BIN, "verify", "--data", dest],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
            copy = Server(data_dir=dest).start()
            try:
                seqs = [e["seq"] for e in copy.admin("GET", "/v1/events?after=0&limit=1000").json["events"]]
                self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
                self.assertGreater(len(seqs), 0)
            finally:
                copy.stop()
        finally:
            server.cleanup()
            shutil.rmtree(dest, ignore_errors=True)


class DiskFullTest(unittest.TestCase):
    """A full disk: writes are answered 503 and change nothing, reads go on,
    and writes go on by themselves once there is room. The disk is a real
    32 MiB tmpfs that only the server sees (a private mount namespace,
    reached from here through /proc/PID/root)."""

    def test_full_disk_refuses_writes_then_recovers(self):
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            self.skipTest("needs root and unshare(1) for a private tmpfs")
        # The default only: with `writable_map: false` the read models'
        # commit may be the write that finds the disk full, after the
        # log's, and the process then stops on purpose (the restart
        # replays the events into them: docs/OPERATIONS.md).
        mnt = tempfile.mkdtemp(prefix="chatd-full-")
        fs = os.path.join(mnt, "fs")
        os.mkdir(fs)
        script = ('mount --make-rprivate / && '
                  'mount -t tmpfs -o size=32m,mode=0700 chatd-test "$0" && '
                  'exec "$@"')
        server = Server(data_dir=fs,
                        wrapper=["unshare", "-m", "sh", "-c", script, fs])
        try:
            try:
                server.start()
            except RuntimeError as e:
                if "mount" in str(e) or "unshare" in str(e):
                    self.skipTest("no private mount namespace here: %s" % e)
                raise
            root = "/proc/%d/root%s" % (server.proc.pid, fs)
            self.assertTrue(os.path.isdir(os.path.join(root, "db")))
            uid, tok = server.create_user("before-full")

            filler = os.path.join(root, "filler")
            fd = os.open(filler, os.O_CREAT | os.O_WRONLY, 0o600)
            try:
                chunk = b"f" * 65536
                with self.assertRaises(OSError) as cm:
                    for _ in range(1024):  # more than the 32 MiB
                        os.write(fd, chunk)
                self.assertEqual(cm.exception.errno, errno.ENOSPC)
            finally:
                os.close(fd)

            refused = None
            for i in range(500):
                r = server.admin("POST", "/v1/users", {"name": "full-%d" % i})
                if r.status != 201:
                    refused = (i, r)
                    break
            self.assertIsNotNone(refused, "500 writes fitted on a full disk")
            i, r = refused
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.json["error"]["code"], "unavailable", r)
            self.assertIn("storage is full", r.json["error"]["message"])
            # reads go on, and the refusals are counted
            self.assertEqual(server.get("/v1/me", token=tok).status, 200)
            self.assertEqual(server.get("/healthz").status, 200)
            metrics = server.get("/metrics").body
            for name in ("chatd_commit_batches_failed_total",
                         "chatd_commit_storage_full_total"):
                m = re.search(r"^%s (\d+)$" % name, metrics, re.M)
                self.assertIsNotNone(m, name)
                self.assertGreaterEqual(int(m.group(1)), 1, name)

            os.unlink(filler)
            r = server.admin("POST", "/v1/users", {"name": "full-%d" % i})
            self.assertEqual(r.status, 201, r)  # the refused one was not made
            r = server.admin("GET", "/v1/users/" + r.json["id"])
            self.assertEqual(r.status, 200, r)
            self.assertEqual(server.stop(), 0)
        finally:
            server.cleanup()
            shutil.rmtree(mnt, ignore_errors=True)

class CommandsTest(unittest.TestCase):
    def test_help_version_and_bad_usage(self):
        h = subprocess.run([BIN, "--help"], capture_output=True, text=True)
        self.assertEqual(h.returncode, 0)
        for word in ("serve", "rebuild", "verify", "backup", "dump", "--listen",
                     "CHATD_ADMIN_TOKEN"):
            self.assertIn(word, h.stdout)
        v = subprocess.run([BIN, "--version"], capture_output=True, text=True)
        self.assertEqual(v.returncode, 0)
        self.assertIn("module ABI 1.", v.stdout)
        bad = subprocess.run([BIN, "frobnicate"], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)

    def test_generated_admin_token_file(self):
        data = tempfile.mkdtemp(prefix="chatd-tok-")
        try:
            env = dict(os.environ)
            env.pop("CHATD_ADMIN_TOKEN", None)
            server = Server(data_dir=data)
            server.extra_env = {}
            # Start without the harness token: generated into DATA/admin.token.
            proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data", data],
                                    env=env, stderr=subprocess.PIPE, text=True)
            deadline = time.time() + 15
            path = os.path.join(data, "admin.token")
            while not os.path.exists(path) and time.time() < deadline:
                time.sleep(0.05)
            proc.terminate()
            _, err = proc.communicate(timeout=20)
            self.assertTrue(os.path.exists(path), err)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
            self.assertIn("admin.token", err)
        finally:
            shutil.rmtree(data, ignore_errors=True)

    def test_config_precedence_and_unknown_keys(self):
        data = tempfile.mkdtemp(prefix="chatd-cfg-")
        cfg = os.path.join(data, "c.json")
        try:
            with open(cfg, "w") as f:
                json.dump({"listen": "127.0.0.1:1", "data": "/nonexistent/x"}, f)
            # Flags beat the file: the server starts on the flag's address.
            s = Server(data_dir=data, args=["--config", cfg])
            s.start()
            s.stop()
            with open(cfg, "w") as f:
                json.dump({"no_such_setting": 1}, f)
            r = subprocess.run([BIN, "verify", "--config", cfg, "--data", data],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 2)
            self.assertIn("no_such_setting", r.stderr)
            with open(cfg, "w") as f:
                json.dump({"http": {"max_body": "big"}}, f)
            r = subprocess.run([BIN, "verify", "--config", cfg, "--data", data],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 2)
            self.assertIn("http.max_body", r.stderr)
        finally:
            shutil.rmtree(data, ignore_errors=True)

    def test_rebuild_refused_while_serving(self):
        server = Server().start()
        try:
            r = server.run_cli("rebuild")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("in use", r.stderr)
        finally:
            server.cleanup()


if __name__ == "__main__":
    harness.main()
