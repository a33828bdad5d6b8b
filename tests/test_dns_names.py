"""Names made of a hosted domain fit into DNS, or ``check`` says which domain cannot (dnsnames.py).

A domain of 235 characters is a valid name, but ``dns`` would print
``_autodiscover._tcp.<d>`` of 254 characters, which no zone loads and no CA
certifies. The longest domain ``check`` lets through makes names of at most
253 characters in ``dns`` (judged by BIND's named-checkzone), ``certs`` and
``nginx``; one octet more is a config error naming the domain, its line and
the longest derived name. The generators take their prefixes from where the
check does: every name ``dns`` prints is one of them before a domain.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.dns import checkzone
from support.dns import needs_checkzone
from support.dns import record_lines
from support.paths import ROOT

from mailautoconf import config as config_loader
from mailautoconf import dnsnames
from mailautoconf.deploy.certs import service_bundles
from mailautoconf.deploy.dns import lookup_plans
from mailautoconf.deploy.dns import records


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "service.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def domain_of_length(length: int, first: str = "a") -> str:
    """A valid domain of exactly ``length`` characters: labels of 63 and less, ending in .test."""
    labels: list[str] = []
    room = length - len(".test")
    while room > 0:
        size = min(63, room - (1 if labels else 0))
        if labels:
            room -= 1
        if room - size == 1:  # no room for a dot and a label after it: leave two
            size -= 2
        labels.append((first if not labels else chr(ord("a") + len(labels) % 26)) * size)
        room -= size
    name = ".".join(labels) + ".test"
    assert len(name) == length, (len(name), length)
    return name


# Everything that makes names: PACC, CalDAV/CardDAV, common names, per-domain host names, the MX
# lookup, a domain without own names (SRV and MX only).
CONFIG = """\
[service]
public_hostname = "autoconfig.provider.test"

[dns]
common_names = true

[[provider]]
id = "provider.test"
display_name = "Provider"
domains = [{domains}]
mx = ["mx.{mx}"]
pacc = true
caldav = {{ url = "https://dav.{{domain}}/calendars/" }}
carddav = {{ url = "https://dav.{{domain}}/contacts/" }}

[[provider.incoming]]
type = "imap"
hostname = "{imap}"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{{address}}"

[[provider.incoming]]
type = "pop3"
hostname = "pop.{{domain}}"
port = 995
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{{address}}"

[[provider.outgoing]]
type = "smtp"
hostname = "smtp.provider.test"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{{address}}"

