#!/usr/bin/env python3
"""Registers `grpc-port` (as cln-grpc does) and reports the value it was given."""
from pyln.client import Plugin

plugin = Plugin()
plugin.add_option("grpc-port", None, "Port to serve gRPC on", opt_type="int")


@plugin.method("grpcport")
def grpcport(plugin):
    return {"grpc-port": plugin.get_option("grpc-port")}


plugin.run()
