"""The db_write hook end to end: a pyln-client backup plugin (tests/plugins/backup.py)
replays every transaction into its own SQLite copy, which must equal the live database
row for row; a refusing or dying hook commits nothing and stops boltd; kill -9 loses no
acknowledged write."""

import os
import random
import shutil
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest
from pyln.client import LightningRpc, RpcError

from boltd_pair import pair, usable
from conftest import BOLTD_BIN
from ldk_node import ldk_chain  # noqa: F401 -- fixture

HERE = Path(__file__).resolve().parent
BACKUP = str(HERE / "plugins" / "backup.py")
# A db_write plugin written with cln-plugin, which exits on a db_write before `init`.
CLN_DBWRITE = str(Path(BOLTD_BIN).parent / "cln-dbwrite")

# Plugins start with `#!/usr/bin/env python3`: make that the interpreter running pytest
# (the virtualenv with pyln-client).
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

TABLES = {
    "datastore": "SELECT key, data, generation FROM datastore ORDER BY key",
    "vars": "SELECT name, intval, blobval FROM vars ORDER BY name",
    "peer_addresses": "SELECT node_id, address FROM peer_addresses ORDER BY node_id",
    "kv": "SELECT primary_namespace, secondary_namespace, key, value FROM kv "
          "ORDER BY primary_namespace, secondary_namespace, key",
}


