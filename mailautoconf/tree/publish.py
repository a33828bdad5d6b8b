"""The rendered tree on disk: a folder per domain, each switched on its own.

Layout of the output folder (``static_xml/`` by default)::

    current -> domains                         what nginx and admins read
    domains/
      example.org -> ../versions/example.org@3f9a2c41d0b7e5a1.1796112000
      _mx.hoster.net -> ../versions/_mx.hoster.net@...       MX lookup documents
    versions/
      example.org@3f9a2c41d0b7e5a1.1796112000/mail/config-v1.1.xml
                          one version of one domain: <folder>@<digest>.<mtime>
      ...
    manifest.json                              generation, rendered_at, domains, retired versions
    .staging/                                  versions being written (or killed: removed)
    .trash/                                    retired versions being deleted
    .lock                                      one publish, clean or sweep at a time
    .owner                                     held by the one process publishing here (serve, render)

Why this shape (bench/layouts.py measured the candidates at 100,000
domains): a reload writes only the domains whose documents changed. A
changed domain's new version is written whole under ``.staging/``, renamed
into ``versions/``, and made current by one rename(2) of its symlink in
``domains/``. A reader that opens ``current/example.org/mail/...`` resolves
either the old or the new symlink, so it sees one whole version of that
domain, never a mix and never a missing file, and 99,999 other domains are
not touched at all. A full new generation per reload (the layout before)
rewrote 400,000 files for a one-line edit; a generation of hard links to
the previous one still makes 100,000 folders and 400,000 links.

A version's name holds a digest of everything its documents are made from
(:data:`mailautoconf.render.templates.CODE_FINGERPRINT` included), so a
restart with an unchanged config finds every domain already current and
writes nothing; and the mtime of its files (their Last-Modified), so that
restart reads 100,000 symlinks and stats no file. ``kill -9`` at any moment leaves every symlink pointing at a
complete version; what a killed publish left behind is removed by the next
one. The version a domain had before a change is kept until the publish
after, for readers that resolved the old symlink a moment before the switch.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from mailautoconf.render import EVOLUTION
from mailautoconf.render import THUNDERBIRD

__all__ = [
    "CURRENT",
    "DOMAINS",
    "MANIFEST",
    "OWNER",
    "STAMP",
    "VERSIONS",
    "Busy",
    "Change",
    "Claim",
    "Linked",
    "Published",
    "claim",
    "clean",
    "generation_number",
    "link_target",
    "linked",
    "publish",
    "read_manifest",
    "stamp",
    "sweep",
    "version_name",
]

CURRENT = "current"
DOMAINS = "domains"
VERSIONS = "versions"
MANIFEST = "manifest.json"
OWNER = ".owner"  # locked by the process that publishes here (Claim)
# How the tree (rendered_at), /healthz and /metrics write a moment: ISO 8601, UTC, to the second.
STAMP = "%Y-%m-%dT%H:%M:%SZ"
# How long a replaced version stays at least, for readers that resolved its
# symlink just before the switch.
HOLD_SECONDS = 1.0
_STAGING = ".staging"
_TRASH = ".trash"
_TEMPORARY = ".tmp-"
_OLD_GENERATION = re.compile(r"^gen-(\d{6,})$")  # the layout before: a whole tree per generation
# Documents nginx serves itself: their mtime is the Last-Modified both
# nginx and the service send.
_STATIC = (THUNDERBIRD, EVOLUTION)


@dataclass(frozen=True)
class Published:
    generation: str
    path: str  # the tree readers use: <output>/current
    rendered_at: str
    written: int  # domain folders switched to a new version by this publish
    removed: int


@dataclass(frozen=True)
class Linked:
    """A folder's current version on disk."""

    digest: str
    mtime: int  # of its static documents, seconds: their Last-Modified


@dataclass(frozen=True)
class Change:
    """A folder's new version: its digest and a function rendering its documents."""

    digest: str
    documents: Callable[[], Mapping[str, bytes]]


class Busy(Exception):
    """Another process publishes into the output folder; the message says which and what to do."""


