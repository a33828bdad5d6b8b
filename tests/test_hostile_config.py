"""Config files written to hurt: huge numbers, deep keys, terminal escapes.

Each case is one an attacker with write access to an included file (or a
careless generator) can produce. ``check`` must answer with file, line and
reason, never a traceback, and the serving process must stay small.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from mailautoconf import config
from mailautoconf.config import ConfigError
from mailautoconf.tomlpos import KeyLines
from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT

EXAMPLE = EXAMPLE_CONFIG.read_text(encoding="utf-8")
BASE = """\
[service]
public_hostname = "autoconfig.example.net"

[[provider]]
id = "example.net"
display_name = "Example Mail"
domains = ["example.net", "example.org"]

[[provider.incoming]]
type = "imap"
hostname = "mail.example.net"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"

[[provider.outgoing]]
type = "smtp"
hostname = "mail.example.net"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{address}"
"""


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "service.py", "check", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def messages(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config.loads(text, "c.toml")
    return [str(problem) for problem in caught.value.problems]


# -- line bookkeeping stays linear -----------------------------------------


def test_deeply_dotted_header_loads_in_little_memory() -> None:
    """30,000 dotted parts (~60 KB): every prefix recorded took 1.6 GB; now a fixed depth is."""
    text = BASE + "\n[" + ".".join(["a"] * 30000) + "]\nx = 1\n"
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as caught:
            config.loads(text, "c.toml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20
    assert [str(p) for p in caught.value.problems][0].startswith('c.toml, line 25: unknown key "a"')


def test_deep_paths_fall_back_to_the_line_of_their_prefix() -> None:
    lines = KeyLines("[x]\n" + "[" + ".".join(["b"] * 100) + "]\nkey = 1\n")
    assert lines.line_of(("x",)) == 1
    assert lines.line_of(("b",) * 5) == 2
    assert lines.line_of(("b",) * 100 + ("key",)) == 2  # deeper than recorded: the prefix's line
    assert lines.line_of(("nowhere",)) is None
