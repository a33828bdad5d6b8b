"""How mailautoconf holds at 1,000, 10,000 and 100,000 hosted domains (issue 8).

Only the command line and HTTP are used (``service.py render``, ``service.py
serve``, ``GET /healthz``, ``GET /mail/config-v1.1.xml``), so the figures
stay comparable while the render/publish/serve internals change.

For each size a config is generated: one provider per 1,000 domains (at
least 4), half of them with per-domain host names (``mail.{domain}``), 1 %
of the domains with an override (host name or display name), every 50th
domain an IDN (``bücher-000042.example``), all under the reserved
``.example`` TLD. It is written as one file and, when the loader supports
``[service] include`` (checked with ``service.py check`` on a tiny split
config), also split into one included file per provider. Each figure is
measured in a fresh process where it applies:

* cold ``render``: wall time and peak RSS (bench/maxrss.py), beside the disk
  floor: plain Python writing the same folders and files of the same sizes
  as the tree the render produced (counted after it), in the same run;
* restart: ``serve`` on the unchanged config and the existing tree, time
  until /healthz answers 200 with every domain, and how many files on disk
  are new or rewritten afterwards (inode and mtime of every file);
* serving RSS (VmRSS) once every domain is served;
* GET throughput of one domain's config-v1.1.xml with wrk;
* edit of one provider's display_name (temporary file + rename) until GET
  serves it (median of a few), with the process peak (VmHWM) around them;
* one domain added to a provider until its GET answers 200.

The shipped 3-domain config is measured the same way in the same run: it is
the baseline the edit goal is stated against. Figures are printed, never
enforced: exit status 0 whenever the bench ran, 1 when it could not.

    .venv/bin/python bench/scale.py [--sizes 1000 10000 100000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from harness import ROOT
from harness import SHIPPED_CONFIG
from harness import BenchError
from harness import KeepAliveClient
from harness import RssRun
from harness import Server
from harness import Started
from harness import atomic_write
from harness import body_contains
from harness import exit_on_sigterm
from harness import have_wrk
from harness import http_request
from harness import machine
from harness import make_progress
from harness import measure_rss
from harness import process_memory_kib
from harness import run_wrk
from harness import serve_command
from harness import service_command
from harness import start_server
from harness import started_processes
from harness import stop_processes
from harness import table_line
from harness import verdict
from harness import wait_for_get
from harness import with_display_name
from harness import work_folder
from harness import wrk_command

DEFAULT_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (100,)
GOAL_RENDER_RATIO = 1.5  # render time / disk floor
GOAL_RENDER_MIB = 400.0  # peak RSS of a cold render
GOAL_SERVE_MIB = 300.0  # VmRSS serving every domain
GOAL_EDIT_FACTOR = 3.0  # "within a few times" the edit on the 3-domain config, taken as 3x
DOMAINS_PER_PROVIDER = 1_000
OVERRIDE_EVERY = 100  # one domain in 100 of each provider has an override
IDN_EVERY = 50  # every 50th domain is an IDN
MIB = 1024.0

progress = make_progress("scale")


# -- configs -------------------------------------------------------------------------


SERVERS = """\
[[provider.incoming]]
type = "imap"
hostname = "{host}"
port = 993
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{{address}}"

[[provider.incoming]]
type = "imap"
hostname = "{host}"
port = 143
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{{address}}"

[[provider.incoming]]
type = "pop3"
hostname = "{host}"
port = 995
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{{address}}"
pop3 = {{ leave_messages_on_server = true }}

[[provider.outgoing]]
type = "smtp"
hostname = "{host}"
port = 465
socket_type = "SSL"
authentication = ["password-cleartext"]
username = "{{address}}"

[[provider.outgoing]]
type = "smtp"
hostname = "{host}"
port = 587
socket_type = "STARTTLS"
authentication = ["password-cleartext"]
username = "{{address}}"

