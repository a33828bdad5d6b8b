"""The command line: check, render, and service:app for other WSGI servers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT

from mailautoconf import config as config_loader
from mailautoconf import render

EXAMPLE = EXAMPLE_CONFIG.read_text(encoding="utf-8")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "service.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )


def test_check_example_is_clean() -> None:
    result = run("check")
    assert result.returncode == 0
    assert result.stdout.strip() == "config/autoconfig.toml: OK, 1 provider(s), 3 domain(s), 0 warning(s)"
    assert result.stderr == ""


def test_check_prints_every_error_and_warning(tmp_path: Path) -> None:
    config = tmp_path / "autoconfig.toml"
    text = (
        EXAMPLE.replace("port = 993", "port = 99999")
        .replace('socket_type = "STARTTLS"', 'socket_type = "plain"', 1)
        .replace('"example.com"]', '"example.com", "EXAMPLE.org"]')
    )
    config.write_text(text, encoding="utf-8")
    result = run("check", "--config", str(config))
    assert result.returncode == 1
    lines = text.splitlines()
    port_line = lines.index("port = 99999") + 1
    domains_line = next(number for number, line in enumerate(lines, 1) if line.startswith("domains ="))
    assert result.stderr.splitlines() == [
        f'{config}, line {domains_line}: provider "example.net": domain "EXAMPLE.org" is listed twice',
        f'{config}, line {port_line}: provider "example.net", incoming server 1: port 99999 is not a port (1-65535)',
        # The client rules judge a config that loads: the plain socket is said once it does.
        f"{config}: 2 error(s); not usable",
    ]


def test_check_warnings_only_exits_zero(tmp_path: Path) -> None:
    config = tmp_path / "autoconfig.toml"
    text = EXAMPLE.replace('socket_type = "STARTTLS"', 'socket_type = "plain"')
    config.write_text(text, encoding="utf-8")
    result = run("check", "--config", str(config))
    assert result.returncode == 0
    lines = text.splitlines()
    plain = [number for number, line in enumerate(lines, 1) if line == 'socket_type = "plain"']
    unencrypted = 'socket_type "plain" sends passwords unencrypted; '
    android = "Thunderbird for Android rejects the whole document and "
    assert result.stderr.splitlines() == [
        f'{config}, line {plain[0]}: warning: provider "example.net", incoming server 2: '
        f"{unencrypted}{android}Thunderbird warns the user",
        f'{config}, line {plain[1]}: warning: provider "example.net", incoming server 4: '
        f"{unencrypted}Thunderbird warns the user",  # POP3: Android does not read it
        f'{config}, line {plain[2]}: warning: provider "example.net", outgoing server 2: '
        f"{unencrypted}{android}Thunderbird warns the user",
    ]
    assert result.stdout.strip().endswith("OK, 1 provider(s), 3 domain(s), 3 warning(s)")


def test_check_warns_when_android_rejects_pop3_only(tmp_path: Path) -> None:
    config = tmp_path / "autoconfig.toml"
    text = EXAMPLE.replace('type = "imap"', 'type = "pop3"')
    config.write_text(text, encoding="utf-8")
    result = run("check", "--config", str(config))
    assert result.returncode == 0
    provider_line = text.splitlines().index("[[provider]]") + 1
    assert (
        f'{config}, line {provider_line}: warning: provider "example.net": '
        "no IMAP server: Thunderbird for Android rejects POP3-only settings"
    ) in result.stderr.splitlines()


def test_check_missing_file() -> None:
    result = run("check", "--config", "/nonexistent/autoconfig.toml")
    assert result.returncode == 1
    assert "/nonexistent/autoconfig.toml: cannot read the file: its folder /nonexistent does not exist" in result.stderr


def test_render_writes_a_generation(tmp_path: Path) -> None:
    result = run("render", "--output", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    current = tmp_path / "out" / "current"
    assert sorted(path.name for path in current.iterdir() if path.is_dir()) == [
        "example.com",
        "example.net",
        "example.org",
    ]
    # The files are byte for byte what the renderer makes of the same config, and nothing else.
    expected = render.render(config_loader.load(str(EXAMPLE_CONFIG)).config)
    for domain, documents in expected.items():
        folder = current / domain
        written = sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())
        assert written == sorted(documents), domain
        for document, content in documents.items():
            assert (folder / document).read_bytes() == content, f"{domain}/{document}"


def test_render_broken_config_exits_one_and_keeps_output(tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert run("render", "--output", str(output)).returncode == 0
    broken = tmp_path / "broken.toml"
    broken.write_text("[service\n", encoding="utf-8")
    result = run("render", "--config", str(broken), "--output", str(output))
    assert result.returncode == 1
    assert f"{broken}, line 1: TOML syntax error" in result.stderr
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["generation"] == "gen-000001"
    assert (output / "current" / "example.org" / "mail" / "config-v1.1.xml").is_file()


def test_usage_error_exits_two() -> None:
    assert run("frobnicate").returncode == 2


def test_import_has_no_side_effects_and_app_is_lazy(tmp_path: Path) -> None:
    code = (
        "import os, service\n"
        "assert not os.path.exists(os.environ['MAILAUTOCONF_OUTPUT'])\n"
        "app = service.app\n"
        "client = app.test_client()\n"
        "answer = client.get('/mail/config-v1.1.xml', headers={'Host': 'autoconfig.example.org'})\n"
        "assert answer.status_code == 200, answer.status_code\n"
        "assert b'<domain>example.org</domain>' in answer.data\n"
        "print('ok')\n"
    )
    env = {"MAILAUTOCONF_OUTPUT": str(tmp_path / "out"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr


def test_check_says_what_common_names_cost(tmp_path: Path) -> None:
    config = tmp_path / "autoconfig.toml"
    config.write_text("[dns]\ncommon_names = true\n" + EXAMPLE_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    result = run("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert f"{config}: warning: [dns] common_names:" in result.stderr
    assert "2 certificate(s) (dovecot 1, postfix 1" in result.stderr
    assert "common_names" not in run("check").stderr


def test_building_the_command_line_loads_no_command_s_own_modules() -> None:
    """serve, render and check start without what dns, check-dns, certs, nginx, import or probe need."""
    script = (
        "import sys; from mailautoconf import cli; cli.parser(); "
        "print(sorted(m for m in sys.modules if m.startswith(('mailautoconf.probe.net', 'mailautoconf.probe.run', "
        "'mailautoconf.dnslookup', 'mailautoconf.deploy.dns', 'mailautoconf.deploy.nginx', 'rich', "
        "'dns.resolver', 'tomli_w'))))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
