"""`setconfig` on a dynamic multi plugin option (reference §4.5): `val` is an array of
strings that replaces every value (no `val` clears them), the plugin is sent the array,
the result lists `values_str`/`sources`, and the new set (only it) survives a restart."""

import json
from pathlib import Path

import pytest
from pyln.client import RpcError

from test_plugin import manifest, raw_plugin

MULTI = {"name": "peers", "type": "string", "description": "several", "multi": True,
         "dynamic": True}


def received(record, method):
    lines = Path(record).read_text().splitlines() if Path(record).exists() else []
    return [m for m in map(json.loads, lines) if m.get("method") == method]


def test_setconfig_multi_replaces_all_values(node_factory, directory):
    record = f"{directory}/multi.jsonl"
    p = raw_plugin(directory, "multi", {
        "manifest": manifest(options=[MULTI]),
        "methods": {"setconfig": {"result": {}}},
        "record": record,
    })
    node = node_factory.get_node(plugins=[p])

    with pytest.raises(RpcError) as e:
        node.rpc.setconfig("peers", "a")
    assert e.value.error == {"code": -32602,
                             "message": "peers is a multi option: val must be an array"}
    assert received(record, "setconfig") == []

    r = node.rpc.setconfig("peers", ["a", "b"])
    [asked] = received(record, "setconfig")
    assert asked["params"] == {"config": "peers", "val": ["a", "b"]}
    conf = node.net_dir / "config.setconfig"
    c = r["config"]
    assert c["config"] == "peers" and c["values_str"] == ["a", "b"]
    assert c["plugin"] == p and c["dynamic"] is True
    assert [s.rsplit(":", 1)[0] for s in c["sources"]] == [str(conf)] * 2
    listed = node.rpc.listconfigs("peers")["configs"]["peers"]
    assert listed["values_str"] == ["a", "b"] and listed["sources"] == c["sources"]

    # A later set replaces the persisted values too.
    node.rpc.setconfig("peers", ["c"])
    assert received(record, "setconfig")[-1]["params"] == {"config": "peers", "val": ["c"]}
    node.restart()
    assert received(record, "init")[-1]["params"]["options"]["peers"] == ["c"]

    # No val clears them.
    node.rpc.setconfig("peers")
    assert received(record, "setconfig")[-1]["params"] == {"config": "peers", "val": []}
    assert "peers" not in node.rpc.listconfigs()["configs"]
