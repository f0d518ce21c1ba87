"""The on-chain wallet (issue 12) through pyln-client's LightningRpc against a devchain:
funding, withdrawals, a bookkeeper plugin's coin_movement sums, reorgs, restarts,
reservations, concurrent spends, kill -9 around a broadcast, bad input."""

import threading
from pathlib import Path

import pytest
from pyln.client import RpcError

from conftest import wait_for
from test_chain import Devchain

PLUGINS = Path(__file__).resolve().parent / "plugins"
BOOKKEEPER = str(PLUGINS / "bookkeeper.py")
CRASH_ENV = "BOLTD_DEV_CRASH_WITHDRAW"


@pytest.fixture
def chain(directory):
    d = Devchain(directory / "chain")
    d.mine(101)
    yield d
    d.stop()


def options(chain):
    return {"developer": None, "dev-bitcoind-poll": "1",
            "bitcoin-datadir": str(chain.datadir), "bitcoin-rpcconnect": "127.0.0.1",
            "bitcoin-rpcport": str(chain.port)}


def total_msat(node):
    return sum(o["amount_msat"] for o in node.rpc.listfunds()["outputs"])


def confirmed(node, n):
    """Waits until the wallet has exactly `n` outputs, all confirmed."""
    def check():
        outs = node.rpc.listfunds()["outputs"]
        return len(outs) == n and all(o["status"] == "confirmed" for o in outs)
    wait_for(check, timeout=20, what=f"{n} confirmed outputs")


def all_confirmed(node):
    wait_for(lambda: all(t["blockheight"] > 0
                         for t in node.rpc.listtransactions()["transactions"]),
             timeout=20, what="every wallet transaction confirmed")
    wait_for(lambda: all(o["status"] == "confirmed"
                         for o in node.rpc.listfunds()["outputs"]),
             timeout=20, what="every output confirmed")


def books_balance(node):
    """Waits until the bookkeeper's wallet account equals listfunds' total (notifications
    arrive after the block is applied); returns its sums."""
    def check():
        sums = node.rpc.call("bkpr-sums")
        return sums if sums["balances"].get("wallet") == total_msat(node) else None
    return wait_for(check, timeout=20, what="bookkeeper == listfunds")


def fund(node, chain, sats):
    """One faucet payment per amount to fresh addresses (bech32 and p2tr in turn), mined."""
    for i, sat in enumerate(sats):
        kind = "bech32" if i % 2 == 0 else "p2tr"
        addr = node.rpc.newaddr(kind)[kind]
        chain.cli("sendtoaddress", addr, f"{sat / 100_000_000:.8f}")
    chain.mine(1)


def test_bookkeeper_sums_equal_listfunds_after_deposits_withdrawals_and_a_reorg(
        node_factory, chain):
    node = node_factory.get_node(options=options(chain), plugins=[BOOKKEEPER])
    fund(node, chain, [100_000, 200_000, 300_000])
    confirmed(node, 3)
    sums = books_balance(node)
    assert total_msat(node) == 600_000_000
    deposit = sums["moves"][0]
    assert deposit["version"] == 2 and deposit["coin_type"] == "bcrt"
    assert deposit["primary_tag"] == "deposit" and deposit["tags"] == ["deposit"]
    assert deposit["blockheight"] == 102 and deposit["debit_msat"] == 0
    assert deposit["utxo"] == f"{deposit['utxo_txid']}:{deposit['vout']}"
    # The process's one balance_snapshot: the first block once polling runs (sent after
    # that block's movements).
    snaps = wait_for(lambda: node.rpc.call("bkpr-sums")["snapshots"], what="balance_snapshot")
    assert len(snaps) == 1, snaps
    assert snaps[0]["accounts"] == [{"account_id": "wallet", "balance_msat": 600_000_000,
                                     "coin_type": "bcrt"}]

    dest = chain.cli("getnewaddress")
    w = node.rpc.withdraw(dest, 250_000, feerate="3000perkw")
    ext = wait_for(lambda: [m for m in node.rpc.call("bkpr-sums")["moves"]
                            if m["account_id"] == "external"], what="external deposit")
    assert len(ext) == 1 and ext[0]["credit_msat"] == 250_000_000
    assert ext[0]["blockheight"] == 0 and ext[0]["originating_account"] == "wallet"
    hashes = chain.mine(1)
    all_confirmed(node)
    sums = books_balance(node)
    withdrawals = [m for m in sums["moves"] if m["primary_tag"] == "withdrawal"]
    assert withdrawals and all(m["spending_txid"] == w["txid"] for m in withdrawals)

    # Reorg out the withdrawal's block: it goes back to the mempool and is mined again.
    chain.cli("invalidateblock", hashes[0])
    chain.mine(2)
    wait_for(lambda: node.rpc.getinfo()["blockheight"] == chain.height(), timeout=20)
    all_confirmed(node)
    sums = books_balance(node)
    assert len(sums["snapshots"]) == 1


