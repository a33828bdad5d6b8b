"""An nginx site for the service, generated from the config.

What it does, and why:
- one https server per certificate bundle (:mod:`mailautoconf.deploy.certs`:
  at most ``[tls] max_names`` names each), with exactly that bundle's names:
  ``autoconfig.<d>`` and ``autodiscover.<d>`` of every domain with own names,
  ``autoconfig.<mx domain>`` of the MX lookup domains that are not hosted,
  the public host name, and with ``--well-known`` the hosted domains' own
  names (for ``/.well-known/autoconfig/``, ``/autodiscover/``, the settings
  page and the Apple profile only, :data:`PEOPLE_PATHS`, and the RFC 6764
  redirects ``/.well-known/caldav`` and ``/.well-known/carddav``,
  :data:`DAV_PATHS`), and with ``--dav-upstream`` the context paths of
  DAV URLs on those names, proxied to the DAV server
  (:mod:`mailautoconf.deploy.davnginx`: the shape Thunderbird follows through
  the redirect alone); TLS
  1.2 and 1.3, HTTP/2, a shared TLS session cache, HSTS;
- on 80 every ``autoconfig.*`` and ``autodiscover.*`` name: autoconfig is
  answered directly (KMail before 24.08 asks over plain http only,
  docs/clients.md section 1.1), Autodiscover is redirected to https with a 302 (Outlook and Thunderbird
  follow it; Thunderbird sends passwords to Autodiscover, so they must not
  travel over http), and ACME http-01 challenges are answered from the TLS
  client's webroot, so certificates for new domains can be ordered before
  the site is regenerated for them;
- the static documents are served by nginx itself from the rendered tree
  (``static_xml/current/<folder>/mail/config-v1.1.xml``; over https also
  for GNOME's ``/.well-known/mail-v1.xml``, the same file), as the service
  would answer: when ``emailaddress`` names a hosted domain, that domain's
  document (whatever the Host); without ``emailaddress``, the Host's
  (``autoconfig.<mx domain>`` gets the provider's MX lookup document from
  ``_mx.<mx domain>``, a Host that is a hosted domain that domain's);
  Evolution's User-Agent gets its own document. The query is read as the
  service reads it (serve/documents.py query_argument: the first pair whose decoded name
  is exactly ``emailaddress``), by regular expressions over the raw query
  that match only where nginx reads it exactly so (:func:`_address_map`).
  Any other case (a query nginx cannot read so, an address of a domain it
  has no file for) goes to the service, which decides as it always does.
  So the common lookup never reaches Python; everything else is proxied
  with the client's address and Host passed on;
- ``/healthz`` and ``/metrics`` only from the machine itself: config errors name domains,
  and the metrics say what clients ask;
- every path and address it prints means to nginx exactly what it says
  (:func:`literal`): quoted where nginx's syntax would read it otherwise
  (a space, ";", braces, "#", quotes, a backslash); a "$", which nginx
  reads as a variable in root, alias and ssl_certificate and has no escape
  for, and control characters are refused by the command, naming the
  option or key.

The hot path is short: the query → the address's domain (one anchored
regular expression for a query with an address), that domain → its folder (one exact-key hash look-up), the
User-Agent → which document (a regular expression anchored at ``^``); the
Host map only when there is no address. Opened documents stay in nginx's
open file cache, checked again after a second (an edit shows within about
one), which saves the path walk through the tree's two symlinks on every
request: bench/nginx.py has the site as fast as raw nginx serving one file.

Memory is what scale costs: every https server holds every module's
settings for each of its four locations, and a TLS context. At 100,000
domains (about 2,900 servers) ``nginx -t`` takes some seconds and about
330 MB; with ``--well-known`` (three names a domain) about 4,300 servers
and 600 MB.

The hash tables (the maps and the server names) are sized here so that
nginx builds them without "could not build optimal ..." warnings: the
sizes are found by running nginx's own search (``ngx_hash_init``) over the
keys. :func:`site` is a pure function of the model. The command looks
for the certificate files, and leaves out the https server of each
certificate that does not exist yet (and says so): a first issue for a
large customer base takes the CA's rate limits a day or more, and the site
must load meanwhile.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from mailautoconf import endpoints
from mailautoconf import paccspec
from mailautoconf.deploy import AUTOCONFIG
from mailautoconf.deploy import AUTODISCOVER
from mailautoconf.deploy import comment_text
from mailautoconf.deploy import davnginx
from mailautoconf.deploy import load_or_report
from mailautoconf.deploy import mx_lookup_domains
from mailautoconf.deploy import own_name_domains
from mailautoconf.deploy import paccnginx
from mailautoconf.deploy.certs import Certificates
from mailautoconf.deploy.certs import service_bundles
from mailautoconf.endpoints import ADDRESS_PARAMETER
from mailautoconf.model import Config
from mailautoconf.names import MAX_ADDRESS
from mailautoconf.pacc import digest
from mailautoconf.render import EVOLUTION
from mailautoconf.render import MX_FOLDER_PREFIX
from mailautoconf.render import THUNDERBIRD
from mailautoconf.tree.publish import CURRENT

__all__ = [
    "DAV_PATHS",
    "SiteOptions",
    "hash_sizes",
    "literal",
    "nginx_command",
    "nginx_version",
    "site",
    "upstream_address",
]

HSTS = 'add_header Strict-Transport-Security "max-age=31536000" always;'
# Both paths Thunderbird-style clients ask (docs/clients.md section 1.2).
AUTOCONFIG_PATHS = endpoints.AUTOCONFIG.paths
# GNOME Online Accounts' name for the same document, asked first, over https only (section 1.15).
GNOME_PATH = endpoints.GNOME_AUTOCONFIG.path
# What people open (the settings page, webpage.py) and the Apple profile they download:
# the service answers them on every name, the hosted domains' own names included.
PEOPLE_PATHS = endpoints.PAGE.paths + endpoints.APPLE_PROFILE.paths
# The RFC 6764 section 5 well-known URIs, which calendar and contacts clients ask on the mail
# domain's own name (and the service redirects, davredirect.py); each also with a trailing slash.
DAV_PATHS = (endpoints.CALDAV.path, endpoints.CARDDAV.path)
# Only for the machine itself: config errors name domains, the metrics say what clients ask.
LOCAL_PATHS = (endpoints.HEALTHZ.path, endpoints.METRICS.path)
DYNAMIC = "/.mailautoconf-dynamic"  # a path that never exists: try_files falls back to the service
SERVER_NAMES_PER_LINE = 8
# nginx 1.25.1 replaced "listen ... http2" (deprecated there, with a warning) by "http2 on".
HTTP2_DIRECTIVE_SINCE = (1, 25, 1)


@dataclass(frozen=True)
class SiteOptions:
    upstream: str  # where `service.py serve` listens, HOST:PORT
    static_root: str  # the output folder of `serve` (holds `current`)
    well_known: bool = False  # also answer on the hosted domains' own names
    http_port: int = 80
    https_port: int = 443
    # Port 80 only: the bootstrap site that answers ACME challenges before the
    # certificates the https servers name exist (nginx -t fails without them).
    http_only: bool = False
    # How this nginx turns HTTP/2 on: "listen" (listen ... ssl http2; up to
    # 1.25.0, e.g. Debian 12's 1.22) or "directive" (http2 on; 1.25.1 and later).
    http2: str = "listen"
    # Certificates (aliases) that do not exist yet: their https servers are left
    # out (nginx -t fails on a missing file); their names are answered on 80 only.
    missing_certificates: frozenset[str] = frozenset()
    # With well_known: where the DAV server listens, HOST:PORT (davnginx.py); None: no DAV paths.
    dav_upstream: str | None = None


def site(loaded: Config, options: SiteOptions, bundles: Certificates | None = None) -> str:
    """Render the whole nginx site (one file for sites-enabled or conf.d).

    ``bundles``: :func:`~mailautoconf.deploy.certs.service_bundles` of the
    config, if already at hand.
    """
    own = [domain.name for _, domain in own_name_domains(loaded)]
    mx_domains = list(mx_lookup_domains(loaded))
    public = loaded.service.public_hostname
    if options.http_only:
        bundles = {}
    elif bundles is None:
        bundles = service_bundles(loaded, well_known=options.well_known)
    left_out = sorted(alias for alias in bundles if alias in options.missing_certificates)
    bundles = {alias: names for alias, names in bundles.items() if alias not in options.missing_certificates}
    host_map = [(f"{AUTOCONFIG}.{name}", f"/{name}/") for name in own]
    host_map += [(f"{AUTOCONFIG}.{name}", f"/{MX_FOLDER_PREFIX}{name}/") for name in mx_domains]
    if options.well_known:
        host_map += [(name, f"/{name}/") for name in own]
    hosted = loaded.domains()
    first: dict[str, str] = {}
    for key, value in host_map:
        # The first of a name wins; a Host that is itself a hosted domain is that domain, as the
        # service reads it (names.candidate_domains asks the whole name before autoconfig.<d>'s <d>).
        first.setdefault(key, f"/{key}/" if key in hosted else value)
    host_map = list(first.items())
    address_map = [(name, f"/{name}/") for name in own]
    dav_paths = (
        davnginx.paths(loaded).paths if options.dav_upstream and options.well_known and not options.http_only else ()
    )
    pacc_map = [(name, f"/{name.removeprefix(paccspec.HOST_LABEL + '.')}/") for name in digest.host_names(loaded)]

    http_names = _http_names(public)
    # The domains' own names on port 80 (--well-known); the public host name may be one of them.
    own_http = [name for name in own if name not in http_names] if options.well_known else []
    # Each map and each listening port has a hash table of its own; one setting serves them all.
    map_max, map_bucket = hash_sizes_many(
        [[key for key, _ in host_map], ["", *(key for key, _ in address_map)], [key for key, _ in pacc_map]]
    )
    names_max, names_bucket = hash_sizes_many(
        [
            [name for names in bundles.values() for name in names],  # 443
            [name for name in http_names if "*" not in name] + own_http,  # 80
        ]
    )
    out: list[str] = [
        f"# nginx site for mailautoconf, generated by `service.py nginx` from {comment_text(loaded.source)}.",
        "# Regenerate after adding a domain; do not edit by hand.",
        "",
        *_left_out_comment(left_out),
        "# Hash tables sized for this site's map keys and server names, so that nginx builds",
        "# them without warnings; drop these lines if nginx.conf already sets them.",
        f"map_hash_max_size {map_max};",
        f"map_hash_bucket_size {map_bucket};",
        f"server_names_hash_max_size {names_max};",
        f"server_names_hash_bucket_size {names_bucket};",
        "",
        *_address_map(),
        "# Evolution keeps the last server of each type it reads: it gets its own document.",
        "map $http_user_agent $mailautoconf_document {",
        f'    default "{THUNDERBIRD}";',
        f'    "~^Evolution/" "{EVOLUTION}";',
        "}",
        "",
        "# The file nginx serves itself, as the service answers: an address of a hosted domain",
        "# gets that domain's document whatever the Host; no address, the Host's (below).",
        "# Exact keys: one hash look-up, and nginx compares map keys without letter case.",
        "map $mailautoconf_address_domain $mailautoconf_static {",
        f'    default "{DYNAMIC}/";',
        '    "" $mailautoconf_host_static;',
    ]
    out += [f"    {key} {value};" for key, value in address_map]
    out += [
        "}",
        "",
        f"# Host -> the folder of the documents for a request without {ADDRESS_PARAMETER}.",
        "map $host $mailautoconf_host_static {",
        f'    default "{DYNAMIC}/";',
    ]
    out += [f"    {key} {value};" for key, value in host_map]
    out += ["}", ""]
    out += paccnginx.host_map(pacc_map, DYNAMIC)
    if options.well_known and not options.http_only:
        out += [
            "# The hosted domains' own names (--well-known) get the service's paths only.",
            "map $host $mailautoconf_own_name {",
            "    default 1;",
            f"    {public} 0;",
            f'    "~^(?:{AUTOCONFIG}|{AUTODISCOVER}|{paccspec.HOST_LABEL})\\." 0;',
            "}",
            "",
        ]
    out += [
        "upstream mailautoconf {",
        f"    server {upstream_address(options.upstream, '--upstream')};",
        "    keepalive 16;",
        "}",
        "",
    ]
    if dav_paths and options.dav_upstream:
        out += davnginx.upstream_block(upstream_address(options.dav_upstream, "--dav-upstream"))
    out += _server(loaded, options, http_names, tls_name=None, challenges=loaded.tls.challenges)
    if own_http:
        out += ["# The hosted domains' own names on port 80: the service's paths only."]
        out += _server(loaded, options, own_http, None, loaded.tls.challenges, only_service_paths=True)
    tls = loaded.tls
    for alias, names in bundles.items():
        out += [f"# Certificate {alias} ({len(names)} names)."]
        out += _server(loaded, options, names, (tls.certificate(alias), tls.key(alias)), None, dav_paths=dav_paths)
    return "\n".join(out) + "\n"


# -- what the site prints, as nginx reads it ----------------------------------------------------

# The service's reading of the query (documents.query_argument, names.domain_of_address), as regular
# expressions over the raw query ($args) that match only where nginx reads it exactly so; any
# other query goes to the service, which decides. Why not $arg_emailaddress: nginx finds that
# name in any letter case, never percent-decoded, and skips a pair without "=", where the
# service takes the first pair whose decoded name is exactly "emailaddress", "=" or not.
# A pair the service never reads as emailaddress: a name other than that, without "%".
_OTHER_PAIR = f"(?!{ADDRESS_PARAMETER}(?:[=&]|$))[^&=%]*(?:=[^&]*)?"
_BEFORE = f"^(?:{_OTHER_PAIR}&)*{ADDRESS_PARAMETER}"  # the first pair the service reads
_ESCAPE = "%[0-9A-Fa-f]{2}"
# An address whose domain nginx can read: at most MAX_ADDRESS octets (the service reads no longer one),
# a character before the first @ that is neither whitespace nor decoded (so the local part is
# not empty once stripped), the domain after the last @ or %40 in letters, digits, "." and "-"
# only (so it reads the same decoded). Thunderbird sends fred%40example.org, others fred@...
_ADDRESS = (
    f"{_BEFORE}=(?=[^&]{{1,{MAX_ADDRESS}}}(?:&|$))"
    f"(?=(?:%(?!40)[0-9A-Fa-f]{{2}}|[^&%@A-Za-z0-9._~-])*[A-Za-z0-9._~-])"
    f"(?:{_ESCAPE}|[^&%])*(?:@|%40)(?<mailautoconf_d>[A-Za-z0-9.-]+)(?:&|$)"
)


def _address_map() -> list[str]:
    """``$mailautoconf_address_domain``: the address's domain, "" for none (the Host decides), "?" unknown."""
    return [
        f"# The domain of the {ADDRESS_PARAMETER} the service reads from the query: the first pair whose",
        f"# decoded name is exactly {ADDRESS_PARAMETER}. The raw query is read only where that is certain",
        '# ("?" otherwise: the service decides); "" when there is no address (the Host decides).',
        "map $args $mailautoconf_address_domain {",
        '    "" "";',
        f'    "~{_ADDRESS}" $mailautoconf_d;',
        f'    "~{_BEFORE}=?(?:&|$)" "";',
        f'    "~^(?:{_OTHER_PAIR}&)*{_OTHER_PAIR}$" "";',
        '    default "?";',
        "}",
        "",
    ]


