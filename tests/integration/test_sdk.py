"""The module author kit, used the way an author uses it.

InstalledSdkTest: `make install DESTDIR=<scratch>` from the build tree, then
everything from the installed files only: the headers and chatd-module.pc
are where they belong, a module in a separate directory builds with nothing
but `pkg-config chatd-module` (tests/sdk/hello and its plain Makefile; the
example module modules/wordfilter too), the installed `chatd` loads it and
serves its routes, and a module claiming another ABI major is refused with
a message naming both versions (check-module and serve).

WordfilterTest, WordfilterLifecycleTest: the example module from the build
tree, loaded with chat: a message containing a configured word is flagged
end to end; stats and per-room flags (admin only, paged); config refusals;
a crash, a restart and `chatd rebuild wordfilter` keep the counts exact.

Bounded: one `make -j1 install` (which only copies when the tree is built;
the parent make's job server is not inherited), a few compiler runs, and
every wait has a deadline.
"""

import filecmp
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import ADMIN_TOKEN, Server, ServerTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("CHATD_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("CHATD_BUILDDIR") or os.getcwd()
INSTALL_TIMEOUT = 300
CC = os.environ.get("CC") or "cc"
WAIT = 15.0

# Variables of the parent make that must not reach the sub-make: its job
# server's descriptors are not ours, and a DESTDIR would nest.
MAKE_VARS = ("MAKEFLAGS", "MFLAGS", "GNUMAKEFLAGS", "MAKELEVEL",
             "MAKEOVERRIDES", "DESTDIR")


def sub_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in MAKE_VARS}
    env.update(extra)
    return env


def run(cmd, timeout=120, **kw):
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout, **kw)


def must(r, what):
    if r.returncode != 0:
        raise AssertionError("%s failed (exit %d):\n%s\n%s" % (
            what, r.returncode, r.stdout[-4000:], r.stderr[-4000:]))
    return r.stdout


def wait_for(fn, timeout=WAIT, interval=0.05):
    """Calls fn until it returns something true; returns that, or the last
    value after `timeout` seconds."""
    deadline = time.time() + timeout
    value = fn()
    while not value and time.time() < deadline:
        time.sleep(interval)
        value = fn()
    return value


def abi_of(header):
    with open(header) as f:
        text = f.read()
    major = int(re.search(r"#define CHATD_ABI_MAJOR (\d+)", text).group(1))
    minor = int(re.search(r"#define CHATD_ABI_MINOR (\d+)", text).group(1))
    return major, minor


class BinServer(Server):
    """A harness Server running another binary (the installed one)."""

    def __init__(self, binary, **kw):
        super().__init__(**kw)
        self.binary = binary

    def start(self, timeout=15.0):
        saved = harness.BIN
        harness.BIN = self.binary
        try:
            return super().start(timeout)
        finally:
            harness.BIN = saved


def start_fails(binary, config, timeout=WAIT):
    """Runs `serve` with `config`, which must make it refuse to start;
    returns its log (stderr)."""
    data = tempfile.mkdtemp(prefix="chatd-sdk-refuse-")
    cfg = data + ".json"
    try:
        with open(cfg, "w") as f:
            json.dump(config, f)
        env = sub_env(CHATD_ADMIN_TOKEN=ADMIN_TOKEN)
        r = run([binary, "serve", "--listen", "127.0.0.1:0", "--data", data,
                 "--config", cfg], timeout=timeout, env=env)
        if r.returncode == 0 or "listening on" in r.stderr:
            raise AssertionError("chatd started although it should not:\n" +
                                 r.stderr)
        return r.stderr
    finally:
        shutil.rmtree(data, ignore_errors=True)
        if os.path.exists(cfg):
            os.unlink(cfg)


# --------------------------------------------------------------------------
# The chat side of the end-to-end tests
# --------------------------------------------------------------------------

def chat_room(server, tag):
    """Two users and a group room; returns (room_id, sender_id, token)."""
    a, ta = server.create_user("wf-%s-a" % tag)
    b, _ = server.create_user("wf-%s-b" % tag)
    r = server.post("/v1/rooms", {"kind": "group", "title": "wf " + tag,
                                  "members": [b]}, token=ta)
    if r.status != 201:
        raise AssertionError("creating a room: %r" % r)
    return r.json["id"], a, ta


