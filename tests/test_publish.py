"""Generations on disk: atomic swap, pruning, and what a kill mid-render leaves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import EXAMPLE_CONFIG
from conftest import ROOT

from mailautoconf import publish
from mailautoconf.store import load_generation

EXAMPLE = EXAMPLE_CONFIG.read_text(encoding="utf-8")


def big_config(domains: int) -> str:
    names = ", ".join(f'"d{index:05d}.example"' for index in range(domains))
    return EXAMPLE.replace('domains = ["example.net", "example.org", "example.com"]', f"domains = [{names}]")


def run_render(config: Path, output: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "service.py", "render", "--config", str(config), "--output", str(output)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def tree(domain: str, text: bytes) -> dict[str, dict[str, bytes]]:
    return {domain: {"mail/config-v1.1.xml": text, "autodiscover/autodiscover.xml": text,
                     "autodiscover/autodiscover.json": text}}  # fmt: skip


def test_publish_swaps_and_prunes(tmp_path: Path) -> None:
    for index in range(1, 5):
        published = publish.publish(tree("example.org", f"v{index}".encode()), str(tmp_path))
        publish.prune(str(tmp_path))
        assert published.generation == f"gen-{index:06d}"
        assert os.readlink(tmp_path / "current") == published.generation
        assert (tmp_path / "current" / "example.org" / "mail" / "config-v1.1.xml").read_bytes() == f"v{index}".encode()
    assert publish.generation_names(str(tmp_path)) == ["gen-000003", "gen-000004"]  # current and the one before


def test_leftovers_of_a_killed_render_are_removed(tmp_path: Path) -> None:
    publish.publish(tree("example.org", b"good"), str(tmp_path))
    (tmp_path / ".tmp-gen-000002" / "example.org").mkdir(parents=True)
    (tmp_path / ".tmp-current").symlink_to("gen-000002")
    publish.publish(tree("example.org", b"next"), str(tmp_path))
    assert sorted(name for name in os.listdir(tmp_path) if name.startswith(".tmp")) == []
    assert os.readlink(tmp_path / "current") == "gen-000002"


def test_render_killed_midway_leaves_last_good_generation(tmp_path: Path) -> None:
    config = tmp_path / "autoconfig.toml"
    output = tmp_path / "static_xml"
    config.write_text(EXAMPLE, encoding="utf-8")
    assert run_render(config, output).returncode == 0
    good = load_generation(str(output))
    assert good is not None and sorted(good.domains) == ["example.com", "example.net", "example.org"]

    config.write_text(big_config(20000), encoding="utf-8")
    command = [sys.executable, "service.py", "render", "--config", str(config), "--output", str(output)]
    render = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    temporary = output / ".tmp-gen-000002"
    while time.monotonic() < deadline and render.poll() is None:
        if temporary.is_dir() and len(os.listdir(temporary)) > 50:
            break
        time.sleep(0.005)
    assert render.poll() is None, "the render finished before it could be killed; make the config bigger"
    render.send_signal(signal.SIGKILL)
    render.wait()
    assert temporary.is_dir()  # the kill really hit mid-render

    after = load_generation(str(output))
    assert after is not None and after.name == good.name
    assert after.domains.keys() == good.domains.keys()
    for domain, documents in good.domains.items():
        for path, document in documents.items():
            assert after.domains[domain][path].content == document.content

    config.write_text(EXAMPLE.replace("Your Own Mail Provider", "Next"), encoding="utf-8")
    assert run_render(config, output).returncode == 0
    assert not temporary.exists()
    assert b"Next" in (output / "current" / "example.org" / "mail" / "config-v1.1.xml").read_bytes()


def test_service_killed_during_reload_restarts_on_last_good(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    good = service.get("/mail/config-v1.1.xml", host="autoconfig.example.org").content
    service.config_path.write_text(big_config(20000).replace("port = 993", "port = 994"), encoding="utf-8")
    temporary = service.output / ".tmp-gen-000002"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (temporary.is_dir() and len(os.listdir(temporary)) > 50):
        time.sleep(0.005)
    assert temporary.is_dir()
    service.stop(signal.SIGKILL)
    assert os.readlink(service.output / "current") == "gen-000001"

    # Restart with a config that cannot load: the last good generation is served as it was.
    service.config_path.write_text("[[provider]\n", encoding="utf-8")
    service.start()
    assert service.get("/mail/config-v1.1.xml", host="autoconfig.example.org").content == good
    assert service.health()["generation"] == "gen-000001"
