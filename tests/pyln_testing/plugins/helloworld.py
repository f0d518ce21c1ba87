#!/usr/bin/env python3
"""A plugin as authors write them with pyln-client: an option, a method, notifications
(`connect`, `disconnect` and another plugin's `cln_custom`) and hooks (`peer_connected`,
`custommsg`), each leaving a log line tests wait for."""
from pyln.client import Plugin

plugin = Plugin()
plugin.add_option("greeting", "Hello", "The greeting this plugin uses")


@plugin.init()
def init(options, configuration, plugin, **kwargs):
    plugin.log("Plugin helloworld.py initialized with greeting {}".format(options["greeting"]))


@plugin.method("hello")
def hello(plugin, name="world"):
    """Greets NAME with the configured greeting."""
    s = "{} {}".format(plugin.get_option("greeting"), name)
    plugin.log(s)
    return s


@plugin.subscribe("connect")
def on_connect(plugin, **kwargs):
    peer = kwargs.get("connect", kwargs)
    plugin.log("Received connect event for peer {} ({})".format(peer["id"], peer["direction"]))


@plugin.subscribe("disconnect")
def on_disconnect(plugin, **kwargs):
    peer = kwargs.get("disconnect", kwargs)
    plugin.log("Received disconnect event for peer {}".format(peer["id"]))


@plugin.subscribe("cln_custom")
def on_cln_custom(plugin, origin=None, **kwargs):
    plugin.log("Got cln_custom from {}: {}".format(origin, kwargs))


@plugin.hook("peer_connected")
def on_peer_connected(peer, plugin, **kwargs):
    plugin.log("peer_connected hook for {}".format(peer["id"]))
    return {"result": "continue"}


@plugin.hook("custommsg")
def on_custommsg(peer_id, payload, plugin, **kwargs):
    plugin.log("Got custommessage {} from peer {}".format(payload, peer_id))
    return {"result": "continue"}


plugin.run()