def post_all(server, room, token, texts):
    for text in texts:
        r = server.post("/v1/rooms/%s/messages" % room, {"text": text},
                        token=token)
        if r.status != 201:
            raise AssertionError("posting %r: %r" % (text, r))


def room_flags(server, room, query=""):
    r = server.admin("GET", "/v1/wordfilter/rooms/%s/flags%s" % (room, query))
    if r.status != 200:
        raise AssertionError("flags of %s: %r" % (room, r))
    return r.json


def wait_room_flags(server, room, n):
    got = wait_for(lambda: len(room_flags(server, room)["flags"]) >= n)
    flags = room_flags(server, room)["flags"]
    if not got:
        raise AssertionError("expected %d flags in %s within %.0fs, have %r"
                             % (n, room, WAIT, flags))
    return flags


def stats(server):
    r = server.admin("GET", "/v1/wordfilter/stats")
    if r.status != 200:
        raise AssertionError("stats: %r" % r)
    return r.json


def subscriber_lag(server, name="wordfilter.flagger"):
    text = server.get("/metrics").body
    m = re.search(r'^chatd_subscriber_lag_events\{subscriber="%s"\} (\d+)'
                  % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------
# The installed SDK
# --------------------------------------------------------------------------

class InstalledSdkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="chatd-sdk-")
        try:
            cls._install()
            cls._build_hello()
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def _install(cls):
        cls.destdir = os.path.join(cls.tmp, "dest")
        must(run(["make", "-C", BUILDDIR, "-j1", "install",
                  "DESTDIR=" + cls.destdir], timeout=INSTALL_TIMEOUT,
                 env=sub_env()), "make install DESTDIR=" + cls.destdir)
        pcs = glob.glob(cls.destdir + "/**/pkgconfig/chatd-module.pc",
                        recursive=True)
        if len(pcs) != 1:
            raise AssertionError("expected one installed chatd-module.pc, "
                                 "found %r" % pcs)
        cls.pc = pcs[0]
        cls.pcdir = os.path.dirname(cls.pc)
        # The paths as the .pc states them (the final, unstaged ones) ...
        plain = sub_env(PKG_CONFIG_PATH=cls.pcdir)
        cls.var = {v: must(run(["pkg-config", "--variable=" + v,
                                "chatd-module"], env=plain), "pkg-config")
                   .strip() for v in ("prefix", "includedir", "libdir",
                                      "moduledir")}
        cls.root = cls.destdir + cls.var["prefix"]
        header = cls.destdir + cls.var["includedir"] + "/chatd/module.h"
        if not os.path.isfile(header):
            found = glob.glob(cls.destdir + "/**/chatd/module.h",
                              recursive=True)
            raise AssertionError(
                "make install put the public header at %r, not at %s, where "
                "chatd-module.pc's -I${includedir} and #include "
                "<chatd/module.h> expect it (Makefile.am: install it with "
                "chatdincludedir = $(includedir)/chatd)" % (found, header))
        cls.bin = os.path.join(cls.root, "bin", "chatd")
        cls.moduledir = cls.destdir + cls.var["moduledir"]
        # ... and how an author points pkg-config at a staged install.
        cls.pkg_env = sub_env(PKG_CONFIG_PATH=cls.pcdir,
                              PKG_CONFIG_SYSROOT_DIR=cls.destdir)

    @classmethod
    def _build_hello(cls):
        cls.hello_dir = os.path.join(cls.tmp, "hello")
        shutil.copytree(os.path.join(SRCDIR, "tests", "sdk", "hello"),
                        cls.hello_dir)
        must(run(["make", "-C", cls.hello_dir, "CC=" + CC, "hello.so",
                  "hello_other_abi.so"], env=cls.pkg_env),
             "building tests/sdk/hello out of tree")
        cls.hello_so = os.path.join(cls.hello_dir, "hello.so")
        cls.other_abi_so = os.path.join(cls.hello_dir, "hello_other_abi.so")

    def pkg_config(self, *args):
        return must(run(["pkg-config"] + list(args), env=self.pkg_env),
                    "pkg-config " + " ".join(args)).split()

    # -- layout -----------------------------------------------------------

    def test_installed_layout(self):
        header = os.path.join(self.root, "include", "chatd", "module.h")
        self.assertTrue(os.path.isfile(header),
                        "expected the public header at %s; installed: %r" % (
                            header, sorted(glob.glob(self.root + "/include/**",
                                                     recursive=True))))
        self.assertTrue(filecmp.cmp(header, os.path.join(
            SRCDIR, "include", "chatd", "module.h"), shallow=False))
        self.assertTrue(os.access(self.bin, os.X_OK), self.bin)
        self.assertEqual(self.var["includedir"], self.var["prefix"] + "/include")
        self.assertEqual(self.var["moduledir"], self.var["libdir"] + "/chatd")
        for name in ("chat", "wordfilter"):
            self.assertTrue(os.path.isfile(os.path.join(self.moduledir,
                                                        name + ".so")),
                            "%s.so not installed in %s" % (name, self.moduledir))

    def test_pkg_config_flags(self):
        cflags = self.pkg_config("--cflags", "chatd-module")
        self.assertIn("-I" + self.destdir + self.var["includedir"], cflags)
        self.assertIn("-fPIC", cflags)
        self.assertIn("-fvisibility=hidden", cflags)
        self.assertIn("-shared", self.pkg_config("--libs", "chatd-module"))
        version = self.pkg_config("--modversion", "chatd-module")[0]
        out = must(run([self.bin, "--version"]), "chatd --version")
        self.assertIn("chatd %s " % version, out)
        major, minor = abi_of(os.path.join(self.root, "include", "chatd",
                                           "module.h"))
        self.assertIn("module ABI %d.%d" % (major, minor), out)

    def test_installed_binary_looks_in_moduledir(self):
        """Without module_dir, the installed chatd loads modules from the
        .pc's moduledir (its compiled-in $(pkglibdir)); here the install
        is staged, so it either finds them there or names that directory
        when it does not."""
        s = BinServer(self.bin, config={"modules": ["chat"]})
        try:
            s.start()
        except RuntimeError:
            pass  # not found there: the log names the directory
        finally:
            s.cleanup()
        log = "\n".join(s.log_lines)
        where = self.var["moduledir"]
        self.assertTrue("loaded from %s/chat.so" % where in log or
                        "not found in %s " % where in log, log)

    # -- an out-of-tree module in the installed server --------------------

    def test_out_of_tree_module_exports_one_symbol(self):
        if shutil.which("nm") is None:
            self.skipTest("nm not available")
        out = must(run(["nm", "-D", "--defined-only", self.hello_so]), "nm")
        names = {l.split()[-1] for l in out.splitlines() if l.strip()}
        exported = {n for n in names if not n.startswith("_")}
        self.assertEqual(exported, {"chatd_module_info"})

    def test_check_module_accepts_it(self):
        r = run([self.bin, "check-module", self.hello_so])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        major, minor = abi_of(os.path.join(self.root, "include", "chatd",
                                           "module.h"))
        self.assertIn("ok (ABI %d.%d)" % (major, minor), r.stdout)

    def test_routes_command_event_and_config(self):
        config = {"modules": [self.hello_so], "hello": {"greeting": "hi"}}
        with BinServer(self.bin, config=config) as s:
            self.assertTrue(any("module hello 0.1.0 loaded from " +
                                self.hello_so in l for l in s.log_lines))
            for n in (1, 2):
                r = s.admin("POST", "/v1/hello/greetings/ann", {})
                self.assertEqual(r.status, 201, r)
                self.assertEqual(r.json, {"name": "ann", "count": n})
            r = s.admin("GET", "/v1/hello/greetings/ann")
            self.assertEqual(r.json, {"name": "ann", "count": 2,
                                      "greeting": "hi ann"})
            self.assertEqual(s.get("/v1/hello/greetings/ann").status, 401)
            r = s.admin("POST", "/v1/hello/greetings/Not-Valid", {})
            self.assertEqual(r.status, 400, r)
            r = run([self.bin, "dump", "--data", s.data_dir])
            self.assertEqual(r.returncode, 0, r.stderr)
            events = [l for l in r.stdout.splitlines()
                      if '"hello.greeting_sent"' in l]
            self.assertEqual(len(events), 2, r.stdout)
            self.assertIn('"stream":"hello:ann"', events[1].replace(" ", ""))

    def test_unknown_config_key_is_refused(self):
        log = start_fails(self.bin, {"modules": [self.hello_so],
                                     "hello": {"greetin": "typo"}})
        self.assertIn("unknown key hello.greetin", log)

    # -- ABI discipline ---------------------------------------------------

    def expected_refusal(self):
        major, minor = abi_of(os.path.join(self.root, "include", "chatd",
                                           "module.h"))
        return ("built for ABI %d.0, this chatd has ABI %d.%d (major "
                "versions must match" % (major + 1, major, minor))

    def test_check_module_refuses_another_abi_major(self):
        r = run([self.bin, "check-module", self.other_abi_so])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("%s: refused: module %s: %s" % (
            self.other_abi_so, self.other_abi_so, self.expected_refusal()),
            r.stdout)

    def test_serve_refuses_another_abi_major(self):
        log = start_fails(self.bin, {"modules": [self.other_abi_so]})
        self.assertIn(self.expected_refusal(), log)

    # -- the example module, built out of tree ----------------------------

    def build_wordfilter(self):
        src = os.path.join(SRCDIR, "modules", "wordfilter")
        out = os.path.join(self.tmp, "wordfilter")
        os.makedirs(out, exist_ok=True)
        for f in glob.glob(src + "/*.[ch]"):
            shutil.copy(f, out)
        jansson = sub_env()
        so = os.path.join(out, "wordfilter.so")
        cmd = ([CC, "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror",
                "-Wno-unused-parameter"] +
               self.pkg_config("--cflags", "chatd-module") +
               must(run(["pkg-config", "--cflags", "jansson"], env=jansson),
                    "pkg-config jansson").split() +
               ["-o", so] + sorted(glob.glob(out + "/*.c")) +
               self.pkg_config("--libs", "chatd-module") +
               must(run(["pkg-config", "--libs", "jansson"], env=jansson),
                    "pkg-config jansson").split())
        must(run(cmd, cwd=out), " ".join(cmd))
        return so

    def test_wordfilter_built_out_of_tree_flags_a_message(self):
        so = self.build_wordfilter()
        config = {"module_dir": self.moduledir,
                  "modules": ["chat", so],
                  "wordfilter": {"words": "spam,scam"}}
        with BinServer(self.bin, config=config) as s:
            self.assertTrue(any("loaded from %s/chat.so" % self.moduledir in l
                                for l in s.log_lines), s.log_lines)
            room, sender, token = chat_room(s, "oot")
            post_all(s, room, token, ["hello", "cheap SPAM here"])
            flags = wait_room_flags(s, room, 1)
            self.assertEqual(len(flags), 1, flags)
            self.assertEqual(flags[0]["words"], ["spam"])
            self.assertEqual(flags[0]["sender"], sender)
            self.assertEqual(flags[0]["seq"], 2)
            self.assertEqual(stats(s), {"flagged": 1, "by_word": {"spam": 1}})