[[provider.outgoing]]
type = "smtp"
hostname = "smtp.provider.test"
port = 587
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{{address}}"
"""


def config_text(*domains: str, imap: str = "mail.{domain}", mx: str = "provider.test", extra: str = "") -> str:
    listed = ", ".join(f'"{name}"' for name in domains)
    return CONFIG.format(domains=listed, imap=imap, mx=mx) + extra


LONGEST = domain_of_length(dnsnames.MAX_DOMAIN)
NO_OWN_NAMES = domain_of_length(dnsnames.MAX_DOMAIN, first="z")


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "autoconfig.toml"
    path.write_text(text, encoding="utf-8")
    return path


def names_in(zone_text: str) -> list[str]:
    """Every owner name and every name in the rdata (CNAME, SRV and MX targets), without the dot."""
    found = []
    for line in record_lines(zone_text):
        owner, _ttl, _class, rdtype, data = line.split(" ", 4)
        found.append(owner)
        if rdtype in ("CNAME", "SRV", "MX"):
            found.append(data.split()[-1])
    return [name.rstrip(".") for name in found if name != "."]


def fits(name: str) -> bool:
    return len(name) <= dnsnames.MAX_NAME and all(0 < len(label) <= 63 for label in name.split("."))


def test_the_longest_domain_check_allows_makes_names_that_fit(tmp_path: Path) -> None:
    text = config_text(LONGEST, NO_OWN_NAMES, extra=f'\n[provider.overrides."{NO_OWN_NAMES}"]\nown_names = false\n')
    path = written(tmp_path, text)
    checked = run("check", "--config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    dns = run("dns", "--config", str(path))
    assert dns.returncode == 0, dns.stderr
    printed = names_in(dns.stdout)
    assert [name for name in printed if not fits(name)] == []
    # The DNS limit is looser than the file name's (below): _autodiscover._tcp.<d> fits with room to spare.
    assert max(len(name) for name in printed) == dnsnames.MAX_NAME - (dnsnames.MAX_DNS_DOMAIN - dnsnames.MAX_DOMAIN)
    # And the tree holds its folder: render publishes it.
    rendered = run("render", "--config", str(path), "--output", str(tmp_path / "out"))
    assert rendered.returncode == 0, rendered.stderr
    assert (tmp_path / "out" / "current" / LONGEST / "mail" / "config-v1.1.xml").is_file()
    assert f"_ua-auto-config.{LONGEST}" in printed and f"_carddavs._tcp.{LONGEST}" in printed
    assert f"submission.{LONGEST}" in printed and f"pop.{LONGEST}" in printed

    for arguments in (("certs",), ("certs", "--well-known")):
        certs = run(*arguments, "--config", str(path), "--format", "dehydrated")
        assert certs.returncode == 0, certs.stderr
        certified = [name for line in certs.stdout.splitlines() for name in line.split(" > ")[0].split()]
        assert f"ua-auto-config.{LONGEST}" in certified and f"imaps.{LONGEST}" in certified
        assert [name for name in certified if not fits(name)] == []

    # The site has an https server for each certificate that exists: files are enough to be printed.
    loaded = config_loader.loads(text, str(path)).config
    for alias in service_bundles(loaded, well_known=True):
        (tmp_path / alias).mkdir(parents=True)
        (tmp_path / alias / "fullchain.pem").touch()
        (tmp_path / alias / "privkey.pem").touch()
    path.write_text(f'{text}\n[tls]\ndirectory = "{tmp_path}"\n', encoding="utf-8")
    site = run("nginx", "--config", str(path), "--well-known")
    assert site.returncode == 0, site.stderr
    served = [name for line in re.findall(r"server_name ([^;]+);", site.stdout) for name in line.split()]
    assert LONGEST in served and f"autodiscover.{LONGEST}" in served
    assert [name for name in served if "*" not in name and not fits(name)] == []


@needs_checkzone
def test_bind_loads_the_records_of_the_longest_domain(tmp_path: Path) -> None:
    loaded = config_loader.loads(config_text(LONGEST), "test.toml").config
    result = checkzone(tmp_path, LONGEST, records(loaded, LONGEST))
    assert result.returncode == 0, (result.stdout, result.stderr)


@pytest.mark.parametrize(
    ("length", "said"),
    [
        # One octet more than a version folder's name holds (publish.py: <domain>@<digest>.<mtime>).
        (dnsnames.MAX_DOMAIN + 1, "its folder in the rendered tree ({domain}@<digest>.<time>) would be 256 bytes long"),
        # One octet more than _autodiscover._tcp.<d> holds.
        (
            dnsnames.MAX_DNS_DOMAIN + 1,
            "_autodiscover._tcp.{domain} (dns prints it for every domain) would be 254 characters",
        ),
    ],
)
def test_one_octet_more_is_a_check_error_naming_the_domain(tmp_path: Path, length: int, said: str) -> None:
    too_long = domain_of_length(length)
    override = f'\n[provider.overrides."{too_long}"]\ndisplay_name = "Long"\n'  # no second error about it
    path = written(tmp_path, config_text("example.test", too_long, extra=override))
    result = run("check", "--config", str(path))
    assert result.returncode == 1
    line = next(number for number, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("domains"))
    problems = [text for text in result.stdout.splitlines() + result.stderr.splitlines() if "too long" in text]
    assert len(problems) == 1, result.stdout + result.stderr
    assert f"{path}: 1 error(s); not usable" in result.stdout + result.stderr
    assert problems[0].startswith(f'{path}, line {line}: provider "provider.test": domain "{too_long}" ')
    assert said.format(domain=too_long) in problems[0]
    # The other domain is no problem, and dns refuses to print anything for this config.
    assert 'example.test"' not in result.stdout + result.stderr
    assert run("dns", "--config", str(path)).returncode == 1


@pytest.mark.parametrize(
    ("template", "why"),
    [
        # {domain} inside a label: with a first label of 63, the label grows past 63.
        ("mail-{domain}", "a label is longer than 63 characters"),
        # A long template before a domain that fits every prefix.
        (
            "mail-servers-of-the-provider.{domain}",
            f"a host name is at most 253 characters long (it is {29 + len(LONGEST)}",
        ),
    ],
)
def test_a_template_that_makes_no_host_name_of_a_domain_is_an_error(tmp_path: Path, template: str, why: str) -> None:
    path = written(tmp_path, config_text("example.test", LONGEST, imap=template))
    result = run("check", "--config", str(path))
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert f'domain "{LONGEST}": incoming server 1\'s hostname "{template}" makes "' in output
    assert why in output
    assert 'domain "example.test"' not in output  # a short domain makes a fine name of it


def test_an_override_template_counts_for_its_domain_only(tmp_path: Path) -> None:
    """The provider's template is fine for both; the override gives one domain a label of 68 characters."""
    short = "b" * 63 + ".test"
    extra = f'\n[provider.overrides."{LONGEST}"]\nhostname = "imap-{{domain}}"\n'
    result = run("check", "--config", str(written(tmp_path, config_text(short, LONGEST, extra=extra))))
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert f'domain "{LONGEST}": the override\'s incoming host name "imap-{{domain}}" makes "imap-{LONGEST}"' in output
    assert f'domain "{short}"' not in output


