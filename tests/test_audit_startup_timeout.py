"""A start-up plugin that never answers getmanifest or init (reference §2.2): lightningd
kills it and, because this is start-up, cannot recover: it exits 1 with
`Can't recover from plugin failure, terminating.` (`plugin start` keeps the plugin's -3
error and the node runs on; pinned in test_plugin.py)."""

import sys
from pathlib import Path

from test_plugin import raw_plugin

# Answers getmanifest, then ignores init (stays alive, reading nothing more).
NO_INIT = r'''
import json, os, sys, time
buf = b""
while b"\n\n" not in buf:
    chunk = os.read(0, 65536)
    if not chunk:
        sys.exit(0)
    buf += chunk
msg = json.loads(buf.split(b"\n\n", 1)[0])
sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"],
                             "result": {"options": [], "rpcmethods": []}}))
sys.stdout.flush()
time.sleep(3600)
'''


def test_getmanifest_timeout_at_startup_is_fatal(node_factory, directory):
    p = raw_plugin(directory, "sleepy", {"getmanifest": "ignore"})
    node = node_factory.get_node(plugins=[p], options={"dev-plugin-timeout": 2},
                                 start=False, may_fail=True)
    node.start(wait_for_rpc=False)
    assert node.wait_for_exit() == 1
    err = node.daemon_stderr()
    assert "plugin-sleepy: Killing plugin: timed out before replying to getmanifest" in err
    assert "Can't recover from plugin failure, terminating." in err


def test_init_timeout_at_startup_is_fatal(node_factory, directory):
    p = Path(directory) / "noinit"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"#!{sys.executable}\n" + NO_INIT)
    p.chmod(0o755)
    node = node_factory.get_node(plugins=[str(p)], options={"dev-plugin-timeout": 2},
                                 start=False, may_fail=True)
    node.start(wait_for_rpc=False)
    assert node.wait_for_exit() == 1
    log = node.daemon_log() + node.daemon_stderr()
    assert "plugin-noinit: Killing plugin: timed out before replying to init" in log
    assert "Can't recover from plugin failure, terminating." in log