def rows(path, sql):
    db = sqlite3.connect("file:{}?mode=ro".format(path), uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def live_db(node):
    return node.net_dir / "lightningd.sqlite3"


def copy_db(node, name="backup"):
    return node.net_dir / "{}.sqlite3".format(name)


def assert_copy_equals_live(node, name="backup"):
    for table, sql in TABLES.items():
        live, copy = rows(live_db(node), sql), rows(copy_db(node, name), sql)
        assert live == copy, "table {} differs in {}".format(table, name)


def keys_in(node):
    return {bytes(k) for (k, _, _) in rows(live_db(node), TABLES["datastore"])}


def plugin_processes(node):
    """Pids of processes other than the daemon whose working directory is this node's
    network dir (its plugins), so a test can wait for a killed daemon's plugins to go."""
    pids = []
    daemon = node.proc.pid if node.proc else None
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != daemon:
            try:
                if Path(os.readlink(p / "cwd")) == node.net_dir:
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


def wait_plugins_gone(node, timeout=10):
    deadline = time.time() + timeout
    while plugin_processes(node) and time.time() < deadline:
        time.sleep(0.05)
    assert plugin_processes(node) == []


MODES = ["must-create", "must-replace", "create-or-replace", "must-append", "create-or-append"]


def random_ops(node, count, seed, threads=4):
    """`count` random datastore/deldatastore calls over `threads` connections; refusals
    by the datastore's rules (already exists etc.) are part of the game."""
    def worker(wseed, n):
        rng = random.Random(wseed)
        rpc = LightningRpc(str(node.socket_path))
        for _ in range(n):
            key = [rng.choice(["a", "b", "c", "it's", "ü"]) for _ in range(rng.randint(1, 3))]
            try:
                if rng.random() < 0.2:
                    rpc.call("deldatastore", {"key": key})
                elif rng.random() < 0.5:
                    rpc.call("datastore", {"key": key, "mode": rng.choice(MODES),
                                           "hex": os.urandom(rng.randint(0, 40)).hex()})
                else:
                    rpc.call("datastore", {"key": key, "mode": rng.choice(MODES),
                                           "string": "x'); DROP TABLE vars; --" * rng.randint(0, 2)})
            except RpcError as e:
                assert 1200 <= e.error["code"] <= 1206, e.error

    ts = [threading.Thread(target=worker, args=(seed * 100 + i, count // threads))
          for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


@pytest.mark.timeout(300)
def test_backup_copy_equals_live_after_5000_random_ops_across_a_restart(node_factory):
    n = node_factory.get_node(plugins=[BACKUP])
    random_ops(n, 2500, seed=1)
    n.restart()
    random_ops(n, 2500, seed=2)
    assert n.stop() == 0
    assert len(rows(live_db(n), TABLES["datastore"])) > 10
    assert_copy_equals_live(n)


def test_db_write_reaches_the_plugin_before_init(node_factory):
    """A fresh database's schema is created in data_version 1, which a db_write plugin
    receives before its `init` (plugin guide): the copy is built from it, no snapshot."""
    n = node_factory.get_node(plugins=[BACKUP])
    n.stop()
    # 1 is the schema; the chain's root block (stored before plugins' init) follows it.
    version = "SELECT intval FROM vars WHERE name = 'data_version'"
    assert rows(copy_db(n), version) == rows(live_db(n), version)
    assert_copy_equals_live(n)
    assert not n.is_in_log("took a snapshot")
    assert n.is_in_log("backup: data_version 1 before init")


def test_backup_takes_a_snapshot_after_a_gap(node_factory):
    """Writes made while the plugin was not loaded are a gap: the plugin must snapshot
    and end up equal anyway."""
    n = node_factory.get_node(plugins=[BACKUP])
    n.rpc.call("datastore", {"key": "before", "string": "1"})
    n.stop()
    n.plugins = []
    n.start()
    n.rpc.call("datastore", {"key": "unseen", "string": "2"})
    n.stop()
    n.plugins = [BACKUP]
    n.start()
    n.rpc.call("datastore", {"key": "after", "string": "3"})
    n.stop()
    assert n.is_in_log("took a snapshot")
    assert_copy_equals_live(n)
    assert len(rows(copy_db(n), TABLES["datastore"])) == 3


MARKERS = {"refuse": "BACKUP_REFUSE_MARKER", "die": "BACKUP_DIE_MARKER",
           "hang": "BACKUP_HANG_MARKER"}


@pytest.mark.parametrize("how", ["refuse", "die", "hang"])
def test_failed_hook_commits_nothing_and_stops_boltd(node_factory, monkeypatch, how):
    marker = "refuse-me".encode().hex()
    monkeypatch.setenv(MARKERS[how], marker)
    monkeypatch.setenv("BOLTD_DEV_DB_WRITE_TIMEOUT_MS", "1000")
    n = node_factory.get_node(plugins=[BACKUP], may_fail=True)
    n.rpc.call("datastore", {"key": "kept", "string": "1"})
    with pytest.raises((RpcError, OSError, ValueError)):
        n.rpc.call("datastore", {"key": "refuse-me", "string": "2"})
    assert n.proc.wait(timeout=30) != 0
    if how == "hang":
        assert n.is_in_log(
            r"BROKEN.*Plugin\(s\) '[^']*backup\.py' did not answer db_write data_version \d+ within 1s")
    else:
        assert n.is_in_log(r"BROKEN.*db_write.*backup\.py")
    for var in MARKERS.values():
        monkeypatch.delenv(var, raising=False)
    wait_plugins_gone(n)
    assert keys_in(n) == {b"kept"}
    # The refused data_version is offered again after the restart; the copy follows.
    n.may_fail = False
    n.start()
    n.rpc.call("datastore", {"key": "next", "string": "3"})
    n.stop()
    assert keys_in(n) == {b"kept", b"next"}
    assert_copy_equals_live(n)


@pytest.mark.timeout(300)
def test_kill_9_twenty_times_loses_no_acknowledged_write(node_factory):
    n = node_factory.get_node(plugins=[BACKUP])
    assert plugin_processes(n), "the backup plugin runs with the network dir as cwd"
    acked = set()
    rng = random.Random(5)
    for round_ in range(20):
        stop = threading.Event()

        def writer():
            rpc = LightningRpc(str(n.socket_path))
            i = 0
            while not stop.is_set():
                key = "r{}-{}".format(round_, i)
                try:
                    rpc.call("datastore", {"key": key, "hex": os.urandom(64).hex()})
                except (RpcError, OSError, ValueError):
                    return
                acked.add(key.encode())
                i += 1

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(rng.uniform(0.1, 1.0))
        n.kill()
        stop.set()
        t.join()
        wait_plugins_gone(n)
        assert rows(live_db(n), "PRAGMA integrity_check") == [("ok",)]
        n.start()
        missing = acked - keys_in(n)
        assert not missing, "round {}: lost {}".format(round_, sorted(missing)[:5])
    assert len(acked) > 20
    print("acknowledged writes over 20 kills:", len(acked))
    n.rpc.call("datastore", {"key": "final", "string": "x"})
    n.stop()
    assert rows(live_db(n), "PRAGMA integrity_check") == [("ok",)]
    assert_copy_equals_live(n)


def test_wallet_option_selects_the_database_file(node_factory):
    n = node_factory.get_node(options={"wallet": "sqlite3://elsewhere.sqlite3"})
    n.rpc.call("datastore", {"key": "where", "string": "here"})
    n.stop()
    assert rows(n.net_dir / "elsewhere.sqlite3", "SELECT count(*) FROM datastore") == [(1,)]
    assert not live_db(n).exists()


def test_default_database_is_lightningd_sqlite3(node_factory):
    n = node_factory.get_node()
    n.rpc.call("datastore", {"key": "where", "string": "here"})
    n.stop()
    assert rows(n.net_dir / "lightningd.sqlite3", "SELECT count(*) FROM datastore") == [(1,)]
    assert not (n.net_dir / "boltd.sqlite3").exists()


def test_an_existing_boltd_sqlite3_keeps_being_used(node_factory):
    """A network dir from before the rename keeps its database: no second, empty one."""
    n = node_factory.get_node()
    n.rpc.call("datastore", {"key": "old", "string": "1"})
    n.stop()
    for suffix in ["", "-wal", "-shm"]:
        src = n.net_dir / ("lightningd.sqlite3" + suffix)
        if src.exists():
            src.rename(n.net_dir / ("boltd.sqlite3" + suffix))
    n.start()
    assert [d["key"] for d in n.rpc.call("listdatastore")["datastore"]] == [["old"]]
    n.rpc.call("datastore", {"key": "new", "string": "2"})
    n.stop()
    assert rows(n.net_dir / "boltd.sqlite3", "SELECT count(*) FROM datastore") == [(2,)]
    assert not (n.net_dir / "lightningd.sqlite3").exists()


def test_connect_by_id_alone_uses_the_address_remembered_in_the_store(node_factory):
    local = {"bind-addr": "127.0.0.1:0"}
    a = node_factory.get_node(options=local)
    b = node_factory.get_node(options=local)
    bid = b.rpc.getinfo()["id"]
    bport = b.rpc.getinfo()["binding"][0]["port"]
    a.rpc.call("connect", {"id": bid, "host": "127.0.0.1", "port": bport})
    # A restart forgets every peer in memory; the store does not.
    a.restart()
    assert a.rpc.listpeers()["peers"] == []
    assert a.rpc.call("connect", {"id": bid})["id"] == bid
    a.stop()
    assert rows(live_db(a), TABLES["peer_addresses"]) == [(bid, "127.0.0.1:{}".format(bport))]


def test_two_db_write_plugins_see_every_write_and_either_can_veto(node_factory, directory,
                                                                   monkeypatch):
    other = directory / "other.py"
    shutil.copy(BACKUP, other)
    os.chmod(other, 0o755)
    n = node_factory.get_node(plugins=[BACKUP, str(other)])
    random_ops(n, 200, seed=3)
    n.stop()
    assert_copy_equals_live(n, "backup")
    assert_copy_equals_live(n, "other")

    # Only `other` refuses: the write is not committed although `backup` agreed.
    monkeypatch.setenv("BACKUP_REFUSE_MARKER", "vetoed".encode().hex())
    monkeypatch.setenv("BACKUP_MARKED_PLUGIN", "other")
    n.may_fail = True
    n.start()
    with pytest.raises((RpcError, OSError, ValueError)):
        n.rpc.call("datastore", {"key": "vetoed", "string": "x"})
    assert n.proc.wait(timeout=30) != 0
    assert n.is_in_log(r"BROKEN.*Plugin '[^']*other\.py' returned failed db_write")
    assert b"vetoed" not in keys_in(n)
    wait_plugins_gone(n)

    monkeypatch.delenv("BACKUP_REFUSE_MARKER")
    n.may_fail = False
    n.start()
    n.rpc.call("datastore", {"key": "after-veto", "string": "y"})
    n.stop()
    assert b"vetoed" not in keys_in(n)
    assert_copy_equals_live(n, "backup")
    assert_copy_equals_live(n, "other")


def test_a_restart_writes_nothing_before_db_write_plugins_init(node_factory):
    """Only a new database is written before plugins' `init` (its schema, as in Core
    Lightning): a restart writes nothing until then, so a cln-plugin db_write plugin (which
    exits on a db_write before `init`) starts, and sees every write from its `init` on."""
    n = node_factory.get_node(plugins=[BACKUP])
    assert n.is_in_log("backup: data_version 1 before init")
    n.stop()
    # The spare shutdown address made after the first `init` is taken again by each
    # restart: no wallet record is added.
    records = rows(live_db(n), "SELECT id FROM wallet_records")
    for _ in range(2):
        n.start()
        assert "before init" not in n.daemon_log()[n._start_offset:]
        n.stop()
    assert rows(live_db(n), "SELECT id FROM wallet_records") == records
    assert_copy_equals_live(n)
    n.plugins = [CLN_DBWRITE]
    n.start()
    n.rpc.call("datastore", {"key": "after", "string": "x"})
    assert n.stop() == 0



def test_a_stop_writes_its_last_channel_state_while_db_write_plugins_still_answer(
        node_factory, ldk_chain):
    """At shutdown the channels' last writes go through the db_write plugins before those
    are stopped (Core Lightning stops its subdaemons before its plugins): a node with a
    channel and a cln-plugin db_write plugin stops cleanly, with no refused write."""
    a, b = pair(node_factory, ldk_chain)
    # Its database exists now: a restart writes nothing before `init`.
    b.stop()
    b.plugins = [CLN_DBWRITE]
    b.start()
    usable(a, b)
    inv = b.rpc.invoice(10_000, "last-state", "d")
    a.rpc.pay(inv["bolt11"])
    assert b.stop() == 0
    log = b.daemon_log()
    assert "BROKEN" not in log, [ln for ln in log.splitlines() if "BROKEN" in ln]
    b.start()
    assert b.rpc.listinvoices("last-state")["invoices"][0]["status"] == "paid"
    # The same for SIGTERM (the daemon alone gets it, as from a service manager).
    usable(a, b)
    a.rpc.pay(b.rpc.invoice(10_000, "sigterm", "d")["bolt11"])
    offset = len(b.daemon_log())
    b.proc.send_signal(signal.SIGTERM)
    assert b.wait_for_exit() == 0
    log = b.daemon_log()[offset:]
    assert "BROKEN" not in log, [ln for ln in log.splitlines() if "BROKEN" in ln]
