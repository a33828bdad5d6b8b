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
from support.configs import SMALL
from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT

from mailautoconf import config
from mailautoconf.config import ConfigError
from mailautoconf.config.positions import KeyLines

EXAMPLE = EXAMPLE_CONFIG.read_text(encoding="utf-8")
BASE = SMALL


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
    assert str(caught.value.problems[0]).startswith('c.toml, line 25: unknown key "a"')


def test_deep_paths_fall_back_to_the_line_of_their_prefix() -> None:
    lines = KeyLines("[x]\n" + "[" + ".".join(["b"] * 100) + "]\nkey = 1\n")
    assert lines.line_of(("x",)) == 1
    assert lines.line_of(("b",) * 5) == 2
    assert lines.line_of(("b",) * 100 + ("key",)) == 2  # deeper than recorded: the prefix's line
    assert lines.line_of(("nowhere",)) is None


# -- integers beyond int()'s digit limit -----------------------------------

HUGE = "1" + "0" * 5000
HUGE_PORT = EXAMPLE.replace("port = 993", f"port = {HUGE}", 1)
HUGE_LINE = HUGE_PORT.splitlines().index(f"port = {HUGE}") + 1


def test_check_reports_a_huge_integer_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "autoconfig.toml"
    path.write_text(HUGE_PORT, encoding="utf-8")
    result = check(path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{path}, line {HUGE_LINE}: TOML syntax error: a number with more than 4300 digits (column 8)" in (
        result.stderr
    )


def test_huge_integer_in_a_string_or_comment_is_not_the_one_named() -> None:
    digits = "9" * 5000
    text = BASE.replace("[service]", f'# {digits}\n[service]\nx = "{digits}"\ny = """\n{digits}"""\nz = {HUGE}', 1)
    assert messages(text) == ["c.toml, line 6: TOML syntax error: a number with more than 4300 digits (column 5)"]


def test_huge_integer_in_an_included_file(tmp_path: Path) -> None:
    main = tmp_path / "autoconfig.toml"
    main.write_text(BASE.replace("[service]\n", '[service]\ninclude = ["more/*.toml"]\n'), encoding="utf-8")
    (tmp_path / "more").mkdir()
    included = tmp_path / "more" / "b.toml"
    provider = BASE[BASE.index("[[provider]]") :].replace("example.net", "example.com").replace("example.org", "b.org")
    included.write_text(provider.replace("port = 465", f"port = {HUGE}"), encoding="utf-8")
    line = provider.splitlines().index("port = 465") + 1
    result = check(main)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"b.toml, line {line}: TOML syntax error: a number with more than 4300 digits" in result.stderr


def test_running_service_keeps_serving_after_a_huge_integer(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    before = service.get("/mail/config-v1.1.xml", host="autoconfig.example.org").content
    temporary = service.config_path.with_name("new.toml")
    temporary.write_text(HUGE_PORT, encoding="utf-8")
    temporary.replace(service.config_path)
    health = service.wait_for(lambda: (h := service.health())["config_error"] and h, what="error in /healthz")
    assert health["config_error"] == [
        f"{service.config_path}, line {HUGE_LINE}: TOML syntax error: a number with more than 4300 digits (column 8)"
    ]
    assert service.get("/mail/config-v1.1.xml", host="autoconfig.example.org").content == before
    assert "Traceback" not in service.log()


def test_service_started_with_a_huge_integer_serves_the_last_good_tree(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    before = service.get("/mail/config-v1.1.xml", host="autoconfig.example.org").content
    assert service.stop() == 0
    service.config_path.write_text(HUGE_PORT, encoding="utf-8")
    service.start()
    health = service.health()
    assert health["config_error"] == [
        f"{service.config_path}, line {HUGE_LINE}: TOML syntax error: a number with more than 4300 digits (column 8)"
    ]
    assert service.get("/mail/config-v1.1.xml", host="autoconfig.example.org").content == before


# -- echoed values are shown escaped ---------------------------------------


def test_unknown_key_with_a_terminal_escape_is_shown_escaped(tmp_path: Path) -> None:
    path = tmp_path / "autoconfig.toml"
    path.write_text(BASE.replace("[service]\n", '[service]\n"\\u001b[31mred" = 1\n'), encoding="utf-8")
    result = check(path)
    assert result.returncode == 1
    assert "\x1b" not in result.stderr
    assert (
        f'{path}, line 2: [service]: unknown key "\\x1b[31mred"; known keys: public_hostname, include, check_interval\n'
        in (result.stderr)
    )


def test_provider_id_with_a_newline_is_shown_escaped() -> None:
    found = messages(BASE.replace('id = "example.net"', 'id = "a\\nb.example"'))
    assert found
    assert all("\n" not in message for message in found)
    assert found[0] == 'c.toml, line 5: provider "a\\nb.example": "id" contains a control character'


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ('"\\u0007bell\\r"', "\\x07bell\\r"),
        ('"line\\u2028sep"', "line\\u2028sep"),
        ('"tab\\there "', "tab\\there "),
        ('"\\U000e0041tag"', "\\U000e0041tag"),
    ],
)
def test_every_control_character_in_a_key_is_escaped(written: str, shown: str) -> None:
    found = messages(BASE.replace("[service]\n", f"[service]\n{written} = 1\n"))
    assert (
        found[0]
        == f'c.toml, line 2: [service]: unknown key "{shown}"; known keys: public_hostname, include, check_interval'
    )


