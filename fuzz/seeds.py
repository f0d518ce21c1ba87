#!/usr/bin/env python3
"""Writes the small seed corpora under fuzz/corpus/<target>/ (run from fuzz/; idempotent).

Each seed is a plausible input of the target's own layout (see the target's header comment).
"""
import hashlib
import json
import os

def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

REQ = '{"jsonrpc":"2.0","id":"cli:getinfo#1","method":"getinfo","params":[]}'
REQ_KW = '{"jsonrpc":"2.0","id":7,"method":"sendcustommsg","params":{"node_id":"02aa","msg":"8001"}}'
RESP = '{"jsonrpc":"2.0","id":"cln:getmanifest#3","result":{"options":[],"rpcmethods":[]}}'
NOTE = '{"jsonrpc":"2.0","method":"log","params":{"level":"info","message":"hi \\"x\\" }{"}}'

# jsonrpc_codec: control byte, chunk sizes, stream.
for ctl, sizes, stream in [
    (0, b"", REQ + REQ_KW),
    (2, b"\x00\x05", REQ + "\n\n" + RESP + "\n\n" + NOTE),
    (1, b"\x02", '  [1,[2,{"a":"]"}]]{"b":"\\\\"}'),
    (0x11, b"\x07", REQ_KW),
    (0, b"", REQ + "x"),
    (3, b"\x01\x00\x10", '{"s":"caf\xc3\xa9 \\u00e9"}' + NOTE),
]:
    data = bytes([ctl]) + sizes + stream.encode("utf-8", "surrogateescape")
    put("jsonrpc_codec", data)

# rpc_request: one request's bytes.
for s in [
    REQ, REQ_KW,
    '{"jsonrpc":"2.0","id":null,"method":"help"}',
    '{"jsonrpc":"2.0","method":"help","params":["x"]}',
    '{"jsonrpc":"1.0","id":1,"method":"help"}',
    '{"jsonrpc":"2.0","id":{"a":1},"method":"help"}',
    '{"jsonrpc":"2.0","id":1,"method":5}',
    '[{"jsonrpc":"2.0","id":1,"method":"help"}]',
    '{"jsonrpc":"2.0","id":1,"method":"datastore","params":["k",null,"00","must-create"],"filter":{"a":true}}',
    '{"jsonrpc":"2.0","id":1,"method":"plugin","params":{"subcommand":"start","plugin":"/x","opt":1}}',
]:
    put("rpc_request", s)

# manifest: a getmanifest reply.
full = {
    "options": [
        {"name": "greeting", "type": "string", "default": "hi", "description": "d"},
        {"name": "n", "type": "int", "default": 0x10, "description": "d", "dynamic": True},
        {"name": "b", "type": "bool", "default": True, "description": "d", "deprecated": ["v24.02", "v24.08"]},
        {"name": "f", "type": "flag", "default": False, "description": "d"},
        {"name": "m", "type": "string", "multi": True, "description": "d"},
    ],
    "rpcmethods": [{"name": "hello", "usage": "[name]", "description": "d"}],
    "subscriptions": ["connect", "*"],
    "hooks": ["peer_connected", {"name": "rpc_command", "before": ["a"], "filters": ["getinfo"]},
              {"name": "custommsg", "filters": [32769]}],
    "featurebits": {"init": "0200", "node": "8000000000000000"},
    "notifications": [{"method": "custom"}],
    "custommessages": [32768, 1],
    "nonnumericids": True,
    "cancheck": True,
    "dynamic": False,
}
for v in [
    {"jsonrpc": "2.0", "id": "cln:getmanifest#1", "result": full},
    {"options": [], "rpcmethods": []},
    {"disable": "not today"},
    {"options": [{"name": "X", "type": "string", "description": "d"}], "rpcmethods": []},
    {"options": [], "rpcmethods": [], "dynamic": True, "featurebits": {"init": "02"}},
    {"options": [], "rpcmethods": [], "hooks": ["db_write", "db_write"]},
    {"options": [{"name": "i", "type": "int", "default": "0x7fffffffffffffff", "description": ""}], "rpcmethods": []},
]:
    put("manifest", json.dumps(v))

# cli_params: mode byte, NUL-separated args.
for mode, args in [
    (0, ["42", "true", "x y", "[1,2]", '"q"']),
    (0, ["a=1", "b=hello", "c={\"d\":null}"]),
    (1, ["0", "01", "1.5", "1.2.3", "tab\there"]),
    (2, ["k=v=w", "=empty"]),
    (2, ["novalue"]),
    (0, ["{oops", "[1] , [2]"]),
    (1, ["\u00e9\u0001\\\""]),
]:
    put("cli_params", bytes([mode]) + "\0".join(args).encode())

