"""The payment_notice module over real HTTP, with the chat module: deposits,
the wallet and its history, transfers inside rooms with their notices in
the room's history, refunds, signed provider notices, idempotent retries,
every error, concurrent spending from one wallet, and `chatd verify` /
`chatd rebuild` giving identical answers.

Every server is checked at shutdown for a clean exit and no sanitizer
report.
"""

import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
import unittest

from harness import (ADMIN_TOKEN, assert_module_file_ok, main, module_file,
                     Server, ServerTestCase, stop_checked)

SECRET = "test-provider-secret-0123456789"
RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def sign(raw, secret=SECRET):
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


class PaymentBase(ServerTestCase):
    server_config = {"payment_notice": {"provider_secret": SECRET,
                                        "max_amount": 1000000,
                                        "max_memo_chars": 20}}

    @classmethod
    def tearDownClass(cls):
        try:
            stop_checked(cls.server)
        finally:
            cls.server.cleanup()

    # -- helpers ---------------------------------------------------------
    def user(self, name="u"):
        name = "%s_%s" % (name, os.urandom(3).hex())
        uid, tok = self.server.create_user(name)
        return uid, tok, name

    def group(self, tok, members, title="market"):
        r = self.server.post("/v1/rooms", {"kind": "group", "title": title,
                                           "members": list(members)}, token=tok)
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def deposit(self, uid, amount, key=None, status=201, token=ADMIN_TOKEN):
        body = {"amount": amount, "idempotency_key": key or os.urandom(6).hex()}
        r = self.server.post("/v1/wallets/%s/deposits" % uid, body, token=token)
        self.assertEqual(r.status, status, r)
        return r

    def transfer(self, tok, room, to, amount, key=None, memo=None, conn=None):
        body = {"to": to, "amount": amount,
                "idempotency_key": key or os.urandom(6).hex()}
        if memo is not None:
            body["memo"] = memo
        return self.server.request("POST", "/v1/rooms/%s/transfers" % room,
                                   body=body, token=tok, conn=conn)

    def balance(self, tok):
        r = self.server.get("/v1/wallet", token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["currency"], "KRW")
        return r.json["balance"]

    def history(self, tok, query=""):
        r = self.server.get("/v1/wallet/history" + query, token=tok)
        self.assertEqual(r.status, 200, r)
        return r.json

    def payment_messages(self, tok, room, count, timeout=10.0):
        """Waits until the room shows `count` payment notices (the chat
        module posts them from its subscriber, just after the commit)."""
        deadline = time.time() + timeout
        while True:
            r = self.server.get("/v1/rooms/%s/messages?limit=100" % room, token=tok)
            self.assertEqual(r.status, 200, r)
            got = [m for m in r.json["messages"] if m["kind"] == "payment"]
            if len(got) >= count or time.time() > deadline:
                return list(reversed(got))  # oldest first
            time.sleep(0.05)

    def last_seq(self):
        r = self.server.get("/v1/events?after=0&limit=1", token=ADMIN_TOKEN)
        return r.json["last_seq"]


