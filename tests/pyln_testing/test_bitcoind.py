"""devchain as pyln-testing's `bitcoind`: the calls its BitcoinD class and plugin tests make."""
from decimal import Decimal

from pyln.testing.fixtures import *  # noqa: F401,F403
from pyln.testing.utils import wait_for


def test_fixture_chain_has_spendable_coins(bitcoind):
    # The fixture mined 101 blocks and created the "lightningd-tests" wallet.
    info = bitcoind.rpc.getblockchaininfo()
    assert info["chain"] == "regtest" and info["blocks"] == 101
    assert bitcoind.rpc.getnetworkinfo()["version"] >= 200100
    wallet = bitcoind.rpc.getwalletinfo()
    assert wallet["walletname"] == "lightningd-tests"
    assert wallet["balance"] >= 1
    assert bitcoind.rpc.getbalance() == wallet["balance"]
    assert bitcoind.rpc.listwallets() == ["lightningd-tests"]


def test_send_and_mine_and_look_up(bitcoind):
    addr = bitcoind.rpc.getnewaddress()
    txid = bitcoind.send_and_mine_block(addr, 150_000)
    best = bitcoind.rpc.getbestblockhash()
    block = bitcoind.rpc.getblock(best)
    assert txid in block["tx"] and block["height"] == 102
    raw = bitcoind.rpc.getrawtransaction(txid)
    decoded = bitcoind.rpc.decoderawtransaction(raw, True)
    assert decoded["txid"] == txid
    verbose = bitcoind.rpc.getrawtransaction(txid, 1)
    assert any(o["value"] == Decimal("0.00150000") and o["scriptPubKey"]["address"] == addr
               for o in verbose["vout"])
    coins = bitcoind.rpc.listunspent()
    assert all({"txid", "vout", "amount", "confirmations", "spendable"} <= set(c) for c in coins)
    bitcoind.wait_for_log(r"UpdateTip: new best={} height=102".format(best))


def test_mempool_views_and_prioritisation(bitcoind):
    txid = bitcoind.rpc.sendtoaddress(bitcoind.rpc.getnewaddress(), 0.001)
    assert bitcoind.rpc.getrawmempool() == [txid]
    entry = bitcoind.rpc.getrawmempool(True)[txid]
    assert entry["fees"]["ancestor"] > 0 and entry["ancestorsize"] > 0
    # A negative delta keeps it out of blocks (as simple_reorg relies on) ...
    assert bitcoind.rpc.prioritisetransaction(txid, None, -1_000_000) is True
    bitcoind.generate_block(1)
    assert bitcoind.rpc.getrawmempool() == [txid]
    # ... and restoring it lets it be mined.
    bitcoind.rpc.prioritisetransaction(txid, None, 1_000_000)
    bitcoind.generate_block(1, wait_for_mempool=txid)
    assert bitcoind.rpc.getrawmempool() == []


def test_simple_reorg_moves_a_transaction(bitcoind):
    txid = bitcoind.rpc.sendtoaddress(bitcoind.rpc.getnewaddress(), 0.002)
    bitcoind.generate_block(1, wait_for_mempool=txid)
    height = bitcoind.rpc.getblockcount()
    # Re-mine from `height` with the transaction pushed 2 blocks later.
    bitcoind.simple_reorg(height, shift=2)
    confirmed_in = bitcoind.rpc.getrawtransaction(txid, 1)["blockhash"]
    assert bitcoind.rpc.getblock(confirmed_in)["height"] == height + 2


def test_saved_blocks_restore_on_a_fresh_chain(bitcoind):
    blocks = bitcoind.save_blocks()
    assert len(blocks) == 101
    best = bitcoind.rpc.getbestblockhash()
    first = bitcoind.rpc.getblockhash(1)
    bitcoind.rpc.invalidateblock(first)
    bitcoind.wait_for_log(r"InvalidChainFound: invalid block=.*  height=1")
    assert bitcoind.rpc.getblockcount() == 0
    bitcoind.rpc.reconsiderblock(first)
    wait_for(lambda: bitcoind.rpc.getbestblockhash() == best)
    # Submitting a block already known answers "duplicate", as bitcoind does.
    assert bitcoind.rpc.submitblock(blocks[0]) == "duplicate"
