"""Audit of issue 4 (peers and custom messages) against the reference §6, §7.4, §9, §11.5:
each test pins one behaviour that was wrong or missing."""

import json
import struct
from pathlib import Path

from conftest import wait_for
from test_peers import (LOCAL, PLUGIN, CHANNEL_FEATURES, ProtoPeer, INIT, node_id, port_of,
                        recorded)


def test_peer_storage_types_reach_the_custommsg_hook(node_factory):
    """§9.2: types 7 and 9 (peer storage) are not internal and always reach plugins."""
    b = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    p = ProtoPeer.initiator(b)
    p.expect(INIT)
    wait_for(lambda: recorded(b, "connect"), what="accepted")
    p.send(bytes.fromhex("00070002abcd"))
    p.send(bytes.fromhex("00090001ef"))
    got = wait_for(lambda: len(recorded(b, "custommsg_hook")) >= 2 and recorded(b, "custommsg_hook"),
                   what="both peer storage messages")
    assert [e["payload"] for e in got] == ["00070002abcd", "00090001ef"]
    assert all(e["peer_id"] == p.id for e in got)


def test_disconnect_notification_also_for_a_peer_the_hook_sent_away(node_factory):
    """§6.2 `disconnect` (peer_control.c peer_disconnect_done): fired for every peer connectd
    reports gone, also one whose `peer_connected` chain said disconnect (no `connect` was
    sent for it). Plugins that saw the hook call learn the peer is gone."""
    b = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    (b.net_dir / "peer_recorder.mode").write_text("disconnect:no")
    p = ProtoPeer.initiator(b)
    assert p.closed.wait(10)
    d = wait_for(lambda: recorded(b, "disconnect"), what="disconnect notification")
    assert d == [{"kind": "disconnect", "id": p.id}]
    assert recorded(b, "connect") == []


def test_remote_addr_from_the_peers_init_in_hook_and_listpeers(node_factory):
    """§7.4 `peer_connected` payload and §11.5 listpeers carry `remote_addr` (how the peer
    sees us: the `remote_addr` TLV of its init) when the peer sent one."""
    b = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    p = ProtoPeer.initiator(b, send_init=False)
    # init: no global features, the features channels need, TLV 3 = ipv4 203.0.113.7 port 9735.
    tlv = bytes([3, 7, 1, 203, 0, 113, 7]) + struct.pack("!H", 9735)
    p.send(struct.pack("!HHH", INIT, 0, len(CHANNEL_FEATURES)) + CHANNEL_FEATURES + tlv)
    p.expect(INIT)
    wait_for(lambda: recorded(b, "connect"), what="accepted")
    peer = recorded(b, "peer_connected")[0]["peer"]
    assert peer["remote_addr"] == "203.0.113.7:9735"
    assert list(peer) == ["id", "direction", "addr", "remote_addr", "features"]
    lp = b.rpc.listpeers()["peers"][0]
    assert lp["remote_addr"] == "203.0.113.7:9735"
    # A peer that sends none has no remote_addr at all.
    q = ProtoPeer.initiator(b)
    q.expect(INIT)
    wait_for(lambda: len(recorded(b, "connect")) == 2, what="second accepted")
    assert "remote_addr" not in recorded(b, "peer_connected")[1]["peer"]
    assert "remote_addr" not in b.rpc.listpeers(q.id)["peers"][0]


def test_connect_to_a_connected_peer_answers_before_checking_the_host(node_factory):
    """connect_control.c json_connect order: id, host given twice, port without host, then
    "already connected" (answers with the existing connection), and only then the host
    check (`Host ... not valid`)."""
    a = node_factory.get_node(options=LOCAL)
    b = node_factory.get_node(options=LOCAL)
    bid = node_id(b)
    first = a.rpc.connect(bid, "127.0.0.1", port_of(b))
    assert a.rpc.call("connect", {"id": f"{bid}@127.0.0.1:0"}) == first
    assert a.rpc.call("connect", {"id": bid, "host": "[::1", "port": 1}) == first
    a.rpc.disconnect(bid)
    from pyln.client import RpcError
    import pytest
    with pytest.raises(RpcError) as e:
        a.rpc.call("connect", {"id": f"{bid}@127.0.0.1:0"})
    assert e.value.error["code"] == -1
    assert e.value.error["message"].startswith("Host 127.0.0.1:0")
