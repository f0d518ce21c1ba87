#!/usr/bin/env python3
"""A continuous-backup plugin, written the way the plugin guide describes `db_write`.

It keeps a copy of boltd's database in `backup.sqlite3` (in the plugin's working
directory, which is `<lightning-dir>/<network>/`) and replays every `writes` array into
it. The copy's own `vars.data_version` is "the previous data_version" the guide asks us
to track, because the last statement of each `writes` array is that very update.

Rules (plugin guide, db_write):
  * new == prev + 1 (mod 2^32): apply the writes.
  * new == prev: the previous set was never committed. Our copy already holds it, so
    take a fresh snapshot of the live database and apply the new set on top.
  * new < prev: halt and catch fire (refuse, so boltd stops without committing).
  * anything else (a gap, or no copy yet on a database that already exists): snapshot,
    then apply.

Environment (for tests): BACKUP_REFUSE_MARKER / BACKUP_DIE_MARKER / BACKUP_HANG_MARKER:
refuse the write, exit at once, or answer only after 5 s, when any statement contains
that text (only in the plugin named by BACKUP_MARKED_PLUGIN, if set; only while the file
BACKUP_ARMED_FILE exists, if set). BACKUP_DELAY_MS: answer every write that much later (a
slow backup disk). BACKUP_DB: the live database file (default `lightningd.sqlite3`).
"""
import os
import sqlite3
import time

from pyln.client import Plugin

plugin = Plugin()

LIVE = os.environ.get("BACKUP_DB", "lightningd.sqlite3")
# `backup.py` keeps `backup.sqlite3`; a copy of this file named `other.py` keeps
# `other.sqlite3`, so several backup plugins can run side by side.
NAME = os.path.splitext(os.path.basename(__file__))[0]
COPY = NAME + ".sqlite3"


def marked(var, statement):
    """Whether the test marker `var` applies to this plugin and occurs in `statement`."""
    only = os.environ.get("BACKUP_MARKED_PLUGIN")
    marker = os.environ.get(var)
    armed = os.environ.get("BACKUP_ARMED_FILE")
    return (bool(marker) and marker in statement and (not only or only == NAME)
            and (not armed or os.path.exists(armed)))


def copy_version():
    """The data_version our copy is at, or None if there is no usable copy."""
    if not os.path.exists(COPY):
        return None
    db = sqlite3.connect(COPY)
    try:
        row = db.execute("SELECT intval FROM vars WHERE name = 'data_version'").fetchone()
        return None if row is None else row[0]
    except sqlite3.Error:
        return None
    finally:
        db.close()


def snapshot():
    """Replace the copy with the live database's committed state (readers never block
    in WAL mode, and boltd's pending transaction is invisible to us)."""
    tmp = COPY + ".tmp"
    if os.path.exists(tmp):
        os.remove(tmp)
    src = sqlite3.connect("file:{}?mode=ro".format(LIVE), uri=True)
    dst = sqlite3.connect(tmp)
    src.backup(dst)
    dst.close()
    src.close()
    os.replace(tmp, COPY)
    plugin.log("backup: took a snapshot of {}".format(LIVE))


def apply(writes):
    db = sqlite3.connect(COPY, isolation_level=None)
    try:
        db.execute("BEGIN")
        for w in writes:
            db.execute(w)
        db.execute("COMMIT")
    finally:
        db.close()


DELAY = int(os.environ.get("BACKUP_DELAY_MS", "0")) / 1000


@plugin.hook("db_write")
def on_db_write(writes, data_version, plugin, **kwargs):
    if DELAY:
        time.sleep(DELAY)
    for w in writes:
        if marked("BACKUP_DIE_MARKER", w):
            os._exit(3)
        if marked("BACKUP_HANG_MARKER", w):
            time.sleep(5)
        if marked("BACKUP_REFUSE_MARKER", w):
            plugin.log("backup: refusing data_version {}".format(data_version), level="warn")
            return {"result": "refused by {}".format(NAME)}

    if plugin.rpc is None:
        # pyln sets `rpc` in `init`: this write arrived before it (plugin guide).
        plugin.log("backup: data_version {} before init".format(data_version))
    prev = copy_version()
    if prev is None:
        # No copy: replay from scratch if this is a brand-new database (its first
        # transaction creates the schema), otherwise start from a snapshot.
        if live_has_tables():
            snapshot()
    elif data_version == (prev + 1) % 2**32:
        pass
    elif data_version == prev:
        snapshot()
    elif data_version < prev and not (prev > 2**31 and data_version < 2**31):
        plugin.log("backup: data_version went back from {} to {}: halting".format(
            prev, data_version), level="error")
        return {"result": "data_version went backwards"}
    else:
        snapshot()
    try:
        apply(writes)
    except sqlite3.Error as e:
        plugin.log("backup: replay failed: {}".format(e), level="error")
        return {"result": "replay failed"}
    return {"result": "continue"}


def live_has_tables():
    """Whether the live database already has tables (then we must snapshot)."""
    if not os.path.exists(LIVE):
        return False
    db = sqlite3.connect("file:{}?mode=ro".format(LIVE), uri=True)
    try:
        return db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    finally:
        db.close()


plugin.run()
