"""Plugins end to end: boltd with pyln-client, cln-plugin and hand-written plugins,
driven through pyln-client's LightningRpc and bolt-cli (reference §0-§8)."""

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from pyln.client import RpcError

from conftest import BOLTD_BIN, wait_for, user_plugins, BCLI_BIN

HERE = Path(__file__).resolve().parent
PLUGINS = HERE / "plugins"
PYLN_HELLO = str(PLUGINS / "pyln_hello.py")
# cln-plugin test plugins are built next to boltd (crates/test-plugins).
CLN_HELLO = str(Path(BOLTD_BIN).parent / "cln-hello")

# Plugins start with `#!/usr/bin/env python3`: make that the interpreter running pytest
# (the virtualenv with pyln-client).
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")


def raw_plugin(directory, name, spec):
    """A hand-written plugin (tests/plugins/raw_plugin.py) following `spec`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    spec_path = directory / f"{name}.spec.json"
    spec_path.write_text(json.dumps(spec))
    path = directory / name
    path.write_text(f"#!/bin/sh\nRAW_SPEC={spec_path} exec {sys.executable} "
                    f"{PLUGINS / 'raw_plugin.py'} \"$@\"\n")
    path.chmod(0o755)
    return str(path)


def hook_plugin(directory, name, mode):
    """A pyln rpc_command hook plugin whose behaviour is in `<name>.mode`."""
    path = Path(directory) / name
    shutil.copy(PLUGINS / "pyln_hook.py", path)
    path.chmod(0o755)
    Path(f"{path}.mode").write_text(mode)
    return str(path)


def manifest(**extra):
    m = {"options": [], "rpcmethods": [], "dynamic": True}
    m.update(extra)
    return m


def test_pyln_plugin_options_methods_and_init(node_factory):
    node = node_factory.get_node(options={"greeting": "hi", "py-count": "0x10", "py-flag": None,
                                          "py-multi": ["a", "b"]},
                                 plugins=[PYLN_HELLO])
    assert node.rpc.hello("bob") == {"greeting": "hi bob"}
    got = node.rpc.call("options")
    assert got["options"]["greeting"] == "hi"
    assert got["options"]["py-count"] == 16
    assert got["options"]["py-flag"] is True
    assert got["options"]["py-multi"] == ["a", "b"]
    conf = got["configuration"]
    assert list(conf) == ["lightning-dir", "rpc-file", "startup", "network", "feature_set"]
    assert conf["lightning-dir"] == str(node.net_dir)
    assert conf["startup"] is True
    assert conf["network"] == "regtest"
    configs = node.rpc.listconfigs()["configs"]
    assert configs["greeting"] == {"value_str": "hi", "source": "cmdline", "plugin": PYLN_HELLO}
    assert configs["py-count"]["value_int"] == 16
    assert configs["py-multi"]["values_str"] == ["a", "b"]
    helps = [h["command"] for h in node.rpc.help()["help"]]
    assert any(h.startswith("hello ") for h in helps)


@pytest.mark.parametrize("opt,err", [
    ("--py-count=notok", "--py-count=notok: 'notok' is not a number"),
    ("--py-bool=!", "--py-bool=!: Invalid argument '!'"),
    ("--py-flag=True", "--py-flag=True: doesn't allow an argument"),
    ("--no-such-option=1", "--no-such-option=1: unknown option"),
])
def test_bad_plugin_option_values_stop_startup(node_factory, opt, err):
    node = node_factory.get_node(plugins=[PYLN_HELLO], extra_args=[opt], start=False,
                                 may_fail=True)
    node.start(wait_for_rpc=False)
    assert node.wait_for_exit() == 1
    assert err in node.daemon_stderr()


def test_help_lists_plugin_options(node_factory, directory):
    node = node_factory.get_node(start=False)
    import subprocess
    out = subprocess.run(node.cmdline() + [f"--plugin={PYLN_HELLO}", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "--greeting" in out.stdout and "How to greet" in out.stdout


def test_cln_plugin_options_and_methods(node_factory):
    node = node_factory.get_node(options={"cln-count": "010"}, plugins=[CLN_HELLO])
    assert node.rpc.clnhello("carol") == {"greeting": "hello carol"}
    assert node.rpc.call("cln-options")["cln-count"] == 8
    r = node.cli("clnhello", "dave")
    assert r.returncode == 0, r
    assert r.json == {"greeting": "hello dave"}


def test_passthrough_ids_and_client_notifications(node_factory):
    node = node_factory.get_node(plugins=[PYLN_HELLO])
    conn = node.raw()
    got = conn.call("echo", {"x": 1}, id=77)
    assert got["id"] == 77
    assert got["result"]["id"].startswith("77/cln:echo#")
    conn.send({"jsonrpc": "2.0", "id": 1, "method": "notifications", "params": {"enable": True}})
    assert conn.read_response()["result"] == {}
    conn.send({"jsonrpc": "2.0", "id": "c:p#1", "method": "progress_demo", "params": {}})
    seen = []
    while True:
        msg = conn.read_message()
        if "id" in msg and "result" in msg:
            break
        seen.append(msg)
    assert seen[0] == {"jsonrpc": "2.0", "method": "message",
                       "params": {"id": "c:p#1", "level": "info", "message": "working on it"}}
    assert [m["method"] for m in seen] == ["message", "progress", "progress"]
    assert msg == {"jsonrpc": "2.0", "id": "c:p#1", "result": {"done": True}}
    r = node.cli("progress_demo")
    assert "# working on it" in r.stdout


def test_rpc_command_hook_chain(node_factory, directory):
    a = hook_plugin(directory, "hooka.py", "continue")
    b = hook_plugin(directory, "hookb.py", "continue")
    node = node_factory.get_node(plugins=[a, b])
    assert "id" in node.rpc.getinfo()
    Path(b + ".mode").write_text("return")
    assert node.rpc.getinfo() == {"from": "hookb.py", "method": "getinfo"}
    Path(a + ".mode").write_text("error")
    with pytest.raises(RpcError) as e:
        node.rpc.getinfo()
    # The first modification wins; the second is logged and ignored.
    assert e.value.error == {"code": 1234, "message": "blocked by hooka.py"}
    node.wait_for_log(r"rpc_command hook 'getinfo' already modified, ignoring.")
    Path(a + ".mode").write_text("replace:help")
    Path(b + ".mode").write_text("continue")
    assert "help" in node.rpc.getinfo()
    Path(a + ".mode").write_text("garbage")
    assert "id" in node.rpc.getinfo()
    node.wait_for_log(r"Bad response to 'rpc_command' hook. ")


def test_rpc_command_hook_replacing_with_stop_answers_like_stop(node_factory, directory):
    """A command the hook replaces with `stop` is `stop`: it answers last, after the
    shutdown, with stop's own result (not the error in-flight commands get)."""
    a = hook_plugin(directory, "tostop.py", "continue")
    node = node_factory.get_node(plugins=[a])
    Path(a + ".mode").write_text("replace:stop")
    assert node.rpc.call("help") == {"result": "Shutdown complete"}
    assert node.wait_for_exit() == 0


