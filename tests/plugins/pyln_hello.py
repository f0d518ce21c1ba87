#!/usr/bin/env python3
"""A pyln-client plugin exercising options, methods, notifications and hooks.

Methods: hello [name], echo (returns its params and request id), progress_demo
(emits message/progress notifications), die (exits mid-call), big size (a large
string), emit (a custom `pyln_custom` notification), options (the init options).
Options: greeting (string, default "hello"), py-count (int), py-flag (flag),
py-multi (multi string), py-dyn (dynamic string), py-bool (bool).
Subscriptions: plugin_started, plugin_stopped, pyln_custom (records them and
answers `seen`).
"""
import os
import sys

from pyln.client import Plugin

plugin = Plugin(dynamic=True)
plugin.add_option("greeting", "hello", "How to greet")
plugin.add_option("py-count", None, "A number", opt_type="int")
plugin.add_flag_option("py-flag", "A flag")
plugin.add_option("py-multi", None, "Several strings", multi=True)
plugin.add_option("py-dyn", None, "Dynamic string", dynamic=True)
plugin.add_option("py-bool", None, "A bool", opt_type="bool")
plugin.add_notification_topic("pyln_custom")
seen = []


@plugin.init()
def init(options, configuration, plugin, **kwargs):
    plugin.saved_options = options
    plugin.saved_configuration = configuration
    plugin.log("pyln_hello initialized")


@plugin.method("hello")
def hello(plugin, name="world"):
    """Greets NAME."""
    return {"greeting": "{} {}".format(plugin.get_option("greeting"), name)}


@plugin.method("echo")
def echo(plugin, request, **kwargs):
    return {"params": kwargs, "id": request.id}


@plugin.method("progress_demo")
def progress_demo(plugin, request):
    request.notify("working on it")
    request.progress(1, 2)
    request.progress(2, 2)
    return {"done": True}


@plugin.method("die")
def die(plugin):
    sys.stdout.flush()
    os._exit(1)


@plugin.method("big")
def big(plugin, size):
    return {"data": "x" * int(size)}


@plugin.method("emit")
def emit(plugin):
    plugin.notify("pyln_custom", {"hello": "there"})
    return {}


@plugin.method("options")
def options(plugin):
    return {"options": plugin.saved_options, "configuration": plugin.saved_configuration}


@plugin.method("seen")
def seen_method(plugin):
    return {"seen": seen}


@plugin.subscribe("plugin_started")
def on_started(plugin, **kwargs):
    seen.append({"plugin_started": kwargs.get("plugin_started")})


@plugin.subscribe("plugin_stopped")
def on_stopped(plugin, **kwargs):
    seen.append({"plugin_stopped": kwargs.get("plugin_stopped")})


@plugin.subscribe("pyln_custom")
def on_custom(plugin, origin=None, **kwargs):
    seen.append({"pyln_custom": kwargs, "origin": origin})


plugin.run()
