"""`coin_movement` channel moves of payments (issue 14; reference §6.7): A pays C through B
and keysends to B, all boltd. Each node's bookkeeper sums its channel moves per channel;
the sums equal the changes of `listpeerchannels.to_us_msat`, fees included on the payer."""

from pathlib import Path

from conftest import wait_for
from ldk_node import boltd_on, ldk_chain  # noqa: F401 -- fixture
from test_forwards import open_channel
from test_ldk_node_channels import fund_boltd

BOOKKEEPER = str(Path(__file__).resolve().parent / "plugins" / "bookkeeper.py")


def books(n):
    return n.rpc.call("bkpr-sums")


def to_us(n):
    """to_us_msat per channel id."""
    return {c["channel_id"]: c["to_us_msat"]
            for c in n.rpc.listpeerchannels()["channels"]}


def test_invoice_and_keysend_channel_moves_sum_to_the_balances(node_factory, ldk_chain):
    a, b, c = (boltd_on(node_factory, ldk_chain, options={"plugin": BOOKKEEPER})
               for _ in range(3))
    fund_boltd(a, ldk_chain, 1_000_000)
    fund_boltd(b, ldk_chain, 1_000_000)
    open_channel(ldk_chain, a, b)
    open_channel(ldk_chain, b, c, announce=False)
    start = {n: to_us(n) for n in (a, b, c)}

    inv = c.rpc.invoice(10_000_000, "through-b", "moves")
    r = a.rpc.pay(inv["bolt11"])
    fee = r["amount_sent_msat"] - r["amount_msat"]
    assert fee > 0
    ks = a.rpc.keysend(b.rpc.getinfo()["id"], 3_000_000)
    assert ks["status"] == "complete"

    def settled():
        return all(sum(books(n)["channel_balances"].values())
                   == sum(to_us(n).values()) - sum(start[n].values()) for n in (a, b, c))
    wait_for(settled, timeout=30, what="channel moves match the balances")

    a_moves = books(a)["channel_moves"]
    assert [m["primary_tag"] for m in a_moves] == ["invoice", "invoice"]
    paid = [m for m in a_moves if m["payment_hash"] == inv["payment_hash"]]
    assert len(paid) == 1
    assert paid[0]["debit_msat"] == r["amount_sent_msat"] and paid[0]["credit_msat"] == 0
    assert paid[0]["fees_msat"] == fee
    assert paid[0]["part_id"] >= 1 and paid[0]["group_id"] >= 1
    [keysent] = [m for m in a_moves if m["payment_hash"] == ks["payment_hash"]]
    assert keysent["debit_msat"] == 3_000_000 and keysent["fees_msat"] == 0
    for m in a_moves:
        assert m["type"] == "channel_mvt" and m["version"] == 2 and m["coin_type"] == "bcrt"
        assert m["tags"] == ["invoice"] and m["extra_tags"] == []
        assert m["account_id"] in start[a]
    assert [m["created_index"] for m in a_moves] == [1, 2]

    [received] = books(c)["channel_moves"]
    assert received["primary_tag"] == "invoice" and received["credit_msat"] == 10_000_000
    assert received["debit_msat"] == 0 and received["fees_msat"] == 0
    assert received["payment_hash"] == inv["payment_hash"]
    assert "part_id" not in received and "group_id" not in received

    b_moves = books(b)["channel_moves"]
    assert sorted(m["primary_tag"] for m in b_moves) == ["invoice", "routed", "routed"]
    [k] = [m for m in b_moves if m["primary_tag"] == "invoice"]
    assert k["credit_msat"] == 3_000_000 and k["payment_hash"] == ks["payment_hash"]