def test_an_mx_lookup_name_that_does_not_fit_is_an_error(tmp_path: Path) -> None:
    mx_domain = domain_of_length(dnsnames.MAX_NAME - len("autoconfig.") + 1)
    path = written(tmp_path, config_text("example.test", mx=mx_domain))
    result = run("check", "--config", str(path))
    assert result.returncode == 1
    assert f'mx "mx.{mx_domain}": autoconfig.{mx_domain} (the name clients ask for its MX lookup) would be 254' in (
        result.stdout + result.stderr
    )
    # Shorter, but too long for the folder of its documents in the tree (_mx.<m>@<digest>.<time>).
    mx_domain = domain_of_length(dnsnames.MAX_MX_DOMAIN + 1)
    path = written(tmp_path, config_text("example.test", mx=mx_domain))
    result = run("check", "--config", str(path))
    assert result.returncode == 1
    assert f"an MX domain has at most {dnsnames.MAX_MX_DOMAIN} characters" in result.stdout + result.stderr
    # The longest that fits both: dns prints the name, and render publishes its folder.
    mx_domain = domain_of_length(dnsnames.MAX_MX_DOMAIN)
    path = written(tmp_path, config_text("example.test", mx=mx_domain))
    dns = run("dns", "--config", str(path))
    assert dns.returncode == 0, dns.stdout + dns.stderr
    assert f"autoconfig.{mx_domain}." in dns.stdout
    rendered = run("render", "--config", str(path), "--output", str(tmp_path / "out"))
    assert rendered.returncode == 0, rendered.stderr
    assert (tmp_path / "out" / "current" / f"_mx.{mx_domain}" / "mail" / "config-v1.1.xml").is_file()


def test_every_name_dns_prints_is_a_known_prefix_before_a_domain() -> None:
    """What keeps the check and the generators together: a new record's prefix must be in dnsnames.PREFIXES."""
    loaded = config_loader.loads(config_text("example.test", "other.test"), "test.toml").config
    text = records(loaded)
    hosted = set(loaded.domains())
    mx_domains = {lookup.mx_domain for lookup in lookup_plans(loaded)}
    made_from_templates = {f"{label}.{name}" for name in hosted for label in ("mail", "pop", "dav")}
    owners = {line.split(" ", 1)[0].rstrip(".") for line in record_lines(text)}
    unknown = [
        owner
        for owner in owners
        if owner not in hosted
        and not any(owner.removeprefix(prefix) in hosted for prefix in dnsnames.PREFIXES if owner.startswith(prefix))
        and owner not in {f"{dnsnames.AUTOCONFIG}.{name}" for name in mx_domains}
    ]
    assert unknown == []
    targets = {name for name in names_in(text) if name not in owners}
    assert targets <= made_from_templates | {"autoconfig.provider.test", "mx.provider.test", "smtp.provider.test"}
