"""Peers over BOLT 8: boltd against other implementations (pyln-proto's BOLT 8 in Python,
an independent LDK peer binary) and against itself; connect/disconnect/listpeers, the
`peer_connected` hook, and hostile peers. boltd must stay up through all of it.
"""

import os
import queue
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pyln.client import RpcError
from pyln.proto.primitives import PrivateKey, PublicKey
from pyln.proto.wire import LightningConnection, LightningServerSocket, connect as proto_connect

from conftest import REPO, wait_for

# Plugins start with `#!/usr/bin/env python3`: make that the interpreter running pytest.
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

PLUGIN = str(REPO / "tests" / "plugins" / "peer_recorder.py")
LDK_PEER_BIN = os.environ.get("LDK_PEER_BIN", str(Path(os.environ.get(
    "BOLTD_BIN", REPO / "target" / "debug" / "boltd")).parent / "ldk-peer"))
LOCAL = {"bind-addr": "127.0.0.1:0"}

WARNING, INIT, PING, PONG = 1, 16, 18, 19


def port_of(node):
    return node.rpc.getinfo()["binding"][0]["port"]


def node_id(node):
    return node.rpc.getinfo()["id"]


# What a node with channels (LDK's ChannelManager) requires of a peer, offered as optional
# bits: data_loss_protect (1), var_onion_optin (9), static_remotekey (13), payment_secret
# (15), channel_type (45).
CHANNEL_FEATURES = bytes.fromhex("20000000a202")


def init_msg(features=CHANNEL_FEATURES):
    """A BOLT 1 init: no global features, `features`, no TLVs."""
    return struct.pack("!HH", INIT, 0) + struct.pack("!H", len(features)) + features