[[provider.documentation]]
url = "https://help.{ident}/"
description = {{ en = "Settings for your mail", de = "Einstellungen für Ihre E-Mail" }}
"""


def domain_name(number: int) -> str:
    """d000001.example, ..., with every 50th an IDN: bücher-000050.example."""
    return f"bücher-{number:06d}.example" if number % IDN_EVERY == 0 else f"d{number:06d}.example"


@dataclass
class GeneratedProvider:
    index: int
    domains: list[str]
    display_name: str
    per_domain_hosts: bool

    @property
    def ident(self) -> str:
        return f"p{self.index:03d}.example"

    def overrides(self) -> list[tuple[str, str]]:
        """(domain, TOML line) for 1 % of this provider's domains: host names and display names, alternating."""
        found = []
        for position in range(OVERRIDE_EVERY // 2, len(self.domains), OVERRIDE_EVERY):
            domain = self.domains[position]
            if (position // OVERRIDE_EVERY) % 2:
                found.append((domain, f'display_name = "Customer {position} of {self.ident}"'))
            else:
                found.append((domain, f'hostname = "mail.customer-{position}.{self.ident}"'))
        return found

    def toml(self) -> str:
        host = "mail.{domain}" if self.per_domain_hosts else f"mail.{self.ident}"
        lines = [
            "[[provider]]",
            f'id = "{self.ident}"',
            f'display_name = "{self.display_name}"',
            f'short_name = "{self.ident}"',
            "domains = [",
            *(f'  "{domain}",' for domain in self.domains),
            "]",
            "",
            SERVERS.format(host=host, ident=self.ident),
        ]
        for domain, line in self.overrides():
            lines += [f'[provider.overrides."{domain}"]', line, ""]
        return "\n".join(lines) + "\n"

    def plain_domain(self) -> str:
        """A domain of this provider with an ASCII name and no override: the one polled and measured."""
        overridden = {domain for domain, _ in self.overrides()}
        return next(d for d in self.domains if d.isascii() and d not in overridden)


class ConfigUnderTest:
    """A config on disk that the bench can edit: write it, change a display name, add a domain."""

    label: str
    domains: int
    main: Path

    def write(self, folder: Path) -> None:
        raise NotImplementedError

    def edit_display_name(self, value: str) -> tuple[Path, str]:
        """The file to rewrite and its new text; afterwards ``probe_domain`` is served with ``value``."""
        raise NotImplementedError

    def add_domain(self, domain: str) -> tuple[Path, str]:
        raise NotImplementedError

    probe_domain: str


class GeneratedConfig(ConfigUnderTest):
    def __init__(self, domains: int, split: bool) -> None:
        self.domains = domains
        self.split = split
        self.label = "split" if split else "one file"
        count = max(4, domains // DOMAINS_PER_PROVIDER)
        per = -(-domains // count)
        self.providers = [
            GeneratedProvider(
                index=index + 1,
                domains=[domain_name(n) for n in range(index * per + 1, min((index + 1) * per, domains) + 1)],
                display_name=f"Bench provider {index + 1}",
                per_domain_hosts=index % 2 == 0,
            )
            for index in range(count)
        ]
        self.providers = [provider for provider in self.providers if provider.domains]
        self.target = self.providers[len(self.providers) // 2]  # the provider edited
        self.probe_domain = self.target.plain_domain()
        self.folder = Path()

    def header(self) -> str:
        include = 'include = ["autoconfig.d/*.toml"]\n' if self.split else ""
        return f'# generated by bench/scale.py\n[service]\npublic_hostname = "autoconfig.bench.example"\n{include}\n'

    def provider_file(self, provider: GeneratedProvider) -> Path:
        return self.folder / "autoconfig.d" / f"{provider.ident}.toml"

    def main_text(self) -> str:
        if self.split:
            return self.header()
        return self.header() + "\n".join(provider.toml() for provider in self.providers)

    def write(self, folder: Path) -> None:
        self.folder = folder
        self.main = folder / "autoconfig.toml"
        folder.mkdir(parents=True, exist_ok=True)
        self.main.write_text(self.main_text(), encoding="utf-8")
        if self.split:
            (folder / "autoconfig.d").mkdir()
            for provider in self.providers:
                self.provider_file(provider).write_text(provider.toml(), encoding="utf-8")

    def _changed_target(self) -> tuple[Path, str]:
        if self.split:
            return self.provider_file(self.target), self.target.toml()
        return self.main, self.main_text()

    def edit_display_name(self, value: str) -> tuple[Path, str]:
        self.target.display_name = value
        return self._changed_target()

    def add_domain(self, domain: str) -> tuple[Path, str]:
        self.target.domains.append(domain)
        return self._changed_target()


class ShippedConfig(ConfigUnderTest):
    """config/autoconfig.toml as it is: the 3-domain baseline."""

    label = "shipped"
    probe_domain = "example.org"

    def __init__(self) -> None:
        self.text = SHIPPED_CONFIG.read_text(encoding="utf-8")
        self.domains = 3

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.main = folder / "autoconfig.toml"
        self.main.write_text(self.text, encoding="utf-8")

    def edit_display_name(self, value: str) -> tuple[Path, str]:
        self.text = with_display_name(self.text, value)
        return self.main, self.text

    def add_domain(self, domain: str) -> tuple[Path, str]:
        self.text = self.text.replace("domains = [", f'domains = ["{domain}", ', 1)
        self.domains += 1
        return self.main, self.text


def split_supported(work: Path) -> bool:
    """Whether ``service.py check`` accepts a main file with ``[service] include`` and one included file."""
    probe = GeneratedConfig(8, split=True)
    probe.write(work / "split-probe")
    try:
        completed = subprocess.run(
            service_command("check", "--config", str(probe.main)),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    finally:
        shutil.rmtree(work / "split-probe", ignore_errors=True)
    return completed.returncode == 0


# -- the rendered tree and the disk floor -------------------------------------------------


@dataclass
class TreeShape:
    """What a render wrote, as the served tree shows it: folders, files and their sizes."""

    folders: int = 0  # top-level folders (one per domain, and any others)
    directories: int = 0
    files: int = 0
    bytes: int = 0
    # (relative paths inside a top-level folder) -> [count of folders, {path: total bytes}]
    groups: dict[tuple[str, ...], list[Any]] = field(default_factory=dict)
    top_files: list[tuple[str, int]] = field(default_factory=list)


def served_root(output: Path) -> Path:
    """The folder clients are served from: what ``current`` points at, if there is one."""
    current = output / "current"
    return Path(os.path.realpath(current)) if current.exists() else output


def tree_shape(output: Path) -> TreeShape:
    root = served_root(output)
    shape = TreeShape()
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            size = entry.stat().st_size
            shape.top_files.append((entry.name, size))
            shape.files += 1
            shape.bytes += size
        elif entry.is_dir():  # follows a symlink to a folder
            shape.folders += 1
            sizes: dict[str, int] = {}
            for folder, _, files in os.walk(entry.path, followlinks=True):
                shape.directories += 1
                for name in files:
                    path = os.path.join(folder, name)
                    sizes[os.path.relpath(path, entry.path)] = os.stat(path).st_size
            shape.files += len(sizes)
            shape.bytes += sum(sizes.values())
            key = tuple(sorted(sizes))
            group = shape.groups.setdefault(key, [0, dict.fromkeys(key, 0)])
            group[0] += 1
            for path, size in sizes.items():
                group[1][path] += size
    return shape


FLOOR_CODE = """\
import json, os, sys
spec = json.load(open(sys.argv[1]))
root = sys.argv[2]
os.makedirs(root)
made = set()
number = 0
for count, paths in spec["groups"]:
    bodies = [(path, b"x" * size) for path, size in paths]
    for _ in range(count):
        number += 1
        folder = os.path.join(root, f"f{number:07d}.example")
        for path, body in bodies:
            full = os.path.join(folder, path)
            parent = os.path.dirname(full)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            with open(full, "wb") as handle:
                handle.write(body)
for name, size in spec["top"]:
    with open(os.path.join(root, name), "wb") as handle:
        handle.write(b"x" * size)
"""


def measure_floor(shape: TreeShape, work: Path) -> tuple[RssRun, TreeShape]:
    """Plain Python writing the folders and files of ``shape`` (mean sizes per path), in a fresh process."""
    groups = [
        [count, [[path, round(total / count)] for path, total in totals.items()]]
        for count, totals in shape.groups.values()
    ]
    spec = work / "floor-spec.json"
    spec.write_text(json.dumps({"groups": groups, "top": shape.top_files}), encoding="utf-8")
    target = work / "floor"
    os.sync()
    try:
        run = measure_rss([sys.executable, "-c", FLOOR_CODE, str(spec), str(target)])
        written = tree_shape(target)
    finally:
        shutil.rmtree(target, ignore_errors=True)
        spec.unlink()
    return run, written


def document_identities(output: Path) -> dict[str, tuple[int, int]]:
    """Every document clients are served from disk, by its path under ``current``: (inode, mtime).

    Paths are followed through ``current`` and any per-domain symlinks, so a
    document counts as rewritten when the file a reader now opens is not the
    one it opened before, whatever the layout.
    """
    root = served_root(output)
    found: dict[str, tuple[int, int]] = {}
    for entry in os.scandir(root):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        for folder, _, files in os.walk(entry.path, followlinks=True):
            for name in files:
                path = os.path.join(folder, name)
                status = os.stat(path)
                found[os.path.relpath(path, root)] = (status.st_ino, status.st_mtime_ns)
    return found


# -- the running service --------------------------------------------------------------


def start_service(config: Path, output: Path, log: Path, domains: int, timeout: float, processes: Started) -> Server:
    """``serve`` on a free port; wait (bounded) until /healthz is 200 with ``domains`` domains."""
    return start_server(
        "serve",
        lambda port: serve_command(config, output, port),
        log,
        processes,
        domains=domains,
        timeout=timeout,
        on_slow=progress,
    )


def wait_for(
    client: KeepAliveClient, domain: str, done: Callable[[int, bytes], bool], started: float, timeout: float
) -> float | None:
    """Seconds from ``started`` until GET config-v1.1.xml of ``domain`` satisfies ``done``; None on timeout."""
    return wait_for_get(client, "/mail/config-v1.1.xml", f"autoconfig.{domain}", done, started, timeout)


def measure_edits(
    service: Server, config: ConfigUnderTest, edits: int, timeout: float
) -> tuple[list[float | None], dict[str, int], dict[str, int]]:
    """Edits of one provider's display_name until served; VmHWM/VmRSS before and after."""
    client = KeepAliveClient(service.port, timeout=30.0)
    before = process_memory_kib(service.process.pid)
    timings: list[float | None] = []
    began = time.perf_counter()
    try:
        for index in range(edits):
            value = f"Bench edit {index + 1} {secrets.token_hex(4)}"
            path, text = config.edit_display_name(value)
            wanted = f"<displayName>{value}</displayName>".encode()
            started = time.perf_counter()
            atomic_write(path, text)
            seen = wait_for(client, config.probe_domain, body_contains(wanted), started, timeout)
            timings.append(seen)
            progress(f"  edit {index + 1}: " + (f"{seen * 1000:.0f} ms" if seen is not None else "NOT served"))
            if seen is None:
                break  # the next edit would wait as long for nothing
            if index + 1 >= 3 and time.perf_counter() - began > 60:
                break  # at 100,000 domains a few are enough for a median
            # Let whatever the service does after the swap (pruning) finish before the next edit.
            time.sleep(min(30.0, max(0.3, seen)))
    finally:
        client.close()
    return timings, before, process_memory_kib(service.process.pid)


def measure_add(service: Server, config: ConfigUnderTest, timeout: float) -> float | None:
    client = KeepAliveClient(service.port, timeout=30.0)
    try:
        domain = f"added-{secrets.token_hex(4)}.example"
        path, text = config.add_domain(domain)
        if client.get("/mail/config-v1.1.xml", f"autoconfig.{domain}")[0] != 404:
            raise BenchError(f"{domain} is not a 404 before it is added")
        started = time.perf_counter()
        atomic_write(path, text)
        seen = wait_for(client, domain, lambda status, body: status == 200, started, timeout)
        progress(f"  add {domain}: " + (f"{seen * 1000:.0f} ms" if seen is not None else "NOT served"))
        return seen
    finally:
        client.close()


def measure_get(service: Server, domain: str, seconds: int, connections: int) -> tuple[float, int] | None:
    """wrk against one domain's config-v1.1.xml: (req/s, non-2xx/3xx + socket errors); None without wrk."""
    if not have_wrk():
        return None
    path = f"/mail/config-v1.1.xml?emailaddress=fred%40{domain}"
    status, body = http_request(service.port, "GET", path, f"autoconfig.{domain}")
    if status != 200 or b"<clientConfig" not in body:
        raise BenchError(f"GET {path} for {domain} answered {status}, not a config document")
    result = run_wrk(wrk_command(service.port, path, f"autoconfig.{domain}", seconds, connections), seconds)
    return result.requests_per_s, result.errors


# -- one row -------------------------------------------------------------------------------


@dataclass
class Row:
    domains: int
    layout: str
    render: RssRun | None = None
    floor: RssRun | None = None
    files: int = 0
    floor_files: int = 0
    restart_s: float | None = None
    files_before: int = 0
    rewritten: int | None = None
    serve_rss_kib: int | None = None
    get: tuple[float, int] | None = None
    edits: list[float | None] = field(default_factory=list)
    hwm_before_kib: int | None = None
    hwm_after_kib: int | None = None
    add_s: float | None = None
    timeout_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    ratios: list[float] = field(default_factory=list)  # render/floor of each round

    @property
    def ratio(self) -> float | None:
        return statistics.median(self.ratios) if self.ratios else None

    @property
    def edit_s(self) -> float | None:
        done = [value for value in self.edits if value is not None]
        if not done or len(done) < len(self.edits):
            return None
        return statistics.median(done)


def measure_row(
    config: ConfigUnderTest, work: Path, args: argparse.Namespace, processes: Started, edits: int | None = None
) -> Row:
    row = Row(config.domains, config.label)
    name = f"{config.domains:,} domains ({config.label})"
    folder = work / f"row-{config.domains}-{config.label.replace(' ', '-')}"
    output = folder / "static_xml"
    try:
        progress(f"{name}: writing the config")
        config.write(folder / "config")
        renders: list[RssRun] = []
        floors: list[RssRun] = []
        for round_ in range(1, args.rounds + 1):
            of = f" (round {round_} of {args.rounds})" if args.rounds > 1 else ""
            if round_ > 1:
                shutil.rmtree(output)  # each render is cold, into an empty folder
            progress(f"{name}: cold render, fresh process{of}")
            os.sync()
            renders.append(
                measure_rss(service_command("render", "--config", str(config.main), "--output", str(output)))
            )
            shape = tree_shape(output)
            row.files = shape.files
            progress(f"{name}: render {renders[-1].wall_s:.2f} s; {shape.files:,} files in {shape.folders:,} folders")
            progress(f"{name}: disk floor, the same {shape.files:,} files from plain Python, fresh process{of}")
            floor, written = measure_floor(shape, folder)
            floors.append(floor)
            row.floor_files = written.files
            progress(f"{name}: floor {floor.wall_s:.2f} s")
            if written.files != shape.files or written.directories != shape.directories:
                row.notes.append(
                    f"floor wrote {written.files} files/{written.directories} folders, "
                    f"render {shape.files}/{shape.directories}"
                )
        row.ratios = [render.wall_s / floor.wall_s for render, floor in zip(renders, floors, strict=True)]
        row.render = RssRun(0, statistics.median(r.wall_s for r in renders), max(r.maxrss_kib for r in renders))
        row.floor = RssRun(0, statistics.median(f.wall_s for f in floors), max(f.maxrss_kib for f in floors))

        before = document_identities(output)
        row.files_before = len(before)
        timeout = max(60.0, 4 * row.render.wall_s + 30)
        row.timeout_s = 5.0 if args.quick else max(10.0, 2 * row.render.wall_s + 10)
        progress(f"{name}: restart serve on the existing tree (up to {timeout:.0f} s)")
        service = start_service(config.main, output, folder / "serve.log", config.domains, timeout, processes)
        row.restart_s = service.ready_s
        if service.attempts > 1:
            row.notes.append(f"serve needed {service.attempts} attempts (port taken); restart time of the last")
        after = document_identities(output)
        row.rewritten = sum(1 for path, identity in after.items() if before.get(path) != identity)
        row.serve_rss_kib = process_memory_kib(service.process.pid).get("VmRSS")
        progress(f"{name}: serving after {row.restart_s:.2f} s; {row.rewritten:,} documents new or rewritten")

        progress(f"{name}: wrk GET config-v1.1.xml of {config.probe_domain} for {args.duration} s")
        row.get = measure_get(service, config.probe_domain, args.duration, args.connections)

        progress(f"{name}: edits of one provider's display_name (each up to {row.timeout_s:.0f} s)")
        timings, hwm_before, hwm_after = measure_edits(service, config, edits or args.edits, row.timeout_s)
        row.edits = timings
        row.hwm_before_kib = hwm_before.get("VmHWM")
        row.hwm_after_kib = hwm_after.get("VmHWM")
        if any(value is None for value in timings):
            row.notes.append(f"an edit was not served within {row.timeout_s:.0f} s")
        else:
            progress(f"{name}: one domain added to a provider (up to {row.timeout_s:.0f} s)")
            row.add_s = measure_add(service, config, row.timeout_s)
            if row.add_s is None:
                row.notes.append(f"the added domain was not served within {row.timeout_s:.0f} s")
        if service.process.poll() is not None:
            row.notes.append(f"serve exited with status {service.process.returncode}")
    except BenchError as exc:
        row.notes.append(f"stopped: {str(exc).splitlines()[0]}")
        progress(f"{name}: {exc}")
    finally:
        stop_processes(processes)
        progress(f"{name}: removing {folder}")
        shutil.rmtree(folder, ignore_errors=True)
    return row


# -- the table -------------------------------------------------------------------------------

COLUMNS = (
    ("domains", 9),
    ("config", 8),
    ("render s", 9),
    ("floor s", 8),
    ("ratio", 6),
    ("render MiB", 11),
    ("files", 8),
    ("restart s", 10),
    ("rewritten", 10),
    ("serve MiB", 10),
    ("GET req/s", 10),
    ("edit ms", 8),
    ("edit HWM MiB", 13),
    ("add ms", 8),
)


def _cell(value: float | int | None, pattern: str) -> str:
    return "n/a" if value is None else format(value, pattern)


def format_row(row: Row) -> list[str]:
    if row.edits and row.edit_s is None:
        edit = f">{row.timeout_s:.0f}s"
    else:
        edit = _cell(row.edit_s * 1000 if row.edit_s is not None else None, ",.0f")
    if row.hwm_after_kib is None:
        hwm = "n/a"
    else:
        grew = row.hwm_before_kib is not None and row.hwm_after_kib > row.hwm_before_kib
        hwm = f"{row.hwm_after_kib / MIB:,.0f}" + (" +" if grew else "  ")
    add = _cell(row.add_s * 1000 if row.add_s is not None else None, ",.0f")
    if row.add_s is None and row.edit_s is not None:
        add = f">{row.timeout_s:.0f}s"
    get = "n/a" if row.get is None else f"{row.get[0]:,.0f}" + ("!" if row.get[1] else "")
    cells = [
        f"{row.domains:,}",
        row.layout,
        _cell(row.render.wall_s if row.render else None, ",.2f"),
        _cell(row.floor.wall_s if row.floor else None, ",.2f"),
        _cell(row.ratio, ".2f"),
        _cell(row.render.maxrss_kib / MIB if row.render else None, ",.0f"),
        f"{row.files:,}" if row.render else "n/a",
        _cell(row.restart_s, ",.2f"),
        "n/a" if row.rewritten is None else f"{row.rewritten:,}",
        _cell(row.serve_rss_kib / MIB if row.serve_rss_kib else None, ",.0f"),
        get,
        edit,
        hwm,
        add,
    ]
    return cells


def print_table(rows: list[Row], split_note: str | None) -> None:
    print("\n== Scale: one config of each size, every figure in the same run ==")
    widths = [width for _, width in COLUMNS]
    print(table_line([title for title, _ in COLUMNS], widths))
    for row in rows:
        print(table_line(format_row(row), widths))
    if split_note:
        print(f"{'':>{COLUMNS[0][1]}}  {'split':>{COLUMNS[1][1]}}  n/a: {split_note}")
    print(
        "render s / render MiB: cold `service.py render`, fresh process, wall time and peak RSS; "
        "floor s: plain Python writing the same files; ratio = render/floor (with --rounds: medians, the highest peak)"
    )
    print(
        "files: regular files in the served tree; restart s: `serve` start -> /healthz 200 with every domain, "
        "existing tree, unchanged config; rewritten: documents under current/ that are another file "
        "(inode/mtime) after that restart"
    )
    print(
        "serve MiB: VmRSS serving every domain; GET req/s: wrk on one domain's config-v1.1.xml "
        "(! = some non-2xx or socket errors); edit ms: median, display_name edit -> served (5 ms polls); "
        "edit HWM MiB: process peak VmHWM after the edits (+: it grew during them); add ms: new domain -> 200"
    )
    for row in rows:
        for note in row.notes:
            print(f"note, {row.domains:,} ({row.layout}): {note}")


def print_goals(rows: list[Row]) -> None:
    print("\n== Goals ==")
    baseline = next((row for row in rows if row.layout == "shipped"), None)
    base_edit = baseline.edit_s if baseline else None
    scaled = [row for row in rows if row.layout != "shipped"]

    def line(goal: str, cells: list[str]) -> None:
        print(f"{goal}\n    " + "; ".join(cells))

    line(
        f"render time <= {GOAL_RENDER_RATIO} x the disk floor",
        [
            f"{r.domains:,} {r.layout}: "
            + (f"{r.ratio:.2f} " if r.ratio else "")
            + verdict(None if r.ratio is None else r.ratio <= GOAL_RENDER_RATIO)
            for r in scaled
        ],
    )
    line(
        f"render peak RSS <= {GOAL_RENDER_MIB:.0f} MiB",
        [
            f"{r.domains:,} {r.layout}: "
            + (f"{r.render.maxrss_kib / MIB:,.0f} MiB " if r.render else "")
            + verdict(None if r.render is None else r.render.maxrss_kib / MIB <= GOAL_RENDER_MIB)
            for r in scaled
        ],
    )
    line(
        f"serving RSS <= {GOAL_SERVE_MIB:.0f} MiB",
        [
            f"{r.domains:,} {r.layout}: "
            + (f"{r.serve_rss_kib / MIB:,.0f} MiB " if r.serve_rss_kib else "")
            + verdict(None if r.serve_rss_kib is None else r.serve_rss_kib / MIB <= GOAL_SERVE_MIB)
            for r in scaled
        ],
    )
    base = f"{base_edit * 1000:,.0f} ms" if base_edit is not None else "n/a"
    for what, attribute in (("edit of one provider", "edit_s"), ("one domain added", "add_s")):
        cells = []
        for r in scaled:
            seconds = getattr(r, attribute)
            if seconds is not None and base_edit:
                factor = seconds / base_edit
                cells.append(f"{r.domains:,} {r.layout}: {factor:.1f}x " + verdict(factor <= GOAL_EDIT_FACTOR))
            elif (None in r.edits) if attribute == "edit_s" else (r.edit_s is not None):  # measured, timed out
                cells.append(f"{r.domains:,} {r.layout}: not served within {r.timeout_s:.0f} s NOT met")
            else:
                cells.append(f"{r.domains:,} {r.layout}: n/a")
        line(f"{what} -> served within {GOAL_EDIT_FACTOR:.0f}x the 3-domain edit ({base})", cells)
    line(
        "restart with an unchanged config rewrites no documents (what an incremental publish gives)",
        [
            f"{r.domains:,} {r.layout}: "
            + ("" if r.rewritten is None else f"{r.rewritten:,} of {r.files_before:,} ")
            + verdict(None if r.rewritten is None else r.rewritten == 0)
            for r in [*([baseline] if baseline else []), *scaled]
        ],
    )
    if baseline and baseline.get:
        cells = [f"{r.domains:,} {r.layout}: {r.get[0] / baseline.get[0]:.2f}" for r in scaled if r.get is not None]
        line(f"GET req/s relative to the 3-domain config ({baseline.get[0]:,.0f}; no goal stated, 1.00 = same)", cells)


# -- main --------------------------------------------------------------------------------


def commit() -> str:
    def git(*arguments: str) -> str:
        completed = subprocess.run(
            ["git", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
        )
        return completed.stdout.strip()

    head = git("log", "-1", "--format=%h %s") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "mailautoconf", "service.py")
    return head + (" (+ uncommitted changes in mailautoconf/)" if dirty else "")


def run(args: argparse.Namespace) -> None:
    print(f"mailautoconf scale bench: code at {commit()}; {machine()}")
    rows: list[Row] = []
    with work_folder("mailautoconf-scale-") as work:
        split = args.split == "auto" and split_supported(work)
        split_note = None
        if args.split == "auto" and not split:
            split_note = "`service.py check` refuses a config with [service] include"
        elif args.split == "off":
            split_note = "not measured (--split off)"
        progress(f"split configs (include): {'supported' if split else 'not measured'}")
        with started_processes() as processes:
            rows.append(measure_row(ShippedConfig(), work, args, processes))
            for size in args.sizes:
                rows.append(measure_row(GeneratedConfig(size, split=False), work, args, processes))
                if split:
                    rows.append(measure_row(GeneratedConfig(size, split=True), work, args, processes))
        print_table(rows, split_note)
        print_goals(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Measure mailautoconf at 1,000, 10,000 and 100,000 domains.")
    parser.add_argument("--sizes", type=int, nargs="+", metavar="N", help="domain counts (default 1000 10000 100000)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 domains, 1 s wrk, 1 edit, 5 s timeouts")
    parser.add_argument("--split", choices=("auto", "off"), default="auto", help="also measure split configs")
    parser.add_argument("--edits", type=int, default=5, help="display_name edits per size (default 5; median)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="render + floor pairs per config, alternating (default 1; medians)"
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = args.sizes or list(QUICK_SIZES)
        args.edits, args.duration = 1, 1
    args.sizes = args.sizes or list(DEFAULT_SIZES)
    if min(args.sizes) < 8 or min(args.edits, args.rounds, args.duration, args.connections) < 1:
        parser.error("sizes must be at least 8; --edits, --rounds, --duration and --connections at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    try:
        run(args)
    except BenchError as exc:
        print(f"scale: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
