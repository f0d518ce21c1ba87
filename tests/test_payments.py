"""Money over channels (issue 14, second part): ldk-node pays boltd's invoices over a channel
it opened to boltd; the invoice_payment hook can refuse a payment."""

import shutil
from pathlib import Path

from conftest import wait_for
from ldk_node import boltd_on, ldk_chain, ldk_node_factory  # noqa: F401 -- fixtures

PLUGINS = Path(__file__).resolve().parent / "plugins"
CHANNEL_SAT = 500_000


def channel_to_boltd(b, carol, chain, announce=False):
    """carol opens a channel to boltd and both see it usable."""
    info = b.rpc.getinfo()
    carol.fund(1_000_000)
    uc = carol.call("open_channel", node_id=info["id"],
                    address=f"127.0.0.1:{info['binding'][0]['port']}",
                    amount_sat=CHANNEL_SAT, announce=announce)["user_channel_id"]
    carol.wait_event("ChannelPending", user_channel_id=uc)
    chain.mine(6)
    carol.call("sync")
    carol.wait_event("ChannelReady", user_channel_id=uc)
    wait_for(lambda: b.rpc.listpeerchannels(carol.node_id)["channels"][0]["state"]
             == "CHANNELD_NORMAL", timeout=30, what="CHANNELD_NORMAL")
    return uc


def test_ldk_node_pays_boltd_invoice(node_factory, ldk_node_factory, ldk_chain):
    b = boltd_on(node_factory, ldk_chain,
                 options={"plugin": str(PLUGINS / "invoice_recorder.py")})
    carol = ldk_node_factory.get_node()
    channel_to_boltd(b, carol, ldk_chain)

    inv = b.rpc.invoice(50_000_000, "from-carol", "coffee")
    # The only channel is private: the invoice hints it, or carol's peers could not pay.
    routes = b.rpc.decode(inv["bolt11"])["routes"]
    assert [[h["pubkey"] for h in r] for r in routes] == [[carol.node_id]]

    carol.call("bolt11_send", invoice=inv["bolt11"])
    ok = carol.wait_event("PaymentSuccessful", payment_hash=inv["payment_hash"])
    paid = wait_for(lambda: [i for i in b.rpc.listinvoices("from-carol")["invoices"]
                             if i["status"] == "paid"], what="invoice paid")[0]
    assert paid["amount_received_msat"] == 50_000_000
    assert paid["payment_preimage"] == ok["payment_preimage"]
    assert paid["pay_index"] == 1 and paid["paid_at"] >= inv["expires_at"] - 604800
    notes = wait_for(lambda: [n for t, n in b.rpc.call("invoices_seen")["seen"]
                              if t == "invoice_payment"], what="invoice_payment notification")
    assert notes == [{"msat": 50_000_000, "preimage": ok["payment_preimage"],
                      "label": "from-carol"}]
    assert b.rpc.waitanyinvoice(0, 10)["label"] == "from-carol"
    ch = b.rpc.listpeerchannels(carol.node_id)["channels"][0]
    assert ch["to_us_msat"] == 50_000_000


def test_invoice_payment_hook_rejects(node_factory, ldk_node_factory, ldk_chain, directory):
    hook = Path(directory) / "invoice_payment_hook.py"
    shutil.copy(PLUGINS / "invoice_payment_hook.py", hook)
    Path(str(hook) + ".mode").write_text("reject")
    b = boltd_on(node_factory, ldk_chain, options={"plugin": str(hook)})
    carol = ldk_node_factory.get_node()
    channel_to_boltd(b, carol, ldk_chain)

    before = b.rpc.listpeerchannels(carol.node_id)["channels"][0]["to_us_msat"]
    inv = b.rpc.invoice(20_000_000, "refused", "no thanks")
    carol.call("bolt11_send", invoice=inv["bolt11"])
    carol.wait_event("PaymentFailed", payment_hash=inv["payment_hash"])
    seen = b.rpc.call("invoice_payments_seen")["seen"]
    assert [(s["label"], s["msat"]) for s in seen] == [("refused", 20_000_000)]
    assert b.rpc.listinvoices("refused")["invoices"][0]["status"] == "unpaid"
    ch = b.rpc.listpeerchannels(carol.node_id)["channels"][0]
    assert ch["to_us_msat"] == before, ch
