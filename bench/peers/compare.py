#!/usr/bin/env python3
"""chatd side by side with the systems users would pick instead.

Run through bench/run (which installs the packages and builds); directly:

    python3 bench/peers/compare.py --build build-bench [--quick] [--runs N]
        [--only send,history,fanout,idle,replay,floor] [--docs]

Workloads (each run back to back: chatd, then its peer, same client):
  send     durable message send at 1/16/64 clients, 1,000 rooms, ~200 B:
           chatd POST (wrk + bench/wrk/send.lua) vs PostgreSQL 15
           (pgbench -M prepared, bench/peers/pg/send.sql)
  history  latest 50 messages of a random room, 16 clients, ~1,000,000
           messages over 1,000 rooms: chatd GET (wrk + history.lua) vs
           PostgreSQL (pgbench, bench/peers/pg/history.sql)
  fanout   WebSocket fan-out, 100 rooms x 10 members at 1,000 msg/s, and
           10 rooms x 100 members as fast as possible: chatd vs nats-server
           (its WebSocket listener), both driven by bench/ws/wsbench
  idle     server RSS at 1,000 and 10,000 idle WebSocket connections
  replay   `chatd rebuild` events/s on a >= 5,000,000-event log
  floor    fdatasync'd appends/s of a plain file (bench/evlog_bench)

Every figure is the median of --runs runs (min and max kept). Results go
to bench/results/compare-<stamp>.{json,md,png}; with --docs the results
section of docs/PERFORMANCE.md and docs/perf-latency.png are replaced.
Servers listen on 127.0.0.1 only, in fresh directories under $TMPDIR,
and are stopped on exit, Ctrl-C or SIGTERM.
"""

import argparse
import datetime
import glob
import http.client
import json
import os
import platform
import pwd
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
TOP = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
import chatd_bench as cb  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"

# ---------------------------------------------------------------------------
# parameters

FULL = dict(runs=3, seconds=10, warmup=2, rooms=1000, send_clients=[1, 16, 64],
            history_clients=16, history_messages=1000000,
            fan_rooms=100, fan_members=10, fan_rate=1000, fan_seconds=10,
            sat_rooms=10, sat_members=100, sat_seconds=10,
            idle_n1=1000, idle_n2=10000, replay_events=5000000,
            floor_seconds=2)
QUICK = dict(FULL, runs=1, seconds=3, warmup=1, history_messages=50000,
             fan_seconds=4, sat_seconds=4, idle_n1=500, idle_n2=2000,
             replay_events=300000, floor_seconds=0.5)
# History pages are served by one busy thread of chatd's (the HTTP thread;
# the writer idles), so wrk gets the other core: with two wrk threads the
# three busy threads share two cores and the scheduler, not the server, sets
# the tail (docs/PERFORMANCE.md, "History page"). The sends keep two: there
# chatd has two busy threads of its own and one wrk thread was slower.
# PostgreSQL runs a backend per client and was slower with one pgbench thread.
HISTORY_WRK_THREADS = 1
WORKLOADS = ["send", "history", "fanout", "idle", "replay", "floor"]


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def load1():
    return round(os.getloadavg()[0], 2)