def test_plugin_dying_mid_hook_is_skipped(node_factory, directory):
    a = hook_plugin(directory, "dies.py", "die")
    b = hook_plugin(directory, "stays.py", "return")
    node = node_factory.get_node(plugins=[a, b])
    assert node.rpc.getinfo() == {"from": "stays.py", "method": "getinfo"}
    node.wait_for_log(r"Plugin died from rpc_command hook call")
    Path(b + ".mode").write_text("continue")
    names = [p["name"] for p in user_plugins(node.rpc.plugin("list"))]
    assert names == [b]


def test_plugin_dying_mid_call(node_factory):
    node = node_factory.get_node(plugins=[PYLN_HELLO])
    with pytest.raises(RpcError) as e:
        node.rpc.call("die")
    assert e.value.error == {"code": -4, "message": "Plugin terminated before replying to RPC call."}
    node.wait_for_log(r"plugin-pyln_hello.py: Killing plugin: exited during normal operation")
    with pytest.raises(RpcError) as e:
        node.rpc.hello()
    assert e.value.error["code"] == -32601
    assert "id" in node.rpc.getinfo()


def test_plugin_command_start_stop_list(node_factory, directory):
    node = node_factory.get_node()
    r = node.rpc.call("plugin", {"subcommand": "start", "plugin": CLN_HELLO,
                                 "cln-greeting": "hey"})
    assert {"name": CLN_HELLO, "active": True, "dynamic": True} in r["plugins"]
    assert node.rpc.clnhello("eve") == {"greeting": "hey eve"}
    assert node.rpc.listconfigs("cln-greeting")["configs"]["cln-greeting"]["source"] == "pluginstart"
    with pytest.raises(RpcError) as e:
        node.rpc.plugin("start", CLN_HELLO)
    assert e.value.error["message"] == f"{CLN_HELLO}: already registered"
    assert node.rpc.plugin("stop", "cln-hello") == {
        "command": "stop", "result": "Successfully stopped cln-hello."}
    with pytest.raises(RpcError):
        node.rpc.clnhello()
    assert "cln-greeting" not in node.rpc.listconfigs()["configs"]
    r = node.cli("plugin", "list")
    assert r.returncode == 0 and user_plugins(r.json) == []
    static = raw_plugin(directory, "static1", {"manifest": {"options": [], "rpcmethods": []}})
    with pytest.raises(RpcError) as e:
        node.rpc.plugin("start", static)
    assert e.value.error == {"code": -3, "message": f"{static}: Not a dynamic plugin"}
    with pytest.raises(RpcError) as e:
        node.rpc.plugin("frob")
    assert e.value.error["message"] == "Unknown subcommand 'frob'"


