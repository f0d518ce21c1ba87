"""Channels the way plugin suites build them: pyln-testing's `line_graph`/`join_nodes`
(newaddr, bitcoind funding, fundchannel, CHANNELD_NORMAL, local activity), plugins seeing
the channel hooks and notifications, and a mutual close."""
from pathlib import Path

from pyln.testing.fixtures import *  # noqa: F401,F403
from pyln.testing.utils import only_one, wait_for

CHANNEL_LOGGER = str(Path(__file__).parent / "plugins" / "channel_logger.py")


def test_line_graph_of_three_nodes(node_factory):
    l1, l2, l3 = node_factory.line_graph(3)
    for a, b in ((l1, l2), (l2, l3)):
        assert a.channel_state(b) == "CHANNELD_NORMAL"
        assert b.channel_state(a) == "CHANNELD_NORMAL"
        scid = a.get_channel_scid(b)
        assert scid == b.get_channel_scid(a)
        assert a.is_local_channel_active(scid) and b.is_local_channel_active(scid)


def test_channel_hooks_notifications_and_close(node_factory, bitcoind):
    l1, l2 = node_factory.line_graph(2, opts=[{}, {"plugin": CHANNEL_LOGGER}])
    l2.daemon.wait_for_logs([
        r"plugin-channel_logger.py: openchannel from {}".format(l1.info["id"]),
        r"plugin-channel_logger.py: channel_opened from {}".format(l1.info["id"]),
        r"plugin-channel_logger.py: channel_state_changed .* to CHANNELD_NORMAL",
    ])
    l1.rpc.close(l2.info["id"])
    bitcoind.generate_block(1, wait_for_mempool=1)
    wait_for(lambda: only_one(l1.rpc.listpeerchannels(l2.info["id"])["channels"])["state"]
             in ("CLOSINGD_COMPLETE", "ONCHAIN"))
    l2.daemon.wait_for_log(r"plugin-channel_logger.py: channel_state_changed .* to (CLOSINGD_COMPLETE|ONCHAIN)")


def test_openchannel_helper(node_factory):
    # LightningNode.openchannel: fundwallet, connect, fundchannel, a confirming block.
    l1, l2 = node_factory.get_nodes(2)
    res = l1.openchannel(l2, 200_000, wait_for_announce=False)
    assert res["wallettxid"] and res["fundingtx"]
    wait_for(lambda: l1.channel_state(l2) == "CHANNELD_NORMAL")
