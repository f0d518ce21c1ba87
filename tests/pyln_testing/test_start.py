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
