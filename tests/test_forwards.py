"""Forwarding (issue 15): A pays C through B, all boltd on devchain. B's record of each
forward (`listforwards`, `forward_event`, `getinfo.fees_collected_msat`, routed
`coin_movement`s)."""

from pathlib import Path

import pytest
from pyln.client import RpcError

from conftest import wait_for
from ldk_node import boltd_on, ldk_chain, ldk_node_factory  # noqa: F401 -- fixtures
from test_ldk_node_channels import fund_boltd

PLUGINS = Path(__file__).resolve().parent / "plugins"
CHANNEL_SAT = 500_000


def normal(n, peer):
    wait_for(lambda: [c for c in n.rpc.listpeerchannels(peer)["channels"]
                      if c["state"] == "CHANNELD_NORMAL"],
             timeout=30, what="CHANNELD_NORMAL")


def open_channel(chain, opener, peer, announce=True):
    """`opener` funds a channel to `peer`; both see it normal."""
    info = peer.rpc.getinfo()
    opener.rpc.connect(info["id"], "127.0.0.1", info["binding"][0]["port"])
    opener.rpc.fundchannel(info["id"], CHANNEL_SAT, announce=announce)
    chain.mine(6)
    normal(opener, info["id"])
    normal(peer, opener.rpc.getinfo()["id"])


def line(node_factory, chain, b_options=None):
    """A -> B -> C: A funds A-B, B funds the unannounced B-C (C's invoices hint it)."""
    a = boltd_on(node_factory, chain)
    b = boltd_on(node_factory, chain, options={"plugin": str(PLUGINS / "forward_recorder.py"),
                                               **(b_options or {})})
    c = boltd_on(node_factory, chain)
    fund_boltd(a, chain, 1_000_000)
    fund_boltd(b, chain, 1_000_000)
    open_channel(chain, a, b)
    open_channel(chain, b, c, announce=False)
    return a, b, c


def scid(n, peer):
    return n.rpc.listpeerchannels(peer)["channels"][0]["short_channel_id"]


