"""``GET /metrics``: what the service is doing, in the Prometheus text format (prometheus_client).

Three kinds of figures, each gathered where it costs least:

* **Requests**, by endpoint, client family and status. Counted on every
  request, so the hot path must stay cheap: each worker thread adds to its
  own plain dict (no lock, no shared counter), and a scrape sums them.
  The labels have a fixed, small set of values whatever clients send
  (endpoints and families below; statuses are the few codes the app and
  werkzeug answer), so hostile requests cannot grow the series.
* **Reloads**, by outcome, and how long the renders took: the pipeline's
  own :class:`~mailautoconf.tree.store.ReloadStats`, read when scraped.
* **What is served**: the generation, its domains, whether the config
  last seen was rejected, and what the DNS watcher found of the PACC
  digests, read from the store when scraped.

Beside them prometheus_client's own process and Python collectors (memory,
CPU, open descriptors, GC). Each app has its own registry: tests and
benches build several apps in one process.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import GCCollector
from prometheus_client import PlatformCollector
from prometheus_client import ProcessCollector
from prometheus_client import generate_latest
from prometheus_client.core import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from mailautoconf import endpoints
from mailautoconf.serve import answers
from mailautoconf.tree.publish import STAMP
from mailautoconf.tree.store import RELOAD_OUTCOMES
from mailautoconf.tree.store import RENDER_BUCKETS
from mailautoconf.tree.store import Store

__all__ = ["CLIENT_FAMILIES", "ENDPOINTS", "RequestCounts", "bp", "client_family", "endpoint", "registry"]

bp = Blueprint("metrics", __name__)

# Path (as routed: Autodiscover paths already folded to lower case) -> endpoint label.
_PATHS = {path: served.label for served in endpoints.ALL for path in served.paths}
# Anything below the v2 path is counted as v2, the addresses after it and its 404s alike.
_V2_PATH_PREFIX = endpoints.AUTODISCOVER_JSON.path + "/"
ENDPOINTS = (*sorted(set(_PATHS.values())), "other")
CLIENT_FAMILIES = ("thunderbird", "android", "evolution", "gnome", "kmail", "outlook", "apple", "browser", "other")


def endpoint(path: str) -> str:
    """The endpoint label of a request path; "other" for anything the service does not serve."""
    found = _PATHS.get(path)
    if found is not None:
        return found
    return endpoints.AUTODISCOVER_JSON.label if path.startswith(_V2_PATH_PREFIX) else "other"


@functools.lru_cache(maxsize=1024)  # few distinct User-Agents in practice; bounded against floods
def client_family(user_agent: str) -> str:
    """Which client family a User-Agent names (docs/clients.md), by the marks each sends.

    Evolution sends ``Evolution/<version>`` (section 1.8); GNOME Online
    Accounts ``gnome-online-accounts/<version>`` (section 1.15); Thunderbird
    desktop its Gecko agent with ``Thunderbird/``; Thunderbird for Android
    and K-9 fetch through OkHttp without setting an agent, so OkHttp's
    default ``okhttp/<version>`` stands for them; KMail fetches through
    KIO. Outlook and Windows Mail name Microsoft Office or Outlook; Apple's
    devices download profiles with Safari's or the system's agent. Anything
    else with ``Mozilla/`` is a browser (the settings page), the rest other.
    """
    agent = user_agent.lower()
    if agent.startswith("evolution/"):
        return "evolution"
    if agent.startswith("gnome-online-accounts/"):
        return "gnome"
    if "okhttp/" in agent or "k-9" in agent or ("thunderbird" in agent and "android" in agent):
        return "android"
    if "thunderbird/" in agent:
        return "thunderbird"
    if "kmail" in agent or "kio/" in agent or "akonadi" in agent:
        return "kmail"
    if "microsoft office" in agent or "outlook" in agent or "msoffice" in agent or "windows-mail" in agent:
        return "outlook"
    if any(mark in agent for mark in ("iphone", "ipad", "macintosh", "cfnetwork", "darwin")):
        return "apple"
    if agent.startswith("mozilla/"):
        return "browser"
    return "other"


class RequestCounts:
    """Requests counted by (endpoint, client family, status), one dict per worker thread.

    A shared prometheus_client Counter takes a lock per increment and a
    label lookup; this costs one dict update in the thread's own dict. A
    thread's dict is written by that thread only; a scrape copies each
    dict, which the GIL makes atomic.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[dict[tuple[str, str, str], int]] = []
        self._lock = threading.Lock()  # only taken when a thread counts its first request

    def count(self, environ: dict[str, Any], status: str) -> None:
        try:
            counts: dict[tuple[str, str, str], int] = self._local.counts
        except AttributeError:
            counts = self._local.counts = {}
            with self._lock:
                self._all.append(counts)
        key = (endpoint(environ.get("PATH_INFO", "")), client_family(environ.get("HTTP_USER_AGENT", "")), status)
        counts[key] = counts.get(key, 0) + 1

    def totals(self) -> dict[tuple[str, str, str], int]:
        with self._lock:
            threads = list(self._all)
        summed: dict[tuple[str, str, str], int] = {}
        for counts in threads:
            for key, value in counts.copy().items():
                summed[key] = summed.get(key, 0) + value
        return summed


