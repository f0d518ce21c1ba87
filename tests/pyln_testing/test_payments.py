"""Payments the way plugin suites make them: pyln-testing's `line_graph` with announced
channels (waits on `listnodes` and `listchannels`), `pay` of an invoice and
`getroute`/`sendpay`/`waitsendpay` along the route, over two hops."""
from pyln.testing.fixtures import *  # noqa: F401,F403


def test_announced_line_graph_pays_over_two_hops(node_factory):
    l1, l2, l3 = node_factory.line_graph(3, wait_for_announce=True)
    for a, b in ((l1, l2), (l2, l3)):
        scid = a.get_channel_scid(b)
        l1.wait_channel_active(scid)

    inv = l3.rpc.invoice(1_000_000, "pyln-pay", "two hops")
    r = l1.rpc.pay(inv["bolt11"])
    assert r["status"] == "complete" and r["destination"] == l3.info["id"]

    inv = l3.rpc.invoice(2_000_000, "pyln-sendpay", "two hops")
    secret = l3.rpc.decode(inv["bolt11"])["payment_secret"]
    route = l1.rpc.getroute(l3.info["id"], 2_000_000, 1, cltv=42)["route"]
    assert [h["id"] for h in route] == [l2.info["id"], l3.info["id"]]
    l1.rpc.sendpay(route, inv["payment_hash"], payment_secret=secret)
    done = l1.rpc.waitsendpay(inv["payment_hash"], timeout=60)
    assert done["status"] == "complete"
    assert l3.rpc.listinvoices("pyln-sendpay")["invoices"][0]["status"] == "paid"
