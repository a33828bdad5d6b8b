"""docs/configuration.md names exactly the keys the loader accepts, table by table.

The accepted keys are found black-box: a config with an unknown key in a
table is refused with "known keys: a, b, c". The documented keys are the
backticked names in the first column of each table of the reference's
``## `[table]``` sections (the pop3 table's keys are in its row's meaning).
"""

from __future__ import annotations

import re

import pytest
from support.configs import SMALL
from support.paths import ROOT

from mailautoconf import config

REFERENCE = ROOT / "docs" / "configuration.md"
UNKNOWN = "zzz_unknown"

DOCUMENTATION = '\n[[provider.documentation]]\nurl = "https://example.net/help"\ndescription = "Help"\n'
OVERRIDE = '\n[provider.overrides."example.org"]\nhostname = "mx.example.org"\n'

# Each table, and SMALL with an unknown key put into it.
PROBES = {
    "[service]": SMALL.replace("[service]\n", f"[service]\n{UNKNOWN} = 1\n"),
    "[dns]": SMALL + f"\n[dns]\n{UNKNOWN} = 1\n",
    "[tls]": SMALL + f"\n[tls]\n{UNKNOWN} = 1\n",
    "[nginx]": SMALL + f"\n[nginx]\n{UNKNOWN} = 1\n",
    "[signing]": SMALL + f'\n[signing]\ncertificate = "c.pem"\nkey = "k.pem"\n{UNKNOWN} = 1\n',
    "[pacc]": SMALL + f"\n[pacc]\n{UNKNOWN} = 1\n",
    "caldav": SMALL.replace(
        'id = "example.net"\n', f'id = "example.net"\ncaldav = {{ url = "https://dav.example.net/", {UNKNOWN} = 1 }}\n'
    ),
    "[[provider]]": SMALL.replace('id = "example.net"\n', f'id = "example.net"\n{UNKNOWN} = 1\n'),
    "[[provider.incoming]]": SMALL.replace('type = "imap"\n', f'type = "imap"\n{UNKNOWN} = 1\n'),
    "[[provider.outgoing]]": SMALL.replace('type = "smtp"\n', f'type = "smtp"\n{UNKNOWN} = 1\n'),
    "pop3": SMALL.replace('type = "imap"\n', f'type = "pop3"\npop3 = {{ {UNKNOWN} = 1 }}\n'),
    "[[provider.documentation]]": SMALL + DOCUMENTATION + f"{UNKNOWN} = 1\n",
    '[provider.overrides."<domain>"]': SMALL + OVERRIDE + f"{UNKNOWN} = 1\n",
}


def accepted_keys(text: str) -> set[str]:
    with pytest.raises(config.ConfigError) as refused:
        config.loads(text)
    messages = [str(problem) for problem in refused.value.problems]
    assert len(messages) == 1 and f'unknown key "{UNKNOWN}"' in messages[0], messages
    found = re.search(r"known keys: (.+)$", messages[0])
    assert found is not None, messages[0]
    return set(found.group(1).split(", "))


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def documented_keys() -> dict[str, set[str]]:
    """Table heading name -> the keys docs/configuration.md lists for it."""
    text = REFERENCE.read_text(encoding="utf-8")
    assert text.startswith("# Configuration reference\n"), "docs/configuration.md lost its title"
    documented: dict[str, set[str]] = {}
    for section in text.split("\n## ")[1:]:
        heading, _, body = section.partition("\n")
        tables = re.findall(r"`([^`]+)`", heading)
        if not tables:
            continue  # prose ("What is checked")
        rows = [_cells(line) for line in body.splitlines() if line.startswith("|")]
        keys: set[str] = set()
        for row in rows[2:]:  # after the header and the |---| line
            names = set(re.findall(r"`([^`]+)`", row[0]))
            keys |= names
            if names in ({"pop3"}, {"caldav"}):  # keys of a table documented in its row's meaning
                (name,) = names
                documented[name] = set(re.findall(r"`([a-z_0-9]+)` \(", row[-1]))
            if any("pop3 only" in cell for cell in row[1:]):
                # The reference documents incoming and outgoing in one table; pop3 settings are incoming only.
                documented.setdefault("incoming only", set()).update(names)
        for table in tables:
            documented[table] = set(keys)
    only_incoming = documented.pop("incoming only", set())
    if "[[provider.outgoing]]" in documented:
        documented["[[provider.outgoing]]"] -= only_incoming
    return documented


def test_the_reference_is_found() -> None:
    documented = documented_keys()
    assert set(documented) == set(PROBES), "docs/configuration.md's sections changed"
    assert all(documented.values()), {table: keys for table, keys in documented.items() if not keys}


@pytest.mark.parametrize("table", list(PROBES))
def test_accepted_keys_are_the_documented_keys(table: str) -> None:
    accepted = accepted_keys(PROBES[table])
    documented = documented_keys().get(table, set())
    undocumented = sorted(accepted - documented)
    not_accepted = sorted(documented - accepted)
    assert not undocumented and not not_accepted, (
        f"{table}: accepted but missing from docs/configuration.md: {undocumented or 'none'}; "
        f"documented there but not accepted: {not_accepted or 'none'}"
    )


def test_every_top_level_table_has_a_section() -> None:
    accepted = accepted_keys(f"{UNKNOWN} = 1\n" + SMALL)
    sections = {re.sub(r"[\[\]]", "", table).split(".")[0] for table in documented_keys() if table.startswith("[")}
    assert accepted == sections, f"top-level tables accepted {sorted(accepted)}, reference sections {sorted(sections)}"
