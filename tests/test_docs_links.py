"""The documentation holds together: no dead link, no reference to a section that moved, a short README.

Every relative link in the repository's markdown must name a file that
exists and, with a ``#fragment``, a heading of that file as GitHub slugs it.
References written in code and comments (a docs file, a quoted heading of
it, a numbered section of docs/clients.md) must name what is there, so a
moved section breaks this test rather than a reader's trust. The README is
the five-minute page; the manual lives in docs/.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from support.paths import ROOT

README = ROOT / "README.md"
README_LIMIT = 12_288
SKIPPED_FOLDERS = {".git", ".venv", "node_modules", "static_xml"}
# Written by the tests themselves (screenshots of the settings page): named in the docs, absent in a clean checkout.
GENERATED = ("tests/artifacts/",)

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
CODE_SPAN = re.compile(r"`+[^`]*`+")
# A file of the repository, or of the package by its folder (`render/apple.py`).
REPOSITORY_PATH = re.compile(
    r"^(?:mailautoconf|tests|bench|docs|systemd|config|render|serve|tree|pacc|reload|deploy|authoring|probe|clientrules)"
    r"/[\w./-]+$"
)


def markdown_files() -> list[Path]:
    found = []
    for path in sorted(ROOT.rglob("*.md")):
        parts = path.relative_to(ROOT).parts
        if not SKIPPED_FOLDERS.intersection(parts) and parts[:2] != ("tests", "data"):
            found.append(path)
    return found


def outside_fences(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lower-cased, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts by its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every #fragment a markdown file answers: its headings' slugs (repeats numbered, as GitHub does)."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in outside_fences(path.read_text(encoding="utf-8")):
        found.update(HTML_ANCHOR.findall(line))
        heading = HEADING.match(line)
        if heading is None:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


@cache
def headings(path: Path) -> tuple[str, ...]:
    """The plain text of every heading of a markdown file."""
    text = path.read_text(encoding="utf-8")
    return tuple(
        heading.group(2).replace("`", "")
        for _, line in outside_fences(text)
        if (heading := HEADING.match(line)) is not None
    )


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every link and reference definition outside code."""
    found = []
    for number, line in outside_fences(path.read_text(encoding="utf-8")):
        prose = CODE_SPAN.sub("", line)
        found += [(number, target) for target in INLINE_LINK.findall(prose)]
        definition = REFERENCE_DEFINITION.match(prose)
        if definition is not None:
            found.append((number, definition.group(1)))
    return found


