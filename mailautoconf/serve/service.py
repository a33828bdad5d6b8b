"""The running service wired together: the pipeline, the watchers, the app, waitress and systemd.

``serve`` (cli.py) and ``service:app`` (service.py) both start the service
here; the command line only parses arguments.
"""

from __future__ import annotations

import logging
import resource
import signal
from dataclasses import dataclass
from types import FrameType
from typing import Any

from flask import Flask

from mailautoconf.pacc import watch as paccwatch
from mailautoconf.reload.pipeline import Pipeline
from mailautoconf.reload.selfcheck import SelfCheck
from mailautoconf.reload.watch import Watcher
from mailautoconf.serve import channel
from mailautoconf.serve import sdnotify
from mailautoconf.serve.web import create_app
from mailautoconf.tree import publish
from mailautoconf.tree.store import Store
from mailautoconf.tree.store import load_generation

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_LISTEN",
    "DEFAULT_OUTPUT",
    "WAITRESS_SETTINGS",
    "Running",
    "build_service",
    "run",
    "waitress_server",
]

DEFAULT_CONFIG = "config/autoconfig.toml"
DEFAULT_OUTPUT = "static_xml"
DEFAULT_LISTEN = "127.0.0.1:8080"
# Where systemd's StateDirectory puts the rendered tree (systemd/mailautoconf.service).
DEFAULT_STATIC_ROOT = "/var/lib/mailautoconf/static_xml"
# How the service runs under waitress; bench/ serves its baseline app with the
# same settings, so the two are compared like for like.
# The connection settings are sized for mail clients, which send one small
# request at once and give up after a few seconds (docs/commands.md, "Limits").
WAITRESS_SETTINGS: dict[str, Any] = {
    "threads": 8,  # requests are short, memory-only lookups
    "ident": "mailautoconf",
    # Bodies past the Autodiscover cap are refused by the app with 413; this
    # stops anything far larger before it is read at all.
    "max_request_body_size": 1024 * 1024,
    # waitress stops accepting once this many connections are open (default
    # 100): 150 clients that send half a request and wait locked everyone out.
    # Each connection is one descriptor (two or three while a body over
    # inbuf_overflow or a large answer is buffered in a temporary file);
    # serve() raises the soft open-files limit to fit (_raise_open_files).
    "connection_limit": 1000,
    # select() cannot watch descriptors numbered 1024 or more (FD_SETSIZE),
    # which 1000 connections reach; poll() has no such limit.
    "asyncore_use_poll": True,
    # Close a connection that has received and sent nothing for this long
    # (default 120 s): a client that connected and sent nothing, or half a
    # request, and keep-alive connections nobody reuses. Mail clients have
    # long given up by then. Trickled requests reset this timer with every
    # byte; channel.REQUEST_SECONDS cuts those off.
    "channel_timeout": 10,
    # How often waitress looks for channels past channel_timeout (default
    # 30 s, which would let an idle connection live up to 40 s): a pass over
    # the open channels is cheap, so a connection is closed at most 2 s late.
    "cleanup_interval": 2,
    # Behind the nginx site (`service.py nginx`) the client's address comes in
    # X-Forwarded-For; trusted from the local proxy only, for the access log.
    "trusted_proxy": "127.0.0.1",
    "trusted_proxy_count": 1,
    "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
    "clear_untrusted_proxy_headers": True,
}
log = logging.getLogger("mailautoconf")


@dataclass(frozen=True)
class Running:
    """What serve and service:app need of a started service."""

    app: Flask
    watcher: Watcher
    store: Store
    pipeline: Pipeline
    pacc_dns: paccwatch.DnsWatcher
    selfcheck: SelfCheck

    def stop(self) -> None:
        """Stop the threads beside the server: the watcher, the DNS watcher, the self-check."""
        self.watcher.stop()
        self.pacc_dns.stop()
        self.selfcheck.stop()


