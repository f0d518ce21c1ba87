"""An independent Lightning node for interop tests: ldk-node (LDK 0.2 with its own BDK wallet
and storage) run by `interop/ldk-node-peer` against a devchain, driven over its JSON-lines
protocol on stdin/stdout.

    chain = Devchain(directory / "chain")          # from test_chain
    carol = LdkNode(directory / "carol", chain)    # started, synced to the chain
    carol.fund(1_000_000)                          # faucet → its wallet, confirmed
    carol.call("open_channel", node_id=..., address="127.0.0.1:port", amount_sat=...)
    carol.wait_event("ChannelPending")
    b = boltd_on(node_factory, chain)              # a boltd on the same chain

`call` raises `LdkNodeError` when the peer answers an error. The binary comes from
`LDK_NODE_PEER_BIN`, else `target/ldk-node-peer/debug/ldk-node-peer` (what ./run-tests builds).
"""

import json
import os
import queue
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import REPO, reserve_port, wait_for
from test_chain import Devchain

PEER_BIN = os.environ.get(
    "LDK_NODE_PEER_BIN",
    str(REPO / "target" / "ldk-node-peer" / "debug" / "ldk-node-peer"))
START_TIMEOUT = 60
CALL_TIMEOUT = 60


class LdkNodeError(Exception):
    """An error reply: `kind` (`InvalidRequest` or `NodeError`) and ldk-node's text."""

    def __init__(self, kind, message):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class LdkNode:
    """One ldk-node-peer process with its directory (seed, storage, `ldk-node.log`)."""

    def __init__(self, directory, chain, alias=None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.chain = chain
        self.port = reserve_port()
        self.address = f"127.0.0.1:{self.port}"
        if not os.path.exists(PEER_BIN):
            raise FileNotFoundError(
                f"{PEER_BIN} is missing: build it with `CARGO_TARGET_DIR=target/ldk-node-peer "
                "cargo build --manifest-path interop/ldk-node-peer/Cargo.toml` (./run-tests does)")
        self.args = [PEER_BIN, "--dir", str(self.dir), "--listen", self.address,
                     "--rpc-port", str(chain.port), "--rpc-cookie", str(chain.cookie)]
        # With an alias ldk-node accepts (and can open) announced channels, which is what
        # `fundchannel` opens by default.
        self.args += ["--alias", alias or self.dir.name]
        self.stderr = open(self.dir / "stderr", "ab")
        self.start()

    def start(self):
        """Runs the peer (again, after `stop`: same seed, storage and port)."""
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, bufsize=1)
        # A reader thread, so every read can time out instead of hanging the test.
        self.lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc, self.lines), daemon=True).start()
        ready = self._next_line(START_TIMEOUT, "ready")
        if "ready" not in ready:
            raise RuntimeError(f"ldk-node-peer did not start: {ready}")
        self.node_id = ready["ready"]["node_id"]
        # Events taken by wait_event while looking for another type, oldest first.
        self.events = []

    @staticmethod
    def _read(proc, lines):
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def _next_line(self, timeout, what):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"ldk-node-peer: no {what} reply within {timeout}s") from None
        if line is None:
            self.proc.wait(timeout=10)
            raise RuntimeError(f"ldk-node-peer exited ({self.proc.returncode}) awaiting {what}: "
                               f"{(self.dir / 'stderr').read_text()[-2000:]}")
        return json.loads(line)

    def call(self, method, timeout=CALL_TIMEOUT, **params):
        self.proc.stdin.write(json.dumps({"method": method, "params": params}) + "\n")
        self.proc.stdin.flush()
        reply = self._next_line(timeout, method)
        if "error" in reply:
            raise LdkNodeError(reply["error"]["kind"], reply["error"]["message"])
        return reply["result"]

    def raw(self, line, timeout=CALL_TIMEOUT):
        """Sends one line as it is; returns the parsed reply (error or not)."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._next_line(timeout, "raw")

    # -- helpers -------------------------------------------------------------------
    def balances(self):
        return self.call("balances")

    def wait_event(self, kind, timeout=60, **fields):
        """The next event of type `kind` (whose fields include `fields`), taken from those
        already seen first; other events are kept in `self.events`."""
        def matches(e):
            return e["type"] == kind and all(e.get(k) == v for k, v in fields.items())
        for i, e in enumerate(self.events):
            if matches(e):
                return self.events.pop(i)
        deadline = time.time() + timeout
        while time.time() < deadline:
            e = self.call("wait_event", timeout=timeout + 10,
                          timeout_secs=max(0.0, deadline - time.time()))
            if e is None:
                break
            if matches(e):
                return e
            self.events.append(e)
        raise TimeoutError(f"no {kind} event {fields} within {timeout}s; saw {self.events}")

    def sync_until(self, predicate, timeout=60, what="condition"):
        """Syncs with the chain until `predicate()` holds."""
        def check():
            self.call("sync")
            return predicate()
        return wait_for(check, timeout=timeout, interval=0.5, what=what)

    def fund(self, sats, confirmations=1):
        """Sends `sats` from devchain's faucet to a new address of this node, mines, and
        waits until the wallet counts it."""
        before = self.balances()["total_onchain_balance_sats"]
        address = self.call("new_address")
        self.chain.cli("sendtoaddress", address, str(Decimal(sats) / Decimal(100_000_000)))
        self.chain.mine(confirmations)
        self.sync_until(lambda: self.balances()["total_onchain_balance_sats"] >= before + sats,
                        what=f"{sats} sat in the wallet")

    def channel(self, user_channel_id):
        for c in self.call("list_channels"):
            if c["user_channel_id"] == user_channel_id:
                return c
        return None

    def stop(self):
        """Stops the node cleanly (`stop`); returns the exit code."""
        if self.proc.poll() is None:
            try:
                self.call("stop", timeout=30)
            except (TimeoutError, RuntimeError, BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def restart(self):
        code = self.stop()
        if code != 0:
            raise RuntimeError(f"ldk-node-peer exited with {code} when stopped")
        self.start()


class LdkNodeFactory:
    """Makes ldk-node peers on one devchain; `stop_all()` stops them and returns the
    non-zero exit codes (a crash is a test failure)."""

    def __init__(self, directory, chain):
        self.directory = Path(directory)
        self.chain = chain
        self.nodes = []

    def get_node(self, name=None, **kw):
        name = name or f"ldk{len(self.nodes) + 1}"
        node = LdkNode(self.directory / name, self.chain, **kw)
        self.nodes.append(node)
        return node

    def stop_all(self):
        failures = [f"{n.dir.name} exited with {code}"
                    for n in self.nodes if (code := n.stop()) not in (0, None)]
        for n in self.nodes:
            n.stderr.close()
        return failures


def boltd_on(node_factory, chain, options=None):
    """A boltd node following `chain` (the devchain in its datadir, polled every second)."""
    return node_factory.get_node(options={"developer": None, "dev-bitcoind-poll": "1",
                                          "dev-chain-dir": str(chain.datadir),
                                          **(options or {})})


@pytest.fixture
def ldk_chain(directory):
    """A devchain of the test's own with 101 blocks mined (the faucet's coinbase mature) and
    a fixed feerate, so both ldk-node and boltd estimate the same fees."""
    chain = Devchain(directory / "chain")
    chain.mine(101)
    chain.cli("setfeerate", "0.00002")
    yield chain
    chain.stop()


@pytest.fixture
def ldk_node_factory(directory, ldk_chain):
    factory = LdkNodeFactory(directory, ldk_chain)
    yield factory
    failures = factory.stop_all()
    if failures:
        pytest.fail("ldk-node-peer failed:\n" + "\n".join(failures), pytrace=False)
