"""``service.py dns`` and ``check-dns``: records checked by BIND's named-checkzone and served by a real dnsmasq.

No mocks: the generated lines go into real zone files for named-checkzone
(Debian bind9-utils), and check-dns asks a real dnsmasq (dnsmasq-base) that
the test starts on a free high port of 127.0.0.1, so these tests run with or
without the test namespace and send nothing past loopback.
"""

from __future__ import annotations

import socket
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import configs
from support.configs import HOSTING as HOSTING_CONFIG
from support.dns import SERVICE_HOST
from support.dns import Dnsmasq
from support.dns import check_dns
from support.dns import checkzone
from support.dns import dnsmasq_options
from support.dns import needs_checkzone
from support.dns import needs_dnsmasq
from support.dns import record_lines
from support.dns import run
from support.paths import EXAMPLE_CONFIG

from mailautoconf import config as config_loader
from mailautoconf.deploy import checkdns
from mailautoconf.deploy.dns import lookup_plans
from mailautoconf.deploy.dns import records
from mailautoconf.deploy.dns import warnings
from mailautoconf.model import Config

EXAMPLE = EXAMPLE_CONFIG.read_text(encoding="utf-8")
ADDRESSES = '\n[dns]\naddresses = ["192.0.2.10", "2001:db8::10"]\nttl = 300\n'


def load(text: str) -> Config:
    return config_loader.loads(text, "test.toml").config


def example_server(direction: str, type_: str, socket_type: str) -> tuple[str, int]:
    """(host, port) of the example config's server of this kind, read from the TOML itself."""
    provider = tomllib.loads(EXAMPLE)["provider"][0]
    server = next(s for s in provider[direction] if s["type"] == type_ and s["socket_type"] == socket_type)
    return server["hostname"], server["port"]


def test_example_records_exact() -> None:
    public = tomllib.loads(EXAMPLE)["service"]["public_hostname"]
    imaps, imap = example_server("incoming", "imap", "SSL"), example_server("incoming", "imap", "STARTTLS")
    pop3s, pop3 = example_server("incoming", "pop3", "SSL"), example_server("incoming", "pop3", "STARTTLS")
    submissions = example_server("outgoing", "smtp", "SSL")
    submission = example_server("outgoing", "smtp", "STARTTLS")
    text = records(load(EXAMPLE), "example.org")
    assert record_lines(text) == [
        f"autoconfig.example.org. 3600 IN CNAME {public}.",
        f"autodiscover.example.org. 3600 IN CNAME {public}.",
        f"_autodiscover._tcp.example.org. 3600 IN SRV 0 1 443 {public}.",
        # Implicit TLS first (RFC 8314); IMAP before POP3 as the config lists them (RFC 6186).
        f"_imaps._tcp.example.org. 3600 IN SRV 0 1 {imaps[1]} {imaps[0]}.",
        f"_imap._tcp.example.org. 3600 IN SRV 1 1 {imap[1]} {imap[0]}.",
        f"_pop3s._tcp.example.org. 3600 IN SRV 2 1 {pop3s[1]} {pop3s[0]}.",
        f"_pop3._tcp.example.org. 3600 IN SRV 3 1 {pop3[1]} {pop3[0]}.",
        f"_submissions._tcp.example.org. 3600 IN SRV 0 1 {submissions[1]} {submissions[0]}.",
        f"_submission._tcp.example.org. 3600 IN SRV 1 1 {submission[1]} {submission[0]}.",
    ]
    assert "_imaps._tcp.example.org. 3600 IN SRV 0 1 993 mail.example.net." in text.splitlines()
    # A header naming the domain, a comment before every group, no $ORIGIN, deterministic.
    assert "; ---- example.org: mail client auto-configuration ----" in text
    assert "$ORIGIN" not in text
    blocks = text.split("\n\n")
    assert all(block.startswith(";") for block in blocks)
    assert records(load(EXAMPLE), "example.org") == text
    assert warnings(load(EXAMPLE)) == []