class DepositTest(PaymentBase):
    def test_deposit_and_idempotent_retry(self):
        uid, tok, _ = self.user("dep")
        self.assertEqual(self.balance(tok), 0)
        self.assertEqual(self.history(tok), {"entries": [], "next_cursor": None})
        r = self.deposit(uid, 5000, key="dep-key-1")
        d = r.json
        self.assertEqual(set(d), {"id", "user_id", "amount", "currency", "balance",
                                  "created_at"})
        self.assertEqual((d["user_id"], d["amount"], d["currency"], d["balance"]),
                         (uid, 5000, "KRW", 5000))
        self.assertRegex(d["created_at"], RFC3339)
        before = self.last_seq()
        again = self.deposit(uid, 5000, key="dep-key-1", status=200)
        self.assertEqual(again.json, d)
        self.assertEqual(self.last_seq(), before)  # nothing appended
        self.assertError(self.deposit(uid, 5001, key="dep-key-1", status=409),
                         409, "conflict")
        other, _, _ = self.user("dep2")  # deposit keys are global
        self.assertError(self.deposit(other, 5000, key="dep-key-1", status=409),
                         409, "conflict")
        self.assertEqual(self.balance(tok), 5000)
        r = self.deposit(uid, 250)
        self.assertEqual(r.json["balance"], 5250)
        self.assertEqual(self.balance(tok), 5250)

    def test_deposit_errors(self):
        uid, tok, _ = self.user("depe")
        svc, svt = self.server.create_user("svc_" + os.urandom(3).hex(), kind="service")
        p = "/v1/wallets/%s/deposits" % uid
        before = self.last_seq()
        self.assertError(self.deposit("u_nobody", 5, status=404), 404, "not_found")
        self.assertError(self.deposit(svc, 5, status=404), 404, "not_found")
        for bad in (0, -1, 1.5, "5", None, True, 1000001):
            r = self.server.post(p, {"amount": bad, "idempotency_key": "k"},
                                 token=ADMIN_TOKEN)
            self.assertError(r, 400, "invalid_argument")
        for body in ({"amount": 5}, {"amount": 5, "idempotency_key": ""},
                     {"amount": 5, "idempotency_key": "a b"},
                     {"amount": 5, "idempotency_key": "k" * 101},
                     {"amount": 5, "idempotency_key": "k", "extra": 1}):
            self.assertError(self.server.post(p, body, token=ADMIN_TOKEN),
                             400, "invalid_argument")
        r = self.server.request("POST", p, raw=b"{", token=ADMIN_TOKEN,
                                headers={"Content-Type": "application/json"})
        self.assertError(r, 400, "invalid_json")
        self.assertError(self.deposit(uid, 5, status=403, token=tok), 403, "forbidden")
        self.assertError(self.deposit(uid, 5, status=401, token="ct_wrong"),
                         401, "unauthenticated")
        self.assertEqual(self.last_seq(), before)
        # a service account may deposit
        r = self.deposit(uid, 7, token=svt)
        self.assertEqual(r.json["balance"], 7)
        # admin and service have no wallet
        self.assertError(self.server.get("/v1/wallet", token=ADMIN_TOKEN), 403, "forbidden")
        self.assertError(self.server.get("/v1/wallet/history", token=svt), 403, "forbidden")

    def test_history_pages_newest_first(self):
        uid, tok, _ = self.user("hist")
        for n in range(1, 8):
            self.deposit(uid, n * 10)
        seen, cursor, pages = [], None, 0
        while True:
            q = "?limit=3" + ("&cursor=" + cursor if cursor else "")
            page = self.history(tok, q)
            pages += 1
            seen += page["entries"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            self.assertIsInstance(cursor, str)
        self.assertEqual(pages, 3)
        self.assertEqual([e["entry"] for e in seen], [7, 6, 5, 4, 3, 2, 1])
        self.assertEqual([e["amount"] for e in seen], [70, 60, 50, 40, 30, 20, 10])
        self.assertEqual([e["balance"] for e in seen], [280, 210, 150, 100, 60, 30, 10])
        for e in seen:
            self.assertEqual(e["type"], "deposit")
            self.assertTrue(e["deposit_id"].startswith("d_"))
            self.assertRegex(e["created_at"], RFC3339)
        self.assertEqual(len(self.history(tok)["entries"]), 7)  # default 50
        self.assertEqual(self.history(tok, "?limit=7")["next_cursor"], None)
        for q in ("?limit=0", "?limit=101", "?limit=x", "?cursor=abc", "?cursor=-1",
                  "?cursor=1"):
            self.assertError(self.server.get("/v1/wallet/history" + q, token=tok),
                             400, "invalid_argument")


class TransferTest(PaymentBase):
    def setUp(self):
        self.a, self.at, self.an = self.user("alice")
        self.b, self.bt, self.bn = self.user("bob")
        self.c, self.ct, self.cn = self.user("carol")
        self.room = self.group(self.at, [self.b])

    def test_transfer_notice_and_retry(self):
        self.deposit(self.a, 10000)
        r = self.transfer(self.at, self.room, self.b, 5000, key="t-1", memo="bike")
        self.assertEqual(r.status, 201, r)
        t = r.json
        self.assertEqual(set(t), {"id", "status", "room", "from", "to", "amount",
                                  "currency", "memo", "created_at", "refunded_at"})
        self.assertEqual((t["status"], t["room"], t["from"], t["to"], t["amount"],
                          t["currency"], t["memo"], t["refunded_at"]),
                         ("completed", self.room, self.a, self.b, 5000, "KRW",
                          "bike", None))
        self.assertRegex(t["created_at"], RFC3339)
        self.assertEqual((self.balance(self.at), self.balance(self.bt)), (5000, 5000))
        # both parties read it; nobody else
        for tok in (self.at, self.bt):
            self.assertEqual(self.server.get("/v1/transfers/" + t["id"], token=tok).json, t)
        self.assertError(self.server.get("/v1/transfers/" + t["id"], token=self.ct),
                         404, "not_found")
        self.assertError(self.server.get("/v1/transfers/t_nothing", token=self.at),
                         404, "not_found")
        # the ledgers
        sent = self.history(self.at)["entries"][0]
        got = self.history(self.bt)["entries"][0]
        self.assertEqual((sent["type"], sent["amount"], sent["balance"],
                          sent["transfer_id"], sent["counterparty"], sent["room"]),
                         ("transfer_sent", -5000, 5000, t["id"], self.b, self.room))
        self.assertEqual((got["type"], got["amount"], got["balance"],
                          got["transfer_id"], got["counterparty"]),
                         ("transfer_received", 5000, 5000, t["id"], self.a))
        # the notice in the room, for every member
        msgs = self.payment_messages(self.bt, self.room, 1)
        self.assertEqual(len(msgs), 1, msgs)
        m = msgs[0]
        self.assertEqual(m["text"], "%s sent 5,000 KRW to %s" % (self.an, self.bn))
        self.assertIsNone(m["sender"])
        pay = m["payment"]
        self.assertEqual((pay["transfer_id"], pay["amount"], pay["currency"],
                          pay["from"], pay["to"], pay["status"], pay["memo"]),
                         (t["id"], 5000, "KRW", self.a, self.b, "completed", "bike"))
        # a retry: the same transfer, no money moved, no second notice
        before = self.last_seq()
        r = self.transfer(self.at, self.room, self.b, 5000, key="t-1", memo="bike")
        self.assertEqual((r.status, r.json), (200, t))
        self.assertEqual(self.last_seq(), before)
        self.assertEqual(self.balance(self.at), 5000)
        r = self.transfer(self.at, self.room, self.b, 4000, key="t-1", memo="bike")
        self.assertError(r, 409, "conflict")
        r = self.transfer(self.at, self.room, self.b, 5000, key="t-1")
        self.assertError(r, 409, "conflict")  # memo differs
        # keys are per sender: bob may use the same one
        r = self.transfer(self.bt, self.room, self.a, 1, key="t-1")
        self.assertEqual(r.status, 201, r)
        time.sleep(0.3)
        self.assertEqual(len(self.payment_messages(self.at, self.room, 3, 0.5)), 2)

    def test_transfer_errors(self):
        self.deposit(self.a, 1000)
        other = self.group(self.ct, [self.b])
        before = self.last_seq()
        cases = [
            (self.ct, self.room, self.b, 5, 404, "not_found"),        # not a member
            (self.at, "r_0000000000000000", self.b, 5, 404, "not_found"),
            (self.at, other, self.b, 5, 404, "not_found"),            # not in it
            (self.at, self.room, self.c, 5, 422, "not_a_member"),
            (self.at, self.room, "u_nobody", 5, 422, "not_a_member"),
            (self.at, self.room, self.a, 5, 422, "self_transfer"),
            (self.at, self.room, self.b, 1001, 422, "insufficient_funds"),
            (self.bt, self.room, self.a, 1, 422, "insufficient_funds"),  # never had money
            (self.at, self.room, self.b, 0, 400, "invalid_argument"),
            (self.at, self.room, self.b, -5, 400, "invalid_argument"),
            (self.at, self.room, self.b, 2.5, 400, "invalid_argument"),
            (self.at, self.room, self.b, "5", 400, "invalid_argument"),
            (self.at, self.room, self.b, 1000001, 400, "invalid_argument"),
        ]
        for tok, room, to, amount, status, code in cases:
            r = self.transfer(tok, room, to, amount)
            self.assertError(r, status, code)
        for memo in ("x" * 21, "   ", "a\nb", 7):
            r = self.transfer(self.at, self.room, self.b, 5, memo=memo)
            self.assertError(r, 400, "invalid_argument")
        self.assertEqual(self.last_seq(), before)
        ok = self.transfer(self.at, self.room, self.b, 5, memo="é" * 20)  # 20 code points
        self.assertEqual(ok.status, 201, ok)
        self.assertEqual(len(self.payment_messages(self.at, self.room, 1)), 1)
        before = self.last_seq()
        p = "/v1/rooms/%s/transfers" % self.room
        for body in ({"to": self.b, "amount": 5},
                     {"to": self.b, "amount": 5, "idempotency_key": "k", "x": 1},
                     {"amount": 5, "idempotency_key": "k"}):
            self.assertError(self.server.post(p, body, token=self.at), 400,
                             "invalid_argument")
        r = self.server.request("POST", p, raw=b'{"to":', token=self.at,
                                headers={"Content-Type": "application/json"})
        self.assertError(r, 400, "invalid_json")
        r = self.server.post(p, {"to": self.b, "amount": 5, "idempotency_key": "k"},
                             token=ADMIN_TOKEN)
        self.assertError(r, 403, "forbidden")
        r = self.server.post(p, {"to": self.b, "amount": 5, "idempotency_key": "k"})
        self.assertError(r, 401, "unauthenticated")
        self.assertEqual(self.last_seq(), before)
        self.assertEqual(self.balance(self.at), 995)

    def test_membership_follows_the_chat(self):
        self.deposit(self.a, 100)
        r = self.server.post("/v1/rooms/%s/members" % self.room, {"user": self.c},
                             token=self.at)
        self.assertIn(r.status, (200, 201), r)
        self.assertEqual(self.transfer(self.at, self.room, self.c, 10).status, 201)
        r = self.server.request("DELETE", "/v1/rooms/%s/members/%s" % (self.room, self.c),
                                token=self.ct)
        self.assertEqual(r.status, 200, r)
        self.assertError(self.transfer(self.at, self.room, self.c, 10), 422, "not_a_member")
        self.assertError(self.transfer(self.ct, self.room, self.a, 5), 404, "not_found")

    def test_refund(self):
        self.deposit(self.a, 300)
        t = self.transfer(self.at, self.room, self.b, 200, key="r-1").json
        path = "/v1/transfers/%s/refund" % t["id"]
        self.assertError(self.server.post(path, token=self.at), 403, "forbidden")
        self.assertError(self.server.post(path, token=self.ct), 404, "not_found")
        self.assertError(self.server.post(path, token=ADMIN_TOKEN), 403, "forbidden")
        self.assertError(self.server.post("/v1/transfers/t_none/refund", token=self.bt),
                         404, "not_found")
        r = self.server.post(path, token=self.bt)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["status"], r.json["id"], r.json["amount"]),
                         ("refunded", t["id"], 200))
        self.assertRegex(r.json["refunded_at"], RFC3339)
        self.assertEqual((self.balance(self.at), self.balance(self.bt)), (300, 0))
        # again: the refunded transfer, nothing moves (once both notices
        # are in, so that the chat's own appends are done)
        self.assertEqual(len(self.payment_messages(self.at, self.room, 2)), 2)
        before = self.last_seq()
        again = self.server.post(path, token=self.bt)
        self.assertEqual((again.status, again.json), (200, r.json))
        self.assertEqual(self.last_seq(), before)
        self.assertEqual((self.balance(self.at), self.balance(self.bt)), (300, 0))
        self.assertEqual(self.server.get("/v1/transfers/" + t["id"], token=self.at).json,
                         r.json)
        # a retried transfer answers it as it is now
        r2 = self.transfer(self.at, self.room, self.b, 200, key="r-1")
        self.assertEqual((r2.status, r2.json["status"]), (200, "refunded"))
        self.assertEqual(self.balance(self.at), 300)
        kinds = [(e["type"], e["amount"]) for e in self.history(self.bt)["entries"]]
        self.assertEqual(kinds, [("refund_sent", -200), ("transfer_received", 200)])
        kinds = [(e["type"], e["amount"]) for e in self.history(self.at)["entries"]]
        self.assertEqual(kinds[:2], [("refund_received", 200), ("transfer_sent", -200)])
        msgs = self.payment_messages(self.at, self.room, 2)
        self.assertEqual([m["text"] for m in msgs],
                         ["%s sent 200 KRW to %s" % (self.an, self.bn),
                          "%s refunded 200 KRW to %s" % (self.bn, self.an)])
        self.assertEqual(msgs[1]["payment"]["status"], "refunded")

    def test_refund_needs_the_money(self):
        self.deposit(self.a, 100)
        t = self.transfer(self.at, self.room, self.b, 100).json
        g = self.group(self.bt, [self.c])
        self.assertEqual(self.transfer(self.bt, g, self.c, 60).status, 201)
        self.assertEqual(len(self.payment_messages(self.bt, g, 1)), 1)
        before = self.last_seq()
        r = self.server.post("/v1/transfers/%s/refund" % t["id"], token=self.bt)
        self.assertError(r, 422, "insufficient_funds")
        self.assertEqual(self.last_seq(), before)
        self.assertEqual(self.server.get("/v1/transfers/" + t["id"],
                                         token=self.bt).json["status"], "completed")
        self.assertEqual((self.balance(self.at), self.balance(self.bt)), (0, 40))

    def test_concurrent_spending_never_overdraws(self):
        self.deposit(self.a, 1000)
        results, lock = [], threading.Lock()

        def spend(i):
            r = self.transfer(self.at, self.room, self.b, 150, key="c-%d" % i)
            with lock:
                results.append(r)

        threads = [threading.Thread(target=spend, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ok = [r for r in results if r.status == 201]
        refused = [r for r in results if r.status != 201]
        self.assertEqual(len(ok), 6)  # 6 x 150 = 900 <= 1000 < 7 x 150
        for r in refused:
            self.assertError(r, 422, "insufficient_funds")
        self.assertEqual(len({r.json["id"] for r in ok}), 6)
        self.assertEqual((self.balance(self.at), self.balance(self.bt)), (100, 900))
        bal = [e["balance"] for e in self.history(self.at, "?limit=100")["entries"]]
        self.assertTrue(all(b >= 0 for b in bal), bal)
        self.assertEqual(bal[0], 100)

    def test_concurrent_retries_pay_once(self):
        self.deposit(self.a, 1000)
        results, lock = [], threading.Lock()

        def retry():
            r = self.transfer(self.at, self.room, self.b, 300, key="same-key")
            with lock:
                results.append(r)

        threads = [threading.Thread(target=retry) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(r.status for r in results), [200] * 9 + [201])
        self.assertEqual(len({r.json["id"] for r in results}), 1)
        self.assertEqual((self.balance(self.at), self.balance(self.bt)), (700, 300))
        self.assertEqual(len(self.payment_messages(self.at, self.room, 2, 1.0)), 1)


class ProviderNoticeTest(PaymentBase):
    def post_notice(self, body, token=None, sig=None, raw=None):
        raw = raw if raw is not None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if sig is not False:
            headers["X-Payment-Signature"] = sig or sign(raw)
        return self.server.request("POST", "/v1/payments/notices", raw=raw,
                                   token=token, headers=headers)

    def test_signed_notice_shown_once(self):
        a, at, _ = self.user("pa")
        b, _, _ = self.user("pb")
        svc, svt = self.server.create_user("pay_" + os.urandom(3).hex(), kind="service")
        room = self.group(at, [b])
        body = {"id": "prov-" + os.urandom(3).hex(), "room_id": room,
                "text": "Payment of 12,000 KRW confirmed", "amount": 12000,
                "currency": "KRW", "status": "paid"}
        r = self.post_notice(body, token=svt)
        self.assertEqual(r.status, 201, r)
        n = r.json
        self.assertEqual({k: n[k] for k in body}, body)
        self.assertRegex(n["received_at"], RFC3339)
        self.assertEqual(len(self.payment_messages(at, room, 1)), 1)
        before = self.last_seq()
        r = self.post_notice(body, token=ADMIN_TOKEN)  # admin may too
        self.assertEqual((r.status, r.json), (200, n))
        self.assertEqual(self.last_seq(), before)
        self.assertError(self.post_notice(dict(body, text="other"), token=svt),
                         409, "conflict")
        msgs = self.payment_messages(at, room, 1)
        self.assertEqual([m["text"] for m in msgs], [body["text"]])
        self.assertEqual((msgs[0]["payment"]["provider_id"], msgs[0]["payment"]["kind"],
                          msgs[0]["payment"]["amount"]),
                         (body["id"], "provider", 12000))
        time.sleep(0.3)
        self.assertEqual(len(self.payment_messages(at, room, 2, 0.3)), 1)

    def test_signature_and_errors(self):
        a, at, _ = self.user("pe")
        room = self.group(at, [])
        svc, svt = self.server.create_user("pay_" + os.urandom(3).hex(), kind="service")
        body = {"id": "prov-e", "room_id": room, "text": "hello"}
        raw = json.dumps(body).encode()
        before = self.last_seq()
        self.assertError(self.post_notice(body, token=svt, sig=False), 401, "unauthenticated")
        self.assertError(self.post_notice(body, token=svt, sig="00" * 32), 401,
                         "unauthenticated")
        self.assertError(self.post_notice(body, token=svt, sig=sign(raw, "another-secret-0123")),
                         401, "unauthenticated")
        self.assertError(self.post_notice(body, token=svt, sig="xyz"), 401, "unauthenticated")
        # signed, then changed in transit
        self.assertError(self.post_notice(None, token=svt, sig=sign(raw),
                                          raw=raw.replace(b"hello", b"hellp")),
                         401, "unauthenticated")
        self.assertError(self.post_notice(body, token=at), 403, "forbidden")
        self.assertError(self.post_notice(body), 401, "unauthenticated")
        self.assertError(self.post_notice(dict(body, room_id="r_0000000000000000"),
                                          token=svt), 404, "not_found")
        for bad in ({"id": "x", "room_id": room}, {"id": "x", "room_id": room, "text": ""},
                    {"id": "x", "room_id": room, "text": "t", "amount": -1},
                    {"id": "a b", "room_id": room, "text": "t"},
                    {"id": "x", "room_id": room, "text": "t", "other": 1}):
            self.assertError(self.post_notice(bad, token=svt), 400, "invalid_argument")
        self.assertError(self.post_notice(None, token=svt, raw=b"[1"), 400, "invalid_json")
        r = self.server.request("POST", "/v1/payments/notices", token=svt,
                                headers={"X-Payment-Signature": sign(b"")})
        self.assertError(r, 400, "invalid_json")
        self.assertEqual(self.last_seq(), before)
        # "sha256=" prefixed and upper-case hex are accepted
        r = self.post_notice(body, token=svt, sig="sha256=" + sign(raw).upper())
        self.assertEqual(r.status, 201, r)


class NoSecretTest(PaymentBase):
    server_config = None  # the defaults: no provider secret

    def test_provider_notices_off_without_a_secret(self):
        raw = b'{"id":"p","room_id":"r_1","text":"x"}'
        r = self.server.request("POST", "/v1/payments/notices", raw=raw,
                                token=ADMIN_TOKEN,
                                headers={"Content-Type": "application/json",
                                         "X-Payment-Signature": sign(raw)})
        self.assertError(r, 503, "unavailable")
        self.assertIn("provider_secret", r.json["error"]["message"])
        # the default maximum amount is 10,000,000
        uid, tok, _ = self.user("ns")
        self.deposit(uid, 10000000)
        self.assertError(self.deposit(uid, 10000001, status=400), 400, "invalid_argument")

    def test_secret_from_the_environment_wins(self):
        env_secret = "env-secret-abcdefghijklmnop"
        with Server(env={"CHATD_PAYMENT_SECRET": env_secret},
                    config={"payment_notice": {"provider_secret": SECRET}}) as s:
            uid, tok = s.create_user("envu")
            room = s.post("/v1/rooms", {"kind": "group", "title": "t", "members": []},
                          token=tok).json["id"]
            raw = json.dumps({"id": "p1", "room_id": room, "text": "x"}).encode()
            hdr = {"Content-Type": "application/json"}
            r = s.request("POST", "/v1/payments/notices", raw=raw, token=ADMIN_TOKEN,
                          headers=dict(hdr, **{"X-Payment-Signature": sign(raw)}))
            self.assertError(r, 401, "unauthenticated")
            r = s.request("POST", "/v1/payments/notices", raw=raw, token=ADMIN_TOKEN,
                          headers=dict(hdr, **{"X-Payment-Signature":
                                               sign(raw, env_secret)}))
            self.assertEqual(r.status, 201, r)
            stop_checked(s)

    def test_bad_config_refuses_the_start(self):
        for conf in ({"currency": "won"}, {"provider_secret": "short"},
                     {"max_amount": 0}, {"colour": "red"}):
            s = Server(config={"payment_notice": conf})
            try:
                with self.assertRaises(RuntimeError):
                    s.start(timeout=10)
            finally:
                self.assertNotEqual(s.stop(), 0)  # exited by itself, refusing
                self.assertTrue(any("payment_notice" in l for l in s.log_lines),
                                s.log_lines[-5:])
                s.cleanup()


class RebuildTest(PaymentBase):
    def test_rebuild_answers_exactly_as_before(self):
        a, at, _ = self.user("ra")
        b, bt, _ = self.user("rb")
        c, ct, _ = self.user("rc")
        room = self.group(at, [b, c])
        self.deposit(a, 5000)
        self.deposit(b, 700)
        ids = []
        for n, (tok, to, amount) in enumerate(((at, b, 1200), (bt, c, 300),
                                               (at, c, 50), (ct, a, 20))):
            r = self.transfer(tok, room, to, amount, key="rb-%d" % n, memo="m%d" % n)
            self.assertEqual(r.status, 201, r)
            ids.append(r.json["id"])
        self.assertEqual(self.server.post("/v1/transfers/%s/refund" % ids[2],
                                          token=ct).status, 200)
        self.server.request("DELETE", "/v1/rooms/%s/members/%s" % (room, c), token=ct)
        raw = json.dumps({"id": "rb-prov", "room_id": room, "text": "paid"}).encode()
        r = self.server.request("POST", "/v1/payments/notices", raw=raw, token=ADMIN_TOKEN,
                                headers={"Content-Type": "application/json",
                                         "X-Payment-Signature": sign(raw)})
        self.assertEqual(r.status, 201, r)
        self.payment_messages(at, room, 6)

        def snapshot(server):
            out = {}
            for name, tok in (("a", at), ("b", bt), ("c", ct)):
                for path in ("/v1/wallet", "/v1/wallet/history",
                             "/v1/wallet/history?limit=2"):
                    r = server.get(path, token=tok)
                    out[(name, path)] = (r.status, r.json)
                for t in ids:
                    r = server.get("/v1/transfers/" + t, token=tok)
                    out[(name, t)] = (r.status, r.json)
            r = server.post("/v1/rooms/%s/transfers" % room,
                            {"to": b, "amount": 1200, "memo": "m0",
                             "idempotency_key": "rb-0"}, token=at)
            out["retry"] = (r.status, r.json)
            r = server.post("/v1/rooms/%s/transfers" % room,
                            {"to": a, "amount": 1, "idempotency_key": "x"}, token=ct)
            out["left"] = (r.status, r.json)
            r = server.request("POST", "/v1/payments/notices", raw=raw, token=ADMIN_TOKEN,
                               headers={"Content-Type": "application/json",
                                        "X-Payment-Signature": sign(raw)})
            out["notice"] = (r.status, r.json)
            r = server.get("/v1/rooms/%s/messages?limit=100" % room, token=at)
            out["room"] = (r.status, r.json)
            return out

        before = snapshot(self.server)
        self.assertEqual(before["retry"][0], 200)
        self.assertEqual(before["left"][0], 404)
        self.assertEqual(before["notice"][0], 200)
        self.assertEqual(before[("a", "/v1/wallet")][1]["balance"], 5000 - 1200 - 50 + 50 + 20)
        stop_checked(self.server)
        r = self.server.run_cli("verify")
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        for args in (("rebuild",), ("rebuild", "payment_notice")):
            r = self.server.run_cli(*args)
            self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
            again = Server(data_dir=self.server.data_dir, config=self.server_config).start()
            try:
                after = snapshot(again)
                self.assertEqual(sorted(after, key=repr), sorted(before, key=repr))
                for key in before:
                    self.assertEqual(after[key], before[key], (args, key))
            finally:
                stop_checked(again)
        self.server.start()


class ModuleFileTest(unittest.TestCase):
    """The built module as a file: the loader's checks, one export, and it
    is loaded by default (no "modules" list in the config)."""

    path = module_file("payment_notice")

    def test_loader_checks_pass_and_only_the_descriptor_is_exported(self):
        assert_module_file_ok(self, self.path)

    def test_loaded_by_default(self):
        with Server() as s:
            uid, tok = s.create_user("default_" + os.urandom(3).hex())
            r = s.get("/v1/wallet", token=tok)
            self.assertEqual((r.status, r.json["balance"]), (200, 0))
            stop_checked(s)


if __name__ == "__main__":
    main()
