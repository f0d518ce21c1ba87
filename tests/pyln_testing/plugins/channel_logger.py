#!/usr/bin/env python3
"""Logs the channel hooks and notifications it sees (accepting every channel)."""
from pyln.client import Plugin

plugin = Plugin()


@plugin.hook("openchannel")
def on_openchannel(openchannel, plugin, **kwargs):
    plugin.log("openchannel from {} for {}".format(openchannel["id"], openchannel["funding_msat"]))
    return {"result": "continue"}


@plugin.subscribe("channel_opened")
def on_channel_opened(plugin, channel_opened, **kwargs):
    plugin.log("channel_opened from {}".format(channel_opened["id"]))


@plugin.subscribe("channel_state_changed")
def on_state_changed(plugin, channel_state_changed, **kwargs):
    c = channel_state_changed
    plugin.log("channel_state_changed {} from {} to {}".format(
        c.get("short_channel_id"), c.get("old_state"), c["new_state"]))


plugin.run()
