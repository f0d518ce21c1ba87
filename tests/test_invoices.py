"""Invoices as Core Lightning has them: `invoice` (real BOLT 11, signed by our node key),
`listinvoices`, `waitinvoice`, `waitanyinvoice`, `delinvoice`, `decode`; CLN's error codes
900-908 and parameter texts; expiry; the `invoice_creation` notification; restarts."""

import hashlib
import threading
import time
from pathlib import Path

import pytest
from pyln.client import RpcError

PLUGINS = Path(__file__).resolve().parent / "plugins"
RECORDER = str(PLUGINS / "invoice_recorder.py")

# BOLT 11's own test vector (mainnet, no amount, payment secret 0x11..., another node).
SPEC_VECTOR = (
    "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzq"
    "fqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6"
    "rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsr"
    "vywa6rt52cm9r9zqt8r2t7mlcwspyetp5h2tztugp9lfyql"
)
# BOLT 11's fallback-address vector (mainnet, P2PKH fallback, route hints).
SPEC_FALLBACK = (
    "lnbc20m1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzq"
    "fqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqhp58yjmdan79s6qqdhdzgynm4zwqd5d7xmw5fk98klysy043l2"
    "ahrqsfpp3qjmp7lwpagxun9pygexvgpjdc4jdj85fr9yq20q82gphp2nflc7jtzrcazrra7wwgzxqc8u7754cdlp"
    "frmccae92qgzqvzq2ps8pqqqqqqpqqqqq9qqqvpeuqafqxu92d8lr6fvg0r5gv0heeeqgcrqlnm6jhphu9y00rr"
    "hy4grqszsvpcgpy9qqqqqqgqqqqq7qqzq9qrsgqdfjcdk6w3ak5pca9hwfwfh63zrrz06wwfya0ydlzpgzxkn5x"
    "agsqz7x9j4jwe7yj7vaf2k9lqsdk45kts2fd0fkr28am0u4w95tt2nsq76cqw0"
)


def err(excinfo):
    e = excinfo.value.error
    return e["code"], e["message"]


def test_invoice_is_real_bolt11_signed_by_us(node_factory):
    n = node_factory.get_node()
    rpc = n.rpc
    me = rpc.getinfo()["id"]
    before = int(time.time())
    inv = rpc.invoice(123456, "first", "a coffee")
    assert list(inv) == ["payment_hash", "expires_at", "bolt11", "payment_secret",
                         "created_index", "warning_capacity"]
    assert inv["warning_capacity"] == "Insufficient incoming channel capacity to pay invoice"
    assert inv["created_index"] == 1
    assert inv["bolt11"].startswith("lnbcrt1234560p1")
    assert before + 604800 <= inv["expires_at"] <= int(time.time()) + 604800

    d = rpc.decode(inv["bolt11"])
    assert d["type"] == "bolt11 invoice" and d["valid"] is True
    assert d["currency"] == "bcrt"
    assert d["payee"] == me
    assert d["amount_msat"] == 123456
    assert d["description"] == "a coffee"
    assert d["payment_hash"] == inv["payment_hash"]
    assert d["payment_secret"] == inv["payment_secret"]
    assert d["expiry"] == 604800
    assert d["created_at"] + d["expiry"] == inv["expires_at"]
    # CLN's default is 18; LDK accepts nothing below 42 at the final hop.
    assert d["min_final_cltv_expiry"] == 42
    # var_onion_optin and payment_secret required, basic_mpp optional.
    assert d["features"] == "024100"

    [row] = rpc.listinvoices()["invoices"]
    assert row == {
        "label": "first",
        "bolt11": inv["bolt11"],
        "payment_hash": inv["payment_hash"],
        "amount_msat": 123456,
        "status": "unpaid",
        "description": "a coffee",
        "expires_at": inv["expires_at"],
        "created_index": 1,
    }
    assert list(row) == list(row.keys())  # order as emitted

    # Amount forms, "any", a caller's preimage, a numeric label kept as sent.
    a = rpc.invoice("5sat", "five", "d")
    assert rpc.decode(a["bolt11"])["amount_msat"] == 5000
    pre = "11" * 32
    b = rpc.call("invoice", {"amount_msat": "any", "label": "anything", "description": "d",
                             "preimage": pre, "expiry": 60, "cltv": 144})
    assert b["payment_hash"] == hashlib.sha256(bytes.fromhex(pre)).hexdigest()
    db = rpc.decode(b["bolt11"])
    assert "amount_msat" not in db
    assert db["min_final_cltv_expiry"] == 144 and db["expiry"] == 60
    [any_row] = rpc.listinvoices(label="anything")["invoices"]
    assert "amount_msat" not in any_row
    c = rpc.call("invoice", [1000, 1, "numeric label"])
    assert rpc.listinvoices(label="1")["invoices"][0]["payment_hash"] == c["payment_hash"]


