"""Channels (issue 13) between boltd nodes on a devchain through pyln-client: the
openchannel hook rejecting and accepting, channel notifications, kill -9 around an open,
a peer that disappears mid-open, a node restored from its db_write backup copy."""

import shutil
import threading
from pathlib import Path

import pytest
from pyln.client import RpcError

from conftest import wait_for
from test_chain import Devchain

PLUGINS = Path(__file__).resolve().parent / "plugins"
OPENCHANNEL = str(PLUGINS / "openchannel_hook.py")
BACKUP = str(PLUGINS / "backup.py")


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


def fund(node, chain, sat):
    addr = node.rpc.newaddr("bech32")["bech32"]
    chain.cli("sendtoaddress", addr, f"{sat / 100_000_000:.8f}")
    chain.mine(1)
    wait_for(lambda: any(o["status"] == "confirmed" for o in node.rpc.listfunds()["outputs"]),
             timeout=20, what="confirmed funds")


def connect(a, b):
    info = b.rpc.getinfo()
    a.rpc.connect(f"{info['id']}@127.0.0.1:{info['binding'][0]['port']}")
    return info["id"]


def state(node):
    chans = node.rpc.listpeerchannels()["channels"]
    return chans[0]["state"] if chans else None


def wait_state(node, want, timeout=30):
    wait_for(lambda: state(node) == want, timeout=timeout, what=want)


def events(node):
    return node.rpc.call("oc-events")["events"]


def test_openchannel_hook_rejects_then_accepts_and_notifications_follow(node_factory, chain):
    a = node_factory.get_node(options=options(chain))
    b = node_factory.get_node(options=options(chain), plugins=[OPENCHANNEL])
    fund(a, chain, 1_000_000)
    b_id = connect(a, b)

    b.rpc.call("oc-mode", {"mode": "reject:no thanks"})
    with pytest.raises(RpcError, match="You gave bad parameters: no thanks"):
        a.rpc.fundchannel(b_id, 200_000)
    hook = events(b)[0]["hook"]
    assert hook["id"] == a.rpc.getinfo()["id"]
    assert hook["funding_msat"] == 200_000_000 and hook["push_msat"] == 0
    assert hook["channel_flags"] == 1
    assert "anchors/even" in hook["channel_type"]["names"]
    for k in ("dust_limit_msat", "max_htlc_value_in_flight_msat", "htlc_minimum_msat",
              "feerate_per_kw", "to_self_delay", "max_accepted_htlcs"):
        assert isinstance(hook[k], int), k
    # Nothing stays reserved after the refused open.
    wait_for(lambda: not any(o["reserved"] for o in a.rpc.listfunds()["outputs"]),
             what="funding inputs released")
    assert a.rpc.listpeerchannels()["channels"] == []

    b.rpc.call("oc-mode", {"mode": "continue"})
    r = a.rpc.fundchannel(b_id, 200_000)
    wait_state(b, "CHANNELD_AWAITING_LOCKIN")
    chain.mine(6)
    wait_state(a, "CHANNELD_NORMAL")
    wait_state(b, "CHANNELD_NORMAL")

    def notes():
        return [e for e in events(b) if "hook" not in e]
    wait_for(lambda: len([e for e in notes() if "channel_state_changed" in e]) >= 2,
             what="two state changes")
    opened = [e["channel_opened"] for e in notes() if "channel_opened" in e]
    assert opened == [{"id": a.rpc.getinfo()["id"], "funding_msat": 200_000_000,
                       "funding_txid": r["txid"], "channel_ready": False}]
    changes = [e["channel_state_changed"] for e in notes() if "channel_state_changed" in e]
    first, second = changes[0], changes[1]
    assert "old_state" not in first
    assert first["new_state"] == "CHANNELD_AWAITING_LOCKIN"
    assert first["cause"] == "remote" and first["message"] == "new channel opened"
    assert first["channel_id"] == r["channel_id"]
    assert second["old_state"] == "CHANNELD_AWAITING_LOCKIN"
    assert second["new_state"] == "CHANNELD_NORMAL" and second["message"] == "Lockin complete"
    assert second["short_channel_id"] is not None
    hist = b.rpc.listpeerchannels()["channels"][0]["state_changes"]
    assert [h["new_state"] for h in hist] == ["CHANNELD_AWAITING_LOCKIN", "CHANNELD_NORMAL"]


