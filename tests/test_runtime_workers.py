"""No runtime worker waits on LDK while the reply it waits for needs a worker.

A peer message, an RPC command or the event loop that blocks a tokio worker on one of
LDK's locks, while the lock's holder writes a monitor through a `db_write` plugin, must
not stop the node: the plugin's reply is read by a task on the same runtime. With two
workers, a slow backup plugin and payments arriving while RPC clients ask for the
channels, every call must still come back. (Before the LDK calls moved off the workers
it hung after the first payment, with and without the 50 ms idle-worker nudge: one
worker in `list_channels` for listpeerchannels, the other in a peer message, both on the
lock held by a monitor write waiting for the plugin.)
"""

import threading
import time
from pathlib import Path

from boltd_pair import pair, usable
from ldk_node import ldk_chain  # noqa: F401 -- fixture

BACKUP = str(Path(__file__).resolve().parent / "plugins" / "backup.py")
DEADLINE = 40


def test_payments_and_rpc_against_a_slow_db_write_plugin_never_hang(node_factory, ldk_chain,
                                                                     monkeypatch):
    monkeypatch.setenv("BOLTD_WORKER_THREADS", "2")
    a, b = pair(node_factory, ldk_chain)
    monkeypatch.setenv("BACKUP_DELAY_MS", "30")
    b.stop()
    b.plugins = [BACKUP]
    b.start()
    monkeypatch.delenv("BACKUP_DELAY_MS")
    usable(a, b)

    stop = time.monotonic() + 20
    errors, done = [], {"pay": 0, "rpc": 0}
    lock = threading.Lock()

    def payer():
        while time.monotonic() < stop:
            try:
                a.rpc.keysend(b.info["id"], 10_000)
                with lock:
                    done["pay"] += 1
            except Exception as e:  # noqa: BLE001 - a failed payment is not the point
                with lock:
                    errors.append(repr(e))

    def asker(method, *args):
        while time.monotonic() < stop:
            b.rpc.call(method, list(args))
            with lock:
                done["rpc"] += 1

    threads = [threading.Thread(target=payer, daemon=True) for _ in range(4)]
    threads += [threading.Thread(target=asker, args=(m, a.info["id"]), daemon=True)
                for m in ("listpeerchannels", "listpeers")]
    threads += [threading.Thread(target=asker, args=("getinfo",), daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0, stop + DEADLINE - time.monotonic()))
    hung = [t for t in threads if t.is_alive()]
    assert not hung, f"{len(hung)} clients never got an answer (done {done}, errors {errors[:3]})"
    assert done["pay"] > 0, errors[:3]
    print(f"keysends {done['pay']}, RPC answers {done['rpc']}, failed payments {len(errors)}")
    # b still answers, with its peer still there.
    assert b.rpc.getinfo()["num_peers"] == 1