def test_every_domain_in_config_order() -> None:
    text = records(load(EXAMPLE))
    headers = [line for line in text.splitlines() if line.startswith("; ---- ")]
    assert headers == [
        f"; ---- {d}: mail client auto-configuration ----" for d in ("example.net", "example.org", "example.com")
    ]


def test_public_hostname_is_never_a_cname_to_itself() -> None:
    # The example's public_hostname is autoconfig.example.net, a hosted domain's own service name.
    lines = record_lines(records(load(EXAMPLE), "example.net"))
    assert not any(line.startswith("autoconfig.example.net.") for line in lines)
    assert "autodiscover.example.net. 3600 IN CNAME autoconfig.example.net." in lines


def test_provider_without_pop3_says_not_offered() -> None:
    # The example's server tables are blocks of their own, between blank lines.
    blocks = EXAMPLE.split("\n\n")
    without_pop3 = "\n\n".join(block for block in blocks if 'type = "pop3"' not in block)
    assert without_pop3.count("[[provider.incoming]]") == 2
    lines = record_lines(records(load(without_pop3), "example.org"))
    assert "_pop3s._tcp.example.org. 3600 IN SRV 0 0 0 ." in lines
    assert "_pop3._tcp.example.org. 3600 IN SRV 0 0 0 ." in lines
    assert "_imaps._tcp.example.org. 3600 IN SRV 0 1 993 mail.example.net." in lines
    assert "_imap._tcp.example.org. 3600 IN SRV 1 1 143 mail.example.net." in lines


def test_idn_and_overrides() -> None:
    text = records(load(HOSTING_CONFIG))
    lines = record_lines(text)
    assert "; ---- xn--bcher-kva.example (bücher.example): mail client auto-configuration ----" in text
    idn = "xn--bcher-kva.example"
    assert [line for line in lines if line.split(" ", 1)[0].endswith(f"{idn}.")] == [
        f"autoconfig.{idn}. 3600 IN CNAME autoconfig.provider.test.",
        f"autodiscover.{idn}. 3600 IN CNAME autoconfig.provider.test.",
        f"_autodiscover._tcp.{idn}. 3600 IN SRV 0 1 443 autoconfig.provider.test.",
        f"_imaps._tcp.{idn}. 3600 IN SRV 0 1 993 mail.{idn}.",
        f"_imap._tcp.{idn}. 3600 IN SRV 0 0 0 .",  # only implicit TLS configured
        f"_pop3s._tcp.{idn}. 3600 IN SRV 0 0 0 .",
        f"_pop3._tcp.{idn}. 3600 IN SRV 0 0 0 .",
        f"_submissions._tcp.{idn}. 3600 IN SRV 0 1 465 smtp.{idn}.",
        f"_submission._tcp.{idn}. 3600 IN SRV 0 0 0 .",
    ]
    assert "_imaps._tcp.customer.test. 3600 IN SRV 0 1 993 mx.customer-own.test." in lines
    assert "_submissions._tcp.customer.test. 3600 IN SRV 0 1 465 out.customer-own.test." in lines
    assert "_imaps._tcp.other.test. 3600 IN SRV 0 0 0 ." in lines
    assert "_imap._tcp.other.test. 3600 IN SRV 0 1 143 imap.other.test." in lines
    assert "_submission._tcp.other.test. 3600 IN SRV 0 1 587 smtp.other.test." in lines
    # --domain takes the Unicode spelling, any letter case.
    assert records(load(HOSTING_CONFIG), "Bücher.EXAMPLE") == records(load(HOSTING_CONFIG), idn)


def test_addresses_mode() -> None:
    lines = record_lines(records(load(EXAMPLE + ADDRESSES)))
    assert not [line for line in lines if " CNAME " in line]
    for name in ("autoconfig.example.org.", "autodiscover.example.org.", "autoconfig.example.net."):
        assert f"{name} 300 IN A 192.0.2.10" in lines
        assert f"{name} 300 IN AAAA 2001:db8::10" in lines
    assert "_autodiscover._tcp.example.org. 300 IN SRV 0 1 443 autoconfig.example.net." in lines


