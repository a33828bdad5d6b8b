"""``init --force`` and ``import`` writing a config, through the real command line.

A rewritten config keeps the old file's mode, owner and group (a service
running as another user reads it through them); a new one gets what
open() gives under the umask; a symbolic link is written through and
stays a link. A path that cannot take the file gets one line naming it
and why, exit status 1, and nothing is left behind.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.mounts import mount
from support.mounts import tmpfs
from support.paths import ROOT

from mailautoconf import config
from mailautoconf.authoring import starter

INIT = ("init", "--domain", "example.org", "--mail-host", "mail.example.org")
DOCUMENT = b"""<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="example.net">
    <domain>example.net</domain>
    <displayName>Example</displayName>
    <incomingServer type="imap">
      <hostname>imap.example.net</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.net</hostname>
      <port>465</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""
STARTER = starter.starter_config("example.org", "mail.example.org", None)


def run(*args: str, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "service.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, umask=umask
    )


@pytest.fixture
def xml(tmp_path: Path) -> str:
    path = tmp_path / "example.net.xml"
    path.write_bytes(DOCUMENT)
    return str(path)


def providers(path: Path) -> list[str]:
    return [provider.id for provider in config.load(str(path)).config.providers]


def mode_and_owner(path: Path) -> tuple[int, int, int]:
    status = path.stat()
    return stat.S_IMODE(status.st_mode), status.st_uid, status.st_gid


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith(".write-"))


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o660, 0o604], ids=oct)
def test_force_and_merge_keep_the_files_mode_and_owner(tmp_path: Path, xml: str, mode: int) -> None:
    target = tmp_path / "autoconfig.toml"
    target.write_text("# the admin's\n")
    target.chmod(mode)
    # Root may give the file to the service's user and group, as an admin does; others keep their own.
    owner = (4321, 8765) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(target, *owner)
    expected = (mode, *owner)

    result = run(*INIT, "--output", str(target), "--force")
    assert result.returncode == 0, result.stderr
    assert mode_and_owner(target) == expected
    assert providers(target) == ["example.org"]

    result = run("import", "--merge", str(target), xml)
    assert result.returncode == 0, result.stderr
    assert mode_and_owner(target) == expected
    assert providers(target) == ["example.org", "example.net"]

    # --output naming the existing file merges into it: the same file, the same mode.
    (tmp_path / "other.xml").write_bytes(DOCUMENT.replace(b"example.net", b"example.com"))
    result = run("import", "--output", str(target), str(tmp_path / "other.xml"))
    assert result.returncode == 0, result.stderr
    assert mode_and_owner(target) == expected
    assert providers(target) == ["example.org", "example.net", "example.com"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664), (0o077, 0o600)], ids=oct)
def test_a_new_file_gets_the_mode_open_gives_under_the_umask(tmp_path: Path, xml: str, umask: int, mode: int) -> None:
    started = tmp_path / "init.toml"
    assert run(*INIT, "--output", str(started), umask=umask).returncode == 0
    imported = tmp_path / "import.toml"
    assert run("import", "--output", str(imported), xml, umask=umask).returncode == 0
    assert [stat.S_IMODE(path.stat().st_mode) for path in (started, imported)] == [mode, mode]


def test_a_symbolic_link_is_written_through_and_stays_a_link(tmp_path: Path, xml: str) -> None:
    """The link's target is replaced (keeping its mode), not the link: /etc/x.toml -> a checkout stays so."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    real = checkout / "autoconfig.toml"
    real.write_text("# the admin's\n")
    real.chmod(0o640)
    etc = tmp_path / "etc"
    etc.mkdir()
    link = etc / "autoconfig.toml"
    link.symlink_to("../checkout/autoconfig.toml")

    assert run(*INIT, "--output", str(link), "--force").returncode == 0
    assert run("import", "--merge", str(link), xml).returncode == 0

    assert link.is_symlink() and os.readlink(link) == "../checkout/autoconfig.toml"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert providers(real) == ["example.org", "example.net"]
    assert leftovers(etc) == leftovers(checkout) == []


def test_a_dangling_link_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "autoconfig.toml"
    link.symlink_to("real.toml")
    result = run(*INIT, "--output", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink()
    assert providers(tmp_path / "real.toml") == ["example.org"]


def refused(result: subprocess.CompletedProcess[str], *lines: str) -> None:
    """Exit status 1, these lines on stderr and nothing else (import adds "nothing written", as for any failure)."""
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == list(lines)


def test_a_missing_folder_is_named_and_not_created(tmp_path: Path, xml: str) -> None:
    target = tmp_path / "missing" / "autoconfig.toml"
    line = f"{target}: cannot write: the folder {tmp_path / 'missing'} does not exist"
    refused(run(*INIT, "--output", str(target)), line)
    refused(run("import", "--output", str(target), xml), line, "nothing written")
    assert not (tmp_path / "missing").exists()


def test_a_folder_is_not_a_config_file(tmp_path: Path, xml: str) -> None:
    folder = tmp_path / "conf.d"
    folder.mkdir()
    line = f"{folder}: cannot write: it is a folder, not a file"
    for force in ((), ("--force",)):
        refused(run(*INIT, "--output", str(folder), *force), line)
    refused(run("import", "--output", str(folder), xml), line, "nothing written")
    refused(run("import", "--merge", str(folder), xml), line, "nothing written")
    assert list(folder.iterdir()) == []


def test_a_file_is_not_a_folder(tmp_path: Path, xml: str) -> None:
    file = tmp_path / "autoconfig.toml"
    file.write_text("# the admin's\n")
    target = file / "autoconfig.toml"
    refused(run(*INIT, "--output", str(target)), f"{target}: cannot write: {file} is not a folder")
    assert file.read_text() == "# the admin's\n"


def test_a_device_is_not_replaced(tmp_path: Path) -> None:
    """Renaming over /dev/null would replace the device with a config (as root)."""
    link = tmp_path / "null.toml"
    link.symlink_to("/dev/null")
    refused(run(*INIT, "--output", str(link), "--force"), f"{link}: cannot write: it is not a regular file")
    assert Path("/dev/null").is_char_device()


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs holding one config, then remounted read-only (root ignores permission bits; this does not)."""
    with tmpfs(tmp_path / "ro", "1m") as folder:
        (folder / "autoconfig.toml").write_text(STARTER)
        mount("-o", "remount,ro", str(folder))
        yield folder


def test_a_read_only_folder_is_named(read_only: Path, xml: str) -> None:
    existing = read_only / "autoconfig.toml"
    new = read_only / "new.toml"
    because = f"cannot write: the folder {read_only} is on a read-only file system"
    refused(run(*INIT, "--output", str(existing), "--force"), f"{existing}: {because}")
    refused(run(*INIT, "--output", str(new)), f"{new}: {because}")
    refused(run("import", "--merge", str(existing), xml), f"{existing}: {because}", "nothing written")
    assert existing.read_text() == STARTER
    assert sorted(path.name for path in read_only.iterdir()) == ["autoconfig.toml"]
