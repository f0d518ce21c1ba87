"""boltd ↔ ldk-node channels on devchain (issue 13's interop): open both ways, close
cooperatively and unilaterally, with an LDK-based node that has its own wallet and storage."""

from decimal import Decimal

from conftest import wait_for
from ldk_node import boltd_on, ldk_chain, ldk_node_factory  # noqa: F401 -- fixtures

CHANNEL_SAT = 500_000


def fund_boltd(b, chain, sats):
    address = b.rpc.newaddr()["bech32"]
    txid = chain.cli("sendtoaddress", address, str(Decimal(sats) / Decimal(100_000_000)))
    chain.mine(1)
    wait_for(lambda: any(o["txid"] == txid and o["status"] == "confirmed"
                         for o in b.rpc.listfunds()["outputs"]),
             timeout=30, what="boltd funded")


def boltd_funds(b):
    """boltd's confirmed on-chain sats."""
    return sum(o["amount_msat"] for o in b.rpc.listfunds()["outputs"]
               if o["status"] == "confirmed") // 1000


def boltd_channel(b, peer_id):
    chans = b.rpc.listpeerchannels(peer_id)["channels"]
    return chans[0] if chans else None


def test_boltd_opens_to_ldk_node_and_closes_mutually(node_factory, ldk_node_factory, ldk_chain):
    b = boltd_on(node_factory, ldk_chain)
    carol = ldk_node_factory.get_node()
    fund_boltd(b, ldk_chain, 1_000_000)
    carol.fund(100_000)  # ldk-node's anchor reserve, needed to accept
    b.rpc.connect(carol.node_id, "127.0.0.1", carol.port)

    r = b.rpc.fundchannel(carol.node_id, CHANNEL_SAT, push_msat=100_000_000)
    pending = carol.wait_event("ChannelPending")
    assert pending["funding_txo"] == f"{r['txid']}:{r['outnum']}"
    ldk_chain.mine(6)
    carol.call("sync")
    ready = carol.wait_event("ChannelReady")
    wait_for(lambda: boltd_channel(b, carol.node_id)["state"] == "CHANNELD_NORMAL",
             timeout=30, what="CHANNELD_NORMAL")
    assert carol.channel(ready["user_channel_id"])["channel_value_sats"] == CHANNEL_SAT

    before = carol.balances()["total_onchain_balance_sats"]
    res = b.rpc.close(carol.node_id)
    assert res["type"] == "mutual" and len(res["txids"]) == 1
    carol.wait_event("ChannelClosed")
    assert ldk_chain.cli("getrawmempool") == res["txids"]
    ldk_chain.mine(1)
    # The opener pays the closing fee: carol gets the 100 000 sat pushed to her, whole.
    carol.sync_until(lambda: carol.balances()["total_onchain_balance_sats"] == before + 100_000,
                     what="carol's side of the mutual close")
    wait_for(lambda: boltd_channel(b, carol.node_id) is None
             or boltd_channel(b, carol.node_id)["state"] in ("ONCHAIN", "CLOSED"),
             timeout=30, what="boltd sees the close on chain")


def test_boltd_closes_unilaterally_while_ldk_node_is_away(node_factory, ldk_node_factory,
                                                           ldk_chain):
    b = boltd_on(node_factory, ldk_chain)
    carol = ldk_node_factory.get_node()
    fund_boltd(b, ldk_chain, 1_000_000)
    carol.fund(100_000)
    b.rpc.connect(carol.node_id, "127.0.0.1", carol.port)
    b.rpc.fundchannel(carol.node_id, CHANNEL_SAT, push_msat=100_000_000)
    carol.wait_event("ChannelPending")
    ldk_chain.mine(6)
    carol.call("sync")
    carol.wait_event("ChannelReady")
    wait_for(lambda: boltd_channel(b, carol.node_id)["state"] == "CHANNELD_NORMAL",
             timeout=30, what="CHANNELD_NORMAL")

    carol.stop()
    wait_for(lambda: not boltd_channel(b, carol.node_id)["peer_connected"], what="carol gone")
    res = b.rpc.close(carol.node_id, 1)
    assert res["type"] == "unilateral"
    wait_for(lambda: set(res["txids"]) <= set(ldk_chain.cli("getrawmempool")),
             what="boltd's commitment in the mempool")
    ldk_chain.mine(1)
    carol.start()
    carol.wait_event("ChannelClosed")
    # Carol's to_remote (one block CSV on anchor channels) is hers to sweep once LDK counts
    # the commitment safe from reorgs (6 blocks); then the sweep confirms.
    ldk_chain.mine(6)
    carol.call("sync")
    wait_for(lambda: ldk_chain.cli("getrawmempool"), timeout=30, what="carol's sweep broadcast")
    ldk_chain.mine(1)
    carol.sync_until(lambda: carol.balances()["total_onchain_balance_sats"] >= 100_000 + 95_000,
                     timeout=90, what="carol's to_remote swept")