def test_srv_target_that_is_our_cname_is_a_warning() -> None:
    text = EXAMPLE.replace(
        'hostname = "mail.example.net"\nport = 993', 'hostname = "autodiscover.{domain}"\nport = 993'
    )
    loaded = load(text)
    problems = warnings(loaded, "example.org")
    assert problems == [
        'test.toml: warning: domain "example.org": _imaps._tcp.example.org. points at autodiscover.example.org., '
        "which these records make a CNAME; RFC 2782 forbids an alias as SRV target: use the mail server's own "
        "host name"
    ]
    assert f"; WARNING: {problems[0].split(': ', 3)[3]}" in records(loaded, "example.org")
    # With A/AAAA records instead of CNAMEs the same target is fine.
    assert warnings(load(text + ADDRESSES)) == []


# A domain hoster: customers keep their DNS; kunde-b.example has no names of its own and is
# found through the MX lookup (autoconfig.hoster.example); mail.{domain} is per domain.
HOSTER = (
    configs.service("autoconfig.provider.example")
    + "\n[dns]\ncommon_names = true\n"
    + configs.provider(
        "hoster.example",
        ["kunde-a.example", "kunde-b.example"],
        display_name="Hoster",
        incoming="imap.{domain}",
        outgoing="mail.hoster.example",
        extra='mx = ["mx1.hoster.example", "mx2.hoster.example"]\n',
        after='[provider.overrides."kunde-b.example"]\nown_names = false\n',
    )
)
HOSTER_ADDRESSES = HOSTER.replace("[dns]\n", '[dns]\naddresses = ["192.0.2.10", "2001:db8::10"]\nttl = 300\n')


def test_a_domain_without_own_names_keeps_srv_and_gets_mx() -> None:
    loaded = load(HOSTER)
    text = records(loaded, "kunde-b.example")
    assert record_lines(text) == [
        "kunde-b.example. 3600 IN MX 10 mx1.hoster.example.",
        "kunde-b.example. 3600 IN MX 20 mx2.hoster.example.",
        "_autodiscover._tcp.kunde-b.example. 3600 IN SRV 0 1 443 autoconfig.provider.example.",
        "_imaps._tcp.kunde-b.example. 3600 IN SRV 0 1 993 imap.kunde-b.example.",
        "_imap._tcp.kunde-b.example. 3600 IN SRV 0 0 0 .",
        "_pop3s._tcp.kunde-b.example. 3600 IN SRV 0 0 0 .",
        "_pop3._tcp.kunde-b.example. 3600 IN SRV 0 0 0 .",
        "_submissions._tcp.kunde-b.example. 3600 IN SRV 0 1 465 mail.hoster.example.",
        "_submission._tcp.kunde-b.example. 3600 IN SRV 0 0 0 .",
        # common_names: imap. is the server itself (no CNAME to itself); no POP3, no pop3. names.
        "imaps.kunde-b.example. 3600 IN CNAME imap.kunde-b.example.",
        "smtp.kunde-b.example. 3600 IN CNAME mail.hoster.example.",
        "smtps.kunde-b.example. 3600 IN CNAME mail.hoster.example.",
        "submission.kunde-b.example. 3600 IN CNAME mail.hoster.example.",
    ]
    assert "; own_names = false: no autoconfig.kunde-b.example or autodiscover.kunde-b.example;" in text
    assert "; MX records (from [[provider]] mx of hoster.example): mail delivery, and clients that find" in text
    assert "; Optional ([dns] common_names): the classic names people type and clients guess" in text
    # --domain prints that domain only, not the MX lookup block.
    assert "autoconfig.hoster.example" not in record_lines(text)[0] and "MX lookup domain" not in text
    assert warnings(loaded) == []


