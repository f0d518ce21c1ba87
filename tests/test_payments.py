"""Money over channels (issue 14, second part): ldk-node pays boltd's invoices over a channel
it opened to boltd; the invoice_payment hook can refuse a payment."""

import concurrent.futures
import shutil

import pytest
from pyln.client import RpcError
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


def channel_from_boltd(b, carol, chain):
    """boltd opens a channel to carol and both see it usable."""
    from test_ldk_node_channels import fund_boltd
    fund_boltd(b, chain, 1_000_000)
    carol.fund(100_000)  # ldk-node's anchor reserve, needed to accept
    b.rpc.connect(carol.node_id, "127.0.0.1", carol.port)
    b.rpc.fundchannel(carol.node_id, CHANNEL_SAT)
    carol.wait_event("ChannelPending")
    chain.mine(6)
    carol.call("sync")
    carol.wait_event("ChannelReady")
    wait_for(lambda: b.rpc.listpeerchannels(carol.node_id)["channels"][0]["state"]
             == "CHANNELD_NORMAL", timeout=30, what="CHANNELD_NORMAL")


def test_boltd_pays_ldk_node_invoice_once(node_factory, ldk_node_factory, ldk_chain):
    b = boltd_on(node_factory, ldk_chain)
    carol = ldk_node_factory.get_node()
    channel_from_boltd(b, carol, ldk_chain)

    inv = carol.call("bolt11_receive", amount_msat=30_000_000, description="tea")
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        results = list(ex.map(lambda _: b.rpc.pay(inv["invoice"]), range(2)))
    r = results[0]
    assert results[1]["payment_preimage"] == r["payment_preimage"]
    assert r["status"] == "complete" and r["payment_hash"] == inv["payment_hash"]
    assert r["destination"] == carol.node_id
    assert r["amount_msat"] == 30_000_000 and r["amount_sent_msat"] == 30_000_000
    assert r["parts"] == 1 and isinstance(r["created_at"], float)
    got = carol.wait_event("PaymentReceived", payment_hash=inv["payment_hash"])
    assert got["amount_msat"] == 30_000_000

    [p] = b.rpc.listsendpays()["payments"]
    assert p["status"] == "complete" and p["payment_preimage"] == r["payment_preimage"]
    assert p["bolt11"] == inv["invoice"] and p["description"] == "tea"
    [lp] = b.rpc.listpays(inv["invoice"])["pays"]
    assert lp["preimage"] == r["payment_preimage"] and lp["status"] == "complete"
    # Paying it again answers the earlier success; nothing more is sent.
    assert b.rpc.pay(inv["invoice"])["payment_preimage"] == r["payment_preimage"]
    assert len(b.rpc.listsendpays()["payments"]) == 1

    b.restart()
    assert [p["status"] for p in b.rpc.listsendpays()["payments"]] == ["complete"]


def test_pay_errors(node_factory, ldk_node_factory, ldk_chain):
    import pytest
    from pyln.client import RpcError
    b = boltd_on(node_factory, ldk_chain)
    carol = ldk_node_factory.get_node()
    with pytest.raises(RpcError, match="Invalid bolt11"):
        b.rpc.pay("lnbcrt1garbage")
    inv = carol.call("bolt11_receive", amount_msat=1000, description="x")["invoice"]
    with pytest.raises(RpcError, match="msatoshi parameter unnecessary"):
        b.rpc.pay(inv, amount_msat=5)
    # No channel at all: no route.
    with pytest.raises(RpcError) as e:
        b.rpc.pay(inv)
    assert e.value.error["code"] in (205, 209)
    assert b.rpc.listsendpays(status="failed")["payments"][0]["status"] == "failed"