def test_two_hop_payment_settles_and_fails(node_factory, ldk_chain):
    a, b, c = line(node_factory, ldk_chain)
    a_id, c_id = a.rpc.getinfo()["id"], c.rpc.getinfo()["id"]
    in_scid, out_scid = scid(b, a_id), scid(b, c_id)

    inv = c.rpc.invoice(10_000_000, "two-hop", "through b")
    r = a.rpc.pay(inv["bolt11"])
    assert r["status"] == "complete"
    assert r["amount_sent_msat"] > r["amount_msat"] == 10_000_000
    fee = r["amount_sent_msat"] - r["amount_msat"]
    wait_for(lambda: c.rpc.listinvoices("two-hop")["invoices"][0]["status"] == "paid",
             what="paid at C")

    [fwd] = wait_for(lambda: b.rpc.listforwards(status="settled")["forwards"],
                     what="settled forward")
    assert fwd["in_channel"] == in_scid and fwd["out_channel"] == out_scid
    assert fwd["in_msat"] == r["amount_sent_msat"] and fwd["out_msat"] == 10_000_000
    assert fwd["fee_msat"] == fee and fwd["style"] == "tlv"
    assert fwd["created_index"] == 1 and isinstance(fwd["in_htlc_id"], int)
    assert fwd["resolved_time"] >= fwd["received_time"] > 0
    assert b.rpc.getinfo()["fees_collected_msat"] == fee

    events = wait_for(lambda: b.rpc.call("forwards_seen")["events"], what="forward events")
    wait_for(lambda: len(b.rpc.call("forwards_seen")["events"]) == 2, what="two events")
    offered, settled = b.rpc.call("forwards_seen")["events"]
    assert offered["status"] == "offered" and settled["status"] == "settled"
    for e in (offered, settled):
        assert e["payment_hash"] == inv["payment_hash"]
        assert e["in_channel"] == in_scid and e["out_channel"] == out_scid
        assert e["in_msat"] == fwd["in_msat"] and e["out_msat"] == 10_000_000
        assert "out_htlc_id" not in e
    assert offered["created_index"] == 1 and "resolved_time" not in offered
    # LDK does not say the preimage of a forward it settled: no `preimage` (README).
    assert settled["updated_index"] == 1 and "preimage" not in settled
    del events

    moves = wait_for(lambda: len(b.rpc.call("routed_moves")["moves"]) == 2
                     and b.rpc.call("routed_moves")["moves"], what="routed moves")
    credit = [m for m in moves if m["credit_msat"]]
    debit = [m for m in moves if m["debit_msat"]]
    assert credit[0]["credit_msat"] == fwd["in_msat"] and credit[0]["fees_msat"] == fee
    assert debit[0]["debit_msat"] == 10_000_000 and debit[0]["fees_msat"] == fee
    assert {m["payment_hash"] for m in moves} == {inv["payment_hash"]}

    # A payment C refuses (an unknown payment hash: C deleted the invoice) fails downstream.
    inv2 = c.rpc.invoice(3_000_000, "deleted", "gone")
    c.rpc.delinvoice("deleted", "unpaid")
    with pytest.raises(RpcError):
        a.rpc.pay(inv2["bolt11"])
    failed = wait_for(lambda: b.rpc.listforwards(status="failed")["forwards"],
                      what="failed forward")
    assert failed[0]["out_channel"] == out_scid and "resolved_time" in failed[0]
    assert "fee_msat" in failed[0]
    assert b.rpc.getinfo()["fees_collected_msat"] == fee
    assert [f["status"] for f in b.rpc.listforwards()["forwards"]] == ["settled", "failed"]
    assert b.rpc.listforwards(in_channel=in_scid, out_channel=out_scid)["forwards"] \
        == b.rpc.listforwards()["forwards"]
    assert b.rpc.listforwards(out_channel=in_scid)["forwards"] == []
    assert [f["created_index"] for f in b.rpc.listforwards(index="created", start=2)["forwards"]] \
        == [2]
    assert len(b.rpc.listforwards(index="created", start=1, limit=1)["forwards"]) == 1
    with pytest.raises(RpcError, match="status: Unrecognized status: bogus"):
        b.rpc.listforwards(status="bogus")

    # C away: B cannot offer the HTLC and fails it itself (one event, no resolved_time).
    inv3 = c.rpc.invoice(2_000_000, "away", "c is away")
    c.stop()
    wait_for(lambda: not b.rpc.listpeerchannels(c_id)["channels"][0]["peer_connected"],
             what="C disconnected")
    with pytest.raises(RpcError):
        a.rpc.pay(inv3["bolt11"])
    [lf] = wait_for(lambda: b.rpc.listforwards(status="local_failed")["forwards"],
                    what="local_failed forward")
    assert lf["out_channel"] == out_scid and lf["in_channel"] == in_scid
    assert lf["failcode"] == 0x1007 and lf["failreason"] == "WIRE_TEMPORARY_CHANNEL_FAILURE"
    assert "resolved_time" not in lf and "out_msat" not in lf
    last = wait_for(lambda: [e for e in b.rpc.call("forwards_seen")["events"]
                             if e["status"] == "local_failed"], what="local_failed event")
    assert len(last) == 1 and last[0]["created_index"] == lf["created_index"]
    assert last[0]["payment_hash"] == inv3["payment_hash"]


