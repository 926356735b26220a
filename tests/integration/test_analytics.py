"""The analytics module over real HTTP: every event of the log exported
exactly once as a flat record in the right Hive-style partition (also
after kill -9 in the middle of a stream of writes), GET /v1/stats/daily
counting right and answering every error, `chatd rebuild` keeping its
answers, and the module loaded by default.

Every server is checked at shutdown for a clean exit and no sanitizer
report.
"""

import datetime
import gzip
import json
import os
import shutil
import re
import subprocess
import threading
import time
import unittest

from harness import (ADMIN_TOKEN, assert_module_file_ok, main, module_file,
                     Server, stop_checked)

PART_RE = re.compile(r"^part-(\d{20})-(\d{20})\.ndjson\.gz$")
FIGURES = ["messages_posted", "active_senders", "rooms_created",
           "users_created", "transfers", "transfer_amount", "refunds"]


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def flatten(ev):
    """The documented record of an event (modules/analytics/README.md)."""
    rec = {k: ev[k] for k in ("seq", "time", "type", "v", "stream",
                              "stream_ver", "correlation_id", "actor")}

    def walk(prefix, v):
        if isinstance(v, dict) and v:
            for k, m in v.items():
                walk(prefix + "." + k, m)
        elif isinstance(v, (dict, list)):
            rec[prefix] = compact(v)
        else:
            rec[prefix] = v

    if ev["data"]:
        walk("data", ev["data"])
    else:
        rec["data"] = "{}"
    return rec


def partition_of(ev):
    t = datetime.datetime.strptime(ev["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return "%s/year=%04d/month=%02d/day=%02d/hour=%02d" % (
        ev["type"].replace(".", "_"), t.year, t.month, t.day, t.hour)


def read_export(data_dir):
    """{seq: [(partition, record), ...]} over every sealed object; checks
    each object's name against its records."""
    root = os.path.join(data_dir, "export")
    out = {}
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".staging"]
        for name in files:
            m = PART_RE.match(name)
            if not m:
                raise AssertionError("unexpected file %s/%s" % (dirpath, name))
            with gzip.open(os.path.join(dirpath, name), "rt",
                           encoding="utf-8") as f:
                text = f.read()
            assert text.endswith("\n"), name
            recs = [json.loads(l) for l in text.splitlines()]
            seqs = [r["seq"] for r in recs]
            assert seqs == sorted(set(seqs)), (name, seqs)
            assert (seqs[0], seqs[-1]) == (int(m.group(1)), int(m.group(2))), name
            part = os.path.relpath(dirpath, root)
            for r in recs:
                out.setdefault(r["seq"], []).append((part, r))
    return out


def settle(server, timeout=20):
    """Waits until the exporter has handled every event of the log (it is
    asynchronous: a stop does not wait for it, the next start goes on)."""
    lag_re = re.compile(r'^chatd_subscriber_lag_events\{subscriber="analytics\.export"\} (\d+)$', re.M)
    deadline = time.time() + timeout
    while True:
        m = lag_re.search(server.get("/metrics").body)
        if m and int(m.group(1)) == 0:
            return
        if time.time() > deadline:
            raise AssertionError("exporter lag: %s" % (m and m.group(0)))
        time.sleep(0.05)


def dump(server):
    """Every event of the log (the server must be stopped)."""
    r = server.run_cli("dump")
    assert r.returncode == 0, r.stderr
    return [json.loads(l) for l in r.stdout.splitlines()]


class ExportChecks(unittest.TestCase):

    def assert_exported_exactly_once(self, server):
        events = dump(server)
        self.assertGreater(len(events), 0)
        got = read_export(server.data_dir)
        self.assertEqual(sorted(got), [e["seq"] for e in events])
        for ev in events:
            self.assertEqual(len(got[ev["seq"]]), 1, ev["seq"])
            part, rec = got[ev["seq"]][0]
            self.assertEqual(part, partition_of(ev))
            self.assertEqual(rec, flatten(ev))
            self.assertEqual(list(rec), list(flatten(ev)))  # key order too
        staging = os.path.join(server.data_dir, "export", ".staging")
        self.assertEqual([f for f in os.listdir(staging)
                          if f.endswith(".ndjson")], [])  # all sealed
        # every message is in there: readable by the server's user only
        for top, dirs, files in os.walk(os.path.join(server.data_dir, "export")):
            for path in [top] + [os.path.join(top, f) for f in files]:
                mode = os.stat(path).st_mode & 0o777
                self.assertEqual(mode & 0o077, 0, "%s is %o" % (path, mode))
        return events

    def traffic(self, s, n=5):
        a, at = s.create_user("an_a_" + os.urandom(3).hex())
        b, bt = s.create_user("an_b_" + os.urandom(3).hex())
        r = s.post("/v1/rooms", {"kind": "group", "title": "t \u00e9",
                                 "members": [b]}, token=at)
        self.assertEqual(r.status, 201, r)
        room = r.json["id"]
        for i in range(n):
            r = s.post("/v1/rooms/%s/messages" % room,
                       {"text": "hi \"%d\" \u00e9\u4e2d" % i}, token=at)
            self.assertEqual(r.status, 201, r)
        r = s.admin("POST", "/v1/wallets/%s/deposits" % a,
                    {"amount": 900, "idempotency_key": os.urandom(4).hex()})
        self.assertEqual(r.status, 201, r)
        r = s.post("/v1/rooms/%s/transfers" % room,
                   {"to": b, "amount": 300, "memo": "x",
                    "idempotency_key": os.urandom(4).hex()}, token=at)
        self.assertEqual(r.status, 201, r)
        return room, (a, at), (b, bt)