def test_boltd_pays_boltd(node_factory, ldk_chain):
    from test_ldk_node_channels import fund_boltd
    a = boltd_on(node_factory, ldk_chain,
                 options={"plugin": str(PLUGINS / "sendpay_recorder.py")})
    b = boltd_on(node_factory, ldk_chain,
                 options={"plugin": str(PLUGINS / "invoice_recorder.py")})
    fund_boltd(a, ldk_chain, 1_000_000)
    b_info = b.rpc.getinfo()
    a.rpc.connect(b_info["id"], "127.0.0.1", b_info["binding"][0]["port"])
    a.rpc.fundchannel(b_info["id"], CHANNEL_SAT)
    ldk_chain.mine(6)
    for n, peer in ((a, b_info["id"]), (b, a.rpc.getinfo()["id"])):
        wait_for(lambda: n.rpc.listpeerchannels(peer)["channels"][0]["state"]
                 == "CHANNELD_NORMAL", timeout=30, what="CHANNELD_NORMAL")

    inv = b.rpc.invoice(12_345_000, "from-a", "between us")
    r = a.rpc.pay(inv["bolt11"], label="to-b")
    assert r["status"] == "complete" and r["destination"] == b_info["id"]
    paid = wait_for(lambda: [i for i in b.rpc.listinvoices("from-a")["invoices"]
                             if i["status"] == "paid"], what="paid")[0]
    assert paid["payment_preimage"] == r["payment_preimage"]
    [p] = a.rpc.listsendpays(payment_hash=inv["payment_hash"])["payments"]
    assert p["label"] == "to-b" and p["status"] == "complete"
    seen = wait_for(lambda: a.rpc.call("sendpays_seen")["seen"], what="sendpay_success")
    assert seen == [["sendpay_success", p]]

    # keysend with a text TLV: b records it as a paid "keysend: <text>" invoice.
    k = a.rpc.keysend(b_info["id"], 2_000_000, extratlvs={"70000": b"thanks".hex()})
    assert k["status"] == "complete" and k["amount_msat"] == 2_000_000
    got = wait_for(lambda: [i for i in b.rpc.listinvoices()["invoices"]
                            if i["payment_hash"] == k["payment_hash"]
                            and i["status"] == "paid"], what="keysend received")[0]
    assert got["description"] == "keysend: thanks"
    assert got["amount_received_msat"] == 2_000_000
    with pytest.raises(RpcError, match="We are the destination"):
        a.rpc.keysend(a.rpc.getinfo()["id"], 1000)
    with pytest.raises(RpcError, match="is not a valid numeric TLV type"):
        a.rpc.keysend(b_info["id"], 1000, extratlvs={"x": "00"})


# A BOLT 11 test vector of the spec, for testnet (`lntb`): another network than ours.
TESTNET_BOLT11 = (
    "lntb20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygshp58yjmdan79s6qqdhd"
    "zgynm4zwqd5d7xmw5fk98klysy043l2ahrqspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqyp"
    "qfpp3x9et2e20v6pu37c5d9vax37wxq72un989qrsgqdj545axuxtnfemtpwkc45hx9d2ft7x04mt8q7y6t0k2dge9e"
    "7h8kpy9p34ytyslj3yu569aalz2xdk8xkd7ltxqld94u8h2esmsmacgpghe9k8")


def test_garbage_gets_clear_errors_and_sends_nothing(node_factory, ldk_chain):
    """Malformed bolt11, a wrong checksum, another network, absurd amounts and a route
    through an unknown channel: each a clear error, and no HTLC leaves, no balance moves."""
    from boltd_pair import pair, to_us
    a, b = pair(node_factory, ldk_chain)
    start = to_us(a, b.info["id"])
    inv = b.rpc.invoice(1_000_000, "x", "y")
    bolt = inv["bolt11"]
    wrong = bolt[:-1] + ("q" if bolt[-1] != "q" else "p")
    anyinv = b.rpc.invoice("any", "any", "y")["bolt11"]
    cases = [
        (lambda: a.rpc.pay(wrong), -32602, "Invalid bolt11: Invalid bech32: invalid checksum"),
        (lambda: a.rpc.pay("lnbcrt1garbage"), -32602, "Invalid bolt11: "),
        (lambda: a.rpc.pay(TESTNET_BOLT11), -32602, "Invalid bolt11: Invoice is for another network"),
        (lambda: a.rpc.pay(anyinv, amount_msat=10**18), 205, "Failed: Could not find a route"),
        (lambda: a.rpc.keysend(b.info["id"], 10**18), 205, "Failed: Could not find a route"),
        (lambda: a.rpc.sendpay([{"id": b.info["id"], "channel": "1x1x1", "amount_msat": 1000,
                                 "delay": 20}], inv["payment_hash"],
                               payment_secret=inv["payment_secret"]),
         204, "No connection to first peer found"),
    ]
    for call, code, text in cases:
        with pytest.raises(RpcError) as e:
            call()
        assert e.value.error["code"] == code and e.value.error["message"].startswith(text), \
            e.value.error
    assert not a.rpc.listpeerchannels()["channels"][0]["htlcs"]
    assert to_us(a, b.info["id"]) == start
    assert b.rpc.listinvoices("x")["invoices"][0]["status"] == "unpaid"
    # The invoice itself is still paid once, in full.
    assert a.rpc.pay(bolt)["status"] == "complete"


