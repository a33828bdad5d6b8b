"""The digest guard in the running service: it looks its PACC digests up in DNS and counts the stale ones.

End to end: the real service (waitress, tests/support/service.py) asks a
real dnsmasq on 127.0.0.1 (tests/support/dns.py), named by ``[pacc]
resolver``; the zone is "fixed" by restarting dnsmasq on the same port
with the new records, and the counts in /metrics and /healthz follow
within the re-check interval (polled with a deadline, never timed). A
resolver that does not answer gives "unknown", never "stale". No test here
or anywhere asks the system's resolver: every service that serves PACC
names a loopback resolver or turns the check off.

Beside them, unit tests of the pacing and scheduling (pacc/schedule.py),
which are pure: times are passed in.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from support import configs
from support.dns import DNSMASQ
from support.dns import Dnsmasq
from support.dns import free_udp_port
from support.service import Service

from mailautoconf import config as config_loader
from mailautoconf import paccspec
from mailautoconf.model import PaccSettings
from mailautoconf.pacc import guard as paccguard
from mailautoconf.pacc import watch
from mailautoconf.pacc.schedule import Counts
from mailautoconf.pacc.schedule import Pacer
from mailautoconf.pacc.schedule import Schedule
from mailautoconf.render import pacc
from mailautoconf.render.templates import provider_templates

needs_dnsmasq = pytest.mark.skipif(DNSMASQ is None, reason="needs dnsmasq (Debian dnsmasq-base)")

DOMAINS = ("right.example", "wrong.example", "missing.example")
HEAD = configs.service("autoconfig.example.net")


def pacc_provider(name: str = "Example Mail") -> str:
    """The provider that opts in to PACC for DOMAINS, under the display name ``name``."""
    return configs.provider(
        "example.net",
        list(DOMAINS),
        display_name=name,
        incoming="imap.example.net",
        outgoing="smtp.example.net",
        extra="pacc = true",
    )


# The watcher's pace for tests: a re-check every second, nothing held back by the rate.
PACE = "recheck_interval = 1\nqueries_per_second = 100\n"


def config_text(port: int, name: str = "Example Mail") -> str:
    return HEAD + f'\n[pacc]\nresolver = "127.0.0.1:{port}"\n{PACE}' + pacc_provider(name)


def records(text: str) -> dict[str, str]:
    """Domain -> the TXT record text `dns` prints for it: the digest of what the service serves."""
    provider = config_loader.loads(text, "test.toml").config.providers[0]
    return {domain.name: paccspec.txt_record(pacc.render(provider, domain)) for domain in provider.domains}


def zone(workdir: Path, txt: dict[str, list[str]], port: int | None = None) -> Dnsmasq:
    """A dnsmasq holding these _ua-auto-config TXT records (domain -> texts); other names get NXDOMAIN."""
    options = [f"--txt-record=_ua-auto-config.{domain},{text}" for domain, texts in txt.items() for text in texts]
    return Dnsmasq(workdir, options, [*DOMAINS, "invalid"], port=port)


def gauges(service: Service) -> dict[str, float]:
    found = service.metrics()
    return {kind: found[(f"mailautoconf_pacc_digests_{kind}", ())] for kind in ("stale", "unknown", "unchecked")}


def settled(service: Service, stale: int, *, unknown: int = 0) -> dict:  # type: ignore[type-arg]
    """Wait until /healthz says every domain was looked up and ``stale`` are stale; that health."""
    return service.wait_for(  # type: ignore[no-any-return]
        lambda: (
            (health := service.health())["pacc_digests_unchecked"] == 0
            and health["pacc_digests_stale"] == stale
            and health["pacc_digests_unknown"] == unknown
            and health
        ),
        timeout=30,
        what=f"{stale} stale, {unknown} unknown, none unchecked",
    )


def replace_by_rename(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


# -- end to end -------------------------------------------------------------------------------------


@needs_dnsmasq
def test_a_stale_and_a_missing_digest_are_counted_until_the_zone_is_fixed(tmp_path: Path, make_service) -> None:  # type: ignore[no-untyped-def]
    dns_dir = tmp_path / "dns"
    dns_dir.mkdir()
    port = free_udp_port()
    text = config_text(port)
    right = records(text)
    stale = "v=UAAC1; a=sha256; d=" + paccspec.digest(b"what was served last week")
    # right.example: the digest served; wrong.example: an old one; missing.example: no record (NXDOMAIN).
    server = zone(dns_dir, {"right.example": [right["right.example"]], "wrong.example": [stale]}, port)
    try:
        service = make_service(text)
        # What dns digests is what the service serves: the records above are the right ones.
        for domain in DOMAINS:
            body = service.get(paccspec.PATH, host=f"ua-auto-config.{domain}").content
            assert paccspec.txt_record(body) == right[domain]
        health = settled(service, 2)
        assert health["pacc_dns_check"] == "on"
        assert sorted(health["pacc_digests_stale_domains"]) == ["missing.example", "wrong.example"]
        assert gauges(service) == {"stale": 2, "unknown": 0, "unchecked": 0}
        service.wait_for(
            lambda: "PACC digests stale in DNS for 2 domain(s) (was 0): " in service.log(), what="the log line"
        )
        # The zone is fixed: the new record beside the old one, as docs/pacc.md's steps say.
        server.stop()
        fixed = {"wrong.example": [stale, right["wrong.example"]], "missing.example": [right["missing.example"]]}
        server = zone(dns_dir, {"right.example": [right["right.example"]], **fixed}, port)
        health = settled(service, 0)
        assert health["pacc_digests_stale_domains"] == []
        assert gauges(service) == {"stale": 0, "unknown": 0, "unchecked": 0}
        service.wait_for(lambda: "no domain is stale in DNS any more (was " in service.log(), what="the log line")
        # The access log and these lines name domains, never the resolver's address.
        assert f"127.0.0.1:{port}" not in service.log()
    finally:
        server.stop()


@needs_dnsmasq
def test_an_edit_that_changes_the_digest_is_stale_until_dns_is_updated(tmp_path: Path, make_service) -> None:  # type: ignore[no-untyped-def]
    dns_dir = tmp_path / "dns"
    dns_dir.mkdir()
    port = free_udp_port()
    text = config_text(port)
    old = records(text)
    server = zone(dns_dir, {domain: [value] for domain, value in old.items()}, port)
    try:
        service = make_service(text)
        settled(service, 0)
        # The provider's name changes: every domain's document, and so its digest.
        edited = config_text(port, name="Renamed Mail")
        new = records(edited)
        assert all(new[domain] != old[domain] for domain in DOMAINS)
        replace_by_rename(service.config_path, edited)
        health = settled(service, 3)
        assert health["pacc_digests_changed"] == 3
        assert gauges(service)["stale"] == 3
        # DNS updated for two of them: the count falls to one, then to none.
        server.stop()
        server = zone(dns_dir, {"right.example": [new["right.example"]], "wrong.example": [new["wrong.example"]]}, port)
        assert settled(service, 1)["pacc_digests_stale_domains"] == ["missing.example"]
        server.stop()
        server = zone(dns_dir, {domain: [value] for domain, value in new.items()}, port)
        settled(service, 0)
    finally:
        server.stop()


def test_an_unreachable_resolver_gives_unknown_not_stale(make_service) -> None:  # type: ignore[no-untyped-def]
    # Nothing listens on this port of 127.0.0.1: every look-up times out.
    service = make_service(config_text(free_udp_port()))

    def all_unknown() -> bool:
        health = service.health()
        assert health["pacc_digests_stale"] == 0, health  # at no moment stale
        return bool(
            health["pacc_digests_unknown"] + health["pacc_digests_unchecked"] == 3 and health["pacc_digests_unknown"]
        )

    service.wait_for(all_unknown, timeout=30, what="unknown look-ups")
    found = gauges(service)
    assert found["stale"] == 0 and found["unknown"] >= 1 and found["unknown"] + found["unchecked"] == 3
    assert "stale in DNS" not in service.log()


def test_off_without_a_provider_that_opts_in_and_with_check_dns_false(make_service) -> None:  # type: ignore[no-untyped-def]
    # No provider with pacc = true: nothing is asked (the resolver named would time out).
    plain = config_text(free_udp_port()).replace("pacc = true\n", "")
    off = HEAD + "\n[pacc]\ncheck_dns = false\n" + pacc_provider()
    for text in (plain, off):
        service = make_service(text)
        health = service.health()
        assert health["pacc_dns_check"] == "off"
        assert (health["pacc_digests_stale"], health["pacc_digests_unknown"], health["pacc_digests_unchecked"]) == (
            0,
            0,
            0,
        )
        assert gauges(service) == {"stale": 0, "unknown": 0, "unchecked": 0}
        assert "looking up every domain" not in service.log()


# -- settings -----------------------------------------------------------------------------------------


def test_defaults() -> None:
    loaded = config_loader.loads(HEAD + pacc_provider(), "test.toml").config
    assert loaded.pacc == PaccSettings(True, None, 300, 86400, 20)
    assert watch.enabled(loaded)
    plain = pacc_provider().replace("pacc = true\n", "")
    written = config_loader.loads(
        HEAD + '[pacc]\nresolver = "[::1]:5353"\nsweep_interval = 3600\nqueries_per_second = 5\n' + plain,
        "test.toml",
    )
    assert written.config.pacc == PaccSettings(True, "[::1]:5353", 300, 3600, 5)
    assert not watch.enabled(written.config)  # no provider opts in


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        pytest.param('resolver = "localhost"', 'resolver "localhost" is not IP, IP:PORT or [IPv6]:PORT '
                     "(e.g. 127.0.0.1:5353 or [::1]:53)", id="resolver-name"),
        pytest.param('resolver = "127.0.0.1:0"', 'resolver "127.0.0.1:0": the port is not 1-65535', id="port"),
        pytest.param("resolver = 53", '"resolver" must be a string, not a number', id="resolver-type"),
        pytest.param('check_dns = "yes"', '"check_dns" must be true or false, not a string', id="check-dns"),
        pytest.param("recheck_interval = 0", "recheck_interval 0 is not a number of seconds (1-86400)",
                     id="recheck"),
        pytest.param("sweep_interval = 10", "sweep_interval 10 is not a number of seconds (60-2592000)",
                     id="sweep"),
        pytest.param("queries_per_second = 5000",
                     "queries_per_second 5000 is not a number of queries a second (1-1000)", id="rate"),
        pytest.param("queries_per_second = 1.5", '"queries_per_second" must be a whole number, not a decimal number',
                     id="rate-float"),
        pytest.param("resolvers = []", 'unknown key "resolvers" (did you mean "resolver"?); known keys: '
                     "check_dns, resolver, recheck_interval, sweep_interval, queries_per_second", id="unknown-key"),
    ],
)  # fmt: skip
def test_setting_errors(setting: str, expected: str) -> None:
    text = HEAD + "\n[pacc]\n" + setting + "\n" + pacc_provider()
    with pytest.raises(config_loader.ConfigError) as caught:
        config_loader.loads(text, "test.toml")
    assert [str(problem) for problem in caught.value.problems] == [f"test.toml, line 5: [pacc]: {expected}"]


def test_pacc_must_be_a_table() -> None:
    with pytest.raises(config_loader.ConfigError) as caught:
        config_loader.loads('pacc = "on"\n' + HEAD, "test.toml")
    assert [problem.message for problem in caught.value.problems] == ["[pacc] must be a table, not a string"]


# -- what a reload hands the watcher (paccguard) ---------------------------------------------------------


def changes(before: str, after: str) -> paccguard.DigestChanges:
    old = config_loader.loads(before, "test.toml").config.providers[0]
    new = config_loader.loads(after, "test.toml").config.providers[0]
    return paccguard.digest_changes([(old, provider_templates(old))], [(new, provider_templates(new))])


def test_a_reload_names_the_published_digests_it_changed_and_those_it_withdrew() -> None:
    text = pacc_provider()
    renamed = changes(HEAD + text, HEAD + pacc_provider("Renamed"))
    assert (renamed.count, sorted(renamed.published), renamed.withdrawn) == (3, sorted(DOMAINS), ())
    # A domain without own names has a document but no TXT record: counted as changed, not looked up.
    no_names = '\n[provider.overrides."missing.example"]\nown_names = false\n'
    hidden = changes(HEAD + text, HEAD + text + no_names)
    assert hidden.withdrawn == ("missing.example",) and hidden.published == ()
    assert changes(HEAD + text + no_names, HEAD + text).published == ("missing.example",)
    # Opting out, and a domain leaving: their records are withdrawn.
    out = changes(HEAD + text, HEAD + text.replace("pacc = true\n", ""))
    assert (out.count, sorted(out.withdrawn)) == (0, sorted(DOMAINS))
    fewer = changes(HEAD + text, HEAD + text.replace(', "missing.example"', ""))
    assert (fewer.count, fewer.published, fewer.withdrawn) == (0, (), ("missing.example",))
    # The same documents: nothing to look up.
    assert changes(HEAD + text, HEAD + text + "\n") == paccguard.DigestChanges(0)


# -- the schedule, without DNS -------------------------------------------------------------------------


def drain(schedule: Schedule, now: float, verdicts: dict[str, str | None] | None = None) -> list[str]:
    """Look up everything due at ``now`` (ok unless ``verdicts`` says otherwise); the names, in order."""
    asked: list[str] = []
    while isinstance(name := schedule.next(now), str):
        asked.append(name)
        schedule.record(name, (verdicts or {}).get(name, "ok"), now)  # type: ignore[arg-type]
        assert len(asked) <= 1_000_000, "no end"
    return asked


def test_first_sweep_counts_what_it_has_ahead_as_unchecked() -> None:
    schedule = Schedule(recheck=60, sweep_every=3600)
    assert schedule.sweep_due(0)
    schedule.start_sweep(["c.example", "a.example", "b.example", "a.example"], 0)
    assert schedule.counts() == Counts(unchecked=3)
    assert schedule.next(0) == "a.example"  # in name order
    schedule.record("a.example", "stale", 0)
    assert schedule.counts() == Counts(stale=1, unchecked=2)
    schedule.record("b.example", "unknown", 0)
    schedule.record("c.example", "ok", 0)
    assert schedule.counts() == Counts(stale=1, unknown=1)
    assert not schedule.sweep_due(0) and schedule.idle
    assert schedule.next(0) == 60  # the re-checks are due in a minute
    assert schedule.stale_names(10) == ("a.example",)


def test_changed_domains_come_first_and_are_not_asked_twice_during_the_first_sweep() -> None:
    schedule = Schedule(recheck=60, sweep_every=3600)
    schedule.start_sweep([f"d{index:02}.example" for index in range(10)], 0)
    drain_until = "d04.example"
    while (name := schedule.next(0)) != drain_until:
        schedule.record(name, "ok", 0)  # type: ignore[arg-type]
    assert schedule.counts() == Counts(unchecked=6)
    # d01 was passed: it is queued, and asked before the sweep goes on; d07 is still ahead: left to the sweep.
    # new.example has no place in the sweep: queued.
    schedule.changed(["d07.example", "d01.example", "new.example"])
    assert schedule.counts() == Counts(unchecked=8)
    assert drain(schedule, 0) == [
        "d01.example",
        "new.example",
        *(f"d{index:02}.example" for index in range(4, 10)),
    ]
    assert schedule.counts() == Counts()


def test_a_changed_stale_domain_is_unchecked_until_asked_and_recheck_ends_when_dns_catches_up() -> None:
    schedule = Schedule(recheck=60, sweep_every=3600)
    schedule.start_sweep(["a.example", "b.example"], 0)
    drain(schedule, 0, {"a.example": "stale", "b.example": "stale"})
    assert schedule.counts() == Counts(stale=2)
    assert schedule.next(30) == 30  # due at 60
    schedule.changed(["b.example"])  # a new digest: the old verdict is void
    assert schedule.counts() == Counts(stale=1, unchecked=1)
    assert drain(schedule, 30, {"b.example": "stale"}) == ["b.example"]
    assert drain(schedule, 60, {"a.example": "stale"}) == ["a.example"]  # b is due at 90 now
    assert drain(schedule, 90) == ["b.example"]
    assert schedule.counts() == Counts(stale=1)
    assert drain(schedule, 120) == ["a.example"]  # DNS caught up
    assert schedule.counts() == Counts()
    assert schedule.next(120) == 3600 - 120  # only the next sweep, an hour after the first ended at 0


def test_withdrawn_domains_leave_every_count_and_the_sweep() -> None:
    schedule = Schedule(recheck=60, sweep_every=3600)
    schedule.start_sweep(["a.example", "b.example", "c.example", "d.example"], 0)
    schedule.record("a.example", "stale", 0)
    schedule.withdrawn(["a.example", "c.example", "d.example"])
    assert schedule.counts() == Counts(unchecked=1)
    assert drain(schedule, 0) == ["b.example"]
    assert schedule.idle and schedule.counts() == Counts()
    # Withdrawn and back before the sweep got there: swept once, counted once.
    schedule = Schedule(recheck=60, sweep_every=3600)
    schedule.start_sweep(["a.example", "b.example"], 0)
    schedule.withdrawn(["b.example"])
    schedule.changed(["b.example"])
    assert schedule.counts() == Counts(unchecked=2)
    assert drain(schedule, 0) == ["a.example", "b.example"]


def test_later_sweeps_are_not_unchecked_and_start_after_the_interval() -> None:
    schedule = Schedule(recheck=60, sweep_every=3600)
    schedule.start_sweep(["a.example"], 0)
    drain(schedule, 10)
    assert not schedule.sweep_due(3609) and schedule.sweep_due(3610)
    schedule.start_sweep(["a.example", "b.example"], 3610)
    assert schedule.counts() == Counts()  # known from the first sweep, or new: changes name those
    assert drain(schedule, 3610, {"b.example": "stale"}) == ["a.example", "b.example"]
    assert schedule.counts() == Counts(stale=1)
    # Nothing to sweep at all: no busy loop, the next sweep an interval later.
    empty = Schedule(recheck=60, sweep_every=3600)
    empty.start_sweep([], 5)
    assert empty.next(5) == 3600 and not empty.sweep_due(5)


def test_nothing_to_do_waits_forever_until_told() -> None:
    schedule = Schedule(recheck=60, sweep_every=math.inf)
    schedule.start_sweep(["a.example"], 0)
    drain(schedule, 0)
    assert schedule.next(0) == math.inf
    schedule.changed(["a.example"])
    assert schedule.next(0) == "a.example"


def test_state_is_held_for_the_stale_only() -> None:
    """At 100,000 domains, all right in DNS: after the first sweep nothing per domain is held."""
    schedule = Schedule(recheck=300, sweep_every=86400)
    names = [f"customer{index}.example" for index in range(100_000)]
    schedule.start_sweep(names, 0)
    assert schedule.counts() == Counts(unchecked=100_000)
    stale = {name: "stale" for name in names[::1000]}
    assert len(drain(schedule, 0, stale)) == 100_000  # type: ignore[arg-type]
    assert schedule.counts() == Counts(stale=100)
    assert schedule._sweep is None and not schedule._waiting and len(schedule._stale) == 100
    assert len(schedule._due) == 100


def test_pacer_spaces_queries_evenly_without_bursts() -> None:
    pacer = Pacer(10)
    assert pacer.delay(0) == 0
    pacer.sent(0)
    assert pacer.delay(0) == pytest.approx(0.1)
    assert pacer.delay(0.05) == pytest.approx(0.05)
    pacer.sent(0.1)
    assert pacer.delay(0.1) == pytest.approx(0.1)
    # After an idle minute the next goes at once, and the one after it waits its turn again: no saved-up burst.
    assert pacer.delay(60) == 0
    pacer.sent(60)
    assert pacer.delay(60) == pytest.approx(0.1)