class Claim:
    """This process's hold on an output folder: the one process publishing there, for as long as it runs.

    Two writers on one tree (``render`` beside a running ``serve``, a second
    ``serve``) each delete the versions the other links to. So whoever
    publishes first holds an exclusive lock on ``.owner`` in the folder
    until it exits (the kernel lets go of it even after ``kill -9``), and
    every other process is refused with a message naming the holder.
    """

    def __init__(self, output_dir: str, role: str) -> None:
        self.output_dir = output_dir
        self.role = role
        self._descriptor: int | None = self._take()

    def _take(self) -> int:
        os.makedirs(self.output_dir, exist_ok=True)
        path = os.path.join(self.output_dir, OWNER)
        # Read-only: a descriptor open for writing would keep the file system from being remounted read-only.
        descriptor = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 256, 0).decode("utf-8", "replace").strip() or "a process"
            os.close(descriptor)
            raise Busy(
                f"{self.output_dir}: {holder} publishes into this folder; one process per output folder: "
                "stop it, or give this one an --output of its own (a running serve re-renders by itself "
                "when the config changes)"
            ) from None
        with contextlib.suppress(OSError), open(path, "w", encoding="utf-8") as said:  # said, not needed
            said.write(f"mailautoconf {self.role} (pid {os.getpid()}, since {stamp()})\n")
        return descriptor

    def held(self) -> bool:
        """Whether the lock file in the folder is still the one held (the folder was not deleted or replaced)."""
        if self._descriptor is None:
            return False
        try:
            on_disk = os.stat(os.path.join(self.output_dir, OWNER))
        except OSError:
            return False
        own = os.fstat(self._descriptor)
        return (on_disk.st_dev, on_disk.st_ino) == (own.st_dev, own.st_ino)

    def renew(self) -> None:
        """Hold the folder again after it was replaced; raises Busy if another process took it meanwhile."""
        if self.held():
            return
        descriptor = self._take()  # the old one is let go of only once the new one is held
        self.release()
        self._descriptor = descriptor

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def claim(output_dir: str, role: str) -> Claim:
    """Hold ``output_dir`` for this process (``role``: serve, render); raises Busy naming the holder."""
    return Claim(output_dir, role)


