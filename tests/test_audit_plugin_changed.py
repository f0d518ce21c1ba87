"""Starting a plugin that is already running (reference §8): refused with `already
registered` while the file is unchanged; if the file changed and the plugin is not
important it is killed (`Plugin changed, needs restart.`) and started anew — by
`plugin start`, `startdir` and `rescan` alike."""

import os
import sys
from pathlib import Path

import pytest
from pyln.client import RpcError

PLUGIN = '''
import os
from pyln.client import Plugin
plugin = Plugin(dynamic=True)
@plugin.method("whoami")
def whoami(plugin):
    return {"pid": os.getpid()}
plugin.run()
'''


def write_plugin(path, version):
    path.write_text(f"#!{sys.executable}\n" + PLUGIN + f"# version {version}\n")
    path.chmod(0o755)
    return str(path)


def running(node, path):
    return [p for p in node.rpc.plugin("list")["plugins"] if p["name"] == path]


def test_changed_plugin_is_restarted_unchanged_is_refused(node_factory, directory):
    node = node_factory.get_node()
    plugdir = Path(directory) / "pd"
    plugdir.mkdir()
    path = write_plugin(plugdir / "whoami", 1)
    node.rpc.plugin("start", path)
    first = node.rpc.call("whoami")["pid"]

    with pytest.raises(RpcError) as e:
        node.rpc.plugin("start", path)
    assert e.value.error == {"code": -32602, "message": f"{path}: already registered"}
    assert node.rpc.call("whoami")["pid"] == first

    write_plugin(plugdir / "whoami", 2)
    node.rpc.plugin("start", path)
    second = node.rpc.call("whoami")["pid"]
    assert second != first
    assert len(running(node, path)) == 1
    node.wait_for_log(r"plugin-whoami: Killing plugin: Plugin changed, needs restart.")

    # startdir: unchanged stays, changed restarts.
    node.rpc.plugin("startdir", str(plugdir))
    assert node.rpc.call("whoami")["pid"] == second
    write_plugin(plugdir / "whoami", 3)
    node.rpc.plugin("startdir", str(plugdir))
    third = node.rpc.call("whoami")["pid"]
    assert third not in (first, second)
    assert len(running(node, path)) == 1


def test_changed_important_plugin_is_left_alone(node_factory, directory):
    path = write_plugin(Path(directory) / "vital", 1)
    node = node_factory.get_node(options={"important-plugin": path})
    first = node.rpc.call("whoami")["pid"]
    write_plugin(Path(directory) / "vital", 2)
    with pytest.raises(RpcError) as e:
        node.rpc.plugin("start", path)
    assert e.value.error["message"] == f"{path}: already registered"
    assert node.rpc.call("whoami")["pid"] == first
