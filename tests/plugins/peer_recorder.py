#!/usr/bin/env python3
"""A pyln-client plugin that records what the daemon tells it about peers.

Every `custommsg` hook call, `custommsg`/`connect`/`disconnect` notification and
`peer_connected` hook call is appended as one JSON line to `peer_recorder.jsonl` in the
plugin's working directory (the node's `<lightning-dir>/<network>`). The `peer_connected`
answer is read on every call from `peer_recorder.mode` there: `continue` (default),
`disconnect` (no message),
`disconnect:<text>`, `slow:<seconds>` (then continue) or `die`; with `custommsg_slow:<seconds>`
the `custommsg` hook takes that long for each message.

It declares the even custom message type 0x7776 (`custommessages`) and the optional
feature bit 201 in `init` and `node`, so tests can see both on the wire.
"""
import json
import os
import time

from pyln.client import Plugin

plugin = Plugin(dynamic=False, custom_msgs=[0x7776], init_features=1 << 201,
                node_features=1 << 201)
RECORD = os.path.abspath("peer_recorder.jsonl")
MODE = os.path.abspath("peer_recorder.mode")


def record(kind, **data):
    with open(RECORD, "a") as f:
        f.write(json.dumps({"kind": kind, **data}) + "\n")
        f.flush()


def mode():
    try:
        with open(MODE) as f:
            return f.read().strip()
    except OSError:
        return "continue"


@plugin.hook("custommsg")
def on_custommsg(peer_id, payload, plugin, **kwargs):
    record("custommsg_hook", peer_id=peer_id, payload=payload)
    m = mode()
    if m.startswith("custommsg_slow:"):
        time.sleep(float(m.split(":", 1)[1]))
    return {"result": "continue"}


@plugin.subscribe("custommsg")
def on_custommsg_notification(plugin, **kwargs):
    inner = kwargs.get("custommsg", kwargs)
    record("custommsg_notification", peer_id=inner.get("peer_id"), payload=inner.get("payload"))


@plugin.subscribe("connect")
def on_connect(plugin, **kwargs):
    record("connect", **kwargs.get("connect", kwargs))


@plugin.subscribe("disconnect")
def on_disconnect(plugin, **kwargs):
    record("disconnect", **kwargs.get("disconnect", kwargs))


@plugin.hook("peer_connected")
def on_peer_connected(peer, plugin, **kwargs):
    record("peer_connected", peer=peer)
    m = mode()
    if m == "die":
        os._exit(1)
    if m.startswith("slow:"):
        time.sleep(float(m.split(":", 1)[1]))
    if m == "disconnect":
        return {"result": "disconnect"}
    if m.startswith("disconnect:"):
        return {"result": "disconnect", "error_message": m.split(":", 1)[1]}
    return {"result": "continue"}


plugin.run()
