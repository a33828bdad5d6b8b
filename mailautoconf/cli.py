"""``python service.py serve|render|check``: the command line.

Exit status: 0 on success, 1 when the config has errors (or a render
fails), 2 on bad command-line usage (argparse's convention).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import resource
import signal
import sys
from dataclasses import dataclass
from types import FrameType
from typing import Any

from flask import Flask

from mailautoconf import channel
from mailautoconf import clientrules
from mailautoconf import config
from mailautoconf import paccwatch
from mailautoconf import problems
from mailautoconf import publish
from mailautoconf import sdnotify
from mailautoconf.logs import setup_logging
from mailautoconf.pipeline import Pipeline
from mailautoconf.selfcheck import SelfCheck
from mailautoconf.store import Store
from mailautoconf.store import load_generation
from mailautoconf.watch import Watcher
from mailautoconf.web import create_app

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_LISTEN",
    "DEFAULT_OUTPUT",
    "WAITRESS_SETTINGS",
    "build_service",
    "main",
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
# request at once and give up after a few seconds (README, "Limits").
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
    # PACC digests in DNS, looked up in a thread of their own (paccwatch.py): told of each applied config.
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


def serve(args: argparse.Namespace) -> int:
    try:
        running = build_service(args.config, args.output)
    except publish.Busy as exc:
        log.error("%s", exc)
        return 1
    watcher = running.watcher
    try:
        _raise_open_files(WAITRESS_SETTINGS["connection_limit"])
        server = waitress_server(running.app, args.listen)
    except (OSError, ValueError) as exc:
        log.error("cannot listen on %s: %s", args.listen, exc)
        running.stop()
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("%s received, stopping", signal.Signals(signum).name)
        sdnotify.notify("STOPPING=1")
        raise SystemExit(0)  # waitress's loop catches it and closes its sockets

    def reload(signum: int, frame: FrameType | None) -> None:
        log.info("SIGHUP received, reloading %s", args.config)
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


def render(args: argparse.Namespace) -> int:
    pipeline = Pipeline(args.config, args.output)
    try:
        pipeline.claim = publish.claim(args.output, "render")
    except (publish.Busy, OSError) as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 1
    outcome = pipeline.run()
    # Profiles are signed when served, not rendered: a signing problem is said, the tree is fine.
    for line in outcome.signing_errors:
        print(f"warning: {line}", file=sys.stderr)
    if outcome.published:
        print(f"rendered {outcome.published.path}", file=sys.stderr)
    return 0 if outcome.ok else 1


def check(args: argparse.Namespace) -> int:
    try:
        result = config.load(args.config)
    except config.ConfigError as exc:
        problems.report(args.config, exc)
        return 1
    warnings = [str(warning) for warning in clientrules.warnings(result)]
    if result.config.signing.enabled:
        from mailautoconf import signing  # cryptography only when asked

        try:
            warnings += [str(warning) for warning in signing.load(result.config.signing)[1]]
        except config.ConfigError as exc:
            problems.report(args.config, exc)
            return 1
    if result.config.dns.common_names:
        from mailautoconf.deploy.certs import common_names_cost  # dnspython only when asked

        cost = common_names_cost(result.config)
        if cost:
            warnings.append(f"{result.config.source}: warning: {cost}")
    for warning in warnings:
        print(warning, file=sys.stderr)
    providers = result.config.providers
    domains = sum(len(provider.domains) for provider in providers)
    print(f"{args.config}: OK, {len(providers)} provider(s), {domains} domain(s), {len(warnings)} warning(s)")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="service.py", description="Mail client auto-configuration server.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, *, output: bool = True) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument(
            "--config", default=DEFAULT_CONFIG, metavar="PATH", help=f"the TOML config (default {DEFAULT_CONFIG})"
        )
        if output:
            command.add_argument(
                "--output",
                default=DEFAULT_OUTPUT,
                metavar="DIR",
                help=f"where rendered generations go (default {DEFAULT_OUTPUT})",
            )
        return command

    add("serve", "render, watch the config and serve clients").add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address to listen on; [::1]:8080 for IPv6 (default {DEFAULT_LISTEN})",
    )
    add("render", "render the config once into the output folder")
    add("check", "validate the config and print every error and warning", output=False)

    dns_parser = add("dns", "print BIND zone-file records every hosted domain needs", output=False)
    dns_parser.add_argument("--domain", metavar="D", help="only this hosted domain")
    check_dns_parser = add(
        "check-dns", "look the records up live and report each as ok, missing or wrong", output=False
    )
    check_dns_parser.add_argument("--domain", metavar="D", help="only this hosted domain")
    check_dns_parser.add_argument("--resolver", metavar="IP[:PORT]", help="ask this DNS server (default: the system's)")
    certs_parser = add("certs", "print certificate names for dehydrated's domains.txt and certbot", output=False)
    certs_parser.add_argument(
        "--well-known", action="store_true", help="also the hosted domains' own names (nginx --well-known)"
    )
    certs_parser.add_argument(
        "--format", choices=("both", "dehydrated", "certbot"), default="both", help="what to print (default both)"
    )
    certs_parser.add_argument("--only-resolving", action="store_true", help="only names whose DNS already points here")
    certs_parser.add_argument("--resolver", metavar="IP[:PORT]", help="with --only-resolving: ask this DNS server")
    nginx_parser = add("nginx", "print an nginx site for the service", output=False)
    nginx_parser.add_argument(
        "--upstream",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"where serve listens (default {DEFAULT_LISTEN})",
    )
    nginx_parser.add_argument(
        "--static-root",
        default=DEFAULT_STATIC_ROOT,
        metavar="DIR",
        help=f"the rendered tree nginx serves from (default {DEFAULT_STATIC_ROOT})",
    )
    nginx_parser.add_argument(
        "--well-known",
        action="store_true",
        help="also answer /.well-known/autoconfig/ and /autodiscover/ on the hosted domains' own names",
    )
    nginx_parser.add_argument(
        "--dav-upstream",
        metavar="HOST:PORT",
        help="with --well-known: proxy the paths of CalDAV/CardDAV URLs on the domains' own names to this DAV server",
    )
    nginx_parser.add_argument(
        "--http-only", action="store_true", help="port 80 only, to order the first certificates (see README, Deploy)"
    )
    nginx_parser.add_argument("--http-port", type=int, default=80, metavar="PORT", help="default 80")
    nginx_parser.add_argument("--https-port", type=int, default=443, metavar="PORT", help="default 443")
    import_help = "write a TOML config from config-v1.1.xml files (README: Coming from another setup)"
    import_parser = commands.add_parser("import", help=import_help, description=import_help)
    import_parser.add_argument("files", nargs="+", metavar="FILE", help="config-v1.1.xml documents; - reads stdin")
    import_parser.add_argument(
        "--output", metavar="PATH", help="where the TOML goes (default stdout); an existing file is merged into"
    )
    import_parser.add_argument("--merge", metavar="EXISTING", help="add the providers to this existing config")
    import_parser.add_argument(
        "--public-hostname", metavar="HOST", help="[service] public_hostname (default autoconfig.<first domain>)"
    )
    init_help = "write a starter config for one provider and domain"
    init_parser = commands.add_parser("init", help=init_help, description=init_help)
    init_parser.add_argument("--output", metavar="PATH", help="where the TOML goes (default stdout)")
    init_parser.add_argument("--domain", required=True, metavar="D", help="the mail domain")
    init_parser.add_argument("--mail-host", required=True, metavar="H", help="the IMAP and SMTP server's host name")
    init_parser.add_argument("--provider-name", metavar="NAME", help="what clients show (default the domain)")
    init_parser.add_argument("--force", action="store_true", help="overwrite an existing --output file")
    probe_help = "check a live deployment the way each mail client does, and say what to fix first"
    from mailautoconf.probe.args import add_arguments as probe_arguments  # argparse only: no network code

    probe_arguments(commands.add_parser("probe", help=probe_help, description=probe_help))
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging()
    if args.command in LOCAL_COMMANDS:
        return LOCAL_COMMANDS[args.command](args)
    # The other commands' modules (dnspython, tomli-w, ...) are imported only
    # when asked for: serve, render and check start without them.
    module_name, function = OTHER_COMMANDS[args.command]
    module = importlib.import_module(module_name)
    return getattr(module, function)(args)  # type: ignore[no-any-return]


LOCAL_COMMANDS = {"serve": serve, "render": render, "check": check}
OTHER_COMMANDS = {
    "dns": ("mailautoconf.deploy.dns", "dns_command"),
    "check-dns": ("mailautoconf.deploy.checkdns", "check_dns_command"),
    "certs": ("mailautoconf.deploy.certs", "certs_command"),
    "nginx": ("mailautoconf.deploy.nginx", "nginx_command"),
    "import": ("mailautoconf.importer", "import_command"),
    "init": ("mailautoconf.starter", "init_command"),
    "probe": ("mailautoconf.probe.command", "probe_command"),
}
