"""Shared fixtures for boltd's acceptance tests.

`node_factory` starts real boltd processes in temporary lightning-dirs (network regtest,
debug log to `<dir>/log`, stdout/stderr to `<dir>/stdout`/`<dir>/stderr`), and at the end
stops them and fails the test if any daemon crashed. Each node has `.rpc` (pyln-client's
`LightningRpc` on its socket) and `.cli(...)` (runs bolt-cli against it).

Extend it rather than copy it: `get_node(options={...}, plugins=[...], may_fail=...)`
covers most needs; an option value of `None` is a bare flag, a list repeats the option.

Binaries come from `BOLTD_BIN` / `BOLT_CLI_BIN`, defaulting to `target/debug/` in the repo.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from pyln.client import LightningRpc, RpcError

REPO = Path(__file__).resolve().parent.parent
BOLTD_BIN = os.environ.get("BOLTD_BIN", str(REPO / "target" / "debug" / "boltd"))
BOLT_CLI_BIN = os.environ.get("BOLT_CLI_BIN", str(REPO / "target" / "debug" / "bolt-cli"))
NETWORK = "regtest"
# Generous per-test ceiling so a hung daemon fails one test instead of the whole run.
DEFAULT_TEST_TIMEOUT = 120
START_TIMEOUT = 30
STOP_TIMEOUT = 30


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT))


# Plugins boltd starts by itself, like lightningd's builtins (found next to boltd).
BUILTIN_PLUGINS = ("bcli",)
BCLI_BIN = str(Path(BOLTD_BIN).with_name("bcli"))


def user_plugins(listing):
    """A `plugin list` answer's plugins without boltd's builtin ones (bcli)."""
    return [p for p in listing["plugins"] if Path(p["name"]).name not in BUILTIN_PLUGINS]


def reserve_port():
    """A currently free TCP port on 127.0.0.1 (for `bind-addr`/`addr` options)."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10, interval=0.05, what="condition"):
    """Polls `predicate` until it returns something truthy; returns that value."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class CliResult:
    """What one bolt-cli run produced. `.json` is stdout parsed as JSON (or None)."""

    def __init__(self, args, proc):
        self.args = args
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        try:
            self.json = json.loads(proc.stdout)
        except ValueError:
            self.json = None

    def __repr__(self):
        return (f"CliResult(args={self.args!r}, returncode={self.returncode}, "
                f"stdout={self.stdout!r}, stderr={self.stderr!r})")


def daemon_env():
    """The daemon's environment: ours, with this interpreter's directory first on PATH so
    `#!/usr/bin/env python3` plugins run in the test virtualenv (and find pyln-client)."""
    env = dict(os.environ)
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def option_args(options):
    """{"alias": "x", "developer": None, "plugin": ["a", "b"]} -> command-line flags."""
    args = []
    for name, value in (options or {}).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            args.append(f"--{name}" if v is None else f"--{name}={v}")
    return args


class RawConn:
    """A bare unix-socket client for tests that speak bytes, not pyln: `send(bytes)`,
    `read_message()` (next complete JSON value, whatever the framing), `at_eof()`."""

    def __init__(self, path, timeout=10):
        import socket
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""
        self.decoder = json.JSONDecoder()

    def send(self, data):
        if isinstance(data, (dict, list)):
            data = json.dumps(data).encode()
        self.sock.sendall(data)

    def call(self, method, params=None, id=1):
        self.send({"jsonrpc": "2.0", "id": id, "method": method,
                   "params": [] if params is None else params})
        return self.read_message()

    def _take(self):
        text = self.buf.decode(errors="replace")
        stripped = text.lstrip()
        if not stripped:
            return None
        try:
            obj, end = self.decoder.raw_decode(stripped)
        except ValueError:
            return None
        consumed = len(text) - len(stripped) + end
        self.buf = text[consumed:].encode()
        return obj

    def read_message(self):
        """The next JSON value; raises EOFError if the daemon closes first."""
        while True:
            msg = self._take()
            if msg is not None:
                return msg
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError(f"connection closed; unparsed: {self.buf[:200]!r}")
            self.buf += chunk

    def read_response(self):
        """The next message that is not a notification."""
        while True:
            msg = self.read_message()
            if "id" in msg or "method" not in msg:
                return msg

    def at_eof(self):
        """True once the daemon has closed its side (after any buffered messages)."""
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    return True
                self.buf += chunk
        except TimeoutError:
            return False
        except OSError:  # reset by peer counts as closed
            return True

    def close(self):
        self.sock.close()


class Node:
    """One boltd process and its lightning-dir."""

    def __init__(self, name, lightning_dir, options=None, plugins=(), may_fail=False,
                 extra_args=()):
        self.name = name
        self.lightning_dir = Path(lightning_dir)
        self.lightning_dir.mkdir(parents=True, exist_ok=True)
        self.options = dict(options or {})
        self.plugins = list(plugins)
        self.extra_args = list(extra_args)
        self.may_fail = may_fail
        self.proc = None
        self.stopped_by_us = False
        self._rpc = None
        self._log_offset = 0  # where the next wait_for_log starts searching

    # -- paths ---------------------------------------------------------------------
    @property
    def network(self):
        return self.options.get("network", NETWORK)

    @property
    def net_dir(self):
        return self.lightning_dir / self.network

    @property
    def socket_path(self):
        rpc_file = self.options.get("rpc-file", "lightning-rpc")
        return Path(rpc_file) if os.path.isabs(rpc_file) else self.net_dir / rpc_file

    @property
    def log_path(self):
        return self.lightning_dir / "log"

    def cmdline(self):
        base = {
            "lightning-dir": str(self.lightning_dir),
            "network": NETWORK,
            "log-file": str(self.log_path),
            "log-level": "debug",
        }
        # Peers listen on a random loopback port unless the test picks addresses.
        if not {"addr", "bind-addr"} & set(self.options):
            base["bind-addr"] = "127.0.0.1:0"
        base.update(self.options)
        args = [BOLTD_BIN] + option_args(base)
        args += [f"--plugin={p}" for p in self.plugins]
        return args + self.extra_args

    # -- lifecycle -----------------------------------------------------------------
    def start(self, wait_for_rpc=True, timeout=START_TIMEOUT):
        self.stopped_by_us = False
        self._rpc = None
        self._start_offset = len(self.daemon_log())
        with open(self.lightning_dir / "stdout", "ab") as out, \
                open(self.lightning_dir / "stderr", "ab") as err:
            # Own process group, so teardown can also reap plugins the daemon left behind.
            self.proc = subprocess.Popen(self.cmdline(), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, start_new_session=True,
                                         env=daemon_env())
        if wait_for_rpc:
            self.wait_for_rpc(timeout)
        return self

    def wait_for_rpc(self, timeout=START_TIMEOUT):
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} during start-up:\n"
                    f"{self.daemon_stderr()}\n{self.daemon_log()[-4000:]}")
            if not self.socket_path.exists():
                return False
            try:
                self.rpc.getinfo()
            except (OSError, ValueError, RpcError):
                return False
            # Like pyln-testing: started = "Server started" logged, which boltd does once
            # every start-up plugin has answered `init`.
            if "log-file" in self.options:
                return True
            return "Server started" in self.daemon_log()[self._start_offset:]
        wait_for(ready, timeout=timeout, what=f"{self.name} socket {self.socket_path}")

    @property
    def rpc(self):
        if self._rpc is None:
            self._rpc = LightningRpc(str(self.socket_path))
        return self._rpc

    def raw(self, timeout=10):
        """A RawConn to this node's socket."""
        return RawConn(self.socket_path, timeout=timeout)

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT):
        """`stop` over RPC, then wait for exit (killed after `timeout`). Returns the exit code."""
        self.stopped_by_us = True
        if self.is_running():
            try:
                self.rpc.stop()
            except Exception:
                pass  # the daemon may close the socket before answering
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise RuntimeError(f"{self.name} did not exit within {timeout}s of stop")
        return self.proc.returncode if self.proc else None

    def wait_for_exit(self, timeout=STOP_TIMEOUT):
        """For tests that make the daemon exit on purpose (`stop` sent by hand, a fatal
        option): waits and returns the exit code; the exit is then not a crash."""
        self.stopped_by_us = True
        return self.proc.wait(timeout=timeout)

    def kill(self):
        self.stopped_by_us = True
        if self.is_running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def kill_leftovers(self):
        """SIGKILL whatever is still in the daemon's process group (stray plugins)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def restart(self, **kw):
        self.stop()
        return self.start(**kw)

    # -- logs ----------------------------------------------------------------------
    def daemon_log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def daemon_stderr(self):
        try:
            return (self.lightning_dir / "stderr").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, regex, timeout=10):
        """Waits for a log line matching `regex` after the previous match; returns the line."""
        pattern = re.compile(regex)

        def find():
            text = self.daemon_log()
            for m in re.finditer(r"[^\n]*\n", text[self._log_offset:]):
                if pattern.search(m.group(0)):
                    self._log_offset += m.end()
                    return m.group(0).rstrip("\n")
            return None
        return wait_for(find, timeout=timeout, what=f"log line /{regex}/ from {self.name}")

    def wait_for_logs(self, regexes, timeout=10):
        return [self.wait_for_log(r, timeout) for r in regexes]

    def is_in_log(self, regex):
        return re.search(regex, self.daemon_log(), re.MULTILINE) is not None

    # -- bolt-cli ------------------------------------------------------------------
    def cli_args(self):
        return [BOLT_CLI_BIN, f"--lightning-dir={self.lightning_dir}", f"--network={self.network}"]

    def cli(self, *args, timeout=30, input=None):
        """Runs bolt-cli against this node: returns a CliResult (returncode, stdout, stderr, json)."""
        argv = self.cli_args() + [str(a) for a in args]
        # Bytes, decoded by hand: text mode would turn the progress bar's "\r" into "\n".
        proc = subprocess.run(argv, capture_output=True, timeout=timeout,
                              input=input.encode() if isinstance(input, str) else input)
        proc.stdout = proc.stdout.decode(errors="replace")
        proc.stderr = proc.stderr.decode(errors="replace")
        return CliResult(list(args), proc)

    # -- crash check ---------------------------------------------------------------
    def crash_report(self):
        """A description of how the daemon crashed, or None if it did not."""
        stderr = self.daemon_stderr()
        if "panicked at" in stderr:
            at = stderr.index("panicked at")
            return f"{self.name} panicked:\n{stderr[max(0, at - 200):at + 3000]}"
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is not None and not self.stopped_by_us and not self.may_fail:
            return f"{self.name} exited unexpectedly with {code}:\n{stderr[-4000:]}"
        if code is not None and code < 0 and not self.stopped_by_us:
            return f"{self.name} died from signal {-code}"
        return None


class NodeFactory:
    """Makes nodes in one temporary directory; `killall()` stops them and reports crashes."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.nodes = []

    def get_node(self, options=None, plugins=(), may_fail=False, start=True,
                 extra_args=(), wait_for_rpc=True, name=None):
        name = name or f"node{len(self.nodes) + 1}"
        node = Node(name, self.directory / name, options=options, plugins=plugins,
                    may_fail=may_fail, extra_args=extra_args)
        self.nodes.append(node)
        if start:
            node.start(wait_for_rpc=wait_for_rpc)
        return node

    def get_nodes(self, n, **kw):
        return [self.get_node(**kw) for _ in range(n)]

    def killall(self):
        """Stops every node; returns crash descriptions (empty when all is well)."""
        crashes = []
        for node in self.nodes:
            report = node.crash_report()
            if report:
                crashes.append(report)
                node.kill()
                continue
            try:
                code = node.stop()
                if code not in (0, None) and not node.may_fail:
                    crashes.append(f"{node.name} exited with {code} after stop:\n"
                                   f"{node.daemon_stderr()[-4000:]}")
            except Exception as e:  # noqa: BLE001 -- any failure here is a test failure
                crashes.append(f"{node.name}: {e}")
                node.kill()
            report = node.crash_report()
            if report and report not in crashes:
                crashes.append(report)
        for node in self.nodes:
            node.kill_leftovers()
        return crashes


@pytest.fixture
def directory(request):
    """A short temporary directory (unix socket paths must stay under 108 bytes);
    removed when the test passes, kept (and printed) when it fails."""
    d = tempfile.mkdtemp(prefix="bolt-")
    yield Path(d)
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(f"\nkept test directory {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def node_factory(directory):
    nf = NodeFactory(directory)
    yield nf
    crashes = nf.killall()
    if crashes:
        pytest.fail("daemon crashed:\n" + "\n\n".join(crashes), pytrace=False)


@pytest.fixture
def bolt_cli():
    """bolt-cli's path, for tests that run it with their own flags."""
    return BOLT_CLI_BIN
