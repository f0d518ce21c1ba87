"""Channels (issue 13) between boltd nodes on a devchain through pyln-client: the
openchannel hook rejecting and accepting, channel notifications, kill -9 around an open,
a peer that disappears mid-open, a node restored from its db_write backup copy."""

import shutil
import threading
from pathlib import Path

import pytest
from pyln.client import RpcError

from conftest import reserve_port, wait_for
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
    """A node on `chain`, listening on the same port across restarts (where its channel
    peers reconnect to it)."""
    return {"developer": None, "dev-bitcoind-poll": "1",
            "bitcoin-datadir": str(chain.datadir), "bitcoin-rpcconnect": "127.0.0.1",
            "bitcoin-rpcport": str(chain.port), "bind-addr": f"127.0.0.1:{reserve_port()}"}


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
    # Core Lightning's fundchannel never returns `mindepth` (reference §3.1).
    assert set(r) == {"tx", "txid", "outnum", "channel_id", "channel_type"}
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
    # b owns nothing in a channel a funded without a push: no reserve counted as ours.
    [cb] = b.rpc.listpeerchannels()["channels"]
    assert cb["to_us_msat"] == 0 and cb["min_to_us_msat"] == 0 and cb["max_to_us_msat"] == 0
    assert [c["our_amount_msat"] for c in b.rpc.listfunds()["channels"]] == [0]


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
    # a reconnects to b by itself.
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
    # a reconnects to b by itself.
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


def ours(balances):
    """Our accounts: everything but `external`."""
    return {k: v for k, v in balances.items() if k != "external"}


def tags(node, account):
    return [m["primary_tag"] for m in chan_moves(node, account)]


def external_moves(node, cid):
    return [m for m in chan_moves(node, "external") if m.get("originating_account") == cid]


def test_channel_coin_movements_and_bookkeeper_sums_through_mutual_and_unilateral_close(
        node_factory, chain):
    a = node_factory.get_node(options=options(chain), plugins=[BOOKKEEPER])
    b = node_factory.get_node(options=options(chain))
    fund(a, chain, 2_000_000)
    fund(b, chain, 1_000_000)
    b_id = connect(a, b)
    a_id = a.rpc.getinfo()["id"]

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

    # Mutual close: `channel_close` when the closing transaction confirms, at its height;
    # our output pays the wallet directly (its `deposit`), so the books match listfunds.
    closed = a.rpc.close(b_id)
    assert closed["type"] == "mutual"
    chain.mine(1)
    height = chain.height()
    wait_for(lambda: len(chan_moves(a, cid)) == 2, what="channel_close")
    close = chan_moves(a, cid)[1]
    assert close["primary_tag"] == "channel_close"
    assert close["debit_msat"] == 300_000_000 and close["credit_msat"] == 0
    assert close["utxo"] == opened["utxo"]
    assert close["spending_txid"] == closed["txids"][0]
    assert close["blockheight"] == height
    assert close["output_count"] >= 1
    wait_for(lambda: a.rpc.listpeerchannels()["channels"] == [] or state(a) == "ONCHAIN",
             what="closed")

    def books_match():
        bal = ours(books(a)["balances"])
        outs, chans = funds_msat(a)
        return sum(bal.values()) == outs + chans and bal.get(cid) == 0
    wait_for(books_match, timeout=30, what="bookkeeper == listfunds after the mutual close")
    assert any(m["primary_tag"] == "deposit" and m["utxo"].startswith(closed["txids"][0])
               for m in chan_moves(a, "wallet"))

    # Unilateral close by us, the peer gone: channel_close, our delayed output and our
    # anchor at the closing height; after to_self_delay the sweep (`to_wallet`) lands in
    # the wallet and the books match listfunds again.
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
    commitment = u["txids"][0]
    chain.mine(1)
    height2 = chain.height()
    wait_for(lambda: tags(a, cid2)[:3] == ["channel_open", "channel_close", "delayed_to_us"],
             what="channel_close and delayed_to_us")
    close2, delayed = chan_moves(a, cid2)[1:3]
    assert close2["debit_msat"] == 200_000_000 and close2["spending_txid"] == commitment
    assert close2["blockheight"] == height2
    assert delayed["credit_msat"] > 0 and delayed["utxo"].startswith(commitment)
    assert delayed["blockheight"] == height2
    ext = external_moves(a, cid2)
    assert [m["primary_tag"] for m in ext] == ["anchor"]
    assert ext[0]["credit_msat"] == 330_000 and ext[0]["utxo"].startswith(commitment)
    chain.mine(delay)

    def swept():
        if books_match_all():
            return True
        chain.mine(1)
        return False

    def books_match_all():
        bal = ours(books(a)["balances"])
        outs, chans = funds_msat(a)
        return (bal.get(cid2) == 0 and chans == 0
                and sum(bal.values()) == outs)
    # The sweep needs its own block(s); each try mines one.
    wait_for(swept, timeout=120, interval=1, what="swept into the wallet, books == listfunds")
    assert tags(a, cid2) == ["channel_open", "channel_close", "delayed_to_us", "to_wallet"]
    to_wallet = chan_moves(a, cid2)[3]
    assert to_wallet["utxo"] == delayed["utxo"] and to_wallet["debit_msat"] == delayed["credit_msat"]
    sweep = to_wallet["spending_txid"]
    assert any(m["primary_tag"] == "deposit" and m["utxo"].startswith(sweep)
               for m in chan_moves(a, "wallet"))

    # Unilateral close by the peer (its channel to us, while we are away): channel_close
    # of our nothing, and the peer's outputs as `to_them`.
    b.start()
    connect(a, b)
    r3 = b.rpc.fundchannel(a_id, 150_000)
    chain.mine(6)
    wait_for(lambda: any(c["channel_id"] == r3["channel_id"] and c["state"] == "CHANNELD_NORMAL"
                         for c in a.rpc.listpeerchannels()["channels"]), what="third channel")
    cid3 = r3["channel_id"]
    a.stop()
    u3 = b.rpc.close(cid3, unilateraltimeout=1)
    assert u3["type"] == "unilateral"
    chain.mine(1)
    height3 = chain.height()
    a.start()
    # (The bookkeeper restarted with the node: it saw channel_open before.)
    wait_for(lambda: tags(a, cid3) == ["channel_close"], what="channel_close of the peer's close")
    [close3] = chan_moves(a, cid3)
    assert close3["debit_msat"] == 0 and close3["blockheight"] == height3
    assert close3["spending_txid"] == u3["txids"][0]
    # One move per output, each recorded as it is found: wait for the peer's main output,
    # not just for the first move (their anchor can come first).
    wait_for(lambda: sum(m["credit_msat"] for m in external_moves(a, cid3)) > 140_000_000,
             what="to_them of the peer's main output")
    theirs = external_moves(a, cid3)
    assert {m["primary_tag"] for m in theirs} == {"to_them"}
    assert ours(books(a)["balances"]).get(cid3) == 0


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
    def close_until_killed():
        # The kill usually cuts the call short; a close fast enough to answer first is fine.
        try:
            a.rpc.close(b_id)
        except Exception:
            pass
    t = threading.Thread(target=close_until_killed, daemon=True)
    t.start()
    wait_for(lambda: state(a) != "CHANNELD_NORMAL", interval=0.01, what="close under way")
    a.kill()
    t.join(10)
    a.start()
    # a reconnects to b by itself; the close completes (or is redone by hand) and confirms.
    if state(a) in ("CHANNELD_NORMAL", "CHANNELD_SHUTTING_DOWN"):
        try:
            a.rpc.close(b_id)
        except RpcError:
            pass

    def resolved():
        # A kill in LDK's window between the shutdown's monitor write and the manager's
        # (README, Channels) ends in a force close: funds come back after to_self_delay.
        chain.mine(5)
        outs = a.rpc.listfunds()
        return (outs["channels"] == []
                and all(o["status"] == "confirmed" for o in outs["outputs"])
                and sum(o["amount_msat"] for o in outs["outputs"]) > before + 290_000_000)
    wait_for(resolved, timeout=60, interval=1, what="closing output in listfunds")


