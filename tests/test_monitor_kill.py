"""kill -9 around the group commit of the channel manager and its monitor updates (money:
every channel is still there after a restart). The payer or the payee of a payment dies
right after the commit holding one of the payment's monitor updates, before the update is
completed, or right before a commit holding monitor updates (applied in memory only);
after the restart the channel is back in CHANNELD_NORMAL (LDK does not find its manager
stale and force-close it, nor either side behind) and the payment completes once. An
opener killed before the commit of a new channel's manager and first monitor loses only
the open: nothing was broadcast."""

import concurrent.futures

import pytest
from pyln.client import RpcError

from boltd_pair import pair, to_us, usable
from conftest import wait_for
from ldk_node import ldk_chain  # noqa: F401 -- fixture
from test_channels import chain, connect, fund, options, wait_state  # noqa: F401 -- chain
from test_payment_kill import AMOUNT, paid_once, restart_with

CRASH_ENV = "BOLTD_DEV_CRASH_MONITOR"


def start_with(node, monkeypatch, point):
    restart_with(node, monkeypatch, point, CRASH_ENV)


def back_unharmed(a, b, victim):
    """The victim died at the knob; restarted, the channel is as it was (no force-close)."""
    assert victim.proc.wait(timeout=60) == 137
    victim.start()
    assert not victim.is_in_log("stale compared to the current ChannelMonitor")
    usable(a, b)
    assert [c["state"] for c in a.rpc.listpeerchannels()["channels"]] == ["CHANNELD_NORMAL"]
    assert [c["state"] for c in b.rpc.listpeerchannels()["channels"]] == ["CHANNELD_NORMAL"]


@pytest.mark.parametrize("point", ["update_written:1", "update_written:3"])
def test_payer_killed_after_a_monitor_write(node_factory, ldk_chain, monkeypatch, point):
    a, b = pair(node_factory, ldk_chain)
    a_start = to_us(a, b.info["id"])
    start_with(a, monkeypatch, point)
    usable(a, b)
    inv = b.rpc.invoice(AMOUNT, "crash", "x")
    with pytest.raises((RpcError, OSError, ValueError)):
        a.rpc.pay(inv["bolt11"])
    back_unharmed(a, b, a)
    wait_for(lambda: a.rpc.listsendpays()["payments"][0]["status"] == "complete",
             timeout=60, what="payment complete after the restart")
    paid_once(a, b, inv, a_start)


def test_payer_killed_before_its_first_commit_ends_the_payment_once(node_factory, ldk_chain,
                                                                   monkeypatch):
    # The payment's HTLC and its monitor update are committed with a manager write: killed
    # before that commit, either LDK knows no such payment after the restart (nothing of
    # it left the node: the part recorded before sending is ended as failed, else it would
    # stay pending forever, and paying again pays once), or a manager write that knew it
    # had landed alone just before (LDK then replays the update and the payment
    # completes). Never pending forever, never paid twice.
    a, b = pair(node_factory, ldk_chain)
    a_start = to_us(a, b.info["id"])
    start_with(a, monkeypatch, "before_commit")
    usable(a, b)
    inv = b.rpc.invoice(AMOUNT, "crash", "x")
    with pytest.raises((RpcError, OSError, ValueError)):
        a.rpc.pay(inv["bolt11"])
    back_unharmed(a, b, a)
    status = wait_for(lambda: [p["status"] for p in a.rpc.listsendpays()["payments"]
                               if p["status"] != "pending"],
                      timeout=60, what="the payment ended after the restart")
    if status == ["failed"]:
        assert b.rpc.listinvoices(payment_hash=inv["payment_hash"])["invoices"][0]["status"] \
            == "unpaid"
        assert to_us(a, b.info["id"]) == a_start
        assert a.rpc.pay(inv["bolt11"])["status"] == "complete"
    paid_once(a, b, inv, a_start)


@pytest.mark.parametrize("point", ["update_written:1", "update_written:3", "before_commit"])
def test_payee_killed_after_a_monitor_write(node_factory, ldk_chain, monkeypatch, point):
    a, b = pair(node_factory, ldk_chain)
    a_start = to_us(a, b.info["id"])
    start_with(b, monkeypatch, point)
    usable(a, b)
    inv = b.rpc.invoice(AMOUNT, "crash", "x")
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        paying = ex.submit(a.rpc.pay, inv["bolt11"])
        back_unharmed(a, b, b)
        assert paying.result(timeout=60)["status"] == "complete"
    paid_once(a, b, inv, a_start)


def test_opener_killed_before_a_new_channel_monitor_is_written(node_factory, chain,
                                                               monkeypatch):
    # The opener's manager knows the new channel, neither it nor the first monitor is
    # committed yet: LDK has not broadcast the funding, so the channel is unknown after the
    # restart (the peer closes it at reconnection), the coins are back, and a new open works.
    a = node_factory.get_node(options=options(chain))
    b = node_factory.get_node(options=options(chain))
    fund(a, chain, 1_000_000)
    before = [(o["txid"], o["output"], o["amount_msat"]) for o in a.rpc.listfunds()["outputs"]]
    start_with(a, monkeypatch, "before_commit")
    b_id = connect(a, b)
    with pytest.raises((RpcError, OSError, ValueError)):
        a.rpc.fundchannel(b_id, 300_000)
    assert a.proc.wait(timeout=30) == 137
    a.start()
    assert chain.cli("getrawmempool") == []
    assert a.rpc.listpeerchannels()["channels"] == []
    outs = a.rpc.listfunds()["outputs"]
    assert [(o["txid"], o["output"], o["amount_msat"]) for o in outs] == before
    assert not any(o["reserved"] for o in outs)
    connect(a, b)
    # b closes its side (its commitment spends a funding that never existed).
    wait_for(lambda: all(c["state"] not in ("CHANNELD_AWAITING_LOCKIN", "CHANNELD_NORMAL")
                         for c in b.rpc.listpeerchannels()["channels"]), what="b closes it")
    a.rpc.fundchannel(b_id, 300_000)
    chain.mine(6)
    wait_state(a, "CHANNELD_NORMAL")


@pytest.mark.parametrize("victim", ["opener", "acceptor"])
def test_killed_after_a_new_channel_monitor_is_written(node_factory, chain, monkeypatch,
                                                       victim):
    # The commit holding the new channel's manager and first monitor is durable, the
    # monitor is not completed yet (for the opener: the funding is not broadcast). LDK does
    # not complete a first monitor again when it reads the manager back, so the restart
    # must, or the channel waits for it forever (the opener never broadcasts its funding).
    a = node_factory.get_node(options=options(chain), may_fail=victim == "opener")
    b = node_factory.get_node(options=options(chain), may_fail=victim == "acceptor")
    dead = a if victim == "opener" else b
    fund(a, chain, 1_000_000)
    start_with(dead, monkeypatch, "new_monitor_written")
    b_id = connect(a, b)
    try:
        a.rpc.fundchannel(b_id, 300_000)
    except (RpcError, OSError, ValueError):
        pass
    assert dead.proc.wait(timeout=30) == 137
    dead.start()
    if victim == "acceptor":
        connect(a, b)
    wait_for(lambda: len(chain.cli("getrawmempool")) == 1, what="the funding broadcast")
    chain.mine(6)
    wait_state(a, "CHANNELD_NORMAL")
    wait_state(b, "CHANNELD_NORMAL")
    assert not dead.is_in_log("stale compared to the current ChannelMonitor")
