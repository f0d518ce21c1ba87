"""Reconnecting to channel peers (issue 14; Core Lightning's connectd does it): after a
restart, and when the peer was down at our start and comes back later, the channel is back
in CHANNELD_NORMAL with no `connect` call."""

from boltd_pair import pair
from conftest import reserve_port, wait_for
from ldk_node import ldk_chain  # noqa: F401 -- fixture


def back(n, peer, timeout=30):
    wait_for(lambda: [c for c in n.rpc.listpeerchannels(peer)["channels"]
                      if c["state"] == "CHANNELD_NORMAL" and c.get("peer_connected")],
             timeout=timeout, what="CHANNELD_NORMAL and connected, without connect")


def test_restarted_payee_is_reconnected_and_paid(node_factory, ldk_chain):
    # b listens where a reached it before, as a node with a configured address does.
    a, b = pair(node_factory, ldk_chain, b_options={"bind-addr": f"127.0.0.1:{reserve_port()}"})
    b.restart()
    back(a, b.info["id"])
    back(b, a.info["id"])
    inv = b.rpc.invoice(5_000_000, "after-restart", "x")
    assert a.rpc.pay(inv["bolt11"])["status"] == "complete"
    # The payer restarting reconnects as well (it dials the address it reached b on).
    a.restart()
    back(a, b.info["id"])
    back(b, a.info["id"])


def test_peer_down_at_our_start_is_reached_when_it_comes_back(node_factory, ldk_chain):
    # b listens where a reached it before, as a node with a configured address does.
    a, b = pair(node_factory, ldk_chain, b_options={"bind-addr": f"127.0.0.1:{reserve_port()}"})
    b.stop()
    a.restart()
    a.wait_for_log("reconnect to " + b.info["id"])
    # b does not dial a itself: what brings the channel back is a's retry.
    b.options["dev-no-reconnect"] = None
    b.start()
    back(a, b.info["id"], timeout=60)
    back(b, a.info["id"])
    # The line follows the dial's answer, which can come after the channel is back.
    a.wait_for_log("reconnected to channel peer " + b.info["id"], timeout=30)
    assert not b.is_in_log("reconnected to channel peer")