def test_invoice_parameter_errors_in_clns_words(node_factory):
    rpc = node_factory.get_node().rpc
    rpc.invoice(1000, "taken", "d", preimage="22" * 32)

    # The preimage is checked before the label.
    with pytest.raises(RpcError) as e:
        rpc.invoice(1000, "taken", "d", preimage="22" * 32)
    assert err(e) == (901, "preimage already used")
    with pytest.raises(RpcError) as e:
        rpc.invoice(1000, "taken", "d")
    assert err(e) == (900, "Duplicate label 'taken'")

    for bad in (0, "0msat", -5, "lots", 2.5):
        with pytest.raises(RpcError) as e:
            rpc.invoice(bad, "x", "d")
        code, msg = err(e)
        assert code == -32602
        assert msg.startswith("amount_msat: should be positive msat or 'any': invalid token")

    with pytest.raises(RpcError) as e:
        rpc.invoice(1000, "l" * 129, "d")
    assert err(e) == (-32602, f"Label '{'l' * 129}' over 128 bytes")
    rpc.invoice(1000, "l" * 128, "d")

    with pytest.raises(RpcError) as e:
        rpc.invoice(1000, "long", "x" * 640)
    assert err(e) == (-32602, "Description greater than 639 bytes invalid (description length 640)")
    long = rpc.invoice(1000, "long", "x" * 640, deschashonly=True)
    d = rpc.decode(long["bolt11"])
    assert "description" not in d
    assert d["description_hash"] == hashlib.sha256(b"x" * 640).hexdigest()
    assert rpc.listinvoices(label="long")["invoices"][0]["description"] == "x" * 640

    with pytest.raises(RpcError) as e:
        rpc.invoice(1000, "p", "d", preimage="abcd")
    code, msg = err(e)
    assert code == -32602 and msg.startswith("preimage: should be 64 hex digits")

    with pytest.raises(RpcError) as e:
        rpc.invoice(1000, "f", "d", fallbacks=["notanaddress"])
    assert err(e) == (-1, "Fallback address not valid")
    with pytest.raises(RpcError) as e:
        rpc.invoice(1000, "f", "d", fallbacks=["bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"])
    assert err(e) == (-1, "Fallback address does not match our network regtest")
    f = rpc.invoice(1000, "f", "d", fallbacks=["bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"])
    assert rpc.decode(f["bolt11"])["fallbacks"] == [{
        "type": "P2WPKH",
        "addr": "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
        "hex": "0014751e76e8199196d454941c45d1b3a323f1433bd6",
    }]

    # No channels yet: a named one cannot become a hint.
    with pytest.raises(RpcError) as e:
        rpc.invoice(1000, "h", "d", exposeprivatechannels="103x1x0")
    assert err(e) == (902, "None of those hints were suitable local channels")
    assert "bolt11" in rpc.invoice(1000, "h", "d", exposeprivatechannels=True)

    # Nothing refused was stored.
    labels = {i["label"] for i in rpc.listinvoices()["invoices"]}
    assert labels == {"taken", "l" * 128, "long", "f", "h"}


