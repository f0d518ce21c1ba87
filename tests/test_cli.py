"""bolt-cli against a real boltd: lightning-cli's flags, output formats and exit codes."""

import json
import os
import subprocess

from conftest import BOLT_CLI_BIN, NETWORK

HELP_FOOTER = "---\nrun `bolt-cli help <command>` for more information on a specific command\n"


def test_default_output_is_three_space_pretty_json_of_the_result(node_factory):
    node = node_factory.get_node()
    r = node.cli("getinfo")
    assert r.returncode == 0, r
    assert r.json == node.rpc.getinfo()
    assert r.stdout.startswith('{\n   "id": "')
    assert r.stderr == ""


def test_human_flat_and_raw_formats(node_factory):
    node = node_factory.get_node(options={"alias": "fmt"})
    human = node.cli("-H", "getinfo")
    assert human.returncode == 0, human
    assert "alias=fmt\n" in human.stdout
    assert "network=regtest\n" in human.stdout

    flat = node.cli("-F", "getinfo")
    assert "our_features.init=" in flat.stdout
    assert "alias=fmt\n" in flat.stdout

    raw = node.cli("-R", "getinfo")
    assert raw.stdout.count("\n") == 1
    assert json.loads(raw.stdout)["alias"] == "fmt"
    assert ": " not in raw.stdout.split('"alias"')[1][:2]

    # The last format flag wins, and flags may come after the method.
    assert node.cli("-H", "getinfo", "-R").stdout == raw.stdout


def test_help_prints_sorted_list_and_footer(node_factory):
    node = node_factory.get_node()
    r = node.cli("help")
    assert r.returncode == 0, r
    assert r.stdout.endswith(HELP_FOOTER)
    entries = r.stdout[: -len(HELP_FOOTER)].split("\n\n")
    entries = [e for e in entries if e]
    names = [e.split(" ")[0] for e in entries]
    assert "getinfo" in names and "stop" in names
    assert names == sorted(names)


def test_help_for_one_command_is_human_and_hides_format_hint(node_factory):
    node = node_factory.get_node()
    r = node.cli("help", "help")
    assert r.returncode == 0, r
    assert r.stdout.startswith("help [command]")
    assert "format-hint" not in r.stdout
    # -J asks for JSON: the hint is shown as the daemon sent it.
    j = node.cli("-J", "help", "help")
    assert j.json["format-hint"] == "simple"


def test_keyword_and_positional_params(node_factory):
    node = node_factory.get_node(options={"alias": "kw"})
    auto = node.cli("listconfigs", "config=alias")
    assert auto.returncode == 0, auto
    assert list(auto.json["configs"]) == ["alias"]
    explicit = node.cli("-k", "listconfigs", "config=alias")
    assert explicit.json == auto.json
    positional = node.cli("listconfigs", "alias")
    assert positional.json == auto.json
    # -o forces positional: "config=alias" is then the name of a config.
    ordered = node.cli("-o", "listconfigs", "config=alias")
    assert ordered.returncode == 1


def test_daemon_errors_exit_1_with_the_error_object(node_factory):
    node = node_factory.get_node()
    r = node.cli("no_such_command")
    assert r.returncode == 1
    assert r.json == {"code": -32601, "message": "Unknown command 'no_such_command'"}
    r = node.cli("getinfo", "extra")
    assert r.returncode == 1
    assert r.json == {"code": -32602, "message": "too many parameters: got 1, expected 0"}


def test_usage_errors_exit_3(node_factory):
    node = node_factory.get_node()
    r = node.cli("-k", "listconfigs", "alias")
    assert r.returncode == 3
    assert r.stderr == "bolt-cli: Expected key=value in 'alias'\n"
    r = node.cli("getinfo", "1.2.3")
    assert r.returncode == 3
    assert "Some parameters are malformed, cannot create a valid JSON-RPC request" in r.stderr
    assert node.cli("--no-such-flag", "getinfo").returncode == 3
    assert node.cli("-N", "chatty", "getinfo").returncode == 3


