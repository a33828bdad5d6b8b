"""``service.py import`` given documents that tripped it: multi-byte encodings, odd digits.

Every case ends in exit 0 with a config or exit 1 with "file, line: reason"
on stderr, never a traceback.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from support.paths import ROOT

DOCUMENT = """<?xml version="1.0" encoding="{encoding}"?>
<clientConfig version="1.1">
  <emailProvider id="example.jp">
    <domain>example.jp</domain>
    <displayName>{name}</displayName>
    <incomingServer type="imap">
      <hostname>imap.example.jp</hostname>
      <port>{port}</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>pop.example.jp</hostname>
      <port>995</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
      <pop3><daysToLeaveMessagesOnServer>{days}</daysToLeaveMessagesOnServer></pop3>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.jp</hostname>
      <port>465</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""


def document(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "config-v1.1.xml"
    path.write_bytes(data)
    return path


def run_import(path: Path, output: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "service.py", "import", "--output", str(output), str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def text(encoding: str = "UTF-8", name: str = "Example", port: str = "993", days: str = "7") -> str:
    return DOCUMENT.format(encoding=encoding, name=name, port=port, days=days)


@pytest.mark.parametrize(
    ("encoding", "codec", "name"),
    [("Shift_JIS", "shift_jis", "日本のメール"), ("Big5", "big5", "中華電信郵件"), ("EUC-JP", "euc_jp", "メール")],
)
def test_multi_byte_encodings_are_imported(tmp_path: Path, encoding: str, codec: str, name: str) -> None:
    output = tmp_path / "out.toml"
    result = run_import(document(tmp_path, text(encoding, name).encode(codec)), output)
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr
    written = tomllib.loads(output.read_text(encoding="utf-8"))
    assert written["provider"][0]["display_name"] == name


def test_bytes_that_are_not_the_declared_encoding_are_named(tmp_path: Path) -> None:
    data = text("Shift_JIS").encode("ascii").replace(b"<displayName>Example", b"<displayName>\x82")
    output = tmp_path / "out.toml"
    result = run_import(document(tmp_path, data), output)
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert f"{tmp_path / 'config-v1.1.xml'}, line 5: not Shift_JIS text as declared (byte 0x82)" in result.stderr
    assert not output.exists()


@pytest.mark.parametrize("encoding", ["no-such-encoding", "base64"])
def test_unknown_or_non_text_encodings_are_named(tmp_path: Path, encoding: str) -> None:
    result = run_import(document(tmp_path, text(encoding).encode("ascii")), tmp_path / "out.toml")
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert "config-v1.1.xml, line 1: " in result.stderr and f'"{encoding}"' in result.stderr


def test_single_byte_and_utf_16_documents_still_import(tmp_path: Path) -> None:
    for encoding, codec in (("ISO-8859-15", "iso8859_15"), ("windows-1252", "cp1252"), ("UTF-16", "utf-16")):
        output = tmp_path / f"{codec}.toml"
        result = run_import(document(tmp_path, text(encoding, "Café €").encode(codec)), output)
        assert result.returncode == 0, (encoding, result.stderr)
        assert tomllib.loads(output.read_text(encoding="utf-8"))["provider"][0]["display_name"] == "Café €"


@pytest.mark.parametrize("port", ["\uff19\uff19\uff13", "²", "\u0669\u0669\u0663", "1" + "0" * 5000])
def test_ports_in_other_digits_are_not_ports(tmp_path: Path, port: str) -> None:
    output = tmp_path / "out.toml"
    result = run_import(document(tmp_path, text(port=port).encode("utf-8")), output)
    assert "Traceback" not in result.stderr
    assert "/clientConfig/emailProvider/incomingServer[1]/port: not imported (port " in result.stderr
    assert "is not a port: ASCII digits only)" in result.stderr
    assert result.returncode == 0  # the other servers are imported
    servers = tomllib.loads(output.read_text(encoding="utf-8"))["provider"][0]["incoming"]
    assert [server["port"] for server in servers] == [995]


@pytest.mark.parametrize("days", ["²", "\uff17"])
def test_pop3_days_in_other_digits_are_not_imported(tmp_path: Path, days: str) -> None:
    output = tmp_path / "out.toml"
    result = run_import(document(tmp_path, text(days=days).encode("utf-8")), output)
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr
    assert "daysToLeaveMessagesOnServer: not imported" in result.stderr
    servers = tomllib.loads(output.read_text(encoding="utf-8"))["provider"][0]["incoming"]
    assert "days_to_leave_messages_on_server" not in servers[1].get("pop3", {})


def test_document_text_with_control_characters_is_shown_escaped(tmp_path: Path) -> None:
    """XML forbids most control characters, not newlines or U+2028 (a line separator to a terminal or log)."""
    result = run_import(document(tmp_path, text(port="99\n\u20283").encode("utf-8")), tmp_path / "out.toml")
    assert "Traceback" not in result.stderr
    assert 'not imported (port "99\\n\\u20283" is not a port' in result.stderr
    assert "\u2028" not in result.stderr


def test_merging_into_a_config_with_a_huge_integer_is_refused(tmp_path: Path) -> None:
    existing = tmp_path / "autoconfig.toml"
    existing.write_text("[service]\nx = 1" + "0" * 5000 + "\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "service.py", "import", "--merge", str(existing), str(document(tmp_path, text().encode()))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert "cannot merge into it: a number with more than 4300 digits (at line 2, column 5)" in result.stderr
