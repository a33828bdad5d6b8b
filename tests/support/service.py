"""The real service: `python service.py serve` under waitress on a free 127.0.0.1 port, talked to over HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT

__all__ = ["Service", "free_port"]


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at ``address`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


class Service:
    """One `service.py serve` process with its own config folder and output folder."""

    def __init__(self, workdir: Path, config_text: str | None = None) -> None:
        self.workdir = workdir
        self.config_dir = workdir / "config"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.config_dir / "autoconfig.toml"
        self.output = workdir / "static_xml"
        self.log_path = workdir / "service.log"
        if config_text is None:
            shutil.copy(EXAMPLE_CONFIG, self.config_path)
        else:
            self.config_path.write_text(config_text, encoding="utf-8")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.http = requests.Session()
        self.http.trust_env = False  # never a proxy: traffic stays on loopback
        self.process: subprocess.Popen[bytes] | None = None
        self.extra_env: dict[str, str] = {}
        self.prefix: list[str] = []  # what the command runs under (setpriv, say)
        self.command = [sys.executable, "service.py"]  # or an installed `mailautoconf` (test_package.py)
        self.cwd = ROOT
        self._port_retries = 0

    def start(self, *, expect_ready: bool = True) -> Service:
        command = [
            *self.prefix,
            *self.command, "serve",
            "--config", str(self.config_path),
            "--listen", f"127.0.0.1:{self.port}",
            "--output", str(self.output),
        ]  # fmt: skip
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"} | self.extra_env
        self.process = subprocess.Popen(command, cwd=self.cwd, stdout=self._log, stderr=self._log, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if "cannot listen on" in self.log() and self._port_retries < 3:
                    # The free port was taken again before waitress bound it.
                    self._port_retries += 1
                    self._log.close()
                    self.port = free_port()
                    self.base = f"http://127.0.0.1:{self.port}"
                    return self.start(expect_ready=expect_ready)
                raise AssertionError(f"service exited with {self.process.returncode}:\n{self.log()}")
            try:
                answer = self.http.get(self.base + "/healthz", timeout=2)
            except requests.ConnectionError:
                time.sleep(0.05)
                continue
            if answer.status_code == 200 or not expect_ready:
                return self
            time.sleep(0.05)
        raise AssertionError(f"service did not become ready:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        code = self.process.returncode
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str, host: str | None = None, **kwargs: object) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[call-overload]
        if host is not None:
            headers["Host"] = host
        return self.http.get(self.base + path, headers=headers, timeout=10, allow_redirects=False, **kwargs)

    def post(self, path: str, body: bytes, content_type: str = "text/xml; charset=utf-8", **kwargs: object):
        headers = {"Content-Type": content_type, **dict(kwargs.pop("headers", {}) or {})}  # type: ignore[call-overload]
        return self.http.post(self.base + path, data=body, headers=headers, timeout=10, **kwargs)

    def health(self) -> dict:
        return self.get("/healthz").json()

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """GET /metrics, parsed by prometheus_client's own parser: (sample name, sorted labels) -> value."""
        answer = self.get("/metrics")
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"].startswith("text/plain; version="), answer.headers
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples
        }

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "condition"):  # type: ignore[no-untyped-def]
        """Poll ``predicate`` until it returns a truthy value; the watcher needs a moment."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.log()}")
            time.sleep(0.05)
