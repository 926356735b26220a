#!/usr/bin/env python3
"""chatd HTTP benchmarks: durable message sends at 1/16/64 keep-alive
clients and history page reads (latest 50 of a random room) at 16 clients,
with wrk as the load generator. Every figure is the median of --runs runs
(min and max shown), with the client's and the server's CPU use.

    python3 bench/chatd_bench.py [--build build] [--seconds 10] [--runs 3]
                                 [--rooms 1000] [--messages 1000000]

Writes bench/results/http-<date>.json and .md and prints the table.
Everything runs on 127.0.0.1; every load is bounded by --seconds.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
TOKEN = "bench-admin-token"


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def http_call(port, method, path, body=None, token=TOKEN, conn=None, timeout=60):
    """One JSON request to chatd on 127.0.0.1:port; returns (status, json).
    Uses `conn` (keep-alive) if given, else a connection of its own."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = {"Authorization": "Bearer " + token}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=hdrs)
    r = c.getresponse()
    out = r.read()
    if conn is None:
        c.close()
    return r.status, (json.loads(out) if out else None)


class Chatd:
    """A chatd server on 127.0.0.1:port with a fresh data directory (or
    `data`, an existing one), optionally a config (dict, written as JSON
    beside the data directory). Its own session, so a Ctrl-C at the
    terminal reaches the driver, which stops it."""

    def __init__(self, binary, port, config=None, parent="/tmp", data=None,
                 keep=False):
        self.data = data or tempfile.mkdtemp(prefix="chatd-bench-", dir=parent)
        self.keep = keep or data is not None
        env = dict(os.environ, CHATD_ADMIN_TOKEN=TOKEN)
        self.port = port
        cmd = [binary, "serve", "--listen", "127.0.0.1:%d" % port, "--data", self.data]
        if config is not None:
            self.config = self.data.rstrip("/") + ".json"
            with open(self.config, "w") as f:
                json.dump(config, f)
            cmd += ["--config", self.config]
        self.log = open(self.data.rstrip("/") + ".log", "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                     stderr=self.log, start_new_session=True)
        self.started()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if self.call("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("chatd did not start (log: %s.log)" % self.data.rstrip("/"))

    def started(self):
        """Called right after the process starts (before it is ready)."""

    def call(self, method, path, body=None, token=TOKEN, conn=None):
        return http_call(self.port, method, path, body, token, conn)

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        if not self.keep:
            shutil.rmtree(self.data, ignore_errors=True)


def setup_rooms(srv, n_rooms):
    """One sender and one partner; n_rooms group rooms holding both."""
    st, sender = srv.call("POST", "/v1/users", {"name": "bench-sender"})
    assert st == 201, sender
    st, partner = srv.call("POST", "/v1/users", {"name": "bench-partner"})
    assert st == 201, partner
    rooms = [None] * n_rooms

    def make(lo, hi):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        for i in range(lo, hi):
            st, room = srv.call("POST", "/v1/rooms",
                                {"kind": "group", "title": "bench %d" % i,
                                 "members": [partner["id"]]},
                                token=sender["token"], conn=conn)
            assert st == 201, room
            rooms[i] = room["id"]
        conn.close()

    step = (n_rooms + 15) // 16
    ths = [threading.Thread(target=make, args=(lo, min(lo + step, n_rooms)))
           for lo in range(0, n_rooms, step)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    path = os.path.join(srv.data, "rooms.txt")
    with open(path, "w") as f:
        f.write("\n".join(rooms) + "\n")
    return sender["token"], path


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * UNITS[m.group(2)]


def wrk(srv, script, token, rooms_file, conns, seconds, threads=None):
    threads = threads or min(conns, 2)
    before_srv = srv.cpu_seconds()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency",
         "-s", os.path.join(HERE, "wrk", script), "http://127.0.0.1:%d" % srv.port,
         "--", token, rooms_file],
        capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    srv_cpu = srv.cpu_seconds() - before_srv
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    text = out.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    lat = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", text, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: (.*)", text)
    bad_status = out.stderr.count("unexpected status")
    client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"rps": rps, "requests": requests,
            "p50_ms": parse_ms(lat["50"]), "p99_ms": parse_ms(lat["99"]),
            "non2xx": int(errors.group(1)) if errors else 0, "bad_status": bad_status,
            "socket_errors": sock.group(1) if sock else "",
            "client_cpu_pct": 100.0 * client_cpu / seconds,
            "server_cpu_pct": 100.0 * srv_cpu / seconds}


