"""The watchtower hook (issue 15): `commitment_revocation` once per revoked counterparty
commitment, durable across kill -9, and the penalty it carries really punishes a peer that
broadcasts a revoked commitment on devchain (as boltd's own ChainMonitor does)."""

import json
import shutil
import time
from pathlib import Path

from pyln.client import RpcError

from conftest import reserve_port, wait_for
from test_channels import chain, connect, fund, options, wait_state  # noqa: F401 -- fixture

PLUGINS = Path(__file__).resolve().parent / "plugins"


def recorder(directory):
    """A private copy of the recorder (its .jsonl and .mode files live next to it)."""
    p = Path(directory) / "revocation_recorder.py"
    shutil.copy(PLUGINS / "revocation_recorder.py", p)
    return p


def seen(rec):
    try:
        return [json.loads(line) for line in Path(str(rec) + ".jsonl").read_text().splitlines()
                if line.strip()]
    except FileNotFoundError:
        return []


def commitnums(rec):
    return [s["commitnum"] for s in seen(rec)]


def pay(payer, payee, msat, label):
    """Pays once the channel is usable again (after a reconnection the peers first
    re-establish it: until then there is no route)."""
    inv = payee.rpc.invoice(msat, label, label)["bolt11"]

    def paid():
        try:
            return payer.rpc.pay(inv)["status"] == "complete"
        except RpcError as e:
            if "Could not find a route" not in str(e):
                raise
            return False
    wait_for(paid, timeout=30, interval=0.5, what=f"payment {label}")


def open_channel(a, b, chain, sat=500_000):
    fund(a, chain, 1_000_000)
    b_id = connect(a, b)
    r = a.rpc.fundchannel(b_id, sat)
    chain.mine(6)
    wait_state(a, "CHANNELD_NORMAL")
    wait_state(b, "CHANNELD_NORMAL")
    return r["channel_id"]


def test_commitment_revocation_per_revoked_commitment_across_kill_9(node_factory, chain,
                                                                     directory):
    rec = recorder(directory)
    a = node_factory.get_node(options=options(chain))
    b = node_factory.get_node(options={**options(chain), "plugin": str(rec)})
    cid = open_channel(a, b, chain)

    # a funded the channel, so each of a's commitments has a to_local: b hears of every
    # one a revokes, two per payment (the HTLC's add and its removal), counted from 0.
    for i in range(3):
        pay(a, b, 20_000_000, f"ab{i}")
    for i in range(2):
        pay(b, a, 5_000_000, f"ba{i}")
    wait_for(lambda: len(seen(rec)) >= 10, timeout=30, what="10 revocations")
    assert commitnums(rec) == list(range(10))
    addresses = {x["bech32"] for x in b.rpc.listaddresses()["addresses"] if "bech32" in x}
    for s in seen(rec):
        assert set(s) == {"commitment_txid", "penalty_tx", "channel_id", "commitnum"}
        assert s["channel_id"] == cid
        tx = chain.cli("decoderawtransaction", s["penalty_tx"])
        assert [i["txid"] for i in tx["vin"]] == [s["commitment_txid"]]
        # to_local's revocation path: signature, 1, witness script.
        assert len(tx["vin"][0]["txinwitness"]) == 3
        assert tx["vin"][0]["txinwitness"][1] == "01"
        [out] = tx["vout"]
        assert out["scriptPubKey"]["address"] in addresses

    # The plugin takes the next call but never answers; b is killed meanwhile, with the
    # call after it queued. After the restart the unanswered call comes again and the
    # queued one follows: at-least-once, nothing lost, only the call in flight repeated.
    Path(str(rec) + ".mode").write_text("hang")
    pay(a, b, 20_000_000, "during")
    wait_for(lambda: len(seen(rec)) == 11, timeout=30, what="the hanging call")
    # Killed once the payment is settled on both sides and b's channel manager written
    # (LDK force-closes a channel whose manager is older than its monitor: a kill -9 in
    # that window is a different test).
    for n in (a, b):
        wait_for(lambda: not n.rpc.listpeerchannels()["channels"][0]["htlcs"],
                 what="no HTLC in flight")
    time.sleep(1.5)
    b.kill()
    Path(str(rec) + ".mode").unlink()
    b.start()
    # a reconnects to b (same port) by itself.
    wait_state(b, "CHANNELD_NORMAL")
    wait_for(lambda: len(seen(rec)) >= 13, timeout=30, what="queued revocations after restart")
    assert commitnums(rec) == list(range(11)) + [10, 11]
    assert seen(rec)[10] == seen(rec)[11]
    pay(a, b, 20_000_000, "after")
    wait_for(lambda: len(seen(rec)) >= 15, timeout=30, what="revocations after restart")
    assert commitnums(rec)[13:] == [12, 13]


