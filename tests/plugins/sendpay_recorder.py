#!/usr/bin/env python3
"""Records `sendpay_success` and `sendpay_failure` notifications; `sendpays_seen` returns
them in arrival order as `[topic, payload]` pairs."""
from pyln.client import Plugin

plugin = Plugin()
seen = []


@plugin.subscribe("sendpay_success")
def on_success(plugin, sendpay_success, **kwargs):
    seen.append(["sendpay_success", sendpay_success])


@plugin.subscribe("sendpay_failure")
def on_failure(plugin, sendpay_failure, **kwargs):
    seen.append(["sendpay_failure", sendpay_failure])


@plugin.method("sendpays_seen")
def sendpays_seen(plugin, **kwargs):
    return {"seen": seen}


plugin.run()
