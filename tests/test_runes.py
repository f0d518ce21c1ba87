"""Runes (`createrune`, `showrunes`, `checkrune`, `blacklistrune` and aliases) and
commando, checked against Core Lightning's behaviour (reference
cln-runes-commando-reference.md): byte-identical runes from a known `hsm_secret`, refusal
texts, persistence, commando between two boltd nodes and by hand over pyln-proto, and the
calls clnrest makes.
"""

import json
import os
import struct
import sys
import time
from pathlib import Path

import pytest
from pyln.client import RpcError

from conftest import REPO, wait_for
from test_peers import LOCAL, PLUGIN, ProtoPeer, node_id, port_of, recorded

os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

REST_LIKE = str(REPO / "tests" / "plugins" / "rest_like.py")
SEED_00_1F = bytes(range(32))
VECTORS = [
    (None, "uNRPyX5AHfGHy3NoyOKuJN6OwkYJ5IOW8IhzU-pSuxw9MA=="),
    ([["method=getinfo"]], "wyXcVnVzW2azS3TJxL1LENDmM-KCscRz1tCJu7Y65a49MSZtZXRob2Q9Z2V0aW5mbw=="),
    ([["method=getinfo", "method=listpeers"], ["pnum<2"]],
     "8jtG2wzmBMzwMGN_GoORYCZACV11Ch7VLKcOEqY-pqg9MiZtZXRob2Q9Z2V0aW5mb3xtZXRob2Q9bGlzdHBlZXJzJnBudW08Mg=="),
    ([["rate=2"]], "j9JrlySxEFVOL1nyfVjPLAB4Kw7bnoZdGCngZfNay7E9MyZyYXRlPTI="),
    ("readonly", "w3ucOpbUoQUwPiy3fhZakMuiHy6IfuQ_HraRe5-bvTU9NCZtZXRob2RebGlzdHxtZXRob2ReZ2V0fG1ldGhvZD1zdW1tYXJ5Jm1ldGhvZC9saXN0ZGF0YXN0b3Jl"),
    ([], "o1aepSw7wCAotBhibCS7RtSB2W-txAmK5G2SwjPqBxk9NQ=="),
]
WARNING = ("WARNING: This rune has no restrictions! Anyone who has access to this rune could "
           "drain funds from your node. Be careful when giving this to apps that you don't "
           "trust. Consider using the restrictions parameter to only allow access to specific "
           "rpc methods.")
# ccan's vector: id 2 version 1, minted from a 16-byte zero secret.
VERSIONED = "RSB3NAfJZYZGMm_f_mhf-8PIY5oIDa5DELNxgwogXPE9Mi0x"
BAD_B64 = "rune: should be base64 string: invalid token (see logs for details)"
NO_ID = "rune: should have valid numeric unique_id: invalid token (see logs for details)"

REQ_MORE, REQ_LAST, REPLY_MORE, REPLY_LAST = 0x4c4d, 0x4c4f, 0x594b, 0x594d


def seeded_node(node_factory, seed=SEED_00_1F, **kw):
    node = node_factory.get_node(start=False, **kw)
    node.net_dir.mkdir(parents=True, exist_ok=True)
    path = node.net_dir / "hsm_secret"
    path.write_bytes(seed)
    path.chmod(0o400)
    node.start()
    return node


def create_all(node):
    out = []
    for restrictions, _ in VECTORS:
        args = {} if restrictions is None else {"restrictions": restrictions}
        out.append(node.rpc.call("createrune", args))
    return out


def err(fn, *a, **kw):
    with pytest.raises(RpcError) as e:
        fn(*a, **kw)
    return e.value.error["code"], e.value.error["message"]


def check(node, rune, **kw):
    return node.rpc.call("checkrune", dict(rune=rune, **kw))


