"""`plugin start` parameter forms (reference §8, lightningd/plugin_control.c): the
`options` array also works positionally (`plugin start PATH ["k=v", "flag"]`); more
positional parameters than that must be keywords; an `options` that is not an array is
a parameter error naming it."""

import sys
from pathlib import Path

import pytest
from pyln.client import RpcError

from conftest import user_plugins

PLUGIN = '''
from pyln.client import Plugin
plugin = Plugin(dynamic=True)
plugin.add_option("colour", "red", "a string")
plugin.add_flag_option("loud", "a flag")
@plugin.method("settings")
def settings(plugin):
    return {"colour": plugin.get_option("colour"), "loud": plugin.get_option("loud")}
plugin.run()
'''


def write_plugin(directory):
    path = Path(directory) / "settings"
    path.write_text(f"#!{sys.executable}\n" + PLUGIN)
    path.chmod(0o755)
    return str(path)


def test_positional_options_array(node_factory, directory):
    node = node_factory.get_node()
    path = write_plugin(directory)
    node.rpc.call("plugin", ["start", path, ["colour=blue", "loud"]])
    assert node.rpc.call("settings") == {"colour": "blue", "loud": True}
    assert node.rpc.listconfigs("colour")["configs"]["colour"]["source"] == "pluginstart"


def test_bad_positional_and_keyword_forms(node_factory, directory):
    node = node_factory.get_node()
    path = write_plugin(directory)

    def err(params):
        with pytest.raises(RpcError) as e:
            node.rpc.call("plugin", params)
        return e.value.error

    assert err(["start", path, ["colour=blue"], "extra"]) == {
        "code": -32602, "message": "Extra parameters must be in object"}
    assert err(["start", path, "colour=blue"]) == {
        "code": -32602, "message": "options: should be an array: invalid token '\"colour=blue\"'"}
    assert err({"subcommand": "start", "plugin": path, "options": "colour=blue"}) == {
        "code": -32602, "message": "options: should be an array: invalid token '\"colour=blue\"'"}
    assert err({"subcommand": "start", "plugin": path, "options": [1]}) == {
        "code": -32602, "message": "options array entries must be strings"}
    assert user_plugins(node.rpc.plugin("list")) == []