class ExportTest(ExportChecks):

    def test_records_in_their_partitions_exactly_once(self):
        s = Server().start()
        try:
            self.traffic(s)
            settle(s)
            stop_checked(s)  # seals what is left in staging
            events = self.assert_exported_exactly_once(s)
            types = {e["type"] for e in events}
            for t in ("identity.user_created", "chat.room_created",
                      "chat.message_posted", "payment_notice.deposit_made",
                      "payment_notice.transfer_completed"):
                self.assertIn(t, types)
            # nested objects become dotted keys, arrays JSON text
            recs = {r["seq"]: r for [(_, r)] in read_export(s.data_dir).values()}
            room = [r for r in recs.values() if r["type"] == "chat.room_created"][0]
            self.assertIsInstance(room["data.members"], str)
            self.assertIsInstance(json.loads(room["data.members"]), list)
            xfer = [r for r in recs.values()
                    if r["type"] == "payment_notice.transfer_completed"][0]
            self.assertEqual(xfer["data.notice.amount"], 300)
            # a restart exports only what is new, in new objects
            s.start()
            self.traffic(s, 2)
            settle(s)
            stop_checked(s)
            self.assert_exported_exactly_once(s)
        finally:
            s.cleanup()

    def test_lost_export_is_made_again_after_reset_subscriber(self):
        s = Server().start()
        try:
            self.traffic(s)
            settle(s)
            stop_checked(s)
            before = read_export(s.data_dir)
            # rewinding while the export is intact doubles nothing
            r = s.run_cli("reset-subscriber", "analytics.export")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("-> 0", r.stdout)
            s.start()
            settle(s)
            stop_checked(s)
            self.assertEqual(read_export(s.data_dir), before)
            self.assert_exported_exactly_once(s)
            # the export directory is lost: rewound, it is made again
            shutil.rmtree(os.path.join(s.data_dir, "export"))
            r = s.run_cli("reset-subscriber", "analytics.export")
            self.assertEqual(r.returncode, 0, r.stderr)
            s.start()
            settle(s)
            stop_checked(s)
            self.assert_exported_exactly_once(s)
            # mistakes are refused and change nothing
            last = dump(s)[-1]["seq"]
            r = s.run_cli("reset-subscriber", "analytics.nope")
            self.assertEqual(r.returncode, 1)
            self.assertIn("analytics.export", r.stderr)  # the known ones
            r = s.run_cli("reset-subscriber", "analytics.export", "--after",
                          str(last + 1))
            self.assertEqual(r.returncode, 2)
            self.assertIn("past the end of the log", r.stderr)
            r = s.run_cli("reset-subscriber", "analytics.export", "--after",
                          "x")
            self.assertEqual(r.returncode, 2)
            r = s.run_cli("reset-subscriber", "host.push")  # push is off
            self.assertEqual(r.returncode, 1)
            self.assertIn("push.webhook_url", r.stderr)
            s.start()
            r = s.run_cli("reset-subscriber", "analytics.export")
            self.assertEqual(r.returncode, 1)  # the server holds the data
            self.assertIn("in use", r.stderr)
            settle(s)
            stop_checked(s)
            self.assert_exported_exactly_once(s)
        finally:
            s.cleanup()

    def test_kill9_in_a_stream_of_writes_then_restart(self):
        s = Server(config={"analytics": {"object_max_bytes": 4096}}).start()
        try:
            room, (a, at), (b, bt) = self.traffic(s, 1)
            stop = threading.Event()
            acked = []

            def writer(tok, tag):
                conn = None
                for i in range(600):  # bounded
                    if stop.is_set():
                        return
                    try:
                        conn = conn or s.connection()
                        r = s.post("/v1/rooms/%s/messages" % room,
                                   {"text": "%s %d" % (tag, i)}, token=tok,
                                   conn=conn)
                        if r.status == 201:
                            acked.append(r.json["id"])
                    except OSError:
                        return

            ths = [threading.Thread(target=writer, args=(t, n))
                   for t, n in ((at, "a"), (bt, "b"))]
            for th in ths:
                th.start()
            deadline = time.time() + 10
            while len(acked) < 150 and time.time() < deadline:
                time.sleep(0.02)
            s.kill()  # mid-stream: no flush, no seal, no checkpoint
            stop.set()
            for th in ths:
                th.join(10)
            self.assertGreater(len(acked), 20)
            staging = os.path.join(s.data_dir, "export", ".staging")
            self.assertTrue(any(f.endswith(".ndjson")
                                for f in os.listdir(staging)))
            s.start()
            self.traffic(s, 3)
            settle(s)
            stop_checked(s)
            events = self.assert_exported_exactly_once(s)
            ids = {e["data"]["id"] for e in events
                   if e["type"] == "chat.message_posted"}
            for mid in acked:
                self.assertIn(mid, ids)
        finally:
            s.cleanup()

    def test_export_off(self):
        s = Server(config={"analytics": {"export": False}}).start()
        try:
            self.traffic(s, 1)
            r = s.admin("GET", "/v1/stats/daily?from=2020-01-01&to=2020-01-01")
            self.assertEqual(r.status, 200, r)
            stop_checked(s)
            self.assertFalse(os.path.exists(os.path.join(s.data_dir, "export")))
        finally:
            s.cleanup()