# A word nginx reads as written, unquoted; anything else is quoted.
_PLAIN_WORD = re.compile(r"[A-Za-z0-9._/:@%+=,~-]+")
_UPSTREAM = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>[0-9]{1,5})")


def literal(value: str, what: str) -> str:
    """``value`` as one nginx word that means exactly it (a path, mostly); ValueError when none does.

    In double quotes nginx takes spaces, ";", "{", "}" and "#" as they are, and
    a quote or backslash escaped with a backslash (ngx_conf_read_token; unquoted,
    it would read "\\t" as a tab). A "$" starts a variable in every directive
    that takes them (root, alias, ssl_certificate since 1.15.9), in quotes too,
    and nginx has no escape for it: such a value is refused, as are control
    characters.
    """
    if "$" in value:
        raise ValueError(
            f'{what} "{value}": nginx reads "$" as the start of a variable here, and has no way to '
            'write a literal one; use a path without "$"'
        )
    if not value.isprintable():
        raise ValueError(f"{what} {value!r} holds a control character, which an nginx site cannot carry")
    if _PLAIN_WORD.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def upstream_address(value: str, what: str) -> str:
    """``--upstream``/``--dav-upstream`` as nginx's ``server`` takes it: HOST:PORT, [IPv6]:PORT or unix:PATH."""
    if value.startswith("unix:/"):
        return literal(value, what)
    match = _UPSTREAM.fullmatch(value)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ValueError(f'{what} "{value}" is not HOST:PORT, [IPv6]:PORT or unix:/PATH')
    return value


