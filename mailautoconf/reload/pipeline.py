"""The one chain every entry point runs: load → render → publish → swap.

``render`` runs it once, ``serve`` at start, the watcher on every change and
SIGHUP. Any error stops the chain before publish, so what is served is never
replaced by something broken; the error is kept for /healthz.

A run costs what changed. The loader hands back the very same frozen
:class:`~mailautoconf.model.Provider` for an unchanged provider, so a
provider is rendered again only when it is a new object; within a changed
provider only domains whose version digest differs from the one linked on
disk are written. The first run of a process compares every domain with
what is on disk, so a restart with an unchanged config writes nothing.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from typing import NamedTuple

from mailautoconf import clientrules
from mailautoconf import config
from mailautoconf import dav
from mailautoconf.model import NO_OVERRIDE
from mailautoconf.model import Config
from mailautoconf.model import DavService
from mailautoconf.model import Domain
from mailautoconf.model import Provider
from mailautoconf.pacc import guard
from mailautoconf.render import DOCUMENTS
from mailautoconf.render import MX_FOLDER_PREFIX
from mailautoconf.render import signing
from mailautoconf.render.templates import DOMAIN
from mailautoconf.render.templates import UNICODE
from mailautoconf.render.templates import ProviderTemplates
from mailautoconf.render.templates import domain_values
from mailautoconf.render.templates import provider_templates
from mailautoconf.tree import publish
from mailautoconf.tree.store import DavTargets
from mailautoconf.tree.store import Entry
from mailautoconf.tree.store import Generation
from mailautoconf.tree.store import Health
from mailautoconf.tree.store import OwnTemplates
from mailautoconf.tree.store import SigningHealth
from mailautoconf.tree.store import Store
from mailautoconf.tree.store import TemplateEntry

__all__ = ["Outcome", "Pipeline", "RepairImpossible"]

log = logging.getLogger("mailautoconf.reload")


@dataclass(frozen=True)
class Outcome:
    published: publish.Published | None  # None: nothing new was published
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    # How the run ended, one of store.RELOAD_OUTCOMES: counted for /metrics.
    stage: str = "applied"
    # What is wrong with the [signing] files: profiles go out as the last good state allows (not an error
    # of the config: it was applied).
    signing_errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


class RepairImpossible(Exception):
    """The tree cannot be written again: there is no applied config to write it from."""


class _Prepared(NamedTuple):
    """What is kept of a provider between runs, while the loader hands back the same object."""

    provider: Provider
    templates: ProviderTemplates
    findings: tuple[clientrules.Finding, ...]


def _digest(templates: ProviderTemplates, suffix: str) -> str:
    return hashlib.sha256(f"{templates.digest}\0{suffix}".encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _domain_key(domain: Domain) -> str:
    """What a domain adds to its provider's inputs (repr of the dataclasses is slow at 100,000)."""
    override = "" if domain.override is NO_OVERRIDE else repr(domain.override)
    return f"{domain.name}\0{domain.unicode}\0{override}"


def _shares(templates: ProviderTemplates, domain: Domain) -> bool:
    """Whether ``domain`` is answered from its provider's shared templates."""
    return templates.shared is not None and domain.override is NO_OVERRIDE


