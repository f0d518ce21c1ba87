"""htlc_accepted at the final hop (issue 14): boltd a pays boltd b; a pyln-client plugin on b
continues (the invoice and invoice_payment follow), resolves with its own preimage, fails,
asks for what LDK cannot do, or never answers."""

import concurrent.futures
import hashlib
import os

import pytest
from pyln.client import RpcError

from boltd_pair import hook_plugin, pair, set_mode, to_us
from conftest import wait_for
from ldk_node import ldk_chain  # noqa: F401 -- fixture


def test_htlc_accepted_final_hop(node_factory, ldk_chain, directory, monkeypatch):
    # Plugins that never answer are given up on after 4 s instead of blocks.
    monkeypatch.setenv("BOLTD_DEV_HOOK_DEADLINE", "4")
    htlc = hook_plugin(directory, "htlc_accepted_hook.py")
    invp = hook_plugin(directory, "invoice_payment_hook.py")
    a, b = pair(node_factory, ldk_chain,
                b_options={"plugin": [str(htlc), str(invp)]})
    a_id, b_id = a.info["id"], b.info["id"]
    seen = lambda: b.rpc.call("htlcs_seen")["seen"]  # noqa: E731
    inv_seen = lambda: b.rpc.call("invoice_payments_seen")["seen"]  # noqa: E731

    a_start = to_us(a, b_id)
    # continue: on to the invoice and invoice_payment. (Enough for b to be above its
    # channel reserve, where to_us_msat is exact.)
    inv = b.rpc.invoice(10_000_000, "cont", "go on")
    r = a.rpc.pay(inv["bolt11"])
    assert r["status"] == "complete"
    [p] = seen()
    chan = b.rpc.listpeerchannels(a_id)["channels"][0]
    height = b.rpc.getinfo()["blockheight"]
    secret = b.rpc.decode(inv["bolt11"])["payment_secret"]
    assert p["peer_id"] == a_id and "forward_to" not in p
    assert p["onion"] == {"type": "tlv", "forward_msat": 10_000_000,
                          "outgoing_cltv_value": p["htlc"]["cltv_expiry"],
                          "total_msat": 10_000_000, "payment_secret": secret}
    h = p["htlc"]
    assert h["short_channel_id"] == chan["short_channel_id"] and h["id"] == 0
    assert h["amount_msat"] == 10_000_000 and h["payment_hash"] == inv["payment_hash"]
    # Relative to b's height when the hook was called (b may have been a block behind).
    assert h["cltv_expiry_relative"] > 0
    assert height - 6 <= h["cltv_expiry"] - h["cltv_expiry_relative"] <= height
    assert [s["label"] for s in inv_seen()] == ["cont"]
    # The payee's paid-record follows its fulfill (README, Payments: speed).
    wait_for(lambda: b.rpc.listinvoices("cont")["invoices"][0]["status"] == "paid",
             what="the payee's record")

    # fail with a failure_message: the payer's payment fails; invoice_payment is not asked.
    set_mode(htlc, "fail:2002")
    inv = b.rpc.invoice(1_000_000, "failed", "no")
    with pytest.raises(RpcError) as e:
        a.rpc.pay(inv["bolt11"])
    print("payer's error:", e.value.error)
    assert len(seen()) == 2 and [s["label"] for s in inv_seen()] == ["cont"]
    assert b.rpc.listinvoices("failed")["invoices"][0]["status"] == "unpaid"
    [sp] = a.rpc.listsendpays(payment_hash=inv["payment_hash"])["payments"]
    assert sp["status"] == "failed"

    # resolve: a hash b has no invoice for (made with a preimage, then deleted) is claimed
    # with the plugin's preimage.
    preimage = os.urandom(32)
    inv = b.rpc.invoice(2_000_000, "gone", "x", preimage=preimage.hex())
    b.rpc.delinvoice("gone", "unpaid")
    before = to_us(b, a_id)
    set_mode(htlc, f"resolve:{os.urandom(32).hex()}")
    with pytest.raises(RpcError):
        a.rpc.pay(inv["bolt11"])
    assert b.is_in_log("doesn't match the HTLC hash")
    # The payer may not pay the same hash again after a failure through pay: a fresh
    # hash for the good preimage.
    preimage = os.urandom(32)
    inv = b.rpc.invoice(2_000_000, "gone2", "x", preimage=preimage.hex())
    b.rpc.delinvoice("gone2", "unpaid")
    set_mode(htlc, f"resolve:{preimage.hex()}")
    r = a.rpc.pay(inv["bolt11"])
    assert r["status"] == "complete" and r["payment_preimage"] == preimage.hex()
    assert hashlib.sha256(preimage).hexdigest() == inv["payment_hash"]
    wait_for(lambda: to_us(b, a_id) == before + 2_000_000, what="b's balance")
    assert [s["label"] for s in inv_seen()] == ["cont"]
    assert not [i for i in b.rpc.listinvoices()["invoices"]
                if i["payment_hash"] == inv["payment_hash"]]

    # A failure_onion LDK cannot send: refused with a log line, the HTLC failed.
    set_mode(htlc, "onion")
    inv = b.rpc.invoice(1_000_000, "onion", "x")
    with pytest.raises(RpcError):
        a.rpc.pay(inv["bolt11"])
    assert b.is_in_log("failure_onion")
    assert b.rpc.listinvoices("onion")["invoices"][0]["status"] == "unpaid"

    # A plugin that never answers: failed at the deadline, with a log line naming it.
    set_mode(htlc, "hold")
    inv = b.rpc.invoice(1_000_000, "held", "x")
    with pytest.raises(RpcError):
        a.rpc.pay(inv["bolt11"])
    assert b.is_in_log(r"htlc_accepted hook of .*htlc_accepted_hook.py did not answer")
    assert b.rpc.listinvoices("held")["invoices"][0]["status"] == "unpaid"
    set_mode(htlc, "continue")

    # Afterwards all is well: a normal payment goes through, both sides agree.
    inv = b.rpc.invoice(1_500_000, "after", "x")
    assert a.rpc.pay(inv["bolt11"])["status"] == "complete"
    got = 10_000_000 + 2_000_000 + 1_500_000
    wait_for(lambda: to_us(b, a_id) == got and a_start - to_us(a, b_id) == got,
             what="balances agree")


def test_listpeerchannels_shows_htlcs_waiting_for_the_hook(node_factory, ldk_chain, directory):
    """While an htlc_accepted plugin holds a payment to us, listpeerchannels says so on the
    HTLC (`status`, as Core Lightning), and not once the plugin answered."""
    htlc = hook_plugin(directory, "htlc_accepted_hook.py", "hold")
    a, b = pair(node_factory, ldk_chain, b_options={"plugin": str(htlc)})
    inv = b.rpc.invoice(10_000_000, "held", "x")
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        paying = ex.submit(a.rpc.pay, inv["bolt11"])
        wait_for(lambda: b.rpc.call("htlcs_seen")["seen"], what="the hook called")
        [h] = b.rpc.listpeerchannels(a.info["id"])["channels"][0]["htlcs"]
        assert h["direction"] == "in" and h["payment_hash"] == inv["payment_hash"]
        assert h["status"] == "Waiting for the htlc_accepted hook of plugin htlc_accepted_hook.py"
        set_mode(htlc, "continue")
        assert paying.result(timeout=60)["status"] == "complete"
    wait_for(lambda: all("status" not in h
                         for h in b.rpc.listpeerchannels(a.info["id"])["channels"][0]["htlcs"]),
             what="no HTLC waiting")