def test_listinvoices_selectors_and_indexes(node_factory):
    rpc = node_factory.get_node().rpc
    invs = [rpc.invoice(1000 + i, f"inv{i}", "d") for i in range(5)]
    assert [i["created_index"] for i in invs] == [1, 2, 3, 4, 5]

    assert [i["label"] for i in rpc.listinvoices()["invoices"]] == [f"inv{i}" for i in range(5)]
    assert rpc.listinvoices("inv2")["invoices"][0]["payment_hash"] == invs[2]["payment_hash"]
    assert rpc.listinvoices(invstring=invs[3]["bolt11"])["invoices"][0]["label"] == "inv3"
    assert rpc.listinvoices(payment_hash=invs[4]["payment_hash"])["invoices"][0]["label"] == "inv4"
    assert rpc.listinvoices("nosuch")["invoices"] == []
    assert rpc.listinvoices(payment_hash="00" * 32)["invoices"] == []
    assert rpc.listinvoices(invstring=SPEC_VECTOR)["invoices"] == []
    assert rpc.listinvoices(offer_id="00" * 32)["invoices"] == []

    page = rpc.listinvoices(index="created", start=2, limit=2)["invoices"]
    assert [i["created_index"] for i in page] == [2, 3]
    assert rpc.listinvoices(index="updated")["invoices"] == []

    with pytest.raises(RpcError) as e:
        rpc.listinvoices(label="inv1", payment_hash=invs[1]["payment_hash"])
    assert err(e) == (-32602, "Can only specify one of {label}, {invstring}, {payment_hash} or {offer_id}")
    with pytest.raises(RpcError) as e:
        rpc.listinvoices(start=1)
    assert err(e) == (-32602, "Can only specify {start} with {index}")
    with pytest.raises(RpcError) as e:
        rpc.listinvoices(limit=1)
    assert err(e) == (-32602, "Can only specify {limit} with {index}")
    with pytest.raises(RpcError) as e:
        rpc.listinvoices(invstring="lnbcrt1garbage")
    assert err(e) == (-32602, "Invalid invstring")
    with pytest.raises(RpcError) as e:
        rpc.listinvoices(payment_hash="zz")
    assert err(e)[0] == -32602


def test_delinvoice_status_and_desconly(node_factory):
    rpc = node_factory.get_node().rpc
    inv = rpc.invoice(1000, "del", "to be removed")

    with pytest.raises(RpcError) as e:
        rpc.delinvoice("nosuch", "unpaid")
    assert err(e) == (905, "Unknown invoice")
    with pytest.raises(RpcError) as e:
        rpc.delinvoice("del", "paid")
    assert err(e) == (906, "Invoice status is unpaid not paid")
    assert e.value.error["data"] == {"current_status": "unpaid", "expected_status": "paid"}

    r = rpc.delinvoice("del", "unpaid", desconly=True)
    assert "description" not in r
    assert r["updated_index"] == 1
    with pytest.raises(RpcError) as e:
        rpc.delinvoice("del", "unpaid", desconly=True)
    assert err(e) == (908, "Invoice description already removed")
    [row] = rpc.listinvoices(index="updated", start=1)["invoices"]
    assert row["label"] == "del" and "description" not in row

    gone = rpc.delinvoice("del", "unpaid")
    assert gone["payment_hash"] == inv["payment_hash"] and gone["status"] == "unpaid"
    assert rpc.listinvoices()["invoices"] == []
    # The label is free again; created_index is never reused.
    assert rpc.invoice(1000, "del", "again")["created_index"] == 2