# --------------------------------------------------------------------------
# The example module from the build tree, with chat
# --------------------------------------------------------------------------

WF_CONFIG = {"modules": ["chat", "wordfilter"],
             "wordfilter": {"words": "spam, scam,Phish"}}


class WordfilterTest(ServerTestCase):
    server_config = WF_CONFIG

    def test_flags_configured_words_end_to_end(self):
        before = stats(self.server)
        room, sender, token = chat_room(self.server, "e2e")
        post_all(self.server, room, token, [
            "hello there",            # 1: nothing
            "Buy SPAM now!",          # 2: spam
            "spammer spam_bot",       # 3: longer tokens, nothing
            "a scam, and (spam)",     # 4: both
            "phishing? no: phish.",   # 5: phish (folded from "Phish")
        ])
        flags = wait_room_flags(self.server, room, 3)
        self.assertEqual([f["seq"] for f in flags], [2, 4, 5])
        self.assertEqual([f["words"] for f in flags],
                         [["spam"], ["spam", "scam"], ["phish"]])
        for f in flags:
            self.assertEqual(f["room_id"], room)
            self.assertEqual(f["sender"], sender)
            self.assertTrue(f["message_id"].startswith("m_"), f)
            self.assertIsInstance(f["source_seq"], int)
            self.assertIsInstance(f["flagged_ms"], int)
        after = wait_for(lambda: (lambda s: s if s["flagged"] >=
                                  before["flagged"] + 3 else None)(
                                      stats(self.server)))
        self.assertEqual(after["flagged"], before["flagged"] + 3)
        for word, n in (("spam", 2), ("scam", 1), ("phish", 1)):
            self.assertEqual(after["by_word"].get(word, 0),
                             before["by_word"].get(word, 0) + n, after)
        # The flag is an event of the module's own type, caused by the
        # chat event (correlation id) and appended by the module.
        r = self.server.run_cli("dump")
        mine = [l for l in r.stdout.splitlines()
                if '"wordfilter.message_flagged"' in l and room in l]
        self.assertEqual(len(mine), 3, r.stdout[-2000:])
        self.assertIn('"actor":"module:wordfilter"', mine[0].replace(" ", ""))

    def test_pages(self):
        room, _, token = chat_room(self.server, "pages")
        post_all(self.server, room, token, ["spam 1", "spam 2", "scam 3"])
        all_flags = wait_room_flags(self.server, room, 3)
        page = room_flags(self.server, room, "?limit=2")
        self.assertEqual(page["flags"], all_flags[:2])
        self.assertEqual(page["next_after"], all_flags[1]["source_seq"])
        page = room_flags(self.server, room,
                          "?limit=2&after=%d" % page["next_after"])
        self.assertEqual(page["flags"], all_flags[2:])
        self.assertIsNone(page["next_after"])
        empty = room_flags(self.server, "r_no_such_room")
        self.assertEqual(empty, {"room_id": "r_no_such_room", "flags": [],
                                 "next_after": None})

    def test_admin_only_and_bad_queries(self):
        _, token = self.server.create_user("wf-not-admin")
        for path in ("/v1/wordfilter/stats",
                     "/v1/wordfilter/rooms/r_x/flags"):
            self.assertError(self.server.get(path), 401, "unauthenticated")
            self.assertError(self.server.get(path, token=token), 403,
                             "forbidden")
        for q in ("?limit=0", "?limit=201", "?limit=x", "?after=-1",
                  "?after=1x"):
            r = self.server.admin("GET", "/v1/wordfilter/rooms/r_x/flags" + q)
            self.assertError(r, 400, "invalid_argument")