def test_mx_lookup_domain_once_and_only_when_not_hosted() -> None:
    text = records(load(HOSTER))
    lines = record_lines(text)
    assert lines.count("autoconfig.hoster.example. 3600 IN CNAME autoconfig.provider.example.") == 1
    assert lines[-1] == "autoconfig.hoster.example. 3600 IN CNAME autoconfig.provider.example."
    assert "; ---- autoconfig.hoster.example: MX lookup domain of hoster.example ----" in text
    assert '; "domain hosters"). Clients that find no autoconfig.<domain> take the domain of its MX' in text
    assert "autoconfig.kunde-a.example. 3600 IN CNAME autoconfig.provider.example." in lines
    assert not [line for line in lines if line.startswith(("autoconfig.kunde-b", "autodiscover.kunde-b"))]
    # With [dns] addresses: A/AAAA records there too.
    lines = record_lines(records(load(HOSTER_ADDRESSES)))
    assert "autoconfig.hoster.example. 300 IN A 192.0.2.10" in lines
    assert "autoconfig.hoster.example. 300 IN AAAA 2001:db8::10" in lines
    # An MX lookup domain that is hosted needs nothing more: its own names are there.
    hosted = EXAMPLE.replace("list_all_domains = false", 'list_all_domains = false\nmx = ["mx.example.com"]')
    text = records(load(hosted))
    assert "MX lookup domain" not in text
    assert "example.org. 3600 IN MX 10 mx.example.com." in record_lines(text)


def test_common_names_for_the_example() -> None:
    lines = record_lines(records(load(EXAMPLE + "\n[dns]\ncommon_names = true\n"), "example.org"))
    cnames = [line for line in lines if " CNAME " in line and not line.startswith("auto")]
    assert cnames == [
        f"{label}.example.org. 3600 IN CNAME mail.example.net."
        for label in ("imap", "imaps", "pop3", "pop3s", "smtp", "smtps", "submission")
    ]
    assert not any(" MX " in line for line in lines)  # the example lists no mx hosts


def test_mx_targets_are_never_our_cnames() -> None:
    # A common name that is an MX host stays the admin's: no CNAME (RFC 2181 section 10.3).
    text = HOSTER.replace('mx = ["mx1.hoster.example", "mx2.hoster.example"]', 'mx = ["smtp.kunde-a.example"]')
    lines = record_lines(records(load(text), "kunde-a.example"))
    assert "kunde-a.example. 3600 IN MX 10 smtp.kunde-a.example." in lines
    assert not [line for line in lines if line.startswith("smtp.kunde-a.example.")]
    assert warnings(load(text)) == []
    # An MX host that the records themselves make a CNAME is a warning.
    text = HOSTER.replace('mx = ["mx1.hoster.example", "mx2.hoster.example"]', 'mx = ["autoconfig.kunde-a.example"]')
    assert warnings(load(text), "kunde-a.example") == [
        'test.toml: warning: domain "kunde-a.example": MX autoconfig.kunde-a.example. is a name these records '
        "make a CNAME; an MX target must not be an alias (RFC 2181 section 10.3): use the mail server's own host name"
    ]


# -- named-checkzone --------------------------------------------------------------------------------