def test_expiry_and_waits(node_factory):
    rpc = node_factory.get_node().rpc
    short = rpc.invoice(1000, "short", "d", expiry=2)

    with pytest.raises(RpcError) as e:
        rpc.waitinvoice("nosuch")
    assert err(e) == (-1, "Label not found")

    with pytest.raises(RpcError) as e:
        rpc.waitinvoice("short")
    # It waited for the expiry (seconds are whole: at most one early).
    assert time.time() >= short["expires_at"] - 1
    code, msg = err(e)
    assert (code, msg) == (903, "invoice expired during wait")
    assert e.value.error["data"]["status"] == "expired"
    assert e.value.error["data"]["label"] == "short"
    assert rpc.listinvoices("short")["invoices"][0]["status"] == "expired"
    # Expired already: at once.
    with pytest.raises(RpcError) as e:
        rpc.waitinvoice("short")
    assert err(e)[0] == 903
    with pytest.raises(RpcError) as e:
        rpc.delinvoice("short", "unpaid")
    assert err(e) == (906, "Invoice status is expired not unpaid")
    rpc.delinvoice("short", "expired")

    # Deleted while waited on.
    rpc.invoice(1000, "doomed", "d")
    result = {}

    def waiter():
        try:
            node_rpc = type(rpc)(rpc.socket_path)
            result["ok"] = node_rpc.waitinvoice("doomed")
        except RpcError as ex:
            result["err"] = (ex.error["code"], ex.error["message"])

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.5)
    rpc.delinvoice("doomed", "unpaid")
    t.join(10)
    assert result == {"err": (-1, "Invoice deleted during wait")}

    # Nothing paid: waitanyinvoice times out (at once with 0).
    t0 = time.time()
    with pytest.raises(RpcError) as e:
        rpc.waitanyinvoice(0, 0)
    assert err(e) == (904, "Timed out while waiting for invoice to be paid")
    with pytest.raises(RpcError) as e:
        rpc.waitanyinvoice(lastpay_index=0, timeout=1)
    assert err(e)[0] == 904
    assert 1 <= time.time() - t0 < 5


def test_decode_foreign_ours_and_garbage(node_factory):
    rpc = node_factory.get_node().rpc
    d = rpc.decode(SPEC_VECTOR)
    assert d == {
        "type": "bolt11 invoice",
        "valid": True,
        "currency": "bc",
        "created_at": 1496314658,
        "expiry": 3600,
        "payee": "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad",
        "description": "Please consider supporting this project",
        "min_final_cltv_expiry": 18,
        "payment_secret": "11" * 32,
        "features": "4100",
        "payment_hash": "0001020304050607080900010203040506070809000102030405060708090102",
        "signature": d["signature"],
    }
    assert list(d)[-2:] == ["payment_hash", "signature"]
    # DER, as CLN prints a signature.
    assert d["signature"].startswith("30")
    assert rpc.decode("lightning:" + SPEC_VECTOR) == d
    assert rpc.decode("LIGHTNING:" + SPEC_VECTOR) == d

    f = rpc.decode(SPEC_FALLBACK)
    assert f["amount_msat"] == 2_000_000_000
    assert f["description_hash"] == hashlib.sha256(
        b"One piece of chocolate cake, one icecream cone, one pickle, one slice of swiss "
        b"cheese, one slice of salami, one lollypop, one piece of cherry pie, one sausage, "
        b"one cupcake, and one slice of watermelon").hexdigest()
    assert f["fallbacks"] == [{"type": "P2PKH", "addr": "1RustyRX2oai4EYYDpQGWvEL62BBGqN9T",
                               "hex": "76a91404b61f7dc1ea0dc99424464cc4064dc564d91e8988ac"}]
    assert f["routes"] == [[
        {"pubkey": "029e03a901b85534ff1e92c43c74431f7ce72046060fcf7a95c37e148f78c77255",
         "short_channel_id": "66051x263430x1800", "fee_base_msat": 1,
         "fee_proportional_millionths": 20, "cltv_expiry_delta": 3},
        {"pubkey": "039e03a901b85534ff1e92c43c74431f7ce72046060fcf7a95c37e148f78c77255",
         "short_channel_id": "197637x395016x2314", "fee_base_msat": 2,
         "fee_proportional_millionths": 30, "cltv_expiry_delta": 4},
    ]]

    bad_checksum = SPEC_VECTOR[:-1] + ("q" if SPEC_VECTOR[-1] != "q" else "p")
    cases = [
        (bad_checksum, "Bad bech32 string"),
        ("hello", "Bad bech32 string"),
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "Prefix 'bc' does not start with ln"),
    ]
    for s, why in cases:
        with pytest.raises(RpcError) as e:
            rpc.decode(s)
        code, msg = err(e)
        assert code == -32602
        assert msg.startswith(f"string: {why}: invalid token"), msg

    # decodepay is gone from Core Lightning (v26.04).
    with pytest.raises(RpcError) as e:
        rpc.call("decodepay", [SPEC_VECTOR])
    assert err(e) == (-32601, "Unknown command 'decodepay'")