def test_runes_are_byte_identical_to_core_lightnings(node_factory):
    n = seeded_node(node_factory, options=LOCAL)
    got = create_all(n)
    for i, ((_, want), r) in enumerate(zip(VECTORS, got)):
        assert r["rune"] == want
        assert r["unique_id"] == str(i)
        unrestricted = i in (0, 5)
        assert ("warning_unrestricted_rune" in r) == unrestricted
        if unrestricted:
            assert r["warning_unrestricted_rune"] == WARNING
            assert list(r) == ["rune", "unique_id", "warning_unrestricted_rune"]
    # The alias is the same handler; a restricted copy keeps the id and uses none.
    copy = n.rpc.call("invokerune", {"rune": got[1]["rune"], "restrictions": [["pnum=0"]]})
    assert copy["unique_id"] == "1" and "warning_unrestricted_rune" not in copy
    assert n.rpc.call("createrune")["unique_id"] == "6"
    assert check(n, copy["rune"], method="getinfo", params={}) == {"valid": True}
    assert err(check, n, copy["rune"], method="getinfo", params=[1]) == (
        1502, "Not permitted: number of parameters is not equal to 0")
    # Values are escaped exactly as Core Lightning escapes them.
    r = n.rpc.call("createrune", {"restrictions": [["pnamedescription=a|b&c\\d"]]})
    shown = n.rpc.call("showrunes", {"rune": r["rune"]})["runes"][0]
    assert shown["restrictions"][0]["alternatives"][0]["value"] == "a|b&c\\d"
    import base64
    text = base64.urlsafe_b64decode(r["rune"])[32:].decode()
    assert text == "=7&pnamedescription=a\\|b\\&c\\\\d"


def test_createrune_refusals(node_factory):
    n = node_factory.get_node()
    bad = "restrictions: not a valid restriction (should be array): invalid token (see logs for details)"
    for restrictions in ["writeonly", ["method=getinfo"], [["=1"]], [["nocondition"]], [[5]],
                         [[]], 5]:
        assert err(n.rpc.call, "createrune", {"restrictions": restrictions}) == (-32602, bad)
    assert err(n.rpc.call, "createrune", {"rune": "not-a-rune"}) == (-32602, BAD_B64)
    assert err(n.rpc.call, "createrune", {"foo": 1})[0] == -32602
    # Nothing above used an id.
    assert n.rpc.call("createrune")["unique_id"] == "0"


def test_showrunes_shapes(node_factory):
    n = seeded_node(node_factory)
    assert n.rpc.call("showrunes") == {"runes": []}
    runes = create_all(n)
    listed = n.rpc.call("showrunes")["runes"]
    assert [r["rune"] for r in listed] == [r["rune"] for r in runes]
    two = listed[2]
    assert list(two) == ["rune", "unique_id", "restrictions", "restrictions_as_english"]
    assert two["restrictions_as_english"] == (
        "method equal to getinfo OR method equal to listpeers AND pnum < 2")
    assert two["restrictions"][1] == {
        "alternatives": [{"fieldname": "pnum", "value": "2", "condition": "<",
                          "english": "pnum < 2"}],
        "english": "pnum < 2"}
    assert listed[0]["restrictions"] == [] and listed[0]["restrictions_as_english"] == ""
    # A given rune: an unpadded copy is not "stored"; a foreign one is not ours.
    unpadded = runes[1]["rune"].rstrip("=")
    one = n.rpc.call("showrunes", {"rune": unpadded})["runes"]
    assert len(one) == 1 and one[0]["stored"] is False and "our_rune" not in one[0]
    foreign = n.rpc.call("showrunes", {"rune": VERSIONED})["runes"][0]
    assert foreign["stored"] is False and foreign["our_rune"] is False
    assert foreign["unique_id"] == "2"
    # last_used appears once used: seconds with nine decimals.
    check(n, runes[0]["rune"])
    used = n.rpc.call("showrunes", {"rune": runes[0]["rune"]})["runes"][0]
    assert list(used) == ["rune", "last_used", "unique_id", "restrictions",
                          "restrictions_as_english"]
    assert abs(used["last_used"] - time.time()) < 60
    assert err(n.rpc.call, "showrunes", {"rune": ""}) == (-32602, BAD_B64)