class Pipeline:
    """Runs the chain for one config and output folder, one run at a time."""

    def __init__(self, config_path: str, output_dir: str, store: Store | None = None) -> None:
        self.config_path = config_path
        self.output_dir = output_dir
        self.store = store
        # Called with each newly published generation (serve tells systemd).
        self.on_publish: Callable[[publish.Published], None] | None = None
        # Called with each config applied and what it did to the PACC digests (None: the first run,
        # which knows nothing older); the DNS watcher (pacc/watch.py) takes it from there.
        self.on_applied: Callable[[Config, guard.DigestChanges | None], None] | None = None
        self.loader = config.Loader()
        self.config: Config | None = None  # the last config applied
        self._lock = threading.Lock()
        self._fingerprint: bytes | None = None
        self._signing_state: signing.FileState | None = None
        # The last config that loaded, applied or not: the watcher watches its files.
        self.watched: Config | None = None
        self._templates: dict[int, _Prepared] = {}  # id(provider) -> ...
        self._linked: dict[str, publish.Linked] | None = None  # what is on disk; None: not read yet
        self._hosted: set[str] = set()  # the domains of the last config applied
        # The serving process deletes retired versions in the background, so
        # a slow disk does not hold up the next reload; render waits for it.
        self.clean_in_background = False
        # This process's hold on the output folder (publish.Claim); taken again before a publish
        # when the folder was deleted or replaced under it.
        self.claim: publish.Claim | None = None
        # The number of the last generation published or served: the next is above it, whatever
        # happened to the manifest on disk.
        self._number = 0
        # The last run could not publish (a full disk): selfcheck.py tries again.
        self.publish_failed = False
        self._rewrite: frozenset[str] = frozenset()  # folders repair() writes again whatever their links say
        self._repairing = False  # repair() publishes even when no folder changed (current, the manifest)
        self._signing_errors: tuple[str, ...] = ()  # what the last read of the [signing] files found wrong

    def run(self, *, force: bool = True) -> Outcome:
        """Load, render and publish; swap the store to the result.

        With ``force=False`` a config whose files did not change since the
        last run is skipped (editors write the same content more than once).
        ``force`` also reads every file again and compares every domain with
        the disk.
        """
        with self._lock:
            started = time.perf_counter()
            try:
                outcome = self._run(force)
            except Exception as exc:
                # A bug, not a config problem: still reported like any failed reload.
                message = f"{self.config_path}: reload failed: {type(exc).__name__}: {exc}"
                self._report((message,), ())
                self._record("error", started, rendered=False)
                raise
            self._record(outcome.stage, started, rendered=outcome.stage in ("applied", "publish_error"))
            return outcome

    def _record(self, stage: str, started: float, *, rendered: bool) -> None:
        if self.store is not None:
            self.store.reloads.record(stage, time.perf_counter() - started, rendered=rendered)

    def _run(self, force: bool) -> Outcome:
        if force:  # SIGHUP, and the first run: trust no cache, compare with the disk
            self.loader.forget()
            self._linked = None
        try:
            result = self.loader.load(self.config_path)
        except config.ConfigError as exc:
            if not force and exc.fingerprint and exc.fingerprint == self._fingerprint:
                return Outcome(None, (), (), "unchanged")
            self._fingerprint = exc.fingerprint or None
            errors = tuple(str(problem) for problem in exc.problems)
            warnings = tuple(str(problem) for problem in exc.warnings)
            for line in errors:
                log.error("%s", line)
            log.error("config not applied; still serving %s", self._serving())
            self._report(errors, warnings)
            return Outcome(None, errors, warnings, "config_error")
        self.watched = result.config
        signing_state = signing.file_state(result.config.signing)
        if not force and result.fingerprint == self._fingerprint and signing_state == self._signing_state:
            return Outcome(None, (), (), "unchanged")
        self._fingerprint, self._signing_state = result.fingerprint, signing_state
        prepared, changed = self._prepare(result.config)
        pacc_changes = self._pacc_changes(prepared, changed)
        pacc_changed = pacc_changes.count if pacc_changes is not None else 0
        found = list(clientrules.warnings(result, lambda p: prepared[id(p)].findings))
        warnings = tuple(str(problem) for problem in found)
        for line in warnings:
            log.warning("%s", line)
        try:
            published = self._apply(result.config, prepared, changed)
        except (OSError, publish.Busy) as exc:
            errors = (f"{self.output_dir}: cannot publish the rendered documents: {exc}",)
            log.error("%s; still serving %s", errors[0], self._serving())
            self._linked = None  # read the disk again next time
            # Not applied: the same config, saved again once the disk has room, must be tried
            # again rather than skipped as "unchanged"; selfcheck.py retries it by itself.
            self._fingerprint = self._signing_state = None
            self.publish_failed = True
            self._report(None, warnings)
            self._tree_trouble(errors)
            return Outcome(None, errors, warnings, "publish_error")
        if self.publish_failed and self.store is not None:
            # The publish that failed went through now; the tree is whole again as far as publishing goes
            # (selfcheck.py looks at every folder on its own).
            self.store.tree = replace(self.store.tree, errors=None, checked_at=publish.stamp())
        self.publish_failed = False
        signing_errors = self._apply_signing(result.config)
        if pacc_changed:
            log.warning(
                "the PACC documents of %d domain(s) changed: PACC clients reject them until their "
                "_ua-auto-config TXT records carry the new digest (service.py dns --domain D)",
                pacc_changed,
            )
        self._report(None, warnings, pacc_changed)
        if self.on_applied is not None:
            self.on_applied(result.config, pacc_changes)
        if published is not None and self.on_publish is not None:
            self.on_publish(published)
        return Outcome(published, (), warnings, signing_errors=signing_errors)

    def _apply_signing(self, loaded: Config) -> tuple[str, ...]:
        """Read the ``[signing]`` files and sign with them from now on; what is wrong with them, if anything.

        A signing problem does not hold the config back (a new customer
        domain is served although a certificate renewal went wrong): the
        last good certificate keeps signing while it is valid, else
        profiles go out unsigned, and /healthz says which, naming the file.
        """
        settings = loaded.signing
        if not settings.enabled:
            if self.store is not None:
                self.store.signer = None
                self.store.signing = SigningHealth()
            return ()
        try:
            signer, problems = signing.load(settings)
        except config.ConfigError as exc:
            kept = self.store.signer if self.store is not None else None
            if kept is not None and signing.time_problems(kept)[0]:
                kept = None
            self._signing_errors = tuple(str(problem) for problem in exc.problems)
            errors = (*self._signing_errors, signing.fallback(kept))
            for line in errors:
                log.error("%s", line)
            if self.store is not None:
                self.store.signer = kept
                self.store.signing = _signing_health(kept, errors, ())
            return errors
        self._signing_errors = ()
        warnings = tuple(str(problem) for problem in problems)
        for line in warnings:
            log.warning("%s", line)
        if self.store is not None:
            self.store.signer = signer
            self.store.signing = _signing_health(signer, None, warnings)
        return ()

    def check_signing(self) -> None:
        """Look at the signing certificate's dates again (selfcheck.py): it expires while the service runs.

        An expired certificate (or chain certificate) stops signing: a
        device shows a profile signed with it as not verified, as it does an
        unsigned one, and /healthz says why. Within signing.EXPIRY_WARNING
        of the end the state is "expiring".
        """
        with self._lock:
            if self.store is None or self.store.signer is None:
                return
            signer = self.store.signer
            errors, warnings = signing.time_problems(signer)
            if errors:
                errors = (*self._signing_errors, *errors, signing.fallback(None))
                for line in errors:
                    log.error("%s", line)
                self.store.signer = None
                self.store.signing = _signing_health(None, errors, ())
                return
            # A file problem of the last load stays said: the signer is the one kept from before it.
            said = (*self._signing_errors, signing.fallback(signer)) if self._signing_errors else None
            health = _signing_health(signer, said, warnings)
            if health != self.store.signing:
                for line in warnings:
                    log.warning("%s", line)
                self.store.signing = health

    def _prepare(self, loaded: Config) -> tuple[dict[int, _Prepared], list[Provider]]:
        """Each provider's templates and client-rule findings: made again only for providers that are new objects."""
        prepared: dict[int, _Prepared] = {}
        changed: list[Provider] = []
        for provider in loaded.providers:
            known = self._templates.get(id(provider))
            if known is not None and known.provider is provider:
                prepared[id(provider)] = known
            else:
                templates = provider_templates(provider)
                prepared[id(provider)] = _Prepared(
                    provider, templates, clientrules.provider_findings(provider, templates)
                )
                changed.append(provider)
        return prepared, changed

    def linked_now(self) -> Mapping[str, publish.Linked] | None:
        """Each folder on disk and the version the service serves from it (never changed in place); None: not known."""
        return self._linked

    def repair(self, damaged: frozenset[str] = frozenset()) -> publish.Published | None:
        """Publish again what the tree on disk lost, from the config applied last (selfcheck.py found the loss).

        Every domain is compared with the disk, as at a restart: a link that
        is missing, dangles or points elsewhere counts as not written.
        ``damaged``: folders to write again although their links look right
        (their version lost a file). Nothing is loaded: the config that is
        served is the one written. Returns None when nothing needed writing;
        raises RepairImpossible, OSError or publish.Busy.
        """
        with self._lock:
            if self.config is None:
                raise RepairImpossible(
                    "no config has been applied since the service started (it serves the last tree from disk): "
                    "fix the config, and the tree is written again"
                )
            self._linked = None
            self._rewrite, self._repairing = damaged, True
            try:
                published = self._apply(self.config, dict(self._templates), [])
            except BaseException:
                self._linked = None
                raise
            finally:
                self._rewrite, self._repairing = frozenset(), False
            if self.publish_failed:
                # What the failed reload left to do is done by the next one (selfcheck.py retries it).
                self._fingerprint = None
            return published

    def _apply(
        self, loaded: Config, templates: dict[int, _Prepared], changed: list[Provider]
    ) -> publish.Published | None:
        """Render what changed, publish it, swap the store; None when nothing changed.

        The first run (and every forced one) compares every domain with what
        is linked on disk; later runs look only at providers that are new
        objects (``changed``), and at the domains of those that went.
        """
        first = self._linked is None
        linked = publish.linked(self.output_dir) if self._linked is None else dict(self._linked)
        examined = list(loaded.providers) if first else changed
        old_generation = self.store.generation if self.store is not None else None
        entries: dict[str, Entry] = dict(old_generation.domains) if old_generation and not first else {}
        # Domains of providers that are gone (changed or removed) leave; the changed ones come back below.
        leaving: set[str] = set()
        if not first:
            current = {id(provider) for provider in loaded.providers}
            for provider, _, _ in self._templates.values():
                if id(provider) not in current or templates[id(provider)].provider is not provider:
                    leaving.update(domain.name for domain in provider.domains)
        for name in leaving:
            entries.pop(name, None)
        # The RFC 6764 redirect targets, kept like the entries: only changed providers' domains are set again.
        dav_targets: dict[str, DavTargets] = dict(old_generation.dav) if old_generation and not first else {}
        for name in leaving:
            dav_targets.pop(name, None)
        changes: dict[str, publish.Change | None] = {}
        wanted: dict[str, tuple[Provider, ProviderTemplates, Domain, str]] = {}
        for provider in examined:
            shared = templates[id(provider)].templates
            provider_dav = _dav_targets(provider.caldav, provider.carddav)
            for domain in provider.domains:
                targets = (
                    provider_dav
                    if domain.override is NO_OVERRIDE
                    else _dav_targets(provider.caldav_for(domain), provider.carddav_for(domain))
                )
                if targets is not None:
                    dav_targets[domain.name] = targets
                digest = _digest(shared, _domain_key(domain))
                wanted[domain.name] = (provider, shared, domain, digest)
                on_disk = linked.get(domain.name)
                if on_disk is None or on_disk.digest != digest or domain.name in self._rewrite:
                    changes[domain.name] = publish.Change(digest, _documents(provider, shared, domain))
        hosted = set(wanted) if first else (self._hosted - leaving) | wanted.keys()
        mx_wanted: dict[str, tuple[ProviderTemplates, str]] = {}
        for provider in loaded.providers:
            shared = templates[id(provider)].templates
            for name in provider.mx_domains:
                if name not in hosted and name not in mx_wanted:
                    mx_wanted[name] = (shared, _digest(shared, "mx"))
        for name, (shared, digest) in mx_wanted.items():
            folder = MX_FOLDER_PREFIX + name
            on_disk = linked.get(folder)
            if on_disk is None or on_disk.digest != digest or folder in self._rewrite:
                changes[folder] = publish.Change(digest, _mx_documents(shared))
        mx_folders = {MX_FOLDER_PREFIX + name for name in mx_wanted}
        gone = (set(linked) - hosted - mx_folders) if first else {n for n in leaving if n not in hosted}
        gone |= {folder for folder in linked if folder.startswith(MX_FOLDER_PREFIX) and folder not in mx_folders}
        for folder in gone:
            if folder in linked:
                changes[folder] = None
        total = len(hosted)

        published = None
        if changes or self._repairing or not publish.read_manifest(self.output_dir):
            if len(changes) > 5000:
                log.info("writing %d domain folders to %s", len(changes), self.output_dir)
            if self.claim is not None:
                self.claim.renew()  # the folder was deleted or replaced: hold the new one, or refuse
            published, now_linked = publish.publish(
                self.output_dir, changes, total, linked, progress=self._progress, after=self._number
            )
            self._number = publish.generation_number({"generation": published.generation})
            for folder, change in changes.items():
                if change is None:
                    linked.pop(folder, None)
            linked.update(now_linked)
            log.info(
                "published %s: %d domains from %s (%d folders written, %d removed)",
                published.generation,
                total,
                self.config_path,
                published.written,
                published.removed,
            )
        else:
            log.info("nothing changed: %d domains from %s are current in %s", total, self.config_path, self.output_dir)
        self._linked = linked
        self._hosted = hosted
        self._templates = templates
        self.config = loaded
        if self.store is not None:
            self.store.generation = self._generation(published, entries, wanted, mx_wanted, linked, dav_targets)
            # The model and the store are a few hundred thousand long-lived
            # objects; left in the collector's view, every full collection
            # walks them all, which at 100,000 domains costs the request
            # threads a good share of their time. They hold no cycles:
            # freezing them changes nothing but that.
            gc.freeze()
        if published is not None:
            if self.clean_in_background:
                threading.Thread(target=self._clean, name="clean", daemon=True).start()
            else:
                self._clean()
        if first:
            swept = publish.sweep(self.output_dir, linked)
            if swept:
                log.info("removed %d versions no domain points at (left by an interrupted run)", swept)
        return published

    def _generation(
        self,
        published: publish.Published | None,
        entries: dict[str, Entry],
        wanted: Mapping[str, tuple[Provider, ProviderTemplates, Domain, str]],
        mx_wanted: Mapping[str, tuple[ProviderTemplates, str]],
        linked: Mapping[str, publish.Linked],
        dav_targets: Mapping[str, DavTargets],
    ) -> Generation:
        for name, (provider, shared, domain, _) in wanted.items():
            mtime = linked[name].mtime
            values = domain_values(domain)
            if _shares(shared, domain):
                assert shared.shared is not None
                entries[name] = TemplateEntry(shared.shared, values[DOMAIN], values[UNICODE], mtime)
            else:
                own = OwnTemplates(provider, domain)
                entries[name] = TemplateEntry(own, values[DOMAIN], values[UNICODE], mtime)
        mx = {
            name: TemplateEntry(shared.mx, b"", b"", linked[MX_FOLDER_PREFIX + name].mtime)
            for name, (shared, _) in mx_wanted.items()
        }
        if published is not None:
            generation, rendered_at = published.generation, published.rendered_at
        else:
            manifest = publish.read_manifest(self.output_dir)
            generation, rendered_at = str(manifest.get("generation")), str(manifest.get("rendered_at"))
            self._number = max(self._number, publish.generation_number(manifest))
        return Generation(generation, rendered_at, entries, mx, dav_targets)

    def _clean(self) -> None:
        try:
            publish.clean(self.output_dir)
        except OSError as exc:
            log.warning("%s: cannot remove retired versions: %s", self.output_dir, exc)

    def _progress(self, done: int, total: int) -> None:
        log.info("written %d of %d domain folders", done, total)

    def _serving(self) -> str:
        generation = self.store.generation if self.store else None
        return generation.name if generation else "nothing yet"

    def _tree_trouble(self, errors: tuple[str, ...]) -> None:
        if self.store is not None:
            self.store.tree = replace(self.store.tree, errors=errors, checked_at=publish.stamp())

    def _report(self, errors: tuple[str, ...] | None, warnings: tuple[str, ...], pacc_changed: int = 0) -> None:
        if self.store is not None:
            self.store.health = Health(errors, warnings, publish.stamp(), pacc_changed)

    def _pacc_changes(self, prepared: dict[int, _Prepared], changed: list[Provider]) -> guard.DigestChanges | None:
        """What this run does to the PACC digests against the last applied run's (guard.py); None on the first.

        The first run cannot know what DNS holds: the DNS watcher's first
        sweep (pacc/watch.py) and ``check-dns`` find out.
        """
        if self.config is None:
            return None
        before = [(old.provider, old.templates) for key, old in self._templates.items() if prepared.get(key) is not old]
        return guard.digest_changes(before, [(p, prepared[id(p)].templates) for p in changed])


