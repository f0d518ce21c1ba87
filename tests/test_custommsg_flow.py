"""Custom messages are flow-controlled end to end (issue 16): a peer that sends faster
than the receiver's plugins answer is slowed down (the receiver stops reading its socket,
the sender's `sendcustommsg` waits for room), never dropped, and every message arrives,
in order, once the plugins catch up.
"""

import json
import threading
import time

from conftest import wait_for
from test_custommsg import SENT, pair, rss_kib
from test_peers import node_id, set_mode

SIZE = 32 * 1024  # bytes per message
N = 600  # 19 MB: past both nodes' budgets and what the kernel buffers between them


def hook_lines(node):
    """How many `custommsg` hook calls the recorder saw, without parsing 19 MB each time."""
    try:
        with open(node.net_dir / "peer_recorder.jsonl", "rb") as f:
            return sum(1 for line in f if b'"custommsg_hook"' in line)
    except FileNotFoundError:
        return 0


def hook_payloads(node):
    with open(node.net_dir / "peer_recorder.jsonl") as f:
        return [e["payload"] for e in map(json.loads, f) if e["kind"] == "custommsg_hook"]


def test_sender_faster_than_a_slow_hook_is_slowed_not_dropped(node_factory):
    a, b = pair(node_factory)
    bid = node_id(b)
    # The receiver's plugin takes half a second per message: far behind the sender.
    set_mode(b, "custommsg_slow:0.5")
    b_before = rss_kib(b)
    answered = []
    errors = []

    def send_all():
        conn = a.raw(timeout=120)
        for i in range(N):
            msg = f"7777{i:08x}" + "ab" * (SIZE - 6)
            r = conn.call("sendcustommsg", [bid, msg], id=i)
            if r.get("result") != SENT:
                errors.append(r)
                return
            answered.append(i)

    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()

    # The sender stops getting answers: its queue to b is full, b no longer reads it.
    last, still_since = -1, time.time()
    deadline = time.time() + 60
    while time.time() - still_since < 2 and time.time() < deadline:
        time.sleep(0.25)
        if len(answered) != last:
            last, still_since = len(answered), time.time()
    assert not errors, errors
    assert len(answered) < N, "sendcustommsg never waited: the sender's queue is unbounded"
    assert sender.is_alive()
    b.wait_for_log(r"Pausing reads: \d+ custom messages")
    # Nobody was dropped for it, and b's memory stayed bounded.
    assert [p["connected"] for p in a.rpc.listpeers()["peers"]] == [True]
    assert [p["connected"] for p in b.rpc.listpeers()["peers"]] == [True]
    assert rss_kib(b) - b_before < 48 * 1024, (b_before, rss_kib(b))
    assert not b.is_in_log("too many custom messages")

    # The plugin catches up: every message arrives, in order, on the same connection.
    set_mode(b, "continue")
    sender.join(timeout=120)
    assert not sender.is_alive() and not errors and len(answered) == N, (len(answered), errors)
    wait_for(lambda: hook_lines(b) >= N, timeout=120, interval=0.5, what=f"{N} hook calls")
    got = hook_payloads(b)
    assert [int(p[4:12], 16) for p in got] == list(range(N))
    assert all(len(p) == 2 * SIZE for p in got)
    assert [p["connected"] for p in b.rpc.listpeers()["peers"]] == [True]
    assert b.rpc.getinfo()["num_peers"] == 1
