"""Certificate bundles (`service.py certs`): at most max_names names each, stable when domains come and go.

Pure functions of the model, so these run without DNS or nginx. The
configs are generated: a provider like the shipped one with thousands of
domains d00001.example, d00002.example, ...
"""

from __future__ import annotations

import dataclasses
import random
import re
import subprocess
import sys

import pytest
from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT

from mailautoconf import config as config_loader
from mailautoconf.deploy import certs
from mailautoconf.deploy.certs import TRIE_BITS
from mailautoconf.deploy.certs import bundle
from mailautoconf.deploy.certs import certificates
from mailautoconf.deploy.certs import service_bundles
from mailautoconf.model import Config
from mailautoconf.model import Domain

EXAMPLE = EXAMPLE_CONFIG.read_text(encoding="utf-8")
ALIAS = re.compile(rf"^(autoconfig|mail|dovecot|postfix)-([0-9a-f]{{{TRIE_BITS // 4}}})(?:-(\d+))?$")
PER_DOMAIN_HOSTS = 'hostname = "mail.{domain}"'


def generated(count: int, *, text: str = EXAMPLE, extra: str = "") -> Config:
    """The shipped config with ``count`` generated domains instead of its three."""
    domains = ", ".join(f'"d{number:05d}.example"' for number in range(1, count + 1))
    replaced = text.replace('domains = ["example.net", "example.org", "example.com"]', f"domains = [{domains}]")
    assert replaced != text
    return config_loader.loads(replaced + extra, "generated.toml").config


def with_domains(loaded: Config, names: list[str]) -> Config:
    """``loaded`` with its (one) provider hosting exactly ``names``."""
    (provider,) = loaded.providers
    domains = tuple(Domain(name, name) for name in names)
    return dataclasses.replace(loaded, providers=(dataclasses.replace(provider, domains=domains),))


