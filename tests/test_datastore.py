"""Datastore commands as Core Lightning has them: modes, generations, key rules, listing,
usage, error codes 1200-1206, big and binary values, concurrent writers."""

import json
import socket
import threading

import pytest
from pyln.client import LightningRpc, RpcError


def err(excinfo):
    """(code, message) of a pyln RpcError."""
    e = excinfo.value.error
    return e["code"], e["message"]


def raw_call(node, method, params):
    """One request over a plain unix socket, exactly as given (no client clean-up)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(node.socket_path))
        s.sendall(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                              "params": params}).encode())
        buf = b""
        while b"\n\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, "connection closed"
            buf += chunk
    return json.loads(buf.split(b"\n\n")[0])


def test_datastore_result_shape_and_modes(node_factory):
    n = node_factory.get_node()
    rpc = n.rpc
    assert rpc.call("datastore", {"key": ["test", "name"], "string": "hello"}) == {
        "key": ["test", "name"], "generation": 0, "hex": "68656c6c6f", "string": "hello"}
    with pytest.raises(RpcError) as e:
        rpc.call("datastore", {"key": ["test", "name"], "string": "again"})
    assert err(e) == (1202, "Key already exists")

    r = rpc.call("datastore", {"key": ["test", "name"], "string": "bye", "mode": "must-replace"})
    assert (r["string"], r["generation"]) == ("bye", 1)
    r = rpc.call("datastore", {"key": ["test", "name"], "string": "!", "mode": "must-append"})
    assert (r["string"], r["generation"]) == ("bye!", 2)
    r = rpc.call("datastore", {"key": ["test", "name"], "string": "x", "mode": "create-or-replace"})
    assert (r["string"], r["generation"]) == ("x", 3)
    r = rpc.call("datastore", {"key": ["test", "name"], "string": "y", "mode": "create-or-append"})
    assert (r["string"], r["generation"]) == ("xy", 4)
    r = rpc.call("datastore", {"key": ["test", "new"], "string": "z", "mode": "create-or-append"})
    assert (r["string"], r["generation"]) == ("z", 0)

    for mode in ("must-replace", "must-append"):
        with pytest.raises(RpcError) as e:
            rpc.call("datastore", {"key": "missing", "string": "x", "mode": mode})
        assert err(e) == (1203, "Key does not exist")

    with pytest.raises(RpcError) as e:
        rpc.call("datastore", {"key": "k", "string": "x", "mode": "sometimes"})
    assert e.value.error["code"] == -32602
    assert e.value.error["message"].startswith(
        "mode: should be 'must-create', 'must-replace', 'create-or-replace', "
        "'must-append', or 'create-or-append'")

    with pytest.raises(RpcError) as e:
        rpc.call("datastore", {"key": "k", "string": "x", "hex": "00"})
    assert err(e) == (-32602, "Cannot have both hex and string")
    with pytest.raises(RpcError) as e:
        rpc.call("datastore", {"key": "k"})
    assert err(e) == (-32602, "Must have either hex or string")
    with pytest.raises(RpcError) as e:
        rpc.call("datastore", {"key": "k", "hex": "zz"})
    assert e.value.error["code"] == -32602 and e.value.error["message"].startswith("hex: ")


def test_generation_guards_updates_and_deletes(node_factory):
    rpc = node_factory.get_node().rpc
    rpc.call("datastore", {"key": "g", "string": "0"})
    rpc.call("datastore", {"key": "g", "string": "1", "mode": "must-replace", "generation": 0})
    with pytest.raises(RpcError) as e:
        rpc.call("datastore", {"key": "g", "string": "2", "mode": "must-replace", "generation": 0})
    assert err(e) == (1204, "generation is different")
    with pytest.raises(RpcError) as e:
        rpc.call("datastore", {"key": "g", "string": "2", "mode": "create-or-replace",
                               "generation": 1})
    assert err(e) == (-32602, "generation only valid with must-replace or must-append")

    with pytest.raises(RpcError) as e:
        rpc.call("deldatastore", {"key": "g", "generation": 0})
    assert err(e) == (1201, "generation is different")
    assert rpc.call("deldatastore", {"key": "g", "generation": 1}) == {
        "key": ["g"], "generation": 1, "hex": "31", "string": "1"}
    with pytest.raises(RpcError) as e:
        rpc.call("deldatastore", {"key": "g"})
    assert err(e) == (1200, "Key does not exist")


def test_key_is_a_leaf_or_a_parent_never_both(node_factory):
    rpc = node_factory.get_node().rpc
    rpc.call("datastore", {"key": ["a", "b", "c"], "string": "leaf"})
    with pytest.raises(RpcError) as e:
        rpc.call("datastore", {"key": ["a", "b"], "string": "x"})
    assert err(e) == (1205, "Key has children already")
    with pytest.raises(RpcError) as e:
        rpc.call("datastore", {"key": ["a", "b", "c", "d"], "string": "x"})
    assert err(e) == (1206, "Parent key [a,b,c] exists")
    with pytest.raises(RpcError) as e:
        rpc.call("deldatastore", {"key": ["a", "b"]})
    assert err(e) == (1200, "Key does not exist")


def test_listing_shows_children_the_way_cln_does(node_factory):
    rpc = node_factory.get_node().rpc
    for key in (["a", "x"], ["a", "y", "1"], ["a", "y", "2"], ["a", "z", "1", "deep"], ["b"]):
        rpc.call("datastore", {"key": key, "string": "v"})
    leaf = lambda k: {"key": k, "generation": 0, "hex": "76", "string": "v"}  # noqa: E731
    assert rpc.call("listdatastore") == {"datastore": [{"key": ["a"]}, leaf(["b"])]}
    assert rpc.call("listdatastore", {"key": "a"}) == {
        "datastore": [leaf(["a", "x"]), {"key": ["a", "y"]}, {"key": ["a", "z"]}]}
    assert rpc.call("listdatastore", [["a", "y"]]) == {
        "datastore": [leaf(["a", "y", "1"]), leaf(["a", "y", "2"])]}
    assert rpc.call("listdatastore", {"key": ["a", "x"]}) == {"datastore": [leaf(["a", "x"])]}
    assert rpc.call("listdatastore", {"key": "nothing"}) == {"datastore": []}


def test_datastoreusage_counts_data_and_keys(node_factory):
    rpc = node_factory.get_node().rpc
    assert rpc.call("datastoreusage") == {"datastoreusage": {"key": "[]", "total_bytes": 0}}
    rpc.call("datastore", {"key": ["a", "bc"], "string": "12345"})
    rpc.call("datastore", {"key": "d", "hex": "00"})
    assert rpc.call("datastoreusage") == {"datastoreusage": {"key": "[]", "total_bytes": 11}}
    assert rpc.call("datastoreusage", ["a"]) == {"datastoreusage": {"key": "[a]", "total_bytes": 9}}
    assert rpc.call("datastoreusage", {"key": ["a", "bc"]}) == {
        "datastoreusage": {"key": "[a,bc]", "total_bytes": 9}}


def test_key_forms_empty_and_100_parts(node_factory):
    rpc = node_factory.get_node().rpc
    # A string key is a one-part key.
    rpc.call("datastore", {"key": "solo", "string": "1"})
    assert rpc.call("listdatastore", {"key": ["solo"]})["datastore"][0]["key"] == ["solo"]
    with pytest.raises(RpcError) as e:
        rpc.call("datastore", {"key": [], "string": "1"})
    assert e.value.error["code"] == -32602
    assert e.value.error["message"].startswith("key: should not be empty")
    with pytest.raises(RpcError) as e:
        rpc.call("datastore", {"key": {"a": 1}, "string": "1"})
    assert e.value.error["message"].startswith("key: should be string or array")
    # The empty string is a key like any other.
    assert rpc.call("datastore", {"key": [""], "string": "e"})["key"] == [""]
    assert rpc.call("listdatastore", {"key": ""})["datastore"] == [
        {"key": [""], "generation": 0, "hex": "65", "string": "e"}]

    deep = ["p{}".format(i) for i in range(100)]
    rpc.call("datastore", {"key": deep, "string": "deep"})
    assert rpc.call("listdatastore", {"key": deep})["datastore"][0]["key"] == deep
    assert rpc.call("listdatastore", {"key": deep[:99]})["datastore"][0]["string"] == "deep"
    assert rpc.call("deldatastore", {"key": deep})["key"] == deep


def test_one_mib_and_binary_values(node_factory):
    rpc = node_factory.get_node()
    rpc = rpc.rpc
    big = bytes(i % 251 for i in range(1 << 20))
    r = rpc.call("datastore", {"key": "big", "hex": big.hex()})
    assert r["hex"] == big.hex() and "string" not in r  # contains NUL bytes
    assert rpc.call("listdatastore", {"key": "big"})["datastore"][0]["hex"] == big.hex()
    text = "ü" * (1 << 19)
    assert rpc.call("datastore", {"key": "bigtext", "string": text})["string"] == text

    allbytes = bytes(range(256))
    rpc.call("datastore", {"key": "bin", "hex": allbytes.hex()})
    got = rpc.call("listdatastore", {"key": "bin"})["datastore"][0]
    assert bytes.fromhex(got["hex"]) == allbytes and "string" not in got
    rpc.call("datastore", {"key": "empty", "string": ""})
    assert rpc.call("listdatastore", {"key": "empty"})["datastore"][0]["hex"] == ""


def test_sixteen_concurrent_writers(node_factory):
    """16 connections at once: appends to one key all land, and compare-and-swap with
    `generation` never loses an increment."""
    n = node_factory.get_node()
    rpc = n.rpc
    rpc.call("datastore", {"key": "shared", "string": ""})
    rpc.call("datastore", {"key": "counter", "string": "0"})
    writers, rounds = 16, 25
    errors = []

    def writer(i):
        try:
            mine = LightningRpc(str(n.socket_path))
            tag = "{:02d},".format(i)
            for j in range(rounds):
                mine.call("datastore", {"key": "shared", "string": tag, "mode": "must-append"})
                mine.call("datastore", {"key": ["own", str(i), str(j)], "hex": "ab"})
                while True:  # increment the counter with compare-and-swap
                    cur = mine.call("listdatastore", {"key": "counter"})["datastore"][0]
                    try:
                        mine.call("datastore", {"key": "counter",
                                                "string": str(int(cur["string"]) + 1),
                                                "mode": "must-replace",
                                                "generation": cur["generation"]})
                        break
                    except RpcError as e:
                        assert e.error["code"] == 1204
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    shared = rpc.call("listdatastore", {"key": "shared"})["datastore"][0]
    tags = shared["string"].split(",")[:-1]
    assert sorted(tags) == sorted("{:02d}".format(i) for i in range(writers) for _ in range(rounds))
    assert shared["generation"] == writers * rounds
    counter = rpc.call("listdatastore", {"key": "counter"})["datastore"][0]
    assert counter["string"] == str(writers * rounds)
    for i in range(writers):
        assert len(rpc.call("listdatastore", {"key": ["own", str(i)]})["datastore"]) == rounds


def test_pyln_helpers_and_null_parameters(node_factory):
    rpc = node_factory.get_node().rpc
    assert rpc.datastore(["p", "q"], string="v")["generation"] == 0
    assert rpc.datastore("p2", hex="00", mode="create-or-append")["hex"] == "00"
    assert [e["key"] for e in rpc.listdatastore()["datastore"]] == [["p"], ["p2"]]
    assert rpc.listdatastore(["p", "q"])["datastore"][0]["string"] == "v"
    assert rpc.datastoreusage("p")["datastoreusage"] == {"key": "[p]", "total_bytes": 4}
    assert rpc.deldatastore(["p", "q"], generation=0)["string"] == "v"
    # An explicit null is "not given", as in positional form (pyln drops None values,
    # so this goes over a raw socket).
    n = node_factory.nodes[0]
    assert raw_call(n, "listdatastore", {"key": None})["result"]["datastore"] == [
        {"key": ["p2"], "generation": 0, "hex": "00"}]
    assert raw_call(n, "deldatastore", {"key": None})["error"] == {
        "code": -32602, "message": "missing required parameter: key"}


def test_datastore_survives_restart_and_cli_forms(node_factory):
    n = node_factory.get_node()
    r = n.cli("datastore", '["cli","key"]', "from-cli")
    assert r.returncode == 0, r
    assert r.json["string"] == "from-cli"
    r = n.cli("-k", "datastore", "key=plain", "hex=0102")
    assert r.returncode == 0 and r.json["hex"] == "0102", r
    n.restart()
    assert n.rpc.call("listdatastore", {"key": ["cli", "key"]})["datastore"][0]["string"] == "from-cli"
    r = n.cli("deldatastore", "plain")
    assert r.json["key"] == ["plain"], r
