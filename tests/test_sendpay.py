"""Gossip views, routes and explicit-route payments between boltd nodes (issue 14):
listchannels/listnodes from an announced channel, getroute, sendpay/waitsendpay."""

from pyln.client import RpcError
import pytest

from conftest import wait_for
from ldk_node import boltd_on, ldk_chain  # noqa: F401 -- fixtures
from test_ldk_node_channels import fund_boltd

CHANNEL_SAT = 500_000


def announced_pair(node_factory, chain, a_opts=None, b_opts=None):
    """a opens an announced channel to b, mined to 6 confirmations; both see it in
    their graph in both directions. Returns (a, b, a_id, b_id, scid)."""
    a = boltd_on(node_factory, chain, options=a_opts)
    b = boltd_on(node_factory, chain, options=b_opts)
    fund_boltd(a, chain, 1_000_000)
    a_id, b_info = a.rpc.getinfo()["id"], b.rpc.getinfo()
    b_id = b_info["id"]
    a.rpc.connect(b_id, "127.0.0.1", b_info["binding"][0]["port"])
    a.rpc.fundchannel(b_id, CHANNEL_SAT, announce=True)
    chain.mine(6)
    for n, peer in ((a, b_id), (b, a_id)):
        wait_for(lambda: n.rpc.listpeerchannels(peer)["channels"][0]["state"]
                 == "CHANNELD_NORMAL", timeout=30, what="CHANNELD_NORMAL")
    scid = a.rpc.listpeerchannels(b_id)["channels"][0]["short_channel_id"]
    for n in (a, b):
        wait_for(lambda: len(n.rpc.listchannels(scid)["channels"]) == 2,
                 timeout=30, what="both directions in the graph")
    return a, b, a_id, b_id, scid


def test_announced_channel_and_nodes_in_both_graphs(node_factory, ldk_chain):
    a, b, a_id, b_id, scid = announced_pair(
        node_factory, ldk_chain,
        a_opts={"alias": "ALICE", "rgb": "aa0011", "announce-addr": "1.2.3.4:9735"},
        b_opts={"alias": "BOB", "rgb": "00bb22"})

    for n in (a, b):
        chans = n.rpc.listchannels(scid)["channels"]
        by_dir = {c["direction"]: c for c in chans}
        assert sorted(by_dir) == [0, 1]
        for c in chans:
            assert {c["source"], c["destination"]} == {a_id, b_id}
            assert c["short_channel_id"] == scid and c["public"] is True
            assert c["amount_msat"] == CHANNEL_SAT * 1000
            assert c["active"] is True and c["channel_flags"] & 1 == c["direction"]
            assert c["message_flags"] & 1 == 1
            assert c["delay"] > 0 and c["htlc_maximum_msat"] > 0
            assert isinstance(c["features"], str) and c["last_update"] > 0
        src = n.rpc.listchannels(source=a_id)["channels"]
        assert [c["destination"] for c in src] == [b_id]
        dst = n.rpc.listchannels(destination=a_id)["channels"]
        assert [c["source"] for c in dst] == [b_id]
        assert n.rpc.listchannels()["channels"] == n.rpc.listchannels(scid)["channels"] or \
            sorted(n.rpc.listchannels()["channels"], key=lambda c: c["direction"]) \
            == sorted(chans, key=lambda c: c["direction"])

    def announced(n, who):
        nodes = n.rpc.listnodes(who)["nodes"]
        return nodes[0] if nodes and "alias" in nodes[0] else None

    for n in (a, b):
        alice = wait_for(lambda: announced(n, a_id), timeout=30, what="alice's announcement")
        assert alice["alias"] == "ALICE" and alice["color"] == "aa0011"
        assert alice["addresses"] == [{"type": "ipv4", "address": "1.2.3.4", "port": 9735}]
        assert alice["last_timestamp"] > 0 and alice["features"] != ""
        bob = wait_for(lambda: announced(n, b_id), timeout=30, what="bob's announcement")
        assert bob["alias"] == "BOB" and bob["color"] == "00bb22" and bob["addresses"] == []
        assert sorted(x["nodeid"] for x in n.rpc.listnodes()["nodes"]) == sorted([a_id, b_id])

    with pytest.raises(RpcError, match="Can only specify one of"):
        a.rpc.listchannels(scid, a_id)
    with pytest.raises(RpcError, match="short_channel_id: should be a short_channel_id"):
        a.rpc.listchannels("nope")
    with pytest.raises(RpcError, match="id: should be a node id"):
        a.rpc.listnodes("02zz")
    assert a.rpc.listchannels("1x1x1")["channels"] == []