def dead(source: Path, target: str) -> str | None:
    """Why a link from ``source`` to ``target`` leads nowhere, or None when it leads somewhere."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
        return None  # another site: not ours to hold
    path_part, _, fragment = target.partition("#")
    destination = (source.parent / path_part).resolve() if path_part else source
    if not destination.is_relative_to(ROOT):
        return f"{target}: outside the repository"
    if not destination.exists():
        return f"{target}: no such file"
    if fragment and destination.suffix == ".md" and fragment not in anchors(destination):
        return f"{target}: no heading #{fragment} in {destination.relative_to(ROOT)}"
    return None


@pytest.mark.parametrize("page", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    broken = [f"line {line}: {why}" for line, target in links(page) if (why := dead(page, target))]
    assert not broken, f"{page.relative_to(ROOT)}:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("`[service]`", "service"),
        (
            "What /healthz says, and what the service repairs by itself",
            "what-healthz-says-and-what-the-service-repairs-by-itself",
        ),
        ("Layouts at 100,000 domains (`bench/layouts.py`)", "layouts-at-100000-domains-benchlayoutspy"),
        ("1.13 Autoconfig 1.2: the `version` attribute", "113-autoconfig-12-the-version-attribute"),
        ("`check_interval` and [a link](x.md)", "check_interval-and-a-link"),
    ],
)
def test_slugs_are_githubs(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_a_dead_link_is_found() -> None:
    assert dead(README, "docs/nothing.md") == "docs/nothing.md: no such file"
    assert dead(README, "docs/configuration.md#no-such-heading") is not None
    assert dead(README, "../outside.md") is not None
    assert dead(README, "#two-commands") is None
    assert dead(README, "docs/configuration.md#service") is None
    assert dead(README, "https://example.org/nothing") is None


def test_the_pages_that_must_be_checked_are() -> None:
    names = {str(path.relative_to(ROOT)) for path in markdown_files()}
    assert {"README.md", "bench/README.md", "docs/architecture.md", "docs/configuration.md"} <= names
    assert all(links(ROOT / name) for name in ("README.md", "docs/architecture.md")), "no links found: the parser broke"


def exists(name: str) -> bool:
    return (ROOT / name).exists() or (ROOT / "mailautoconf" / name).exists()


@pytest.mark.parametrize("page", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_repository_path_the_docs_name_exists(page: Path) -> None:
    missing = []
    for number, line in outside_fences(page.read_text(encoding="utf-8")):
        for span in CODE_SPAN.findall(line):
            name = span.strip("`").strip()
            if REPOSITORY_PATH.match(name) and not name.startswith(GENERATED) and not exists(name):
                missing.append(f"line {number}: {name}")
    assert not missing, f"{page.relative_to(ROOT)} names files that are not there:\n" + "\n".join(missing)


# -- references in code, comments and help texts ------------------------------------------------

CODE_FOLDERS = ("mailautoconf", "tests", "bench", "systemd", "config", ".ci")
CODE_SUFFIXES = {".py", ".sh", ".c", ".toml", ".service", ".txt", ".lua", ""}
DOC_REFERENCE = re.compile(r"\b((?:docs/[\w.-]+\.md)|(?:bench/README\.md))(?:,? \"([^\"\n]+)\")?")
CLIENTS_SECTIONS = re.compile(r"docs/clients\.md(?: sections?)? (\d+(?:\.\d+)?(?:(?:, | and )\d+(?:\.\d+)?)*)")
OLD_README_SECTION = re.compile(r"README(?:\.md)?(?:,|:)? *[\"“](?=\w)|README\.md, [A-Z]|README, [A-Z]")


def code_files() -> list[Path]:
    files = [ROOT / "service.py", ROOT / "pyproject.toml", *ROOT.glob("requirements*.txt")]
    for folder in CODE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            inside = path.relative_to(ROOT).parts
            if path.is_file() and path.suffix in CODE_SUFFIXES and inside[:2] != ("tests", "data"):
                files.append(path)
    return [path for path in files if path.name != Path(__file__).name and "__pycache__" not in path.parts]


def references(text: str) -> list[str]:
    """What is wrong with each docs reference in ``text``: a missing file, heading or clients.md section."""
    wrong = []
    for match in DOC_REFERENCE.finditer(text):
        target = ROOT / match.group(1)
        if not target.exists():
            wrong.append(f"{match.group(0)}: no such file")
        elif match.group(2) and not any(h.startswith(match.group(2)) for h in headings(target)):
            wrong.append(f'{match.group(0)}: {match.group(1)} has no heading "{match.group(2)}"')
    numbered = {h.split(" ", 1)[0].rstrip(".") for h in headings(ROOT / "docs" / "clients.md")}
    for match in CLIENTS_SECTIONS.finditer(text):
        for number in re.split(r", | and ", match.group(1)):
            if number not in numbered:
                wrong.append(f"{match.group(0)}: docs/clients.md has no section {number}")
    wrong += [
        f"{found.group(0)!r}: a README section (the manual is in docs/)" for found in OLD_README_SECTION.finditer(text)
    ]
    return wrong


def test_the_reference_check_finds_what_it_must() -> None:
    assert references('see docs/commands.md, "Limits" and docs/clients.md sections 1.7 and 2.5') == []
    assert len(references('docs/nothing.md; docs/commands.md, "No such heading"; docs/clients.md 9.9')) == 3
    assert references('(README, "Metrics")') and references('README "PACC" says why')


@pytest.mark.parametrize("path", code_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_code_references_name_what_is_there(path: Path) -> None:
    wrong = references(path.read_text(encoding="utf-8", errors="replace"))
    assert not wrong, f"{path.relative_to(ROOT)}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("page", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_docs_references_name_what_is_there(page: Path) -> None:
    prose = "\n".join(line for _, line in outside_fences(page.read_text(encoding="utf-8")))
    wrong = references(prose)
    assert not wrong, f"{page.relative_to(ROOT)}:\n" + "\n".join(wrong)


# -- the README ---------------------------------------------------------------------------------


def test_the_readme_is_read_in_five_minutes() -> None:
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size:,} bytes, over {README_LIMIT:,}: move the detail to docs/"


def test_the_readme_keeps_its_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    serve = "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && .venv/bin/python service.py serve"
    assert f"```sh\n{serve}\n```" in text
    assert "```sh\nbash tests/run.sh\n```" in text


def test_the_readme_indexes_every_page_of_docs() -> None:
    text = README.read_text(encoding="utf-8")
    unlisted = [path.name for path in sorted((ROOT / "docs").glob("*.md")) if f"](docs/{path.name})" not in text]
    assert not unlisted, f"README.md's documentation index lacks {unlisted}"
