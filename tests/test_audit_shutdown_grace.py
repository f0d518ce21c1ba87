"""Daemon shutdown with plugins (reference §6.4): plugins subscribed to `shutdown` get it
and up to 30 s to exit on their own; one that ignores it is killed after the grace, and
`stop` still answers and boltd exits 0."""

import os
import sys
import time
from pathlib import Path

PLUGIN = r'''
import json, os, sys, time
mode, marker = sys.argv[0].rsplit("-", 1)[1], os.environ["MARKER_DIR"]
me = os.path.basename(sys.argv[0])
open(os.path.join(marker, me + ".pid"), "w").write(str(os.getpid()))
def send(o):
    sys.stdout.write(json.dumps(o) + "\n\n"); sys.stdout.flush()
buf = b""
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        # A stubborn plugin even ignores its stdin closing.
        while mode == "stubborn":
            time.sleep(1)
        sys.exit(0)
    buf += chunk
    while b"\n\n" in buf:
        raw, buf = buf.split(b"\n\n", 1)
        if not raw.strip():
            continue
        msg = json.loads(raw)
        if msg.get("method") == "getmanifest":
            send({"jsonrpc": "2.0", "id": msg["id"], "result": {
                "options": [], "rpcmethods": [], "subscriptions": ["shutdown"]}})
        elif msg.get("method") == "init":
            send({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
        elif msg.get("method") == "shutdown":
            open(os.path.join(marker, me + ".got-shutdown"), "w").write("")
            if mode == "slow":
                time.sleep(2)
                open(os.path.join(marker, me + ".clean-exit"), "w").write("")
                sys.exit(0)
'''


def plugin(directory, mode):
    path = Path(directory) / f"grace-{mode}"
    path.write_text(f"#!{sys.executable}\n" + PLUGIN)
    path.chmod(0o755)
    return str(path)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_subscribers_get_the_grace_and_a_stubborn_one_is_killed_after_it(node_factory, directory):
    os.environ["MARKER_DIR"] = str(directory)
    slow, stubborn = plugin(directory, "slow"), plugin(directory, "stubborn")
    node = node_factory.get_node(plugins=[slow, stubborn])
    stubborn_pid = int((Path(directory) / "grace-stubborn.pid").read_text())

    t = time.time()
    assert node.rpc.stop() == {"result": "Shutdown complete"}
    assert node.wait_for_exit() == 0
    took = time.time() - t

    assert (Path(directory) / "grace-slow.got-shutdown").exists()
    assert (Path(directory) / "grace-slow.clean-exit").exists()
    assert (Path(directory) / "grace-stubborn.got-shutdown").exists()
    assert 29 <= took < 45, took
    assert not alive(stubborn_pid)
    assert "grace-stubborn: failed to self-terminate in time, killing." in node.daemon_log()
