"""Reading a config: the main file and its includes, parsed in pieces, checked, loaded again incrementally.

:class:`Loader` keeps what the last load made of each file, piece and
provider, so a reload costs what changed; :func:`load` and :func:`loads`
are one-off loads. The tables are checked by :mod:`mailautoconf.config.checker`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from mailautoconf import files
from mailautoconf.config import segments as tomlsegments
from mailautoconf.config.checker import Checker
from mailautoconf.config.includes import file_and_line
from mailautoconf.config.includes import included_files
from mailautoconf.config.includes import pattern_folder
from mailautoconf.config.positions import KeyLines
from mailautoconf.config.positions import Locate
from mailautoconf.config.positions import Path
from mailautoconf.model import Config
from mailautoconf.model import Provider
from mailautoconf.problems import ConfigError
from mailautoconf.problems import Problem
from mailautoconf.problems import Severity
from mailautoconf.problems import in_file_order

# An included file of zero bytes is most often one being written (a panel truncates, then writes),
# and taking it for "no providers" would withdraw its domains for that moment.
_EMPTY_INCLUDE = (
    "the file is empty; to remove its providers delete the file (or leave a comment in it), "
    "an empty one is taken for a file still being written"
)


@dataclass(frozen=True)
class LoadResult:
    config: Config
    warnings: tuple[Problem, ...]
    # Identifies the bytes read (every file): equal fingerprints, equal config.
    fingerprint: bytes = b""
    # Where each of config.providers was written, in the same order.
    places: tuple[_Placed, ...] = ()

    def locate(self, index: int, keys: Path = ()) -> tuple[str, int | None]:
        """The file and line of ``keys`` inside ``config.providers[index]``'s table (``()``: the table)."""
        place = self.places[index]
        return place.lines.file, place.lines.line_of(("provider", place.local, *keys))


def load(path: str) -> LoadResult:
    """Read and validate the config file at ``path`` (and its includes); raise ConfigError if unusable."""
    return Loader().load(path)


def loads(data: bytes | str, source: str = "<config>") -> LoadResult:
    """Validate TOML text; ``source`` is the file name used in messages (and includes are relative to it)."""
    return Loader().load(source, data)


