"""The node on pyln-testing's chain: block height sync, and fee estimates that a test sets
through pyln-testing's bitcoind proxy reaching the node (through bcli)."""
from pyln.testing.fixtures import *  # noqa: F401,F403
from pyln.testing.utils import sync_blockheight


def test_node_follows_the_chain(node_factory, bitcoind):
    l1 = node_factory.get_node()
    assert l1.rpc.getinfo()["blockheight"] == 101
    bitcoind.generate_block(5)
    sync_blockheight(bitcoind, [l1])
    assert l1.is_synced_with_bitcoin()


def test_mocked_feerates_reach_the_node(node_factory):
    l1 = node_factory.get_node()
    # sat/kw; pyln-testing answers estimatesmartfee/getmempoolinfo itself, in BTC/kvB.
    l1.set_feerates((20000, 11000, 7500, 3750, 2000), wait_for_effect=True)
    estimates = l1.rpc.feerates("perkw")["perkw"]["estimates"]
    assert [(e["blockcount"], e["feerate"]) for e in estimates] == [
        (2, 20000), (6, 11000), (12, 7500), (100, 3750)]