class ProtoPeer:
    """An independent BOLT 8 peer built on pyln-proto. A reader thread queues every
    message and answers pings, so LDK's keep-alive never drops us."""

    def __init__(self, conn):
        self.conn = conn
        # The reader's pongs and a test's sends must not interleave on the wire (a send
        # may block while the node is not reading us).
        self.send_lock = threading.Lock()
        self.msgs = queue.Queue()
        self.closed = threading.Event()
        threading.Thread(target=self._reader, daemon=True).start()

    @classmethod
    def initiator(cls, node, key=None, send_init=True):
        priv = PrivateKey(key or os.urandom(32))
        conn = proto_connect(priv, PublicKey(bytes.fromhex(node_id(node))), "127.0.0.1",
                             port_of(node))
        peer = cls(conn)
        peer.id = priv.public_key().serializeCompressed().hex()
        if send_init:
            peer.send(init_msg())
        return peer

    def _reader(self):
        try:
            while True:
                m = self.conn.read_message()
                t = struct.unpack("!H", m[:2])[0]
                if t == PING:
                    num_pong = struct.unpack("!H", m[2:4])[0]
                    self.send(struct.pack("!HH", PONG, num_pong) + b"\0" * num_pong)
                    continue
                self.msgs.put(m)
        except Exception:  # noqa: BLE001 -- any read failure means the peer hung up
            pass
        self.closed.set()

    def send(self, m):
        with self.send_lock:
            self.conn.send_message(m)

    def expect(self, msg_type, timeout=10):
        """The next message of `msg_type` (others are skipped); fails after `timeout`."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError(f"no message of type {msg_type}")
            try:
                m = self.msgs.get(timeout=left)
            except queue.Empty:
                continue
            if struct.unpack("!H", m[:2])[0] == msg_type:
                return m

    def close(self):
        try:
            self.conn.connection.close()
        except OSError:
            pass


def warning_text(m):
    """The text of a BOLT 1 warning: type, 32-byte channel id, u16 length, data."""
    (length,) = struct.unpack("!H", m[34:36])
    return m[36:36 + length].decode(errors="replace")


def recorded(node, kind=None):
    import json
    path = node.net_dir / "peer_recorder.jsonl"
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    events = [json.loads(x) for x in lines if x.strip()]
    return [e for e in events if kind is None or e["kind"] == kind]


def set_mode(node, mode):
    (node.net_dir / "peer_recorder.mode").write_text(mode)


def assert_alive(node):
    assert node.rpc.getinfo()["id"]


# -- connect / listpeers / getinfo / disconnect -----------------------------------------

def test_connect_forms_listpeers_and_getinfo(node_factory):
    a = node_factory.get_node(options=LOCAL)
    b = node_factory.get_node(options=LOCAL)
    bid, bport = node_id(b), port_of(b)
    info = b.rpc.getinfo()
    assert info["binding"] == [{"type": "ipv4", "address": "127.0.0.1", "port": bport}]
    assert info["num_peers"] == 0

    r = a.rpc.connect(f"{bid}@127.0.0.1:{bport}")
    assert r["id"] == bid and r["direction"] == "out"
    assert r["address"] == {"type": "ipv4", "address": "127.0.0.1", "port": bport}
    assert r["features"]
    # Already connected: answered at once, in every parameter form.
    assert a.rpc.connect(bid, "127.0.0.1", bport)["id"] == bid
    assert a.rpc.call("connect", {"id": bid, "host": "127.0.0.1", "port": bport})["id"] == bid
    assert a.cli("connect", f"{bid}@127.0.0.1:{bport}").json["id"] == bid

    peers = a.rpc.listpeers()["peers"]
    assert peers == [{"id": bid, "connected": True, "num_channels": 0,
                      "netaddr": [f"127.0.0.1:{bport}"], "features": r["features"]}]
    assert a.rpc.listpeers(bid)["peers"][0]["id"] == bid
    assert a.rpc.listpeers(node_id(a))["peers"] == []
    wait_for(lambda: b.rpc.getinfo()["num_peers"] == 1, what="b counts a")
    bp = b.rpc.listpeers()["peers"][0]
    assert bp["id"] == node_id(a) and bp["connected"]

    assert a.rpc.disconnect(bid) == {}
    assert a.rpc.listpeers()["peers"] == []
    wait_for(lambda: b.rpc.listpeers()["peers"] == [], what="b sees the disconnect")
    assert a.rpc.getinfo()["num_peers"] == 0


def test_connect_and_disconnect_errors(node_factory):
    a = node_factory.get_node(options=LOCAL)
    b = node_factory.get_node(options=LOCAL)
    bid, bport = node_id(b), port_of(b)

    def err(*args, **kw):
        with pytest.raises(RpcError) as e:
            a.rpc.call(*args, **kw)
        return e.value.error

    e = err("connect", {"id": "02" + "00" * 32})
    assert e["code"] == -32602 and e["message"] == "id 02" + "00" * 32 + " not valid"
    e = err("connect", {"id": bid, "port": 1234})
    assert e == {"code": -32602, "message": "Can't specify port without host"}
    e = err("connect", {"id": f"{bid}@127.0.0.1", "host": "127.0.0.1"})
    assert e["message"] == "Can't specify host as both xxx@yyy and separate argument"
    e = err("connect", {"id": bid})
    assert e["code"] == 400

    # Nobody listens there: the OS reason is in the message.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    e = err("connect", {"id": bid, "host": "127.0.0.1", "port": dead})
    assert e["code"] == 401 and "Connection refused" in e["message"], e

    # Right address, wrong key: the handshake fails quickly and clearly.
    t = time.time()
    e = err("connect", {"id": node_id(a)[:2] + "1" * 64, "host": "127.0.0.1", "port": bport})
    assert e["code"] in (-32602, 401)
    wrong = "02" + "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    e = err("connect", {"id": wrong, "host": "127.0.0.1", "port": bport})
    assert e["code"] == 401 and "Cryptographic handshake" in e["message"], e
    assert time.time() - t < 10

    e = err("disconnect", {"id": bid})
    assert e == {"code": -32602, "message": f"Unknown peer '{bid}'"}
    e = err("disconnect", {"id": "nope"})
    assert e["code"] == -32602 and e["message"].startswith("id: should be a node id")
    e = err("listpeers", {"id": "nope"})
    assert e["code"] == -32602
    assert_alive(a)
    assert_alive(b)


def test_connect_and_disconnect_notifications(node_factory):
    a = node_factory.get_node(options=LOCAL)
    b = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    a.rpc.connect(node_id(b), "127.0.0.1", port_of(b))
    aid = node_id(a)
    c = wait_for(lambda: recorded(b, "connect"), what="connect notification")[0]
    assert c["id"] == aid and c["direction"] == "in"
    assert c["address"]["type"] == "ipv4" and c["address"]["address"] == "127.0.0.1"
    # The hook ran first, with CLN's payload.
    kinds = [e["kind"] for e in recorded(b)]
    assert kinds.index("peer_connected") < kinds.index("connect")
    peer = recorded(b, "peer_connected")[0]["peer"]
    assert peer["id"] == aid and peer["direction"] == "in"
    assert peer["addr"].startswith("127.0.0.1:") and peer["features"]
    a.rpc.disconnect(node_id(b))
    d = wait_for(lambda: recorded(b, "disconnect"), what="disconnect notification")[0]
    assert d == {"kind": "disconnect", "id": aid}


def test_plugin_feature_bits_reach_the_peer(node_factory):
    a = node_factory.get_node(options=LOCAL)
    b = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    ours = b.rpc.getinfo()["our_features"]
    bit201 = int(ours["init"], 16) >> 201 & 1
    assert bit201 == 1, ours
    assert int(ours["node"], 16) >> 201 & 1 == 1
    r = a.rpc.connect(node_id(b), "127.0.0.1", port_of(b))
    assert int(r["features"], 16) >> 201 & 1 == 1


# -- peer_connected hook ----------------------------------------------------------------

def test_peer_connected_disconnect_sends_warning_and_fails_connect(node_factory):
    a = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    b = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    set_mode(b, "disconnect:go away, we are closed")

    # An independent peer reads the warning off the wire.
    p = ProtoPeer.initiator(b)
    p.expect(INIT)
    w = p.expect(WARNING)
    assert w[2:34] == b"\0" * 32
    assert warning_text(w) == "go away, we are closed"
    assert p.closed.wait(10)
    assert recorded(b, "connect") == []

    # The node whose hook says disconnect fails its pending `connect` with CLN's 402.
    set_mode(a, "disconnect:not you")
    with pytest.raises(RpcError) as e:
        a.rpc.connect(node_id(b), "127.0.0.1", port_of(b))
    assert e.value.error == {"code": 402, "message": "disconnected during connection"}
    wait_for(lambda: a.rpc.listpeers()["peers"] == [], what="the refused peer gone")
    assert recorded(a, "connect") == []

    set_mode(a, "continue")
    set_mode(b, "continue")
    a.rpc.connect(node_id(b), "127.0.0.1", port_of(b))
    wait_for(lambda: recorded(b, "connect"), what="connect after continue")
    # The notification travels to a's plugin beside the RPC reply: wait, don't race it.
    wait_for(lambda: recorded(a, "connect"), what="connect notification on a")
    assert recorded(a, "connect")[0]["direction"] == "out"


def test_peer_connected_without_message_sends_empty_warning(node_factory):
    b = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    set_mode(b, "disconnect")
    p = ProtoPeer.initiator(b)
    assert warning_text(p.expect(WARNING)) == ""


def test_peer_connected_plugin_dying_mid_call_lets_the_peer_in(node_factory):
    a = node_factory.get_node(options=LOCAL)
    b = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    set_mode(b, "die")
    r = a.rpc.connect(node_id(b), "127.0.0.1", port_of(b))
    assert r["id"] == node_id(b)
    wait_for(lambda: b.rpc.listpeers()["peers"] and b.rpc.listpeers()["peers"][0]["connected"],
             what="peer accepted after the hook plugin died")
    assert_alive(b)


def test_peer_is_connecting_while_the_hook_runs(node_factory):
    a = node_factory.get_node(options=LOCAL)
    b = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    set_mode(b, "slow:2")
    t = threading.Thread(target=lambda: a.rpc.connect(node_id(b), "127.0.0.1", port_of(b)))
    t.start()
    aid = node_id(a)
    wait_for(lambda: b.rpc.listpeers()["peers"], what="connecting peer listed")
    peer = b.rpc.listpeers()["peers"][0]
    assert peer == {"id": aid, "connected": False, "num_channels": 0}
    # sendcustommsg to a connecting peer is allowed (CLN since v23.02).
    assert b.rpc.call("sendcustommsg", [aid, "77770001"])["status"]
    t.join(10)
    wait_for(lambda: b.rpc.listpeers()["peers"][0]["connected"], what="hook finished")
    assert len(recorded(b, "connect")) == 1


# -- independent peers: pyln-proto and LDK ----------------------------------------------

def test_pyln_proto_initiator_exchanges_custom_messages(node_factory):
    b = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    p = ProtoPeer.initiator(b)
    p.expect(INIT)
    wait_for(lambda: recorded(b, "connect"), what="proto peer accepted")
    p.send(bytes.fromhex("8001beef"))
    hook = wait_for(lambda: recorded(b, "custommsg_hook"), what="hook")[0]
    assert hook == {"kind": "custommsg_hook", "peer_id": p.id, "payload": "8001beef"}
    b.rpc.call("sendcustommsg", {"node_id": p.id, "msg": "77770012"})
    assert p.expect(0x7777) == bytes.fromhex("77770012")


def test_pyln_proto_unknown_even_type_gets_warning_and_disconnect(node_factory):
    b = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    p = ProtoPeer.initiator(b)
    p.expect(INIT)
    wait_for(lambda: recorded(b, "connect"), what="accepted")
    p.send(bytes.fromhex("7774aabb"))
    w = p.expect(WARNING)
    assert warning_text(w) == "Invalid unknown even msg 7774aabb"
    assert p.closed.wait(10)
    assert recorded(b, "custommsg_hook") == []
    wait_for(lambda: b.rpc.listpeers()["peers"] == [], what="dropped")


def test_pyln_proto_responder(node_factory):
    b = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    priv = PrivateKey(os.urandom(32))
    srv = LightningServerSocket(priv)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    holder = {}

    def serve():
        conn, _ = srv.accept()
        peer = ProtoPeer(conn)
        peer.send(init_msg())
        holder["peer"] = peer

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    pid = priv.public_key().serializeCompressed().hex()
    r = b.rpc.connect(f"{pid}@127.0.0.1:{port}")
    assert r["id"] == pid and r["direction"] == "out"
    th.join(10)
    peer = holder["peer"]
    peer.expect(INIT)
    b.rpc.call("sendcustommsg", [pid, "7777cafe"])
    assert peer.expect(0x7777) == bytes.fromhex("7777cafe")
    peer.send(bytes.fromhex("7777f00d"))
    hook = wait_for(lambda: recorded(b, "custommsg_hook"), what="hook")[0]
    assert hook["payload"] == "7777f00d" and hook["peer_id"] == pid
    srv.close()


class LdkPeer:
    """The `ldk-peer` test binary (an LDK node with its own CustomMessageHandler)."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([LDK_PEER_BIN, "--listen", "127.0.0.1:0", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.id = self.expect("id ").split()[1]
        self.addr = self.expect("listening ").split()[1]
        self.expect("ready")

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, prefix, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            if line.startswith(prefix):
                return line
        raise TimeoutError(f"ldk-peer never printed {prefix!r}")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def ldk_peer():
    peers = []

    def make(*args):
        p = LdkPeer(*args)
        peers.append(p)
        return p
    yield make
    for p in peers:
        p.stop()


