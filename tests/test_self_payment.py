"""Paying our own invoices, with no HTLC and no channel, as Core Lightning does.

`sendpay` with an empty route (lightningd/pay.c `self_payment`): no payment hook; the invoice
is paid, the part completes, `invoice_payment` and `sendpay_success` are notified; a payment
the invoice refuses fails from us with `incorrect_or_unknown_payment_details`, in
lightningd's words. `pay` of our own invoice (xpay's self-pay, injected at our own final
hop): decided with the `invoice_payment` hook, never `htlc_accepted`."""

import shutil
from pathlib import Path

import pytest
from pyln.client import RpcError

from conftest import wait_for

PLUGINS = Path(__file__).resolve().parent / "plugins"
FAILCODE = 16399  # WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS


def test_sendpay_with_an_empty_route_pays_our_own_invoice(node_factory, directory):
    hook = Path(directory) / "invoice_payment_hook.py"
    shutil.copy(PLUGINS / "invoice_payment_hook.py", hook)
    Path(str(hook) + ".mode").write_text("reject")
    n = node_factory.get_node(plugins=[str(PLUGINS / "sendpay_recorder.py"),
                                       str(PLUGINS / "invoice_recorder.py"), str(hook)])
    us = n.rpc.getinfo()["id"]
    inv = n.rpc.invoice(50_000, "self", "to myself")
    h, bolt11 = inv["payment_hash"], inv["bolt11"]
    secret = n.rpc.decode(bolt11)["payment_secret"]

    for params, msg in (({"payment_secret": secret}, "Self-payment requires amount_msat"),
                        ({"amount_msat": 50_000, "partid": 1, "payment_secret": secret},
                         "Self-payment does not allow (non-zero) partid"),
                        ({"partid": 1}, "Must specify msatoshi with partid")):
        with pytest.raises(RpcError) as e:
            n.rpc.call("sendpay", {"route": [], "payment_hash": h, **params})
        assert (e.value.error["code"], e.value.error["message"]) == (-32602, msg)
    assert n.rpc.listsendpays(payment_hash=h)["payments"] == []

    refused = [
        ({"amount_msat": 50_000}, f"Attempt to pay {h} without secret"),
        ({"amount_msat": 50_000, "payment_secret": "11" * 32},
         f"Attempt to pay {h} with wrong payment_secret"),
        ({"amount_msat": 49_999, "payment_secret": secret},
         f"Attempt to pay {h} with amount 49999msat < 50000msat"),
        ({"amount_msat": 100_001, "payment_secret": secret},
         f"Attempt to pay {h} with amount 100001msat > 100000msat"),
    ]
    for params, msg in refused:
        with pytest.raises(RpcError) as e:
            n.rpc.call("sendpay", {"route": [], "payment_hash": h, **params})
        err = e.value.error
        assert (err["code"], err["message"]) == (203, msg)
        d = err["data"]
        assert (d["status"], d["failcode"], d["failcodename"], d["erring_index"],
                d["erring_node"], d["destination"]) == (
            "failed", FAILCODE, "WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS", 0, us, us)
    unknown = "22" * 32
    with pytest.raises(RpcError) as e:
        n.rpc.sendpay([], unknown, amount_msat=1000, payment_secret=secret)
    assert e.value.error["message"] == f"Unknown invoice {unknown}"
    assert n.rpc.listinvoices("self")["invoices"][0]["status"] == "unpaid"
    parts = n.rpc.listsendpays(payment_hash=h)["payments"]
    assert [(p["groupid"], p["status"]) for p in parts] == [(g, "failed") for g in (1, 2, 3, 4)]

    done = n.rpc.sendpay([], h, amount_msat=50_000, payment_secret=secret, label="mine",
                         bolt11=bolt11)
    paid = n.rpc.listinvoices("self")["invoices"][0]
    assert paid["status"] == "paid" and paid["amount_received_msat"] == 50_000
    assert (done["status"], done["groupid"], done["destination"], done["amount_msat"],
            done["amount_sent_msat"], done["label"], done["bolt11"],
            done["payment_preimage"]) == (
        "complete", 5, us, 50_000, 50_000, "mine", bolt11, paid["payment_preimage"])
    assert "message" not in done and "partid" not in done
    assert n.rpc.waitsendpay(h) == done
    pays = n.rpc.listpays(payment_hash=h)["pays"]
    assert [p["status"] for p in pays] == ["failed"] * 4 + ["complete"]
    assert pays[4]["preimage"] == paid["payment_preimage"] and pays[4]["amount_msat"] == 50_000
    # The same part again is that part; nothing is paid twice.
    assert n.rpc.sendpay([], h, amount_msat=50_000, payment_secret=secret) == done
    with pytest.raises(RpcError, match="Already succeeded with amount 50000msat"):
        n.rpc.sendpay([], h, amount_msat=60_000, payment_secret=secret)

    # Four refusals of this invoice and the unknown one, then the success.
    seen = wait_for(lambda: len(n.rpc.call("sendpays_seen")["seen"]) == 6
                    and n.rpc.call("sendpays_seen")["seen"], what="6 sendpay notifications")
    assert [t for t, _ in seen] == ["sendpay_failure"] * 5 + ["sendpay_success"]
    first = seen[0][1]
    assert (first["code"], first["message"]) == (
        203, f"failed: WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS (Attempt to pay {h} without secret)")
    assert seen[5][1] == done
    payments = wait_for(lambda: [p for t, p in n.rpc.call("invoices_seen")["seen"]
                                 if t == "invoice_payment"], what="invoice_payment")
    assert [(p["label"], p["preimage"]) for p in payments] == [("self", paid["payment_preimage"])]
    # Core Lightning resolves a self-payment without the invoice_payment hook.
    assert n.rpc.call("invoice_payments_seen")["seen"] == []
    assert n.is_in_log("Self-resolved invoice 'self' with amount 50000msat")


