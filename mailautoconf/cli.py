"""``mailautoconf serve|render|check`` (or ``python service.py ...`` in a checkout): the command line.

Exit status: 0 on success, 1 when the config has errors (or a render
fails), 2 on bad command-line usage (argparse's convention).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from mailautoconf import clientrules
from mailautoconf import config
from mailautoconf import endpoints
from mailautoconf import problems
from mailautoconf.reload.pipeline import Pipeline
from mailautoconf.serve import service
from mailautoconf.serve.logs import setup_logging
from mailautoconf.serve.service import DEFAULT_CONFIG
from mailautoconf.serve.service import DEFAULT_LISTEN
from mailautoconf.serve.service import DEFAULT_OUTPUT
from mailautoconf.serve.service import DEFAULT_STATIC_ROOT
from mailautoconf.tree import publish

__all__ = ["main", "parser"]

log = logging.getLogger("mailautoconf")


def serve(args: argparse.Namespace) -> int:
    return service.run(args.config, args.output, args.listen)


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
        from mailautoconf.render import signing  # cryptography only when asked

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


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; ``prog`` None names it as started: ``service.py`` or ``mailautoconf``."""
    top = argparse.ArgumentParser(prog=prog, description="Mail client auto-configuration server.")
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
        help=f"also answer {endpoints.PAGE.paths[1]} and {endpoints.CASE_FOLDED} on the hosted domains' own names",
    )
    nginx_parser.add_argument(
        "--dav-upstream",
        metavar="HOST:PORT",
        help="with --well-known: proxy the paths of CalDAV/CardDAV URLs on the domains' own names to this DAV server",
    )
    nginx_parser.add_argument(
        "--http-only", action="store_true", help="port 80 only, to order the first certificates (see docs/deploy.md)"
    )
    nginx_parser.add_argument("--http-port", type=int, default=80, metavar="PORT", help="default 80")
    nginx_parser.add_argument("--https-port", type=int, default=443, metavar="PORT", help="default 443")
    import_help = "write a TOML config from config-v1.1.xml files (docs/import.md)"
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


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = parser(prog).parse_args(argv)
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
    "import": ("mailautoconf.authoring.importer", "import_command"),
    "init": ("mailautoconf.authoring.starter", "init_command"),
    "probe": ("mailautoconf.probe.command", "probe_command"),
}
