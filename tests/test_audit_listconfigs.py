"""`listconfigs` hides `dev-` options unless one is asked for by name (CLN's
lightning-listconfigs(7): "dev- options are not shown unless specified as config
explicitly")."""


def test_dev_options_only_when_named(node_factory):
    node = node_factory.get_node(options={"dev-plugin-timeout": 7})
    everything = node.rpc.listconfigs()["configs"]
    assert not [name for name in everything if name.startswith("dev-")]
    named = node.rpc.listconfigs("dev-plugin-timeout")["configs"]
    assert named == {"dev-plugin-timeout": {"value_int": 7, "source": "cmdline"}}
