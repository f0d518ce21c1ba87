"""The daemon's foundation as a client sees it: pyln-client's LightningRpc against the
builtins, CLN's request validation and error texts, and hostile clients that must never
take the daemon down (each test ends by checking the next client is still served)."""

import json
import os
import socket
import stat
import threading
import time

import pytest
from pyln.client import RpcError

from conftest import RawConn, wait_for


def assert_still_serving(node):
    """The daemon is alive and a fresh client gets an answer."""
    assert node.is_running()
    assert node.rpc.getinfo()["network"] == "regtest"


# --- builtins through pyln-client ------------------------------------------------------

def test_getinfo_has_cln_shape(node_factory):
    node = node_factory.get_node()
    info = node.rpc.getinfo()
    for key in ["id", "alias", "color", "num_peers", "num_pending_channels",
                "num_active_channels", "num_inactive_channels", "address", "binding",
                "version", "blockheight", "network", "fees_collected_msat",
                "lightning-dir", "our_features"]:
        assert key in info, key
    assert len(info["id"]) == 66 and info["id"][:2] in ("02", "03")
    int(info["id"], 16)
    assert len(info["color"]) == 6
    assert info["network"] == "regtest"
    assert info["num_peers"] == 0
    assert info["lightning-dir"] == str(node.net_dir)
    assert set(info["our_features"]) == {"init", "node", "channel", "invoice"}
    # The default color is the first three bytes of the node id, as in CLN.
    assert info["color"] == info["id"][:6]


def test_alias_option_shows_in_getinfo(node_factory):
    node = node_factory.get_node(options={"alias": "foundation-test"})
    assert node.rpc.getinfo()["alias"] == "foundation-test"


def test_help_lists_builtins_with_usage(node_factory):
    node = node_factory.get_node()
    result = node.rpc.help()
    assert result.get("format-hint") == "simple"
    commands = {h["command"].split(" ")[0]: h["command"] for h in result["help"]}
    for name in ["getinfo", "help", "listconfigs", "stop", "check", "notifications"]:
        assert name in commands, name
    assert commands["help"].startswith("help [command]")
    one = node.rpc.help("getinfo")["help"]
    assert len(one) == 1 and one[0]["command"].split(" ")[0] == "getinfo"


def test_help_unknown_command_fails(node_factory):
    node = node_factory.get_node()
    with pytest.raises(RpcError) as e:
        node.rpc.help("no-such-command")
    assert e.value.error == {"code": -32601, "message": "Unknown command no-such-command"}
    assert_still_serving(node)


def test_listconfigs_reports_values_and_sources(node_factory):
    node = node_factory.get_node(options={"alias": "cfgnode"})
    configs = node.rpc.listconfigs()["configs"]
    assert configs["alias"] == {"value_str": "cfgnode", "source": "cmdline"}
    assert configs["network"]["value_str"] == "regtest"
    one = node.rpc.listconfigs("alias")["configs"]
    assert list(one) == ["alias"]


def test_check_validates_without_running(node_factory):
    node = node_factory.get_node()
    assert node.rpc.check("getinfo") == {"command_to_check": "getinfo"}
    with pytest.raises(RpcError) as e:
        node.rpc.check("no-such-command")
    assert e.value.error["code"] == -32601


def test_stop_shuts_down_cleanly(node_factory):
    node = node_factory.get_node()
    result = node.rpc.stop()
    assert result == {"result": "Shutdown complete"}
    assert node.wait_for_exit() == 0


def test_socket_is_private(node_factory):
    node = node_factory.get_node()
    mode = stat.S_IMODE(os.stat(node.socket_path).st_mode)
    assert mode & 0o077 == 0, oct(mode)


# --- framing and validation ------------------------------------------------------------

def test_requests_with_and_without_terminators_on_one_connection(node_factory):
    node = node_factory.get_node()
    c = node.raw()
    # Two requests in one write, no separator, then one ending in \n\n.
    c.send(b'{"jsonrpc":"2.0","id":1,"method":"getinfo","params":[]}'
           b'{"jsonrpc":"2.0","id":"two","method":"getinfo","params":{}}')
    c.send(b'{"jsonrpc":"2.0","id":3,"method":"getinfo","params":[]}\n\n')
    ids = sorted(str(c.read_response()["id"]) for _ in range(3))
    assert ids == ["1", "3", "two"]
    # Every reply ends with exactly "\n\n".
    assert c.buf == b"" or c.buf.strip() == b""


def test_ids_are_echoed_exactly(node_factory):
    node = node_factory.get_node()
    c = node.raw()
    for rid in [7, "cli:getinfo#1/cln:x#4", 1.5, None]:
        reply = c.call("getinfo", id=rid)
        assert reply["id"] == rid
        assert "result" in reply


