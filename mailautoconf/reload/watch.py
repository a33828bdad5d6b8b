"""Watch the config files and run the pipeline when one of them changes.

Editors and deploy tools rarely write a file in place: vim and sed -i write
a new file and rename it over the old one, Kubernetes swaps a symlinked
folder (``..data``), rsync renames from a temporary name. So the folders
holding config files are watched, and created, modified, moved and deleted
events count when they concern a config file: the main file, a file an
``include`` pattern matches (one appearing or vanishing too), the
symlinked folder the main file is reached through, and the ``[signing]``
certificate and key (a renewal is used without a restart). Everything else in those
folders (a log written beside the config, a panel's other files) is
ignored. What inotify cannot see (a watched folder replaced by another of
its name, a symlinked file's target changing in a folder nobody watched)
is caught by comparing a few stat() results every :data:`POLL_SECONDS`.

A burst of events (one save is often three or four) is debounced into one
reload: the reload runs once events stop for :data:`DEBOUNCE_SECONDS`, and
at the latest :data:`MAX_DELAY_SECONDS` after the first one, so a folder
that never stops changing cannot postpone it. The pipeline itself skips a
reload when no config file's bytes changed.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
import threading
import time

from watchdog.events import FileSystemEvent
from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

from mailautoconf.reload.pipeline import Pipeline

__all__ = ["DEBOUNCE_SECONDS", "MAX_DELAY_SECONDS", "Watcher"]

log = logging.getLogger("mailautoconf.reload.watch")

# Quiet time after the last event before reloading; short enough that a
# change is served well within a second, long enough to swallow a burst.
DEBOUNCE_SECONDS = 0.15
# The longest a change waits while events keep coming.
MAX_DELAY_SECONDS = 0.5
# How often the watched folders' identities and symlinked files' targets are compared (Watcher._signature).
POLL_SECONDS = 1.0


class Watcher(FileSystemEventHandler):
    """Runs ``pipeline`` after changes to its config files settle."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.main = os.path.abspath(pipeline.config_path)
        self._wake = threading.Event()
        self._force = False
        self._stopping = threading.Event()
        self._observer = Observer()
        self._thread = threading.Thread(target=self._loop, name="reload", daemon=True)
        self._folders: dict[str, tuple[int, int]] = {}  # watched folder -> its identity (device, inode)
        self._patterns: tuple[str, ...] = ()
        self._files: frozenset[str] = frozenset()
        self._via: frozenset[str] = frozenset()
        self._named_folders: frozenset[str] = frozenset()  # the config folder and the include folders
        self._polled: tuple[str, ...] = ()
        self._wanted: tuple[str, ...] = ()  # the folders to watch, present or not
        self._seen: tuple[object, ...] = ()

    def start(self) -> None:
        self._observer.daemon = True
        self._watch()
        self._observer.start()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._observer.stop()
        self._observer.join(timeout=5)
        self._thread.join(timeout=5)

    def request_reload(self) -> None:
        """Ask for a reload even if no file changed (SIGHUP)."""
        self._force = True
        self._wake.set()

    def _watch(self) -> None:
        """Watch the folders of the config files the last config named; again after each reload.

        Also watched: the folders that symlinked config files point into (a
        dangling link mended there changes nothing beside the link). A folder
        replaced by another of the same name (the config folder too) is
        watched anew, found by the poll (:meth:`_signature`): inotify watches
        the folder, not the name, and kept watching the deleted one. The
        folder above the config folder is not watched: it is often busy (a
        log beside the config folder), and every event costs the service.
        """
        folder = os.path.dirname(self.main)
        loaded = self.pipeline.watched or self.pipeline.config
        patterns = tuple(
            pattern if os.path.isabs(pattern) else os.path.join(folder, pattern)
            for pattern in (loaded.service.include if loaded else ())
        )
        # The files the last load read, a broken one too (the loader listed the include folders, and
        # says which are links), and those of the last config that loaded.
        loader = self.pipeline.loader
        seen = {os.path.abspath(source) for source in loader.sources_seen}
        files = {self.main} | seen | {os.path.abspath(source) for source in (loaded.sources if loaded else ())}
        # The signing certificate and key: a renewal replaces them (certbot and
        # dehydrated switch a symlink in their folder), and is used at once.
        signing_files = {os.path.abspath(path) for path in (loaded.signing.files() if loaded else ())}
        files |= signing_files
        # Kubernetes: autoconfig.toml -> ..data/autoconfig.toml, ..data -> ..2026_12_01...
        via = set()
        if os.path.islink(self.main):
            target = os.readlink(self.main)
            if not os.path.isabs(target):
                via.add(os.path.join(folder, target.split(os.sep)[0]))
        # Where symlinked files point: their targets, and the folders those are (or would be) in. Only
        # the few files outside the include folders are looked at here, one lstat each.
        listed = {os.path.abspath(source) for source in loader.sources_seen[1:]}  # [0]: the main file
        symlinks = {os.path.abspath(path) for path in loader.links_seen}
        symlinks |= {path for path in files - listed if os.path.islink(path)}
        targets = {target for target in map(_target, symlinks) if target}
        folders = (
            {folder}
            | {os.path.dirname(pattern) for pattern in patterns}
            | {os.path.dirname(f) for f in signing_files}
            | {_existing_folder(os.path.dirname(path)) for path in targets}
        )
        self._wanted = tuple(sorted(folders))
        identities = {path: identity for path in self._wanted if (identity := _identity(path)) is not None}
        self._patterns, self._files = patterns, frozenset(files | targets)
        self._via = frozenset(via)
        self._named_folders = frozenset({folder} | {os.path.dirname(pattern) for pattern in patterns})
        self._polled = tuple(sorted(symlinks) + sorted(targets))
        if identities != self._folders:
            replaced = bool(self._folders)
            self._observer.unschedule_all()
            for path in sorted(identities):
                self._observer.schedule(self, path, recursive=False)
            self._folders = identities
            if replaced:
                # Files written into a new folder before it was watched sent no event to anyone.
                self._wake.set()
        self._seen = self._signature()

    def _signature(self) -> tuple[object, ...]:
        """What the poll compares: the watched folders' identities, and the symlinked files' targets."""
        return (
            tuple(_identity(path) for path in self._wanted),
            tuple(_state(path) for path in self._polled),
        )

    def _relevant(self, path: str, event_type: str) -> bool:
        if not path:
            return False
        path = os.path.abspath(path)
        if path in self._files or path in self._via:
            return True
        if path in self._named_folders:
            # The config folder or an include folder appearing, vanishing, renamed or chmod-ed; not
            # "modified", which watchdog says of a folder whenever any file in it changes (a log
            # beside the config, an editor's swap file).
            return event_type != "modified"
        # A file an include pattern matches.
        return any(fnmatch.fnmatch(path, pattern) for pattern in self._patterns)

    def on_any_event(self, event: FileSystemEvent) -> None:
        # "attrib": a chmod, which makes an unreadable file readable again (or not) without a write.
        if event.event_type not in ("created", "modified", "moved", "deleted", "attrib"):
            return
        paths = (os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or ""))
        if any(self._relevant(path, event.event_type) for path in paths):
            self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            if not self._wake.wait(POLL_SECONDS):
                # inotify says nothing when a watched folder is replaced, or a symlink's target
                # changes in a folder nobody watched: a few stat() calls a second notice both.
                try:
                    changed = self._signature() != self._seen
                except OSError:
                    changed = True
                if not changed:
                    continue
                self._wake.set()
            # Debounce: until no event arrived for DEBOUNCE_SECONDS, or MAX_DELAY_SECONDS passed.
            deadline = time.monotonic() + MAX_DELAY_SECONDS
            while self._wake.is_set() and not self._stopping.is_set():
                self._wake.clear()
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._stopping.wait(min(DEBOUNCE_SECONDS, left))
            if self._stopping.is_set():
                return
            self._wake.clear()
            force, self._force = self._force, False
            try:
                self.pipeline.run(force=force)
            except Exception:  # keep watching whatever went wrong
                log.exception("reload failed; still serving the last good generation")
            try:
                self._watch()
            except OSError as exc:
                log.warning("cannot watch the config folders: %s", exc)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_dev, status.st_ino) if stat.S_ISDIR(status.st_mode) else None


def _state(path: str) -> tuple[object, ...]:
    """A file's link target and what it leads to (or why it leads nowhere)."""
    try:
        target = os.readlink(path)
    except OSError:
        target = ""
    try:
        status = os.stat(path)
    except OSError as exc:
        return (target, exc.errno)
    return (target, status.st_dev, status.st_ino, status.st_mtime_ns, status.st_size)


def _target(path: str) -> str:
    """Where the symlink ``path`` finally leads, as an absolute path ("" for a loop)."""
    try:
        return os.path.realpath(path, strict=False)
    except OSError:
        return ""


def _existing_folder(path: str) -> str:
    """``path``, or the nearest folder above it that exists: where a missing target would appear."""
    while path and not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path
