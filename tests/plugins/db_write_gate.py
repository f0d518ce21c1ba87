#!/usr/bin/env python3
"""A pyln-client db_write plugin that holds back the write recording as paid the invoice
whose payment hash (hex) is in the file `<its own file name>.hash`, until the file
`<its own file name>.open` exists; while it holds it, `<its own file name>.held` exists.
Every other write goes through at once. Shows what a payee does before its paid-record
is durable."""
import os
import sys
import time

from pyln.client import Plugin

plugin = Plugin()
ME = os.path.abspath(sys.argv[0])
# Longer than any test waits; a gate left shut still ends.
MAX_HOLD = 120


def armed_for():
    try:
        with open(ME + ".hash") as f:
            return f.read().strip().upper()
    except OSError:
        return None


@plugin.hook("db_write")
def on_db_write(writes, data_version, plugin, **kwargs):
    h = armed_for()
    if h and any("UPDATE invoices SET pay_index" in w and h in w.upper() for w in writes):
        open(ME + ".held", "w").close()
        until = time.time() + MAX_HOLD
        while not os.path.exists(ME + ".open") and time.time() < until:
            time.sleep(0.05)
    return {"result": "continue"}


plugin.run()
