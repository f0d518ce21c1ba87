"""`check setconfig` (reference §4.5): fails where `setconfig` would, asks a plugin that
declared `cancheck` with the params `setconfig` would send, and never changes anything."""

import json
from pathlib import Path

import pytest
from pyln.client import RpcError

from test_plugin import manifest, raw_plugin

DYN = {"name": "level", "type": "int", "description": "a dynamic int", "dynamic": True, "default": 1}
FIXED = {"name": "fixed", "type": "string", "description": "not dynamic"}


def check_setconfig(node, config, val):
    return node.rpc.call("check", {"command_to_check": "setconfig", "config": config, "val": val})


def received(record, method):
    lines = Path(record).read_text().splitlines() if Path(record).exists() else []
    return [m for m in map(json.loads, lines) if m.get("method") == method]


def test_check_setconfig_asks_a_cancheck_plugin_and_changes_nothing(node_factory, directory):
    record = f"{directory}/vetoer.jsonl"
    vetoer = raw_plugin(directory, "vetoer", {
        "manifest": manifest(cancheck=True, options=[DYN, FIXED]),
        "methods": {"check": {"error": {"code": 1234, "message": "level too high"}}},
        "record": record,
    })
    node = node_factory.get_node(plugins=[vetoer])

    with pytest.raises(RpcError) as e:
        check_setconfig(node, "level", 9)
    assert e.value.error == {"code": 1234, "message": "level too high"}
    [asked] = received(record, "check")
    assert asked["params"] == {"command_to_check": "setconfig", "config": "level", "val": "9"}
    assert "/cln:check#" in asked["id"]

    # Nothing was set, persisted or sent as a real setconfig.
    assert node.rpc.listconfigs("level")["configs"]["level"]["value_int"] == 1
    assert not (node.net_dir / "config.setconfig").exists()
    assert received(record, "setconfig") == []


def test_check_setconfig_passes_when_the_plugin_agrees_or_cannot_check(node_factory, directory):
    agree_rec = f"{directory}/agree.jsonl"
    agree = raw_plugin(directory, "agree", {
        "manifest": manifest(cancheck=True, options=[DYN]),
        "methods": {"check": {"result": {"fine": True}}},
        "record": agree_rec,
    })
    blind_rec = f"{directory}/blind.jsonl"
    blind = raw_plugin(directory, "blind", {
        "manifest": manifest(options=[dict(DYN, name="other")]),
        "record": blind_rec,
    })
    node = node_factory.get_node(plugins=[agree, blind])

    assert check_setconfig(node, "level", 5) == {"command_to_check": "setconfig"}
    assert len(received(agree_rec, "check")) == 1
    # No cancheck: success without asking.
    assert check_setconfig(node, "other", 5) == {"command_to_check": "setconfig"}
    assert received(blind_rec, "check") == []
    assert node.rpc.listconfigs("level")["configs"]["level"]["value_int"] == 1


def test_check_setconfig_refuses_what_setconfig_refuses(node_factory, directory):
    record = f"{directory}/quiet.jsonl"
    p = raw_plugin(directory, "quiet", {
        "manifest": manifest(cancheck=True, options=[DYN, FIXED]),
        "methods": {"check": {"result": {}}},
        "record": record,
    })
    node = node_factory.get_node(plugins=[p])
    for args in (["level", "abc"], ["fixed", "x"], ["nosuch", "1"], ["alias", "x"]):
        with pytest.raises(RpcError) as checked:
            check_setconfig(node, *args)
        with pytest.raises(RpcError) as real:
            node.rpc.setconfig(*args)
        assert checked.value.error == real.value.error, args
        assert checked.value.error["code"] == -32602, args
    assert received(record, "check") == []
