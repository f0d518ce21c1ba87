"""pyln-testing's own fixtures, as a plugin author's conftest has them.

The only boltd-specific thing: `lightningd`/`bitcoind` are found on PATH, so
contrib/pyln (boltd and devchain under those names) goes first, and so does this
interpreter's directory (plugins' `#!/usr/bin/env python3` then find pyln-client).
"""
import os
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]
os.environ["PATH"] = os.pathsep.join(
    [str(_REPO / "contrib" / "pyln"), os.path.dirname(sys.executable), os.environ.get("PATH", "")]
)

from pyln.testing.fixtures import *  # noqa: E402,F401,F403
