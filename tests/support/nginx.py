"""The site `service.py nginx` generates, and a minimal nginx.conf to run it in."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from mailautoconf import config
from mailautoconf.deploy.certs import service_bundles
from support.isolation import bind_file
from support.paths import ROOT
from support.pki import CA

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

__all__ = ["generate_site", "nginx_conf"]


def generate_site(
    config_path: Path,
    upstream: str,
    static_root: Path,
    http: int,
    https: int,
    *,
    well_known: bool = True,
    dav_upstream: str | None = None,
) -> str:
    """``service.py nginx``'s output; ``dav_upstream``: its ``--dav-upstream`` (None: left out)."""
    command = [
        sys.executable, "service.py", "nginx", "--config", str(config_path), "--upstream", upstream,
        "--static-root", str(static_root), "--http-port", str(http), "--https-port", str(https),
        *(["--well-known"] if well_known else []),
        *(["--dav-upstream", dav_upstream] if dav_upstream else []),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


def nginx_conf(folder: Path, site: str) -> Path:
    """A minimal nginx.conf around the generated site; `user root` lets workers read pytest's 0700 folders."""
    (folder / "site.conf").write_text(site)
    (folder / "tmp").mkdir(exist_ok=True)
    conf = folder / "nginx.conf"
    temp = folder / "tmp"
    conf.write_text(
        f"user root;\nworker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n  access_log {folder}/access.log;\n  client_body_temp_path {temp};\n  proxy_temp_path {temp};\n"
        f"  fastcgi_temp_path {temp};\n  uwsgi_temp_path {temp};\n  scgi_temp_path {temp};\n"
        f"  include {folder}/site.conf;\n}}\n"
    )
    return conf


def make_certificates(ca: CA, config_text: str, folder: Path, *, well_known: bool = True) -> None:
    """A certificate of the test CA for every bundle `service.py certs` names, as dehydrated would write them."""
    loaded = config.loads(config_text).config
    for alias, names in service_bundles(loaded, well_known=well_known).items():
        ca.issue_files(names, folder / "certs" / alias)
    (folder / "acme").mkdir(exist_ok=True)
    (folder / "acme" / "token-123").write_text("challenge-answer\n")


def reached_the_service(answer: requests.Response) -> bool:
    """Whether the service answered (nginx's own 404 is an HTML page naming nginx)."""
    return b"<center>nginx" not in answer.content


@contextlib.contextmanager
def running_nginx(folder: Path, conf: Path, hosts: str, probe: str) -> Iterator[requests.Session]:
    """nginx on ``conf`` while ``hosts`` is /etc/hosts (in the test's mount namespace), up once ``probe`` connects.

    Yields a session that never uses a proxy; nginx is stopped gracefully afterwards
    and its stderr is kept in ``folder``/nginx.stderr for the failure message.
    """
    with bind_file("/etc/hosts", hosts):
        log = open(folder / "nginx.stderr", "wb")  # noqa: SIM115 - closed below
        nginx = subprocess.Popen([NGINX, "-c", str(conf), "-g", "daemon off;"], stderr=log)
        session = requests.Session()
        session.trust_env = False
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    session.get(probe, timeout=2)
                    break
                except requests.ConnectionError:
                    if nginx.poll() is not None or time.monotonic() > deadline:
                        stderr = (folder / "nginx.stderr").read_text(errors="replace")
                        raise AssertionError(f"nginx did not start: {stderr}") from None
                    time.sleep(0.05)
            yield session
        finally:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
            log.close()