def test_plugin_dir_disable_and_default_dir(node_factory, directory):
    pdir = directory / "pdir"
    raw_plugin(pdir, "one", {"manifest": manifest()})
    raw_plugin(pdir, "two", {"manifest": manifest()})
    ldir = directory / "node1"
    raw_plugin(ldir / "plugins", "three", {"manifest": manifest()})
    raw_plugin(ldir / "plugins" / "sub", "four", {"manifest": manifest()})
    node = node_factory.get_node(options={"plugin-dir": str(pdir), "disable-plugin": "two"})
    names = sorted(Path(p["name"]).name for p in user_plugins(node.rpc.plugin("list")))
    assert names == ["four", "one", "three"]


def test_clear_plugins_drops_earlier_ones(node_factory, directory):
    a = raw_plugin(directory, "early", {"manifest": manifest()})
    b = raw_plugin(directory, "late", {"manifest": manifest()})
    # --clear-plugins drops the builtin bcli too, as lightningd's does: a backend is given back.
    node = node_factory.get_node(extra_args=[f"--plugin={a}", "--clear-plugins",
                                             f"--plugin={BCLI_BIN}", f"--plugin={b}"])
    assert [p["name"] for p in user_plugins(node.rpc.plugin("list"))] == [b]


def test_setconfig_dynamic_plugin_option(node_factory):
    node = node_factory.get_node(plugins=[CLN_HELLO])
    r = node.rpc.setconfig("cln-dyn", "fresh")
    assert r["config"]["config"] == "cln-dyn"
    assert r["config"]["value_str"] == "fresh"
    assert r["config"]["plugin"] == CLN_HELLO
    assert r["config"]["source"].endswith("config.setconfig:1")
    assert node.rpc.call("cln-options")["cln-dyn"] == "fresh"
    assert "cln-dyn=fresh" in (node.net_dir / "config.setconfig").read_text()
    with pytest.raises(RpcError) as e:
        node.rpc.setconfig("cln-greeting", "x")
    assert "Not a dynamic config option" in e.value.error["message"]
    with pytest.raises(RpcError) as e:
        node.rpc.setconfig("cln-dyn", "refuse")
    assert "refuses" in e.value.error["message"]
    # Persisted: a restart applies it again.
    node.restart()
    assert node.rpc.call("cln-options")["cln-dyn"] == "fresh"
    got = node.rpc.listconfigs("cln-dyn")["configs"]["cln-dyn"]
    assert got["source"].endswith("config.setconfig:1") and got["value_str"] == "fresh"