def test_unknown_method(node_factory):
    node = node_factory.get_node()
    reply = node.raw().call("no_such_method", id="u")
    assert reply == {"jsonrpc": "2.0", "id": "u",
                     "error": {"code": -32601, "message": "Unknown command 'no_such_method'"}}
    with pytest.raises(RpcError) as e:
        node.rpc.call("no_such_method")
    assert e.value.error["code"] == -32601
    assert_still_serving(node)


@pytest.mark.parametrize("params,message", [
    (["extra"], "too many parameters: got 1, expected 0"),
    ("string", "Expected array or object for params"),
])
def test_wrong_params_for_getinfo(node_factory, params, message):
    node = node_factory.get_node()
    reply = node.raw().call("getinfo", params, id=9)
    assert reply["error"] == {"code": -32602, "message": message}
    assert_still_serving(node)


def test_unknown_keyword_param(node_factory):
    node = node_factory.get_node()
    reply = node.raw().call("listconfigs", {"bogus": 1}, id=9)
    assert reply["error"]["code"] == -32602
    assert reply["error"]["message"].startswith(
        "unknown parameter: bogus, this may be caused by a failure to autodetect")


def test_keyword_given_twice(node_factory):
    node = node_factory.get_node()
    c = node.raw()
    c.send(b'{"jsonrpc":"2.0","id":3,"method":"help","params":{"command":"getinfo",'
           b'"command":"stop"}}')
    assert c.read_response() == {"jsonrpc": "2.0", "id": 3, "error": {
        "code": -32602, "message": "duplicate json names: command"}}
    assert node.rpc.getinfo()["id"]


def test_params_with_a_lone_surrogate_escape_are_params(node_factory):
    """`\\ud800` alone is valid JSON text (lightningd takes it); it must not turn the
    params into 'no params'."""
    node = node_factory.get_node()
    c = node.raw()
    c.send(b'{"jsonrpc":"2.0","id":4,"method":"help","params":["\\udfff"]}')
    assert c.read_response() == {"jsonrpc": "2.0", "id": 4, "error": {
        "code": -32601, "message": "Unknown command \ufffd"}}


@pytest.mark.parametrize("request_obj,expected_id,message", [
    ({"jsonrpc": "2.0", "method": "getinfo", "params": []}, None, "No id"),
    ({"jsonrpc": "1.0", "id": 1, "method": "getinfo", "params": []}, None,
     'jsonrpc: "2.0" must be specified in the request'),
    ({"jsonrpc": "2.0", "id": 4, "params": []}, 4, "No method"),
    ({"jsonrpc": "2.0", "id": 5, "method": "getinfo"}, 5, "No params"),
    ({"jsonrpc": "2.0", "id": 6, "method": 3, "params": []}, 6, "Expected string for method"),
])
def test_invalid_requests_get_cln_errors_and_connection_stays_open(node_factory, request_obj,
                                                                   expected_id, message):
    node = node_factory.get_node()
    c = node.raw()
    c.send(request_obj)
    reply = c.read_message()
    assert reply["id"] == expected_id
    assert reply["error"] == {"code": -32600, "message": message}
    # Same connection still works.
    assert "result" in c.call("getinfo", id=10)


def test_missing_jsonrpc_member_and_batches_close_the_connection(node_factory):
    node = node_factory.get_node()
    for payload in [{"id": 1, "method": "getinfo", "params": []},
                    [{"jsonrpc": "2.0", "id": 1, "method": "getinfo", "params": []}]]:
        c = node.raw()
        c.send(payload)
        reply = c.read_message()
        assert reply["id"] is None
        assert reply["error"]["code"] == -32600
        assert reply["error"]["message"].startswith(
            'JSON-RPC message does not contain "jsonrpc" field')
        assert c.at_eof()
    assert_still_serving(node)


# --- hostile clients -------------------------------------------------------------------

def test_garbage_bytes_get_an_error_then_close(node_factory):
    node = node_factory.get_node()
    c = node.raw()
    c.send(b"\x00\xffGET / HTTP/1.1\r\n\r\n")
    reply = c.read_message()
    assert reply["id"] is None
    assert reply["error"]["code"] == -32600
    assert c.at_eof()
    # Broken JSON that starts like an object.
    c = node.raw()
    c.send(b'{"jsonrpc":"2.0",,,}')
    reply = c.read_message()
    assert reply["error"]["code"] == -32600
    assert reply["error"]["message"].startswith("Failed to parse RPC JSON response")
    assert_still_serving(node)


def test_half_written_request_then_disconnect(node_factory):
    node = node_factory.get_node()
    for _ in range(20):
        c = node.raw()
        c.send(b'{"jsonrpc":"2.0","id":1,"method":"getin')
        c.close()
    assert_still_serving(node)