def settle():
    """Writes back what earlier steps left dirty (a 1 M-message history
    data directory is gigabytes of unsynced read-model pages), so no
    server's fsyncs queue behind another's write-back. Before every
    workload and every server start of the latency runs, for each system
    alike."""
    os.sync()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def proc_cpu(pid, children=False):
    """utime+stime (and reaped children's, if asked) of pid, seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu(root):
    """CPU seconds of root and all its live descendants, counting what
    they reaped (PostgreSQL: postmaster + backends, ended ones too)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += proc_cpu(pid, children=True)
        todo.extend(kids.get(pid, []))
    return total


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def sweep_stale(parent):
    """Stops the servers of earlier runs whose driver is gone (killed with
    SIGKILL, machine hiccup) and removes their directories. Only pids
    listed in such a run's own pids file whose command line names that
    run's directory are touched."""
    for d in glob.glob(os.path.join(parent, "chatd-peers-*")):
        try:
            with open(os.path.join(d, "driver.pid")) as f:
                driver = int(f.read())
        except (OSError, ValueError):
            continue
        if "compare.py" in cmdline(driver):
            continue  # another run in progress
        try:
            with open(os.path.join(d, "pids")) as f:
                pids = [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            pids = []
        for pid in pids:
            if d in cmdline(pid):
                log("stopping pid %d left by an earlier run (%s)" % (pid, d))
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        shutil.rmtree(d, ignore_errors=True)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def pct(values, q):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def summary(runs, keys):
    out = {}
    for k in keys:
        vals = [r[k] for r in runs if r.get(k) is not None]
        if vals:
            out[k] = {"median": statistics.median(vals), "min": min(vals),
                      "max": max(vals)}
    return out


# ---------------------------------------------------------------------------
# servers (each in its own session; all stopped by Registry.stop_all)

class Registry:
    """Servers we started and directories we made. The pids also go to
    ROOT/pids, so a later run can stop what a killed run left behind."""
    procs = []
    dirs = []
    root = None

    @classmethod
    def add(cls, p):
        cls.procs.append(p)
        if cls.root:
            with open(os.path.join(cls.root, "pids"), "a") as f:
                f.write("%d\n" % p.proc.pid)
        return p

    @classmethod
    def stop_all(cls):
        for p in reversed(cls.procs):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                log("warning: stopping %s: %s" % (p, e))
        cls.procs = []
        for d in cls.dirs:
            shutil.rmtree(d, ignore_errors=True)
        cls.dirs = []


class ChatdSrv(cb.Chatd):
    def __init__(self, binary, parent, config=None, data=None):
        self.name = "chatd"
        super().__init__(binary, free_port(), config=config, parent=parent,
                         data=data)

    def started(self):
        Registry.add(self)

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def stop(self):
        super().stop()
        if self in Registry.procs:
            Registry.procs.remove(self)


class PgSrv:
    """PostgreSQL 15: initdb into a fresh directory (as the `postgres` user
    when we are root: initdb refuses root), postgres on 127.0.0.1:port."""

    def __init__(self, parent, settings):
        self.name = "postgresql"
        self.dir = tempfile.mkdtemp(prefix="pg-", dir=parent)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.settings = settings
        self.user = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.user = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        r = subprocess.run([PG_BIN + "/initdb", "-D", self.data, "-U", "postgres",
                            "--auth=trust", "--encoding=UTF8", "--locale=C",
                            "--no-sync"], capture_output=True, text=True,
                           timeout=120, **self.user)
        if r.returncode != 0:
            raise RuntimeError("initdb failed: %s" % r.stderr[-2000:])
        cmd = [PG_BIN + "/postgres", "-D", self.data, "-p", str(self.port),
               "-k", self.dir, "-c", "listen_addresses=127.0.0.1"]
        for k, v in settings.items():
            cmd += ["-c", "%s=%s" % (k, v)]
        self.logf = open(os.path.join(parent, "postgres-%d.log" % self.port), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=self.logf,
                                     start_new_session=True, **self.user)
        Registry.add(self)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited; see %s" % self.logf.name)
            if subprocess.run([PG_BIN + "/pg_isready", "-q", "-h", "127.0.0.1",
                               "-p", str(self.port)]).returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("postgres did not start")
        self.psql("CREATE DATABASE bench", db="postgres")

    def conn_args(self):
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]

    def psql(self, sql=None, db="bench", file=None, variables=None):
        cmd = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"] + \
            self.conn_args() + ["-d", db]
        for k, v in (variables or {}).items():
            cmd += ["-v", "%s=%s" % (k, v)]
        # statements from a file or stdin run one by one (VACUUM may not
        # run inside the single transaction of `psql -c`)
        cmd += ["-f", file or "-"]
        r = subprocess.run(cmd, input=None if file else sql, capture_output=True,
                           text=True, timeout=1200)
        if r.returncode != 0:
            raise RuntimeError("psql failed: %s" % r.stderr[-2000:])
        return r.stdout.strip()

    def cpu(self):
        return tree_cpu(self.proc.pid)

    def rows(self):
        return int(self.psql("SELECT count(*) FROM messages"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in Registry.procs:
            Registry.procs.remove(self)


class NatsSrv:
    def __init__(self, parent):
        self.name = "nats-server"
        self.dir = tempfile.mkdtemp(prefix="nats-", dir=parent)
        self.port = free_port()
        self.ws_port = free_port()
        conf = os.path.join(self.dir, "nats.conf")
        with open(conf, "w") as f:
            f.write('listen: "127.0.0.1:%d"\n'
                    'max_connections: 64000\n'
                    'websocket {\n  listen: "127.0.0.1:%d"\n  no_tls: true\n'
                    '  compression: false\n}\n' % (self.port, self.ws_port))
        self.logf = open(os.path.join(self.dir, "nats.log"), "ab")
        self.proc = subprocess.Popen(["nats-server", "-c", conf],
                                     stdout=self.logf, stderr=self.logf,
                                     start_new_session=True)
        Registry.add(self)
        if not wait_port(self.ws_port, self.proc):
            raise RuntimeError("nats-server did not start; see %s" % self.logf.name)

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in Registry.procs:
            Registry.procs.remove(self)


# ---------------------------------------------------------------------------
# clients

def chatd_metrics(port):
    """chatd's GET /metrics, as text."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", "/metrics")
        return c.getresponse().read().decode()
    finally:
        c.close()


def chatd_commits(port):
    """chatd's group-commit counters from GET /metrics."""
    text = chatd_metrics(port)
    out = {}
    for key, name in (("batches", "chatd_commit_batches_total"),
                      ("events", "chatd_events_appended_total"),
                      ("commit_s", "chatd_commit_duration_seconds_sum")):
        m = re.search(r"^%s ([\d.e+-]+)$" % name, text, re.M)
        out[key] = float(m.group(1)) if m else 0.0
    return out


def chatd_caught_up(port, timeout=600):
    """Waits until every async subscriber of chatd has handled the whole
    log (GET /metrics, chatd_subscriber_lag_events all 0), so that a
    server started on a loaded data directory does not measure its
    subscribers' catching up (the analytics export of a million events).
    Returns the seconds waited."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        lags = re.findall(r"^chatd_subscriber_lag_events\{[^}]*\} (\d+)$",
                          chatd_metrics(port), re.M)
        if all(int(v) == 0 for v in lags):
            return time.time() - t0
        time.sleep(0.2)
    raise RuntimeError("chatd's subscribers did not catch up in %d s" % timeout)


def commit_figures(r, commits, events, commit_s, seconds):
    """Adds what chatd's writer did in the window to a result."""
    if commits > 0:
        r.update(commits_per_s=commits / seconds, events_per_commit=events / commits,
                 commit_ms=1e3 * commit_s / commits,
                 commit_busy_pct=100.0 * commit_s / seconds)
    return r


def io_write_bytes(pid):
    """Bytes the process handed to write(2)/pwrite(2) (/proc/PID/io wchar;
    chatd's sockets use send(2), so this is LMDB's page writes; it agreed
    with the device's sectors written, /proc/diskstats, within 5% when
    checked)."""
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def per_op(r, rate_key):
    """Server CPU microseconds per request / transaction / delivery."""
    if r.get(rate_key) and r.get("server_cpu_pct") is not None:
        r["server_us_per_op"] = r["server_cpu_pct"] * 1e4 / r[rate_key]
    return r


def run_wrk(srv, script, token, rooms_file, conns, seconds, threads=None):
    load = load1()
    k0 = chatd_commits(srv.port)
    w0 = io_write_bytes(srv.proc.pid)
    r = cb.wrk(srv, script, token, rooms_file, conns, seconds, threads=threads)
    w1 = io_write_bytes(srv.proc.pid)
    k1 = chatd_commits(srv.port)
    sock = sum(int(x) for x in re.findall(r"\d+", r.get("socket_errors", "")))
    r.update(load1=load, errors=r["non2xx"] + r["bad_status"] + sock,
             client_threads=threads or min(conns, 2))
    if r["requests"] and w1 > w0:
        r["disk_kib_per_request"] = (w1 - w0) / 1024.0 / r["requests"]
    per_op(r, "rps")
    return commit_figures(r, k1["batches"] - k0["batches"], k1["events"] - k0["events"],
                          k1["commit_s"] - k0["commit_s"], seconds)


def run_pgbench(pg, script, conns, seconds, rooms, tmp):
    logdir = tempfile.mkdtemp(prefix="pgbench-", dir=tmp)
    threads = min(conns, 2)  # fewer was slower for PostgreSQL's history too
    load = load1()
    lsn0 = pg.psql("SELECT pg_current_wal_lsn()")
    srv0, cli0 = pg.cpu(), children_cpu()
    r = subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(conns),
                        "-j", str(threads), "-T", str(seconds), "-D",
                        "rooms=%d" % rooms, "-f", os.path.join(HERE, "pg", script),
                        "--log", "--log-prefix=%s/tx" % logdir] + pg.conn_args() +
                       ["bench"], capture_output=True, text=True,
                       timeout=seconds + 120)
    cli = children_cpu() - cli0
    time.sleep(0.3)  # backends exit and are reaped into the postmaster
    srv = pg.cpu() - srv0
    wal = float(pg.psql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '%s')" % lsn0))
    if r.returncode != 0:
        raise RuntimeError("pgbench failed: %s%s" % (r.stdout[-1500:], r.stderr[-1500:]))
    lat = []
    for path in glob.glob(os.path.join(logdir, "tx*")):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    lat.append(int(parts[2]))
    shutil.rmtree(logdir, ignore_errors=True)
    tps = float(re.search(r"tps = ([\d.]+) \(without initial", r.stdout).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", r.stdout)
    lat.sort()
    return per_op({"rps": tps, "requests": len(lat), "p50_ms": pct(lat, 0.5) / 1000.0,
            "p99_ms": pct(lat, 0.99) / 1000.0,
            "errors": int(failed.group(1)) if failed else 0,
            "client_cpu_pct": 100.0 * cli / seconds, "client_threads": threads,
            "server_cpu_pct": 100.0 * srv / seconds, "load1": load,
            "wal_kib_per_tx": wal / 1024.0 / len(lat) if lat else None}, "rps")


def run_wsbench(build, args, timeout):
    exe = os.path.join(build, "bench", "ws", "wsbench")
    load = load1()
    cli0 = children_cpu()
    r = subprocess.run([exe] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=timeout)
    cli_total = children_cpu() - cli0
    m = re.search(r"^RESULT (\{.*\})$", r.stdout, re.M)
    if not m:
        raise RuntimeError("wsbench %s failed (rc %d): %s%s" % (
            args[0], r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    res = json.loads(m.group(1))
    res.update(load1=load, client_cpu_total_s=round(cli_total, 2),
               exit_code=r.returncode)
    if res.get("commits"):
        commit_figures(res, res["commits"], res["commit_events"], res["commit_s"],
                       res["seconds"])
    per_op(res, "deliveries_per_s")
    if r.returncode != 0:
        log("  warning: wsbench exit %d: %s" % (r.returncode, r.stderr.strip()[-300:]))
    return res


# ---------------------------------------------------------------------------
# workloads

COMMIT_KEYS = ["commits_per_s", "events_per_commit", "commit_ms", "commit_busy_pct"]
SEND_KEYS = ["rps", "p50_ms", "p99_ms", "client_cpu_pct", "server_cpu_pct", "load1",
             "errors", "disk_kib_per_request", "wal_kib_per_tx",
             "server_us_per_op"] + COMMIT_KEYS


class Bench:
    def __init__(self, args, p):
        self.args, self.p = args, p
        self.build = args.build
        self.chatd = os.path.join(self.build, "src", "chatd")
        self.tmp = Registry.dirs[0]
        self.res = {"workloads": {}}
        self.pg_settings = {"fsync": "on", "synchronous_commit": "on",
                            "shared_buffers": "1GB", "max_connections": "200"}

    def new_pg(self):
        pg = PgSrv(self.tmp, self.pg_settings)
        pg.psql(file=os.path.join(HERE, "pg", "schema.sql"),
                variables={"rooms": self.p["rooms"]})
        return pg

    def pg_reset(self, pg):
        pg.psql("TRUNCATE messages; UPDATE rooms SET last_seq = 0; "
                "VACUUM ANALYZE rooms; CHECKPOINT")

    # --- durable sends ---
    def send(self):
        p = self.p
        out = {}
        pg = self.new_pg()
        try:
            for conns in p["send_clients"]:
                runs = {"chatd": [], "postgresql": []}
                for i in range(p["runs"]):
                    settle()
                    srv = ChatdSrv(self.chatd, self.tmp)
                    try:
                        token, rooms = cb.setup_rooms(srv, p["rooms"])
                        r = run_wrk(srv, "send.lua", token, rooms, conns, p["seconds"])
                    finally:
                        srv.stop()
                    runs["chatd"].append(r)
                    self.pg_reset(pg)
                    settle()
                    q = run_pgbench(pg, "send.sql", conns, p["seconds"], p["rooms"],
                                    self.tmp)
                    q["rows"] = pg.rows()
                    runs["postgresql"].append(q)
                    log("  send %2d clients run %d: chatd %.0f/s p99 %.2f ms | "
                        "postgresql %.0f/s p99 %.2f ms (load %.1f)" % (
                            conns, i + 1, r["rps"], r["p99_ms"], q["rps"],
                            q["p99_ms"], r["load1"]))
                out[str(conns)] = {k: {"runs": v, "summary": summary(v, SEND_KEYS)}
                                   for k, v in runs.items()}
        finally:
            pg.stop()
        self.res["workloads"]["send"] = out

    # --- history pages ---
    def history(self):
        p = self.p
        conns = p["history_clients"]
        info = {}
        # chatd: post the data set with 64 clients (relaxed durability only
        # while loading), then serve it with the default (synced) config.
        srv = ChatdSrv(self.chatd, self.tmp, config={"durability": "relaxed"})
        data = srv.data
        srv.keep = True
        Registry.dirs.append(data)
        try:
            token, rooms = cb.setup_rooms(srv, p["rooms"])
            # chunks sized from the rate so far: overshoots by < 1 s of posts
            t0, posted, rate = time.time(), 0, 0.0
            while posted < p["history_messages"]:
                left = p["history_messages"] - posted
                secs = 1 if rate == 0 else max(1, min(30, int(left / rate)))
                r = cb.wrk(srv, "send.lua", token, rooms, 64, secs)
                posted += r["requests"] - r["non2xx"] - r["bad_status"]
                rate = r["rps"]
            info["chatd_load"] = {"messages": posted, "seconds": round(time.time() - t0, 1),
                                  "how": "wrk -c64 POST /v1/rooms/{id}/messages, "
                                         "durability relaxed while loading"}
            log("  chatd: posted %d messages in %.0f s" % (posted, time.time() - t0))
        finally:
            srv.stop()
        pg = None
        srv = ChatdSrv(self.chatd, self.tmp, data=data)
        try:
            rooms_file = os.path.join(data, "rooms.txt")
            info["chatd_rss_kib"] = srv.rss_kib()
            pg = self.new_pg()
            t0 = time.time()
            per_room = max(1, round(posted / p["rooms"]))  # as many as chatd got
            pg.psql(file=os.path.join(HERE, "pg", "load.sql"),
                    variables={"rooms": p["rooms"], "per_room": per_room})
            info["pg_load"] = {"messages": pg.rows(), "seconds": round(time.time() - t0, 1),
                               "how": "INSERT ... SELECT generate_series, VACUUM "
                                      "ANALYZE, CHECKPOINT"}
            info["pg_table_size"] = pg.psql(
                "SELECT pg_size_pretty(pg_total_relation_size('messages'))")
            log("  postgresql: loaded %d messages in %.0f s" % (
                info["pg_load"]["messages"], info["pg_load"]["seconds"]))
            info["chatd_catch_up_s"] = round(chatd_caught_up(srv.port), 1)
            # warm both caches the same way
            run_wrk(srv, "history.lua", token, rooms_file, conns, p["warmup"],
                    threads=HISTORY_WRK_THREADS)
            run_pgbench(pg, "history.sql", conns, p["warmup"], p["rooms"], self.tmp)
            runs = {"chatd": [], "postgresql": []}
            for i in range(p["runs"]):
                r = run_wrk(srv, "history.lua", token, rooms_file, conns, p["seconds"],
                            threads=HISTORY_WRK_THREADS)
                q = run_pgbench(pg, "history.sql", conns, p["seconds"], p["rooms"],
                                self.tmp)
                runs["chatd"].append(r)
                runs["postgresql"].append(q)
                log("  history run %d: chatd %.0f/s p99 %.2f ms | postgresql "
                    "%.0f/s p99 %.2f ms (load %.1f)" % (
                        i + 1, r["rps"], r["p99_ms"], q["rps"], q["p99_ms"], r["load1"]))
            # for reference, not a goal figure: chatd under the sends' client
            ref = run_wrk(srv, "history.lua", token, rooms_file, conns, p["seconds"],
                          threads=2)
            info["chatd_two_client_threads"] = ref
            log("  history reference: chatd with 2 wrk threads %.0f/s p99 %.2f ms" % (
                ref["rps"], ref["p99_ms"]))
        finally:
            srv.stop()
            if pg:
                pg.stop()
        shutil.rmtree(data, ignore_errors=True)
        out = {k: {"runs": v, "summary": summary(v, SEND_KEYS)} for k, v in runs.items()}
        out["info"] = info
        self.res["workloads"]["history"] = {str(conns): out}

    # --- WebSocket fan-out ---
    def fanout(self):
        p = self.p
        keys = ["deliveries_per_s", "posted_per_s", "p50_ms", "p99_ms", "max_ms",
                "client_cpu_pct", "server_cpu_pct", "load1",
                "server_us_per_op"] + COMMIT_KEYS
        cases = [("fanout", p["fan_rooms"], p["fan_members"], p["fan_rate"], p["fan_seconds"]),
                 ("saturation", p["sat_rooms"], p["sat_members"], 0, p["sat_seconds"])]
        out = {}
        for name, rooms, members, rate, secs in cases:
            runs = {"chatd": [], "nats-server": []}
            n = rooms * members
            for i in range(p["runs"]):
                settle()
                srv = ChatdSrv(self.chatd, self.tmp,
                               config={"http": {"max_connections": n + 2000}})
                try:
                    r = run_wsbench(self.build, ["fanout", srv.port, cb.TOKEN, rooms,
                                                 members, rate, secs, srv.proc.pid],
                                    timeout=secs + 300)
                finally:
                    srv.stop()
                settle()
                nats = NatsSrv(self.tmp)
                try:
                    q = run_wsbench(self.build, ["nats-fanout", nats.ws_port, rooms,
                                                 members, rate, secs, nats.proc.pid],
                                    timeout=secs + 300)
                finally:
                    nats.stop()
                runs["chatd"].append(r)
                runs["nats-server"].append(q)
                log("  %s %dx%d run %d: chatd %.0f deliveries/s p99 %.1f ms | "
                    "nats %.0f/s p99 %.1f ms (load %.1f)" % (
                        name, rooms, members, i + 1, r["deliveries_per_s"], r["p99_ms"],
                        q["deliveries_per_s"], q["p99_ms"], r["load1"]))
            out[name] = {k: {"runs": v, "summary": summary(v, keys)}
                         for k, v in runs.items()}
            out[name]["params"] = {"rooms": rooms, "members": members, "rate": rate,
                                   "seconds": secs}
        self.res["workloads"]["fanout"] = out

    # --- idle connections ---
    def idle(self):
        p = self.p
        keys = ["rss1_kb", "rss2_kb", "baseline_kb", "per_conn1_b", "per_conn2_b",
                "marginal_b", "load1"]
        runs = {"chatd": [], "nats-server": []}
        for i in range(p["runs"]):
            srv = ChatdSrv(self.chatd, self.tmp,
                           config={"http": {"max_connections": p["idle_n2"] + 2000}})
            try:
                r = run_wsbench(self.build, ["idle", srv.port, cb.TOKEN, p["idle_n1"],
                                             p["idle_n2"], srv.proc.pid], timeout=600)
            finally:
                srv.stop()
            nats = NatsSrv(self.tmp)
            try:
                q = run_wsbench(self.build, ["nats-idle", nats.ws_port, p["idle_n1"],
                                             p["idle_n2"], nats.proc.pid], timeout=600)
            finally:
                nats.stop()
            runs["chatd"].append(r)
            runs["nats-server"].append(q)
            log("  idle run %d: chatd %d/%d kB (%.0f B/conn marginal) | nats %d/%d kB "
                "(%.0f B/conn) (load %.1f)" % (
                    i + 1, r["rss1_kb"], r["rss2_kb"], r["marginal_b"], q["rss1_kb"],
                    q["rss2_kb"], q["marginal_b"], r["load1"]))
        out = {k: {"runs": v, "summary": summary(v, keys)} for k, v in runs.items()}
        out["params"] = {"n1": p["idle_n1"], "n2": p["idle_n2"]}
        self.res["workloads"]["idle"] = out

    # --- replay ---
    def replay(self):
        p = self.p
        srv = ChatdSrv(self.chatd, self.tmp)
        data = srv.data
        srv.keep = True
        Registry.dirs.append(data)
        try:
            token, rooms = cb.setup_rooms(srv, p["rooms"])
            # some real posts too: genlog continues each room's seq after them
            cb.wrk(srv, "send.lua", token, rooms, 16, 1)
        finally:
            srv.stop()
        gen = os.path.join(self.build, "bench", "peers", "genlog")
        t0 = time.time()
        r = subprocess.run([gen, data, str(p["replay_events"])], capture_output=True,
                           text=True, timeout=1800)
        if r.returncode != 0:
            raise RuntimeError("genlog failed: %s" % r.stderr)
        gen_s = time.time() - t0
        log("  " + r.stdout.strip())
        last = int(re.search(r"ends at seq (\d+)", r.stdout).group(1))
        posted = int(re.search(r"(\d+) messages seen", r.stdout).group(1))
        runs = []
        for i in range(p["runs"]):
            load = load1()
            cli0 = children_cpu()
            t0 = time.time()
            rb = subprocess.run([self.chatd, "rebuild", "--data", data],
                                capture_output=True, text=True, timeout=1800,
                                env=dict(os.environ, CHATD_ADMIN_TOKEN=cb.TOKEN))
            wall = time.time() - t0
            cpu = children_cpu() - cli0
            m = re.search(r"rebuilt .* from (\d+) events in ([\d.]+) s", rb.stdout)
            if rb.returncode != 0 or not m:
                raise RuntimeError("rebuild failed: %s" % rb.stderr[-2000:])
            events, secs = int(m.group(1)), float(m.group(2))
            runs.append({"events": events, "seconds": secs, "wall_s": round(wall, 2),
                         "events_per_s": events / secs, "cpu_pct": 100 * cpu / wall,
                         "load1": load})
            log("  rebuild run %d: %d events in %.1f s = %.0f events/s (load %.1f)" % (
                i + 1, events, secs, events / secs, load))
        # for reference (not a goal figure): the same rebuild without fsync,
        # which separates the projection's CPU from the synced commits
        relaxed = os.path.join(self.tmp, "relaxed.json")
        with open(relaxed, "w") as f:
            json.dump({"durability": "relaxed"}, f)
        cli0, t0 = children_cpu(), time.time()
        rb = subprocess.run([self.chatd, "rebuild", "--data", data, "--config", relaxed],
                            capture_output=True, text=True, timeout=1800,
                            env=dict(os.environ, CHATD_ADMIN_TOKEN=cb.TOKEN))
        wall, cpu = time.time() - t0, children_cpu() - cli0
        m = re.search(r"rebuilt .* from (\d+) events in ([\d.]+) s", rb.stdout)
        nosync = None
        if rb.returncode == 0 and m:
            nosync = {"events_per_s": int(m.group(1)) / float(m.group(2)),
                      "seconds": float(m.group(2)), "cpu_pct": 100 * cpu / wall}
            log("  rebuild without fsync (reference): %.0f events/s" % nosync["events_per_s"])
        # the rebuilt read models answer like the live ones
        srv = ChatdSrv(self.chatd, self.tmp, data=data)
        try:
            with open(rooms) as f:
                room = f.readline().strip()
            st, page = srv.call("GET", "/v1/rooms/%s/messages?limit=1" % room,
                                token=token)
            checked = (st == 200 and len(page["messages"]) == 1 and
                       page["messages"][0]["seq"] >= p["replay_events"] // p["rooms"])
        finally:
            srv.stop()
        size = subprocess.run(["du", "-sh", data], capture_output=True,
                              text=True).stdout.split()[0]
        shutil.rmtree(data, ignore_errors=True)
        self.res["workloads"]["replay"] = {
            "runs": runs,
            "summary": summary(runs, ["events_per_s", "seconds", "cpu_pct", "load1"]),
            "nosync_reference": nosync,
            "log": {"events": last, "generated": p["replay_events"],
                    "generate_s": round(gen_s, 1), "data_size": size,
                    "served_after_rebuild": checked,
                    "how": "%d rooms (2 members each) created and %d messages "
                           "posted through the REST API, then %d chat.message_posted "
                           "events appended by bench/peers/genlog (the chat "
                           "module's own event shape: room, id, next seq, sender, "
                           "text ~200 B, client_msg_id)" % (
                               p["rooms"], posted, p["replay_events"])}}

    # --- the fdatasync floor ---
    def floor(self):
        p = self.p
        exe = os.path.join(self.build, "bench", "evlog_bench")
        runs = []
        for i in range(p["runs"]):
            load = load1()
            r = subprocess.run([exe, "-d", self.tmp, "-s", str(p["floor_seconds"]),
                                "-e", "1000"], capture_output=True, text=True,
                               timeout=600)
            if r.returncode != 0:
                raise RuntimeError("evlog_bench failed: %s" % r.stderr)
            row = {"load1": load}
            for m in re.finditer(r"^(append|overwrite)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+"
                                 r"([\d.]+)\s+([\d.]+)$", r.stdout, re.M):
                key = "%s_b%s" % (m.group(1), m.group(2))
                row[key + "_records_per_s"] = float(m.group(3))
                row[key + "_fsyncs_per_s"] = float(m.group(4))
                row[key + "_p50_ms"] = float(m.group(5))
                row[key + "_p99_ms"] = float(m.group(6))
            for m in re.finditer(r"^\s*(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+"
                                 r"([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$",
                                 r.stdout, re.M):
                key = "evlog_b%s" % m.group(1)
                row[key + "_appends_per_s"] = float(m.group(3))
                row[key + "_commit_ms"] = float(m.group(6))
            runs.append(row)
            log("  floor run %d: append fdatasync b1 %.0f/s, b8 %.0f/s, b64 %.0f/s" % (
                i + 1, row.get("append_b1_records_per_s", 0),
                row.get("append_b8_records_per_s", 0),
                row.get("append_b64_records_per_s", 0)))
        keys = sorted(k for k in runs[0] if k != "load1") + ["load1"]
        self.res["workloads"]["floor"] = {"runs": runs, "summary": summary(runs, keys)}


# ---------------------------------------------------------------------------
# machine and versions

def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine(tmp):
    base_info = cb.machine()  # cores, cpu, memory, kernel
    cpu, mem = base_info["cpu"], base_info["memory_mib"]
    src, fstype = (sh("findmnt", "-no", "SOURCE,FSTYPE", "-T", tmp).split() + ["?", "?"])[:2]
    dev = os.path.basename(src)
    base = re.sub(r"p?\d+$", "", dev) if not os.path.exists("/sys/block/" + dev) else dev
    rot = sh("cat", "/sys/block/%s/queue/rotational" % base)
    size = sh("lsblk", "-dno", "SIZE", "/dev/" + base)
    model = sh("cat", "/sys/block/%s/device/model" % base) or \
        ("virtio" if base.startswith("vd") else "")
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_mib": mem,
            "disk": "%s %s %s, %s, queue/rotational=%s" % (src, fstype, size, model, rot or "?"),
            "kernel": platform.release(), "os": sh("sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"),
            "ulimit_nofile": resource.getrlimit(resource.RLIMIT_NOFILE)}


def versions(build):
    def dpkg(pkg):
        return sh("dpkg-query", "-W", "-f=${Version}", pkg)
    git = sh("git", "-C", TOP, "rev-parse", "--short", "HEAD")
    dirty = sh("git", "-C", TOP, "status", "--porcelain", "--untracked-files=no")
    return {
        "chatd": sh(os.path.join(build, "src", "chatd"), "--version"),
        "chatd_tree": git + ("+uncommitted changes" if dirty else ""),
        "chatd_cflags": sh("sh", "-c", "sed -n 's/^CFLAGS = //p' %s/Makefile" % build),
        "postgresql": sh(PG_BIN + "/postgres", "--version"),
        "pgbench": sh("pgbench", "--version"),
        "nats-server": sh("nats-server", "--version"),
        "wrk": (sh("wrk", "-v").splitlines() or [""])[0],
        "gcc": (sh("gcc", "--version").splitlines() or [""])[0],
        "liblmdb0": dpkg("liblmdb0"), "libmicrohttpd12": dpkg("libmicrohttpd12"),
        "libwslay1": dpkg("libwslay1"), "libevent": dpkg("libevent-2.1-7"),
        "python3": platform.python_version(),
    }


# ---------------------------------------------------------------------------
# report

def fmt(s, key, f="%.0f", scale=1.0):
    if not s or key not in s:
        return "–"
    v = s[key]
    if v["min"] == v["max"]:
        return f % (v["median"] * scale)
    return (f + " (" + f + "–" + f + ")") % (v["median"] * scale, v["min"] * scale,
                                             v["max"] * scale)


def med(s, key):
    return s[key]["median"] if s and key in s else None


def ratio(a, b):
    return a / b if a is not None and b else None


def pair_ratios(a, b, key):
    """chatd ÷ peer for each run (each pair ran back to back, so the
    load it saw was about the same): (min, max) or None."""
    rs = [x[key] / y[key] for x, y in zip(a["runs"], b["runs"])
          if x.get(key) is not None and y.get(key)]
    return (min(rs), max(rs)) if len(rs) > 1 else None


def absolute_goal(label, summary, rps, p99_ms):
    """A goal row for a figure of chatd's alone (issues 2 and 3: requests/s
    at least rps with the p99 under p99_ms, both medians)."""
    got_rps, got_p99 = med(summary, "rps"), med(summary, "p99_ms")
    return (label, "%.0f/s, p99 %.1f ms" % (got_rps, got_p99),
            "≥ %s/s with p99 < %g ms" % (format(rps, ","), p99_ms),
            got_rps >= rps and got_p99 < p99_ms, None)


def goals(res):
    """(label, chatd ÷ peer or value, goal text, met, per-run range) per goal."""
    w = res["workloads"]
    g = []
    if "send" in w and "64" in w["send"]:
        a, b = w["send"]["64"]["chatd"], w["send"]["64"]["postgresql"]
        c, q = a["summary"], b["summary"]
        r = ratio(med(c, "rps"), med(q, "rps"))
        g.append(("durable sends, 64 clients: throughput chatd ÷ PostgreSQL", r, "≥ 5×",
                  r is not None and r >= 5, pair_ratios(a, b, "rps")))
        g.append(("durable sends, 64 clients: p99 chatd vs PostgreSQL",
                  "%.1f vs %.1f ms" % (med(c, "p99_ms"), med(q, "p99_ms")), "≤",
                  med(c, "p99_ms") <= med(q, "p99_ms"), pair_ratios(a, b, "p99_ms")))
        g.append(absolute_goal("durable sends, 64 clients: chatd's own figure", c,
                               25000, 10.0))
    if "history" in w:
        h = next(iter(w["history"].values()))
        r = ratio(med(h["chatd"]["summary"], "rps"), med(h["postgresql"]["summary"], "rps"))
        g.append(("history page: throughput chatd ÷ PostgreSQL", r, "≥ 2×",
                  r is not None and r >= 2, pair_ratios(h["chatd"], h["postgresql"], "rps")))
        g.append(absolute_goal("history page, 16 clients: chatd's own figure",
                               h["chatd"]["summary"], 40000, 2.0))
    if "fanout" in w:
        f = w["fanout"]["fanout"]
        c, n = med(f["chatd"]["summary"], "p99_ms"), med(f["nats-server"]["summary"], "p99_ms")
        g.append(("fan-out at %d msg/s: post→deliver p99 chatd vs nats-server"
                  % f["params"]["rate"], "%.1f vs %.1f ms" % (c, n), "≤", c <= n,
                  pair_ratios(f["chatd"], f["nats-server"], "p99_ms")))
        s = w["fanout"]["saturation"]
        r = ratio(med(s["chatd"]["summary"], "deliveries_per_s"),
                  med(s["nats-server"]["summary"], "deliveries_per_s"))
        g.append(("saturation: deliveries/s chatd ÷ nats-server", r, "≥ 1×",
                  r is not None and r >= 1,
                  pair_ratios(s["chatd"], s["nats-server"], "deliveries_per_s")))
    if "idle" in w:
        d = w["idle"]
        r = ratio(med(d["chatd"]["summary"], "marginal_b"),
                  med(d["nats-server"]["summary"], "marginal_b"))
        g.append(("idle WebSocket: bytes per connection (marginal) chatd ÷ nats-server",
                  r, "≤ 0.67×", r is not None and r <= 2 / 3,
                  pair_ratios(d["chatd"], d["nats-server"], "marginal_b")))
    if "replay" in w:
        v = med(w["replay"]["summary"], "events_per_s")
        g.append(("replay (`chatd rebuild`), events/s", "%.0f" % v, "≥ 500,000",
                  v >= 500000, None))
    return g


def render(res):
    p, w, L = res["params"], res["workloads"], []
    L.append("Run: `%s` — %s, %s; %d run(s) per figure, each cell is the median "
             "(min–max); the run took %.1f min. Load averages (1, 5, 15 min) of the "
             "machine at its start: %s, at its end: %s; the load at the start of each "
             "measurement is in the tables. Goals are ratios measured in the same run, "
             "or chatd's own figures (the goals of issues 2 and 3)." % (
                 res["command"], res["date"], "QUICK smoke run (short durations, 1 run)"
                 if res["quick"] else "full-size run", p["runs"],
                 res.get("total_seconds", 0) / 60.0, res["load_start"],
                 res.get("load_end", "?")))
    L.append("")
    m = res["machine"]
    L.append("Machine: %d cores (%s), %d MiB RAM, disk %s, %s, kernel %s." % (
        m["cores"], m["cpu"], m["memory_mib"], m["disk"], m["os"], m["kernel"]))
    v = res["versions"]
    L.append("Versions: %s (tree %s, CFLAGS `%s`); %s; %s; nats-server %s; %s; %s." % (
        v["chatd"], v["chatd_tree"], v["chatd_cflags"], v["postgresql"], v["pgbench"],
        v["nats-server"].replace("nats-server: ", ""), v["wrk"].split(" Copyright")[0],
        v["gcc"]))
    L.append("Parameters: %d s per measurement (warm-up %d s), %d rooms; sends at %s "
             "clients; history at %d clients over ~%d messages; fan-out %d×%d at %d "
             "msg/s for %d s and %d×%d as fast as possible for %d s; idle %d and %d "
             "connections; replay log %d generated events; floor %.1f s per batch size. "
             "All of it, per run, in the JSON file." % (
                 p["seconds"], p["warmup"], p["rooms"],
                 "/".join(str(c) for c in p["send_clients"]), p["history_clients"],
                 p["history_messages"], p["fan_rooms"], p["fan_members"], p["fan_rate"],
                 p["fan_seconds"], p["sat_rooms"], p["sat_members"], p["sat_seconds"],
                 p["idle_n1"], p["idle_n2"], p["replay_events"], p["floor_seconds"]))
    L.append("")
    L.append("### Goals")
    L.append("")
    L.append("| goal | measured (medians) | chatd ÷ peer per run, min–max | target | met |")
    L.append("|---|---|---|---|---|")
    for label, val, target, ok, rng in goals(res):
        sval = ("%.2f×" % val) if isinstance(val, float) else str(val)
        srng = "%.2f–%.2f" % rng if rng else "–"
        L.append("| %s | %s | %s | %s | %s |" % (label, sval, srng, target,
                                               "yes" if ok else "**no**"))
    L.append("")
    if "send" in w or "history" in w:
        L.append("### Durable sends and history pages (HTTP vs PostgreSQL)")
        L.append("")
        L.append("| workload | clients | system | req/s | p50 ms | p99 ms | server CPU % | "
                 "server CPU µs/req | client CPU % | load | errors |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for name in ("send", "history"):
            for conns, d in w.get(name, {}).items():
                for sysname in ("chatd", "postgresql"):
                    s = d[sysname]["summary"]
                    L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                        "durable send" if name == "send" else "history page (50)",
                        conns, sysname, fmt(s, "rps"), fmt(s, "p50_ms", "%.2f"),
                        fmt(s, "p99_ms", "%.2f"), fmt(s, "server_cpu_pct"),
                        fmt(s, "server_us_per_op"), fmt(s, "client_cpu_pct"), fmt(s, "load1", "%.1f"),
                        sum(r["errors"] for r in d[sysname]["runs"])))
        L.append("")
        hist_threads = next((d["chatd"]["runs"][0].get("client_threads", 2)
                             for d in w.get("history", {}).values()), 2)
        L.append("Clients: chatd — wrk (keep-alive, bench/wrk/*.lua; `-t min(c,2)` for "
                 "the sends, `-t %d` for the history pages%s); "
                 "PostgreSQL — pgbench (`-M prepared -j min(c,2)`, bench/peers/pg/*.sql, "
                 "p50/p99 from its per-transaction log). PostgreSQL settings: %s, other "
                 "settings default (WAL defaults)." % (
                     hist_threads, ": chatd serves them on one thread, so the client "
                     "gets the other core" if hist_threads == 1 else "", ", ".join(
                     "%s=%s" % kv for kv in res["pg_settings"].items())))
        if "send" in w:
            L.append("chatd's writer during the durable sends (GET /metrics and /proc/PID/io "
                     "`wchar` before and after): "
                     + "; ".join(
                         "%s clients: %s commits/s, %s messages per commit, %s ms per "
                         "commit incl. fsync, %s%% of the time in commit, %s KiB per "
                         "message through write(2) (PostgreSQL: %s KiB of WAL per "
                         "transaction)" % (
                             conns,
                             fmt(d["chatd"]["summary"], "commits_per_s"),
                             fmt(d["chatd"]["summary"], "events_per_commit", "%.1f"),
                             fmt(d["chatd"]["summary"], "commit_ms", "%.2f"),
                             fmt(d["chatd"]["summary"], "commit_busy_pct"),
                             fmt(d["chatd"]["summary"], "disk_kib_per_request", "%.1f"),
                             fmt(d["postgresql"]["summary"], "wal_kib_per_tx", "%.2f"))
                         for conns, d in w.get("send", {}).items()) + ". "
                     "The bytes through write(2) are the log's and the analytics "
                     "export's: the read models are in a writable map (`writable_map`), "
                     "whose pages the kernel writes back without a system call of "
                     "chatd's.")
        if "history" in w:
            info = next(iter(w["history"].values()))["info"]
            L.append("History data: chatd %d messages posted in %.0f s (%s), RSS %d MiB "
                     "after the restart, its async subscribers (the analytics export) "
                     "caught up before the warm-up (waited %.1f s); PostgreSQL %d rows in "
                     "%.0f s (%s), table+index %s." % (
                         info["chatd_load"]["messages"], info["chatd_load"]["seconds"],
                         info["chatd_load"]["how"], info["chatd_rss_kib"] // 1024,
                         info.get("chatd_catch_up_s", 0),
                         info["pg_load"]["messages"], info["pg_load"]["seconds"],
                         info["pg_load"]["how"], info["pg_table_size"]))
            ref = info.get("chatd_two_client_threads")
            if ref:
                L.append("For reference (1 run, not a goal figure): chatd's history pages "
                         "with 2 wrk threads, as the sends are driven: %.0f pages/s, p50 "
                         "%.2f ms, p99 %.2f ms, server CPU %.0f%%, client CPU %.0f%% (three "
                         "busy threads on two cores)." % (
                             ref["rps"], ref["p50_ms"], ref["p99_ms"],
                             ref["server_cpu_pct"], ref["client_cpu_pct"]))
        L.append("")
    if "fanout" in w:
        L.append("### WebSocket fan-out (chatd vs nats-server, both driven by bench/ws/wsbench)")
        L.append("")
        L.append("| case | system | posts/s | deliveries/s | post→deliver p50 ms | p99 ms | "
                 "max ms | server CPU % | server CPU µs/delivery | client CPU % | load |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for case in ("fanout", "saturation"):
            d = w["fanout"][case]
            pp = d["params"]
            label = "%d rooms × %d members, %s" % (
                pp["rooms"], pp["members"],
                "%d msg/s" % pp["rate"] if pp["rate"] else "as fast as possible")
            for sysname in ("chatd", "nats-server"):
                s = d[sysname]["summary"]
                L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    label, sysname, fmt(s, "posted_per_s"), fmt(s, "deliveries_per_s"),
                    fmt(s, "p50_ms", "%.1f"), fmt(s, "p99_ms", "%.1f"),
                    fmt(s, "max_ms", "%.1f"), fmt(s, "server_cpu_pct"),
                    fmt(s, "server_us_per_op", "%.1f"),
                    fmt(s, "client_cpu_pct"), fmt(s, "load1", "%.1f")))
        L.append("")
        L.append("chatd's writer during the fan-out windows: " + "; ".join(
            "%s: %s commits/s, %s messages per commit, %s ms per commit incl. fsync, "
            "%s%% of the time in commit" % (
                case, fmt(w["fanout"][case]["chatd"]["summary"], "commits_per_s"),
                fmt(w["fanout"][case]["chatd"]["summary"], "events_per_commit", "%.1f"),
                fmt(w["fanout"][case]["chatd"]["summary"], "commit_ms", "%.2f"),
                fmt(w["fanout"][case]["chatd"]["summary"], "commit_busy_pct"))
            for case in ("fanout", "saturation")) + ". nats-server core keeps "
            "nothing (no persistence, at-most-once); chatd acknowledges and delivers "
            "a message only after its synced commit.")
        L.append("")
    if "idle" in w:
        d = w["idle"]
        n1, n2 = d["params"]["n1"], d["params"]["n2"]
        L.append("### Idle WebSocket connections (server VmRSS)")
        L.append("")
        L.append("| system | RSS fresh kB | RSS @%d kB | RSS @%d kB | B/conn @%d | "
                 "B/conn %d→%d (marginal) | load |" % (n1, n2, n2, n1, n2))
        L.append("|---|---|---|---|---|---|---|")
        for sysname in ("chatd", "nats-server"):
            s = d[sysname]["summary"]
            L.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                sysname, fmt(s, "baseline_kb"), fmt(s, "rss1_kb"), fmt(s, "rss2_kb"),
                fmt(s, "per_conn2_b"), fmt(s, "marginal_b"), fmt(s, "load1", "%.1f")))
        L.append("")
    if "replay" in w:
        d = w["replay"]
        L.append("### Replay")
        L.append("")
        L.append("`chatd rebuild` over %d events (data directory %s): **%s events/s**, "
                 "%s s per rebuild, CPU %s%% of one core, load %s. Log: %s; generated in "
                 "%.1f s; the server answered from the rebuilt read models: %s." % (
                     d["log"]["events"], d["log"]["data_size"],
                     fmt(d["summary"], "events_per_s"), fmt(d["summary"], "seconds", "%.1f"),
                     fmt(d["summary"], "cpu_pct"), fmt(d["summary"], "load1", "%.1f"),
                     d["log"]["how"], d["log"]["generate_s"],
                     "yes" if d["log"]["served_after_rebuild"] else "NO"))
        if d.get("nosync_reference"):
            ns = d["nosync_reference"]
            L.append("")
            L.append("For reference (1 run, not a goal figure): the same rebuild with "
                     "`durability: relaxed` (no fsync of its 40,000-event commits): "
                     "%.0f events/s, CPU %.0f%% of one core." % (ns["events_per_s"],
                                                               ns["cpu_pct"]))
        L.append("")
    if "floor" in w:
        s = w["floor"]["summary"]
        L.append("### The floor: a plain file on the same disk (bench/evlog_bench (c))")
        L.append("")
        L.append("| batch | append + fdatasync records/s | fsyncs/s | fsync p50 ms | p99 ms | "
                 "overwrite records/s | chatd evlog group commit appends/s (commit ms) |")
        L.append("|---|---|---|---|---|---|---|")
        for b in (1, 8, 64):
            k = "append_b%d" % b
            L.append("| %d | %s | %s | %s | %s | %s | %s (%s) |" % (
                b, fmt(s, k + "_records_per_s"), fmt(s, k + "_fsyncs_per_s"),
                fmt(s, k + "_p50_ms", "%.3f"), fmt(s, k + "_p99_ms", "%.3f"),
                fmt(s, "overwrite_b%d_records_per_s" % b),
                fmt(s, "evlog_b%d_appends_per_s" % b), fmt(s, "evlog_b%d_commit_ms" % b,
                                                            "%.2f")))
        L.append("")
    return "\n".join(L)