def test_custom_and_lifecycle_notifications(node_factory):
    node = node_factory.get_node(plugins=[PYLN_HELLO])
    node.rpc.plugin("start", CLN_HELLO)
    node.rpc.call("emit")
    node.rpc.plugin("stop", "cln-hello")

    def seen():
        s = json.dumps(node.rpc.call("seen")["seen"])
        return "plugin_stopped" in s and "pyln_custom" in s and s
    s = wait_for(seen, what="notifications")
    assert '"plugin_name": "cln-hello"' in s
    assert '"origin": "pyln_hello.py"' in s


def test_important_plugin_death_stops_boltd_with_exit_1(node_factory, directory):
    p = raw_plugin(directory, "vital", {"manifest": manifest(rpcmethods=[{"name": "boom", "usage": ""}]),
                                        "methods": {"boom": "die"}})
    node = node_factory.get_node(options={"important-plugin": p}, may_fail=True)
    with pytest.raises(RpcError):
        node.rpc.call("boom")
    assert node.wait_for_exit() == 1
    assert node.is_in_log(r"Plugin marked as important, shutting down lightningd!")


def test_bad_plugins_at_startup_leave_boltd_running(node_factory, directory):
    bad = [
        raw_plugin(directory, "garbage", {"getmanifest": "garbage"}),
        raw_plugin(directory, "quitter", {"getmanifest": "exit"}),
        raw_plugin(directory, "nojsonrpc", {"getmanifest": "nojsonrpc"}),
        raw_plugin(directory, "badhook", {"manifest": manifest(hooks=["nope"])}),
        raw_plugin(directory, "clash", {"manifest": manifest(rpcmethods=[{"name": "getinfo", "usage": ""}])}),
    ]
    node = node_factory.get_node(plugins=bad)
    assert user_plugins(node.rpc.plugin("list")) == []
    node.wait_for_log(r"plugin-garbage: Killing plugin: Failed to parse RPC JSON response 'this is not json }'")
    assert node.is_in_log(r"plugin-quitter: Killing plugin: exited before replying to getmanifest")
    assert node.is_in_log(r"plugin-nojsonrpc: Killing plugin: JSON-RPC message does not contain \"jsonrpc\" field")
    assert node.is_in_log(r"plugin-badhook: Killing plugin: Unknown hook name nope")
    assert node.is_in_log(r"Could not register method \"getinfo\", a builtin method with that name is already registered")
    assert "id" in node.rpc.getinfo()


def test_never_answering_getmanifest_times_out(node_factory, directory):
    p = raw_plugin(directory, "sleepy", {"getmanifest": "ignore"})
    node = node_factory.get_node(options={"dev-plugin-timeout": 2})
    t = time.time()
    with pytest.raises(RpcError) as e:
        node.rpc.plugin("start", p)
    assert e.value.error == {"code": -3, "message": f"{p}: timed out before replying to getmanifest"}
    assert time.time() - t < 10
    assert "id" in node.rpc.getinfo()


def test_option_name_clash_at_startup_is_fatal(node_factory, directory):
    a = raw_plugin(directory, "opta", {"manifest": manifest(options=[{"name": "dup", "type": "string", "description": ""}])})
    b = raw_plugin(directory, "optb", {"manifest": manifest(options=[{"name": "dup", "type": "string", "description": ""}])})
    node = node_factory.get_node(plugins=[a, b], start=False, may_fail=True)
    node.start(wait_for_rpc=False)
    assert node.wait_for_exit() == 1
    assert "option name 'dup' is already taken" in node.daemon_stderr()


def test_featurebits_in_getinfo_and_init(node_factory, directory):
    bit = 1 << 201
    hexbits = format(bit, "x")
    hexbits = ("0" * (len(hexbits) % 2)) + hexbits
    p = raw_plugin(directory, "feat", {"manifest": {"options": [], "rpcmethods": [],
                                                    "featurebits": {"node": hexbits, "invoice": hexbits}}})
    node = node_factory.get_node(plugins=[p])
    ours = node.rpc.getinfo()["our_features"]
    assert int(ours["node"], 16) & bit
    # Our own invoice bits (var_onion_optin, payment_secret, basic_mpp) plus the plugin's,
    # and every invoice carries them.
    assert int(ours["invoice"], 16) == bit | 0x024100
    inv = node.rpc.invoice(1000, "feat", "d")
    assert int(node.rpc.decode(inv["bolt11"])["features"], 16) == bit | 0x024100


