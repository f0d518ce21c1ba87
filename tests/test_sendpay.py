"""Gossip views, routes and explicit-route payments between boltd nodes (issue 14):
listchannels/listnodes from an announced channel, getroute, sendpay/waitsendpay."""

import shutil
from pathlib import Path

from pyln.client import RpcError
import pytest

from conftest import wait_for
from ldk_node import boltd_on, ldk_chain  # noqa: F401 -- fixtures
from test_ldk_node_channels import fund_boltd

CHANNEL_SAT = 500_000
PLUGINS = Path(__file__).resolve().parent / "plugins"


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
        try:
            wait_for(lambda: len(n.rpc.listchannels(scid)["channels"]) == 2,
                     timeout=30, what="both directions in the graph")
        except TimeoutError:
            raise TimeoutError(f"graph of {n.rpc.getinfo()['id']}: {n.rpc.listchannels()}, "
                               f"a={a_id} b={b_id}")
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


def test_getroute_sendpay_waitsendpay_one_hop(node_factory, ldk_chain, directory):
    hook = Path(directory) / "invoice_payment_hook.py"
    shutil.copy(PLUGINS / "invoice_payment_hook.py", hook)
    a, b, a_id, b_id, scid = announced_pair(
        node_factory, ldk_chain,
        a_opts={"plugin": str(PLUGINS / "sendpay_recorder.py")},
        b_opts={"plugin": str(hook)})

    inv = b.rpc.invoice(10_000_000, "sp", "by route")
    dec = b.rpc.decode(inv["bolt11"])
    cltv = dec["min_final_cltv_expiry"]
    [hop] = a.rpc.getroute(b_id, 10_000_000, 1, cltv=cltv)["route"]
    assert hop["id"] == b_id and hop["channel"] == scid and hop["style"] == "tlv"
    assert hop["direction"] == (0 if a_id < b_id else 1)
    assert hop["amount_msat"] == 10_000_000 and hop["delay"] >= cltv

    # b's hook holds the payment for 3 s: a short wait times out, a longer one sees it.
    hook.with_name(hook.name + ".mode").write_text("slow:3")
    sp = a.rpc.sendpay([hop], inv["payment_hash"], label="by-route", bolt11=inv["bolt11"],
                       payment_secret=dec["payment_secret"])
    assert sp["status"] == "pending" and sp["groupid"] == 1 and "partid" not in sp
    assert sp["message"] == "Monitor status with listpays or waitsendpay"
    assert sp["amount_msat"] == 10_000_000 and sp["destination"] == b_id
    with pytest.raises(RpcError) as e:
        a.rpc.waitsendpay(inv["payment_hash"], timeout=1)
    assert e.value.error["code"] == 200 and e.value.error["message"] == "Timed out while waiting"
    done = a.rpc.waitsendpay(inv["payment_hash"], timeout=30)
    assert done["status"] == "complete" and done["label"] == "by-route"
    # The payee records its claim just after the fulfill left (the payer may see it first).
    paid = wait_for(lambda: [i for i in b.rpc.listinvoices("sp")["invoices"]
                             if i["status"] == "paid"], what="paid at b")[0]
    assert paid["status"] == "paid" and paid["payment_preimage"] == done["payment_preimage"]
    [row] = a.rpc.listsendpays(payment_hash=inv["payment_hash"])["payments"]
    assert row == done
    # The same part again is that part; a new one after success is refused.
    assert a.rpc.sendpay([hop], inv["payment_hash"],
                         payment_secret=dec["payment_secret"]) == done
    with pytest.raises(RpcError, match="Already succeeded with amount"):
        a.rpc.sendpay([dict(hop, amount_msat=9_000_000)], inv["payment_hash"],
                      payment_secret=dec["payment_secret"])
    seen = wait_for(lambda: a.rpc.call("sendpays_seen")["seen"], what="sendpay_success")
    assert seen == [["sendpay_success", done]]

    # An unknown hash: b refuses for good: 203 with the failure data.
    hook.with_name(hook.name + ".mode").write_text("continue")
    unknown = "11" * 32
    a.rpc.sendpay([hop], unknown, payment_secret="22" * 32)
    with pytest.raises(RpcError) as e:
        a.rpc.waitsendpay(unknown, timeout=30)
    err = e.value.error
    assert err["code"] == 203, err
    assert err["message"] == \
        "failed: WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS (reply from remote)"
    d = err["data"]
    assert d["status"] == "failed" and d["payment_hash"] == unknown
    assert d["erring_index"] == 1 and d["erring_node"] == b_id
    assert d["failcode"] == 16399 and d["erring_channel"] == scid
    failure = wait_for(lambda: [n for t, n in a.rpc.call("sendpays_seen")["seen"]
                                if t == "sendpay_failure"], what="sendpay_failure")
    assert failure == [{"code": 203, "message": err["message"], "data": d}]
    # A failed part may be sent again in a new group (the default).
    again = a.rpc.sendpay([hop], unknown, payment_secret="22" * 32)
    assert again["groupid"] == 2
    with pytest.raises(RpcError, match="INCORRECT_OR_UNKNOWN"):
        a.rpc.waitsendpay(unknown, timeout=30)

    # Errors: nothing sent, nothing recorded.
    before = a.rpc.listsendpays()["payments"]
    bad = dict(hop, channel="1x2x3")
    with pytest.raises(RpcError) as e:
        a.rpc.sendpay([bad], "33" * 32)
    assert e.value.error["code"] == 204
    assert e.value.error["message"] == "No connection to first peer found"
    assert e.value.error["data"]["failcodename"] == "WIRE_UNKNOWN_NEXT_PEER"
    assert e.value.error["data"]["erring_node"] == a_id
    with pytest.raises(RpcError, match="route: must have either"):
        a.rpc.sendpay([{"id": b_id, "amount_msat": 1, "delay": 9}], "33" * 32)
    with pytest.raises(RpcError, match="Never attempted payment part 0"):
        a.rpc.waitsendpay("44" * 32)
    with pytest.raises(RpcError, match="partid requires payment_secret"):
        a.rpc.sendpay([hop], "33" * 32, amount_msat=10_000_000, partid=1)
    assert a.rpc.listsendpays()["payments"] == before
    with pytest.raises(RpcError) as e:
        a.rpc.getroute(b_id, 10 * CHANNEL_SAT * 1000, 1)
    assert e.value.error["code"] == 205
    assert e.value.error["message"] == "Could not find a route"
    with pytest.raises(RpcError, match="unknown destination node_id"):
        a.rpc.getroute("02" + "33" * 32, 1000, 1)

    # pay of an invoice b refuses: the destination's failure, with its data.
    hook.with_name(hook.name + ".mode").write_text("reject")
    inv = b.rpc.invoice(3_000_000, "refused", "no")
    with pytest.raises(RpcError) as e:
        a.rpc.pay(inv["bolt11"])
    err = e.value.error
    assert err["code"] == 203, err
    assert err["message"] == ("Destination said it doesn't know invoice: "
                              "WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS")
    assert err["data"]["erring_node"] == b_id and err["data"]["status"] == "failed"
    assert err["data"]["bolt11"] == inv["bolt11"]


