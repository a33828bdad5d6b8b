"""``service.py import`` given documents that tripped it: multi-byte encodings, odd digits.

The encoding tables cover every name Python's codecs know for UTF-16 and
UTF-32 (expat knows few of them, and pyexpat's fallback raised a bare
ValueError), declarations that disagree with the bytes or the byte order
mark, and names no codec has.

Every case ends in exit 0 with a config or exit 1 with "file, line: reason"
on stderr, never a traceback.
"""

from __future__ import annotations

import codecs
import encodings
import pkgutil
import subprocess
import sys
import tomllib
from encodings.aliases import aliases
from pathlib import Path

import pytest
from support.paths import ROOT

from mailautoconf.authoring import importer

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


def outcome(result: subprocess.CompletedProcess[str]) -> tuple[int, list[str]]:
    """The exit status and the lines of stderr: a traceback or a second message shows in them."""
    return result.returncode, result.stderr.splitlines()


def refusal(path: Path, reason: str) -> tuple[int, list[str]]:
    """A refused import: exit 1, the reason on its own line naming the file, and nothing written."""
    return 1, [f"{path}, {reason}", "nothing written"]


@pytest.mark.parametrize(
    ("encoding", "reason"),
    [
        ("no-such-encoding", 'the declared encoding "no-such-encoding" is not known'),
        # No Python codec has these IANA names of UCS-2 (a subset of UTF-16): named, not guessed at.
        ("ucs-2", 'the declared encoding "ucs-2" is not known'),
        ("ISO-10646-UCS-2", 'the declared encoding "ISO-10646-UCS-2" is not known'),
        ("ISO-10646-UCS-4", 'the declared encoding "ISO-10646-UCS-4" is not known'),
        ("base64", '"base64" is not a text encoding'),
        ("rot13", '"rot13" is not a text encoding'),
        # Python would read "utf 16" as UTF-16; XML's EncName has no spaces.
        ("utf 16", 'the declared encoding "utf 16" is not an encoding name'),
        ("undefined", "not undefined text as declared"),
    ],
)
def test_unknown_or_non_text_encodings_are_named(tmp_path: Path, encoding: str, reason: str) -> None:
    path = document(tmp_path, text(encoding).encode("ascii"))
    assert outcome(run_import(path, tmp_path / "out.toml")) == refusal(path, f"line 1: {reason}")


# Every name Python's codecs take for UTF-16 and UTF-32: their aliases and the spellings files use.
WIDE_NAMES = sorted(
    {alias for alias, codec in aliases.items() if codec.startswith(("utf_16", "utf_32"))}
    | {"UTF-16", "UTF-16LE", "UTF-16BE", "UTF-32", "UTF-32LE", "UTF-32BE", "UnicodeLittleUnmarked"}
)


@pytest.mark.parametrize("encoding", WIDE_NAMES)
def test_every_name_of_utf_16_and_utf_32_is_read(tmp_path: Path, encoding: str) -> None:
    """Written as declared (the generic codecs with a byte order mark, the others without), the file imports."""
    output = tmp_path / "out.toml"
    result = run_import(document(tmp_path, text(encoding, "Café € 日本").encode(encoding)), output)
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(output.read_text(encoding="utf-8"))["provider"][0]["display_name"] == "Café € 日本"


@pytest.mark.parametrize("encoding", WIDE_NAMES)
def test_utf_16_and_utf_32_declared_on_8_bit_text_are_named(tmp_path: Path, encoding: str) -> None:
    path = document(tmp_path, text(encoding).encode("utf-8"))
    family = "UTF-16" if "16" in codecs.lookup(encoding).name else "UTF-32"
    reason = f'line 1: declares encoding "{encoding}", but its first bytes are "<?xml" in ASCII, not {family}'
    assert outcome(run_import(path, tmp_path / "out.toml")) == refusal(path, reason)


BAD_UTF_16 = text("UTF-16").encode("utf-16-le")
BAD_UTF_16 = codecs.BOM_UTF16_LE + BAD_UTF_16.replace("Example".encode("utf-16-le"), b"\x00\xdc", 1)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (text("UTF-8").encode("utf-16"), 'declares encoding "UTF-8", but it starts with a UTF-16LE byte order mark'),
        (
            text("Shift_JIS").encode("utf-16"),
            'declares encoding "Shift_JIS", but it starts with a UTF-16LE byte order mark',
        ),
        (text("utf16").encode("utf-32"), 'declares encoding "utf16", but it starts with a UTF-32LE byte order mark'),
        (text("UTF-32").encode("utf-16"), 'declares encoding "UTF-32", but it starts with a UTF-16LE byte order mark'),
        (
            text("UTF-16LE").encode("utf-16-be"),
            'declares encoding "UTF-16LE", but its first bytes are "<?" in UTF-16BE',
        ),
        (
            text("UTF-16BE").encode("utf-16-le"),
            'declares encoding "UTF-16BE", but its first bytes are "<?" in UTF-16LE',
        ),
        (text("UTF-8").encode("utf-32-be"), 'declares encoding "UTF-8", but its first bytes are "<?" in UTF-32BE'),
        (
            text("Shift_JIS").encode("utf-8-sig"),
            'declares encoding "Shift_JIS", but it starts with a UTF-8 byte order mark',
        ),
        (text("UTF-16").encode("utf-8-sig"), 'declares encoding "UTF-16", but it starts with a UTF-8 byte order mark'),
        # EBCDIC declared in an ASCII declaration: its own declaration would read otherwise.
        (text("cp037").encode("ascii"), 'declares encoding "cp037", but the declaration is not cp037 text'),
        # A lone low surrogate in the display name (line 5).
        (BAD_UTF_16, "not UTF-16LE text, as its byte order mark says (byte 0x00)"),
    ],
)
def test_a_declared_encoding_that_disagrees_with_the_bytes_is_named(tmp_path: Path, data: bytes, reason: str) -> None:
    path = document(tmp_path, data)
    line = 5 if data is BAD_UTF_16 else 1
    assert outcome(run_import(path, tmp_path / "out.toml")) == refusal(path, f"line {line}: {reason}")


def _every_codec_name() -> list[str]:
    modules = {module.name for module in pkgutil.iter_modules(encodings.__path__)} - {"aliases"}
    return sorted(set(aliases) | set(aliases.values()) | modules)


@pytest.mark.parametrize("written_in", ["ascii", "utf-16", "utf-32-be"])
def test_any_declared_encoding_imports_or_says_why(written_in: str) -> None:
    """Every codec name Python has, declared in an ASCII, UTF-16 or UTF-32 file: a provider or one line why not."""
    outcomes: dict[str, int] = {"imported": 0, "refused": 0}
    for name in _every_codec_name():
        data = text(name).encode(written_in)
        try:
            importer.parse_document(data, "x.xml")
            outcomes["imported"] += 1
        except importer.ImportFailure as exc:
            assert len(exc.messages) == 1 and exc.messages[0].startswith("x.xml, line "), (name, exc.messages)
            outcomes["refused"] += 1
    assert outcomes["imported"] > 0 and outcomes["refused"] > 0, outcomes


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