def test_featurebits_the_channel_manager_sets_are_refused(node_factory, directory):
    # anchors_zero_fee_htlc_tx (23, init) and keysend (55, node) are the channel manager's
    # own bits (a node without channels has neither): a plugin may not offer them again.
    anchors = raw_plugin(directory, "featanchors", {"manifest": {"options": [], "rpcmethods": [],
                                                                 "featurebits": {"init": format(1 << 23, "x")}}})
    keysend = raw_plugin(directory, "featkeysend", {"manifest": {"options": [], "rpcmethods": [],
                                                                 "featurebits": {"node": format(1 << 55, "x")}}})
    node = node_factory.get_node(plugins=[anchors, keysend])
    assert node.is_in_log("plugin-featanchors: Killing plugin: Custom featurebits already present")
    assert node.is_in_log("plugin-featkeysend: Killing plugin: Custom featurebits already present")
    assert user_plugins(node.rpc.plugin("list")) == []
    ours = node.rpc.getinfo()["our_features"]
    assert int(ours["init"], 16) & (1 << 23)
    assert int(ours["node"], 16) & (1 << 55)


def test_deprecated_plugin_option_refused_when_deprecated_apis_off(node_factory, directory):
    p = raw_plugin(directory, "depopt", {"manifest": manifest(options=[
        {"name": "old-opt", "type": "string", "description": "", "deprecated": True}])})
    node = node_factory.get_node(plugins=[p], options={"allow-deprecated-apis": "false",
                                                       "old-opt": "x"},
                                 start=False, may_fail=True)
    node.start(wait_for_rpc=False)
    assert node.wait_for_exit() == 1
    assert "deprecated option" in node.daemon_stderr()


def test_shutdown_notification_on_stop(node_factory):
    node = node_factory.get_node(plugins=[CLN_HELLO])
    t = time.time()
    assert node.stop() == 0
    # cln-hello exits on `shutdown` itself, well inside the 30 s grace.
    assert time.time() - t < 10


def test_fifty_megabyte_reply(node_factory, directory):
    p = raw_plugin(directory, "bigreply", {"manifest": manifest(rpcmethods=[{"name": "big", "usage": ""}]),
                                           "methods": {"big": {"big": 50_000_000}}})
    node = node_factory.get_node(plugins=[p])
    r = node.rpc.call("big")
    assert len(r["data"]) == 50_000_000
    assert "id" in node.rpc.getinfo()


def test_important_plugin_failing_at_startup_aborts(node_factory, directory):
    p = raw_plugin(directory, "vital2", {"getmanifest": "exit"})
    node = node_factory.get_node(options={"important-plugin": p}, start=False, may_fail=True)
    node.start(wait_for_rpc=False)
    assert node.wait_for_exit() == 1
    assert "Could not initialize the plugins, see above for details." in node.daemon_stderr()
    assert "plugin-vital2: Killing plugin: exited before replying to getmanifest" in node.daemon_stderr()


def test_disable_plugin_overrides_important(node_factory, directory):
    p = raw_plugin(directory, "vital3", {"getmanifest": "exit"})
    node = node_factory.get_node(options={"important-plugin": p, "disable-plugin": "vital3"})
    assert user_plugins(node.rpc.plugin("list")) == []


def test_check_is_forwarded_to_cancheck_plugins(node_factory, directory):
    yes = raw_plugin(directory, "chk1", {"manifest": manifest(cancheck=True, rpcmethods=[{"name": "m1", "usage": ""}]),
                                         "methods": {"check": {"result": {"checked": "by plugin"}}}})
    no = raw_plugin(directory, "chk2", {"manifest": manifest(rpcmethods=[{"name": "m2", "usage": ""}])})
    node = node_factory.get_node(plugins=[yes, no])
    assert node.rpc.check("m1") == {"checked": "by plugin"}
    assert node.rpc.check("m2") == {"command_to_check": "m2"}
    node.wait_for_log(r"Plugin does not support check command for m2")


