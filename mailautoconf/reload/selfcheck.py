"""The running service's own checks between config edits: its tree on disk, and the clock.

nginx serves the static documents from the tree the service publishes, and
the service answers the rest from memory. A tree that loses a domain's
folder (an admin's ``rm``, a backup restored over it, a second writer, a
publish that failed half-way) makes nginx serve less than the service,
while nothing in the config changed and no reload would ever notice. And a
signing certificate expires without any file changing.

So a thread looks, every ``[service] check_interval`` seconds:

* at the output folder: there, a folder this process still holds
  (publish.Claim), ``current`` -> ``domains``, and the manifest naming the
  generation served;
* at a slice of the folders served: each ``domains/<d>`` links to the
  version the service serves, and the documents nginx sends from it are
  there at their length. A slice, so that at 100,000 domains a tick costs
  a few milliseconds and a whole pass takes about :data:`FULL_PASS_SECONDS`;
* at the signing certificate's dates (pipeline.check_signing);
* at a publish that failed (a full disk): tried again, less often each time.

What it finds is repaired at once by publishing again from the config
applied last (pipeline.repair), said in the log and kept in ``/healthz``
(``tree_repairs``, ``tree_repaired``). What cannot be repaired (the output
path is a dangling link, the disk is full) stays in ``tree_error``, naming
the path, and is tried again.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import replace

from mailautoconf import files
from mailautoconf.model import ServiceSettings
from mailautoconf.reload.pipeline import Pipeline
from mailautoconf.reload.pipeline import RepairImpossible
from mailautoconf.render import EVOLUTION
from mailautoconf.render import MX_DOCUMENTS
from mailautoconf.render import MX_FOLDER_PREFIX
from mailautoconf.render import PACC
from mailautoconf.render import THUNDERBIRD
from mailautoconf.render.templates import DOMAIN
from mailautoconf.render.templates import UNICODE
from mailautoconf.tree import publish
from mailautoconf.tree.store import Generation
from mailautoconf.tree.store import OwnTemplates
from mailautoconf.tree.store import TemplateEntry
from mailautoconf.tree.store import TreeHealth

__all__ = ["DEFAULT_INTERVAL", "FULL_PASS_SECONDS", "SelfCheck", "damage"]

log = logging.getLogger("mailautoconf.reload.selfcheck")

DEFAULT_INTERVAL = ServiceSettings("").check_interval  # seconds; [service] check_interval
# How long a pass over every domain folder may take at most: the slice per tick grows with the domains.
FULL_PASS_SECONDS = 300
MIN_SLICE = 1000  # folders looked at per tick at least: a small tree is checked whole each time
MAX_BACKOFF = 300  # seconds between tries of a repair or publish that keeps failing
_SHOWN = 10  # problems kept in /healthz and the log: the first few name the kind of damage
# Documents nginx sends from the tree itself (deploy/nginx.py): they must be there, whole.
_STATIC = (THUNDERBIRD, EVOLUTION, PACC)


class SelfCheck:
    """The thread that checks ``pipeline``'s tree and signing certificate and repairs the tree."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="selfcheck", daemon=True)
        self._cursor = 0
        self._order: list[str] = []
        self._order_of: object = None
        self._failures = 0
        self._next_try = 0.0
        self._unrepaired: tuple[str, ...] = ()  # folders ("" the tree) the last repair could not mend

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def interval(self) -> int:
        loaded = self.pipeline.config
        return loaded.service.check_interval if loaded is not None else DEFAULT_INTERVAL

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval()):
            try:
                self.tick()
            except Exception:  # keep checking whatever went wrong
                log.exception("the self-check failed; trying again in %d s", self.interval())

    def tick(self, now: float | None = None) -> None:
        """One round: signing dates, a failed publish, the tree."""
        moment = now if now is not None else time.monotonic()
        self.pipeline.check_signing()
        if moment < self._next_try:
            return
        if self.pipeline.publish_failed:
            outcome = self.pipeline.run(force=False)
            self._backoff(outcome.stage == "publish_error", moment)
            return
        found = self._look()
        store = self.pipeline.store
        if not found:
            if store is not None and store.tree.errors is not None:
                # What could not be repaired before (self._unrepaired, looked at again) is right now.
                log.info("the tree in %s matches what is served again", self.pipeline.output_dir)
                store.tree = replace(store.tree, errors=None, checked_at=publish.stamp())
            elif store is not None:
                store.tree = replace(store.tree, checked_at=publish.stamp())
            self._failures = 0
            self._unrepaired = ()
            return
        self._repair(found, moment)

    def _look(self) -> list[tuple[str, str]]:
        """(folder, or "" for the tree as a whole; what is wrong) found this round.

        The round looks at the next slice of the folders, and again at those
        a repair could not mend, so that their trouble is known to be over
        when it is, at any number of domains.
        """
        output = self.pipeline.output_dir
        trouble = _tree_trouble(output, self.pipeline)
        if trouble:
            return trouble
        expected = self.pipeline.linked_now()
        store = self.pipeline.store
        generation = store.generation if store is not None else None
        if expected is None or generation is None:
            return []
        if self._order_of is not expected:
            self._order, self._order_of = list(expected), expected
            self._cursor = 0
        count = len(self._order)
        size = max(MIN_SLICE, math.ceil(count * self.interval() / FULL_PASS_SECONDS))
        start = self._cursor
        folders = dict.fromkeys(self._order[start : start + size])
        folders.update(dict.fromkeys(folder for folder in self._unrepaired if folder))
        self._cursor = start + size if start + size < count else 0
        found = []
        for folder in folders:
            wanted = expected.get(folder)
            if wanted is None:
                continue
            problem = damage(output, folder, wanted, _sizes(generation, folder))
            if problem is not None:
                found.append((folder, problem))
        return found

    def _repair(self, found: list[tuple[str, str]], moment: float) -> None:
        output = self.pipeline.output_dir
        shown = tuple(_say(output, folder, problem) for folder, problem in found[:_SHOWN])
        more = f" and {len(found) - _SHOWN} more" if len(found) > _SHOWN else ""
        log.warning(
            "the tree in %s does not match what is served: %s%s; publishing again", output, "; ".join(shown), more
        )
        store = self.pipeline.store
        damaged = frozenset(folder for folder, _ in found if folder)
        try:
            published = self.pipeline.repair(damaged)
        except (OSError, publish.Busy, RepairImpossible) as exc:
            reason = f"{output}: cannot repair the tree: {exc}"
            log.error("%s", reason)
            if store is not None:
                store.tree = replace(store.tree, errors=(*shown, reason), checked_at=publish.stamp())
            self._unrepaired = tuple(folder for folder, _ in found)
            self._backoff(True, moment)
            return
        self._unrepaired = ()
        self._backoff(False, moment)
        written = published.written if published is not None else 0
        name = published.generation if published is not None else "nothing"
        log.warning("repaired the tree in %s: published %s (%d folders written)", output, name, written)
        if store is not None:
            now = publish.stamp()
            repaired = (*shown, *((f"and {len(found) - _SHOWN} more",) if more else ()))
            store.tree = TreeHealth(None, now, store.tree.repairs + 1, now, repaired)

    def _backoff(self, failed: bool, moment: float) -> None:
        if not failed:
            self._failures, self._next_try = 0, 0.0
            return
        self._failures += 1
        self._next_try = moment + min(MAX_BACKOFF, self.interval() * 2 ** (self._failures - 1))


