"""Which files ``[service] include`` names: its glob patterns matched, each match kept.

Every match counts, whatever it is, and a pattern whose folder cannot be
listed is an error: skipping either would withdraw the domains its files
held without a word (see :func:`included_files`).
"""

from __future__ import annotations

import fnmatch
import glob
import os

from mailautoconf import files
from mailautoconf.config.positions import Locate
from mailautoconf.problems import Problem


def included_files(
    main: str, patterns: tuple[str, ...], locate: Locate
) -> tuple[tuple[str, ...], list[Problem], dict[str, int], frozenset[str]]:
    """The files ``[service] include`` names (sorted, each once, never the main file), problems, matches per
    pattern, and those of the files that are symbolic links (the watcher watches where they lead).

    A relative pattern is relative to the main file's folder, and its files
    are named the way the main file was (so messages read alike). Every
    match is kept, whatever it is: one that is not a plain file (a folder,
    a dangling symlink, a loop) is reported when it is read, and the config
    is not applied. Skipping it would withdraw the domains it held without
    a word. A pattern whose folder is missing or cannot be listed is an
    error for the same reason: glob finds nothing there, silently.
    """
    folder = os.path.dirname(os.path.abspath(main))
    main_path = os.path.abspath(main)
    found: dict[str, None] = {}
    links: set[str] = set()
    problems: list[Problem] = []
    counts: dict[str, int] = {}
    file, line = locate(("service", "include"))
    for pattern in patterns:
        relative = not os.path.isabs(pattern)
        full = os.path.join(folder, pattern) if relative else pattern
        try:
            matches = _matches(full)
        except OSError as exc:
            base = _fixed_folder(full)
            problems.append(
                Problem(
                    pattern_folder(main, pattern),
                    None,
                    "",
                    f'cannot list the folder: {files.describe(base, exc, folder=True)} (include "{pattern}", '
                    f"{file_and_line(file, line)}); the providers of its files would be withdrawn, "
                    "so the config is not applied",
                )
            )
            continue
        matches = [(match, link) for match, link in matches if os.path.abspath(match) != main_path]
        counts[pattern] = len(matches)
        for match, link in matches:
            shown = os.path.normpath(
                os.path.join(os.path.dirname(main), os.path.relpath(match, folder)) if relative else match
            )
            found.setdefault(shown, None)
            if link:
                links.add(shown)
    return tuple(found), problems, counts, frozenset(links)


def _matches(pattern: str) -> list[tuple[str, bool]]:
    """The paths ``pattern`` matches, sorted, each with whether it is a symbolic link; OSError if its folder
    cannot be listed.

    A pattern with wildcards in its file name only (``autoconfig.d/*.toml``,
    the usual) costs one listing of its folder, which also says which
    entries are links; wildcards in folder names go through glob, as
    before, after a look that the fixed part can be listed.
    """
    parent, name = os.path.split(pattern)
    if glob.has_magic(parent):
        with os.scandir(_fixed_folder(pattern)):
            pass
        return [(match, os.path.islink(match)) for match in sorted(glob.glob(pattern))]
    hidden_too = name.startswith(".")  # as glob: names starting with a dot only when the pattern's does
    with os.scandir(parent or os.curdir) as entries:
        found = [
            (os.path.join(parent, entry.name), entry.is_symlink())
            for entry in entries
            if fnmatch.fnmatchcase(entry.name, name) and (hidden_too or not entry.name.startswith("."))
        ]
    return sorted(found)


def pattern_folder(main: str, pattern: str) -> str:
    """The folder an include pattern's files are in, named the way the main file is."""
    full = pattern if os.path.isabs(pattern) else os.path.join(os.path.dirname(main), pattern)
    return os.path.normpath(_fixed_folder(full))


def file_and_line(file: str, line: int | None) -> str:
    return f"{file}, line {line}" if line else file


def _fixed_folder(pattern: str) -> str:
    """The folder of ``pattern`` before its first glob wildcard: what must exist for it to match anything."""
    parts = os.path.dirname(pattern).split(os.sep)
    fixed: list[str] = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return os.sep.join(fixed) or (os.sep if pattern.startswith(os.sep) else os.curdir)
