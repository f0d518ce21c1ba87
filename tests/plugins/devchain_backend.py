#!/usr/bin/env python3
"""A Core Lightning Bitcoin backend written with pyln-client, as third-party bcli
replacements are: it serves the five backend methods by proxying them to a devchain (or
any bitcoind) over its JSON-RPC.

Options: devchain-port (int), devchain-cookie (path of the `.cookie` file).
"""
import base64
import json
import urllib.error
import urllib.request

from pyln.client import Plugin

plugin = Plugin()
plugin.add_option("devchain-port", None, "RPC port", opt_type="int")
plugin.add_option("devchain-cookie", None, "Cookie file")


class BitcoindError(Exception):
    def __init__(self, error):
        super().__init__(error.get("message", str(error)))
        self.error = error


def rpc(method, *params):
    with open(plugin.cookie) as f:
        auth = base64.b64encode(f.read().strip().encode()).decode()
    body = json.dumps({"jsonrpc": "1.0", "id": "proxy", "method": method,
                       "params": list(params)}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{plugin.port}/", data=body,
                                 headers={"Authorization": f"Basic {auth}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            reply = json.load(r)
    except urllib.error.HTTPError as e:
        reply = json.load(e)
    if reply.get("error"):
        raise BitcoindError(reply["error"])
    return reply["result"]


@plugin.init()
def init(options, configuration, plugin, **kwargs):
    plugin.port = int(options["devchain-port"])
    plugin.cookie = options["devchain-cookie"]


@plugin.method("getchaininfo")
def getchaininfo(plugin, last_height=None, **kwargs):
    info = rpc("getblockchaininfo")
    return {"chain": info["chain"], "headercount": info["headers"],
            "blockcount": info["blocks"], "ibd": info["initialblockdownload"]}


@plugin.method("estimatefees")
def estimatefees(plugin, **kwargs):
    # A fresh regtest chain has no estimates: fixed rates, as bcli does on regtest.
    return {"feerate_floor": 1000,
            "feerates": [{"blocks": b, "feerate": 1000} for b in (2, 6, 12, 100)]}


@plugin.method("getrawblockbyheight")
def getrawblockbyheight(plugin, height, **kwargs):
    try:
        blockhash = rpc("getblockhash", height)
    except BitcoindError:
        return {"blockhash": None, "block": None}
    return {"blockhash": blockhash, "block": rpc("getblock", blockhash, 0)}


@plugin.method("getutxout")
def getutxout(plugin, txid, vout, **kwargs):
    out = rpc("gettxout", txid, vout)
    if not out:
        return {"amount": None, "script": None}
    sat = round(out["value"] * 100_000_000)
    return {"amount": f"{sat}sat", "script": out["scriptPubKey"]["hex"]}


@plugin.method("sendrawtransaction")
def sendrawtransaction(plugin, tx, allowhighfees=False, **kwargs):
    try:
        rpc("sendrawtransaction", tx, 0 if allowhighfees else 0.1)
        return {"success": True}
    except BitcoindError as e:
        return {"success": False, "errmsg": str(e)}


plugin.run()
