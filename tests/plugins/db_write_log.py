#!/usr/bin/env python3
"""A pyln-client db_write plugin that appends every statement it is shown, one a line, to
the file `<its own file name>.log`, and lets every write through."""
import os
import sys

from pyln.client import Plugin

plugin = Plugin()
LOG = os.path.abspath(sys.argv[0]) + ".log"


@plugin.hook("db_write")
def on_db_write(writes, data_version, plugin, **kwargs):
    with open(LOG, "a") as f:
        for w in writes:
            f.write(w.replace("\n", " ") + "\n")
    return {"result": "continue"}


plugin.run()