def test_invoices_survive_restart(node_factory):
    n = node_factory.get_node()
    rpc = n.rpc
    a = rpc.invoice(1000, "a", "d")
    b = rpc.invoice("any", "b", "d")
    before = rpc.listinvoices()["invoices"]
    n.stop()
    n.start()
    assert n.rpc.listinvoices()["invoices"] == before
    c = n.rpc.invoice(1000, "c", "d")
    assert c["created_index"] == 3
    with pytest.raises(RpcError) as e:
        n.rpc.invoice(1000, "a", "d")
    assert err(e)[0] == 900
    assert a["payment_hash"] != b["payment_hash"]


def test_invoice_creation_notification(node_factory):
    n = node_factory.get_node(plugins=[RECORDER])
    rpc = n.rpc
    rpc.invoice(4321, "n1", "d", preimage="33" * 32)
    rpc.invoice("any", "n2", "d", preimage="44" * 32)

    def seen():
        s = rpc.call("invoices_seen")["seen"]
        return s if len(s) == 2 else None

    from conftest import wait_for
    s = wait_for(seen, what="two invoice_creation notifications")
    assert s == [
        ["invoice_creation", {"msat": 4321, "preimage": "33" * 32, "label": "n1"}],
        ["invoice_creation", {"preimage": "44" * 32, "label": "n2"}],
    ]
    assert list(s[0][1]) == ["msat", "preimage", "label"]


def test_waiters_do_not_hold_up_stop(node_factory):
    n = node_factory.get_node()
    rpc = n.rpc
    rpc.invoice(1000, "w", "d")
    errors = []

    def wait(method, *args):
        try:
            type(rpc)(rpc.socket_path).call(method, list(args))
        except Exception as ex:  # noqa: BLE001 -- whatever the stop does to the call
            errors.append(ex)

    threads = [threading.Thread(target=wait, args=("waitanyinvoice",)),
               threading.Thread(target=wait, args=("waitinvoice", "w"))]
    for t in threads:
        t.start()
    time.sleep(0.5)
    t0 = time.time()
    assert n.stop() in (0, None)
    assert time.time() - t0 < 10
    for t in threads:
        t.join(10)
        assert not t.is_alive()


