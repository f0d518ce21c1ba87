#!/usr/bin/env python3
"""An openchannel hook plugin that also records channel notifications.

Its answer is chosen with the `oc-mode` method: `continue` (default), `reject:<message>`,
`close_to:<address>` (continue with that close_to), or `hang` (never answers in time). `oc-events` returns every hook payload and
notification it received, in order.
"""
import time

from pyln.client import Plugin

plugin = Plugin()
state = {"mode": "continue", "events": []}


@plugin.method("oc-mode")
def set_mode(plugin, mode):
    state["mode"] = mode
    return {"mode": mode}


@plugin.method("oc-events")
def events(plugin):
    return {"events": state["events"]}


@plugin.hook("openchannel")
def on_openchannel(plugin, openchannel, **kwargs):
    state["events"].append({"hook": openchannel})
    mode = state["mode"]
    if mode.startswith("reject:"):
        return {"result": "reject", "error_message": mode[len("reject:"):]}
    if mode.startswith("close_to:"):
        return {"result": "continue", "close_to": mode[len("close_to:"):]}
    if mode == "hang":
        time.sleep(120)
    return {"result": "continue"}


for topic in ("channel_opened", "channel_open_failed", "channel_state_changed"):
    def record(plugin, topic=topic, **kwargs):
        state["events"].append({topic: kwargs.get(topic)})
    plugin.add_subscription(topic, record)


plugin.run()