# hook_replies: a plugin's `result` to a hook call.
for v in [
    {"result": "continue"},
    {"result": "disconnect", "error_message": "go away"},
    {"result": "fail"},
    {"replace": {"jsonrpc": "2.0", "id": 1, "method": "help", "params": []}},
    {"replace": {"id": 1, "method": "help", "params": {}}},
    {"return": {"result": {"ok": 1}}},
    {"return": {"error": {"code": -32600, "message": "no"}}},
    {"return": {"error": {"message": "no code"}}},
    {"return": {}},
    "continue",
    None,
]:
    put("hook_replies", json.dumps(v))

# sendcustommsg: a request's params (raw JSON text, as the socket delivers them).
NODE = "02" + "11" * 32
for p in [
    [NODE, "77770012"],
    {"node_id": NODE, "msg": "8001abcdef"},
    [NODE, 77770012],
    [NODE, "0012"],
    [NODE, "11"],
    [NODE, "zz"],
    [NODE, ""],
    ["nothex", "8001"],
    [NODE],
    {"node_id": NODE, "msg": 1234},
]:
    put("sendcustommsg", json.dumps(p))

# custommsg_in: accepted even types byte, then messages, each as 2-byte length + bytes.
def msgs(allowed, *ms):
    out = bytes([allowed])
    for m in ms:
        out += len(m).to_bytes(2, "big") + m
    return out
for s in [
    msgs(0, bytes.fromhex("8001") + b"hello"),
    msgs(1, bytes.fromhex("8000"), bytes.fromhex("8001ff")),
    msgs(0, bytes.fromhex("8000") + b"x", bytes.fromhex("8001")),
    msgs(0, b"\x01", b""),
    msgs(2, bytes.fromhex("fffe"), bytes.fromhex("0012")),
]:
    put("custommsg_in", s)

# commando_in: peer-selection byte, then whole custom messages as 2-byte length + bytes.
import struct
RUNE0 = "uNRPyX5AHfGHy3NoyOKuJN6OwkYJ5IOW8IhzU-pSuxw9MA=="
RUNE2 = "8jtG2wzmBMzwMGN_GoORYCZACV11Ch7VLKcOEqY-pqg9MiZtZXRob2Q9Z2V0aW5mb3xtZXRob2Q9bGlzdHBlZXJzJnBudW08Mg=="
def piece(t, i, body):
    return struct.pack("!HQ", t, i) + body.encode()
for s in [
    msgs(0, piece(0x4c4f, 1, json.dumps({"method": "getinfo", "id": 1, "rune": RUNE0}))),
    msgs(0, piece(0x4c4d, 2, '{"method":"listpeers","id":"x",'),
         piece(0x4c4f, 2, f'"params":[1,{{"a":"]"}}],"rune":"{RUNE2}"}}')),
    msgs(2, piece(0x4c4d, 3, '{"method":'), piece(0x4c4d, 4, '{"id":'), piece(0x4c4f, 3, '1}')),
    msgs(0, piece(0x594d, 5, '{"error":{"code":1,"message":"m","data":[1]}}')),
    msgs(0, piece(0x4c4f, 6, '{"method":"a","id":1,"rune":"=","params":{"pname\\"x":"\\u00e9"}}')),
    msgs(0, b"\x4c\x4f\x00"),
]:
    put("commando_in", s)

# hook_replies: invoice_payment and htlc_accepted replies.
for v in [
    {"result": "reject"},
    {"failure_message": "2002"},
    {"failure_message": "zz"},
    {"result": "resolve", "payment_key": "11" * 32},
    {"result": "fail", "failure_message": "400f"},
    {"result": "fail", "failure_onion": "00"},
    {"result": "continue", "payload": "00", "invoice_msat": "1000msat"},
]:
    put("hook_replies", json.dumps(v))

# bolt11_decode: BOLT 11 strings (the spec's vectors, with and without prefix, broken ones).
SPEC = ("lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzq"
        "fqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6"
        "rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsr"
        "vywa6rt52cm9r9zqt8r2t7mlcwspyetp5h2tztugp9lfyql")
for s in [SPEC, "lightning:" + SPEC, SPEC[:-1] + "q", SPEC.upper(), "lnbcrt1", "lnbc2500x1pvjluez",
          "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"]:
    put("bolt11_decode", s)
