"""`service.py certs`: dehydrated and certbot lines, and --only-resolving against a real DNS server."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT
from support.service import free_port

from mailautoconf import config as config_loader
from mailautoconf.deploy.certs import certbot_commands
from mailautoconf.deploy.certs import certificates

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "service.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


# The shipped config's three domains fit into one certificate: the trie's root, alias -0000.
# A domain's names stay together; domains come in the order of their keys (SHA-256 of the
# name: example.net, example.com, example.org), never in config order.
SERVICE_LINE = (
    "autoconfig.example.net autodiscover.example.net autoconfig.example.com autodiscover.example.com "
    "autoconfig.example.org autodiscover.example.org > autoconfig-0000"
)


def test_dehydrated_and_certbot_lines() -> None:
    result = run("certs")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "# dehydrated: domains.txt",
        SERVICE_LINE,
        "mail.example.net > mail-0000",
        "",
        "# certbot (challenges answered by nginx from its webroot)",
        "certbot certonly --webroot -w /var/lib/dehydrated/acme-challenges --cert-name autoconfig-0000 "
        "-d autoconfig.example.net -d autodiscover.example.net -d autoconfig.example.com "
        "-d autodiscover.example.com -d autoconfig.example.org -d autodiscover.example.org",
        "certbot certonly --webroot -w /var/lib/dehydrated/acme-challenges --cert-name mail-0000 -d mail.example.net",
    ]


def test_format_dehydrated_is_a_domains_txt() -> None:
    result = run("certs", "--format", "dehydrated")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [SERVICE_LINE, "mail.example.net > mail-0000"]
    certbot_run = run("certs", "--format", "certbot")
    assert certbot_run.returncode == 0, certbot_run.stderr
    certbot = certbot_run.stdout.splitlines()
    assert len(certbot) == 2 and all(line.startswith("certbot certonly --webroot") for line in certbot)


def test_well_known_adds_the_domains_own_names_and_idn_is_punycode(tmp_path: Path) -> None:
    config = tmp_path / "autoconfig.toml"
    config.write_text(EXAMPLE_CONFIG.read_text().replace('"example.com"]', '"bücher.example"]'))
    result = run("certs", "--config", str(config), "--well-known", "--format", "dehydrated")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].endswith(" > autoconfig-0000"), lines
    names = lines[0].split(" > ")[0].split()
    assert len(names) == 9
    # Each domain's three names side by side, in one certificate.
    for domain in ("example.net", "example.org", "xn--bcher-kva.example"):
        start = names.index(f"autoconfig.{domain}")
        assert names[start : start + 3] == [f"autoconfig.{domain}", f"autodiscover.{domain}", domain]


@pytest.fixture
def dns_server(tmp_path: Path) -> Iterator[int]:
    """dnsmasq on a free loopback port, answering only from its command line: a zone with mistakes."""
    if not Path(DNSMASQ).exists():
        pytest.skip("dnsmasq is not installed (apt-get install dnsmasq-base)")
    records = [
        "--host-record=autoconfig.example.net,192.0.2.1",  # the service's public host name
        "--cname=autoconfig.example.org,autoconfig.example.net",  # right: CNAME to the service
        "--host-record=autodiscover.example.net,192.0.2.1",  # right: the service's address
        "--host-record=autodiscover.example.org,198.51.100.7",  # wrong: another machine
        "--host-record=elsewhere.test,203.0.113.9",
        "--cname=autodiscover.example.com,elsewhere.test",  # wrong: CNAME elsewhere
        "--host-record=mail.example.net,198.51.100.25",  # the mail server: not this machine
        # autoconfig.example.com: no record at all
        # Authoritative for these: a name or type it lacks is NXDOMAIN or NODATA, not REFUSED.
        "--local=/example.net/",
        "--local=/example.org/",
        "--local=/example.com/",
    ]
    # A free port can be taken again before dnsmasq binds it (TCP and UDP): try another.
    for _ in range(5):
        port = free_port()
        log = tmp_path / f"dnsmasq-{port}.log"
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [DNSMASQ, "--no-daemon", "--conf-file=/dev/null", f"--port={port}", "--listen-address=127.0.0.1",
                 "--bind-interfaces", "--no-resolv", "--no-hosts", "--pid-file=", *records],
                stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        time.sleep(0.3)
        if process.poll() is None:
            break
    assert process.poll() is None, f"dnsmasq did not start: {log.read_text()}"
    yield port
    process.terminate()
    process.wait(timeout=10)


def test_only_resolving_keeps_what_points_here(dns_server: int) -> None:
    result = run("certs", "--only-resolving", "--resolver", f"127.0.0.1:{dns_server}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Bundles are made before the names are filtered: the alias stays; mail-0000 has no name left.
    assert lines[1:3] == [
        "autoconfig.example.net autodiscover.example.net autoconfig.example.org > autoconfig-0000",
        "",
    ]
    assert sorted(result.stderr.splitlines()) == [
        "left out autoconfig.example.com: no DNS record yet",
        "left out autodiscover.example.com: CNAME to elsewhere.test, not to autoconfig.example.net",
        "left out autodiscover.example.org: points at 198.51.100.7, not at this service (autoconfig.example.net)",
        "left out mail.example.net: points at 198.51.100.25, not at this service (autoconfig.example.net)",
    ]


def test_only_resolving_with_a_silent_resolver_fails_clearly() -> None:
    result = run("certs", "--only-resolving", "--resolver", f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert result.stderr.startswith("cannot decide which names resolve here: DNS did not answer")
    assert result.stdout == ""


def test_bad_resolver_argument() -> None:
    result = run("certs", "--only-resolving", "--resolver", "not-an-ip")
    assert result.returncode == 1
    assert (
        result.stderr == '--resolver: "not-an-ip" is not IP, IP:PORT or [IPv6]:PORT (e.g. 127.0.0.1:5353 or [::1]:53)\n'
    )


# -- the certbot lines are pasted into a shell ------------------------------------------------------

# A shell function stands in for certbot: it records the words it is given, each ending in a
# NUL byte (which no word can hold), a call ending in a word "\1".
RECORD_CERTBOT = 'certbot() { printf "%s\\0" "$@" "$(printf "\\1")" >> "$RECORDED"; }\n'


def run_in_bash(lines: str, folder: Path) -> list[list[str]]:
    """Run the certbot lines in a real bash, as an admin pasting them would; the calls certbot got."""
    recorded = folder / "certbot-calls"
    recorded.write_bytes(b"")
    env = {"PATH": "/usr/bin:/bin", "RECORDED": str(recorded)}
    subprocess.run(["bash", "-c", RECORD_CERTBOT + lines], cwd=folder, env=env, check=True, timeout=30)
    calls: list[list[str]] = [[]]
    for word in recorded.read_text().split("\0")[:-1]:
        if word == "\1":
            calls.append([])
        else:
            calls[-1].append(word)
    return calls[:-1]


def test_certbot_lines_run_nothing_a_challenges_path_holds(tmp_path: Path) -> None:
    """A [tls] challenges path may hold $(...), a backquote or *: pasted, the lines run none of it."""
    marker = tmp_path / "ran"
    challenges = f"/srv/acme/$(touch$IFS{marker})`touch$IFS{marker}-2`*"
    config = tmp_path / "autoconfig.toml"
    config.write_text(EXAMPLE_CONFIG.read_text() + f"\n[tls]\nchallenges = '{challenges}'\n")
    result = run("certs", "--config", str(config), "--format", "certbot")
    assert result.returncode == 0, result.stderr
    calls = run_in_bash(result.stdout, tmp_path)
    assert list(tmp_path.glob("ran*")) == []
    assert [call[:5] for call in calls] == [["certonly", "--webroot", "-w", challenges, "--cert-name"]] * 2
    assert calls[1][5:] == ["mail-0000", "-d", "mail.example.net"]


def test_certbot_lines_keep_any_path_one_word(tmp_path: Path) -> None:
    """Whatever the path holds (check refuses spaces and quotes; the printing does not rely on it)."""
    loaded = config_loader.loads(EXAMPLE_CONFIG.read_text(), "test.toml").config
    odd = '/srv/it\'s "odd"; $(touch ran) `touch ran` * \\ $HOME\nrm -rf ran'
    loaded = replace(loaded, tls=replace(loaded.tls, challenges=odd))
    calls = run_in_bash(certbot_commands(certificates(loaded), loaded), tmp_path)
    assert [call[3] for call in calls] == [odd, odd]
    assert list(tmp_path.glob("ran*")) == []
