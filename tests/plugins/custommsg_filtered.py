#!/usr/bin/env python3
"""A `custommsg` hook with `filters` (only type 0x7777): appends each payload it is
called with to `custommsg_filtered.jsonl` in its working directory."""
import json
import os

from pyln.client import Plugin

plugin = Plugin()
RECORD = os.path.abspath("custommsg_filtered.jsonl")


@plugin.hook("custommsg", filters=[0x7777])
def on_custommsg(peer_id, payload, plugin, **kwargs):
    with open(RECORD, "a") as f:
        f.write(json.dumps({"peer_id": peer_id, "payload": payload}) + "\n")
    return {"result": "continue"}


plugin.run()