def test_checkrune_texts(node_factory):
    n = seeded_node(node_factory)
    runes = [r["rune"] for r in create_all(n)]
    nid = "02" + "ab" * 32
    assert check(n, runes[1], method="getinfo") == {"valid": True}
    assert err(check, n, runes[1], method="listpeers") == (
        1502, "Not permitted: method is not equal to getinfo")
    assert err(check, n, runes[1]) == (1502, "Not permitted: method not present")
    assert err(check, n, runes[2], method="listpeers", params=[1, 2]) == (
        1502, "Not permitted: number of parameters is greater or equal to 2")
    assert check(n, runes[4], method="listfunds") == {"valid": True}
    assert err(check, n, runes[4], method="listdatastore") == (
        1502, "Not permitted: method is equal to listdatastore")
    # Positional, with a node id in upper case.
    assert n.rpc.call("checkrune", [runes[1], nid.upper(), "getinfo", []]) == {"valid": True}
    # Parameter mapping and the rewording of only the start of the text.
    r = n.rpc.call("createrune", {"restrictions": [["method=a", "pnamex=1"]]})["rune"]
    assert err(check, n, r, method="b", params={"x": 2}) == (
        1502, "Not permitted: method is not equal to a AND pnamex is not equal to 1")
    r = n.rpc.call("createrune", {"restrictions": [["pnameamountmsat<1000"], ["parr1!"]]})["rune"]
    assert check(n, r, params={"amount_msat": 999}) == {"valid": True}
    assert err(check, n, r, params={"amount_msat": 1000}) == (
        1502, "Not permitted: parameter amountmsat is greater or equal to 1000")
    r2 = n.rpc.call("createrune", {"restrictions": [["parr1=x"]]})["rune"]
    assert err(check, n, r2, params=[0]) == (1502, "Not permitted: parameter #1 not present")
    r3 = n.rpc.call("createrune", {"restrictions": [['pnamex=a"b']]})["rune"]
    assert err(check, n, r3, params={"x": "c"}) == (
        1502, 'Not permitted: parameter x is not equal to a\\"b')
    r4 = n.rpc.call("createrune", {"restrictions": [[f"id={nid}"]]})["rune"]
    assert check(n, r4, nodeid=nid) == {"valid": True}
    assert err(check, n, r4) == (1502, "Not permitted: id not present")
    # Derivation and parameter errors.
    assert err(check, n, VERSIONED) == (1501, "Not authorized: Version mismatch")
    other = node_factory.get_node().rpc.call("createrune")["rune"]
    assert err(check, n, other) == (1501, "Not authorized: Not derived from master")
    assert err(check, n, runes[1] + "=") == (-32602, BAD_B64)
    assert check(n, runes[1].rstrip("="), method="getinfo") == {"valid": True}
    assert err(n.rpc.call, "checkrune", {}) == (-32602, "missing required parameter: rune")
    assert err(check, n, runes[1], nodeid="02") == (
        -32602, "nodeid: should be a node id: invalid token (see logs for details)")
    assert err(check, n, runes[1], params="x") == (
        -32602, "params: must be object or array: invalid token (see logs for details)")
    import base64
    no_id = base64.urlsafe_b64encode(b"\x01" * 32 + b"method=a").decode()
    assert err(check, n, no_id) == (-32602, NO_ID)