class WordfilterLifecycleTest(unittest.TestCase):
    def test_crash_restart_and_rebuild_keep_counts_exact(self):
        """At least once in, exactly once out: a SIGKILL right after the
        flag (the subscriber's checkpoint is saved at most every 50 ms, so
        the event is often handed over again after the restart) leaves one
        flag per message; so does `chatd rebuild wordfilter`."""
        data = tempfile.mkdtemp(prefix="chatd-wf-life-")
        s = Server(data_dir=data, config=WF_CONFIG)
        try:
            s.start()
            room, _, token = chat_room(s, "life")
            post_all(s, room, token, ["spam", "scam", "spam and scam"])
            wait_room_flags(s, room, 3)
            s.kill()
            s.start()
            self.assertTrue(wait_for(lambda: subscriber_lag(s) == 0),
                            "wordfilter.flagger did not catch up")
            want = {"flagged": 3, "by_word": {"spam": 2, "scam": 2}}
            self.assertEqual(stats(s), want)
            self.assertEqual(len(room_flags(s, room)["flags"]), 3)
            self.assertEqual(s.stop(), 0)
            cfg = data + ".json"
            r = s.run_cli("rebuild", "wordfilter", "--config", cfg)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            r = s.run_cli("verify", "--config", cfg)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            s.start()
            self.assertEqual(stats(s), want)
            self.assertEqual(len(room_flags(s, room)["flags"]), 3)
        finally:
            if s.proc is not None:
                s.stop()
            shutil.rmtree(data, ignore_errors=True)
            if os.path.exists(data + ".json"):
                os.unlink(data + ".json")

    def test_bad_word_list_is_refused_with_a_reason(self):
        log = start_fails(harness.BIN, {
            "modules": ["chat", "wordfilter"],
            "wordfilter": {"words": "spam, free money"}})
        self.assertIn('wordfilter.words: \\"free money\\" is not a single word',
                      log)

    def test_config_types_and_unknown_keys_are_refused(self):
        log = start_fails(harness.BIN, {
            "modules": ["chat", "wordfilter"],
            "wordfilter": {"words": "spam", "case_sensitve": True}})
        self.assertIn("unknown key wordfilter.case_sensitve", log)
        log = start_fails(harness.BIN, {
            "modules": ["chat", "wordfilter"],
            "wordfilter": {"words": ["spam"]}})
        self.assertIn("wordfilter.words: expected a string", log)


if __name__ == "__main__":
    harness.main()