def test_log_and_warning_notifications_reach_subscribers(node_factory, directory):
    rec = directory / "warn-rec"
    sub = raw_plugin(directory, "warnsub", {"manifest": manifest(subscriptions=["warning"]),
                                            "record": str(rec)})
    loud = raw_plugin(directory, "loud", {"manifest": manifest(rpcmethods=[{"name": "shout", "usage": ""}]),
                                          "methods": {"shout": {"send": [
                                              {"jsonrpc": "2.0", "method": "log",
                                               "params": {"level": "warn", "message": "careful now"}}]}}})
    node = node_factory.get_node(plugins=[sub, loud])
    node.rpc.call("shout")

    def got():
        if not rec.exists():
            return None
        for line in rec.read_text().splitlines():
            m = json.loads(line)
            if m.get("method") == "warning" and m["params"]["warning"]["log"] == "careful now":
                return m
        return None
    m = wait_for(got, what="warning notification")
    w = m["params"]["warning"]
    assert w["level"] == "warn" and w["source"] == "plugin-loud"
    assert set(w) == {"level", "time", "timestamp", "source", "log"}


def test_plugin_start_refuses_builtin_method_names(node_factory, directory):
    node = node_factory.get_node()
    for name in ["getinfo", "connect", "plugin"]:
        p = raw_plugin(directory, f"clash-{name}", {"manifest": manifest(rpcmethods=[{"name": name, "usage": ""}])})
        with pytest.raises(RpcError) as e:
            node.rpc.plugin("start", p)
        assert e.value.error == {"code": -3, "message": f"{p}: Could not register method \"{name}\", "
                                                        "a builtin method with that name is already registered"}
    assert "id" in node.rpc.getinfo()


def test_deprecated_plugin_option_hidden_from_help_and_listconfigs(node_factory, directory):
    import subprocess
    p = raw_plugin(directory, "depopt2", {"manifest": manifest(options=[
        {"name": "old-opt2", "type": "string", "description": "old", "default": "x", "deprecated": True},
        {"name": "new-opt2", "type": "string", "description": "new", "default": "y"}])})
    node = node_factory.get_node(plugins=[p], options={"allow-deprecated-apis": "false"})
    configs = node.rpc.listconfigs()["configs"]
    assert "new-opt2" in configs and "old-opt2" not in configs
    out = subprocess.run(node.cmdline() + ["--help"], capture_output=True, text=True, timeout=60)
    assert "--new-opt2" in out.stdout and "--old-opt2" not in out.stdout


def test_plugin_options_are_read_through_the_host(node_factory):
    """Plugin option values have one owner, the plugin host: listconfigs and setconfig read
    what it holds at that moment, with no copy in the daemon's config to keep in step."""
    node = node_factory.get_node(options={"greeting": "hi"}, plugins=[PYLN_HELLO])
    assert node.rpc.listconfigs()["configs"]["greeting"] == {
        "value_str": "hi", "source": "cmdline", "plugin": PYLN_HELLO}
    node.rpc.setconfig(config="py-dyn", val="x", transient=True)
    assert node.rpc.listconfigs("py-dyn")["configs"]["py-dyn"] == {
        "value_str": "x", "source": "setconfig transient", "plugin": PYLN_HELLO, "dynamic": True}
    with pytest.raises(RpcError):
        node.rpc.call("die")
    # Gone with the plugin, at once.
    assert "greeting" not in node.rpc.listconfigs()["configs"]
    with pytest.raises(RpcError) as e:
        node.rpc.listconfigs("greeting")
    assert "Unknown config option" in e.value.error["message"]
    with pytest.raises(RpcError) as e:
        node.rpc.setconfig("py-dyn", "y")
    assert "Unknown config option" in e.value.error["message"]
    # `plugin start` values win while the plugin runs; the command line's stays for later.
    node.rpc.call("plugin", {"subcommand": "start", "plugin": PYLN_HELLO, "greeting": "yo"})
    assert node.rpc.listconfigs("greeting")["configs"]["greeting"] == {
        "value_str": "yo", "source": "pluginstart", "plugin": PYLN_HELLO}
    node.rpc.plugin("stop", PYLN_HELLO)
    node.rpc.plugin("start", PYLN_HELLO)
    assert node.rpc.listconfigs("greeting")["configs"]["greeting"] == {
        "value_str": "hi", "source": "cmdline", "plugin": PYLN_HELLO}
