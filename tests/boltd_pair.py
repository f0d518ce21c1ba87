"""Two boltd nodes with one channel a → b on a devchain (payments between boltd nodes)."""

import shutil
from pathlib import Path

from conftest import reserve_port, wait_for
from ldk_node import boltd_on
from test_ldk_node_channels import fund_boltd

PLUGINS = Path(__file__).resolve().parent / "plugins"
CHANNEL_SAT = 500_000


def hook_plugin(directory, name, mode="continue"):
    """A copy of tests/plugins/<name> of the test's own, with its `.mode` file set."""
    path = Path(directory) / name
    shutil.copy(PLUGINS / name, path)
    set_mode(path, mode)
    return path


def set_mode(path, mode):
    Path(str(path) + ".mode").write_text(mode)


def channel(a, b, chain):
    """a opens a channel to b; both see it usable."""
    fund_boltd(a, chain, 1_000_000)
    b_info = b.rpc.getinfo()
    a.rpc.connect(b_info["id"], "127.0.0.1", b_info["binding"][0]["port"])
    a.rpc.fundchannel(b_info["id"], CHANNEL_SAT)
    chain.mine(6)
    usable(a, b)


def usable(a, b):
    """Both sides of the a–b channel are connected and in CHANNELD_NORMAL (after a restart
    boltd reconnects to its channel peers by itself)."""
    for n, peer in ((a, b.info["id"]), (b, a.info["id"])):
        wait_for(lambda: [c for c in n.rpc.listpeerchannels(peer)["channels"]
                          if c["state"] == "CHANNELD_NORMAL" and c.get("peer_connected")],
                 timeout=30, what="CHANNELD_NORMAL and connected")


def pair(node_factory, chain, a_options=None, b_options=None):
    """a and b with a channel a → b. b listens on the same port across restarts, where a
    reconnects to it (a node with a configured address)."""
    a = boltd_on(node_factory, chain, options=a_options)
    b = boltd_on(node_factory, chain, options={"bind-addr": f"127.0.0.1:{reserve_port()}",
                                               **(b_options or {})})
    a.info, b.info = a.rpc.getinfo(), b.rpc.getinfo()
    channel(a, b, chain)
    return a, b


def to_us(n, peer):
    return n.rpc.listpeerchannels(peer)["channels"][0]["to_us_msat"]
