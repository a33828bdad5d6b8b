"""Watch the config file and run the pipeline when it changes.

Editors and deploy tools rarely write a file in place: vim and sed -i write
a new file and rename it over the old one, Kubernetes swaps a symlinked
folder, rsync renames from a temporary name. So the whole folder is watched
and created, modified, moved and deleted events all count; a burst of them
(one save is often three or four events) is debounced into one reload, and
the pipeline skips a reload when the file's bytes did not change.
"""

from __future__ import annotations

import logging
import os
import threading

from watchdog.events import FileSystemEvent
from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

from mailautoconf.pipeline import Pipeline

__all__ = ["Watcher"]

log = logging.getLogger("mailautoconf.watch")

# Quiet time after the last event before reloading; short enough that a
# change is served well within a second, long enough to swallow a burst.
DEBOUNCE_SECONDS = 0.15


class Watcher(FileSystemEventHandler):
    """Runs ``pipeline`` after changes in the config file's folder settle."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.folder = os.path.dirname(os.path.abspath(pipeline.config_path))
        self._wake = threading.Event()
        self._force = False
        self._stopping = threading.Event()
        self._observer = Observer()
        self._thread = threading.Thread(target=self._loop, name="reload", daemon=True)

    def start(self) -> None:
        self._observer.schedule(self, self.folder, recursive=False)
        self._observer.daemon = True
        self._observer.start()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._observer.stop()
        self._observer.join(timeout=5)
        self._thread.join(timeout=5)

    def request_reload(self) -> None:
        """Ask for a reload even if the file did not change (SIGHUP)."""
        self._force = True
        self._wake.set()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("created", "modified", "moved", "deleted"):
            self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            # Debounce: wait until no event arrived for DEBOUNCE_SECONDS.
            while self._wake.is_set() and not self._stopping.is_set():
                self._wake.clear()
                self._stopping.wait(DEBOUNCE_SECONDS)
            if self._stopping.is_set():
                return
            force, self._force = self._force, False
            try:
                self.pipeline.run(force=force)
            except Exception:  # keep watching whatever went wrong
                log.exception("reload failed; still serving the last good generation")
