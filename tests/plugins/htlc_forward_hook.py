#!/usr/bin/env python3
"""An htlc_accepted hook whose reply is set by `set_htlc_reply` (a JSON object, or "hang":
never answer); `htlcs_seen` returns every payload it got."""
from pyln.client import Plugin

plugin = Plugin()
seen = []
reply = {"result": "continue"}


@plugin.async_hook("htlc_accepted")
def on_htlc(onion, htlc, request, plugin, **kwargs):
    seen.append({"onion": onion, "htlc": htlc, **kwargs})
    if reply == "hang":
        return  # never answers
    request.set_result(reply)


@plugin.method("set_htlc_reply")
def set_htlc_reply(plugin, reply_json, **kwargs):
    global reply
    reply = reply_json
    return {"reply": reply}


@plugin.method("htlcs_seen")
def htlcs_seen(plugin, **kwargs):
    return {"seen": seen}


plugin.run()