def summarize(runs):
    out = {}
    for key in ("rps", "p50_ms", "p99_ms", "client_cpu_pct", "server_cpu_pct"):
        vals = [r[key] for r in runs]
        out[key] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
    out["errors"] = sum(r["non2xx"] + r["bad_status"] for r in runs)
    return out


def preload(srv, token, rooms_file, target, log):
    """Sends messages with 64 connections until about `target` exist."""
    sent = 0
    while sent < target:
        left = target - sent
        secs = max(2, min(30, int(left / 15000) + 1))
        r = wrk(srv, "send.lua", token, rooms_file, 64, secs)
        sent += int(r["rps"] * secs)
        log("  preload: ~%d messages" % sent)
    return sent


def machine():
    mem = 0
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    disk = sh("df", "-h", "/tmp").splitlines()[-1].split()
    return {"cores": os.cpu_count(), "memory_mib": mem, "cpu": cpu,
            "disk": "%s (%s)" % (disk[0], disk[1]), "kernel": platform.release()}


def versions(binary):
    v = {"chatd": sh(binary, "--version").strip()}
    v["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    for pkg in ("liblmdb0", "libmicrohttpd12", "libjansson4"):
        try:
            v[pkg] = sh("dpkg-query", "-W", "-f=${Version}", pkg)
        except subprocess.CalledProcessError:
            pass
    return v


def render(res):
    lines = ["| workload | clients | req/s median (min–max) | p50 ms | p99 ms | server CPU | wrk CPU | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for w in res["workloads"]:
        s = w["summary"]
        lines.append("| %s | %d | %.0f (%.0f–%.0f) | %.2f | %.2f | %.0f%% | %.0f%% | %d |" % (
            w["name"], w["clients"], s["rps"]["median"], s["rps"]["min"], s["rps"]["max"],
            s["p50_ms"]["median"], s["p99_ms"]["median"], s["server_cpu_pct"]["median"],
            s["client_cpu_pct"]["median"], s["errors"]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rooms", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=1000000)
    ap.add_argument("--port", type=int, default=18400)
    ap.add_argument("--skip-history", action="store_true")
    args = ap.parse_args()
    binary = os.path.join(args.build, "src", "chatd")
    log = lambda m: print(m, flush=True)
    res = {"date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
           "machine": machine(), "versions": versions(binary),
           "params": vars(args), "workloads": []}

    log("== durable sends (fresh server per run, %d rooms)" % args.rooms)
    for conns in (1, 16, 64):
        runs = []
        for i in range(args.runs):
            srv = Chatd(binary, args.port)
            try:
                token, rooms = setup_rooms(srv, args.rooms)
                runs.append(wrk(srv, "send.lua", token, rooms, conns, args.seconds))
            finally:
                srv.stop()
            log("  %d clients run %d: %.0f/s p50 %.2f ms p99 %.2f ms" % (
                conns, i + 1, runs[-1]["rps"], runs[-1]["p50_ms"], runs[-1]["p99_ms"]))
        res["workloads"].append({"name": "durable send", "clients": conns,
                                 "runs": runs, "summary": summarize(runs)})

    if not args.skip_history:
        log("== history page (latest 50), %d rooms, ~%d messages" % (args.rooms, args.messages))
        srv = Chatd(binary, args.port)
        try:
            token, rooms = setup_rooms(srv, args.rooms)
            res["history_messages"] = preload(srv, token, rooms, args.messages, log)
            res["history_rss_kib"] = srv.rss_kib()
            runs = []
            for i in range(args.runs):
                # one client thread: chatd serves reads on one thread, the
                # client gets the other core (peers/compare.py, HISTORY_WRK_THREADS)
                runs.append(wrk(srv, "history.lua", token, rooms, 16, args.seconds,
                                threads=1))
                log("  16 clients run %d: %.0f/s p50 %.2f ms p99 %.2f ms" % (
                    i + 1, runs[-1]["rps"], runs[-1]["p50_ms"], runs[-1]["p99_ms"]))
            res["workloads"].append({"name": "history page", "clients": 16,
                                     "runs": runs, "summary": summarize(runs)})
        finally:
            srv.stop()

    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    stamp = datetime.datetime.utcnow().strftime("%Y%m%d-%H%M")
    base = os.path.join(HERE, "results", "http-" + stamp)
    with open(base + ".json", "w") as f:
        json.dump(res, f, indent=2)
    table = render(res)
    with open(base + ".md", "w") as f:
        f.write("chatd HTTP benchmark, %s\n\nMachine: %s\n\n%s\n" % (res["date"], res["machine"], table))
    log("\n" + table)
    log("\nresults: %s.json / .md" % base)


if __name__ == "__main__":
    main()
