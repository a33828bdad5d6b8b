"""The one chain every entry point runs: load → render → publish → swap.

``render`` runs it once, ``serve`` at start, the watcher on every change and
SIGHUP. Any error stops the chain before publish, so the generation being
served is never replaced by a broken one; the error is kept for /healthz.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from mailautoconf import config
from mailautoconf import publish
from mailautoconf import render
from mailautoconf.store import Health
from mailautoconf.store import Store
from mailautoconf.store import build_generation

__all__ = ["Outcome", "Pipeline"]

log = logging.getLogger("mailautoconf.reload")


@dataclass(frozen=True)
class Outcome:
    published: publish.Published | None  # None: nothing new was published
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


class Pipeline:
    """Runs the chain for one config file and output folder, one run at a time."""

    def __init__(self, config_path: str, output_dir: str, store: Store | None = None) -> None:
        self.config_path = config_path
        self.output_dir = output_dir
        self.store = store
        # Called with each newly published generation (serve tells systemd).
        self.on_publish: Callable[[publish.Published], None] | None = None
        self._lock = threading.Lock()
        self._last_input: bytes | None = None

    def run(self, *, force: bool = True) -> Outcome:
        """Load, render and publish; swap the store to the new generation.

        With ``force=False`` a file whose bytes have not changed since the
        last run is skipped (editors write the same content more than once).
        """
        with self._lock:
            return self._run(force)

    def _run(self, force: bool) -> Outcome:
        try:
            with open(self.config_path, "rb") as handle:
                data = handle.read()
        except OSError:
            data = None
        fingerprint = hashlib.sha256(data).digest() if data is not None else b"missing"
        if not force and fingerprint == self._last_input:
            return Outcome(None, (), ())
        self._last_input = fingerprint
        try:
            result = config.load(self.config_path) if data is None else config.loads(data, self.config_path)
        except config.ConfigError as exc:
            errors = tuple(str(problem) for problem in exc.problems)
            warnings = tuple(str(problem) for problem in exc.warnings)
            for line in errors:
                log.error("%s", line)
            log.error("config not applied; still serving %s", self._serving())
            self._report(errors, warnings)
            return Outcome(None, errors, warnings)
        warnings = tuple(str(problem) for problem in result.warnings)
        for line in warnings:
            log.warning("%s", line)
        tree = render.render(result.config)
        try:
            published = publish.publish(tree, self.output_dir)
        except OSError as exc:
            errors = (f"{self.output_dir}: cannot publish the rendered documents: {exc}",)
            log.error("%s; still serving %s", errors[0], self._serving())
            self._report(errors, warnings)
            return Outcome(None, errors, warnings)
        if self.store is not None:
            self.store.generation = build_generation(published.generation, published.rendered_at, tree)
        log.info("published %s: %d domains from %s", published.generation, len(tree), self.config_path)
        self._report(None, warnings)
        if self.on_publish is not None:
            self.on_publish(published)
        # Old generations go only after the swap: removing 10,000 folders takes seconds.
        try:
            publish.prune(self.output_dir)
        except OSError as exc:
            log.warning("%s: cannot remove old generations: %s", self.output_dir, exc)
        return Outcome(published, (), warnings)

    def _serving(self) -> str:
        generation = self.store.generation if self.store else None
        return generation.name if generation else "nothing yet"

    def _report(self, errors: tuple[str, ...] | None, warnings: tuple[str, ...]) -> None:
        if self.store is not None:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.store.health = Health(errors, warnings, now)