def test_concurrent_same_label_or_preimage_one_wins(node_factory):
    n = node_factory.get_node()
    results = []
    lock = threading.Lock()

    def make(label, preimage):
        try:
            r = type(n.rpc)(n.rpc.socket_path).invoice(1000, label, "d", preimage=preimage)
            out = ("ok", r["payment_hash"])
        except RpcError as ex:
            out = ("err", ex.error["code"])
        with lock:
            results.append(out)

    threads = [threading.Thread(target=make, args=("same", f"{i:064x}")) for i in range(10)]
    threads += [threading.Thread(target=make, args=(f"l{i}", "ab" * 32)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    oks = [r for r in results if r[0] == "ok"]
    errs = sorted(r[1] for r in results if r[0] == "err")
    assert len(results) == 20
    # One invoice took the label, one took the preimage (possibly the same one).
    assert 1 <= len(oks) <= 2
    assert set(errs) <= {900, 901}
    invs = n.rpc.listinvoices()["invoices"]
    assert len(invs) == len(oks)
    assert len([i for i in invs if i["label"] == "same"]) == 1
    hashes = [i["payment_hash"] for i in invs]
    assert hashes.count(hashlib.sha256(bytes.fromhex("ab" * 32)).hexdigest()) == 1


def test_absurd_and_wrong_typed_inputs(node_factory):
    rpc = node_factory.get_node().rpc
    for amount in ("21000001btc", 2**64, "18446744073709551616msat", {"a": 1}, [1]):
        with pytest.raises(RpcError) as e:
            rpc.call("invoice", {"amount_msat": amount, "label": "x", "description": "d"})
        assert e.value.error["code"] == -32602
    for bad in ({"label": ["x"], "amount_msat": 1, "description": "d"},
                {"label": "x", "amount_msat": 1, "description": 5},
                {"label": "x", "amount_msat": 1, "description": "d", "expiry": -1},
                {"label": "x", "amount_msat": 1, "description": "d", "expiry": 2**63},
                {"label": "x", "amount_msat": 1, "description": "d", "cltv": 2**32},
                {"label": "x", "amount_msat": 1, "description": "d", "fallbacks": "addr"},
                {"label": "x", "amount_msat": 1, "description": "d",
                 "exposeprivatechannels": "1x2"},
                {"label": "x", "amount_msat": 1, "description": "d", "deschashonly": "yes"}):
        with pytest.raises(RpcError) as e:
            rpc.call("invoice", bad)
        assert e.value.error["code"] == -32602, bad
    for method, params in (("decode", {"string": 5}), ("decode", {}),
                           ("listinvoices", {"invstring": 5}),
                           ("listinvoices", {"index": "sideways"}),
                           ("waitanyinvoice", {"timeout": "soon"}),
                           ("delinvoice", {"label": "x"}),
                           ("waitinvoice", {})):
        with pytest.raises(RpcError) as e:
            rpc.call(method, params)
        assert e.value.error["code"] == -32602, (method, params)
    assert rpc.listinvoices()["invoices"] == []
    # Still serving.
    assert rpc.invoice("18000000btc", "max", "d")["bolt11"].startswith("lnbcrt18")


def test_cli_and_check(node_factory):
    n = node_factory.get_node()
    r = n.cli("invoice", "1000", "01", "from the cli")
    assert r.returncode == 0, r.stderr
    r = n.cli("invoice", "1000", "1", "numeric")
    assert r.returncode == 0, r.stderr
    labels = [i["label"] for i in n.rpc.listinvoices()["invoices"]]
    assert labels == ["01", "1"]
    r = n.cli("-k", "listinvoices", "label=01")
    assert r.returncode == 0 and r.json["invoices"][0]["description"] == "from the cli"
    r = n.cli("decode", r.json["invoices"][0]["bolt11"])
    assert r.returncode == 0 and r.json["description"] == "from the cli"
    # `check` validates without creating.
    assert n.rpc.check("invoice", amount_msat=5, label="c", description="d")["command_to_check"] == "invoice"
    with pytest.raises(RpcError) as e:
        n.rpc.check("invoice", amount_msat=0, label="c", description="d")
    assert e.value.error["code"] == -32602
    assert len(n.rpc.listinvoices()["invoices"]) == 2
    helps = {h["command"] for h in n.rpc.help()["help"]}
    for c in ("invoice amount_msat label description [expiry] [fallbacks] [preimage] "
              "[exposeprivatechannels] [cltv] [deschashonly]",
              "listinvoices [label] [invstring] [payment_hash] [offer_id] [index] [start] [limit]",
              "waitinvoice label", "waitanyinvoice [lastpay_index] [timeout]",
              "delinvoice label status [desconly]", "decode string"):
        assert c in helps, c