def test_kill_9_after_funding_broadcast_keeps_the_channel(node_factory, chain):
    a = node_factory.get_node(options=options(chain))
    b = node_factory.get_node(options=options(chain))
    fund(a, chain, 1_000_000)
    b_id = connect(a, b)
    r = a.rpc.fundchannel(b_id, 300_000)
    a.kill()
    a.start()
    chans = a.rpc.listpeerchannels()["channels"]
    assert [c["channel_id"] for c in chans] == [r["channel_id"]]
    assert chans[0]["state"] == "CHANNELD_AWAITING_LOCKIN"
    # The funding inputs are spent, not back in the wallet.
    assert all(o["txid"] != r["txid"] or o["output"] != r["outnum"]
               for o in a.rpc.listfunds()["outputs"])
    connect(a, b)
    chain.mine(6)
    wait_state(a, "CHANNELD_NORMAL")
    wait_state(b, "CHANNELD_NORMAL")


def test_peer_disappearing_mid_open_fails_cleanly(node_factory, chain):
    a = node_factory.get_node(options=options(chain))
    b = node_factory.get_node(options=options(chain), plugins=[OPENCHANNEL], may_fail=True)
    fund(a, chain, 1_000_000)
    b_id = connect(a, b)
    # b's hook hangs; b dies before answering.
    b.rpc.call("oc-mode", {"mode": "hang"})
    err = []

    def open_():
        try:
            a.rpc.fundchannel(b_id, 200_000)
        except RpcError as e:
            err.append(e)
    t = threading.Thread(target=open_)
    t.start()
    wait_for(lambda: a.rpc.listpeerchannels()["channels"], what="open started")
    b.kill()
    t.join(timeout=60)
    assert not t.is_alive()
    assert err and "Peer disconnected" in str(err[0]), err
    wait_for(lambda: a.rpc.listpeerchannels()["channels"] == [], what="no channel left")
    assert not any(o["reserved"] for o in a.rpc.listfunds()["outputs"])
    assert a.rpc.getinfo()["num_pending_channels"] == 0


def test_node_restored_from_db_write_backup_has_its_channels(node_factory, chain):
    a = node_factory.get_node(options=options(chain), plugins=[BACKUP])
    b = node_factory.get_node(options=options(chain))
    fund(a, chain, 1_000_000)
    b_id = connect(a, b)
    r = a.rpc.fundchannel(b_id, 400_000)
    chain.mine(6)
    wait_state(a, "CHANNELD_NORMAL")
    a.stop()
    # The manager's last write at a stop reaches the db_write plugin (plugins stop after
    # the channel loop), so the copy is as fresh as the live database.
    assert "persisting the channel manager" not in a.daemon_log()
    live = a.net_dir / "lightningd.sqlite3"
    live.unlink()
    shutil.copy(a.net_dir / "backup.sqlite3", live)
    a.start()
    chans = a.rpc.listpeerchannels()["channels"]
    assert [c["channel_id"] for c in chans] == [r["channel_id"]]
    assert chans[0]["state"] == "CHANNELD_NORMAL"
    connect(a, b)
    wait_for(lambda: a.rpc.listpeerchannels()["channels"][0].get("reestablished"),
             what="reestablished")
    assert a.rpc.close(b_id)["type"] == "mutual"


def test_fundchannel_keeps_the_anchor_reserve(node_factory, chain):
    a = node_factory.get_node(options=options(chain))
    b = node_factory.get_node(options=options(chain))
    fund(a, chain, 100_000)
    b_id = connect(a, b)
    with pytest.raises(RpcError, match="25000sat on-chain reserve for fee-bumping anchor"):
        a.rpc.fundchannel(b_id, 90_000)
    assert not any(o["reserved"] for o in a.rpc.listfunds()["outputs"])
    assert a.rpc.listpeerchannels()["channels"] == []
    # Within the reserve's limit it opens.
    a.rpc.fundchannel(b_id, 60_000)
    wait_state(a, "CHANNELD_AWAITING_LOCKIN")


