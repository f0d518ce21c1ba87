#!/usr/bin/env python3
"""The smallest db_write plugin (pyln-client): says continue to every write. Used by the
datastore bench to measure what one hook round trip adds per write."""
from pyln.client import Plugin

plugin = Plugin()


@plugin.hook("db_write")
def on_db_write(writes, data_version, plugin, **kwargs):
    return {"result": "continue"}


plugin.run()