class _ServiceCollector(Collector):
    """Reads the request counts, the reload statistics and the store when scraped."""

    def __init__(self, store: Store, requests: RequestCounts) -> None:
        self.store = store
        self.requests = requests

    def collect(self) -> Iterator[Any]:
        requests = CounterMetricFamily(
            "mailautoconf_http_requests",
            "Requests answered, by endpoint, client family (from the User-Agent) and HTTP status.",
            labels=("endpoint", "client", "status"),
        )
        for (name, client, status), value in sorted(self.requests.totals().items()):
            requests.add_metric((name, client, status), value)
        yield requests

        outcomes, buckets, count, seconds = self.store.reloads.snapshot()
        reloads = CounterMetricFamily(
            "mailautoconf_reloads",
            "Config reloads (start, file changes, SIGHUP) by outcome: applied, unchanged (no file changed), "
            "config_error (rejected: the last good render is served), publish_error (rendering or writing "
            "failed, e.g. a full disk), error (an unexpected failure).",
            labels=("outcome",),
        )
        for outcome in RELOAD_OUTCOMES:
            reloads.add_metric((outcome,), outcomes.get(outcome, 0))
        yield reloads
        config_errors = CounterMetricFamily(
            "mailautoconf_config_errors", "Reloads rejected because the config (or its signing files) had errors."
        )
        config_errors.add_metric((), outcomes.get("config_error", 0))
        yield config_errors
        yield HistogramMetricFamily(
            "mailautoconf_render_duration_seconds",
            "Duration of the reloads that rendered and published, or failed doing so.",
            buckets=[
                *((str(bound), value) for bound, value in zip(RENDER_BUCKETS, buckets, strict=True)),
                ("+Inf", count),
            ],
            sum_value=seconds,
        )

        generation, health = self.store.generation, self.store.health
        yield _gauge("mailautoconf_domains", "Hosted domains served now.", len(generation.domains) if generation else 0)
        yield _gauge(
            "mailautoconf_generation",
            "The number of the generation served now (gen-NNNNNN), 0 before one is.",
            _generation_number(generation.name) if generation else 0,
        )
        info = GaugeMetricFamily(
            "mailautoconf_generation_info", "The generation served now, by name.", labels=("generation",)
        )
        if generation is not None:
            info.add_metric((generation.name,), 1)
        yield info
        yield _gauge(
            "mailautoconf_generation_rendered_timestamp_seconds",
            "When the generation served now was rendered (Unix time).",
            _timestamp(generation.rendered_at) if generation else 0,
        )
        yield _gauge(
            "mailautoconf_config_error",
            "1 while the config last read was rejected (an older render is served), else 0.",
            1 if health.config_errors is not None else 0,
        )
        problems = GaugeMetricFamily(
            "mailautoconf_config_problems", "Problems the last config check found, by severity.", labels=("severity",)
        )
        problems.add_metric(("error",), len(health.config_errors or ()))
        problems.add_metric(("warning",), len(health.config_warnings))
        yield problems
        yield _gauge(
            "mailautoconf_pacc_digests_changed",
            "Domains whose PACC document (and DNS digest) the last applied reload changed: their "
            "_ua-auto-config TXT records are stale until updated.",
            health.pacc_digests_changed,
        )
        # What the DNS watcher (pacc/watch.py) found; all 0 while it is off.
        pacc_dns = self.store.pacc_dns
        yield _gauge(
            "mailautoconf_pacc_digests_stale",
            "Domains whose live _ua-auto-config TXT records carry none of the digest of the PACC document "
            "served now (or that have none): PACC clients reject their documents.",
            pacc_dns.stale,
        )
        yield _gauge(
            "mailautoconf_pacc_digests_unknown",
            "Domains whose last look-up of _ua-auto-config TXT records DNS did not answer (timeout, SERVFAIL).",
            pacc_dns.unknown,
        )
        yield _gauge(
            "mailautoconf_pacc_digests_unchecked",
            "Domains with a PACC document whose _ua-auto-config TXT records were not looked up yet since it "
            "was served (changed by a reload, or not reached by the sweep at start).",
            pacc_dns.unchecked,
        )
        tree, signing = self.store.tree, self.store.signing
        yield _gauge(
            "mailautoconf_tree_error",
            "1 while the tree on disk (what nginx serves) does not match what the service serves and could not "
            f"be repaired yet, else 0; {endpoints.HEALTHZ.path} tree_error names the paths.",
            1 if tree.errors is not None else 0,
        )
        yield CounterMetricFamily(
            "mailautoconf_tree_repairs",
            "Times the service found its tree on disk damaged (a folder deleted, a link dangling) and "
            "published it again.",
            value=tree.repairs,
        )
        yield _gauge(
            "mailautoconf_signing_error",
            "1 while Apple profiles are not signed as [signing] says (a file unreadable, a certificate "
            f"expired, a chain that did not issue it), else 0; {endpoints.HEALTHZ.path} signing_error names the file.",
            1 if signing.errors is not None else 0,
        )
        yield _gauge(
            "mailautoconf_signing_certificate_expiry_timestamp_seconds",
            "When the certificate Apple profiles are signed with expires (Unix time); 0 while they go out unsigned.",
            _timestamp(signing.expires_at) if signing.expires_at else 0,
        )
        # The files the troubles name, one series each (a few: the first words of each problem),
        # so an alert can say which file; the set is bounded by the config's own files.
        files = GaugeMetricFamily(
            "mailautoconf_trouble_file",
            "1 for each file a current trouble names, by kind (config, tree, signing).",
            labels=("kind", "file"),
        )
        for kind, errors in self.store.troubles():
            for name in sorted({_file_of(line) for line in errors} - {""})[:_FILES_SHOWN]:
                files.add_metric((kind, name), 1)
        yield files
        yield _gauge(
            "mailautoconf_config_checked_timestamp_seconds",
            "When the config was last read (Unix time), 0 before it was.",
            _timestamp(health.checked_at) if health.checked_at else 0,
        )


