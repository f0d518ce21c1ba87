#!/usr/bin/env python3
"""A pyln-client rpc_command hook plugin. Its behaviour is chosen by the file named
`<its own file name>.mode` next to it (read on every call):
  continue | return | error | replace:<method> | die | garbage
"""
import os
import sys

from pyln.client import Plugin

plugin = Plugin(dynamic=True)
MODE_FILE = os.path.abspath(sys.argv[0]) + ".mode"


def mode():
    try:
        with open(MODE_FILE) as f:
            return f.read().strip()
    except OSError:
        return "continue"


@plugin.hook("rpc_command")
def on_rpc_command(plugin, rpc_command, **kwargs):
    m = mode()
    name = os.path.basename(sys.argv[0])
    if m == "return":
        return {"return": {"result": {"from": name, "method": rpc_command["method"]}}}
    if m == "error":
        return {"return": {"error": {"code": 1234, "message": "blocked by " + name}}}
    if m.startswith("replace:"):
        new = dict(rpc_command)
        new["method"] = m.split(":", 1)[1]
        new["params"] = {}
        return {"replace": new}
    if m == "die":
        os._exit(1)
    if m == "garbage":
        return {"nonsense": True}
    return {"result": "continue"}


plugin.run()