@needs_checkzone
@pytest.mark.parametrize(
    "config_text",
    [
        pytest.param(EXAMPLE, id="example"),
        pytest.param(HOSTING_CONFIG, id="idn-overrides"),
        pytest.param(EXAMPLE + ADDRESSES, id="addresses"),
        pytest.param(HOSTER, id="hoster-mx-common-names"),
        pytest.param(HOSTER_ADDRESSES, id="hoster-addresses"),
        pytest.param(EXAMPLE + "\n[dns]\ncommon_names = true\n", id="example-common-names"),
    ],
)
def test_named_checkzone_accepts_every_domain(tmp_path: Path, config_text: str) -> None:
    loaded = load(config_text)
    for name in loaded.domains():
        result = checkzone(tmp_path, name, records(loaded, name))
        assert result.returncode == 0, (name, result.stdout, result.stderr)
        assert result.stdout.rstrip().endswith("OK"), result.stdout
    # The MX lookup names, in the zone of their domain.
    for lookup in lookup_plans(loaded):
        block = [line for group in lookup.groups for line in _zone_lines(group, loaded.dns.ttl)]
        result = checkzone(tmp_path, lookup.mx_domain, "\n".join(block) + "\n")
        assert result.returncode == 0, (lookup.mx_domain, result.stdout, result.stderr)


def _zone_lines(group, ttl: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{rrset.name} {ttl} IN {rrset.type} {value}" for rrset in group.rrsets for value in rrset.values]


@needs_checkzone
def test_named_checkzone_agrees_srv_to_cname_is_wrong(tmp_path: Path) -> None:
    loaded = load(
        EXAMPLE.replace('hostname = "mail.example.net"\nport = 993', 'hostname = "autodiscover.{domain}"\nport = 993')
    )
    result = checkzone(tmp_path, "example.org", records(loaded, "example.org"))
    assert result.returncode == 1  # named-checkzone: 1 when the zone has errors
    assert "SRV" in result.stdout and "CNAME" in result.stdout, result.stdout


# -- check-dns against a real DNS server -------------------------------------------------------------


@pytest.fixture
def dnsmasq(tmp_path: Path) -> Iterator:
    started: list[Dnsmasq] = []

    def start(options: list[str], local_domains: list[str]) -> Dnsmasq:
        server = Dnsmasq(tmp_path, options, [*local_domains, "invalid"])
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


LOCAL = ["example.net", "example.org", "example.com"]


@needs_dnsmasq
def test_check_dns_all_ok(tmp_path: Path, dnsmasq) -> None:  # type: ignore[no-untyped-def]
    server = dnsmasq([SERVICE_HOST, *dnsmasq_options(records(load(EXAMPLE)))], LOCAL)
    result = check_dns(EXAMPLE_CONFIG, server)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # 1 public_hostname, then per domain 9 RRsets (example.net has no autoconfig CNAME: it is the service).
    assert len(lines) == 1 + 8 + 9 + 9
    assert all(line.startswith("ok ") for line in lines), result.stdout
    assert lines[0] == "ok      autoconfig.example.net. A/AAAA 127.0.0.1"
    assert "ok      autodiscover.example.org. CNAME autoconfig.example.net." in lines
    assert "ok      _imaps._tcp.example.org. SRV 0 1 993 mail.example.net." in lines
    assert result.stderr.startswith(f"check-dns: {len(lines)} ok, 0 missing, 0 wrong, 0 error")


@needs_dnsmasq
def test_check_dns_reports_exactly_the_mistakes(tmp_path: Path, dnsmasq) -> None:  # type: ignore[no-untyped-def]
    correct = dnsmasq_options(records(load(EXAMPLE)))
    broken = []
    for option in correct:
        if option.startswith("--srv-host=_submission._tcp.example.org,"):
            continue  # missing
        if option == "--cname=autodiscover.example.org,autoconfig.example.net":
            option = "--cname=autodiscover.example.org,elsewhere.example.net"  # pointing elsewhere
        if option.startswith("--srv-host=_imaps._tcp.example.com,"):
            option = option.replace(",993,", ",994,")  # wrong port
        broken.append(option)
    assert len(broken) == len(correct) - 1
    good = dnsmasq([SERVICE_HOST, *correct], LOCAL)
    bad = dnsmasq([SERVICE_HOST, "--host-record=elsewhere.example.net,127.0.0.2", *broken], LOCAL)

    expected_ok = check_dns(EXAMPLE_CONFIG, good).stdout.splitlines()
    result = check_dns(EXAMPLE_CONFIG, bad)
    assert result.returncode == 1
    mistakes = {
        "ok      autodiscover.example.org. CNAME autoconfig.example.net.":
            "wrong   autodiscover.example.org. CNAME: expected autoconfig.example.net.; found elsewhere.example.net.",
        "ok      _submission._tcp.example.org. SRV 1 1 587 mail.example.net.":
            "missing _submission._tcp.example.org. SRV (optional): expected 1 1 587 mail.example.net.; "
            "found nothing (no such name)",
        "ok      _imaps._tcp.example.com. SRV 0 1 993 mail.example.net.":
            "wrong   _imaps._tcp.example.com. SRV (optional): expected 0 1 993 mail.example.net.; "
            "found 0 1 994 mail.example.net.",
    }  # fmt: skip
    assert set(mistakes) <= set(expected_ok)
    assert result.stdout.splitlines() == [mistakes.get(line, line) for line in expected_ok]
    assert "check-dns: 24 ok, 1 missing, 2 wrong, 0 error" in result.stderr


@needs_dnsmasq
def test_check_dns_compares_address_sets(tmp_path: Path, dnsmasq) -> None:  # type: ignore[no-untyped-def]
    config_path = tmp_path / "autoconfig.toml"
    config_path.write_text(EXAMPLE + ADDRESSES, encoding="utf-8")
    options = [
        option.replace("2001:db8::10", "2001:db8::99")
        if option.startswith("--host-record=autoconfig.example.org,")
        else option
        for option in dnsmasq_options(records(load(EXAMPLE + ADDRESSES)))
    ]
    server = dnsmasq(options, LOCAL)
    result = check_dns(config_path, server, "--domain", "EXAMPLE.org")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "ok      autoconfig.example.net. A/AAAA 192.0.2.10, 2001:db8::10",
        "ok      autoconfig.example.org. A 192.0.2.10",
        "wrong   autoconfig.example.org. AAAA: expected 2001:db8::10; found 2001:db8::99",
        "ok      autodiscover.example.org. A 192.0.2.10",
        "ok      autodiscover.example.org. AAAA 2001:db8::10",
    ]
    assert all(line.startswith("ok ") for line in lines[5:])


