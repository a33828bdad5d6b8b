"""The running service looks its PACC digests up in DNS and counts the domains that are stale.

A PACC client accepts ``user-agent-configuration.json`` only if a TXT
record of ``_ua-auto-config.<d>`` carries the SHA-256 of the exact body
(paccspec.py); otherwise it drops the document without a word. pacc/guard.py
counts the domains a reload changed, which says when to act but not
whether DNS has caught up since, nor whether someone removed a record.
So a background thread asks DNS (dnspython, dnslookup.py: no cache, no
search domains, bounded timeouts) and keeps three counts for /metrics and
/healthz, logging a line when the stale count changes:

- **stale**: no TXT record there carries the digest served now; no such
  name or no TXT record counts too, since the client rejects it as well;
- **unknown**: DNS did not answer (timeout, SERVFAIL, REFUSED), which
  proves nothing, so it is never counted as stale;
- **unchecked**: not looked up yet since it was served (changed by a
  reload and waiting, or not reached by the first sweep).

What is asked when is pacc/schedule.py's: changed domains first, stale and
unknown ones again every ``[pacc] recheck_interval``, and a sweep of every
domain at start and every ``sweep_interval``, never faster than
``queries_per_second``. The digest compared is computed from the bytes the
store serves at that moment, so it is always the current one.

It never holds up serving or a reload: the pipeline hands over what it
changed (a list of names, the size of the change) and returns; look-ups run
in this thread only, one at a time. After :data:`GIVE_UP_AFTER` timed-out
look-ups in a row the resolver gets a rest of ``recheck_interval``, so a
dead resolver leaves domains unchecked rather than piling up unknowns.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mailautoconf import paccspec
from mailautoconf.model import Config
from mailautoconf.model import PaccSettings
from mailautoconf.pacc import digest as paccdns
from mailautoconf.pacc.guard import DigestChanges
from mailautoconf.pacc.schedule import Pacer
from mailautoconf.pacc.schedule import Schedule
from mailautoconf.pacc.schedule import Status
from mailautoconf.render import PACC
from mailautoconf.tree.store import PaccDns
from mailautoconf.tree.store import Store

if TYPE_CHECKING:  # dnspython is imported when the check starts: serve without PACC never loads it
    import dns.resolver

__all__ = ["GIVE_UP_AFTER", "LOG_EVERY", "SHOWN", "DnsWatcher", "enabled"]

log = logging.getLogger("mailautoconf.pacc")

GIVE_UP_AFTER = 3  # timed-out look-ups in a row (a silent resolver) after which it gets a rest
LOG_EVERY = 60.0  # seconds: while a sweep keeps moving the stale count, one line at most this often
SHOWN = 10  # stale domains named in /healthz and in the log line
_LONGEST_WAIT = 3600.0  # seconds: the thread wakes at least this often (a clock that jumped)


def enabled(config: Config) -> bool:
    """Whether ``config`` asks for the DNS check: ``[pacc] check_dns`` and some provider with ``pacc = true``."""
    return config.pacc.check_dns and any(provider.pacc is not None for provider in config.providers)


class DnsWatcher:
    """One background thread that looks the PACC digests of ``store``'s domains up in DNS."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # What the pipeline hands over, under the lock; the thread takes it between look-ups.
        self._lock = threading.Lock()
        self._config: Config | None = None
        self._reset = False
        self._changed: list[str] = []
        self._withdrawn: list[str] = []
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pacc-dns", daemon=True)
        # The thread's own, touched by no other.
        self._current: Config | None = None
        self._settings: tuple[bool, PaccSettings] | None = None
        self._schedule: Schedule | None = None
        self._pacer = Pacer(PaccSettings.queries_per_second)
        self._resolver: dns.resolver.Resolver | None = None
        self._failures = 0
        self._rest_until = -math.inf
        self._logged_stale = 0
        self._logged_at = -math.inf

    # -- the pipeline's side -------------------------------------------------------------------------

    def applied(self, config: Config, changes: DigestChanges | None) -> None:
        """The pipeline applied ``config``; ``changes``: what it did to the digests (None: start over)."""
        with self._lock:
            if changes is None or self._config is None:
                self._reset = True
            if self._reset or changes is None:
                self._changed.clear()  # the sweep after a reset looks at everything anyway
                self._withdrawn.clear()
            else:
                self._changed += changes.published
                self._withdrawn += changes.withdrawn
            self._config = config
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=1)  # a look-up in flight is not waited for: the thread holds nothing

    # -- the thread ----------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._step()
            except Exception:  # keep watching whatever went wrong; the counts stay as they were
                log.exception("PACC digest check failed; trying again in a minute")
                self._wait(60.0)

    def _step(self) -> None:
        self._take_inbox()
        schedule = self._schedule
        if schedule is None:
            self._wait(_LONGEST_WAIT)
            return
        now = time.monotonic()
        if now < self._rest_until:
            self._wait(self._rest_until - now)
            return
        if schedule.sweep_due(now):
            schedule.start_sweep(self._published_names(), now)
            self._publish(now, idle=True)
        step = schedule.next(now)
        if not isinstance(step, str):
            self._publish(now, idle=True)
            self._wait(step)
            return
        delay = self._pacer.delay(now)
        if delay > 0:
            self._wait(delay)  # what comes in meanwhile may change what is next
            return
        self._pacer.sent(now)
        status, silent = self._check(step)
        now = time.monotonic()
        schedule.record(step, status, now)
        self._count_failure(silent, now)
        self._publish(now, idle=False)

    def _wait(self, seconds: float) -> None:
        self._wake.wait(min(seconds, _LONGEST_WAIT))
        self._wake.clear()  # the inbox is read next, so nothing handed over is lost

    def _take_inbox(self) -> None:
        with self._lock:
            config, reset = self._config, self._reset
            changed, withdrawn = self._changed, self._withdrawn
            self._reset, self._changed, self._withdrawn = False, [], []
        if config is None:
            return
        self._current = config
        settings = (enabled(config), config.pacc)
        if reset or settings != self._settings:
            self._start_over(config, settings)
        elif self._schedule is not None:
            self._schedule.withdrawn(withdrawn)
            self._schedule.changed(changed)

    def _start_over(self, config: Config, settings: tuple[bool, PaccSettings]) -> None:
        """New settings (or the first config): forget everything, and sweep."""
        on, pacc = settings
        was_on = self._settings is not None and self._settings[0]
        self._settings = settings
        self._schedule, self._resolver = None, None
        self._failures, self._rest_until = 0, -math.inf
        # A sweep's first finding waits for the sweep to pause or for LOG_EVERY, like any other.
        self._logged_stale, self._logged_at = 0, time.monotonic()
        if not on:
            self.store.pacc_dns = PaccDns()
            if was_on:
                log.info("PACC digests are no longer looked up in DNS (no provider with pacc = true, or check_dns)")
            return
        from mailautoconf.dnslookup import make_resolver

        try:
            self._resolver = make_resolver(pacc.resolver)
        except ValueError as exc:
            log.error("PACC digests cannot be looked up in DNS: %s; set [pacc] resolver", exc)
            self.store.pacc_dns = PaccDns(state="no resolver")
            return
        self._schedule = Schedule(pacc.recheck_interval, pacc.sweep_interval)
        self._pacer = Pacer(pacc.queries_per_second)
        asked = "the system's resolver" if pacc.resolver is None else "the [pacc] resolver"
        log.info(
            "PACC digests: looking up every domain's _ua-auto-config TXT record, %d a second at most, asking %s",
            pacc.queries_per_second,
            asked,
        )
        self.store.pacc_dns = PaccDns(state="on")

    def _published_names(self) -> Iterator[str]:
        """Every domain ``dns`` prints a digest for now (pacc/digest.py: opted in, own names, a document)."""
        config = self._current
        if config is None:
            return
        for provider in config.providers:
            if provider.pacc is None:
                continue
            for domain in provider.domains:
                if provider.has_own_names(domain) and self._served(domain.name):
                    yield domain.name

    def _served(self, name: str) -> bytes:
        """The PACC document the store serves for ``name`` now; empty when none."""
        generation = self.store.generation
        entry = generation.domains.get(name) if generation is not None else None
        if entry is None:
            return b""
        try:
            return entry.content(PACC)  # not document(): a sweep must not crowd the hot documents' cache
        except (OSError, KeyError):
            return b""

    def _check(self, name: str) -> tuple[Status | None, bool]:
        """Whether ``_ua-auto-config.<name>`` carries the digest served (None: nothing served, nothing asked),
        and whether the resolver stayed silent.

        Only silence counts towards resting the resolver (as check-dns does): a SERVFAIL or REFUSED is
        one customer zone's trouble, and the next domain's answer may be fine.
        """
        from mailautoconf.dnslookup import Unanswered
        from mailautoconf.dnslookup import lookup

        body = self._served(name)
        if not body or self._resolver is None:
            return None, False
        try:
            result = lookup(self._resolver, paccdns.txt_name(name), "TXT")
        except Unanswered as exc:
            return "unknown", exc.timed_out
        if not result.values:
            return "stale", False  # no such name, or no TXT record: the client finds no digest and rejects
        matches = paccdns.digest_status((paccspec.txt_record(body),), list(result.values)) == "ok"
        return ("ok" if matches else "stale"), False

    def _count_failure(self, failed: bool, now: float) -> None:
        if not failed:
            if self._failures >= GIVE_UP_AFTER:
                log.info("PACC digests: the resolver answers again")
            self._failures = 0
            return
        self._failures += 1
        if self._failures == GIVE_UP_AFTER and self._schedule is not None:
            rest = self._schedule.recheck
            log.warning(
                "PACC digests: %d look-ups in a row got no answer from the resolver; asking again in %g s",
                self._failures,
                rest,
            )
        if self._failures >= GIVE_UP_AFTER and self._schedule is not None:
            self._rest_until = now + self._schedule.recheck

    def _publish(self, now: float, *, idle: bool) -> None:
        """Swap the store's counts; log when the stale count moved: at once when ``idle`` (nothing to ask
        right now), else at most every :data:`LOG_EVERY` seconds, so a sweep finding thousands logs a few lines.
        """
        schedule = self._schedule
        if schedule is None:
            return
        counts = schedule.counts()
        shown = schedule.stale_names(SHOWN)
        self.store.pacc_dns = PaccDns("on", counts.stale, counts.unknown, counts.unchecked, shown)
        if counts.stale == self._logged_stale or (not idle and now - self._logged_at < LOG_EVERY):
            return
        was, self._logged_stale, self._logged_at = self._logged_stale, counts.stale, now
        if counts.stale == 0:
            log.info("PACC digests: no domain is stale in DNS any more (was %d)", was)
            return
        more = f" and {counts.stale - len(shown)} more" if counts.stale > len(shown) else ""
        log.warning(
            "PACC digests stale in DNS for %d domain(s) (was %d): %s%s; PACC clients reject their documents "
            "until _ua-auto-config.<d> carries the digest served (service.py dns --domain D)",
            counts.stale,
            was,
            ", ".join(shown),
            more,
        )