BOOKKEEPER = str(PLUGINS / "bookkeeper.py")


def books(node):
    return node.rpc.call("bkpr-sums")


def funds_msat(node):
    f = node.rpc.listfunds()
    return (sum(o["amount_msat"] for o in f["outputs"] if o["status"] == "confirmed"),
            sum(c["our_amount_msat"] for c in f["channels"]))


def chan_moves(node, account):
    return [m for m in books(node)["moves"] if m["account_id"] == account]


def test_channel_coin_movements_and_bookkeeper_sums_through_mutual_and_unilateral_close(
        node_factory, chain):
    a = node_factory.get_node(options=options(chain), plugins=[BOOKKEEPER])
    b = node_factory.get_node(options=options(chain))
    fund(a, chain, 2_000_000)
    b_id = connect(a, b)

    # Open: the channel account gets our funds (`opener`), at the funding outpoint.
    r = a.rpc.fundchannel(b_id, 300_000)
    chain.mine(6)
    wait_state(a, "CHANNELD_NORMAL")
    cid = r["channel_id"]
    wait_for(lambda: chan_moves(a, cid), what="channel_open")
    [opened] = chan_moves(a, cid)
    assert opened["primary_tag"] == "channel_open" and opened["extra_tags"] == ["opener"]
    assert opened["credit_msat"] == 300_000_000 and opened["debit_msat"] == 0
    assert opened["output_msat"] == 300_000_000
    assert opened["utxo"] == f"{r['txid']}:{r['outnum']}"
    assert opened["peer_id"] == b_id
    assert opened["blockheight"] > 0
    wait_for(lambda: books(a)["balances"].get("wallet") == funds_msat(a)[0],
             what="wallet account == listfunds outputs")

    # Mutual close: the account is debited our balance, with the closing transaction;
    # once it confirms, wallet + channel accounts equal listfunds.
    closed = a.rpc.close(b_id)
    assert closed["type"] == "mutual"
    wait_for(lambda: len(chan_moves(a, cid)) == 2, what="channel_close")
    close = chan_moves(a, cid)[1]
    assert close["primary_tag"] == "channel_close"
    assert close["debit_msat"] == 300_000_000 and close["credit_msat"] == 0
    assert close["utxo"] == opened["utxo"]
    assert close["spending_txid"] == closed["txids"][0]
    assert close["output_count"] >= 1
    chain.mine(1)
    wait_for(lambda: a.rpc.listpeerchannels()["channels"] == [] or state(a) == "ONCHAIN",
             what="closed")

    def books_match():
        bal = books(a)["balances"]
        outs, chans = funds_msat(a)
        return sum(bal.values()) == outs + chans and bal.get(cid) == 0
    wait_for(books_match, timeout=30, what="bookkeeper == listfunds after the mutual close")

    # Unilateral close with the peer gone: debited at close; after to_self_delay the
    # sweep lands in the wallet and the books match listfunds again.
    r2 = a.rpc.fundchannel(b_id, 200_000)
    chain.mine(6)
    wait_for(lambda: any(c["channel_id"] == r2["channel_id"] and c["state"] == "CHANNELD_NORMAL"
                         for c in a.rpc.listpeerchannels()["channels"]), what="second channel")
    cid2 = r2["channel_id"]
    delay = [c for c in a.rpc.listpeerchannels()["channels"]
             if c["channel_id"] == cid2][0]["their_to_self_delay"]
    b.stop()
    u = a.rpc.close(cid2, unilateraltimeout=1)
    assert u["type"] == "unilateral"
    wait_for(lambda: len(chan_moves(a, cid2)) == 2, what="second channel_close")
    assert chan_moves(a, cid2)[1]["debit_msat"] == 200_000_000
    chain.mine(1 + delay)

    def swept():
        if books_match_all():
            return True
        chain.mine(1)
        return False

    def books_match_all():
        bal = books(a)["balances"]
        outs, chans = funds_msat(a)
        return (bal.get(cid2) == 0 and chans == 0
                and sum(bal.values()) == outs)
    # The sweep needs its own block(s); each try mines one.
    wait_for(swept, timeout=120, interval=1, what="swept into the wallet, books == listfunds")


