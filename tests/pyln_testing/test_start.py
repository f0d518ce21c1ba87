from pyln.testing.fixtures import *  # noqa: F401,F403


def test_node_starts(node_factory):
    l1 = node_factory.get_node()
    assert l1.rpc.getinfo()["id"] == l1.info["id"]


def test_mnemonic_hsm_secret_gives_core_lightnings_runes(node_factory):
    # pyln-testing writes lightning-1's hsm_secret as 32 zero bytes + the BIP 39
    # mnemonic of b"lightning-1" (v25.12+ format); Core Lightning's first rune for it:
    l1 = node_factory.get_node()
    with open(l1.daemon.lightning_dir + "/regtest/hsm_secret", "rb") as f:
        assert f.read(32) == bytes(32)
    assert l1.rpc.createrune()["rune"] == "I9TZsYEWiAwThQye-gYhpWIe1h15szWEN_qNyMSBOdE9MA=="


def test_legacy_hsm_secret_gives_core_lightnings_runes(node_factory):
    # old_hsmsecret: 32 raw bytes, b"lightning-1" padded with zeros.
    l1 = node_factory.get_node(old_hsmsecret=True)
    with open(l1.daemon.lightning_dir + "/regtest/hsm_secret", "rb") as f:
        assert f.read() == b"lightning-1" + bytes(21)
    assert l1.rpc.createrune()["rune"] == "OSqc7ixY6F-gjcigBfxtzKUI54uzgFSA6YfBQoWGDV89MA=="


def test_restart_keeps_identity(node_factory):
    l1 = node_factory.get_node()
    node_id = l1.info["id"]
    l1.restart()
    assert l1.rpc.getinfo()["id"] == node_id