def test_messages_recorded_for_the_importer_are_escaped() -> None:
    table = {
        "type": "imap",
        "hostname": "mail.example.net",
        "port": 993,
        "socket_type": "SSL\n\x1b[2J",
        "authentication": ["password-cleartext"],
        "username": "{address}",
    }
    server, found = config.check_server(table, "incoming")
    assert server is None
    assert [message for _, message, _ in found] == ['"socket_type" contains a control character']
    table["socket_type"] = "SSL"
    table["unknown\x1b"] = 1
    _, found = config.check_server(table, "incoming")
    assert found[0][1].startswith('unknown key "unknown\\x1b"')


# -- one domain, one override; whole-string patterns -----------------------


def test_overrides_for_one_domain_in_two_letter_cases_are_an_error() -> None:
    text = BASE + '\n[provider.overrides."Example.org"]\nhostname = "a.example.net"\n'
    text += '\n[provider.overrides."example.org"]\nhostname = "b.example.net"\n'
    assert messages(text) == [
        'c.toml, line 28: provider "example.net", overrides for "example.org": overrides for "example.org" '
        'repeat those for "Example.org" (the same domain)'
    ]


def test_description_language_with_a_trailing_newline_is_refused() -> None:
    text = BASE + '\n[[provider.documentation]]\nurl = "https://example.net/help"\ndescription = { "en\\n" = "x" }\n'
    found = messages(text)
    assert found[0] == (
        'c.toml, line 27: provider "example.net", documentation 1: "en\\n" is not a language code like "en" or "pt-BR"'
    )


@pytest.mark.parametrize("url", ["https://example.net/help\\n", "https://example.net\\n"])
def test_urls_with_a_trailing_newline_are_refused(url: str) -> None:
    documentation = BASE + f'\n[[provider.documentation]]\nurl = "{url}"\ndescription = "x"\n'
    dav = BASE.replace(
        'domains = ["example.net", "example.org"]', f'domains = ["example.net"]\ncaldav = {{ url = "{url}" }}'
    )
    for text in (documentation, dav):
        assert messages(text)


def test_host_name_labels_must_match_whole() -> None:
    from mailautoconf import names
    from mailautoconf.clientrules import android

    assert names.hostname_problem("ab\n.example.org") is not None
    assert not android.valid_host("ab\n.example.org")


# -- hostile values tried by hand: the ones that gave a traceback ----------


@pytest.mark.parametrize("number", ["0x" + "f" * 10000, "0o" + "7" * 15000])
def test_integers_too_long_to_print_are_described(tmp_path: Path, number: str) -> None:
    """Hexadecimal and octal numbers have no digit limit in int(), but str() of the result does."""
    path = tmp_path / "autoconfig.toml"
    path.write_text(BASE.replace("port = 993", f"port = {number}"), encoding="utf-8")
    result = check(path)
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert f"{path}, line 12: provider " in result.stderr
    assert "incoming server 1: port with more than 4300 digits is not a port (1-65535)" in result.stderr


@pytest.mark.parametrize(
    "text",
    [
        BASE.replace('display_name = "Example Mail"', 'display_name = "a\\u0000b\\u001b[2J"'),
        BASE.replace('display_name = "Example Mail"', 'display_name = "\\udc80"'),
        BASE.replace("[service]\n", '[service]\n"\\udc80" = 1\n'),
        BASE.replace("[service]\n", "[service]\nx = " + "{a=" * 5000 + "1" + "}" * 5000 + "\n"),
        BASE.replace("[service]\n", "[service]\nx = " + "[" * 50000 + "]" * 50000 + "\n"),
        # Ten times the recursion limit; more only costs time in tomllib, whose dotted keys are quadratic.
        BASE.replace("[service]\n", "[service]\n" + ".".join(["a"] * 10000) + " = 1\n"),
        BASE.replace("[service]\n", '[service]\n"' + "k" * 1_000_000 + '" = 1\n'),
        BASE.replace('"example.org"', '"ex\\u001bample.org"'),
        BASE + '\n[provider.overrides."a\\nb"]\nhostname = "x.example"\n',
    ],
    ids=[
        "controls",
        "surrogate",
        "surrogate-key",
        "deep-inline",
        "deep-array",
        "dotted-key",
        "mega-key",
        "domain",
        "override",
    ],
)
def test_hostile_values_give_messages_not_tracebacks(tmp_path: Path, text: str) -> None:
    path = tmp_path / "autoconfig.toml"
    path.write_text(text, encoding="utf-8")
    result = check(path)
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert result.stderr.startswith(str(path))
    assert not any(char in result.stderr for char in "\x00\x1b")


def test_markup_like_values_are_plain_text_to_the_config() -> None:
    loaded = config.loads(BASE.replace('display_name = "Example Mail"', 'display_name = "]]><x>--<!-- &amp;"'))
    assert loaded.config.providers[0].display_name == "]]><x>--<!-- &amp;"
