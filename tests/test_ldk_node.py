"""The independent LDK peer (ldk-node via interop/ldk-node-peer) on devchain: two of them
open, use and close channels with nothing of boltd in between, which proves devchain against
someone else's wallet and LDK; then one connects to a running boltd."""

import time

import pytest

from conftest import wait_for
from ldk_node import LdkNodeError, boltd_on, ldk_chain, ldk_node_factory  # noqa: F401 -- fixtures

CHANNEL_SAT = 500_000


def open_channel(opener, acceptor, chain, push_msat=None):
    """`opener` funds a channel to `acceptor`; returns (user_channel_id of each side) once
    both see it ready after 6 blocks."""
    params = {"node_id": acceptor.node_id, "address": acceptor.address,
              "amount_sat": CHANNEL_SAT}
    if push_msat is not None:
        params["push_msat"] = push_msat
    ours = opener.call("open_channel", **params)["user_channel_id"]
    pending = opener.wait_event("ChannelPending", user_channel_id=ours)
    theirs = acceptor.wait_event("ChannelPending")["user_channel_id"]
    # The funding transaction reached devchain's mempool (devchain accepted LDK's signing).
    txid = pending["funding_txo"].split(":")[0]
    wait_for(lambda: txid in chain.cli("getrawmempool"), what="funding tx in the mempool")
    chain.mine(6)
    opener.call("sync")
    acceptor.call("sync")
    opener.wait_event("ChannelReady", user_channel_id=ours)
    acceptor.wait_event("ChannelReady", user_channel_id=theirs)
    wait_for(lambda: opener.channel(ours)["is_usable"] and acceptor.channel(theirs)["is_usable"],
             timeout=30, what="channel usable on both sides")
    return ours, theirs


def pay_invoice(payer, payee, amount_msat):
    inv = payee.call("bolt11_receive", amount_msat=amount_msat, description="interop")
    payer.call("bolt11_send", invoice=inv["invoice"])
    ok = payer.wait_event("PaymentSuccessful", payment_hash=inv["payment_hash"])
    got = payee.wait_event("PaymentReceived", payment_hash=inv["payment_hash"])
    assert got["amount_msat"] == amount_msat
    return ok


def test_ldk_node_channel_payments_and_cooperative_close(ldk_node_factory, ldk_chain):
    alice, bob = ldk_node_factory.get_node(), ldk_node_factory.get_node()
    alice.fund(1_000_000)
    # ldk-node opens anchor channels and keeps an on-chain reserve for them, also to accept.
    bob.fund(100_000)
    a_chan, b_chan = open_channel(alice, bob, ldk_chain)
    assert alice.channel(a_chan)["channel_value_sats"] == CHANNEL_SAT
    assert alice.channel(a_chan)["is_outbound"] and not bob.channel(b_chan)["is_outbound"]

    pay_invoice(alice, bob, 20_000_000)
    ks = alice.call("keysend_send", node_id=bob.node_id, amount_msat=7_000_000)
    done = alice.wait_event("PaymentSuccessful", payment_id=ks["payment_id"])
    bob.wait_event("PaymentReceived", payment_hash=done["payment_hash"])
    pay_invoice(bob, alice, 5_000_000)

    sent = [p for p in alice.call("list_payments")
            if p["direction"] == "Outbound" and p["status"] == "Succeeded"
            and p["kind"] != "Onchain"]
    assert sorted((p["kind"], p["amount_msat"]) for p in sent) == [
        ("Bolt11", 20_000_000), ("Spontaneous", 7_000_000)]
    assert bob.channel(b_chan)["outbound_capacity_msat"] > 0

    bob_onchain = bob.balances()["total_onchain_balance_sats"]
    alice.call("close_channel", user_channel_id=a_chan, node_id=bob.node_id)
    alice.wait_event("ChannelClosed", user_channel_id=a_chan)
    bob.wait_event("ChannelClosed", user_channel_id=b_chan)
    wait_for(lambda: len(ldk_chain.cli("getrawmempool")) == 1, what="closing tx in the mempool")
    ldk_chain.mine(1)
    # Bob's side of a mutual close pays his wallet straight away: 22 000 sat less his fees.
    bob.sync_until(lambda: bob.balances()["total_onchain_balance_sats"] >= bob_onchain + 21_000,
                   what="bob's closing output in his wallet")
    assert alice.call("list_channels") == [] and bob.call("list_channels") == []


