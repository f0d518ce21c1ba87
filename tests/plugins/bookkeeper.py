#!/usr/bin/env python3
"""A bookkeeper in miniature: sums `coin_movement` credits minus debits per account and
keeps every `balance_snapshot`; `bkpr-sums` returns them. Channel moves (HTLCs settled
over a channel) are summed apart, per channel account (`channel_balances`)."""
from pyln.client import Plugin

plugin = Plugin()
balances = {}
moves = []
snapshots = []
channel_balances = {}
channel_moves = []


@plugin.subscribe("coin_movement")
def on_coin_movement(plugin, coin_movement, **kwargs):
    m = coin_movement
    if m["type"] == "channel_mvt":
        channel_moves.append(m)
        acct = m["account_id"]
        channel_balances[acct] = (channel_balances.get(acct, 0) + m["credit_msat"]
                                  - m["debit_msat"])
        return
    if m["type"] != "chain_mvt":
        return
    moves.append(m)
    acct = m["account_id"]
    balances[acct] = balances.get(acct, 0) + m["credit_msat"] - m["debit_msat"]


@plugin.subscribe("balance_snapshot")
def on_balance_snapshot(plugin, balance_snapshot, **kwargs):
    snapshots.append(balance_snapshot)


@plugin.method("bkpr-sums")
def sums(plugin, **kwargs):
    return {"balances": balances, "moves": moves, "snapshots": snapshots,
            "channel_balances": channel_balances, "channel_moves": channel_moves}


plugin.run()
