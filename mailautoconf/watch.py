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
ignored.

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
import threading
import time

from watchdog.events import FileSystemEvent
from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

from mailautoconf.pipeline import Pipeline

__all__ = ["DEBOUNCE_SECONDS", "MAX_DELAY_SECONDS", "Watcher"]

log = logging.getLogger("mailautoconf.watch")

# Quiet time after the last event before reloading; short enough that a
# change is served well within a second, long enough to swallow a burst.
DEBOUNCE_SECONDS = 0.15
# The longest a change waits while events keep coming.
MAX_DELAY_SECONDS = 0.5


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
        self._folders: set[str] = set()
        self._patterns: tuple[str, ...] = ()
        self._files: frozenset[str] = frozenset()
        self._via: frozenset[str] = frozenset()

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
        """Watch the folders of the config files the last config named; again after each reload."""
        folder = os.path.dirname(self.main)
        loaded = self.pipeline.watched or self.pipeline.config
        patterns = tuple(
            pattern if os.path.isabs(pattern) else os.path.join(folder, pattern)
            for pattern in (loaded.service.include if loaded else ())
        )
        files = {self.main} | {os.path.abspath(source) for source in (loaded.sources if loaded else ())}
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
        folders = (
            {folder} | {os.path.dirname(pattern) for pattern in patterns} | {os.path.dirname(f) for f in signing_files}
        )
        folders = {path for path in folders if os.path.isdir(path)}
        self._patterns, self._files, self._via = patterns, frozenset(files), frozenset(via)
        if folders != self._folders:
            self._observer.unschedule_all()
            for path in sorted(folders):
                self._observer.schedule(self, path, recursive=False)
            self._folders = folders

    def _relevant(self, path: str) -> bool:
        if not path:
            return False
        path = os.path.abspath(path)
        if path in self._files or path in self._via:
            return True
        # A file an include pattern matches, or the pattern's folder itself appearing.
        return any(fnmatch.fnmatch(path, pattern) or path == os.path.dirname(pattern) for pattern in self._patterns)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in ("created", "modified", "moved", "deleted"):
            return
        paths = (os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or ""))
        if any(self._relevant(path) for path in paths):
            self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
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
