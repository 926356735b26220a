"""Integration-test harness: starts the real chatd binary on an ephemeral
loopback port with a temporary data directory and talks real HTTP to it.

Used by every tests/integration/test_*.py (Python standard library only,
plus python3-websockets for WebSocket tests). Environment from `make check`:
CHATD_BIN (the binary), CHATD_BUILDDIR, CHATD_SRCDIR.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

BIN = os.environ.get("CHATD_BIN", os.path.join(os.getcwd(), "src", "chatd"))
BUILDDIR = os.environ.get("CHATD_BUILDDIR",
                          os.path.dirname(os.path.dirname(os.path.abspath(BIN))))
ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
LISTEN_RE = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:300])


def with_test_overrides(config):
    """CHATD_TEST_HTTP_THREADS=N runs every server of the suite with a pool
    of N libmicrohttpd threads (`.ci/run` runs the suite once like that)."""
    threads = os.environ.get("CHATD_TEST_HTTP_THREADS")
    if not threads or (config is not None and not isinstance(config, dict)):
        return config
    config = json.loads(json.dumps(config or {}))
    http = config.setdefault("http", {})
    if isinstance(http, dict):
        http.setdefault("threads", int(threads))
    return config


class Server:
    """One chatd process. Use as a context manager or call start()/stop()."""

    def __init__(self, data_dir=None, env=None, args=None, config=None,
                 wrapper=None):
        """wrapper: a command line that ends by exec'ing its arguments
        (the chatd command line), so the process stays chatd."""
        self.wrapper = wrapper or []
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="chatd-it-")
        self.extra_env = env or {}
        self.extra_args = args or []
        self.config = config
        self.proc = None
        self.port = None
        self.log_lines = []
        self._log_thread = None

    # -- process control -------------------------------------------------
    def start(self, timeout=15.0):
        env = dict(os.environ)
        env["CHATD_ADMIN_TOKEN"] = ADMIN_TOKEN
        env.update(self.extra_env)
        cmd = [BIN, "serve", "--listen", "127.0.0.1:0", "--data", self.data_dir]
        config = with_test_overrides(self.config)
        if config is not None:
            path = os.path.join(self.data_dir + ".json")
            with open(path, "w") as f:
                json.dump(config, f)
            cmd += ["--config", path]
        cmd = self.wrapper + cmd + self.extra_args
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        port_found = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.log_lines.append(line.rstrip("\n"))
                m = LISTEN_RE.search(line)
                if m and not port_found.is_set():
                    self.port = int(m.group(1))
                    port_found.set()

        self._log_thread = threading.Thread(target=pump, daemon=True)
        self._log_thread.start()
        deadline = time.time() + timeout
        while not port_found.wait(0.05):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("chatd did not start:\n" + "\n".join(self.log_lines))
        self.wait_ready(deadline)
        return self

    def wait_ready(self, deadline):
        while time.time() < deadline:
            try:
                if self.get("/readyz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("chatd not ready:\n" + "\n".join(self.log_lines))

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        """Stops the server; returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
            raise AssertionError("chatd did not stop within %.0fs" % timeout)
        finally:
            if self._log_thread:
                self._log_thread.join(2)
            self.proc.stderr.close()
        self.proc = None
        self.assert_no_sanitizer_reports()
        return code

    SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                         "runtime error:", "WARNING: AddressSanitizer")

    def assert_no_sanitizer_reports(self):
        bad = [l for l in self.log_lines
               if any(m in l for m in self.SANITIZER_MARKERS)]
        if bad:
            raise AssertionError("sanitizer report from chatd:\n" +
                                 "\n".join(self.log_lines[-200:]))

    def kill(self):
        """SIGKILL: no shutdown, so no leak report is expected either."""
        self.proc.kill()
        self.proc.wait()
        if self._log_thread:
            self._log_thread.join(2)
        self.proc.stderr.close()
        self.proc = None

    def cleanup(self):
        if self.proc is not None:
            self.stop()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            cfg = self.data_dir + ".json"
            if os.path.exists(cfg):
                os.unlink(cfg)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- HTTP ------------------------------------------------------------
    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method, path, body=None, token=None, headers=None,
                raw=None, conn=None):
        """Sends one request. `body` is JSON-encoded; `raw` is sent as is."""
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        own = conn is None
        c = conn or self.connection()
        try:
            c.request(method, path, body=data, headers=hdrs)
            r = c.getresponse()
            resp = Response(r.status, r.getheaders(), r.read().decode("utf-8", "replace"))
        finally:
            if own:
                c.close()
        return resp

    def get(self, path, token=None, **kw):
        return self.request("GET", path, token=token, **kw)

    def post(self, path, body=None, token=None, **kw):
        return self.request("POST", path, body=body, token=token, **kw)

    def admin(self, method, path, body=None, **kw):
        return self.request(method, path, body=body, token=ADMIN_TOKEN, **kw)

    def create_user(self, name, kind=None):
        """Creates a user through the admin API; returns (id, token)."""
        body = {"name": name}
        if kind:
            body["kind"] = kind
        r = self.admin("POST", "/v1/users", body)
        if r.status != 201:
            raise AssertionError("create_user: %r" % r)
        return r.json["id"], r.json["token"]

    def run_cli(self, *args, timeout=120):
        """Runs `chatd ARGS --data DIR` with the server's config file, if
        it has one (the server must be stopped for commands that need
        exclusive access)."""
        cmd = [BIN] + list(args) + ["--data", self.data_dir]
        path = self.data_dir + ".json"
        if self.config is not None and os.path.exists(path):
            cmd += ["--config", path]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class ServerTestCase(unittest.TestCase):
    """A test case with one fresh server per test class."""

    server_config = None
    server_env = None

    @classmethod
    def setUpClass(cls):
        cls.server = Server(config=cls.server_config, env=cls.server_env).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def assertError(self, resp, status, code):
        self.assertEqual(resp.status, status, resp)
        self.assertIsNotNone(resp.json, resp)
        self.assertIn("error", resp.json, resp)
        self.assertEqual(resp.json["error"]["code"], code, resp)
        self.assertIsInstance(resp.json["error"]["message"], str)