def test_restart_keeps_funds_and_reservations(node_factory, chain):
    node = node_factory.get_node(options=options(chain))
    fund(node, chain, [500_000, 600_000])
    confirmed(node, 2)
    prep = node.rpc.txprepare([{chain.cli("getnewaddress"): 100_000}])
    reserved = [o for o in node.rpc.listfunds()["outputs"] if o["reserved"]]
    assert len(reserved) == 1
    node.restart()
    after = node.rpc.listfunds()["outputs"]
    assert [o for o in after if o["reserved"]] == reserved
    assert total_msat(node) == 1_100_000_000
    # txprepare's transaction itself is not kept over a restart; its coin stays reserved
    # until the reservation ends or unreserveinputs lowers it.
    with pytest.raises(RpcError, match="not an unreleased txid"):
        node.rpc.txsend(prep["txid"])
    node.rpc.unreserveinputs(prep["psbt"])
    assert not any(o["reserved"] for o in node.rpc.listfunds()["outputs"])
    # kill -9 and restart: same.
    node.kill()
    node.start()
    assert total_msat(node) == 1_100_000_000


def test_concurrent_withdraws_never_spend_the_same_coin(node_factory, chain):
    node = node_factory.get_node(options=options(chain))
    fund(node, chain, [200_000] * 6)
    confirmed(node, 6)
    dest = chain.cli("getnewaddress")
    results, errors = [], []

    def one():
        try:
            results.append(node.rpc.withdraw(dest, 150_000, feerate="2000perkw"))
        except RpcError as e:
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6, errors
    assert all(e.error["code"] == 301 for e in errors), errors
    txs = {t["hash"]: t for t in node.rpc.listtransactions()["transactions"]}
    spent = [(i["txid"], i["index"]) for r in results for i in txs[r["txid"]]["inputs"]]
    assert len(spent) == len(set(spent)) == 6


@pytest.mark.parametrize("point", ["before_broadcast", "after_broadcast"])
def test_kill_during_withdraw_loses_and_double_counts_nothing(node_factory, chain,
                                                             monkeypatch, point):
    node = node_factory.get_node(options=options(chain), may_fail=True)
    fund(node, chain, [400_000])
    confirmed(node, 1)
    node.stop()
    monkeypatch.setenv(CRASH_ENV, point)
    node.start()
    monkeypatch.delenv(CRASH_ENV)
    with pytest.raises((RpcError, OSError, ValueError)):
        node.rpc.withdraw(chain.cli("getnewaddress"), 100_000, feerate="2000perkw")
    node.proc.wait(timeout=10)
    node.start()
    mempool = chain.cli("getrawmempool")
    chain.mine(1)
    wait_for(lambda: node.rpc.getinfo()["blockheight"] == chain.height(), timeout=20)
    if point == "before_broadcast":
        assert mempool == []
        outs = node.rpc.listfunds()["outputs"]
        # Not sent: the coin is still ours, reserved (the signed transaction may be out).
        assert [(o["amount_msat"], o["reserved"]) for o in outs] == [(400_000_000, True)]
    else:
        assert len(mempool) == 1
        all_confirmed(node)
        outs = node.rpc.listfunds()["outputs"]
        # Sent and mined: only the change is left, counted once.
        assert len(outs) == 1 and outs[0]["amount_msat"] < 300_000_000
        assert not outs[0]["reserved"]


def test_bad_input_is_refused_and_reserves_nothing(node_factory, chain):
    node = node_factory.get_node(options=options(chain))
    fund(node, chain, [100_000])
    confirmed(node, 1)
    dest = chain.cli("getnewaddress")
    cases = [
        (lambda: node.rpc.withdraw("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", 1000), -1,
         "Destination address is not on network regtest"),
        (lambda: node.rpc.withdraw(dest, 1000, feerate="99999999perkw"), -32602,
         "Invalid feerate"),
        (lambda: node.rpc.withdraw(dest, "2100000000000001sat"), 300, "21 million"),
        (lambda: node.rpc.withdraw(dest, 200), 302, "would be dust"),
        (lambda: node.rpc.withdraw(dest, 1_000_000), 301, "Could not afford"),
        (lambda: node.rpc.reserveinputs("notapsbt"), -32602, "psbt"),
        (lambda: node.rpc.signpsbt("cHNidP8Bgarbage"), -32602, "psbt"),
        (lambda: node.rpc.signpsbt("cHNidP8BAAoCAAAAAAAAAAAAAA=="), -1, "No wallet inputs to sign"),
        (lambda: node.rpc.sendpsbt("cHNidP8BAAoCAAAAAAAAAAAAAA=="), -1, "PSBT not finalizeable"),
        (lambda: node.rpc.newaddr("p2pkh"), -32602, "'addresstype' should be"),
    ]
    for call, code, text in cases:
        with pytest.raises(RpcError) as e:
            call()
        assert e.value.error["code"] == code, e.value.error
        assert text in e.value.error["message"], e.value.error
    assert not any(o["reserved"] for o in node.rpc.listfunds()["outputs"])
    assert chain.cli("getrawmempool") == []