def _documents(provider: Provider, shared: ProviderTemplates, domain: Domain) -> Callable[[], dict[str, bytes]]:
    """What publish writes for ``domain``: its provider's templates filled in, or its own render."""
    if _shares(shared, domain):
        assert shared.shared is not None
        templates = shared.shared
        return lambda: {path: template.fill(domain_values(domain)) for path, template in templates.items()}
    return lambda: {path: render(provider, domain) for path, render in DOCUMENTS.items()}


def _dav_targets(caldav: DavService | None, carddav: DavService | None) -> DavTargets | None:
    """The redirect targets of these services, or None when neither is configured (the well-known URIs 404)."""
    if caldav is None and carddav is None:
        return None
    urls = [None if service is None else dav.wire_url(service.url) for service in (caldav, carddav)]
    return DavTargets(urls[0], urls[1], any(url is not None and "{domain}" in url for url in urls))


def _mx_documents(shared: ProviderTemplates) -> Callable[[], dict[str, bytes]]:
    return lambda: {path: template.fill({}) for path, template in shared.mx.items()}


def _signing_health(
    signer: signing.Signer | None, errors: tuple[str, ...] | None, warnings: tuple[str, ...]
) -> SigningHealth:
    """The /healthz view of signing with ``signer`` (None: unsigned) given these problems."""
    state = "error" if errors else "expiring" if warnings else "ok"
    expires = publish.stamp(signer.expires) if signer is not None else None
    return SigningHealth(state, errors, warnings, expires, signer is not None)