def stop_checked(server):
    """Stops a server; raises if it exited badly (stop() itself raises on a
    sanitizer report)."""
    code = server.stop()
    if code not in (0, None):
        raise AssertionError("server exit %r:\n%s"
                             % (code, "\n".join(server.log_lines[-40:])))


def module_file(name):
    """The built module NAME's .so in the build tree."""
    return os.path.join(BUILDDIR, "modules", name, ".libs", name + ".so")


def assert_module_file_ok(test, path):
    """The loader's checks pass (chatd check-module) and the file exports
    only its descriptor."""
    r = subprocess.run([BIN, "check-module", path],
                       capture_output=True, text=True, timeout=60)
    test.assertEqual(r.returncode, 0, r.stdout + r.stderr)
    r = subprocess.run(["nm", "-D", "--defined-only", path],
                       capture_output=True, text=True, timeout=60)
    test.assertEqual(r.returncode, 0, r.stderr)
    names = [l.split()[-1] for l in r.stdout.splitlines() if l.strip()]
    test.assertEqual(names, ["chatd_module_info"])


def ws_handshake(port, headers):
    """A raw WebSocket handshake to GET /v1/ws with `headers` (the
    Upgrade ones included); returns (status, head, sock, leftover)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    req = "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port
    for k, v in headers.items():
        req += "%s: %s\r\n" % (k, v)
    s.sendall((req + "\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, head.decode("latin-1"), s, rest


def ws_read_frame(sock, buf):
    """Reads one unmasked server frame; returns (opcode, payload, rest)."""
    def need(n, buf):
        while len(buf) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("closed")
            buf += chunk
        return buf
    buf = need(2, buf)
    op, n = buf[0] & 0x0F, buf[1] & 0x7F
    off = 2
    if n == 126:
        buf = need(4, buf)
        n, off = struct.unpack("!H", buf[2:4])[0], 4
    elif n == 127:
        buf = need(10, buf)
        n, off = struct.unpack("!Q", buf[2:10])[0], 10
    buf = need(off + n, buf)
    return op, buf[off:off + n], buf[off + n:]


def main():
    unittest.main(verbosity=2)
