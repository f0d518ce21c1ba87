"""A clean `stop` right after a payment: the channel manager's last write must come after
the last peer message, or LDK finds it older than the channel monitors at the next start
and force-closes the channel."""

from conftest import wait_for
from test_channels import chain, options, wait_state  # noqa: F401 -- fixture
from test_watchtower import open_channel


def test_stop_right_after_payments_keeps_the_channel(node_factory, chain):
    a = node_factory.get_node(options=options(chain))
    b = node_factory.get_node(options=options(chain))
    open_channel(a, b, chain)
    for i in range(3):
        inv = b.rpc.invoice(10_000_000, f"p{i}", "x")["bolt11"]
        # b stops while the payment's last commitment updates are still under way.
        assert a.rpc.pay(inv)["status"] == "complete"
        b.stop()
        b.start()
        assert not b.is_in_log("A ChannelManager is stale")
        # a reconnects to b (same port) by itself.
        wait_state(b, "CHANNELD_NORMAL")
        wait_for(lambda: b.rpc.listpeerchannels()["channels"][0]["peer_connected"],
                 what="reconnected")