def _left_out_comment(aliases: list[str]) -> list[str]:
    if not aliases:
        return []
    lines = [
        f"# {len(aliases)} certificate(s) did not exist when this was generated: their names have no",
        "# https server yet (clients fall back to http). Generate the site again once they exist:",
    ]
    lines += [f"#   {' '.join(aliases[start : start + 8])}" for start in range(0, len(aliases), 8)]
    return [*lines, ""]


def _http_names(public: str) -> list[str]:
    """Port 80 answers every autoconfig.* and autodiscover.* name: ACME challenges come before regeneration."""
    names = [f"{AUTOCONFIG}.*", f"{AUTODISCOVER}.*", f"{paccspec.HOST_LABEL}.*"]  # PACC: for ACME
    if not public.startswith((f"{AUTOCONFIG}.", f"{AUTODISCOVER}.", f"{paccspec.HOST_LABEL}.")):
        names.append(public)
    return names


def _listen(loaded: Config, options: SiteOptions, tls: bool) -> list[str]:
    port = options.https_port if tls else options.http_port
    extra = (" ssl http2" if options.http2 == "listen" else " ssl") if tls else ""
    addresses = [f"[{address}]" if ":" in address else address for address in loaded.nginx.listen]
    if not addresses:
        lines = [f"    listen {port}{extra};", f"    listen [::]:{port}{extra};"]
    else:
        lines = [f"    listen {address}:{port}{extra};" for address in addresses]
    if tls and options.http2 == "directive":
        lines.append("    http2 on;")
    return lines