def _tree_trouble(output: str, pipeline: Pipeline) -> list[tuple[str, str]]:
    """What is wrong with the tree as a whole: the folder, its hold, ``current``, the manifest."""
    try:
        with os.scandir(output):
            pass
    except OSError as exc:
        return [("", f"{output}: {files.describe(output, exc, folder=True)}")]
    if pipeline.claim is not None and not pipeline.claim.held():
        return [("", f"{output}: it was replaced (its {publish.OWNER} is not the one this process holds)")]
    current = os.path.join(output, publish.CURRENT)
    try:
        target = os.readlink(current)
    except OSError:
        return [("", f"{current}: {files.describe(current)}, where a link to {publish.DOMAINS} belongs")]
    if target != publish.DOMAINS:
        return [("", f'{current}: it links to "{target}", not to {publish.DOMAINS}')]
    store = pipeline.store
    served = store.generation.name if store is not None and store.generation is not None else None
    manifest = publish.read_manifest(output)
    if served is not None and pipeline.config is not None and manifest.get("generation") != served:
        found = manifest.get("generation")
        said = f'it names generation "{found}"' if found else "it is missing or unreadable"
        return [("", f"{os.path.join(output, publish.MANIFEST)}: {said}, not the generation served ({served})")]
    return []


def damage(output: str, folder: str, wanted: publish.Linked, sizes: Mapping[str, int | None]) -> str | None:
    """What is wrong with ``folder`` in the tree, or None when it links to ``wanted`` and holds its documents.

    ``sizes``: the length of each document nginx sends from it, as served
    (a half-written or truncated file differs in length); None: only that it is there.
    """
    link = os.path.join(output, publish.DOMAINS, folder)
    expected = publish.link_target(folder, wanted)
    try:
        target = os.readlink(link)
    except FileNotFoundError:
        return "it is missing"
    except OSError:
        what = "a folder" if os.path.isdir(link) else "a file"
        return f"it is {what}, where a link to its version belongs"
    if target != expected:
        if not os.path.exists(link):
            return files.describe(link)
        return f'it links to "{target}", not to the version served ({expected})'
    for path, size in sizes.items():
        document = os.path.join(link, path)
        try:
            found = os.stat(document).st_size
        except OSError as exc:
            return f"{path}: {files.describe(document, exc)}"
        if size is not None and found != size:
            return f"{path}: it is {found} bytes long, not {size} as served (a half-written or replaced file)"
    return None


def _sizes(generation: Generation, folder: str) -> dict[str, int | None]:
    """The length of each static document of ``folder`` as the service serves it."""
    if folder.startswith(MX_FOLDER_PREFIX):
        entry = generation.mx.get(folder[len(MX_FOLDER_PREFIX) :])
        paths: tuple[str, ...] = MX_DOCUMENTS  # all of them static
    else:
        entry = generation.domains.get(folder)
        paths = _STATIC
    if not isinstance(entry, TemplateEntry):
        return {}
    if isinstance(entry.templates, OwnTemplates):
        # Rendered when asked for: a look at every such domain would render them all. Their
        # documents are checked to be there, not their length.
        return dict.fromkeys(paths)
    values = {DOMAIN: entry.name, UNICODE: entry.unicode}
    return {path: entry.templates[path].size(values) for path in paths if path in entry.templates}


def _say(output: str, folder: str, problem: str) -> str:
    return problem if not folder else f"{os.path.join(output, publish.DOMAINS, folder)}: {problem}"
