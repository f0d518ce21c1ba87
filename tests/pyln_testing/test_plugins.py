"""A plugin author's suite: pyln-testing's fixtures, a pyln-client plugin and a cln-plugin
(Rust) plugin, nodes connected and exchanging custom messages."""
import os
from pathlib import Path

from pyln.client import RpcError
from pyln.testing.fixtures import *  # noqa: F401,F403
from pyln.testing.utils import only_one, wait_for
import pytest

HELLOWORLD = str(Path(__file__).parent / "plugins" / "helloworld.py")
# The cln-plugin test plugins are built next to boltd.
_BIN = Path(os.environ.get("BOLTD_BIN", Path(__file__).resolve().parents[2] / "target" / "debug" / "boltd")).parent
CLN_HELLO = str(_BIN / "cln-hello")


def test_pyln_plugin_option_method_and_log(node_factory):
    l1 = node_factory.get_node(options={"plugin": HELLOWORLD, "greeting": "Ahoy"})
    # `init` happens before "Server started", where pyln-testing's log search begins.
    assert l1.daemon.is_in_log(r"plugin-helloworld.py: Plugin helloworld.py initialized with greeting Ahoy")
    assert l1.rpc.hello("boltd") == "Ahoy boltd"
    l1.daemon.wait_for_log(r"plugin-helloworld.py: Ahoy boltd")
    assert l1.rpc.listconfigs("greeting")["configs"]["greeting"]["value_str"] == "Ahoy"
    assert any(p["name"] == HELLOWORLD and p["active"] for p in l1.rpc.plugin_list()["plugins"])
    with pytest.raises(RpcError, match="Unknown command"):
        l1.rpc.call("no-such-method")


def test_plugin_started_and_stopped_at_runtime(node_factory):
    l1 = node_factory.get_node()
    l1.rpc.plugin_start(HELLOWORLD, greeting="Hi")
    assert l1.rpc.hello() == "Hi world"
    l1.rpc.plugin_stop("helloworld.py")
    with pytest.raises(RpcError):
        l1.rpc.hello()


def test_cln_plugin_options_methods_and_notifications(node_factory):
    l1 = node_factory.get_node(options={
        "plugin": [CLN_HELLO, HELLOWORLD],
        "cln-greeting": "hey",
        "cln-count": 3,
    })
    assert l1.rpc.call("clnhello", {"name": "pyln"}) is not None
    opts = l1.rpc.call("cln-options")
    assert opts["cln-greeting"] == "hey" and opts["cln-count"] == 3
    # A cln-plugin notification reaches a pyln-client subscriber.
    l1.rpc.call("cln-notify")
    l1.daemon.wait_for_log(r"plugin-helloworld.py: Got cln_custom from cln-hello")
    assert l1.config("cln-greeting") == "hey"


def test_two_nodes_connect_with_hooks_and_notifications(node_factory):
    l1, l2 = node_factory.get_nodes(2, opts={"plugin": HELLOWORLD})
    l1.connect(l2)
    l2.daemon.wait_for_logs([
        r"plugin-helloworld.py: peer_connected hook for {}".format(l1.info["id"]),
        r"plugin-helloworld.py: Received connect event for peer {} \(in\)".format(l1.info["id"]),
    ])
    l1.daemon.wait_for_log(
        r"plugin-helloworld.py: Received connect event for peer {} \(out\)".format(l2.info["id"]))
    assert l1.is_connected(l2)
    assert only_one(l2.rpc.listpeers(l1.info["id"])["peers"])["connected"]
    l1.rpc.disconnect(l2.info["id"], force=True)
    l2.daemon.wait_for_log(r"plugin-helloworld.py: Received disconnect event for peer {}".format(l1.info["id"]))
    wait_for(lambda: not l1.is_connected(l2))


def test_custom_messages_between_two_nodes(node_factory):
    l1, l2 = node_factory.line_graph(2, fundchannel=False, opts=[{}, {"plugin": HELLOWORLD}])
    # An odd type: the peer may ignore it, so it is always allowed.
    l1.rpc.sendcustommsg(l2.info["id"], "aaffff")
    l2.daemon.wait_for_log(r"plugin-helloworld.py: Got custommessage aaffff from peer {}".format(l1.info["id"]))
    # Types that BOLT 1 or channels use are refused, with Core Lightning's words.
    with pytest.raises(RpcError, match="Cannot send messages of type 18"):
        l1.rpc.sendcustommsg(l2.info["id"], "00120000")


def test_accepted_options_are_listed(node_factory):
    # pyln-testing's command line carries lightningd options boltd has no use for; each is
    # accepted and named in the log.
    l1 = node_factory.get_node()
    assert l1.daemon.is_in_log(r"Option --cltv-delta=6 accepted, no effect")
    assert l1.daemon.is_in_log(r"Option --dev-fast-gossip accepted, no effect")
    assert l1.rpc.getinfo()["version"].startswith("v26.06-boltd-")


def test_plugin_takes_over_an_option_boltd_only_accepts(node_factory):
    # pyln-testing always passes --grpc-port; with a plugin that registers it (cln-grpc
    # does), the plugin gets the value and boltd no longer reports it as without effect.
    l1 = node_factory.get_node(options={"plugin": str(Path(__file__).parent / "plugins" / "grpc_port.py")})
    assert l1.rpc.grpcport() == {"grpc-port": l1.grpc_port}
    assert not l1.daemon.is_in_log(r"Option --grpc-port=.* accepted, no effect")