def _server_name_lines(names: list[str]) -> list[str]:
    return [
        f"    server_name {' '.join(names[start : start + SERVER_NAMES_PER_LINE])};"
        for start in range(0, len(names), SERVER_NAMES_PER_LINE)
    ]


def _server(
    loaded: Config,
    options: SiteOptions,
    server_names: list[str],
    tls_name: tuple[str, str] | None,
    challenges: str | None,
    *,
    only_service_paths: bool = False,
    dav_paths: tuple[str, ...] = (),
) -> list[str]:
    https = tls_name is not None
    lines = ["server {", *_listen(loaded, options, https), *_server_name_lines(server_names)]
    if tls_name is not None:
        lines += [
            f"    ssl_certificate {literal(tls_name[0], '[tls] directory')};",
            f"    ssl_certificate_key {literal(tls_name[1], '[tls] directory')};",
            "    ssl_protocols TLSv1.2 TLSv1.3;",
            "    ssl_session_cache shared:mailautoconf:10m;",
            "    ssl_session_timeout 1d;",
            f"    {HSTS}",
            "    client_max_body_size 16k;  # Autodiscover requests; the service takes 8 KiB",
        ]
    # For the static documents; everything else is proxied.
    root = options.static_root.rstrip("/") + "/" + CURRENT
    lines += [
        f"    root {literal(root, '--static-root')};",
        '    types { } default_type "application/xml; charset=utf-8";',
        "    open_file_cache max=256 inactive=20s; open_file_cache_valid 1s;",
    ]
    if challenges:
        lines += [
            "    # ACME http-01 challenges, so certificates can be ordered before 443 works.",
            f"    location ^~ {endpoints.ACME_CHALLENGES} {{",
            f"        alias {literal(challenges.rstrip('/') + '/', '[tls] challenges')}; default_type text/plain;",
            "    }",
        ]
    # https://autoconfig.<d> is asked the first path only; the second (on the
    # domains' own names, and any Host over http) reaches the service otherwise.
    # GNOME's path (docs/clients.md section 1.15) is asked over https only, on
    # autoconfig.<d>: the same file there, one exact location more per https server.
    static = AUTOCONFIG_PATHS if not https or options.well_known else AUTOCONFIG_PATHS[:1]
    for path in (*static, GNOME_PATH) if https else static:
        lines += [
            f"    location = {path} {{",
            "        try_files $mailautoconf_static$mailautoconf_document @mailautoconf;",
            '        add_header Cache-Control "no-cache"; add_header Vary "User-Agent";',
        ]
        if https:
            lines.append(f"        {HSTS}  # add_header here replaces the server's")
        lines.append("    }")
    lines += paccnginx.location(https, server_names, HSTS)
    if not https:
        port = "" if options.https_port == 443 else f":{options.https_port}"
        lines += [
            "    # Autodiscover, any letter case (Outlook, Windows Mail, Thunderbird): over https only.",
            f"    location ~* ^{endpoints.CASE_FOLDED} {{ return 302 https://$host{port}$request_uri; }}",
        ]
    elif options.well_known:
        lines += [
            "    # Autodiscover, any letter case, also on the domains' own names.",
            f"    location ~* ^{endpoints.CASE_FOLDED} {{ proxy_pass http://mailautoconf; }}",
        ]
    if https and options.well_known:
        lines += davnginx.location(dav_paths)
    if only_service_paths or (https and options.well_known):
        # The own names answer only the service's paths; these are among them. One regular
        # expression, anchored: one location more per server, not one per path (memory at scale).
        lines.append(f"    location ~ {_people_regex()} {{ proxy_pass http://mailautoconf; }}")
    if only_service_paths:
        lines.append("    location / { return 404; }")
    else:
        lines += [
            "    # Its config errors name domains, the metrics what clients ask: from this machine only.",
            # One location for both: each location costs memory in every server block.
            f"    location ~ {_local_regex()} {{"
            " allow 127.0.0.1; allow ::1; deny all; proxy_pass http://mailautoconf; }",
        ]
        if https and options.well_known:
            lines.append(
                "    location / { if ($mailautoconf_own_name) { return 404; } proxy_pass http://mailautoconf; }"
            )
        else:
            lines.append("    location / { proxy_pass http://mailautoconf; }")
    lines += [
        "    location @mailautoconf { proxy_pass http://mailautoconf; }",
        '    proxy_http_version 1.1; proxy_set_header Connection "";',
        "    proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        "}",
        "",
    ]
    return lines