def test_ldk_node_opens_to_boltd_and_force_closes(node_factory, ldk_node_factory, ldk_chain):
    b = boltd_on(node_factory, ldk_chain)
    info = b.rpc.getinfo()
    carol = ldk_node_factory.get_node()
    carol.fund(1_000_000)
    uc = carol.call("open_channel", node_id=info["id"],
                    address=f"127.0.0.1:{info['binding'][0]['port']}",
                    amount_sat=CHANNEL_SAT, push_msat=100_000_000)["user_channel_id"]
    carol.wait_event("ChannelPending", user_channel_id=uc)
    ldk_chain.mine(6)
    carol.call("sync")
    carol.wait_event("ChannelReady", user_channel_id=uc)
    wait_for(lambda: boltd_channel(b, carol.node_id)["state"] == "CHANNELD_NORMAL",
             timeout=30, what="CHANNELD_NORMAL")
    assert boltd_channel(b, carol.node_id)["opener"] == "remote"

    delay = carol.channel(uc)["force_close_spend_delay"]
    carol.call("force_close_channel", user_channel_id=uc, node_id=info["id"])
    carol.wait_event("ChannelClosed", user_channel_id=uc)
    wait_for(lambda: len(ldk_chain.cli("getrawmempool")) >= 1, what="commitment in the mempool")
    ldk_chain.mine(1)
    wait_for(lambda: boltd_channel(b, carol.node_id)["state"] in ("FUNDING_SPEND_SEEN", "ONCHAIN"),
             timeout=30, what="boltd sees carol's commitment")
    before = carol.balances()["total_onchain_balance_sats"]
    ldk_chain.mine(delay)
    carol.call("sync")
    ldk_chain.mine(6)
    carol.sync_until(lambda: carol.balances()["total_onchain_balance_sats"] > before + 300_000,
                     timeout=90, what="carol's delayed output swept")


def test_ldk_node_opens_to_boltd_and_closes_mutually(node_factory, ldk_node_factory, ldk_chain):
    b = boltd_on(node_factory, ldk_chain)
    info = b.rpc.getinfo()
    carol = ldk_node_factory.get_node()
    carol.fund(1_000_000)
    uc = carol.call("open_channel", node_id=info["id"],
                    address=f"127.0.0.1:{info['binding'][0]['port']}",
                    amount_sat=CHANNEL_SAT, push_msat=50_000_000)["user_channel_id"]
    carol.wait_event("ChannelPending", user_channel_id=uc)
    ldk_chain.mine(6)
    carol.call("sync")
    carol.wait_event("ChannelReady", user_channel_id=uc)
    wait_for(lambda: boltd_channel(b, carol.node_id)["state"] == "CHANNELD_NORMAL",
             timeout=30, what="CHANNELD_NORMAL")
    assert boltd_channel(b, carol.node_id)["to_us_msat"] == 50_000_000

    funds_before = boltd_funds(b)
    carol.call("close_channel", user_channel_id=uc, node_id=info["id"])
    carol.wait_event("ChannelClosed", user_channel_id=uc)
    wait_for(lambda: len(ldk_chain.cli("getrawmempool")) == 1, what="closing tx in the mempool")
    ldk_chain.mine(1)
    # boltd's 50 000 sat (carol opened, so she paid the closing fee) reach its wallet, directly
    # or through its sweeper (which waits for the close to be 6 blocks deep): a block a second
    # until they are there.
    def arrived():
        if boltd_funds(b) >= funds_before + 45_000:
            return True
        ldk_chain.mine(1)
        return False
    wait_for(arrived, timeout=60, interval=1, what="boltd's side of the mutual close in listfunds")
    assert boltd_funds(b) <= funds_before + 50_000

