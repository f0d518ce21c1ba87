#!/usr/bin/env python3
"""Makes the calls Core Lightning's `clnrest` makes for `POST /v1/<method>` (reference §10):
`checkrune {"rune", "method", "params"}` (params as a JSON object), then `showrunes
{"rune"}` reading `runes[0].unique_id`, then the method itself. Answers like clnrest's HTTP
layer would: `{"status": 201|401|404|500, "body": ...}`."""

from pyln.client import Plugin, RpcError

plugin = Plugin()


@plugin.method("restcall")
def restcall(plugin, rune, rpc_method, params=None):
    params = params if params is not None else {}
    try:
        check = plugin.rpc.call("checkrune", {"rune": rune, "method": rpc_method, "params": params})
    except RpcError as e:
        return {"status": 401, "body": e.error}
    if check.get("valid") is not True:
        return {"status": 401, "body": {"code": 1502, "message": "Rune is not valid"}}
    try:
        shown = plugin.rpc.call("showrunes", {"rune": rune})
        unique_id = shown["runes"][0]["unique_id"]
    except (RpcError, KeyError, IndexError) as e:
        return {"status": 500, "body": str(e)}
    try:
        result = plugin.rpc.call(rpc_method, params)
    except RpcError as e:
        return {"status": 404 if e.error.get("code") == -32601 else 500, "body": e.error}
    return {"status": 201, "body": result, "unique_id": unique_id, "showrunes": shown}


@plugin.method("restnotifications")
def restnotifications(plugin, rune):
    """socket.io: checkrune with the pseudo-method and no params."""
    try:
        return plugin.rpc.call("checkrune", {"rune": rune, "method": "listclnrest-notifications"})
    except RpcError as e:
        return {"error": e.error}


plugin.run()