def test_listsendpays_pages_by_index(node_factory, ldk_chain):
    a, b, a_id, b_id, scid = announced_pair(node_factory, ldk_chain)
    hashes = []
    for i in range(3):
        inv = b.rpc.invoice(1_000_000 + i, f"page{i}", "paging")
        a.rpc.pay(inv["bolt11"])
        hashes.append(inv["payment_hash"])
    rows = a.rpc.listsendpays()["payments"]
    assert [r["payment_hash"] for r in rows] == hashes
    assert [r["created_index"] for r in rows] == [1, 2, 3]
    # Each completion bumps updated_index once.
    assert sorted(r["updated_index"] for r in rows) == [1, 2, 3]
    page = a.rpc.listsendpays(index="created", start=2, limit=1)["payments"]
    assert [r["created_index"] for r in page] == [2]
    upd = a.rpc.listsendpays(index="updated", start=3)["payments"]
    assert [r["updated_index"] for r in upd] == [3]
    assert len(a.rpc.listpays(index="created", start=3)["pays"]) == 1
    with pytest.raises(RpcError, match=r"Can only specify \{start\} with \{index\}"):
        a.rpc.listsendpays(start=1)
    with pytest.raises(RpcError, match="Cannot use start with bolt11 or payment_hash"):
        a.rpc.listsendpays(payment_hash=hashes[0], index="created", start=1)
    assert a.rpc.listsendpays(status="failed")["payments"] == []
    # pay reports the paths that succeeded: one here.
    inv = b.rpc.invoice(2_000_000, "parts", "parts")
    assert a.rpc.pay(inv["bolt11"])["parts"] == 1