def test_ldk_peer_both_directions(node_factory, ldk_peer):
    b = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    bid = node_id(b)
    ldk = ldk_peer()
    # boltd connects out to LDK.
    host, port = ldk.addr.rsplit(":", 1)
    r = b.rpc.connect(ldk.id, host, int(port))
    assert r["direction"] == "out"
    ldk.expect(f"connected {bid} in")
    b.rpc.call("sendcustommsg", [ldk.id, "77770012"])
    assert ldk.expect("recv ") == f"recv {bid} 77770012"
    ldk.cmd(f"send {bid} 8001abcd")
    hook = wait_for(lambda: recorded(b, "custommsg_hook"), what="hook")[0]
    assert hook == {"kind": "custommsg_hook", "peer_id": ldk.id, "payload": "8001abcd"}

    # A second LDK peer connects in, and its unknown even type gets it dropped.
    ldk2 = ldk_peer()
    ldk2.cmd(f"connect {bid}@127.0.0.1:{port_of(b)}")
    ldk2.expect(f"connected {bid} out")
    wait_for(lambda: len(b.rpc.listpeers()["peers"]) == 2, what="two peers")
    ldk2.cmd(f"send {bid} 7774aa")
    assert "Invalid unknown even msg 7774aa" in ldk2.expect("warning ")
    ldk2.expect(f"disconnected {bid}")
    wait_for(lambda: len(b.rpc.listpeers()["peers"]) == 1, what="ldk2 dropped")
    # The declared even type (plugin custommessages) passes.
    ldk.cmd(f"send {bid} 7776aa")
    wait_for(lambda: any(e["payload"] == "7776aa" for e in recorded(b, "custommsg_hook")),
             what="declared even type delivered")