HOSTER_LOCAL = ["kunde-a.example", "kunde-b.example", "hoster.example", "provider.example"]


@needs_dnsmasq
def test_check_dns_checks_mx_lookup_names_and_common_names(tmp_path: Path, dnsmasq) -> None:  # type: ignore[no-untyped-def]
    config_path = tmp_path / "autoconfig.toml"
    config_path.write_text(HOSTER, encoding="utf-8")
    correct = ["--host-record=autoconfig.provider.example,127.0.0.1", *dnsmasq_options(records(load(HOSTER)))]
    result = check_dns(config_path, dnsmasq(correct, HOSTER_LOCAL))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "ok      kunde-b.example. MX 10 mx1.hoster.example., 20 mx2.hoster.example." in lines
    assert "ok      autoconfig.hoster.example. CNAME autoconfig.provider.example." in lines
    assert lines[-1] == "ok      autoconfig.hoster.example. CNAME autoconfig.provider.example."  # after the domains
    assert "ok      smtps.kunde-a.example. CNAME mail.hoster.example." in lines
    assert not any("autoconfig.kunde-b" in line for line in lines)
    # An MX record the zone has in another order, and a missing MX lookup name.
    broken = [
        option.replace("mx1.hoster.example,10", "mx1.hoster.example,30")
        for option in correct
        if option != "--cname=autoconfig.hoster.example,autoconfig.provider.example"
    ]
    result = check_dns(config_path, dnsmasq(broken, HOSTER_LOCAL))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert (
        "wrong   kunde-a.example. MX: expected 10 mx1.hoster.example., 20 mx2.hoster.example.; "
        "found 20 mx2.hoster.example., 30 mx1.hoster.example."
    ) in lines
    assert lines[-1] == (
        "missing autoconfig.hoster.example. CNAME: expected autoconfig.provider.example.; found nothing (no such name)"
    )