def _people_regex() -> str:
    """PEOPLE_PATHS and DAV_PATHS as one anchored regular expression: exactly these paths, nothing below them.

    A DAV path may end in a slash (the service answers both spellings).
    """
    alternatives = [_regex(path) for path in PEOPLE_PATHS]
    alternatives += [_regex(path) + "/?" for path in DAV_PATHS]
    return f"^(?:{'|'.join(alternatives)})$"


def _local_regex() -> str:
    """LOCAL_PATHS as one anchored regular expression (one location costs memory in every server block)."""
    return f"^/({'|'.join(_regex(path.removeprefix('/')) for path in LOCAL_PATHS)})$"


def _regex(path: str) -> str:
    """``path`` as a regular expression matching only it: the table's paths hold no metacharacter but "."."""
    return path.replace(".", "\\.")


# -- nginx's hash tables ---------------------------------------------------------------------------

_MASK = (1 << 64) - 1  # ngx_uint_t on 64-bit machines
_WORD = 8  # sizeof(void *)
_CACHE_LINE = 64  # nginx rounds bucket sizes up to its cache line (64, some CPUs 128: only roomier)


def _ngx_hash(name: bytes) -> int:
    """ngx_hash_key(): key = key * 31 + c over the (lower-case) bytes."""
    key = 0
    for byte in name:
        key = (key * 31 + byte) & _MASK
    return key