@contextlib.contextmanager
def _locked(output_dir: str) -> Iterator[None]:
    with open(os.path.join(output_dir, ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_manifest(output_dir: str) -> dict[str, object]:
    try:
        with open(os.path.join(output_dir, MANIFEST), encoding="utf-8") as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def stamp(moment: datetime | None = None) -> str:
    """``moment`` (default: now) as :data:`STAMP` writes it."""
    return (moment or datetime.now(UTC)).strftime(STAMP)


def linked(output_dir: str) -> dict[str, Linked]:
    """Every folder in ``domains/`` and the version it points at, when that version is there: what a restart can keep.

    A link whose version is missing (deleted under the service, or by a
    second writer) is left out, so it is written again. Empty for a tree
    of the layout before (``current`` -> ``gen-NNNNNN``): everything is
    written again once, in the new layout.
    """
    if _current_target(output_dir) not in (DOMAINS, None):
        return {}
    folder = os.path.join(output_dir, DOMAINS)
    present = _version_names(output_dir)
    found: dict[str, Linked] = {}
    try:
        entries = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    with entries:
        for entry in entries:
            if entry.name.startswith(_TEMPORARY):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                continue
            try:
                target = os.readlink(entry.path)
            except OSError:
                continue  # not a symlink: written again
            version = os.path.basename(target)
            parsed = _parse(version)
            if (
                parsed is not None
                and parsed[0] == entry.name
                and target == _in_versions(version)
                and version in present
            ):
                found[entry.name] = Linked(parsed[1], parsed[2])
    return found


def _version_names(output_dir: str) -> set[str]:
    try:
        return set(os.listdir(os.path.join(output_dir, VERSIONS)))
    except (FileNotFoundError, NotADirectoryError):
        return set()


def version_name(folder: str, linked: Linked) -> str:
    """The name in ``versions/`` of ``folder``'s version ``linked``."""
    return f"{folder}@{linked.digest}.{linked.mtime}"


def link_target(folder: str, linked: Linked) -> str:
    """What ``domains/<folder>`` links to when its version is ``linked``."""
    return _in_versions(version_name(folder, linked))


def _in_versions(version: str) -> str:
    return f"../{VERSIONS}/{version}"


def _parse(version: str) -> tuple[str, str, int] | None:
    """``example.org@<digest>.<mtime>`` -> (folder, digest, mtime); None for anything else."""
    folder, _, rest = version.rpartition("@")
    digest, _, mtime = rest.partition(".")
    if not folder or not digest or not mtime.isdigit() or "/" in version or folder[:1] == ".":
        return None
    return folder, digest, int(mtime)


def _current_target(output_dir: str) -> str | None:
    return _link_target(os.path.join(output_dir, CURRENT))


def publish(
    output_dir: str,
    changes: Mapping[str, Change | None],
    total: int,
    before: Mapping[str, Linked],
    *,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
    after: int = 0,
) -> tuple[Published, dict[str, Linked]]:
    """Make ``changes`` current: folder -> its new version, or None to remove the folder.

    ``before`` is what is linked now (:func:`linked`, or what the last
    publish returned). Returns the publish and the folders now linked that
    changed. ``total`` is the number of hosted domains, for the manifest.
    ``after``: the last generation number the caller served; the new one
    is above it and above the manifest's, so a tree deleted under a running
    service does not start counting at 1 again.

    Two phases, so that a publish that fails leaves the tree as it was:
    first every new version is written (where a full disk shows), and the
    manifest prepared; only then are the links switched, each by one
    rename. A failure in the first phase removes what it wrote; one in the
    second puts the links it switched back. Either way the error is raised
    and the tree on disk still equals what the caller serves.
    """
    os.makedirs(output_dir, exist_ok=True)
    with _locked(output_dir):
        moment = now or datetime.now(UTC)
        mtime = int(moment.timestamp())
        staging = os.path.join(output_dir, _STAGING)
        shutil.rmtree(staging, ignore_errors=True)  # a killed publish's half-written versions
        versions = os.path.join(output_dir, VERSIONS)
        domains = os.path.join(output_dir, DOMAINS)
        for folder in (versions, domains):
            _ensure_folder(output_dir, folder)
        os.makedirs(staging)
        manifest = read_manifest(output_dir)
        retired: list[str] = []
        now_linked: dict[str, Linked] = {}
        written = removed = 0
        # Versions of the same name found whole (the same documents, the same second): kept if this fails.
        # Every other version this publish names it wrote, and removes again if it fails.
        kept: set[str] = set()
        try:
            for folder, change in changes.items():
                old = before.get(folder)
                if change is None:
                    removed += 1
                else:
                    documents = change.documents()
                    version_mtime = mtime
                    # A damaged version of this very name (a file lost under the service) is left for
                    # clean() and sweep(): the new one is a second later, so nothing has to be moved.
                    while (
                        found := _write_version(staging, versions, folder, change.digest, documents, version_mtime)
                    ) == "damaged":
                        version_mtime += 1
                    if found == "kept":
                        kept.add(version_name(folder, Linked(change.digest, version_mtime)))
                    now_linked[folder] = Linked(change.digest, version_mtime)
                    written += 1
                new = now_linked.get(folder)
                if old is not None and (new is None or (new.digest, new.mtime) != (old.digest, old.mtime)):
                    retired.append(version_name(folder, old))
                if progress is not None and (written + removed) % 5000 == 0 and written + removed:
                    progress(written + removed, len(changes))
            old_tree = _current_target(output_dir)
            number = max(generation_number(manifest), after) + 1
            generation = f"gen-{number:06d}"
            rendered_at = stamp(moment)
            # Versions retired by an earlier publish, at least HOLD_SECONDS ago
            # (readers have long let go of them), are removed by clean(), after
            # the caller has switched to this one. bench/layouts.py saw readers
            # miss a file when a version went at the very next of many quick
            # publishes, and never with this hold.

            def still_linked(version: str) -> bool:
                folder, digest, version_mtime = _parse(version) or ("", "", 0)
                linked = now_linked.get(folder) or (before.get(folder) if folder not in changes else None)
                return linked is not None and (linked.digest, linked.mtime) == (digest, version_mtime)

            earlier = [version for version in _names(manifest, "retired") if not still_linked(version)]
            to_remove = [version for version in _names(manifest, "to_remove") if not still_linked(version)]
            retired_at = manifest.get("retired_at")
            held = isinstance(retired_at, int | float) and moment.timestamp() - retired_at < HOLD_SECONDS
            if held:
                retired = earlier + retired  # kept for another publish, at least HOLD_SECONDS from now
            else:
                to_remove += earlier
            prepared = _prepare_manifest(
                output_dir,
                {
                    "generation": generation,
                    "rendered_at": rendered_at,
                    "domains": total,
                    "retired": retired,
                    "retired_at": moment.timestamp(),
                    "to_remove": to_remove,
                },
            )
        except BaseException:
            _remove_versions(versions, now_linked, kept)
            shutil.rmtree(staging, ignore_errors=True)
            raise
        switched = 0  # links switched so far: put back from ``before`` if a later one fails
        try:
            for folder, change in changes.items():
                path = os.path.join(domains, folder)
                switched += 1
                if change is None:
                    _remove_entry(output_dir, path)
                else:
                    _link(output_dir, domains, folder, link_target(folder, now_linked[folder]))
            if old_tree != DOMAINS:
                _link(output_dir, output_dir, CURRENT, DOMAINS)  # the one switch from the layout before
            os.replace(prepared, os.path.join(output_dir, MANIFEST))
        except BaseException:
            _restore_links(domains, list(changes)[:switched], before)
            _remove_versions(versions, now_linked, kept)
            with contextlib.suppress(OSError):
                os.unlink(prepared)
            shutil.rmtree(staging, ignore_errors=True)
            raise
        shutil.rmtree(staging, ignore_errors=True)
        if old_tree is not None and _OLD_GENERATION.match(old_tree):
            _remove_old_generations(output_dir)
        return Published(generation, os.path.join(output_dir, CURRENT), rendered_at, written, removed), now_linked


def _link_target(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _restore_links(domains: str, folders: list[str], before: Mapping[str, Linked]) -> None:
    """Put back the links of ``folders`` a failed publish switched: best effort, selfcheck.py finds the rest."""
    for folder in reversed(folders):
        path = os.path.join(domains, folder)
        old = before.get(folder)
        with contextlib.suppress(OSError):
            if old is None:
                if os.path.islink(path):
                    os.unlink(path)
            else:
                _replace_symlink(domains, folder, link_target(folder, old))


def _remove_versions(versions: str, written: Mapping[str, Linked], kept: set[str]) -> None:
    """Remove the versions a failed publish wrote (not those it found there already)."""
    for folder, linked in written.items():
        name = version_name(folder, linked)
        if name not in kept:
            shutil.rmtree(os.path.join(versions, name), ignore_errors=True)


def _ensure_folder(output_dir: str, path: str) -> None:
    """Make ``path`` a real folder: whatever else stands there (a file, a link) is moved into the trash."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        os.mkdir(path)
        return
    if stat.S_ISDIR(status.st_mode):
        return
    _remove_entry(output_dir, path)
    os.mkdir(path)


def _remove_entry(output_dir: str, path: str) -> None:
    """Remove ``path`` from the tree: a link or file at once, a folder by a rename into the trash."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(status.st_mode):
        os.unlink(path)
        return
    trash = os.path.join(output_dir, _TRASH)
    os.makedirs(trash, exist_ok=True)
    os.rename(path, os.path.join(trash, f"{os.path.basename(path)}-{os.getpid()}-{time.monotonic_ns()}"))


def _names(manifest: Mapping[str, object], key: str) -> list[str]:
    """Version names listed in the manifest; only plain ``folder@digest`` names are ever removed."""
    found = manifest.get(key)
    if not isinstance(found, list):
        return []
    return [name for name in found if isinstance(name, str) and _parse(name) is not None]


def clean(output_dir: str) -> int:
    """Remove the versions the last publish marked for removal; returns how many.

    Deleting is slow on some disks (a 1,000-domain provider's old versions
    took 2 s here). So under the lock they are only renamed into a trash
    folder, which takes milliseconds; the deleting happens after the lock is
    released, while the next publish may already run.
    """
    with _locked(output_dir):
        manifest = read_manifest(output_dir)
        names = _names(manifest, "to_remove")
        if not names:
            return 0
        trash = os.path.join(output_dir, _TRASH, f"{manifest.get('generation')}-{os.getpid()}-{time.monotonic_ns()}")
        os.makedirs(trash)
        for name in names:
            if _is_linked(output_dir, name):
                continue  # linked again since it was retired: never leave a link dangling
            with contextlib.suppress(FileNotFoundError):
                os.rename(os.path.join(output_dir, VERSIONS, name), os.path.join(trash, name))
        _write_manifest(output_dir, {**manifest, "to_remove": []})
    shutil.rmtree(trash, ignore_errors=True)
    return len(names)


def sweep(output_dir: str, keep: Mapping[str, Linked]) -> int:
    """Remove versions no folder points at, and half-written ones (a killed publish's); returns how many.

    Costs a listing of ``versions/``: run once after the first publish of
    a process, not on every reload. The versions retired by the last
    publish stay (readers may still hold them).
    """
    with _locked(output_dir):
        shutil.rmtree(os.path.join(output_dir, _STAGING), ignore_errors=True)
        shutil.rmtree(os.path.join(output_dir, _TRASH), ignore_errors=True)  # a killed clean's
        retired = set(_names(read_manifest(output_dir), "retired"))
        wanted = {version_name(folder, found) for folder, found in keep.items()} | retired
        removed = 0
        try:
            names = os.listdir(os.path.join(output_dir, VERSIONS))
        except FileNotFoundError:
            return 0
        for name in names:
            # A version is never removed under a link, whatever ``keep`` says: one readlink, for the few unwanted.
            if name not in wanted and not _is_linked(output_dir, name):
                shutil.rmtree(os.path.join(output_dir, VERSIONS, name), ignore_errors=True)
                removed += 1
        return removed


def _is_linked(output_dir: str, version: str) -> bool:
    parsed = _parse(version)
    if parsed is None:
        return False
    return _link_target(os.path.join(output_dir, DOMAINS, parsed[0])) == _in_versions(version)


def generation_number(manifest: Mapping[str, object]) -> int:
    """The number of the manifest's generation (``gen-000042`` -> 42); 0 for none."""
    match = _OLD_GENERATION.match(str(manifest.get("generation", "")))
    return int(match.group(1)) if match else 0


def _write_version(
    staging: str, versions: str, folder: str, digest: str, documents: Mapping[str, bytes], mtime: int
) -> str:
    """Write a version whole under ``staging``, then move it into ``versions`` in one rename.

    Returns "new"; "kept" when a whole version of that name is there
    already (the same documents, written in the same second); "damaged"
    when one is there that lost a file (nothing is written: the caller
    takes the next second). One mkdir per folder, one open per file and no
    look-before-writing: at 100,000 domains every system call counts.
    """
    version = version_name(folder, Linked(digest, mtime))
    root = os.path.join(staging, version)
    os.mkdir(root)
    made: set[str] = set()
    for relative, content in documents.items():
        parent, _, _ = relative.rpartition("/")
        if parent and parent not in made:
            os.mkdir(os.path.join(root, parent))
            made.add(parent)
        path = os.path.join(root, relative)
        with open(path, "wb") as handle:
            handle.write(content)
        if relative in _STATIC:
            os.utime(path, (mtime, mtime))
    target = os.path.join(versions, version)
    try:
        os.rename(root, target)
        return "new"
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    shutil.rmtree(root, ignore_errors=True)
    return "kept" if _whole(target, documents) else "damaged"


def _whole(folder: str, documents: Mapping[str, bytes]) -> bool:
    """Whether ``folder`` holds each of ``documents``, at its length."""
    for relative, content in documents.items():
        try:
            if os.stat(os.path.join(folder, relative)).st_size != len(content):
                return False
        except OSError:
            return False
    return True


def _link(output_dir: str, folder: str, name: str, target: str) -> None:
    """Point ``folder/name`` at ``target``: created, or replaced in one rename.

    Anything else standing at that name (a folder copied over the link, a
    file) is moved into the trash first: the name belongs to the tree.
    """
    path = os.path.join(folder, name)
    try:
        os.symlink(target, path)
    except FileExistsError:
        if not os.path.islink(path):
            _remove_entry(output_dir, path)
            os.symlink(target, path)
        else:
            _replace_symlink(folder, name, target)


def _replace_symlink(folder: str, name: str, target: str) -> None:
    temporary = os.path.join(folder, _TEMPORARY + name)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    os.symlink(target, temporary)
    os.replace(temporary, os.path.join(folder, name))


def _write_manifest(output_dir: str, manifest: dict[str, object]) -> None:
    os.replace(_prepare_manifest(output_dir, manifest), os.path.join(output_dir, MANIFEST))


def _prepare_manifest(output_dir: str, manifest: dict[str, object]) -> str:
    """Write ``manifest`` beside the real one; returns the path to rename over it."""
    temporary = os.path.join(output_dir, _TEMPORARY + MANIFEST)
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2)
        handle.write("\n")
    return temporary


def _remove_old_generations(output_dir: str) -> None:
    for name in os.listdir(output_dir):
        if _OLD_GENERATION.match(name) or name == ".tmp-current" or name.startswith(".tmp-gen-"):
            path = os.path.join(output_dir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
