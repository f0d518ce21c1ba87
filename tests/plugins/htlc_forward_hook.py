#!/usr/bin/env python3
"""An htlc_accepted hook whose reply is set by `set_htlc_reply` (a JSON object, or "hang":
never answer); `htlcs_seen` returns every payload it got. With `--htlc-hold-secs=N` no
answer leaves before N seconds after the plugin started (a restarted node's peers can
reconnect first)."""
import threading
import time

from pyln.client import Plugin

plugin = Plugin()
plugin.add_option("htlc-hold-secs", "0", "hold every answer this long after start")
seen = []
reply = {"result": "continue"}
started = time.monotonic()


@plugin.async_hook("htlc_accepted")
def on_htlc(onion, htlc, request, plugin, **kwargs):
    seen.append({"onion": onion, "htlc": htlc, **kwargs})
    if reply == "hang":
        return  # never answers
    answer = reply
    wait = started + float(plugin.get_option("htlc-hold-secs")) - time.monotonic()
    if wait > 0:
        threading.Timer(wait, lambda: request.set_result(answer)).start()
    else:
        request.set_result(answer)


@plugin.method("set_htlc_reply")
def set_htlc_reply(plugin, reply_json, **kwargs):
    global reply
    reply = reply_json
    return {"reply": reply}


@plugin.method("htlcs_seen")
def htlcs_seen(plugin, **kwargs):
    return {"seen": seen}


plugin.run()