_FILES_SHOWN = 10


def _file_of(line: str) -> str:
    """The file a problem line starts with (``path, line 3: ...`` or ``path: ...``); "" if none."""
    if ": " not in line:
        return ""
    head = line.split(": ", 1)[0].split(", line ", 1)[0]
    # A sentence (the signing error's last line says what profiles get) is no path.
    looks_like_path = "/" in head or " " not in head
    return head if looks_like_path and len(head) < 1024 else ""


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _generation_number(name: str) -> int:
    digits = name.rpartition("-")[2]
    return int(digits) if digits.isascii() and digits.isdigit() else 0


def _timestamp(iso: str) -> float:
    try:
        return datetime.strptime(iso, STAMP).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


def registry(store: Store, requests: RequestCounts) -> CollectorRegistry:
    """A registry of the service's own figures and prometheus_client's process and Python ones."""
    found = CollectorRegistry(auto_describe=True)
    found.register(_ServiceCollector(store, requests))
    ProcessCollector(registry=found)
    PlatformCollector(registry=found)
    GCCollector(registry=found)
    return found


@answers.route(bp, endpoints.METRICS)
def metrics() -> Response:
    """The registry in the Prometheus text format; the nginx site answers it on this machine only."""
    exposition = generate_latest(current_app.extensions["mailautoconf.serve.metrics"])
    return Response(exposition, 200, content_type=CONTENT_TYPE_LATEST)
