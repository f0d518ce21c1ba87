#!/usr/bin/env python3
"""Records `invoice_creation` and `invoice_payment` notifications; `invoices_seen`
returns them in arrival order as `[topic, payload]` pairs."""
from pyln.client import Plugin

plugin = Plugin()
seen = []


@plugin.subscribe("invoice_creation")
def on_invoice_creation(plugin, invoice_creation, **kwargs):
    seen.append(["invoice_creation", invoice_creation])


@plugin.subscribe("invoice_payment")
def on_invoice_payment(plugin, invoice_payment, **kwargs):
    seen.append(["invoice_payment", invoice_payment])


@plugin.method("invoices_seen")
def invoices_seen(plugin, **kwargs):
    return {"seen": seen}


plugin.run()