def confirmed_sat(node):
    return sum(o["amount_msat"] for o in node.rpc.listfunds()["outputs"]
               if o["status"] == "confirmed") // 1000


def test_revoked_commitment_broadcast_is_punished(node_factory, chain, directory):
    rec = recorder(directory)
    a = node_factory.get_node(options={**options(chain), "plugin": str(rec)},
                              plugins=[str(PLUGINS / "bookkeeper.py")])
    b = node_factory.get_node(options=options(chain))
    open_channel(a, b, chain)
    a_id = a.rpc.getinfo()["id"]
    # LDK lets at most 10% of the channel be in flight: b's balance comes in four parts.
    for i in range(4):
        pay(a, b, 45_000_000, f"first{i}")

    # `pay` answers at the preimage; the HTLC leaves b's commitment a round trip later.
    wait_for(lambda: not b.rpc.listpeerchannels()["channels"][0].get("htlcs"),
             what="no HTLC left in b's commitment")
    # A copy of b as it is now; b goes on, and its commitment of now is revoked.
    b.stop()
    # Elsewhere, and dialling no one: a must never reach it.
    stale = node_factory.get_node(name="stale", start=False,
                                  options={**b.options, "dev-no-reconnect": None,
                                           "bind-addr": f"127.0.0.1:{reserve_port()}"})
    shutil.copytree(b.lightning_dir, stale.lightning_dir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("lightning-rpc", "log", "stdout", "stderr"))
    b.start()
    # a reconnects to b (same port) by itself.
    wait_state(b, "CHANNELD_NORMAL")
    before = len(seen(rec))
    pay(a, b, 40_000_000, "second")
    wait_for(lambda: len(seen(rec)) >= before + 2, timeout=30, what="b's revocations")
    b.stop()

    # The stale copy, never reconnected, broadcasts the commitment b has revoked.
    stale.start()
    closed = stale.rpc.close(a_id, unilateraltimeout=1)
    assert closed["type"] == "unilateral"
    [cheat_txid] = closed["txids"]
    wait_for(lambda: cheat_txid in chain.cli("getrawmempool"), timeout=30,
             what="the revoked commitment in the mempool")
    [hook] = [s for s in seen(rec) if s["commitment_txid"] == cheat_txid]

    # The penalty the plugin got spends b's to_local (all b had then) and the mempool takes it.
    cheat = chain.cli("getrawtransaction", cheat_txid, 1)
    penalty = chain.cli("decoderawtransaction", hook["penalty_tx"])
    [spent] = penalty["vin"]
    to_local = cheat["vout"][spent["vout"]]
    assert to_local["scriptPubKey"]["type"] == "witness_v0_scripthash"
    assert round(to_local["value"] * 100_000_000) == 180_000
    [accept] = chain.cli("testmempoolaccept", json.dumps([hook["penalty_tx"]]))
    assert accept["allowed"], accept

    # boltd's own ChainMonitor punishes too: once swept, a's wallet holds the whole channel
    # (its own side and b's to_local), less fees.
    wallet_before = confirmed_sat(a)

    def punished():
        chain.mine(1)
        return confirmed_sat(a) >= wallet_before + 500_000 - 10_000
    wait_for(punished, timeout=120, interval=1, what="the channel's funds in a's wallet")
    assert chain.cli("testmempoolaccept", json.dumps([hook["penalty_tx"]]))[0]["allowed"] is False
    # The bookkeeper sees the punishment as Core Lightning tags it.
    moves = wait_for(lambda: [m for m in a.rpc.call("bkpr-sums")["moves"]
                              if m["primary_tag"] == "penalty"], what="a penalty coin movement")
    assert all(m["credit_msat"] > 0 for m in moves)


def test_a_restart_with_a_watchtower_plugin_writes_nothing_before_init(node_factory, chain,
                                                                        directory):
    """A channel that never had an update, restarted with a `commitment_revocation` plugin
    for the first time: its initial commitment's penalty is prepared without a write
    before plugins' `init` (a db_write plugin sees every write from its `init` on), and
    the first payment's revocation still reaches the plugin."""
    rec = recorder(directory)
    a = node_factory.get_node(options=options(chain))
    b = node_factory.get_node(options=options(chain))
    open_channel(a, b, chain)
    b.stop()
    b.plugins = [str(PLUGINS / "backup.py"), str(rec)]
    b.start()
    assert "before init" not in b.daemon_log()[b._start_offset:]
    pay(a, b, 20_000_000, "first")
    wait_for(lambda: len(seen(rec)) >= 2, timeout=30, what="2 revocations")
    assert commitnums(rec)[:2] == [0, 1]