def build_service(config_path: str, output_dir: str) -> Running:
    """Render, start watching and return the app, as serve and service:app need.

    When the config is broken at start, the last good generation on disk is
    served (and /healthz reports the error) rather than nothing.
    """
    store = Store()
    pipeline = Pipeline(config_path, output_dir, store)
    pipeline.clean_in_background = True
    # One publisher per output folder (publish.Claim): raises Busy naming the other one.
    pipeline.claim = publish.claim(output_dir, "serve")
    # PACC digests in DNS, looked up in a thread of their own (pacc/watch.py): told of each applied config.
    pacc_dns = paccwatch.DnsWatcher(store)
    pipeline.on_applied = pacc_dns.applied
    outcome = pipeline.run()
    if not outcome.ok:
        try:
            store.generation = load_generation(output_dir)
        except OSError as exc:
            log.error("cannot read the last generation in %s either: %s", output_dir, exc)
        if store.generation is not None:
            log.warning("serving the last good generation %s from %s", store.generation.name, output_dir)
    watcher = Watcher(pipeline)
    watcher.start()
    pacc_dns.start()
    # The tree on disk and the signing certificate's dates, looked at between edits (selfcheck.py).
    checker = SelfCheck(pipeline)
    checker.start()
    return Running(create_app(store), watcher, store, pipeline, pacc_dns, checker)


def _raise_open_files(connections: int) -> None:
    """Lift the soft open-files limit so ``connections`` fit, as far as the hard limit allows.

    systemd starts services with a soft limit of 1024 (and a hard limit far
    above), expecting programs that need more, and do not use select(), to
    raise it themselves. Two descriptors per connection leave room for the
    temporary files waitress buffers large bodies in, plus the service's own.
    """
    wanted = 2 * connections + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < connections + 256:
        log.warning("open-files limit %d is low for %d connections; raise LimitNOFILE", target, connections)


def waitress_server(app: Any, listen: str) -> Any:
    """The waitress server serve runs ``app`` under: WAITRESS_SETTINGS and the service's channel.

    bench/baseline_app.py builds its server here too, so the throughput
    bench compares the app's own cost and nothing else.
    """
    from waitress.server import create_server

    server = create_server(app, listen=listen, **WAITRESS_SETTINGS)
    channel.install(server)
    return server


def run(config_path: str, output_dir: str, listen: str) -> int:
    """Serve until SIGTERM or SIGINT: build the service, listen, answer, stop cleanly; the exit status."""
    try:
        running = build_service(config_path, output_dir)
    except publish.Busy as exc:
        log.error("%s", exc)
        return 1
    watcher = running.watcher
    try:
        _raise_open_files(WAITRESS_SETTINGS["connection_limit"])
        server = waitress_server(running.app, listen)
    except (OSError, ValueError) as exc:
        log.error("cannot listen on %s: %s", listen, exc)
        running.stop()
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("%s received, stopping", signal.Signals(signum).name)
        sdnotify.notify("STOPPING=1")
        raise SystemExit(0)  # waitress's loop catches it and closes its sockets

    def reload(signum: int, frame: FrameType | None) -> None:
        log.info("SIGHUP received, reloading %s", config_path)
        watcher.request_reload()

    def published(generation: publish.Published) -> None:
        # Ready means serving: at start, or once a first good config arrives.
        sdnotify.notify(f"READY=1\nSTATUS=serving {generation.generation}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    for address in _listening(server):
        log.info("listening on http://%s", address)
    running.pipeline.on_publish = published
    if running.store.generation is not None:
        sdnotify.notify(f"READY=1\nSTATUS=serving {running.store.generation.name}")
    # WatchdogSec=: ping systemd only while the first listening socket answers /healthz.
    host, port = _sockets(server)[0]
    watchdog = sdnotify.start_watchdog(str(host), int(port))
    server.run()
    if watchdog is not None:
        watchdog.stop()
    running.stop()
    log.info("stopped")
    return 0


def _sockets(server: Any) -> list[tuple[Any, Any]]:
    """(host, port) of every socket waitress listens on (one, or several for a multi-socket server)."""
    return list(getattr(server, "effective_listen", None) or [(server.effective_host, server.effective_port)])


def _listening(server: Any) -> list[str]:
    return [f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}" for host, port in _sockets(server)]