def test_balance_snapshot_has_the_channel_account(node_factory, chain):
    a = node_factory.get_node(options=options(chain), plugins=[BOOKKEEPER])
    b = node_factory.get_node(options=options(chain))
    fund(a, chain, 1_000_000)
    b_id = connect(a, b)
    r = a.rpc.fundchannel(b_id, 250_000)
    chain.mine(6)
    wait_state(a, "CHANNELD_NORMAL")
    a.restart()
    chain.mine(1)
    wait_for(lambda: books(a)["snapshots"], what="balance_snapshot")
    [snap] = books(a)["snapshots"]
    rows = {x["account_id"]: x["balance_msat"] for x in snap["accounts"]}
    outs, chans = funds_msat(a)
    assert rows == {"wallet": outs, r["channel_id"]: chans}
    assert all(x["coin_type"] == "bcrt" for x in snap["accounts"])


def test_kill_9_during_mutual_close_resolves_into_listfunds(node_factory, chain):
    a = node_factory.get_node(options=options(chain))
    b = node_factory.get_node(options=options(chain))
    fund(a, chain, 1_000_000)
    b_id = connect(a, b)
    a.rpc.fundchannel(b_id, 300_000)
    chain.mine(6)
    wait_state(a, "CHANNELD_NORMAL")
    wait_state(b, "CHANNELD_NORMAL")
    before = sum(o["amount_msat"] for o in a.rpc.listfunds()["outputs"])
    # Start the close without waiting for it and kill -9 while shutdown is negotiated.
    t = threading.Thread(target=lambda: pytest.raises(Exception, a.rpc.close, b_id), daemon=True)
    t.start()
    wait_for(lambda: state(a) != "CHANNELD_NORMAL", interval=0.01, what="close under way")
    a.kill()
    t.join(10)
    a.start()
    connect(a, b)
    # After the restart the close completes (or is redone by hand) and confirms.
    if state(a) in ("CHANNELD_NORMAL", "CHANNELD_SHUTTING_DOWN"):
        try:
            a.rpc.close(b_id)
        except RpcError:
            pass

    def resolved():
        chain.mine(1)
        outs = a.rpc.listfunds()
        return (outs["channels"] == []
                and all(o["status"] == "confirmed" for o in outs["outputs"])
                and sum(o["amount_msat"] for o in outs["outputs"]) > before + 290_000_000)
    wait_for(resolved, timeout=60, interval=1, what="closing output in listfunds")


def test_monitor_write_refused_by_db_write_stops_the_node_cleanly(node_factory, chain, monkeypatch,
                                                                  directory):
    # A db_write plugin refusing a channel monitor write: LDK panics on an unrecoverable
    # monitor persist, so boltd must freeze the channel and stop instead (no panic), and
    # the channel must come back whole on restart.
    armed = directory / "armed"
    monkeypatch.setenv("BACKUP_REFUSE_MARKER", "'monitors'")
    monkeypatch.setenv("BACKUP_ARMED_FILE", str(armed))
    a = node_factory.get_node(options=options(chain), plugins=[BACKUP], may_fail=True)
    b = node_factory.get_node(options=options(chain))
    fund(a, chain, 1_000_000)
    b_id = connect(a, b)
    r = a.rpc.fundchannel(b_id, 400_000)
    chain.mine(6)
    wait_state(a, "CHANNELD_NORMAL")
    armed.touch()
    # Each block makes LDK write the whole monitor again (no update is pending).
    chain.mine(1)
    code = a.wait_for_exit(timeout=30)
    assert code != 0
    assert "panicked" not in a.daemon_stderr()
    assert "writing a channel monitor" in a.daemon_log()
    armed.unlink()
    a.start()
    chans = a.rpc.listpeerchannels()["channels"]
    assert [c["channel_id"] for c in chans] == [r["channel_id"]]
    assert chans[0]["state"] == "CHANNELD_NORMAL"