def test_twenty_mib_request_does_not_hurt_the_daemon(node_factory):
    node = node_factory.get_node()
    c = node.raw(timeout=30)
    big = b'{"jsonrpc":"2.0","id":1,"method":"getinfo","params":["' + b"x" * (20 << 20) + b'"]}'
    try:
        c.send(big)
        reply = c.read_message()
        # Either refused as too large (and closed) or answered with a param error.
        assert "error" in reply
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass  # the daemon closed on us mid-write: also fine
    assert_still_serving(node)


def test_five_hundred_clients_at_once(node_factory):
    node = node_factory.get_node()
    n = 500
    results = [None] * n

    def client(i):
        try:
            c = RawConn(node.socket_path, timeout=60)
            results[i] = c.call("getinfo", id=i)["id"]
            c.close()
        except Exception as e:  # noqa: BLE001 -- recorded and asserted below
            results[i] = repr(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert results == list(range(n))
    assert_still_serving(node)


def test_client_that_never_reads_does_not_block_others(node_factory):
    node = node_factory.get_node()
    hog = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hog.connect(str(node.socket_path))
    hog.setblocking(False)
    req = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "getinfo", "params": []}).encode()
    sent = 0
    deadline = time.time() + 10
    # Pipeline requests without ever reading until the daemon stops accepting our bytes.
    while time.time() < deadline and sent < (64 << 20):
        try:
            sent += hog.send(req * 64)
        except BlockingIOError:
            time.sleep(0.2)
            try:
                sent += hog.send(req * 64)
            except BlockingIOError:
                break
    # Other clients are still served promptly.
    start = time.time()
    for _ in range(5):
        assert_still_serving(node)
    assert time.time() - start < 10
    hog.close()
    assert_still_serving(node)


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def test_a_client_that_never_reads_big_replies_is_bounded_by_bytes(node_factory):
    """A client pipelines 300 `listdatastore` of a 1 MB entry (3 MB replies) and never
    reads: we stop taking its requests once a few MiB of its replies are unwritten (as
    lightningd does not read while output is pending), so memory stays bounded by bytes,
    not by a count of replies, and other clients are still answered at once."""
    node = node_factory.get_node()
    node.rpc.datastore(key="big", string="x" * (1 << 20))
    base = rss_mb(node.proc.pid)
    hog = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hog.connect(str(node.socket_path))
    hog.sendall(b"".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": "listdatastore",
                                     "params": {"key": "big"}}).encode()
                         for i in range(300)))
    peak, slowest = base, 0.0
    deadline = time.time() + 4
    while time.time() < deadline:
        t = time.time()
        assert_still_serving(node)
        slowest = max(slowest, time.time() - t)
        peak = max(peak, rss_mb(node.proc.pid))
        time.sleep(0.05)
    assert peak - base < 150, f"rss grew from {base} MB to {peak} MB"
    assert slowest < 2, f"getinfo took {slowest:.1f}s"
    hog.close()
    assert_still_serving(node)


def test_requests_of_a_client_that_hung_up_are_not_all_run(node_factory):
    """A client pipelines 2000 writes and hangs up without reading: once its replies can
    no longer be written we stop reading its requests (lightningd closes such a
    connection); what was already running still finishes."""
    node = node_factory.get_node()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(node.socket_path))
    s.sendall(b"".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": "datastore",
                                   "params": {"key": ["gone", str(i)], "string": "x"}}).encode()
                       for i in range(2000)))
    s.close()
    def settled():
        a = len(node.rpc.listdatastore("gone")["datastore"])
        time.sleep(0.5)
        b = len(node.rpc.listdatastore("gone")["datastore"])
        return a if a == b else None
    n = wait_for(settled, what="writes settled")
    assert n < 1000, n
    assert node.rpc.getinfo()["id"]


def test_clients_disconnecting_with_requests_in_flight(node_factory):
    node = node_factory.get_node()
    for i in range(50):
        c = node.raw()
        c.send({"jsonrpc": "2.0", "id": i, "method": "getinfo", "params": []})
        c.close()
    assert_still_serving(node)


def test_notifications_enable_is_acknowledged(node_factory):
    node = node_factory.get_node()
    c = node.raw()
    reply = c.call("notifications", {"enable": True}, id="cli:notifications#1")
    assert reply == {"jsonrpc": "2.0", "id": "cli:notifications#1", "result": {}}


# --- the harness itself ----------------------------------------------------------------

def test_harness_reports_a_daemon_that_died_behind_its_back(directory):
    from conftest import NodeFactory
    nf = NodeFactory(directory / "selfcheck")
    node = nf.get_node()
    os.kill(node.proc.pid, 9)
    node.proc.wait(timeout=10)
    crashes = nf.killall()
    assert len(crashes) == 1
    assert "node1 exited unexpectedly with -9" in crashes[0]


def test_harness_accepts_a_deliberate_stop(directory):
    from conftest import NodeFactory
    nf = NodeFactory(directory / "selfcheck")
    node = nf.get_node()
    node.rpc.stop()
    assert node.wait_for_exit() == 0
    assert nf.killall() == []
