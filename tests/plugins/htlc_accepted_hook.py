#!/usr/bin/env python3
"""A pyln-client htlc_accepted hook plugin. Its behaviour is chosen by the file named
`<its own file name>.mode` next to it (read on every call):
  continue | continue_msat:<n> | resolve:<hex preimage> | fail:<hex failure_message> |
  onion (a failure_onion) | garbage | hold (answers nothing while the mode stays `hold`,
  then as the new mode says)
Every payload it got is returned by its `htlcs_seen` method."""
import os
import sys
import threading
import time

from pyln.client import Plugin

plugin = Plugin(dynamic=True)
MODE_FILE = os.path.abspath(sys.argv[0]) + ".mode"
seen = []


def mode():
    try:
        with open(MODE_FILE) as f:
            return f.read().strip()
    except OSError:
        return "continue"


def answer(m):
    if m.startswith("continue_msat:"):
        return {"result": "continue", "invoice_msat": int(m.split(":", 1)[1])}
    if m.startswith("resolve:"):
        return {"result": "resolve", "payment_key": m.split(":", 1)[1]}
    if m.startswith("fail:"):
        return {"result": "fail", "failure_message": m.split(":", 1)[1]}
    if m == "onion":
        return {"result": "fail", "failure_onion": "00" * 32}
    if m == "garbage":
        return {"result": "perhaps"}
    return {"result": "continue"}


@plugin.async_hook("htlc_accepted")
def on_htlc_accepted(plugin, request, **kwargs):
    seen.append({k: kwargs[k] for k in ("onion", "htlc", "peer_id", "forward_to")
                 if k in kwargs})

    def later():
        while mode() == "hold":
            time.sleep(0.2)
        request.set_result(answer(mode()))

    if mode() == "hold":
        threading.Thread(target=later, daemon=True).start()
    else:
        request.set_result(answer(mode()))


@plugin.method("htlcs_seen")
def htlcs_seen(plugin, **kwargs):
    return {"seen": seen}


plugin.run()
