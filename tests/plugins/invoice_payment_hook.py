#!/usr/bin/env python3
"""A pyln-client invoice_payment hook plugin. Its behaviour is chosen by the file named
`<its own file name>.mode` next to it (read on every call):
  continue | reject | fail:<hex failure_message> | slow:<seconds> | garbage
Every payload it got is returned by its `invoice_payments_seen` method."""
import os
import sys
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


@plugin.hook("invoice_payment")
def on_invoice_payment(plugin, payment, **kwargs):
    seen.append(payment)
    m = mode()
    if m == "reject":
        return {"result": "reject"}
    if m.startswith("fail:"):
        return {"failure_message": m.split(":", 1)[1]}
    if m.startswith("slow:"):
        time.sleep(float(m.split(":", 1)[1]))
    if m == "garbage":
        return {"result": "perhaps"}
    return {"result": "continue"}


@plugin.method("invoice_payments_seen")
def invoice_payments_seen(plugin, **kwargs):
    return {"seen": seen}


plugin.run()
