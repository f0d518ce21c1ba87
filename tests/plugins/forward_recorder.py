#!/usr/bin/env python3
"""Records `forward_event` and `coin_movement` notifications; `forwards_seen` returns the
forward events in arrival order, `routed_moves` the channel moves tagged `routed`."""
from pyln.client import Plugin

plugin = Plugin()
events = []
moves = []


@plugin.subscribe("forward_event")
def on_forward(plugin, forward_event, **kwargs):
    events.append(forward_event)


@plugin.subscribe("coin_movement")
def on_move(plugin, coin_movement, **kwargs):
    if coin_movement.get("primary_tag") == "routed":
        moves.append(coin_movement)


@plugin.method("forwards_seen")
def forwards_seen(plugin, **kwargs):
    return {"events": events}


@plugin.method("routed_moves")
def routed_moves(plugin, **kwargs):
    return {"moves": moves}


plugin.run()