def _decode(data: bytes, source: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError([Problem(source, line, "", "the file is not UTF-8 text")]) from None


def _syntax_problem(source: str, exc: tomllib.TOMLDecodeError) -> Problem:
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    line = int(match.group(1)) if match else getattr(exc, "lineno", None)
    if match:
        message = message[: match.start()].strip() + f" (column {match.group(2)})"
    elif "(at end of document)" in message:
        message = message.replace("(at end of document)", "at the end of the file").strip()
    return Problem(source, line, "", f"TOML syntax error: {message[:1].lower()}{message[1:]}")


class _SegmentLines:
    """Line numbers inside one segment of one file, scanned only when a message needs one."""

    def __init__(self, file: str, segment: tomlsegments.Segment) -> None:
        self.file = file
        self.segment = segment
        self._lines: KeyLines | None = None

    def line_of(self, path: Path) -> int | None:
        if self._lines is None:
            self._lines = KeyLines(self.segment.text)
        line = self._lines.line_of(path)
        return None if line is None else line + self.segment.line - 1


@dataclass(frozen=True)
class _FileState:
    """What was made of one file: kept to skip re-reading an included file that did not change."""

    stat: tuple[int, int, int, int]  # mtime_ns, size, inode, ctime_ns (a chmod changes only that)
    segments: tuple[tomlsegments.Segment, ...] | None  # None: the file had a problem
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class _CheckedProvider:
    """One [[provider]] table validated alone; lines relative to its segment."""

    provider: Provider | None
    problems: tuple[tuple[Path, str, str, Severity], ...]  # (key path, where, message, severity)


@dataclass(frozen=True)
class _Placed:
    """A provider table and where it was written."""

    raw: Any
    lines: _SegmentLines
    local: int  # its index among the segment's providers


class Loader:
    """Loads a config again and again, redoing only what changed since the last load.

    A hoster's config holds 100,000 domains, in one file or split over many
    (``[service] include``); an edit touches one provider. Unchanged included
    files are not read again (same mtime, size and inode), unchanged pieces
    of a file (:mod:`mailautoconf.config.segments`) are not parsed again, and
    unchanged providers are not validated again: the same frozen
    :class:`Provider` object comes back, so the pipeline can tell by
    identity what it need not render. Only checks across providers
    (a domain hosted twice) run over everything, and they are cheap.
    """

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Read, parse and validate everything again on the next load (SIGHUP)."""
        self._parsed: dict[bytes, dict[str, Any]] = {}
        self._checked: dict[tuple[bytes, int, int | None], _CheckedProvider] = {}
        self._files: dict[str, _FileState] = {}
        self._matched: dict[str, int] = {}  # include pattern -> the files it matched at the last good load
        # The files the last load read (or tried to: a broken one too), and which of them are symbolic
        # links; the watcher watches them, and where the links lead, without listing the folders again.
        self.sources_seen: tuple[str, ...] = ()
        self.links_seen: frozenset[str] = frozenset()

    def load(self, path: str, data: bytes | str | None = None) -> LoadResult:
        """Load the main file ``path`` (its text given as ``data``, or read) with its includes."""
        if data is None:
            try:
                data = files.read_regular(path)
            except files.FileTrouble as exc:
                raise ConfigError([Problem(path, None, "", f"cannot read the file: {exc.reason}")]) from None
        text = data if isinstance(data, str) else _decode(data, path)
        fingerprint = hashlib.sha256(text.encode("utf-8", "surrogatepass"))
        parsed_before = self._parsed
        self._parsed = {}
        try:
            segments = tomlsegments.parse(text, parsed_before, self._parsed)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([_syntax_problem(path, exc)]) from None
        except RecursionError:  # Python 3.11's tomllib has no nesting limit
            raise ConfigError([Problem(path, None, "", "TOML syntax error: values are nested too deeply")]) from None

        top: dict[str, Any] = {}
        top_lines: dict[str, _SegmentLines] = {}
        placed: list[_Placed] = []
        for segment in segments:
            lines = _SegmentLines(path, segment)
            for key, value in segment.data.items():
                if key == "provider" and isinstance(value, list):
                    placed += [_Placed(raw, lines, index) for index, raw in enumerate(value)]
                else:
                    top[key] = value
                    top_lines[key] = lines

        def locate_top(key_path: Path) -> tuple[str, int | None]:
            lines = top_lines.get(str(key_path[0])) if key_path else None
            return (path, lines.line_of(key_path)) if lines else (path, None)

        checker = Checker(locate_top)
        settings = checker.settings(top, has_providers=bool(placed), folder=os.path.dirname(path))
        problems = list(checker.problems)

        sources = [path]
        if settings is not None and settings[0].include:
            included, include_problems, matched, self.links_seen = included_files(path, settings[0].include, locate_top)
            problems += include_problems
            problems += self._emptied(matched, locate_top)
            for file in included:
                sources.append(file)
                state = self._file(file, parsed_before)
                fingerprint.update(file.encode("utf-8", "surrogateescape") + b"\0" + repr(state.stat).encode())
                problems += state.problems
                for segment in state.segments or ():
                    lines = _SegmentLines(file, segment)
                    for key in segment.data:
                        if key != "provider":
                            problems.append(
                                Problem(
                                    file,
                                    lines.line_of((key,)),
                                    "",
                                    f"[{key}] belongs in the main file {path}; an included file holds "
                                    "[[provider]] tables only",
                                )
                            )
                    providers_raw = segment.data.get("provider")
                    if isinstance(providers_raw, list):
                        placed += [_Placed(raw, lines, index) for index, raw in enumerate(providers_raw)]
            self._files = {file: self._files[file] for file in included if file in self._files}
        else:
            self._files = {}
            matched = {}
            self.links_seen = frozenset()
        self.sources_seen = tuple(sources)

        providers: list[Provider] = []
        provider_places: list[_Placed] = []
        checked_now: dict[tuple[bytes, int, int | None], _CheckedProvider] = {}
        if not placed and settings is not None and "provider" not in top:
            problems.append(
                Problem(path, None, "", "no [[provider]] is defined; add at least one with its domains and servers")
            )
        for index, place in enumerate(placed):
            checked = self._check_provider(place, index, checked_now)
            for key_path, where, message, severity in checked.problems:
                problems.append(Problem(place.lines.file, place.lines.line_of(key_path), where, message, severity))
            if checked.provider is not None:
                providers.append(checked.provider)
                provider_places.append(place)
        self._checked = checked_now
        problems += _cross_checks(providers, provider_places)
        if any(problem.severity is Severity.ERROR for problem in problems) or settings is None:
            error = ConfigError(problems, tuple(sources))
            error.fingerprint = fingerprint.digest()
            raise error
        service, dns, tls, nginx, signing, pacc = settings
        config = Config(
            path,
            service,
            tuple(providers),
            dns=dns,
            tls=tls,
            nginx=nginx,
            signing=signing,
            pacc=pacc,
            sources=tuple(sources),
        )
        warnings = tuple(in_file_order(problems, tuple(sources)))
        self._matched = matched if service.include else {}
        return LoadResult(config, warnings, fingerprint.digest(), tuple(provider_places))

    def _emptied(self, matched: dict[str, int], locate: Locate) -> list[Problem]:
        """An include pattern that matched files at the last load and matches none now.

        That is a folder emptied or replaced by an empty one far more often
        than every customer removed at once, and applying it withdraws all
        their domains. A forced reload (SIGHUP, which calls :meth:`forget`)
        and ``check`` have no earlier load, and accept it.
        """
        file, line = locate(("service", "include"))
        unmatched = [
            Problem(
                pattern_folder(file, pattern),
                None,
                "",
                f'include "{pattern}" ({file_and_line(file, line)}) matches no file',
                Severity.WARNING,
            )
            for pattern, count in matched.items()
            if count == 0 and self._matched.get(pattern, 0) == 0
        ]
        return unmatched + [
            Problem(
                pattern_folder(file, pattern),
                None,
                "",
                f'include "{pattern}" ({file_and_line(file, line)}) matches no file now, where it matched '
                f"{self._matched[pattern]}: the folder was emptied or replaced, so the config is not applied; to "
                "withdraw every provider it held on purpose, reload with SIGHUP (systemctl reload mailautoconf)",
            )
            for pattern, count in matched.items()
            if count == 0 and self._matched.get(pattern, 0) > 0
        ]

    def _file(self, file: str, parsed_before: dict[bytes, dict[str, Any]]) -> _FileState:
        """Read and parse an included file, or reuse what it gave last time if it did not change."""
        try:
            status = os.stat(file)
        except OSError as exc:
            return _FileState(
                (0, 0, 0, 0), None, (Problem(file, None, "", f"cannot read the file: {files.describe(file, exc)}"),)
            )
        stat = (status.st_mtime_ns, status.st_size, status.st_ino, status.st_ctime_ns)
        known = self._files.get(file)
        if known is not None and known.stat == stat:
            for segment in known.segments or ():
                self._parsed[segment.digest] = segment.data
            return known
        try:
            data = files.read_regular(file)
            if not data.strip():
                raise ConfigError([Problem(file, None, "", _EMPTY_INCLUDE)])
            text = _decode(data, file)
            segments = tomlsegments.parse(text, parsed_before, self._parsed)
            state = _FileState(stat, tuple(segments), ())
        except files.FileTrouble as exc:
            state = _FileState(stat, None, (Problem(file, None, "", f"cannot read the file: {exc.reason}"),))
        except ConfigError as exc:
            state = _FileState(stat, None, tuple(exc.problems))
        except tomllib.TOMLDecodeError as exc:
            state = _FileState(stat, None, (_syntax_problem(file, exc),))
        except RecursionError:
            state = _FileState(
                stat, None, (Problem(file, None, "", "TOML syntax error: values are nested too deeply"),)
            )
        self._files[file] = state
        return state

    def _check_provider(
        self,
        place: _Placed,
        index: int,
        checked_now: dict[tuple[bytes, int, int | None], _CheckedProvider],
    ) -> _CheckedProvider:
        raw = place.raw
        # Messages name a provider by its id, or by its number when it has none.
        numbered = None if isinstance(raw, dict) and isinstance(raw.get("id"), str) else index
        key = (place.lines.segment.digest, place.local, numbered)
        checked = self._checked.get(key) or checked_now.get(key)
        if checked is None:
            recorded: list[tuple[Path, str, str, Severity]] = []

            def locate(key_path: Path) -> tuple[str, int | None]:
                return "", None

            checker = Checker(locate, record=recorded)
            provider = checker.provider_table(raw, place.local, index)
            checked = _CheckedProvider(provider, tuple(recorded))
        checked_now[key] = checked
        return checked


def _cross_checks(providers: list[Provider], places: list[_Placed]) -> list[Problem]:
    """A domain hosted twice, two providers with one id: across pieces and files."""
    problems = []
    owner: dict[str, int] = {}
    for index, provider in enumerate(providers):
        place = places[index]
        for domain in provider.domains:
            first = owner.setdefault(domain.name, index)
            if first == index:
                continue
            other = places[first]
            line = other.lines.line_of(("provider", other.local, "domains"))
            elsewhere = "" if other.lines.file == place.lines.file else f"{other.lines.file}, "
            problems.append(
                Problem(
                    place.lines.file,
                    place.lines.line_of(("provider", place.local, "domains")),
                    f'provider "{provider.id}"',
                    f'domain "{domain.unicode}" is already hosted by provider "{providers[first].id}" '
                    f"({elsewhere}line {line})",
                )
            )
    seen: dict[str, int] = {}
    for index, provider in enumerate(providers):
        first = seen.setdefault(provider.id, index)
        if first != index:
            place, other = places[index], places[first]
            elsewhere = "" if other.lines.file == place.lines.file else f"{other.lines.file}, "
            line = other.lines.line_of(("provider", other.local, "id"))
            problems.append(
                Problem(
                    place.lines.file,
                    place.lines.line_of(("provider", place.local, "id")),
                    f'provider "{provider.id}"',
                    f"another provider has the same id ({elsewhere}line {line})",
                )
            )
    return problems
