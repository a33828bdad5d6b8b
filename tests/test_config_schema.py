"""The configuration reference and the checker's table (config/schema.py) list the same keys, defaults and duties.

The table is what the checker applies, so a key it has and the reference
lacks is a setting nobody can find, and a key the reference lists that the
table lacks is refused as unknown. Where the reference states a default
(a "default" column, or "no (false)" in a "required" one), it must be the
table's, which is the model's own. Only the reference section is read:
each ``### `[table]``` heading's table of keys, and for a table documented
in one row of its parent (``pop3``, ``caldav``) the keys its meaning names
as ``key`` (...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from support.paths import ROOT

from mailautoconf.config import schema

# The document holding the configuration reference, and its heading.
REFERENCE = ROOT / "docs" / "configuration.md"
HEADING = "Configuration reference"


@dataclass(frozen=True)
class Row:
    keys: tuple[str, ...]
    cells: dict[str, str]  # by the column's header: "type", "default", "required", "meaning"


def reference_text() -> tuple[str, int]:
    """The reference section's text, and the level of the headings of its tables (one below its own)."""
    text = REFERENCE.read_text(encoding="utf-8")
    found = re.search(rf"^(#+) {re.escape(HEADING)}\n", text, re.MULTILINE)
    assert found is not None, f"{REFERENCE}: no heading {HEADING!r}"
    level = len(found.group(1))
    end = re.search(rf"^#{{1,{level}}} ", text[found.end() :], re.MULTILINE)
    section = text[found.end() : found.end() + end.start()] if end else text[found.end() :]
    return section, level + 1


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def documented() -> dict[str, list[Row]]:
    """Each table the reference documents (by its heading's name, or the key whose row holds it) → its rows."""
    tables: dict[str, list[Row]] = {}
    text, level = reference_text()
    for section in text.split("\n" + "#" * level + " ")[1:]:
        heading, _, body = section.partition("\n")
        names = re.findall(r"`([^`]+)`", heading)
        lines = [_cells(line) for line in body.splitlines() if line.startswith("|")]
        if not names or len(lines) < 3:
            continue  # prose ("What is checked")
        header = lines[0]
        rows = [
            Row(tuple(re.findall(r"`([^`]+)`", cells[0])), dict(zip(header, cells, strict=True))) for cells in lines[2:]
        ]
        for name in names:
            tables[name] = rows
        for row in rows:
            nested = re.findall(r"`([a-z_0-9]+)` \(", row.cells["meaning"])
            if row.keys in (("pop3",), ("caldav",)) and nested:
                tables[row.keys[0]] = [Row((key,), {}) for key in nested]
    return tables


def keys_of(section: schema.Section) -> set[str]:
    rows = documented()[section.title]
    # The reference documents incoming and outgoing servers in one table; its pop3 rows are incoming only.
    pop3_only = {key for row in rows if any("pop3 only" in cell for cell in row.cells.values()) for key in row.keys}
    keys = {key for row in rows for key in row.keys}
    return keys - pop3_only if section is schema.OUTGOING else keys


def stated_default(row: Row) -> str | None:
    """What the row gives as the default, or None where it states none ("yes", "no", "none", "(required ...)")."""
    cell = row.cells.get("default", row.cells.get("required", ""))
    within = re.fullmatch(r"no \((.+)\)", cell)
    if within:
        return within.group(1)
    if cell in ("", "yes", "no", "none") or cell.startswith(("yes,", "no,", "(")):
        return None
    return cell


def written(value: object) -> str:
    """A default as TOML (and the reference) writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == ():
        return "[]"
    return str(value)


def test_the_reference_is_found() -> None:
    tables = documented()
    assert {section.title for section in schema.SECTIONS} <= set(tables), sorted(tables)


@pytest.mark.parametrize("section", schema.SECTIONS, ids=lambda section: section.title)
def test_the_reference_lists_exactly_the_keys_of_the_table(section: schema.Section) -> None:
    documented_keys = keys_of(section)
    assert set(section.names) == documented_keys, (
        f"{section.title}: in config/schema.py but not in {REFERENCE.name}: "
        f"{sorted(set(section.names) - documented_keys) or 'none'}; "
        f"in {REFERENCE.name} but not in config/schema.py: {sorted(documented_keys - set(section.names)) or 'none'}"
    )


def test_every_table_reachable_from_the_top_is_in_the_list() -> None:
    # SECTIONS drives the tests above: a nested table left out of it would go unchecked.
    found: set[str] = set()
    pending = [schema.TOP]
    while pending:
        section = pending.pop()
        for key in section.keys:
            if key.section is not None and key.section.title not in found:
                found.add(key.section.title)
                pending.append(key.section)
    assert found == {section.title for section in schema.SECTIONS}


def documented_keys() -> list[tuple[str, Row, schema.Key]]:
    """(table, the reference's row, the table's key) for every key the reference documents in a row of its own."""
    by_title = {section.title: section for section in schema.SECTIONS}
    found = []
    for title, rows in documented().items():
        for row in rows:
            found += [(title, row, by_title[title].key(name)) for name in row.keys if name in by_title[title].names]
    return found


STATED = [(title, row, key) for title, row, key in documented_keys() if stated_default(row) is not None]
STATES_DUTY = [(title, row, key) for title, row, key in documented_keys() if {"required", "default"} & set(row.cells)]


@pytest.mark.parametrize(("title", "row", "key"), STATED, ids=[f"{title} {key.name}" for title, _, key in STATED])
def test_a_default_the_reference_states_is_the_tables(title: str, row: Row, key: schema.Key) -> None:
    stated = stated_default(row)
    assert stated is not None
    expected = key.default_from or key.default_said or (None if key.default is None else written(key.default))
    assert expected is not None, f"{title} {key.name}: {REFERENCE.name} states the default {stated!r}, the table none"
    assert expected in stated, f"{title} {key.name}: {REFERENCE.name} states {stated!r}, the table {expected!r}"


@pytest.mark.parametrize(
    ("title", "row", "key"), STATES_DUTY, ids=[f"{title} {key.name}" for title, _, key in STATES_DUTY]
)
def test_a_required_key_is_one_the_reference_requires(title: str, row: Row, key: schema.Key) -> None:
    cell = row.cells.get("required") or row.cells["default"]
    if cell.startswith("yes, unless"):  # required or not by the other keys: the checker decides
        pytest.skip(f"{key.name}: {cell}")
    said = cell.startswith(("yes", "(required"))
    assert said is key.required, (
        f"{title} {key.name}: {REFERENCE.name} says {cell!r}, the table required={key.required}"
    )


def test_the_rows_read_are_the_reference_s() -> None:
    # The reader itself: a few rows whose cells are known, or the comparisons above prove nothing.
    tables = documented()
    dns = {key: row for row in tables["[dns]"] for key in row.keys}
    assert stated_default(dns["ttl"]) == "3600"
    provider = {key: row for row in tables["[[provider]]"] for key in row.keys}
    assert stated_default(provider["short_name"]) == "display_name"
    assert stated_default(provider["domains"]) is None
    assert {"leave_messages_on_server", "check_interval_minutes"} <= {row.keys[0] for row in tables["pop3"]}
