"""`check plugin ...` (reference §5.4/§8): `start` checks the path is executable and
`startdir` that the directory exists, with the errors the real command gives, and starts
nothing."""

import pytest
from pyln.client import RpcError

from conftest import user_plugins


def test_check_plugin_start_and_startdir(node_factory, directory):
    node = node_factory.get_node()

    def both(params):
        with pytest.raises(RpcError) as checked:
            node.rpc.call("check", {"command_to_check": "plugin", **params})
        with pytest.raises(RpcError) as real:
            node.rpc.call("plugin", params)
        assert checked.value.error == real.value.error
        return checked.value.error

    assert both({"subcommand": "start", "plugin": "/nonexistent/p"}) == {
        "code": -32602, "message": "/nonexistent/p is not executable: No such file or directory"}
    assert both({"subcommand": "startdir", "directory": "/nonexistent/d"}) == {
        "code": -32602, "message": "Could not open /nonexistent/d"}

    ok = node.rpc.call("check", {"command_to_check": "plugin", "subcommand": "startdir",
                                 "directory": str(directory)})
    assert ok == {"command_to_check": "plugin"}
    assert user_plugins(node.rpc.plugin("list")) == []