def test_ldk_node_channel_survives_a_restart(ldk_node_factory, ldk_chain):
    """The fixture's restart keeps seed, storage and port: the channel comes back, the peers
    reconnect, and it pays."""
    alice, bob = ldk_node_factory.get_node(), ldk_node_factory.get_node()
    alice.fund(1_000_000)
    bob.fund(100_000)
    a_chan, b_chan = open_channel(alice, bob, ldk_chain)
    bob_id = bob.node_id
    bob.restart()
    assert bob.node_id == bob_id and bob.channel(b_chan)["channel_value_sats"] == CHANNEL_SAT
    # Alice keeps Bob as a peer and would reconnect within a minute; now is quicker.
    alice.call("connect", node_id=bob.node_id, address=bob.address)
    wait_for(lambda: alice.channel(a_chan)["is_usable"], timeout=30, what="usable again")
    pay_invoice(alice, bob, 3_000_000)


def test_ldk_node_force_close_is_swept_after_to_self_delay(ldk_node_factory, ldk_chain):
    alice, bob = ldk_node_factory.get_node(), ldk_node_factory.get_node()
    alice.fund(1_000_000)
    bob.fund(100_000)
    a_chan, b_chan = open_channel(alice, bob, ldk_chain, push_msat=100_000_000)
    delay = alice.channel(a_chan)["force_close_spend_delay"]
    assert delay and delay >= 144
    before = alice.balances()["total_onchain_balance_sats"]

    alice.call("force_close_channel", user_channel_id=a_chan, node_id=bob.node_id)
    alice.wait_event("ChannelClosed", user_channel_id=a_chan)
    bob.wait_event("ChannelClosed", user_channel_id=b_chan)
    # The commitment transaction is accepted by devchain's strict mempool on its own.
    wait_for(lambda: len(ldk_chain.cli("getrawmempool")) >= 1, what="commitment in the mempool")
    ldk_chain.mine(1)
    alice.call("sync")
    waiting = alice.balances()["lightning_balances"]
    assert len(waiting) == 1 and waiting[0].startswith("ClaimableAwaitingConfirmations"), waiting

    # Alice's to_local is locked for to_self_delay blocks; her sweeper claims it after that.
    ldk_chain.mine(delay)
    alice.call("sync")
    wait_for(lambda: len(ldk_chain.cli("getrawmempool")) >= 1, timeout=60,
             what="alice's sweep in the mempool")
    ldk_chain.mine(6)
    alice.sync_until(lambda: alice.balances()["total_onchain_balance_sats"]
                     >= before + CHANNEL_SAT - 100_000 - 20_000,
                     timeout=90, what="alice's delayed output swept into her wallet")
    # Bob's to_remote (one block CSV on anchor channels) reached his wallet too.
    bob.sync_until(lambda: bob.balances()["total_onchain_balance_sats"] >= 100_000 + 90_000,
                   timeout=90, what="bob's to_remote swept into his wallet")


