#!/usr/bin/env python3
"""Instructions per request, by request kind, measured with callgrind.

Wall-clock benchmarks on a shared 2-core machine move with whatever else
runs; instruction counts do not. This starts chatd under
`valgrind --tool=callgrind` (one output per thread), builds a small data
set with instrumentation off, then for each request kind:

    callgrind_control --instr=on, --zero   (start from nothing)
    N requests of that kind, one at a time on one keep-alive connection
    callgrind_control --dump=<kind>        (one file per thread)
    callgrind_control --instr=off

and divides the counts by N. Per kind it reports the whole process, the
HTTP thread (libmicrohttpd, auth, the route handler), the writer thread
(the command, the inline projections, LMDB, the commit), and the inclusive
cost of the module's own functions on those threads (the route handler;
for writes the command and the chat projection, and inside the command the
host's log append and real-time deliveries).

    python3 bench/callgrind_requests.py --build /tmp/build-perf-rel
    python3 bench/callgrind_requests.py --bin build/src/chatd -n 100 \\
        --kinds history,send --json out.json

Kinds:
  send     POST /v1/rooms/{id}/messages in 2-member group rooms, ~200-byte
           body with a unique client_msg_id (like bench/wrk/send.lua)
  history  GET /v1/rooms/{id}/messages?limit=50, room holding >= 50
           messages of ~200 bytes (like bench/wrk/history.lua)
  inbox    GET /v1/rooms (a full page: 50 rooms, each with a last message)
  room     GET /v1/rooms/{id}
  read     POST /v1/rooms/{id}/read up to the room's last message (the
           partner reads what the sender posted meanwhile)

Config: {"map_size_mb": 512}. Everything on 127.0.0.1. Needs valgrind
(callgrind_control, callgrind_annotate) and python3 only.
"""

import argparse
import glob
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chatd_bench import http_call  # noqa: E402
import time

ADMIN = "callgrind-admin-token-0123456789"
TEXT = "x" * 160  # with the JSON around it ~200 bytes, as in send.lua
KINDS = ("send", "history", "inbox", "room", "read")

# Functions whose inclusive cost is reported (the module's entry points).
ROUTE_FN = {"send": "chat_route_message_post", "history": "chat_route_history",
            "inbox": "chat_route_inbox", "room": "chat_route_room_get",
            "read": "chat_route_read"}
CMD_FN = {"send": "cmd_message_post", "read": "cmd_read"}
PROJ_FN = "chat_project"
# Host work the command reaches: the log append and the real-time feed
# (host->deliver, called by the projection once per member concerned).
APPEND_FN = "evlog_append"
DELIVER_FN = "userfeed_deliver"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Server:
    def __init__(self, binary, workdir, port):
        self.dir = workdir
        self.data = os.path.join(workdir, "data")
        self.out = os.path.join(workdir, "cg")
        os.makedirs(self.out)
        cfg = os.path.join(workdir, "config.json")
        with open(cfg, "w") as f:
            json.dump({"map_size_mb": 512}, f)
        self.port = port
        env = dict(os.environ, CHATD_ADMIN_TOKEN=ADMIN)
        self.stderr = open(os.path.join(workdir, "server.log"), "w")
        self.proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--separate-threads=yes",
             "--instr-atstart=no", "--dump-instr=no",
             "--callgrind-out-file=%s/callgrind.out.%%p" % self.out,
             binary, "serve", "--listen", "127.0.0.1:%d" % port,
             "--data", self.data, "--config", cfg],
            env=env, stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("chatd exited; see %s/server.log" % workdir)
            try:
                if self.call("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("chatd did not start under valgrind")
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method, path, body=None, token=ADMIN, conn=None):
        return http_call(self.port, method, path, body, token, conn,
                         timeout=120)

    def ok(self, want, method, path, body=None, token=ADMIN):
        st, js = self.call(method, path, body, token, self.conn)
        if st != want:
            raise RuntimeError("%s %s: %d %r" % (method, path, st, js))
        return js

    def control(self, *args):
        """Runs callgrind_control (vgdb reaches the process even while it
        waits in epoll_wait, so nothing has to poke it)."""
        r = subprocess.run(["callgrind_control"] + list(args) +
                           [str(self.proc.pid)], capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("callgrind_control %s: %s"
                               % (" ".join(args), r.stdout + r.stderr))

    def stop(self):
        self.conn.close()
        self.proc.terminate()
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


class Fixture:
    """One sender, one partner; `rooms` 2-member group rooms with one
    message each (the sender's inbox page is full), and one history room
    with `history` messages."""

    def __init__(self, srv, rooms, history):
        self.srv = srv
        s = srv.ok(201, "POST", "/v1/users", {"name": "cg-sender"})
        p = srv.ok(201, "POST", "/v1/users", {"name": "cg-partner"})
        self.sender, self.partner = s["token"], p["token"]
        self.rooms = []
        self.last = {}
        for i in range(rooms):
            r = srv.ok(201, "POST", "/v1/rooms",
                       {"kind": "group", "title": "cg %d" % i,
                        "members": [p["id"]]}, self.sender)
            self.rooms.append(r["id"])
            self.post(r["id"], "seed-%d" % i)
        self.hist = self.rooms[0]
        for i in range(history):
            self.post(self.hist, "hist-%d" % i)
        self.counter = 0

    def post(self, room, cmid):
        m = self.srv.ok(201, "POST", "/v1/rooms/%s/messages" % room,
                        {"text": "%s %s" % (TEXT, cmid),
                         "client_msg_id": cmid}, self.sender)
        self.last[room] = m["seq"]
        return m

    def one(self, kind, i):
        srv, room = self.srv, self.rooms[i % len(self.rooms)]
        if kind == "send":
            self.counter += 1
            self.post(room, "cg-%d" % self.counter)
        elif kind == "history":
            js = srv.ok(200, "GET", "/v1/rooms/%s/messages?limit=50" % self.hist,
                        token=self.sender)
            assert len(js["messages"]) == 50, len(js["messages"])
        elif kind == "inbox":
            js = srv.ok(200, "GET", "/v1/rooms", token=self.sender)
            assert len(js["rooms"]) == min(50, len(self.rooms))
        elif kind == "room":
            srv.ok(200, "GET", "/v1/rooms/" + room, token=self.sender)
        elif kind == "read":
            # the partner reads up to the sender's last message (posted by
            # prepare(), unmeasured): one chat.read_marked each
            js = srv.ok(200, "POST", "/v1/rooms/%s/read" % room,
                        {"seq": self.last[room]}, self.partner)
            assert js["unread"] == 0, js

    def prepare(self, kind, n):
        """Unmeasured work a kind needs before its N requests."""
        if kind == "read":
            if n + 1 > len(self.rooms):
                raise RuntimeError("read needs --rooms > -n (one room per read)")
            for i in range(n + 1):
                self.counter += 1
                self.post(self.rooms[i], "cg-%d" % self.counter)


LINE_RE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)$")


