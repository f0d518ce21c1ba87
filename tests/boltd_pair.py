"""Two boltd nodes with one channel a → b on a devchain (payments between boltd nodes)."""

import shutil
from pathlib import Path

from pyln.client import RpcError

from conftest import wait_for
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
    """Both sides of the a–b channel are connected and in CHANNELD_NORMAL (a connects: boltd
    does not yet reconnect to its channel peers at start-up)."""
    port = b.rpc.getinfo()["binding"][0]["port"]
    try:
        a.rpc.connect(b.info["id"], "127.0.0.1", port)
    except RpcError:
        pass
    for n, peer in ((a, b.info["id"]), (b, a.info["id"])):
        wait_for(lambda: [c for c in n.rpc.listpeerchannels(peer)["channels"]
                          if c["state"] == "CHANNELD_NORMAL" and c.get("peer_connected")],
                 timeout=30, what="CHANNELD_NORMAL and connected")


def pair(node_factory, chain, a_options=None, b_options=None):
    a = boltd_on(node_factory, chain, options=a_options)
    b = boltd_on(node_factory, chain, options=b_options)
    a.info, b.info = a.rpc.getinfo(), b.rpc.getinfo()
    channel(a, b, chain)
    return a, b


def to_us(n, peer):
    return n.rpc.listpeerchannels(peer)["channels"][0]["to_us_msat"]