def test_rate_blacklist_and_persistence(node_factory):
    n = seeded_node(node_factory)
    runes = [r["rune"] for r in create_all(n)]
    assert check(n, runes[3]) == {"valid": True}
    assert err(check, n, runes[3]) == (1502, "Not permitted: too soon")
    per = n.rpc.call("createrune", {"restrictions": [["per=1hour"]]})["rune"]
    assert check(n, per) == {"valid": True}
    assert err(check, n, per) == (1502, "Not permitted: too soon")
    # The blacklist: merged ranges, relist, the alias, and refusals.
    assert n.rpc.call("blacklistrune") == {"blacklist": []}
    n.rpc.call("blacklistrune", {"start": 1})
    n.rpc.call("blacklistrune", {"start": 3})
    assert n.rpc.call("destroyrune", {"start": 2}) == {"blacklist": [{"start": 1, "end": 3}]}
    assert err(check, n, runes[2]) == (1503, "Not authorized: Blacklisted rune")
    # Before derivation: a forged rune with a blacklisted id number.
    forged = n.rpc.call("showrunes", {"rune": VERSIONED})["runes"][0]
    assert forged["blacklisted"] is True
    assert err(check, n, VERSIONED) == (1503, "Not authorized: Blacklisted rune")
    assert err(n.rpc.call, "blacklistrune", {"end": 3}) == (
        -32602, "Can not specify end without start")
    assert err(n.rpc.call, "blacklistrune", {"start": 1, "end": 100000000}) == (
        -32602, "Cannot blacklist beyond 100000000")
    assert err(n.rpc.call, "blacklistrune", {"start": 5, "end": 3})[0] == -32602
    assert n.rpc.call("blacklistrune", {"start": 2, "relist": True}) == {
        "blacklist": [{"start": 1, "end": 1}, {"start": 3, "end": 3}]}
    shown = n.rpc.call("showrunes")
    n.restart()
    # Everything survives: runes, last_used, the rate state, the blacklist, the counter.
    assert n.rpc.call("showrunes") == shown
    assert err(check, n, per) == (1502, "Not permitted: too soon")
    assert err(check, n, runes[1], method="getinfo") == (1503, "Not authorized: Blacklisted rune")
    assert n.rpc.call("blacklistrune")["blacklist"] == [{"start": 1, "end": 1},
                                                       {"start": 3, "end": 3}]
    assert n.rpc.call("createrune")["unique_id"] == "7"


def test_rune_writes_reach_db_write(node_factory):
    import sqlite3
    n = node_factory.get_node(plugins=[str(REPO / "tests" / "plugins" / "backup.py")])
    r = n.rpc.call("createrune")["rune"]
    n.rpc.call("blacklistrune", {"start": 4})
    check(n, r)
    db = sqlite3.connect(n.net_dir / "backup.sqlite3")
    rows = db.execute("SELECT id, rune, last_used_nsec FROM runes").fetchall()
    assert rows[0][:2] == (0, r) and rows[0][2] is not None
    assert db.execute("SELECT start_index, end_index FROM runes_blacklist").fetchall() == [(4, 4)]


def test_clnrest_calls(node_factory):
    n = node_factory.get_node(plugins=[REST_LIKE])
    ro = n.rpc.call("createrune", {"restrictions": "readonly"})["rune"]
    ok = n.rpc.call("restcall", {"rune": ro, "rpc_method": "getinfo"})
    assert ok["status"] == 201 and ok["body"]["id"] == node_id(n)
    assert ok["unique_id"] == "0"
    entry = ok["showrunes"]["runes"][0]
    for key in ("rune", "unique_id", "restrictions", "restrictions_as_english"):
        assert key in entry
    denied = n.rpc.call("restcall", {"rune": ro, "rpc_method": "stop"})
    assert denied["status"] == 401
    assert denied["body"]["code"] == 1502
    assert denied["body"]["message"].startswith("Not permitted: method does not start with list")
    bad = n.rpc.call("restcall", {"rune": "garbage", "rpc_method": "getinfo"})
    assert bad["status"] == 401 and bad["body"]["code"] == -32602
    full = n.rpc.call("createrune")["rune"]
    missing = n.rpc.call("restcall", {"rune": full, "rpc_method": "nosuchmethod"})
    assert missing["status"] == 404
    # socket.io asks with a pseudo-method, which a readonly rune allows ("list…").
    assert n.rpc.call("restnotifications", {"rune": ro}) == {"valid": True}
    gi = n.rpc.call("createrune", {"restrictions": [["method=getinfo"]]})["rune"]
    assert n.rpc.call("restnotifications", {"rune": gi}) == {"error": {
        "code": 1502, "message": "Not permitted: method is not equal to getinfo"}}


# ---- commando --------------------------------------------------------------------------


def connected_pair(node_factory, b_kw=None):
    a = node_factory.get_node(options=LOCAL)
    b = node_factory.get_node(options=LOCAL, **(b_kw or {}))
    a.rpc.connect(node_id(b), "127.0.0.1", port_of(b))
    wait_for(lambda: b.rpc.listpeers()["peers"] and b.rpc.listpeers()["peers"][0]["connected"],
             what="b accepted a")
    return a, b


