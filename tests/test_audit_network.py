"""An unknown `--network` stops start-up before anything is created for it (lightningd
rejects it while parsing early options, before it makes its directories)."""

import subprocess

from conftest import BOLTD_BIN


def test_unknown_network_creates_no_directory(tmp_path):
    out = subprocess.run([BOLTD_BIN, f"--lightning-dir={tmp_path}", "--network=../escape"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "boltd: --network=../escape: Unknown network name '../escape' "
        "(expected one of bitcoin, testnet, testnet4, signet, regtest)"]
    assert list(tmp_path.iterdir()) == []
    assert not (tmp_path.parent / "escape").exists()