def plot(res, base):
    """Latency vs concurrency (durable sends) with gnuplot -> base.png."""
    w = res["workloads"].get("send")
    if not w or not shutil.which("gnuplot"):
        return None
    dat = base + "-latency.dat"
    with open(dat, "w") as f:
        f.write("# clients chatd_p50 min max chatd_p99 min max pg_p50 min max "
                "pg_p99 min max chatd_rps min max pg_rps min max\n")
        for conns in sorted(w, key=int):
            row = [conns]
            for sysname in ("chatd", "postgresql"):
                s = w[conns][sysname]["summary"]
                for k in ("p50_ms", "p99_ms"):
                    row += [s[k]["median"], s[k]["min"], s[k]["max"]]
            for sysname in ("chatd", "postgresql"):
                s = w[conns][sysname]["summary"]["rps"]
                row += [s["median"], s["min"], s["max"]]
            f.write(" ".join(str(x) for x in row) + "\n")
    png = base + "-latency.png"
    title = "Durable message sends, chatd vs PostgreSQL 15 (%s%s)" % (
        res["date"], ", quick run" if res["quick"] else "")
    r = subprocess.run(["gnuplot", "-e", "datafile='%s'; outfile='%s'; plottitle='%s'" % (
        dat, png, title), os.path.join(BENCH, "plot.gp")], capture_output=True, text=True)
    if r.returncode != 0:
        log("warning: gnuplot: %s" % r.stderr.strip())
        return None
    return png


