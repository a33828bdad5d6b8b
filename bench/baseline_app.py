"""The ceiling of this stack: Flask + waitress answering a constant body, nothing else.

throughput.py runs this beside the real service and divides the service's
requests/s by this one's, so the figure says how much the service's own
work (lookup, XML parsing, access log) costs, not how fast this machine is.
For that to hold, waitress must be configured exactly as ``service.py
serve`` configures it: both build their server with
``mailautoconf.serve.service.waitress_server`` (WAITRESS_SETTINGS and the service's
channel class, mailautoconf/serve/channel.py), so they cannot drift apart.

Run by throughput.py and profiles.py as::

    python bench/baseline_app.py --port PORT --get-bytes N --post-bytes M [--content-type TYPE]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from harness import ROOT

# What the service sends its XML documents as; profiles.py passes the Apple profile type, so the headers match.
DEFAULT_CONTENT_TYPE = "application/xml; charset=utf-8"


def _repo_on_path() -> None:
    """Make ``import mailautoconf`` work when this file is run as a script from bench/."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def service_waitress_settings() -> dict[str, Any]:
    """The keyword arguments ``service.waitress_server`` passes to ``waitress.create_server``, for printing."""
    _repo_on_path()
    from mailautoconf.serve import service

    return dict(service.WAITRESS_SETTINGS)


def create_app(get_body: bytes, post_body: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> Any:
    """A Flask app answering any path: ``get_body`` to GET, ``post_body`` to POST, as ``content_type``.

    The POST body is not read by the app: waitress has already read it, as it
    does for the service, and parsing it is the service's own work.
    """
    from flask import Flask
    from flask import Response
    from flask import request

    app = Flask("baseline")

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def constant(path: str) -> Response:
        body = post_body if request.method == "POST" else get_body
        return Response(body, 200, content_type=content_type)

    return app


def filler(size: int) -> bytes:
    """An XML-ish constant body of exactly ``size`` bytes (the service's documents are ~2 KB)."""
    head, tail = b"<?xml version='1.0'?><baseline>", b"</baseline>\n"
    return head + b"x" * max(0, size - len(head) - len(tail)) + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Flask + waitress constant-body baseline for bench/throughput.py")
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 to listen on")
    parser.add_argument("--get-bytes", type=int, default=2048, help="size of the GET answer (default 2048)")
    parser.add_argument("--post-bytes", type=int, default=2048, help="size of the POST answer (default 2048)")
    parser.add_argument(
        "--content-type",
        default=DEFAULT_CONTENT_TYPE,
        help=f"Content-Type of both answers (default {DEFAULT_CONTENT_TYPE})",
    )
    parser.add_argument("--print-settings", action="store_true", help="print the waitress settings and exit")
    args = parser.parse_args(argv)
    settings = service_waitress_settings()
    if args.print_settings:
        print(settings)
        return 0
    from mailautoconf.serve import service

    app = create_app(filler(args.get_bytes), filler(args.post_bytes), args.content_type)
    server = service.waitress_server(app, f"127.0.0.1:{args.port}")
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