def test_two_hops_by_getroute_and_by_pay(node_factory, ldk_chain):
    """a -> b -> c, both channels announced: a's graph learns b-c through b, getroute
    finds the two hops, sendpay sends along them and b forwards."""
    a, b, c = (boltd_on(node_factory, ldk_chain) for _ in range(3))
    fund_boltd(a, ldk_chain, 1_000_000)
    fund_boltd(b, ldk_chain, 1_000_000)
    ids = [n.rpc.getinfo() for n in (a, b, c)]
    a_id, b_id, c_id = (i["id"] for i in ids)
    a.rpc.connect(b_id, "127.0.0.1", ids[1]["binding"][0]["port"])
    b.rpc.connect(c_id, "127.0.0.1", ids[2]["binding"][0]["port"])
    a.rpc.fundchannel(b_id, CHANNEL_SAT, announce=True)
    b.rpc.fundchannel(c_id, CHANNEL_SAT, announce=True)
    ldk_chain.mine(6)
    for n, peer in ((a, b_id), (b, c_id), (c, b_id)):
        wait_for(lambda: n.rpc.listpeerchannels(peer)["channels"][0]["state"]
                 == "CHANNELD_NORMAL", timeout=30, what="CHANNELD_NORMAL")
    bc = b.rpc.listpeerchannels(c_id)["channels"][0]["short_channel_id"]
    wait_for(lambda: [x for x in a.rpc.listchannels(bc)["channels"] if x["source"] == b_id],
             timeout=30, what="b-c in a's graph")

    inv = c.rpc.invoice(5_000_000, "two-hops", "via b")
    dec = c.rpc.decode(inv["bolt11"])

    def route_to_c():
        # Until a's first hop and b's update are both in place the router finds nothing.
        try:
            return a.rpc.getroute(c_id, 5_000_000, 1, cltv=dec["min_final_cltv_expiry"])["route"]
        except RpcError as e:
            assert e.error["code"] == 205, e.error
            return None
    route = wait_for(route_to_c, timeout=30, interval=0.5, what="a route from a to c")
    assert [h["id"] for h in route] == [b_id, c_id]
    assert route[1]["channel"] == bc and route[1]["amount_msat"] == 5_000_000
    assert route[0]["amount_msat"] > route[1]["amount_msat"]
    assert route[0]["delay"] > route[1]["delay"]
    sp = a.rpc.sendpay(route, inv["payment_hash"], payment_secret=dec["payment_secret"])
    assert sp["amount_sent_msat"] == route[0]["amount_msat"]
    done = a.rpc.waitsendpay(inv["payment_hash"], timeout=60)
    assert done["status"] == "complete" and done["destination"] == c_id
    wait_for(lambda: c.rpc.listinvoices("two-hops")["invoices"][0]["status"] == "paid",
             what="paid at c")

    inv2 = c.rpc.invoice(4_000_000, "two-hops-pay", "pay via b")
    r = a.rpc.pay(inv2["bolt11"])
    assert r["status"] == "complete" and r["amount_sent_msat"] > 4_000_000