@pytest.mark.slow  # scale: 100,000 domains
def test_dns_for_100000_domains_takes_seconds(tmp_path: Path) -> None:
    """Planned once per config, not per domain: a big hoster's records print in seconds."""
    domains = ", ".join(f'"d{number:05d}.example"' for number in range(1, 100_001))
    text = EXAMPLE.replace('domains = ["example.net", "example.org", "example.com"]', f"domains = [{domains}]")
    loaded = load(text)
    started = time.monotonic()
    lines = records(loaded).count("\n")
    assert lines > 3_000_000
    assert time.monotonic() - started < 60


def test_check_dns_gives_up_on_a_silent_resolver(tmp_path: Path) -> None:
    # A UDP socket that reads nothing: every query times out. Bounded: a few timeouts, then no more asking.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        result = run("check-dns", "--domain", "example.org", "--resolver", f"127.0.0.1:{port}")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 10
    timeout = f"nothing: no answer within {checkdns.QUERY_TIMEOUT:g} s"
    assert lines[0] == f"error   autoconfig.example.net. A/AAAA: expected an address of this service; found {timeout}"
    assert lines[2].endswith(f"found {timeout}")
    assert lines[3] == (
        "error   _autodiscover._tcp.example.org. SRV (optional): expected 0 1 443 autoconfig.example.net.; "
        "found nothing: not asked, the resolver timed out 3 times in a row"
    )


# -- command-line errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["dns", "check-dns"])
def test_unknown_domain(command: str) -> None:
    args = [command, "--domain", "nothosted.example"]
    if command == "check-dns":
        args += ["--resolver", "127.0.0.1:9"]  # never asked: the domain is refused first
    result = run(*args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert (
        result.stderr.strip()
        == f'{command}: --domain: "nothosted.example" is not a hosted domain of config/autoconfig.toml'
    )


@pytest.mark.parametrize("command", ["dns", "check-dns"])
def test_config_errors(tmp_path: Path, command: str) -> None:
    config_path = tmp_path / "autoconfig.toml"
    config_path.write_text(EXAMPLE.replace("port = 993", "port = 99999"), encoding="utf-8")
    result = run(command, "--config", str(config_path))
    assert result.returncode == 1
    assert result.stdout == ""
    problems = result.stderr.splitlines()
    assert problems[-1] == f"{config_path}: 1 error(s); not usable"
    assert "port 99999 is not a port (1-65535)" in problems[0]


@pytest.mark.parametrize("command", ["dns", "nginx"])
def test_a_config_file_name_cannot_add_lines(tmp_path: Path, command: str) -> None:
    """The header names the config file; a line break in its name stays in the comment, escaped."""
    config_path = tmp_path / "x\nevil.example. 60 IN A 192.0.2.66\n;.toml"
    config_path.write_text(EXAMPLE, encoding="utf-8")
    result = run(command, "--config", str(config_path), *(["--http-only"] if command == "nginx" else []))
    assert result.returncode == 0, result.stderr
    assert "evil" not in result.stdout.split("\n", 1)[1]
    assert "x\\nevil.example. 60 IN A 192.0.2.66\\n;.toml" in result.stdout.splitlines()[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
    ],
)
def test_parse_resolver(value: str, expected: tuple[str, int]) -> None:
    assert checkdns.parse_resolver(value) == expected


@pytest.mark.parametrize(
    "value",
    ["localhost", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000", "[127.0.0.1]:53", "[::1]x", "::1:53:", "[::1]:"],
)
def test_bad_resolver(value: str) -> None:
    with pytest.raises(ValueError):
        checkdns.parse_resolver(value)
    result = run("check-dns", "--resolver", value)
    assert result.returncode == 1
    assert result.stderr.startswith(f'check-dns: --resolver: "{value}"')