def test_htlc_accepted_on_forwards(node_factory, ldk_chain):
    """B's htlc_accepted plugin sees each forward and decides it: continue, fail, what LDK
    cannot do (resolve), a forward_to that is not ours, and no answer at all."""
    a, b, c = line(node_factory, ldk_chain,
                   b_options={"plugin": str(PLUGINS / "htlc_forward_hook.py")})
    a_id, c_id = a.rpc.getinfo()["id"], c.rpc.getinfo()["id"]
    in_scid, out_scid = scid(b, a_id), scid(b, c_id)
    out_chan = b.rpc.listpeerchannels(c_id)["channels"][0]["channel_id"]
    b.wait_for_log("forwarded HTLCs go to the htlc_accepted hook")

    inv = c.rpc.invoice(10_000_000, "hooked", "continue")
    r = a.rpc.pay(inv["bolt11"])
    assert r["status"] == "complete"
    [p] = b.rpc.call("htlcs_seen")["seen"]
    assert p["peer_id"] == a_id and p["forward_to"] == out_chan
    # The onion names the channel as C's route hint did (LDK hints our alias for it).
    hinted = c.rpc.decode(inv["bolt11"])["routes"][0][0]["short_channel_id"]
    assert p["onion"] == {"type": "tlv", "short_channel_id": hinted,
                          "forward_msat": 10_000_000,
                          "outgoing_cltv_value": p["onion"]["outgoing_cltv_value"]}
    h = p["htlc"]
    assert h["short_channel_id"] == in_scid and h["payment_hash"] == inv["payment_hash"]
    assert h["amount_msat"] == r["amount_sent_msat"]
    # Relative to LDK's height when the hook ran (under load it may trail getinfo's by the
    # last blocks mined).
    ldk_height = h["cltv_expiry"] - h["cltv_expiry_relative"]
    assert 0 <= b.rpc.getinfo()["blockheight"] - ldk_height <= 6
    assert h["cltv_expiry"] > p["onion"]["outgoing_cltv_value"]
    [fwd] = wait_for(lambda: b.rpc.listforwards(status="settled")["forwards"], what="settled")
    assert fwd["out_channel"] == out_scid

    def refused(reply, label):
        b.rpc.call("set_htlc_reply", {"reply_json": reply})
        i = c.rpc.invoice(1_000_000, label, label)
        with pytest.raises(RpcError):
            a.rpc.pay(i["bolt11"])
        return i

    # Failed by the plugin: no forward record, no forward_event (as Core Lightning).
    refused({"result": "fail", "failure_message": "2002"}, "failed-by-hook")
    # LDK cannot claim a forwarded HTLC with a preimage: refused, logged, failed.
    refused({"result": "resolve", "payment_key": "00" * 32}, "resolved-by-hook")
    b.wait_for_log("asked to resolve with a preimage on a forwarded HTLC")
    assert [f["status"] for f in b.rpc.listforwards()["forwards"]] == ["settled"]
    # forward_to a channel we do not have: failed as unknown_next_peer, recorded.
    refused({"result": "continue", "forward_to": "11" * 32}, "nowhere")
    [lf] = wait_for(lambda: b.rpc.listforwards(status="local_failed")["forwards"],
                    what="local_failed")
    assert lf["failreason"] == "WIRE_UNKNOWN_NEXT_PEER" and "out_channel" not in lf
    # forward_to the channel it would use anyway: forwarded.
    b.rpc.call("set_htlc_reply", {"reply_json": {"result": "continue", "forward_to": out_chan}})
    assert a.rpc.pay(c.rpc.invoice(2_000_000, "forward-to", "x")["bolt11"])["status"] \
        == "complete"

    # A plugin that never answers does not hold the HTLC until it expires.
    b.rpc.call("set_htlc_reply", {"reply_json": "hang"})
    i = c.rpc.invoice(1_000_000, "hang", "hang")
    import threading
    outcome = {}

    def pay():
        try:
            outcome["r"] = a.rpc.pay(i["bolt11"])
        except RpcError as e:
            outcome["e"] = e
    t = threading.Thread(target=pay)
    t.start()
    n = len(b.rpc.call("htlcs_seen")["seen"])
    wait_for(lambda: len(b.rpc.call("htlcs_seen")["seen"]) > n, what="hook called")
    # B gives up a block before LDK would fail the intercepted HTLC by itself (39 blocks
    # before its outgoing expiry), naming the plugin.
    give_up = b.rpc.call("htlcs_seen")["seen"][-1]["onion"]["outgoing_cltv_value"] - 40
    ldk_chain.mine(give_up - b.rpc.getinfo()["blockheight"])
    b.wait_for_log(r"htlc_accepted hook of plugin .*htlc_forward_hook.py did not answer",
                   timeout=30)
    assert not b.is_in_log("failing intercepted HTLC")
    t.join(60)
    assert "e" in outcome
    assert b.rpc.listforwards(status="offered")["forwards"] == []


