#!/usr/bin/env python3
"""A pyln-client commitment_revocation hook plugin (a watchtower client's stand-in). Every
payload it gets is appended, before it replies, to `<its own file name>.jsonl` (so what it
got survives the daemon's kill -9) and returned by its `revocations_seen` method. If the
file `<its own file name>.mode` says `hang`, it records the call and then never replies."""
import json
import os
import sys
import time

from pyln.client import Plugin

plugin = Plugin()
BASE = os.path.abspath(sys.argv[0])


def seen():
    try:
        with open(BASE + ".jsonl") as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


@plugin.hook("commitment_revocation")
def on_revocation(plugin, **payload):
    with open(BASE + ".jsonl", "a") as f:
        f.write(json.dumps(payload) + "\n")
        f.flush()
        os.fsync(f.fileno())
    try:
        with open(BASE + ".mode") as f:
            if f.read().strip() == "hang":
                while True:
                    time.sleep(3600)
    except OSError:
        pass
    return {"result": "continue"}


@plugin.method("revocations_seen")
def revocations_seen(plugin):
    return {"seen": seen()}


plugin.run()
