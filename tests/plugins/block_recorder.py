#!/usr/bin/env python3
"""Records every `block_added` notification; `blocks_seen` returns them in order."""
from pyln.client import Plugin

plugin = Plugin()
seen = []


@plugin.subscribe("block_added")
def on_block_added(plugin, block_added, **kwargs):
    seen.append(block_added)


@plugin.method("blocks_seen")
def blocks_seen(plugin, **kwargs):
    return {"blocks": seen}


plugin.run()