def expected_stats(events):
    """The figures, computed here from the log itself."""
    days = {}
    senders = set()
    for e in events:
        day = e["time"][:10]
        d = days.setdefault(day, dict.fromkeys(FIGURES, 0))
        t, data = e["type"], e["data"]
        if t == "identity.user_created":
            d["users_created"] += 1
        elif t == "chat.room_created":
            d["rooms_created"] += 1
        elif t == "chat.message_posted" and data.get("kind") == "text":
            d["messages_posted"] += 1
            if isinstance(data.get("sender"), str) and (day, data["sender"]) not in senders:
                senders.add((day, data["sender"]))
                d["active_senders"] += 1
        elif t == "payment_notice.transfer_completed":
            d["transfers"] += 1
            d["transfer_amount"] += data["amount"]
        elif t == "payment_notice.transfer_refunded":
            d["refunds"] += 1
    return days


class StatsTest(ExportChecks):

    def stats(self, s, frm, to, token=ADMIN_TOKEN):
        return s.request("GET", "/v1/stats/daily?from=%s&to=%s" % (frm, to),
                         token=token)

    def test_counts_errors_and_rebuild(self):
        s = Server().start()
        try:
            room, (a, at), (b, bt) = self.traffic(s, 4)
            for i in range(3):
                r = s.post("/v1/rooms/%s/messages" % room, {"text": "b%d" % i},
                           token=bt)
                self.assertEqual(r.status, 201, r)
            r = s.post("/v1/rooms/%s/transfers" % room,
                       {"to": b, "amount": 250,
                        "idempotency_key": os.urandom(4).hex()}, token=at)
            self.assertEqual(r.status, 201, r)
            r = s.post("/v1/transfers/%s/refund" % r.json["id"], token=bt)
            self.assertEqual(r.status, 200, r)
            c, ct = s.create_user("an_c_" + os.urandom(3).hex())

            r = s.admin("GET", "/v1/events?after=0&limit=1000")
            self.assertEqual(r.status, 200, r)
            want = expected_stats(r.json["events"])
            first = min(want)
            d0 = datetime.date.fromisoformat(first)
            frm = (d0 - datetime.timedelta(days=2)).isoformat()
            to = (d0 + datetime.timedelta(days=3)).isoformat()
            r = self.stats(s, frm, to)
            self.assertEqual(r.status, 200, r)
            self.assertEqual((r.json["from"], r.json["to"]), (frm, to))
            self.assertEqual(len(r.json["days"]), 6)
            for i, day in enumerate(r.json["days"]):
                date = (d0 + datetime.timedelta(days=i - 2)).isoformat()
                self.assertEqual(day["date"], date)
                zero = dict.fromkeys(FIGURES, 0)
                self.assertEqual({k: day[k] for k in FIGURES},
                                 want.get(date, zero), date)
            total = {k: sum(d[k] for d in want.values()) for k in FIGURES}
            self.assertEqual(total["messages_posted"], 7)
            self.assertEqual(total["active_senders"], len(want) and
                             total["active_senders"])
            self.assertGreaterEqual(total["active_senders"], 2)
            self.assertEqual(total["users_created"], 3)
            self.assertEqual((total["transfers"], total["transfer_amount"],
                              total["refunds"]), (2, 550, 1))
            before = self.stats(s, frm, to).json
            settle(s)

            # every error
            r = s.request("GET", "/v1/stats/daily?from=%s&to=%s" % (frm, to))
            self.assertError(r, 401, "unauthenticated")
            self.assertError(self.stats(s, frm, to, token=ct), 403, "forbidden")
            for path in ("", "?from=2024-01-01", "?to=2024-01-01",
                         "?from=2024-1-01&to=2024-01-02",
                         "?from=2023-02-29&to=2023-03-01",
                         "?from=2024-01-01&to=2024-13-01",
                         "?from=2024-01-02&to=2024-01-01",
                         "?from=2024-01-01&to=2025-01-01",
                         "?from=1969-12-31&to=1970-01-01",
                         "?from=&to="):
                r = s.admin("GET", "/v1/stats/daily" + path)
                self.assertError(r, 400, "invalid_argument")
            r = self.stats(s, "2024-01-01", "2024-12-31")  # 366 days
            self.assertEqual((r.status, len(r.json["days"])), (200, 366))
            self.assertEqual(r.json["days"][59]["date"], "2024-02-29")

            stop_checked(s)
            for args in (("rebuild",), ("rebuild", "analytics")):
                out = s.run_cli(*args)
                self.assertEqual(out.returncode, 0, out.stderr[-2000:])
                s.start()
                try:
                    self.assertEqual(self.stats(s, frm, to).json, before, args)
                finally:
                    stop_checked(s)
            out = s.run_cli("verify")
            self.assertEqual(out.returncode, 0, out.stdout[-2000:] + out.stderr[-2000:])
            self.assert_exported_exactly_once(s)  # rebuild exports nothing twice
        finally:
            s.cleanup()

    def test_counts_from_group_commits(self):
        # Concurrent posts share group commits: the projection adds a
        # batch's figures to the day's record once, at the end of the
        # transaction; the answers must equal the log's own count, live
        # and after a rebuild (which batches differently).
        s = Server().start()
        try:
            room, (a, at), (b, bt) = self.traffic(s, 1)
            errors = []

            def poster(tok, tag):
                for i in range(20):
                    r = s.post("/v1/rooms/%s/messages" % room,
                               {"text": "%s-%d" % (tag, i)}, token=tok)
                    if r.status != 201:
                        errors.append(r.status)
            threads = [threading.Thread(target=poster,
                                        args=((at, bt)[k % 2], "t%d" % k))
                       for k in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            self.assertEqual(errors, [])
            r = s.admin("GET", "/v1/events?after=0&limit=1000")
            self.assertEqual(r.status, 200, r)
            want = expected_stats(r.json["events"])
            day = max(want)
            got = self.stats(s, day, day)
            self.assertEqual(got.status, 200, got)
            self.assertEqual({k: got.json["days"][0][k] for k in FIGURES},
                             want[day])
            self.assertGreaterEqual(want[day]["messages_posted"], 160)
            stop_checked(s)
            out = s.run_cli("rebuild")
            self.assertEqual(out.returncode, 0, out.stderr[-2000:])
            s.start()
            self.assertEqual(self.stats(s, day, day).json, got.json)
            stop_checked(s)
        finally:
            s.cleanup()

    def assertError(self, resp, status, code):
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(resp.json["error"]["code"], code, resp)
        self.assertIsInstance(resp.json["error"]["message"], str)


class ModuleFileTest(unittest.TestCase):
    """The built module as a file: the loader's checks, one export, and it
    is loaded by default (no "modules" list in the config)."""

    path = module_file("analytics")

    def test_loader_checks_pass_and_only_the_descriptor_is_exported(self):
        assert_module_file_ok(self, self.path)

    def test_loaded_by_default(self):
        with Server() as s:
            r = s.admin("GET", "/v1/stats/daily?from=2024-01-01&to=2024-01-01")
            self.assertEqual(r.status, 200, r)
            s.create_user("an_d_" + os.urandom(3).hex())
            m = s.get("/metrics").body
            self.assertIn("chatd_analytics_records_total", m)
            self.assertIn('chatd_subscriber_lag_events{subscriber="analytics.export"}', m)
            # The host calls the module's flush hook while it runs: the
            # durably exported seq reaches the end of the log.
            last = int(re.search(r"^chatd_log_last_seq (\d+)$", m, re.M).group(1))
            self.assertGreater(last, 0)
            deadline = time.time() + 10
            while True:
                m = s.get("/metrics").body
                got = int(re.search(r"^chatd_analytics_exported_seq (\d+)$", m,
                                    re.M).group(1))
                if got >= last or time.time() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(got, last)
            stop_checked(s)


if __name__ == "__main__":
    main()