def test_pay_of_our_own_invoice_goes_through_invoice_payment_not_htlc_accepted(node_factory,
                                                                               directory):
    hook = Path(directory) / "invoice_payment_hook.py"
    shutil.copy(PLUGINS / "invoice_payment_hook.py", hook)
    htlc = Path(directory) / "htlc_accepted_hook.py"
    shutil.copy(PLUGINS / "htlc_accepted_hook.py", htlc)
    n = node_factory.get_node(plugins=[str(PLUGINS / "sendpay_recorder.py"), str(hook),
                                       str(htlc)])
    us = n.rpc.getinfo()["id"]

    inv = n.rpc.invoice(70_000, "mine", "to myself")
    r = n.rpc.pay(inv["bolt11"])
    paid = n.rpc.listinvoices("mine")["invoices"][0]
    assert paid["status"] == "paid" and paid["amount_received_msat"] == 70_000
    assert (r["status"], r["destination"], r["amount_msat"], r["amount_sent_msat"], r["parts"],
            r["payment_preimage"]) == ("complete", us, 70_000, 70_000, 1,
                                       paid["payment_preimage"])
    assert isinstance(r["created_at"], float)
    assert [p["label"] for p in n.rpc.call("invoice_payments_seen")["seen"]] == ["mine"]
    assert n.rpc.call("htlcs_seen")["seen"] == []
    # Paying it again answers the earlier success.
    assert n.rpc.pay(inv["bolt11"])["payment_preimage"] == r["payment_preimage"]
    [p] = n.rpc.listsendpays(inv["bolt11"])["payments"]
    assert p["status"] == "complete" and p["destination"] == us

    # The invoice_payment hook rejects: the payer (us) hears the destination refused it.
    Path(str(hook) + ".mode").write_text("reject")
    inv = n.rpc.invoice(80_000, "refused", "no")
    with pytest.raises(RpcError) as e:
        n.rpc.pay(inv["bolt11"])
    err = e.value.error
    assert (err["code"], err["message"]) == (
        203, "Destination said it doesn't know invoice: WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS")
    assert err["data"]["status"] == "failed" and err["data"]["erring_node"] == us
    assert n.rpc.listinvoices("refused")["invoices"][0]["status"] == "unpaid"
    seen = wait_for(lambda: len(n.rpc.call("sendpays_seen")["seen"]) == 2
                    and n.rpc.call("sendpays_seen")["seen"], what="2 sendpay notifications")
    assert [t for t, _ in seen] == ["sendpay_success", "sendpay_failure"]


@pytest.mark.parametrize("how", ["sendpay", "pay"])
def test_killed_between_the_invoice_and_the_payment_record(node_factory, monkeypatch, how):
    """kill -9 after the invoice is recorded paid, before the payment is: the restart
    completes the payment (paying it was all that was left), it is not failed."""
    n = node_factory.get_node()
    n.stop()
    monkeypatch.setenv("BOLTD_DEV_CRASH_PAYMENT", "self_paid_before_record")
    n.start()
    monkeypatch.delenv("BOLTD_DEV_CRASH_PAYMENT")
    inv = n.rpc.invoice(90_000, "killed", "x")
    with pytest.raises((RpcError, OSError, ValueError)):
        if how == "pay":
            n.rpc.pay(inv["bolt11"])
        else:
            secret = n.rpc.decode(inv["bolt11"])["payment_secret"]
            n.rpc.sendpay([], inv["payment_hash"], amount_msat=90_000, payment_secret=secret)
    assert n.proc.wait(timeout=30) == 137
    n.start()
    paid = n.rpc.listinvoices("killed")["invoices"][0]
    assert paid["status"] == "paid"
    [p] = n.rpc.listsendpays(payment_hash=inv["payment_hash"])["payments"]
    assert p["status"] == "complete" and p["payment_preimage"] == paid["payment_preimage"]
    assert n.is_in_log("to ourselves: completed")
    if how == "pay":
        assert n.rpc.pay(inv["bolt11"])["payment_preimage"] == paid["payment_preimage"]
