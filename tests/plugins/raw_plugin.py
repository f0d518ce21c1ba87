#!/usr/bin/env python3
"""A plugin written by hand, without pyln-client, for protocol edge cases.

Its behaviour comes from the JSON file named in $RAW_SPEC:
  "getmanifest": "reply" (default) | "ignore" | "exit" | "garbage" | "nojsonrpc"
                 | "wrong_id" | "error"
  "manifest":    the getmanifest result (default: empty options/rpcmethods)
  "init":        the init result (default {})
  "init_delay":  seconds to wait before answering init (default 0)
  "methods":     {name: action}; action is {"result": X} | {"error": X} | "die"
                 | {"big": N} | "wrong_id_then_reply" | "echo" | "no_result"
                 | {"send": [messages], "result": X} (a "$ID" id or params.id
                   becomes the request's id)
                 | "hang" (never replies)
                 | "close_stdin" (replies, closes stdin, stays alive with stdout open)
                 | "fork_exit" (forks a child that keeps stdin/stdout open for 20 s,
                   then exits without replying)
  "hooks":       {name: reply-result} (default {"result": "continue"}); "die" exits
  "stderr_spew": [N, SIZE] -> before answering getmanifest, N lines of SIZE bytes to
                 stderr, then the line "spew done"
  "stop_reading_after_init": true  -> never reads stdin again after init
  "record":      path: every message received is appended (one JSON per line)
  "count_topic": topic: notifications of that topic are counted; a method whose action
                 is "count" returns {"count": n}
  methods may also use {"burst": {"topic": T, "n": N}}: emit N notifications of T
  (declare T in the manifest's "notifications"), then reply
Output is written with no delimiter between messages, to prove we need none.
"""
import json
import os
import sys
import time

spec = json.load(open(os.environ["RAW_SPEC"]))


def send(obj):
    sys.stdout.write(json.dumps(obj))
    sys.stdout.flush()


def reply(req, result):
    send({"jsonrpc": "2.0", "id": req["id"], "result": result})


def record(msg):
    if "record" in spec:
        with open(spec["record"], "a") as f:
            f.write(json.dumps(msg) + "\n")


counted = 0


def handle(req):
    global counted
    record(req)
    method = req.get("method")
    if "id" not in req:
        if method == spec.get("count_topic"):
            counted += 1
        return
    if method == "getmanifest":
        if "stderr_spew" in spec:
            n, size = spec["stderr_spew"]
            line = "e" * size + "\n"
            for _ in range(n):
                sys.stderr.write(line)
            sys.stderr.write("spew done\n")
            sys.stderr.flush()
        how = spec.get("getmanifest", "reply")
        if how == "ignore":
            return
        if how == "exit":
            sys.exit(0)
        if how == "garbage":
            sys.stdout.write("this is not json }")
            sys.stdout.flush()
            return
        if how == "nojsonrpc":
            send({"id": req["id"], "result": {}})
            return
        if how == "wrong_id":
            send({"jsonrpc": "2.0", "id": "never-sent#1", "result": {}})
        if how == "error":
            send({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -1, "message": "no"}})
            return
        reply(req, spec.get("manifest", {"options": [], "rpcmethods": []}))
        return
    if method == "init":
        time.sleep(spec.get("init_delay", 0))
        reply(req, spec.get("init", {}))
        if spec.get("stop_reading_after_init"):
            while True:
                time.sleep(3600)
        return
    if method in spec.get("hooks", {}):
        r = spec["hooks"][method]
        if r == "die":
            os._exit(1)
        reply(req, r)
        return
    action = spec.get("methods", {}).get(method)
    if action is None:
        send({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32601, "message": "unknown"}})
    elif action == "die":
        os._exit(1)
    elif action == "hang":
        return
    elif action == "close_stdin":
        reply(req, {"closed": True})
        os.close(0)
        while True:
            time.sleep(3600)
    elif action == "fork_exit":
        if os.fork() == 0:
            time.sleep(20)
        os._exit(0)
    elif action == "count":
        reply(req, {"count": counted})
    elif isinstance(action, dict) and "burst" in action:
        b = action["burst"]
        one = json.dumps({"jsonrpc": "2.0", "method": b["topic"], "params": {"x": 1}})
        n = int(req["params"].get("n", b["n"])) if isinstance(req.get("params"), dict) else b["n"]
        sys.stdout.write(one * n)
        sys.stdout.flush()
        reply(req, {"sent": n})
    elif action == "echo":
        reply(req, {"request": req})
    elif action == "no_result":
        send({"jsonrpc": "2.0", "id": req["id"], "weird": 1})
    elif action == "wrong_id_then_reply":
        send({"jsonrpc": "2.0", "id": "not-a-request#7", "result": {"wrong": True}})
        reply(req, {"right": True})
    elif isinstance(action, dict) and "send" in action:
        for m in action["send"]:
            if isinstance(m, dict) and m.get("id") == "$ID":
                m = dict(m, id=req["id"])
            if isinstance(m, dict) and isinstance(m.get("params"), dict) and m["params"].get("id") == "$ID":
                m = dict(m, params=dict(m["params"], id=req["id"]))
            send(m)
        reply(req, action.get("result", {}))
    elif isinstance(action, dict) and "big" in action:
        reply(req, {"data": "x" * int(action["big"])})
    elif isinstance(action, dict) and "error" in action:
        send({"jsonrpc": "2.0", "id": req["id"], "error": action["error"]})
    else:
        reply(req, action["result"])


buf = b""
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        break
    buf += chunk
    while b"\n\n" in buf:
        msg, buf = buf.split(b"\n\n", 1)
        if msg.strip():
            handle(json.loads(msg))