def update_docs(md, png, res):
    doc = os.path.join(TOP, "docs", "PERFORMANCE.md")
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    if png:
        shutil.copy(png, os.path.join(TOP, "docs", "perf-latency.png"))
    if not os.path.exists(doc):
        log("warning: %s missing; not updated" % doc)
        return
    with open(doc) as f:
        text = f.read()
    if begin not in text or end not in text:
        log("warning: no results markers in %s; not updated" % doc)
        return
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    with open(doc, "w") as f:
        f.write(head + begin + "\n" + md + "\n" + end + tail)
    log("updated docs/PERFORMANCE.md and docs/perf-latency.png")


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(TOP, "build-bench"))
    ap.add_argument("--quick", action="store_true", help="1 run, short durations")
    ap.add_argument("--runs", type=int, help="runs per figure (default 3; quick 1)")
    ap.add_argument("--only", default=",".join(WORKLOADS),
                    help="comma-separated subset of: " + ",".join(WORKLOADS))
    ap.add_argument("--docs", action="store_true",
                    help="replace the results in docs/PERFORMANCE.md and docs/perf-latency.png")
    ap.add_argument("--out", default=os.path.join(BENCH, "results"))
    ap.add_argument("--command", default="bench/run")
    ap.add_argument("--render", metavar="JSON",
                    help="only rewrite the tables (and with --docs the docs) from a "
                         "results JSON of an earlier run")
    args = ap.parse_args()
    if args.render:
        with open(args.render) as f:
            res = json.load(f)
        base = args.render[:-5] if args.render.endswith(".json") else args.render
        png = base + "-latency.png"
        png = png if os.path.exists(png) else None
        md = render(res)
        link = "\n![durable sends: latency and throughput vs concurrency](%s)\n"
        with open(base + ".md", "w") as f:
            f.write(md + (link % os.path.basename(png) if png else "") + "\n")
        if args.docs:
            update_docs(md + (link % "perf-latency.png" if png else ""), png, res)
        print(md)
        return 0
    p = dict(QUICK if args.quick else FULL)
    if args.runs:
        p["runs"] = args.runs
    only = [x for x in args.only.split(",") if x]
    bad = [x for x in only if x not in WORKLOADS]
    if bad:
        ap.error("unknown workload(s): %s" % ", ".join(bad))

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = p["idle_n2"] + 1000
    if "idle" in only and hard < need:
        log("warning: open-file limit %d < %d; idle connections will fail" % (hard, need))

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    parent = os.environ.get("TMPDIR", "/tmp")
    sweep_stale(parent)
    tmp = tempfile.mkdtemp(prefix="chatd-peers-", dir=parent)
    os.chmod(tmp, 0o711)  # the postgres user reaches its own subdirectory
    with open(os.path.join(tmp, "driver.pid"), "w") as f:
        f.write(str(os.getpid()))
    Registry.dirs.append(tmp)
    Registry.root = tmp
    started = time.time()
    res = {"date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
           "command": args.command, "quick": args.quick, "params": p,
           "load_start": " ".join("%.2f" % x for x in os.getloadavg()),
           "machine": machine(tmp), "versions": versions(args.build)}
    b = Bench(args, p)
    res["pg_settings"] = b.pg_settings
    b.res = res
    res["workloads"] = {}
    status = 0
    try:
        for name in only:
            log("== %s" % name)
            settle()
            t0 = time.time()
            getattr(b, name)()
            res.setdefault("section_seconds", {})[name] = round(time.time() - t0)
    except KeyboardInterrupt as e:
        log("interrupted (%s); stopping servers" % (str(e) or "Ctrl-C"))
        status = 130
    except Exception as e:
        log("FAILED: %s: %s" % (type(e).__name__, e))
        status = 1
    finally:
        Registry.stop_all()
    res["load_end"] = " ".join("%.2f" % x for x in os.getloadavg())
    res["total_seconds"] = round(time.time() - started)
    if not res["workloads"]:
        return status or 1
    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.utcnow().strftime("%Y%m%d-%H%M%S")
    suffix = "-quick" if args.quick else ("-runs%d" % p["runs"] if p["runs"] != 3 else "")
    base = os.path.join(args.out, "compare-%s%s" % (stamp, suffix))
    png = plot(res, base)
    md = render(res)
    link = "\n![durable sends: latency and throughput vs concurrency](%s)\n"
    with open(base + ".json", "w") as f:
        json.dump(res, f, indent=1)
    with open(base + ".md", "w") as f:
        f.write(md + (link % os.path.basename(png) if png else "") + "\n")
    if png:
        md += link % "perf-latency.png"
    print("\n" + md)
    log("results: %s.json / .md%s (%d s in all)" % (
        base, " / -latency.png" if png else "", res["total_seconds"]))
    if args.docs and status == 0:
        update_docs(md, png, res)
    return status


if __name__ == "__main__":
    sys.exit(main())