def commando(node, peer, method, params=None, rune=None, filter=None):
    args = {"peer_id": peer if isinstance(peer, str) else node_id(peer), "method": method}
    for k, v in (("params", params), ("rune", rune), ("filter", filter)):
        if v is not None:
            args[k] = v
    return node.rpc.call("commando", args)


def test_commando_between_two_boltd_nodes(node_factory):
    a, b = connected_pair(node_factory)
    full = b.rpc.call("createrune")["rune"]
    info = commando(a, b, "getinfo", rune=full)
    assert info["id"] == node_id(b)
    # The filter travels with the request.
    assert commando(a, b, "getinfo", rune=full, filter={"id": True}) == {"id": node_id(b)}
    # Refusals of the rune, with Core Lightning's codes and texts.
    only_peers = b.rpc.call("createrune", {"restrictions": [["method=listpeers"]]})["rune"]
    assert err(commando, a, b, "getinfo", rune=only_peers) == (
        19537, "Invalid rune: Not permitted: method is not equal to listpeers")
    foreign = a.rpc.call("createrune")["rune"]
    assert err(commando, a, b, "getinfo", rune=foreign) == (
        19537, "Invalid rune: Not authorized: Not derived from master")
    assert err(commando, a, b, "getinfo") == (19536, "Missing rune")
    assert err(commando, a, b, "getinfo", rune="x") == (19536, "Invalid rune")
    # `id` restrictions see the sending peer.
    by_id = b.rpc.call("createrune", {"restrictions": [[f"id={node_id(a)}"]]})["rune"]
    assert commando(a, b, "getinfo", rune=by_id)["id"] == node_id(b)
    # The remote's own errors pass through unchanged.
    assert err(commando, a, b, "nosuchmethod", rune=full) == (
        -32601, "Unknown command 'nosuchmethod'")
    commando(a, b, "datastore", params={"key": "k", "string": "v"}, rune=full)
    assert err(commando, a, b, "datastore", params={"key": "k", "string": "v"}, rune=full)[0] == 1202
    # Big requests and replies span several messages.
    big = "x" * 200_000
    commando(a, b, "datastore", params={"key": "big", "string": big}, rune=full)
    got = commando(a, b, "listdatastore", params={"key": "big"}, rune=full)
    assert got["datastore"][0]["string"] == big
    # Params given as a JSON string are pasted as-is.
    assert "datastore" in commando(a, b, "listdatastore", params="[]", rune=full)
    assert err(commando, a, b, "getinfo", params="x", rune=full) == (19536, "Invalid JSON")
    # Errors of the client itself.
    stranger = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    assert err(a.rpc.call, "commando", {"peer_id": stranger, "method": "getinfo"}) == (
        -32600, f"No such peer: {stranger}")
    assert err(a.rpc.call, "commando", {"peer_id": node_id(b)}) == (
        -32602, "missing required parameter: method")
    # And the other way round.
    a_rune = a.rpc.call("createrune", {"restrictions": "readonly"})["rune"]
    assert commando(b, a, "getinfo", rune=a_rune)["id"] == node_id(a)


def send_request(peer, req_id, text, chunk=65000):
    data = text if isinstance(text, bytes) else text.encode()
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] or [b""]
    for i, p in enumerate(pieces):
        t = REQ_LAST if i == len(pieces) - 1 else REQ_MORE
        peer.send(struct.pack("!HQ", t, req_id) + p)


def read_reply(peer, req_id, timeout=20):
    """The reply to `req_id`; replies to other ids that arrive first are kept for later."""
    stash = peer.__dict__.setdefault("commando_replies", {})
    parts = peer.__dict__.setdefault("commando_parts", {})
    deadline = time.time() + timeout
    while req_id not in stash:
        left = deadline - time.time()
        if left <= 0:
            raise TimeoutError("no commando reply")
        try:
            m = peer.msgs.get(timeout=left)
        except Exception:
            continue
        t = struct.unpack("!H", m[:2])[0]
        if t not in (REPLY_MORE, REPLY_LAST):
            continue
        assert len(m) <= 65535
        rid = struct.unpack("!Q", m[2:10])[0]
        parts[rid] = parts.get(rid, b"") + m[10:]
        if t == REPLY_LAST:
            stash[rid] = json.loads(parts.pop(rid))
    return stash.pop(req_id)