def test_cannot_talk_to_daemon_exits_2(node_factory):
    node = node_factory.get_node()
    node.stop()
    r = node.cli("getinfo")
    assert r.returncode == 2
    assert r.stderr.startswith("bolt-cli: Connecting to 'lightning-rpc': ")


def test_absolute_rpc_file_overrides_lightning_dir(node_factory, tmp_path):
    node = node_factory.get_node()
    r = subprocess.run([BOLT_CLI_BIN, f"--lightning-dir={tmp_path}/nowhere",
                        f"--rpc-file={node.socket_path}", "getinfo"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["id"] == node.rpc.getinfo()["id"]


def test_network_flag_and_config_file_select_the_subdirectory(node_factory):
    node = node_factory.get_node()
    base = [BOLT_CLI_BIN, f"--lightning-dir={node.lightning_dir}"]
    r = subprocess.run(base + ["--regtest", "getinfo"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    # Without a network it looks in bitcoin/, which does not exist...
    r = subprocess.run(base + ["getinfo"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    # ...unless the lightning-dir's config says regtest, as lightning-cli reads it.
    (node.lightning_dir / "config").write_text(f"network={NETWORK}\n")
    r = subprocess.run(base + ["getinfo"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_notifications_none_and_default_both_work(node_factory):
    node = node_factory.get_node()
    assert node.cli("-N", "none", "getinfo").returncode == 0
    assert node.cli("-N", "debug", "getinfo").returncode == 0


def test_stop_through_bolt_cli(node_factory):
    node = node_factory.get_node()
    r = node.cli("stop")
    assert r.returncode == 0, r
    assert r.json == {"result": "Shutdown complete"}
    assert node.wait_for_exit() == 0


def test_no_method_lists_commands(node_factory):
    node = node_factory.get_node()
    r = node.cli()
    assert r.returncode == 0, r
    assert "Querying boltd for available RPC commands" in r.stdout
    assert r.stdout.endswith(HELP_FOOTER)


def test_bench_rpc_runs_against_the_daemon(node_factory):
    """The bench tool speaks the same socket protocol; a short run must produce its table."""
    bench = os.environ.get("BENCH_BIN", os.path.join(os.path.dirname(BOLT_CLI_BIN), "bench"))
    if not os.path.exists(bench):
        import pytest
        pytest.skip(f"no bench binary at {bench}")
    node = node_factory.get_node()
    r = subprocess.run([bench, "rpc", f"--socket={node.socket_path}", "--seconds=0.3",
                        "--conns=1,4"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # Then per call the daemon's CPU and switches and its plugins' CPU ("-" without --pid).
    assert lines[0].split()[:7] == ["scenario", "conns", "calls", "errors", "calls/s", "p50",
                                    "p99"]
    assert "daemon cpu/call" in lines[0]
    rows = [line.split() for line in lines[2:]]
    assert [row[2] for row in rows] == ["1", "4"]  # conns column ("rpc getinfo" is 2 words)
    assert all(int(row[3]) > 0 and row[4] == "0" for row in rows)


def test_plugin_message_and_progress_notifications_are_printed_while_waiting(node_factory):
    """pyln's request.notify()/progress() reach bolt-cli as `message`/`progress`
    notifications, printed as lightning-cli prints them, before the result."""
    from conftest import REPO
    node = node_factory.get_node(plugins=[REPO / "tests" / "plugins" / "pyln_hello.py"])
    r = node.cli("progress_demo")
    assert r.returncode == 0, r
    bar = "|" + "=" * 60 + "|"
    # pyln's progress(2, 2) is past the end (counts start at 0): the bar is clamped and,
    # not being the final step, finished by the newline printed before the result.
    assert r.stdout == ("# working on it\n"
                        f"\r# 2/2 {bar}\n"
                        f"\r# 3/2 {bar}\n"
                        '{\n   "done": true\n}\n')
    quiet = node.cli("-N", "none", "progress_demo")
    assert quiet.stdout == '{\n   "done": true\n}\n'