# -- hostile peers ----------------------------------------------------------------------

def raw_socket(node):
    s = socket.create_connection(("127.0.0.1", port_of(node)), timeout=10)
    return s


def closed_within(s, secs):
    s.settimeout(secs)
    try:
        while True:
            if not s.recv(4096):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def test_garbage_and_truncated_handshakes(node_factory):
    env = os.environ.copy()
    os.environ["BOLTD_DEV_PEER_TICK_MS"] = "500"
    try:
        b = node_factory.get_node(options=LOCAL)
    finally:
        os.environ.clear()
        os.environ.update(env)
    s = raw_socket(b)
    s.sendall(os.urandom(50))
    assert closed_within(s, 5), "garbage act one must be dropped"
    s = raw_socket(b)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n" + b"\0" * 100)
    assert closed_within(s, 5)
    s = raw_socket(b)
    s.sendall(b"\0" * 20)
    assert closed_within(s, 5), "half an act one is reaped by the timer"
    s = raw_socket(b)
    assert closed_within(s, 5), "a silent socket is reaped by the timer"

    # A peer that completes the noise handshake but never sends init.
    p = ProtoPeer.initiator(b, send_init=False)
    assert p.closed.wait(5), "no init, no slot"
    assert b.rpc.listpeers()["peers"] == []
    assert_alive(b)
    ProtoPeer.initiator(b).expect(INIT)  # and the port still works


