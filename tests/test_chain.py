"""The chain in the daemon (issue 11): backend plugins (the bundled bcli by default, a
pyln-client one in its place), start-up refusals, blockheight and block_added following
mining and reorgs, the sync warnings and feerates, the embedded devchain."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, reserve_port, wait_for

BIN_DIR = Path(os.environ.get("BOLTD_BIN", str(REPO / "target" / "debug" / "boltd"))).parent
DEVCHAIN = str(BIN_DIR / "devchain")
PLUGINS = Path(__file__).resolve().parent / "plugins"
BACKEND = str(PLUGINS / "devchain_backend.py")
RECORDER = str(PLUGINS / "block_recorder.py")
FAST = {"developer": None, "dev-bitcoind-poll": "1"}


class Devchain:
    """A devchain server of this test's own (cookie auth, random port)."""

    def __init__(self, datadir, extra=()):
        self.datadir = Path(datadir)
        self.auth = [a for a in extra if a.startswith(("-rpcuser=", "-rpcpassword="))]
        self.proc = subprocess.Popen(
            [DEVCHAIN, "-regtest", f"-datadir={self.datadir}", "-rpcport=0", *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        portfile = self.datadir / "regtest" / "rpcport"
        self.port = int(wait_for(lambda: portfile.exists() and portfile.read_text().strip(),
                                 what="devchain rpcport"))
        self.cookie = self.datadir / "regtest" / ".cookie"
        self.address = self.cli("getnewaddress")

    def cli(self, method, *params):
        out = subprocess.run([DEVCHAIN, "cli", f"-datadir={self.datadir}", *self.auth,
                              "-rpcwait", "-rpcwaittimeout=30", method,
                              *[str(p) for p in params]],
                             check=True, capture_output=True, text=True).stdout.strip()
        try:
            return json.loads(out)
        except ValueError:
            return out

    def mine(self, n):
        return self.cli("generatetoaddress", n, self.address)

    def height(self):
        return self.cli("getblockcount")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def devchain(directory):
    d = Devchain(directory / "chain")
    yield d
    d.stop()


def backend_options(chain):
    return {"disable-plugin": "bcli", "devchain-port": str(chain.port),
            "devchain-cookie": str(chain.cookie)}


def follows(node, chain):
    """Waits until getinfo's blockheight is the devchain's height (event-driven: the
    poller runs every second)."""
    want = chain.height()
    wait_for(lambda: node.rpc.getinfo()["blockheight"] == want, timeout=20,
             what=f"blockheight {want}")


def test_pyln_backend_plugin_replaces_bcli(node_factory, devchain):
    devchain.mine(101)
    node = node_factory.get_node(options={**FAST, **backend_options(devchain)},
                                 plugins=[BACKEND])
    assert node.rpc.getinfo()["blockheight"] == 101
    devchain.mine(2)
    follows(node, devchain)
    info = node.rpc.getinfo()
    assert "warning_bitcoind_sync" not in info and "warning_lightningd_sync" not in info
    rates = node.rpc.feerates("perkb")["perkb"]
    assert rates["floor"] == 1012 and rates["opening"] == 1012
    # The backend methods are ordinary plugin methods too.
    assert node.rpc.call("getchaininfo", {"last_height": 0})["blockcount"] == 103
    assert "bcli" not in json.dumps(node.rpc.plugin_list())


def test_feerates_refuses_a_bad_style(node_factory, devchain):
    node = node_factory.get_node(options={**FAST, **backend_options(devchain)},
                                 plugins=[BACKEND])
    with pytest.raises(Exception) as e:
        node.rpc.feerates("perbyte")
    assert e.value.error == {"code": -32602,
                             "message": "'style' should be 'perkw' or 'perkb', not 'perbyte'"}
    assert node.rpc.feerates("perkw")["perkw"]["floor"] == 253


def test_no_backend_provider_refuses_to_start(node_factory):
    node = node_factory.get_node(options={"disable-plugin": "bcli"}, may_fail=True,
                                 start=False)
    node.start(wait_for_rpc=False)
    assert node.wait_for_exit() == 1
    assert ("Could not access the plugin for getchaininfo, is a Bitcoin plugin "
            "(by default plugins/bcli) registered ?") in node.daemon_stderr()


def test_a_second_provider_of_a_backend_method_is_refused(node_factory, devchain):
    # bcli registers first; the important replacement collides and stops boltd.
    node = node_factory.get_node(options={"devchain-port": str(devchain.port),
                                          "devchain-cookie": str(devchain.cookie),
                                          "important-plugin": BACKEND},
                                 may_fail=True, start=False)
    node.start(wait_for_rpc=False)
    assert node.wait_for_exit() == 1
    text = node.daemon_stderr() + node.daemon_log()
    assert 'Could not register method "getchaininfo", a method with that name is ' \
           'already registered by plugin' in text


def test_wrong_network_refuses_to_start(node_factory, directory):
    chain = Devchain(directory / "pw", extra=("-rpcuser=u", "-rpcpassword=p"))
    try:
        node = node_factory.get_node(
            options={"network": "testnet", "bitcoin-rpcconnect": "127.0.0.1",
                     "bitcoin-rpcport": str(chain.port), "bitcoin-rpcuser": "u",
                     "bitcoin-rpcpassword": "p"},
            may_fail=True, start=False)
        node.start(wait_for_rpc=False)
        assert node.wait_for_exit() == 1
        assert ("Wrong network! Our Bitcoin backend is running on 'regtest', but we "
                "expect 'test'.") in node.daemon_stderr()
    finally:
        chain.stop()


def test_backend_down_past_retry_timeout_refuses_to_start(node_factory):
    port = reserve_port()
    node = node_factory.get_node(
        options={"bitcoin-rpcconnect": "127.0.0.1", "bitcoin-rpcport": str(port),
                 "bitcoin-rpcuser": "u", "bitcoin-rpcpassword": "p",
                 "bitcoin-retry-timeout": "1"},
        may_fail=True, start=False)
    t0 = time.time()
    node.start(wait_for_rpc=False)
    assert node.wait_for_exit() == 1
    assert time.time() - t0 < 20
    assert "The Bitcoin backend died." in node.daemon_stderr()
    assert f"127.0.0.1:{port}" in node.daemon_stderr() + node.daemon_log()


def test_a_backend_that_dies_is_fatal(node_factory, devchain):
    node = node_factory.get_node(options={**FAST, **backend_options(devchain)},
                                 plugins=[BACKEND], may_fail=True)
    pid = wait_for(lambda: [p for p in node.rpc.plugin_list()["plugins"]
                            if p["name"].endswith("devchain_backend.py")], what="plugin")
    out = subprocess.run(["pgrep", "-f", "devchain_backend.py", "-P", str(node.proc.pid)],
                         capture_output=True, text=True).stdout.split()
    assert pid and out
    os.kill(int(out[0]), 9)
    assert node.wait_for_exit() == 1
    assert "The Bitcoin backend died." in node.daemon_stderr()


@pytest.mark.parametrize("depth", [1, 3, 6])
def test_block_added_and_blockheight_follow_mining_and_reorgs(node_factory, devchain, depth):
    devchain.mine(10)
    node = node_factory.get_node(options={**FAST, **backend_options(devchain)},
                                 plugins=[BACKEND, RECORDER])
    assert node.rpc.getinfo()["blockheight"] == 10
    hashes = devchain.mine(8)
    follows(node, devchain)
    seen = node.rpc.call("blocks_seen")["blocks"]
    # The start-up root (10) is not announced; every block after it is, in order.
    assert seen == [{"hash": h, "height": 11 + i} for i, h in enumerate(hashes)]

    # Reorg: drop the last `depth` blocks, mine a longer branch.
    fork = 18 - depth
    devchain.cli("invalidateblock", hashes[-depth])
    assert devchain.height() == fork
    new = devchain.mine(depth + 1)
    follows(node, devchain)
    seen = node.rpc.call("blocks_seen")["blocks"]
    assert seen[8:] == [{"hash": h, "height": fork + 1 + i} for i, h in enumerate(new)]
    assert node.rpc.getinfo()["blockheight"] == 18 + 1


def test_embedded_devchain_is_shared_and_started_once(node_factory, directory):
    """Regtest without --bitcoin-*: boltd starts the devchain in --dev-chain-dir, a second
    node uses the same one."""
    chain_dir = directory / "shared"
    opts = {**FAST, "dev-chain-dir": str(chain_dir)}
    a, b = [node_factory.get_node(options=opts, start=False) for _ in range(2)]
    a.start(wait_for_rpc=False)
    b.start(wait_for_rpc=False)
    a.wait_for_rpc()
    b.wait_for_rpc()
    logs = a.daemon_log() + b.daemon_log()
    assert logs.count("Started devchain in") == 1, logs
    assert logs.count("Using the devchain in") == 1, logs
    shared = Devchain.__new__(Devchain)
    shared.datadir = chain_dir
    shared.auth = []
    shared.address = shared.cli("getnewaddress")
    shared.mine(5)
    follows(a, shared)
    follows(b, shared)
    shared.cli("stop")
