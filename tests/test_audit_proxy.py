"""`--proxy` / `--always-use-proxy` (issue 3, reference §3.1): accepted on the command line
and in config files, shown by `listconfigs`, and handed to plugins in `init`'s
`configuration` (proxy, torv3-enabled, always_use_proxy) only when a proxy is set."""

import json
from pathlib import Path

from test_plugin import manifest, raw_plugin


def init_configuration(record):
    [init] = [m for m in map(json.loads, Path(record).read_text().splitlines())
              if m.get("method") == "init"]
    return init["params"]["configuration"]


def test_proxy_reaches_init_configuration_and_listconfigs(node_factory, directory):
    record = f"{directory}/rec.jsonl"
    p = raw_plugin(directory, "seer", {"manifest": manifest(), "record": record})
    node = node_factory.get_node(plugins=[p], options={"proxy": "127.0.0.1:9999",
                                                       "always-use-proxy": "true"})
    conf = init_configuration(record)
    assert list(conf) == ["lightning-dir", "rpc-file", "startup", "network", "proxy",
                          "torv3-enabled", "always_use_proxy", "feature_set"]
    assert conf["proxy"] == {"type": "ipv4", "address": "127.0.0.1", "port": 9999}
    assert conf["torv3-enabled"] is True
    assert conf["always_use_proxy"] is True

    configs = node.rpc.listconfigs()["configs"]
    assert configs["proxy"] == {"value_str": "127.0.0.1:9999", "source": "cmdline"}
    assert configs["always-use-proxy"] == {"value_bool": True, "source": "cmdline"}


def test_proxy_from_config_file_with_default_port(node_factory, directory):
    record = f"{directory}/rec.jsonl"
    p = raw_plugin(directory, "seer", {"manifest": manifest(), "record": record})
    node = node_factory.get_node(plugins=[p], start=False)
    node.net_dir.mkdir(parents=True, exist_ok=True)
    (node.net_dir / "config").write_text("proxy=127.0.0.1\n")
    node.start()
    conf = init_configuration(record)
    assert conf["proxy"] == {"type": "ipv4", "address": "127.0.0.1", "port": 9050}
    assert conf["always_use_proxy"] is False


def test_no_proxy_no_proxy_fields(node_factory, directory):
    record = f"{directory}/rec.jsonl"
    p = raw_plugin(directory, "seer", {"manifest": manifest(), "record": record})
    node_factory.get_node(plugins=[p])
    conf = init_configuration(record)
    assert "proxy" not in conf and "torv3-enabled" not in conf and "always_use_proxy" not in conf


def test_bad_proxy_stops_startup(node_factory):
    node = node_factory.get_node(extra_args=["--proxy=not an address"], start=False,
                                 may_fail=True)
    node.start(wait_for_rpc=False)
    assert node.wait_for_exit() == 1
    assert "--proxy=not an address: Unable to parse proxy address 'not an address'" \
        in node.daemon_stderr()