def proto_pair(node_factory):
    b = node_factory.get_node(options=LOCAL, plugins=[PLUGIN])
    peer = ProtoPeer.initiator(b)
    wait_for(lambda: b.rpc.listpeers()["peers"] and b.rpc.listpeers()["peers"][0]["connected"],
             what="proto peer accepted")
    return b, peer


def test_commando_wire_format_by_hand(node_factory):
    b, peer = proto_pair(node_factory)
    full = b.rpc.call("createrune")["rune"]
    ids = ['7', '"a\\"b"', '[1]', 'null', '1.5']
    for i, id_tok in enumerate(ids):
        send_request(peer, 100 + i,
                     f'{{"method":"getinfo","id":{id_tok},"params":{{}},"rune":"{full}"}}')
        r = read_reply(peer, 100 + i)
        assert r["jsonrpc"] == "2.0" and r["result"]["id"] == node_id(b)
        assert json.dumps(r["id"]) == json.dumps(json.loads(id_tok))
    refusals = [
        ("{", "Invalid JSON"),
        ("[1]", "Not a JSON object"),
        ('{"id":1}', "No method"),
        ('{"method":"getinfo","params":5,"id":1}', "Params must be object or array"),
        ('{"method":"getinfo"}', "missing id field"),
        ('{"method":"getinfo","id":1}', "Missing rune"),
        ('{"method":"getinfo","id":1,"rune":"x"}', "Invalid rune"),
    ]
    for i, (text, msg) in enumerate(refusals):
        send_request(peer, 200 + i, text)
        assert read_reply(peer, 200 + i) == {"error": {"code": 19536, "message": msg}}
    ro = b.rpc.call("createrune", {"restrictions": [["method=listpeers"]]})["rune"]
    send_request(peer, 300, f'{{"method":"getinfo","id":1,"rune":"{ro}"}}')
    assert read_reply(peer, 300) == {"error": {
        "code": 19537, "message": "Invalid rune: Not permitted: method is not equal to listpeers"}}
    # No params at all is accepted; a reply over several pieces comes back whole.
    send_request(peer, 301, f'{{"method":"getinfo","id":1,"rune":"{full}"}}')
    assert read_reply(peer, 301)["result"]["id"] == node_id(b)
    big = "y" * 150_000
    send_request(peer, 302, json.dumps({"method": "datastore", "id": 2, "rune": full,
                                        "params": {"key": "big", "string": big}}))
    assert read_reply(peer, 302)["result"]["string"] == big
    send_request(peer, 303, json.dumps({"method": "listdatastore", "id": 3, "rune": full,
                                        "params": ["big"]}))
    assert read_reply(peer, 303)["result"]["datastore"][0]["string"] == big
    # Plugins still see commando's messages (commando is just one custommsg consumer).
    wait_for(lambda: any(e["payload"].startswith("4c4f") for e in recorded(b, "custommsg_hook")),
             what="hook saw a commando piece")


def test_commando_object_id_does_not_wedge_anything(node_factory):
    b, peer = proto_pair(node_factory)
    full = b.rpc.call("createrune")["rune"]
    send_request(peer, 1, f'{{"method":"getinfo","id":{{"a":[1]}},"rune":"{full}"}}')
    r = read_reply(peer, 1)
    assert r["id"] == {"a": [1]} and r["result"]["id"] == node_id(b)
    send_request(peer, 2, f'{{"method":"getinfo","id":["x","y"],"rune":"{full}"}}')
    assert read_reply(peer, 2)["id"] == ["x", "y"]
    # Still serving everyone.
    send_request(peer, 3, f'{{"method":"getinfo","id":3,"rune":"{full}"}}')
    assert read_reply(peer, 3)["result"]["id"] == node_id(b)