def test_ldk_node_bad_request_lines_are_errors(ldk_node_factory):
    carol = ldk_node_factory.get_node()
    assert carol.raw("not json")["error"]["kind"] == "InvalidRequest"
    assert carol.raw('{"method": "nope"}')["error"]["message"] == "unknown method nope"
    assert carol.raw('{"method": "connect", "params": []}')["error"]["kind"] == "InvalidRequest"
    with pytest.raises(LdkNodeError, match="parameter node_id"):
        carol.call("connect", node_id="02zz", address="127.0.0.1:1")
    with pytest.raises(LdkNodeError, match="parameter amount_sat"):
        carol.call("open_channel", node_id=carol.node_id, address=carol.address,
                   amount_sat=-1)
    with pytest.raises(LdkNodeError, match="invoice"):
        carol.call("bolt11_send", invoice="lnbcrt1garbage")
    with pytest.raises(LdkNodeError, match="timeout_secs must be between 0 and 3600"):
        carol.call("wait_event", timeout_secs=1e300)
    with pytest.raises(LdkNodeError, match="no open channel 7 with"):
        carol.call("close_channel", user_channel_id="7", node_id=carol.node_id)
    with pytest.raises(LdkNodeError, match="not a regtest address"):
        carol.call("onchain_send", address="bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                   amount_sat=1000)
    # Still answering.
    assert carol.call("node_id") == carol.node_id


def test_ldk_node_and_boltd_connect_both_ways(node_factory, ldk_node_factory, ldk_chain):
    b = boltd_on(node_factory, ldk_chain)
    info = b.rpc.getinfo()
    bid, bport = info["id"], info["binding"][0]["port"]
    carol = ldk_node_factory.get_node()

    carol.call("connect", node_id=bid, address=f"127.0.0.1:{bport}")
    peer = wait_for(lambda: b.rpc.listpeers(carol.node_id)["peers"], what="boltd lists carol")[0]
    assert peer["connected"] and peer["features"]
    assert [p["node_id"] for p in carol.call("list_peers") if p["is_connected"]] == [bid]

    carol.call("disconnect", node_id=bid)
    wait_for(lambda: b.rpc.listpeers()["peers"] == [], what="boltd sees carol leave")

    r = b.rpc.connect(carol.node_id, "127.0.0.1", carol.port)
    assert r["id"] == carol.node_id and r["direction"] == "out"
    wait_for(lambda: [p["node_id"] for p in carol.call("list_peers") if p["is_connected"]]
             == [bid], what="carol lists boltd")
    # Both stay connected (no warning/error made either side hang up).
    time.sleep(2)
    assert b.rpc.listpeers(carol.node_id)["peers"][0]["connected"]


def test_ldk_node_wallet_pays_boltd_wallet_on_devchain(node_factory, ldk_node_factory, ldk_chain):
    """Two independent wallets (BDK inside ldk-node, boltd's) on one devchain: a payment from
    one is seen, confirmed, by the other."""
    b = boltd_on(node_factory, ldk_chain)
    carol = ldk_node_factory.get_node()
    carol.fund(300_000)
    address = b.rpc.newaddr()["bech32"]
    txid = carol.call("onchain_send", address=address, amount_sat=123_456)["txid"]
    wait_for(lambda: txid in ldk_chain.cli("getrawmempool"), what="carol's payment in the mempool")
    ldk_chain.mine(1)
    outputs = wait_for(lambda: [o for o in b.rpc.listfunds()["outputs"]
                                if o["txid"] == txid and o["status"] == "confirmed"],
                       timeout=30, what="boltd's listfunds shows the output")
    assert outputs[0]["amount_msat"] == 123_456_000 and outputs[0]["address"] == address


def test_ldk_node_wallet_follows_a_devchain_reorg(ldk_node_factory, ldk_chain):
    """devchain's invalidateblock is a reorg ldk-node (lightning-block-sync + BDK) follows:
    the funding leaves the chain, its coins stop being spendable, and count again once mined
    in the new branch."""
    carol = ldk_node_factory.get_node()
    carol.fund(300_000)
    assert carol.balances()["spendable_onchain_balance_sats"] == 300_000
    funded_in = ldk_chain.cli("getbestblockhash")
    ldk_chain.cli("invalidateblock", funded_in)
    # A branch with more work and without the funding (back in devchain's mempool): LDK's
    # block sync, like any bitcoind client, moves only to a chain with more work.
    for _ in range(2):
        ldk_chain.cli("generateblock", ldk_chain.address, "[]")
    assert ldk_chain.height() == 103
    carol.sync_until(lambda: carol.balances()["spendable_onchain_balance_sats"] == 0,
                     what="carol's coins unconfirmed by the reorg")
    ldk_chain.mine(1)
    carol.sync_until(lambda: carol.balances()["spendable_onchain_balance_sats"] == 300_000,
                     what="carol's coins confirmed on the new branch")
    assert ldk_chain.cli("getbestblockhash") != funded_in