def closing_scripts(chain, close_result):
    [tx] = close_result["txs"]
    return [o["scriptPubKey"]["hex"] for o in chain.cli("decoderawtransaction", tx)["vout"]]


def test_close_to_from_fundchannel_and_the_openchannel_hook(node_factory, chain):
    a = node_factory.get_node(options=options(chain))
    b = node_factory.get_node(options=options(chain), plugins=[OPENCHANNEL])
    fund(a, chain, 2_000_000)
    b_id = connect(a, b)
    a_id = a.rpc.getinfo()["id"]

    with pytest.raises(RpcError, match="Could not parse destination address, close_to should "
                                       "be a valid address"):
        a.rpc.fundchannel(b_id, 200_000, close_to="nonsense")
    with pytest.raises(RpcError, match="Destination address is not on network regtest"):
        a.rpc.fundchannel(b_id, 200_000,
                          close_to="bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")

    # fundchannel close_to: promised upfront, shown, kept, and paid even when the peer
    # starts the close.
    dest = chain.address
    r = a.rpc.fundchannel(b_id, 200_000, close_to=dest)
    chain.mine(6)
    wait_state(a, "CHANNELD_NORMAL")
    wait_state(b, "CHANNELD_NORMAL")
    [c] = a.rpc.listpeerchannels()["channels"]
    assert c["close_to_addr"] == dest and c["close_to"] == r["close_to"]
    other = a.rpc.newaddr("bech32")["bech32"]
    with pytest.raises(RpcError, match="Destination address .* does not match previous "
                                       "shutdown script " + r["close_to"]):
        a.rpc.close(b_id, destination=other)
    closed = b.rpc.close(a_id)
    assert closed["type"] == "mutual"
    assert r["close_to"] in closing_scripts(chain, closed)
    chain.mine(1)
    wait_for(lambda: a.rpc.listpeerchannels()["channels"] == [] or state(a) == "ONCHAIN",
             what="closed")

    # The openchannel hook's close_to: b's side of a channel a opens.
    b_dest = a.rpc.newaddr("bech32")["bech32"]
    b.rpc.call("oc-mode", {"mode": "close_to:" + b_dest})
    r2 = a.rpc.fundchannel(b_id, 150_000, push_msat=50_000_000)
    assert "close_to" not in r2
    chain.mine(6)
    wait_for(lambda: any(x["channel_id"] == r2["channel_id"] and x["state"] == "CHANNELD_NORMAL"
                         for x in b.rpc.listpeerchannels()["channels"]), what="second channel")
    [c2] = [x for x in b.rpc.listpeerchannels()["channels"] if x["channel_id"] == r2["channel_id"]]
    assert c2["close_to_addr"] == b_dest
    closed2 = a.rpc.close(r2["channel_id"])
    assert c2["close_to"] in closing_scripts(chain, closed2)
    # b's 50,000 sat land in a's wallet (b_dest is a's address).
    chain.mine(1)
    wait_for(lambda: any(o["address"] == b_dest and o["status"] == "confirmed"
                         for o in a.rpc.listfunds()["outputs"]), what="close_to paid")

    # A bad close_to from the hook refuses the channel; the node keeps working.
    b.rpc.call("oc-mode", {"mode": "close_to:nonsense"})
    with pytest.raises(RpcError):
        a.rpc.fundchannel(b_id, 100_000)
    assert b.is_in_log("openchannel hook: bad close_to")
    assert b.rpc.getinfo()["id"] == b_id