def test_commando_garbage_oversize_and_interleaving(node_factory):
    b, peer = proto_pair(node_factory)
    full = b.rpc.call("createrune")["rune"]
    # Too short to carry an id, then junk bytes, then a never-terminated request.
    peer.send(struct.pack("!H", REQ_LAST) + b"\x00\x01")
    peer.send(struct.pack("!HQ", REQ_LAST, 9) + b"\xff" + os.urandom(300))
    peer.send(struct.pack("!HQ", REQ_MORE, 10) + b'{"method":')
    # Interleaving: a new id from the same peer discards the unfinished one.
    peer.send(struct.pack("!HQ", REQ_MORE, 11) + b'{"method":"getinfo",')
    send_request(peer, 12, f'{{"method":"getinfo","id":12,"rune":"{full}"}}')
    assert read_reply(peer, 12)["result"]["id"] == node_id(b)
    assert read_reply(peer, 9) == {"error": {"code": 19536, "message": "Invalid JSON"}}
    # The rest of the discarded request arrives alone: not JSON by itself.
    peer.send(struct.pack("!HQ", REQ_LAST, 11) + f'"id":11,"rune":"{full}"}}'.encode())
    assert read_reply(peer, 11) == {"error": {"code": 19536, "message": "Invalid JSON"}}
    # Over 1 MiB: dropped (no answer required), and the node keeps serving.
    chunk = b"x" * 65000
    for _ in range(17):
        peer.send(struct.pack("!HQ", REQ_MORE, 13) + chunk)
    peer.send(struct.pack("!HQ", REQ_LAST, 13) + b"}")
    send_request(peer, 14, f'{{"method":"getinfo","id":14,"rune":"{full}"}}')
    r = read_reply(peer, 14, timeout=60)
    assert r["result"]["id"] == node_id(b)
    assert b.rpc.getinfo()["id"] == node_id(b)


def test_commando_runs_through_rpc_command_hook(node_factory, tmp_path):
    import shutil
    hook = tmp_path / "hook.py"
    shutil.copy(REPO / "tests" / "plugins" / "pyln_hook.py", hook)
    hook.chmod(0o755)
    a, b = connected_pair(node_factory, b_kw={"plugins": [str(hook)]})
    full = b.rpc.call("createrune")["rune"]
    bid = node_id(b)
    Path(str(hook) + ".mode").write_text("return")
    assert commando(a, bid, "getinfo", rune=full) == {"from": "hook.py", "method": "getinfo"}
    Path(str(hook) + ".mode").write_text("error")
    assert err(commando, a, bid, "getinfo", rune=full) == (1234, "blocked by hook.py")
    Path(str(hook) + ".mode").write_text("continue")


# BOLT 11's "1 cup coffee" example (2500u, payee 03e7156a…).
COFFEE = ("lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfq"
          "qqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpu9qrsgquk0rl77nj30yxdy8j9vdx85"
          "fkpmdla2087ne0xh8nhedh8w27kyke0lp53ut353s06fv3qfegext0eh0ymjpf39tuven09sam30g4vgpfna3rh")
COFFEE_PAYEE = "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad"


def test_pinv_fields_decode_bolt11(node_factory):
    n = node_factory.get_node()
    r = n.rpc.call("createrune", {"restrictions": [
        ["pinvbolt11_amount<250000001"], ["pinvbolt11_description=1 cup coffee"],
        [f"pinvbolt11_node={COFFEE_PAYEE}"]]})["rune"]
    assert check(n, r, method="pay", params={"bolt11": COFFEE}) == {"valid": True}
    assert check(n, r, method="pay", params={"bolt11": "lightning:" + COFFEE}) == {"valid": True}
    small = n.rpc.call("createrune", {"restrictions": [["pinvbolt11_amount<1000"]]})["rune"]
    assert err(check, n, small, params={"bolt11": COFFEE}) == (
        1502, "Not permitted: invoice parameter bolt11_amount is greater or equal to 1000")
    code, msg = err(check, n, small, params={"bolt11": "lnbcjunk"})
    assert code == 1502 and msg.startswith("Not permitted: Invalid invoice: ")
    assert err(check, n, small, params={"invoice": COFFEE}) == (
        1502, "Not permitted: Unknown invoice parameter bolt11")
    foo = n.rpc.call("createrune", {"restrictions": [["pinvbolt11_foo=1"]]})["rune"]
    assert err(check, n, foo, params={"bolt11": COFFEE}) == (
        1502, "Not permitted: Unknown invoice field bolt11_foo")
