"""tests/run.sh's version check: an installed Thunderbird older than the tests need stops the run in one line.

A machine set up from an image's stale package lists held an older
Thunderbird, and 155 tests failed with its "Programming bug. Assertion
failed". tests/debian_version.sh is the check run.sh makes after installing;
here it is run with a fake dpkg-query on PATH (answering as dpkg-query does
for each state) and the real dpkg comparing versions.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.paths import ROOT

RUN_SH = ROOT / "tests" / "run.sh"
CHECK = ROOT / "tests" / "debian_version.sh"
MINIMUM = "1:153.8.0esr"

pytestmark = pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg to compare Debian versions")


def check(tmp_path: Path, answer: str | None) -> subprocess.CompletedProcess[str]:
    """Run the check with a dpkg-query that prints ``answer`` for thunderbird, or knows no such package (None)."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    query = fake / "dpkg-query"
    if answer is None:
        query.write_text('#!/bin/sh\necho "dpkg-query: no packages found matching thunderbird" >&2\nexit 1\n')
    else:
        query.write_text(f"#!/bin/sh\nprintf '%s' '{answer}'\n")
    query.chmod(0o755)
    environment = os.environ | {"PATH": f"{fake}:{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", str(CHECK), "thunderbird", MINIMUM], capture_output=True, text=True, timeout=30, env=environment
    )


@pytest.mark.parametrize(
    "version",
    [
        "1:140.12.0esr-1~deb12u1",  # bookworm's own, from lists without bookworm-security
        "1:153.7.1esr-1~deb12u1",
        "1:153.8.0~b1-1",  # a pre-release of the version needed sorts before it (dpkg's ~)
    ],
)
def test_an_older_thunderbird_stops_the_run_in_one_line(tmp_path: Path, version: str) -> None:
    result = check(tmp_path, f"installed {version}")
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"tests/run.sh: thunderbird {version} is installed, the tests need {MINIMUM} or later (")


@pytest.mark.parametrize(
    "answer",
    [
        "installed 1:153.8.0esr-1~deb12u1",  # the version docs/testing.md names
        "installed 1:153.8.0esr-1~deb12u2",
        "installed 1:153.10.0esr-1",  # compared as numbers: 10 > 8
        "installed 1:160.0esr-1",
        "config-files 1:140.12.0esr-1~deb12u1",  # removed: tests that need it are skipped
        None,  # never installed: the same
    ],
)
def test_a_recent_or_missing_thunderbird_passes_silently(tmp_path: Path, answer: str | None) -> None:
    result = check(tmp_path, answer)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_run_sh_checks_the_version_the_docs_name_after_installing() -> None:
    """The minimum is set once in run.sh, is the version docs/testing.md says the tests are proven with, and checked."""
    script = RUN_SH.read_text(encoding="utf-8")
    assert re.findall(r"^thunderbird_minimum=(\S+)$", script, re.MULTILINE) == [MINIMUM]
    upstream = MINIMUM.split(":", 1)[1]
    assert f"| Thunderbird {upstream} (Debian) |" in (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    install = script.index("apt-get install")
    checked = script.index('bash tests/debian_version.sh thunderbird "$thunderbird_minimum"')
    assert install < checked
    # Root refreshes the lists and installs every package, not only the missing ones.
    assert "apt-get update -qq ||" in script
    assert '--no-install-recommends "${packages[@]}"' in script
