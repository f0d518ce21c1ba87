#!/usr/bin/env python3
"""A bookkeeper in miniature: sums `coin_movement` credits minus debits per account and
keeps every `balance_snapshot`; `bkpr-sums` returns them."""
from pyln.client import Plugin

plugin = Plugin()
balances = {}
moves = []
snapshots = []


@plugin.subscribe("coin_movement")
def on_coin_movement(plugin, coin_movement, **kwargs):
    m = coin_movement
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
    return {"balances": balances, "moves": moves, "snapshots": snapshots}


plugin.run()