def test_connect_to_a_host_that_never_handshakes_says_it_timed_out(node_factory):
    """The host accepts TCP and stays silent: our timer ends the handshake, and the
    error says so (as connectd's `Cryptographic handshake: Connection timed out`)
    rather than blaming the peer or a wrong key."""
    env = os.environ.copy()
    os.environ["BOLTD_DEV_PEER_TICK_MS"] = "200"
    try:
        a = node_factory.get_node(options=LOCAL)
    finally:
        os.environ.clear()
        os.environ.update(env)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    port = silent.getsockname()[1]
    someone = "02" + "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    t = time.time()
    with pytest.raises(RpcError) as e:
        a.rpc.connect(someone, "127.0.0.1", port)
    assert time.time() - t < 10
    assert e.value.error["code"] == 401
    assert e.value.error["message"] == (
        f"All addresses failed: 127.0.0.1:{port}: Cryptographic handshake: "
        "Connection timed out. "), e.value.error
    silent.close()
    assert a.rpc.listpeers()["peers"] == []


def test_frame_with_bad_mac_disconnects(node_factory):
    b = node_factory.get_node(options=LOCAL)
    p = ProtoPeer.initiator(b)
    p.expect(INIT)
    wait_for(lambda: b.rpc.listpeers()["peers"], what="connected")
    # Encrypt a custom message, then flip one bit of its body before sending.
    m = bytes.fromhex("7777deadbeef")
    from pyln.proto.wire import encryptWithAD
    with p.conn.send_lock:
        lc = encryptWithAD(p.conn.sk, p.conn.nonce(p.conn.sn), b"", struct.pack("!H", len(m)))
        mc = bytearray(encryptWithAD(p.conn.sk, p.conn.nonce(p.conn.sn + 1), b"", m))
        mc[0] ^= 1
        p.conn.sn += 2
        p.conn.connection.sendall(lc + bytes(mc))
    assert p.closed.wait(10)
    wait_for(lambda: b.rpc.listpeers()["peers"] == [], what="dropped after bad MAC")
    assert_alive(b)


def test_two_hundred_peers_at_once(node_factory):
    b = node_factory.get_node(options=LOCAL)
    peers, errors = [], []

    def one():
        try:
            p = ProtoPeer.initiator(b)
            p.expect(INIT, timeout=30)
            peers.append(p)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    wait_for(lambda: b.rpc.getinfo()["num_peers"] == 200, timeout=30, what="200 peers")
    assert len(b.rpc.listpeers()["peers"]) == 200
    for p in peers:
        p.close()
    wait_for(lambda: b.rpc.getinfo()["num_peers"] == 0, timeout=30, what="all gone")
    assert_alive(b)


def test_getinfo_address_and_binding(node_factory):
    n = node_factory.get_node(options={"addr": "127.0.0.1:0",
                                       "announce-addr": "203.0.113.7:9735"})
    info = n.rpc.getinfo()
    assert len(info["binding"]) == 1
    b = info["binding"][0]
    assert b["type"] == "ipv4" and b["address"] == "127.0.0.1" and b["port"] > 0
    # Loopback is never announced; an explicit public announce-addr is.
    assert info["address"] == [{"type": "ipv4", "address": "203.0.113.7", "port": 9735}]
    # The port really listens.
    ProtoPeer.initiator(n).expect(INIT)