def changed(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    """The aliases in both whose name set differs."""
    return [alias for alias in before.keys() & after.keys() if set(before[alias]) != set(after[alias])]


def families(certificates_by_alias: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    found: dict[str, dict[str, list[str]]] = {}
    for alias, names in certificates_by_alias.items():
        match = ALIAS.match(alias)
        assert match, alias
        found.setdefault(match.group(1), {})[alias] = names
    return found


@pytest.fixture(scope="module")
def five_thousand() -> Config:
    return generated(5000)


# -- size -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_names", [3, 10, 100])
@pytest.mark.parametrize("well_known", [False, True])
def test_bundles_never_exceed_max_names_and_hold_every_name_once(
    five_thousand: Config, max_names: int, well_known: bool
) -> None:
    loaded = dataclasses.replace(five_thousand, tls=dataclasses.replace(five_thousand.tls, max_names=max_names))
    found = service_bundles(loaded, well_known=well_known)
    assert all(1 <= len(names) <= max_names for names in found.values())
    every = [name for names in found.values() for name in names]
    expected = {f"{prefix}.d{n:05d}.example" for n in range(1, 5001) for prefix in ("autoconfig", "autodiscover")}
    if well_known:
        expected |= {f"d{n:05d}.example" for n in range(1, 5001)}
    expected.add(loaded.service.public_hostname)  # autoconfig.example.net: the SRV target
    assert len(every) == len(set(every)) and set(every) == expected
    if max_names >= 3 * (1 + well_known):  # a leaf splits only at the depth limit: a domain's names stay together
        where = {name: alias for alias, names in found.items() for name in names}
        assert all(where[f"autoconfig.d{n:05d}.example"] == where[f"autodiscover.d{n:05d}.example"] for n in (1, 77))


def test_at_the_depth_limit_a_leaf_is_spread_over_suffixed_certificates(five_thousand: Config) -> None:
    """max_names 3 with three names a domain: domains whose keys share 16 bits cannot share a certificate."""
    loaded = dataclasses.replace(five_thousand, tls=dataclasses.replace(five_thousand.tls, max_names=3))
    found = service_bundles(loaded, well_known=True)
    suffixed = [alias for alias in found if ALIAS.match(alias).group(3)]  # type: ignore[union-attr]
    assert suffixed, "5,000 keys in 65,536 prefixes: some share one (birthday bound)"
    for alias in suffixed:
        assert ALIAS.match(alias).group(3) != "1"  # type: ignore[union-attr]
        assert alias.rsplit("-", 1)[0] in found  # the first part keeps the plain alias
    assert max(len(names) for names in found.values()) == 3


# -- where names go ------------------------------------------------------------------------------------


def test_leaves_partition_the_key_space_in_alias_order(five_thousand: Config) -> None:
    """A leaf's alias is its prefix padded with zeros: each key lies between its alias and the next one."""
    found = service_bundles(five_thousand)
    aliases = sorted(found)
    assert list(found) == aliases  # printed in alias order
    starts = [int(ALIAS.match(alias).group(2), 16) for alias in aliases]  # type: ignore[union-attr]
    assert starts == sorted(set(starts))
    for index, alias in enumerate(aliases):
        end = starts[index + 1] if index + 1 < len(aliases) else 1 << TRIE_BITS
        for name in found[alias]:
            unit = name.split(".", 1)[1] if name.startswith(("autoconfig.", "autodiscover.")) else name
            if name == five_thousand.service.public_hostname:
                unit = name
            prefix = certs._key(unit) >> (256 - TRIE_BITS)
            assert starts[index] <= prefix < end, (alias, name)


def test_a_leaf_that_fits_is_the_root() -> None:
    found = bundle("autoconfig", {"a.example": ["x", "y"], "b.example": ["z"]}, 3)
    assert found == {"autoconfig-0000": found["autoconfig-0000"]}
    assert sorted(found["autoconfig-0000"]) == ["x", "y", "z"]


def reference_bundle(units: dict[str, list[str]], max_names: int) -> dict[str, list[str]]:
    """The trie as the module's text describes it, written plainly (bit strings), without chunking."""
    keyed = sorted((format(certs._key(unit), "0256b"), names) for unit, names in units.items())

    def visit(prefix: str, items: list[tuple[str, list[str]]]) -> dict[str, list[str]]:
        if not items:
            return {}
        if sum(len(names) for _, names in items) <= max_names or len(items) == 1 or len(prefix) == TRIE_BITS:
            alias = f"autoconfig-{int(prefix.ljust(TRIE_BITS, '0'), 2):04x}"
            return {alias: [name for _, names in items for name in names]}
        depth = len(prefix)
        return visit(prefix + "0", [i for i in items if i[0][depth] == "0"]) | visit(
            prefix + "1", [i for i in items if i[0][depth] == "1"]
        )

    return dict(sorted(visit("", keyed).items()))


@pytest.mark.parametrize(("count", "max_names"), [(1, 2), (2, 3), (40, 4), (300, 10), (3000, 100)])
def test_bundle_is_the_described_trie(count: int, max_names: int) -> None:
    units = {
        f"u{index}.example": [f"autoconfig.u{index}.example", f"autodiscover.u{index}.example"]
        for index in range(count)
    }
    assert bundle("autoconfig", units, max_names) == reference_bundle(units, max_names)


def test_a_split_keeps_the_alias_for_the_left_part() -> None:
    """Grow one leaf past max_names: its alias stays, with the left half; the right half is new."""
    units: dict[str, list[str]] = {}
    index = 0
    while len(units) < 6:  # six units whose keys start with bits 00: all in the root's leftmost part
        name = f"u{index}.example"
        index += 1
        if certs._key(name) >> 254 == 0:
            units[name] = [f"a.{name}", f"b.{name}"]
    assert list(bundle("autoconfig", units, 12)) == ["autoconfig-0000"]
    split = bundle("autoconfig", units, 10)  # 12 names: the root splits; its left part keeps -0000
    assert "autoconfig-0000" in split and len(split) >= 2
    assert set(split["autoconfig-0000"]) < set(bundle("autoconfig", units, 12)["autoconfig-0000"])


def test_output_does_not_depend_on_the_order_of_domains(five_thousand: Config) -> None:
    names = [domain.name for domain in five_thousand.providers[0].domains]
    shuffled = names[:]
    random.Random(8).shuffle(shuffled)
    for well_known in (False, True):
        assert certificates(with_domains(five_thousand, shuffled), well_known=well_known) == certificates(
            five_thousand, well_known=well_known
        )


def test_own_names_false_mx_lookup_and_public_hostname() -> None:
    text = EXAMPLE.replace(
        'public_hostname = "autoconfig.example.net"', 'public_hostname = "conf.hoster.example"'
    ).replace("list_all_domains = false", 'list_all_domains = false\nmx = ["mx1.hoster.example"]\nown_names = false')
    text += '\n[provider.overrides."example.org"]\nown_names = true\n'
    loaded = config_loader.loads(text, "t.toml").config
    (names,) = service_bundles(loaded, well_known=True).values()
    assert sorted(names) == [
        "autoconfig.example.org",
        "autoconfig.hoster.example",  # the MX lookup domain of mx1.hoster.example
        "autodiscover.example.org",
        "conf.hoster.example",  # the public host name: the _autodiscover._tcp target
        "example.org",
    ]
    # An MX lookup domain that is hosted is just that domain.
    hosted = EXAMPLE.replace("list_all_domains = false", 'list_all_domains = false\nmx = ["mx.example.com"]')
    (names,) = service_bundles(config_loader.loads(hosted, "t.toml").config).values()
    assert names.count("autoconfig.example.com") == 1 and len(names) == 6


# -- stability --------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_names", [100, 10])
def test_adding_or_removing_a_domain_changes_at_most_one_certificate(five_thousand: Config, max_names: int) -> None:
    """A new customer never re-issues the others: at most one existing name set changes.

    max_names 10 makes leaves split and merge often, so both happen below.
    """
    loaded = dataclasses.replace(five_thousand, tls=dataclasses.replace(five_thousand.tls, max_names=max_names))
    names = [domain.name for domain in loaded.providers[0].domains]
    before = service_bundles(loaded)
    chance = random.Random(max_names)
    splits = merges = 0
    for added in [f"new{index}.example" for index in range(15)]:
        after = service_bundles(with_domains(loaded, [*names, added]))
        assert len(changed(before, after)) <= 1, added
        assert all(len(names) <= max_names for names in after.values())
        splits += len(after) > len(before)
    for removed in chance.sample(names, 15):
        after = service_bundles(with_domains(loaded, [name for name in names if name != removed]))
        assert len(changed(before, after)) <= 1, removed
        merges += len(after) < len(before)
    if max_names == 10:
        assert splits and merges, (splits, merges)


def test_mail_families_are_stable_too() -> None:
    """Per-domain mail host names and common names: at most one certificate per family changes."""
    text = EXAMPLE.replace('hostname = "mail.example.net"', PER_DOMAIN_HOSTS, 2)  # the IMAP servers
    loaded = generated(3000, text=text, extra="\n[dns]\ncommon_names = true\n")
    names = [domain.name for domain in loaded.providers[0].domains]
    before = families(certificates(loaded))
    assert set(before) == {"autoconfig", "dovecot", "postfix"}
    for variant in ([*names, "new.example"], names[1:], [*names[:500], *names[501:]]):
        after = families(certificates(with_domains(loaded, variant)))
        for family, found in before.items():
            assert len(changed(found, after[family])) <= 1, family
            assert all(len(names) <= loaded.tls.max_names for names in after[family].values())


# -- mail servers ------------------------------------------------------------------------------------


def test_common_names_replace_mail_with_dovecot_and_postfix() -> None:
    loaded = config_loader.loads(EXAMPLE + "\n[dns]\ncommon_names = true\n", "t.toml").config
    found = certificates(loaded)
    assert set(found) == {"autoconfig-0000", "dovecot-0000", "postfix-0000"}
    dovecot, postfix = set(found["dovecot-0000"]), set(found["postfix-0000"])
    for domain in ("example.net", "example.org", "example.com"):
        assert {f"imap.{domain}", f"imaps.{domain}", f"pop3.{domain}", f"pop3s.{domain}"} <= dovecot
        assert {f"smtp.{domain}", f"smtps.{domain}", f"submission.{domain}"} <= postfix
    assert "mail.example.net" in dovecot and "mail.example.net" in postfix
    assert len(dovecot) == 13 and len(postfix) == 10
    message = certs.common_names_cost(loaded)
    assert message is not None
    assert "put 23 names into the mail servers' certificates: 2 certificate(s) (dovecot 1, postfix 1" in message
    assert "instead of 1 ('mail')" in message
    assert certs.common_names_cost(config_loader.loads(EXAMPLE, "t.toml").config) is None


def test_common_names_cost_at_scale() -> None:
    loaded = generated(2000, extra="\n[dns]\ncommon_names = true\n")
    message = certs.common_names_cost(loaded)
    assert message is not None
    numbers = [
        int(number) for number in re.findall(r"(\d+) certificate\(s\) \(dovecot (\d+), postfix (\d+)", message)[0]
    ]
    assert numbers[0] == numbers[1] + numbers[2] and numbers[1] >= 80 and numbers[2] >= 60  # 8,000 and 6,000 names


def test_per_domain_mail_hosts_are_the_domains_unit() -> None:
    text = EXAMPLE.replace('hostname = "mail.example.net"', PER_DOMAIN_HOSTS)
    found = certificates(config_loader.loads(text, "t.toml").config)
    assert sorted(found["mail-0000"]) == ["mail.example.com", "mail.example.net", "mail.example.org"]


def test_certs_command_prints_bundles_of_a_big_config(tmp_path) -> None:  # type: ignore[no-untyped-def]
    domains = ", ".join(f'"d{number:05d}.example"' for number in range(1, 2001))
    path = tmp_path / "big.toml"
    path.write_text(
        EXAMPLE.replace('domains = ["example.net", "example.org", "example.com"]', f"domains = [{domains}]"),
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "service.py", "certs", "--config", str(path), "--format", "dehydrated"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) > 40
    for line in lines:
        names, alias = line.split(" > ")
        assert ALIAS.match(alias) and 1 <= len(names.split()) <= 100