def test_kill_9_before_the_funding_broadcast_gives_the_coins_back(node_factory, chain,
                                                                   monkeypatch):
    a = node_factory.get_node(options=options(chain))
    b = node_factory.get_node(options=options(chain))
    fund(a, chain, 1_000_000)
    before = [(o["txid"], o["output"], o["amount_msat"]) for o in a.rpc.listfunds()["outputs"]]
    a.stop()
    monkeypatch.setenv("BOLTD_DEV_CRASH_OPEN", "after_funding_generated")
    a.start()
    monkeypatch.delenv("BOLTD_DEV_CRASH_OPEN")
    b_id = connect(a, b)
    with pytest.raises((RpcError, OSError, ValueError)):
        a.rpc.fundchannel(b_id, 300_000)
    a.proc.wait(timeout=10)
    a.start()
    # Never broadcast, and nothing stale: the coins are back, unreserved, no channel.
    assert chain.cli("getrawmempool") == []
    outs = a.rpc.listfunds()["outputs"]
    assert [(o["txid"], o["output"], o["amount_msat"]) for o in outs] == before
    assert not any(o["reserved"] for o in outs)
    assert a.rpc.listpeerchannels()["channels"] == []
    assert a.is_in_log("released 1 input\\(s\\) of a funding transaction never broadcast")
    # And they fund a channel again.
    connect(a, b)
    a.rpc.fundchannel(b_id, 300_000)
    chain.mine(6)
    wait_state(a, "CHANNELD_NORMAL")


def test_openchannel_hook_that_never_answers_refuses_the_open(node_factory, chain):
    a = node_factory.get_node(options=options(chain))
    b = node_factory.get_node(options={**options(chain), "dev-openchannel-hook-timeout": "3"},
                              plugins=[OPENCHANNEL])
    fund(a, chain, 1_000_000)
    b_id = connect(a, b)
    b.rpc.call("oc-mode", {"mode": "hang"})
    with pytest.raises(RpcError, match="openchannel hook timed out"):
        a.rpc.fundchannel(b_id, 200_000)
    b.wait_for_log(r"openchannel hook: no answer from plugin\(s\) .*openchannel_hook.py within "
                   r"3s; refusing the channel from " + a.rpc.getinfo()["id"])
    # Nothing left behind, and both nodes keep working. The opener drops the channel when
    # it handles the peer's error, which the peer layer's own runtime may do just after
    # fundchannel has answered.
    wait_for(lambda: a.rpc.listpeerchannels()["channels"] == [], what="a's channel gone")
    assert b.rpc.listpeerchannels()["channels"] == []
    wait_for(lambda: not any(o["reserved"] for o in a.rpc.listfunds()["outputs"]),
             what="funding inputs released")
    assert b.rpc.getinfo()["id"] == b_id


def test_dev_openchannel_hook_timeout_needs_developer(node_factory, chain):
    opts = {k: v for k, v in options(chain).items() if k not in ("developer", "dev-bitcoind-poll")}
    opts["dev-openchannel-hook-timeout"] = "3"
    n = node_factory.get_node(options=opts, start=False, may_fail=True)
    with pytest.raises(Exception):
        n.start()
    assert "--dev-openchannel-hook-timeout: requires --developer" in (n.daemon_stderr()
                                                                      + n.daemon_log())


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