def b_balance(b):
    return sum(c["to_us_msat"] for c in b.rpc.listpeerchannels()["channels"])


def test_kill_middle_node_with_htlcs_in_flight(node_factory, ldk_chain):
    """kill -9 of B while it holds HTLCs going both ways (its htlc_accepted plugin has not
    answered): after B restarts, LDK hands the held HTLCs to the hook again, the restarted
    plugin continues them, and every payment settles once; listforwards agrees with what
    the payers saw, and B's balance grew by exactly the fees it reports."""
    import threading
    a, b, c = line(node_factory, ldk_chain,
                   b_options={"plugin": str(PLUGINS / "htlc_forward_hook.py")})
    # C gets balance to pay back with.
    assert a.rpc.pay(c.rpc.invoice(40_000_000, "seed", "seed")["bolt11"])["status"] \
        == "complete"
    wait_for(lambda: len(b.rpc.listforwards(status="settled")["forwards"]) == 1,
             what="seed settled")
    start_balance, start_fees = b_balance(b), b.rpc.getinfo()["fees_collected_msat"]

    b.rpc.call("set_htlc_reply", {"reply_json": "hang"})
    invs = [(a, c.rpc.invoice(1_000_000 + i, f"to-c-{i}", "x")) for i in range(3)] \
        + [(c, a.rpc.invoice(1_000_000 + i, f"to-a-{i}", "x")) for i in range(3)]
    results = {}

    def pay(payer, inv):
        try:
            results[inv["payment_hash"]] = payer.rpc.pay(inv["bolt11"], retry_for=120)["status"]
        except RpcError as e:
            results[inv["payment_hash"]] = f"error {e.error}"
    threads = [threading.Thread(target=pay, args=p) for p in invs]
    for t in threads:
        t.start()
    wait_for(lambda: len(b.rpc.call("htlcs_seen")["seen"]) == 1 + len(invs), timeout=30,
             what="every HTLC held at B")
    held = b.rpc.listpeerchannels()["channels"]
    assert all(any(h["direction"] == "in" for h in ch["htlcs"]) for ch in held)
    import time
    time.sleep(1)
    b.kill()
    # The restarted plugin answers the replayed HTLCs once A and C are back.
    b.options["htlc-hold-secs"] = "4"
    # The HTLCs B replays at start-up fail at once towards a channel whose peer is not
    # back yet (LDK: PeerOffline), so A and C are connected by hand, together, rather than
    # by B's own reconnection (which dials C well before A's back-off dials B).
    b.options["dev-no-reconnect"] = None
    b.start()
    port = b.rpc.getinfo()["binding"][0]["port"]
    b_id = b.rpc.getinfo()["id"]
    for n in (a, c):
        n.rpc.connect(b_id, "127.0.0.1", port)
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert sorted(results.values()) == ["complete"] * len(invs), results
    assert not b.is_in_log("ChannelManager is stale")

    wait_for(lambda: all(not ch["htlcs"] for ch in b.rpc.listpeerchannels()["channels"]),
             timeout=60, what="no HTLC pending at B")
    assert b.rpc.listforwards(status="offered")["forwards"] == []
    settled = b.rpc.listforwards(status="settled")["forwards"]
    # The seed, plus one settled forward per payment, none twice.
    assert len(settled) == 1 + len(invs)
    assert len({(f["in_channel"], f["in_htlc_id"]) for f in settled}) == len(settled)
    assert b.rpc.listforwards()["forwards"] == settled
    for payee, inv in [(c, i) for _, i in invs[:3]] + [(a, i) for _, i in invs[3:]]:
        paid = payee.rpc.listinvoices(payment_hash=inv["payment_hash"])["invoices"][0]
        assert paid["status"] == "paid"
    fees = b.rpc.getinfo()["fees_collected_msat"]
    assert fees == sum(f["fee_msat"] for f in settled)
    assert b_balance(b) == start_balance + fees - start_fees