def _element_size(length: int) -> int:
    """NGX_HASH_ELT_SIZE: a value pointer, a length and the name, aligned to a word."""
    return _WORD + ((length + 2 + _WORD - 1) // _WORD) * _WORD


def _fits(hashes: list[int], sizes: list[int], buckets: int, bucket_size: int) -> bool:
    """Whether no bucket of a ``buckets``-bucket table overflows (ngx_hash_init's test)."""
    room = bucket_size - _WORD
    used = [0] * buckets
    for key, size in zip(hashes, sizes, strict=True):
        index = key % buckets
        used[index] += size
        if used[index] > room:
            return False
    return True


def _search(hashes: list[int], sizes: list[int], max_size: int, bucket_size: int) -> bool:
    """Whether nginx's search for a table size succeeds, judged by the first sizes it tries.

    True means nginx succeeds too (at that size or an earlier one); False may
    be wrong only for small tables, which then get a roomier setting.
    """
    count = len(hashes)
    tries = max(16, 2_000_000 // max(count, 1))
    start = max(1, count // ((bucket_size - _WORD) // (2 * _WORD)))
    if max_size > 10000 and count and max_size // count < 100:
        start = max_size - 1000
    return any(_fits(hashes, sizes, size, bucket_size) for size in range(start, min(max_size, start + tries - 1) + 1))


def hash_sizes(keys: Iterable[str]) -> tuple[int, int]:
    """``*_hash_max_size`` and ``*_hash_bucket_size`` under which nginx builds these keys' hash optimally."""
    return hash_sizes_many([list(keys)])


def hash_sizes_many(tables: list[list[str]]) -> tuple[int, int]:
    """One max_size and bucket_size that suit every table (nginx has one setting for all maps, all ports)."""
    prepared = []
    for keys in tables:
        unique = list(dict.fromkeys(key.lower().encode("ascii") for key in keys))
        prepared.append(([_ngx_hash(key) for key in unique], [_element_size(len(key)) for key in unique]))
    largest = max((max(sizes, default=0) for _, sizes in prepared), default=0)
    count = max(len(hashes) for hashes, _ in prepared)
    average = max((sum(sizes) / len(sizes) for _, sizes in prepared if sizes), default=_WORD)
    # Room for about eight average keys a bucket: a table with as many buckets as keys then fits.
    bucket_size = _round_up(max(largest + _WORD, int(8 * average) + _WORD, 128), _CACHE_LINE)
    max_size = max(_round_up(count + 1000, 1024), 2048)
    while True:
        if all(_search(hashes, sizes, max_size, bucket_size) for hashes, sizes in prepared):
            return max_size, bucket_size
        max_size = _round_up(max_size * 5 // 4, 1024)
        if max_size > 16 * (count + 1024):  # never for real names; a safety net against a loop
            bucket_size *= 2
            max_size = max(_round_up(count + 1000, 1024), 2048)


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


# -- the command -----------------------------------------------------------------------------------


def nginx_version(binary: str | None = None) -> tuple[int, ...] | None:
    """The installed nginx's version from ``nginx -v`` (e.g. (1, 22, 1)); None when there is none."""
    binary = binary or shutil.which("nginx") or "/usr/sbin/nginx"
    try:
        result = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", result.stderr + result.stdout)
    return tuple(int(part) for part in match.groups()) if match else None


def nginx_command(args: argparse.Namespace) -> int:
    if args.dav_upstream and (args.http_only or not args.well_known):
        print("nginx: --dav-upstream proxies the domains' own names: it needs --well-known", file=sys.stderr)
        return 2
    loaded = load_or_report(args.config)
    if loaded is None:
        return 1
    if args.well_known and not args.http_only:
        _report_dav_paths(davnginx.paths(loaded), args.dav_upstream)
    version = nginx_version()
    bundles = {} if args.http_only else service_bundles(loaded, well_known=args.well_known)
    tls = loaded.tls
    # While a large customer base is being issued (the CA's rate limits spread it over
    # hours), most certificates do not exist yet: the site leaves their servers out.
    missing = frozenset(
        alias for alias in bundles if not (os.path.exists(tls.certificate(alias)) and os.path.exists(tls.key(alias)))
    )
    options = SiteOptions(
        upstream=args.upstream,
        static_root=args.static_root,
        well_known=args.well_known,
        http_port=args.http_port,
        https_port=args.https_port,
        http_only=args.http_only,
        # No nginx here (the site is made for another host): the spelling 1.22 (Debian 12) needs.
        http2="directive" if version is not None and version >= HTTP2_DIRECTIVE_SINCE else "listen",
        missing_certificates=missing,
        dav_upstream=args.dav_upstream,
    )
    if missing:
        names = sum(len(bundles[alias]) for alias in missing)
        listed = ", ".join(sorted(missing)[:5]) + (", ..." if len(missing) > 5 else "")
        print(
            f"nginx: {len(missing)} of {len(bundles)} certificates are not in {tls.directory} yet ({listed}): "
            f"their {names} names get no https server; generate the site again once they exist",
            file=sys.stderr,
        )
    try:
        text = site(loaded, options, bundles)
    except ValueError as exc:
        print(f"nginx: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


def _report_dav_paths(found: davnginx.DavPaths, upstream: str | None) -> None:
    """Say on stderr which DAV URLs on the own names this site does not proxy, and why."""
    for url, why in found.refused:
        print(f"nginx: {url} is not proxied to the DAV server: {why}", file=sys.stderr)
    if found.paths and not upstream:
        print(
            f"nginx: DAV URLs on the domains' own names ({', '.join(found.paths)}) answer 404 here; "
            "pass --dav-upstream HOST:PORT to proxy them to the DAV server",
            file=sys.stderr,
        )
