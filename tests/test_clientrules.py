"""The client rules: one list, wherever it is shown, and judged again only for what changed.

``check``, the watcher's log and ``/healthz`` print the same warnings, each
with file and line, including Thunderbird for Android's verdict on the
rendered documents (once only ``check`` had it). Under incremental reload
only providers the loader hands back as new objects are judged again.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.configs import HEAD
from support.configs import provider
from support.paths import ROOT

from mailautoconf import clientrules
from mailautoconf import config
from mailautoconf.reload.pipeline import Pipeline
from mailautoconf.tree.store import Store

# alpha: an open relay (no credentials): Thunderbird and Outlook take it,
# Thunderbird for Android rejects the whole document.
RELAY = provider("alpha.example", ["alpha.example"], "mail.alpha.example").replace(
    'port = 465\nsocket_type = "SSL"\nauthentication = ["password-cleartext"]\nusername = "{address}"',
    'port = 25\nsocket_type = "STARTTLS"\nauthentication = ["client-IP-address"]',
)
# beta: POP3 only, over plain text.
POP3 = (
    provider("beta.example", ["beta.example"], "mail.beta.example")
    .replace('type = "imap"', 'type = "pop3"')
    .replace('port = 993\nsocket_type = "SSL"', 'port = 110\nsocket_type = "plain"')
)
CONFIG = HEAD + RELAY + POP3


def _check_warnings(path: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "service.py", "check", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.splitlines()


def test_check_the_log_and_healthz_show_the_same_warnings(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(CONFIG)
    shown = _check_warnings(service.config_path)
    relay_line = CONFIG.splitlines().index('authentication = ["client-IP-address"]') + 1
    expected_android = (
        f'{service.config_path}, line {relay_line}: warning: provider "alpha.example", outgoing server 1: '
        "Thunderbird for Android rejects the whole document: no usable authentication (password-cleartext, "
        "password-encrypted or OAuth2)"
    )
    assert expected_android in shown
    assert any("no IMAP server: Thunderbird for Android rejects POP3-only settings" in line for line in shown)
    assert any('socket_type "plain" sends passwords unencrypted; Thunderbird warns the user' in line for line in shown)
    assert service.health()["config_warnings"] == shown
    log = service.log()
    for line in shown:
        assert line in log


def test_a_rule_finding_goes_when_the_setting_is_fixed(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(CONFIG)
    before = service.health()["config_warnings"]
    assert any('provider "beta.example"' in line for line in before)
    fixed = CONFIG.replace(POP3, provider("beta.example", ["beta.example"], "mail.beta.example"))
    service.config_path.write_text(fixed, encoding="utf-8")
    after = service.wait_for(
        lambda: (lambda w: w if w != before else None)(service.health()["config_warnings"]),
        what="the warnings of the fixed config",
    )
    assert not any('provider "beta.example"' in line for line in after)
    assert [line for line in after if "alpha.example" in line] == [line for line in before if "alpha.example" in line]


def test_only_changed_providers_are_judged_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "autoconfig.toml"
    path.write_text(CONFIG, encoding="utf-8")
    judged: list[str] = []
    real = clientrules.provider_findings

    def counting(given, templates=None):  # type: ignore[no-untyped-def]
        judged.append(given.id)
        return real(given, templates)

    monkeypatch.setattr(clientrules, "provider_findings", counting)
    pipeline = Pipeline(str(path), str(tmp_path / "out"), Store())
    first = pipeline.run()
    assert sorted(judged) == ["alpha.example", "beta.example"]
    judged.clear()
    path.write_text(CONFIG.replace('display_name = "beta.example mail"', 'display_name = "Beta"'), encoding="utf-8")
    second = pipeline.run(force=False)
    assert judged == ["beta.example"]
    assert second.warnings == first.warnings  # the display name is in no warning
    judged.clear()
    assert pipeline.run(force=True).warnings == first.warnings  # SIGHUP judges everything again
    assert sorted(judged) == ["alpha.example", "beta.example"]


def test_the_pipeline_and_check_agree_on_the_shipped_config() -> None:
    shipped = ROOT / "config" / "autoconfig.toml"
    result = config.load(str(shipped))
    assert [str(warning) for warning in clientrules.warnings(result)] == [
        line for line in _check_warnings(shipped) if ": warning: " in line
    ]


def test_android_verdicts_name_the_setting() -> None:
    """A rejection of the rendered document points at the line of the setting behind it."""
    text = HEAD + provider("alpha.example", ["alpha.example"], "mail.alpha.example").replace(
        'authentication = ["password-cleartext"]', 'authentication = ["NTLM"]', 1
    )
    lines = text.splitlines()
    ntlm = lines.index('authentication = ["NTLM"]') + 1
    assert [str(warning) for warning in clientrules.warnings(config.loads(text, "c.toml"))] == [
        f'c.toml, line {ntlm}: warning: provider "alpha.example", incoming server 1: Thunderbird for Android '
        "rejects the whole document: no usable authentication (password-cleartext, password-encrypted or OAuth2)"
    ]


def test_apple_rules_say_which_server_the_profile_carries() -> None:
    two = provider("alpha.example", ["alpha.example"], "mail.alpha.example").replace(
        "[[provider.outgoing]]",
        '[[provider.incoming]]\ntype = "imap"\nhostname = "imap2.alpha.example"\nport = 143\n'
        'socket_type = "STARTTLS"\nauthentication = ["password-cleartext"]\nusername = "{address}"\n\n'
        "[[provider.outgoing]]",
    )
    text = HEAD + two.replace('authentication = ["password-cleartext"]', 'authentication = ["GSSAPI"]', 1)
    gssapi = text.splitlines().index('authentication = ["GSSAPI"]') + 1
    apple_lines = [str(w) for w in clientrules.warnings(config.loads(text, "c.toml")) if "Apple" in str(w)]
    assert apple_lines == [
        f'c.toml, line {gssapi}: warning: provider "alpha.example", incoming server 1: an Apple profile cannot '
        'state "GSSAPI": the profile carries the next imap server instead'
    ]