def test_ldk_node_pays_through_boltd(node_factory, ldk_node_factory, ldk_chain):
    """The independent ldk-node as A: its payment to C is forwarded by B and recorded."""
    from test_payments import channel_to_boltd
    b = boltd_on(node_factory, ldk_chain,
                 options={"plugin": str(PLUGINS / "forward_recorder.py")})
    c = boltd_on(node_factory, ldk_chain)
    carol = ldk_node_factory.get_node()
    channel_to_boltd(b, carol, ldk_chain)
    fund_boltd(b, ldk_chain, 1_000_000)
    open_channel(ldk_chain, b, c, announce=False)

    inv = c.rpc.invoice(20_000_000, "from-ldk-node", "via b")
    carol.call("bolt11_send", invoice=inv["bolt11"])
    ok = carol.wait_event("PaymentSuccessful", payment_hash=inv["payment_hash"])
    paid = wait_for(lambda: [i for i in c.rpc.listinvoices("from-ldk-node")["invoices"]
                             if i["status"] == "paid"], what="paid at C")[0]
    assert paid["payment_preimage"] == ok["payment_preimage"]
    [fwd] = wait_for(lambda: b.rpc.listforwards(status="settled")["forwards"], what="settled")
    assert fwd["in_channel"] == scid(b, carol.node_id)
    assert fwd["out_channel"] == scid(b, c.rpc.getinfo()["id"])
    assert fwd["out_msat"] == 20_000_000 and fwd["fee_msat"] == fwd["in_msat"] - 20_000_000
    assert fwd["fee_msat"] > 0 and b.rpc.getinfo()["fees_collected_msat"] == fwd["fee_msat"]
    statuses = wait_for(lambda: [e["status"] for e in b.rpc.call("forwards_seen")["events"]]
                        if len(b.rpc.call("forwards_seen")["events"]) == 2 else None,
                        what="forward events")
    assert statuses == ["offered", "settled"]


def test_forward_record_whose_write_fails_is_handed_over_again(node_factory, ldk_chain,
                                                               monkeypatch):
    """B's first write of a forward's settlement fails (BOLTD_DEV_FAIL_FORWARD_UPDATE, as a
    store failure would): LDK is told to hand the event over again, and B records the
    forward as settled, once, with its two routed moves and its fee counted once (also
    after a restart)."""
    monkeypatch.setenv("BOLTD_DEV_FAIL_FORWARD_UPDATE", "1")
    a, b, c = line(node_factory, ldk_chain)
    monkeypatch.delenv("BOLTD_DEV_FAIL_FORWARD_UPDATE")
    inv = c.rpc.invoice(10_000_000, "failed-write", "x")
    assert a.rpc.pay(inv["bolt11"])["status"] == "complete"
    [fwd] = wait_for(lambda: b.rpc.listforwards(status="settled")["forwards"], timeout=30,
                     what="the forward recorded settled after the replay")
    assert b.is_in_log("BOLTD_DEV_FAIL_FORWARD_UPDATE: this write fails")
    assert fwd["out_msat"] == 10_000_000 and len(b.rpc.listforwards()["forwards"]) == 1
    assert b.rpc.getinfo()["fees_collected_msat"] == fwd["fee_msat"]
    moves = wait_for(lambda: len(b.rpc.call("routed_moves")["moves"]) == 2
                     and b.rpc.call("routed_moves")["moves"], what="routed moves")
    assert sorted(m["credit_msat"] + m["debit_msat"] for m in moves) \
        == [10_000_000, fwd["in_msat"]]
    # getinfo keeps the sum in memory: a restart starts from the store's.
    b.restart()
    assert b.rpc.getinfo()["fees_collected_msat"] == fwd["fee_msat"] > 0
