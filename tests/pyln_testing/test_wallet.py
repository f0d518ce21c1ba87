"""On-chain funds the way pyln-testing's helpers move them: `newaddr`, bitcoind's
`sendtoaddress`, a block, then `listfunds` (as `LightningNode.fundchannel` waits)."""
from pyln.testing.fixtures import *  # noqa: F401,F403
from pyln.testing.utils import only_one, wait_for


def test_wallet_funded_from_bitcoind(node_factory, bitcoind):
    l1 = node_factory.get_node()
    addr = l1.rpc.newaddr("bech32")["bech32"]
    assert not any(o["address"] == addr for o in l1.rpc.listfunds()["outputs"])
    txid = bitcoind.send_and_mine_block(addr, 250_000)
    wait_for(lambda: any(o["address"] == addr for o in l1.rpc.listfunds()["outputs"]))
    out = only_one([o for o in l1.rpc.listfunds()["outputs"] if o["address"] == addr])
    assert out["txid"] == txid
    assert out["amount_msat"] == 250_000_000
    assert out["status"] == "confirmed"


def test_p2tr_and_bech32_addresses_both_receive(node_factory, bitcoind):
    l1 = node_factory.get_node()
    both = l1.rpc.newaddr("all")
    for addr in (both["bech32"], both["p2tr"]):
        bitcoind.rpc.sendtoaddress(addr, 0.001)
    bitcoind.generate_block(1, wait_for_mempool=2)
    wait_for(lambda: len(l1.rpc.listfunds()["outputs"]) == 2)


# fundwallet waits for the deposit in listtransactions.
def test_fundwallet(node_factory):
    l1 = node_factory.get_node()
    addr, txid = l1.fundwallet(300_000)
    out = only_one([o for o in l1.rpc.listfunds()["outputs"] if o["txid"] == txid])
    assert out["address"] == addr and out["amount_msat"] == 300_000_000