def annotate(path):
    """{function name: inclusive Ir} of one callgrind output file."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes",
                          "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    costs = {}
    for line in out.splitlines():
        m = LINE_RE.match(line)
        if not m:
            continue
        name = m.group(2)
        name = re.sub(r"\s+\[.*\]$", "", name)  # object file
        name = name.split(":", 1)[-1]            # file:function
        name = re.sub(r"'\d+$", "", name)         # recursion copies
        costs[name] = max(costs.get(name, 0), int(m.group(1).replace(",", "")))
    return costs


def totals(path):
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    return 0


def measure_kind(srv, fx, kind, n):
    fx.prepare(kind, n)
    fx.one(kind, 0)  # warm: first-time paths (page cache, code) not counted
    srv.control("--instr=on")
    srv.control("--zero")
    for i in range(n):
        fx.one(kind, i + 1)
    srv.control("--dump=" + kind)
    srv.control("--instr=off")
    files = [f for f in glob.glob(os.path.join(srv.out, "callgrind.out.*"))
             if not f.endswith(".done")]
    mine = []
    for f in files:
        with open(f, errors="replace") as fh:
            head = fh.read(4096)
        if re.search(r"^desc: Trigger: dump %s$" % re.escape(kind), head,
                     re.M):
            mine.append(f)
    if not mine:
        raise RuntimeError("no dump for %s in %s" % (kind, srv.out))
    res = {"process": 0, "http": 0, "writer": 0, "route": 0, "command": 0,
           "projection": 0, "log_append": 0, "deliver": 0}
    for f in mine:
        t = totals(f)
        res["process"] += t
        costs = annotate(f)
        route = costs.get(ROUTE_FN[kind], 0)
        if route:
            res["http"] += t
            res["route"] += route
        if "job_run" in costs:
            res["writer"] += t
            res["command"] += costs.get(CMD_FN.get(kind, ""), 0)
            res["projection"] += costs.get(PROJ_FN, 0)
            if res["command"]:
                res["log_append"] += costs.get(APPEND_FN, 0)
                res["deliver"] += costs.get(DELIVER_FN, 0)
        os.rename(f, f + ".done")
    return {k: v / n for k, v in res.items()}, mine


def fmt(v):
    return "%.0f k" % (v / 1000.0) if v else "-"


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--build", help="build directory (uses src/chatd)")
    g.add_argument("--bin", help="the chatd binary")
    ap.add_argument("-n", type=int, default=50, help="requests per kind")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--rooms", type=int, default=None,
                    help="rooms of the sender (default max(60, N + 1): a "
                    "full inbox page of 50, and one room per read)")
    ap.add_argument("--history", type=int, default=60,
                    help="messages in the history room (>= 50)")
    ap.add_argument("--port", type=int, default=18470)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (callgrind files)")
    args = ap.parse_args()
    binary = args.bin or os.path.join(args.build or "build", "src", "chatd")
    kinds = [k for k in args.kinds.split(",") if k]
    for k in kinds:
        if k not in KINDS:
            ap.error("unknown kind %s (known: %s)" % (k, ", ".join(KINDS)))
    if args.history < 50:
        ap.error("--history must be at least 50")
    if args.rooms is None:
        args.rooms = max(60, args.n + 1)
    if "read" in kinds and args.rooms < args.n + 1:
        ap.error("read needs --rooms > -n (one room per read)")

    work = tempfile.mkdtemp(prefix="chatd-cg-", dir="/tmp")
    log("work directory %s" % work)
    srv = Server(binary, work, args.port)
    results = {}
    try:
        log("setup: %d rooms, %d messages in the history room"
            % (args.rooms, args.history))
        fx = Fixture(srv, args.rooms, args.history)
        for kind in kinds:
            log("measuring %s x %d" % (kind, args.n))
            results[kind], _ = measure_kind(srv, fx, kind, args.n)
    finally:
        srv.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    cols = ("process", "http", "route", "writer", "command", "projection",
            "log_append", "deliver")
    print("instructions per request (callgrind Ir / %d requests; %s)"
          % (args.n, binary))
    print("| kind | process | HTTP thread | route handler | writer thread "
          "| command | chat projection | of which log append | of which "
          "deliver |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in kinds:
        r = results[kind]
        print("| %s | %s |" % (kind, " | ".join(fmt(r[c]) for c in cols)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"binary": binary, "n": args.n, "results": results}, f,
                      indent=2)


if __name__ == "__main__":
    main()