def test_one_payment_for_two_pays_at_once_expired_and_keysend_received(node_factory, ldk_chain):
    """boltd to boltd: the same bolt11 paid twice at once is one payment; an expired invoice
    gets Core Lightning's 207 and nothing is sent; a keysend received is listed as Core
    Lightning's keysend plugin makes it (label keysend-<sec>.<nsec>, any amount)."""
    import concurrent.futures
    import re
    import time
    from boltd_pair import pair, to_us
    a, b = pair(node_factory, ldk_chain)
    inv = b.rpc.invoice(2_000_000, "twice", "x")
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        rs = list(ex.map(lambda _: a.rpc.pay(inv["bolt11"]), range(2)))
    assert [r["status"] for r in rs] == ["complete", "complete"]
    assert rs[0]["payment_preimage"] == rs[1]["payment_preimage"]
    assert len(a.rpc.listsendpays(payment_hash=inv["payment_hash"])["payments"]) == 1
    # The payee records its claim once its monitor update is durable, which may be just
    # after the payer saw the preimage.
    [i] = wait_for(lambda: [x for x in b.rpc.listinvoices("twice")["invoices"]
                            if x["status"] == "paid"], what="paid at b")
    assert i["amount_received_msat"] == 2_000_000 and i["pay_index"] == 1

    short = b.rpc.invoice(1000, "short", "x", expiry=1)
    wait_for(lambda: b.rpc.listinvoices("short")["invoices"][0]["status"] == "expired",
             what="expired")
    time.sleep(1)
    before = to_us(a, b.info["id"])
    with pytest.raises(RpcError) as e:
        a.rpc.pay(short["bolt11"])
    assert e.value.error["code"] == 207
    assert re.fullmatch(r"Invoice expired \d+ seconds ago", e.value.error["message"])
    assert a.rpc.listsendpays(payment_hash=short["payment_hash"])["payments"] == []
    assert to_us(a, b.info["id"]) == before

    k = a.rpc.keysend(b.info["id"], 3_000_000)
    [ki] = wait_for(lambda: [x for x in b.rpc.listinvoices()["invoices"]
                             if x["payment_hash"] == k["payment_hash"] and x["status"] == "paid"],
                    what="keysend listed")
    assert re.fullmatch(r"keysend-\d+\.\d{9}", ki["label"])
    assert "amount_msat" not in ki and ki["description"] == "keysend"
    assert ki["amount_received_msat"] == 3_000_000
    assert ki["payment_preimage"] == k["payment_preimage"]


@pytest.mark.parametrize("hook", [None, "invoice_payment_hook.py"])
def test_payee_fulfills_before_its_paid_record_is_written(node_factory, ldk_chain, directory,
                                                          hook, monkeypatch):
    """The payee sends the preimage as soon as it claims, not once the invoice's paid-record
    (a store write for LDK's `PaymentClaimed`, the next event of the batch) is durable:
    that record used to hold the fulfill back until some unrelated peer message or the
    peer tick flushed LDK's queue. With the paid-record held back by a db_write plugin and
    the peer tick out of the way, the payer's `pay` still completes; the invoice is paid
    once the write goes through."""
    from boltd_pair import pair, hook_plugin
    monkeypatch.setenv("BOLTD_DEV_PEER_TICK_MS", "600000")
    gate = directory / "db_write_gate.py"
    shutil.copy(PLUGINS / "db_write_gate.py", gate)
    plugins = [str(gate)] + ([str(hook_plugin(directory, hook))] if hook else [])
    a, b = pair(node_factory, ldk_chain, b_options={"plugin": plugins})
    # Gossip and the first payment's traffic settle first: any message from a would
    # flush b's queue and hide the wait.
    a.rpc.pay(b.rpc.invoice(1_000_000, "warm-up", "first")["bolt11"])
    def announced(n, other):
        return [x for x in n.rpc.listnodes(other.info["id"])["nodes"] if "alias" in x]
    wait_for(lambda: len(b.rpc.listchannels()["channels"]) == 2
             and len(a.rpc.listchannels()["channels"]) == 2
             and announced(a, b) and announced(b, a), timeout=60, what="gossip")
    inv = b.rpc.invoice(10_000_000, "gated", "held back")
    Path(str(gate) + ".hash").write_text(inv["payment_hash"])

    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        paying = ex.submit(a.rpc.pay, inv["bolt11"])
        try:
            r = paying.result(timeout=20)
            assert r["status"] == "complete"
            # The paid-record comes to be held (it was, or will be, written after the
            # claim the payer saw).
            wait_for(lambda: Path(str(gate) + ".held").exists(), what="held")
        finally:
            Path(str(gate) + ".open").touch()
    paid = wait_for(lambda: [i for i in b.rpc.listinvoices("gated")["invoices"]
                             if i["status"] == "paid"], timeout=60, what="paid")[0]
    assert paid["payment_preimage"] == r["payment_preimage"]
