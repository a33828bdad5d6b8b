"""The tree on disk: per-domain versions, what a reload rewrites, what a kill leaves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT

from mailautoconf.reload.pipeline import Pipeline
from mailautoconf.render import DOCUMENTS
from mailautoconf.render import PACC
from mailautoconf.render import THUNDERBIRD
from mailautoconf.tree import publish
from mailautoconf.tree.store import Store
from mailautoconf.tree.store import load_generation

EXAMPLE = EXAMPLE_CONFIG.read_text(encoding="utf-8")
SHIPPED = ["example.com", "example.net", "example.org"]


# Domains in the configs that a test kills a render or a service in the middle of: enough that 200
# of them are linked long before the last (a kill after 200 always lands mid-way), few enough that
# the render after the kill stays short.
BIG = 5000


def big_config(domains: int, text: str = EXAMPLE) -> str:
    names = ", ".join(f'"d{index:05d}.example"' for index in range(domains))
    return text.replace(
        'domains = ["example.net", "example.org", "example.com"]', f'domains = [{names}, "example.org"]'
    )


def run_render(config: Path, output: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "service.py", "render", "--config", str(config), "--output", str(output)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def targets(output: Path) -> dict[str, str]:
    """Each domain folder's version, as the symlinks in domains/ say."""
    return {entry.name: os.readlink(entry) for entry in (output / "domains").iterdir()}


def assert_whole(output: Path) -> None:
    """Every linked folder holds every document of one version, complete."""
    for entry in (output / "current").iterdir():
        for relative in DOCUMENTS:
            content = (entry / relative).read_bytes()
            if relative == PACC:  # empty unless the provider opts in (pacc = true)
                assert content == b"" or content.endswith(b"}\n"), (entry, relative)
                continue
            endings = (b"</clientConfig>\n", b"</Autodiscover>\n", b"}", b"</plist>\n", b"</html>\n")
            assert content.endswith(endings), (entry, relative)


def pipeline_for(tmp_path: Path, text: str, store: Store | None = None) -> Pipeline:
    config = tmp_path / "autoconfig.toml"
    config.write_text(text, encoding="utf-8")
    return Pipeline(str(config), str(tmp_path / "out"), store)


def test_layout_is_a_folder_per_domain_behind_current(tmp_path: Path) -> None:
    pipeline = pipeline_for(tmp_path, EXAMPLE)
    outcome = pipeline.run()
    output = tmp_path / "out"
    assert outcome.ok and outcome.published is not None
    assert os.readlink(output / "current") == "domains"
    assert sorted(targets(output)) == SHIPPED
    for name, target in targets(output).items():
        assert target.startswith(f"../versions/{name}@")
    assert json.loads((output / "manifest.json").read_text())["domains"] == 3
    assert_whole(output)


def test_edit_switches_only_the_changed_domain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = pipeline_for(tmp_path, EXAMPLE)
    pipeline.run()
    output = tmp_path / "out"
    before = targets(output)
    inode = (output / "current" / "example.net" / THUNDERBIRD).stat().st_ino
    override = '\n[provider.overrides."example.org"]\ndisplay_name = "Org Mail"\n'
    Path(pipeline.config_path).write_text(EXAMPLE + override, encoding="utf-8")
    outcome = pipeline.run(force=False)
    assert outcome.published is not None and outcome.published.written == 1
    after = targets(output)
    assert after["example.org"] != before["example.org"]
    assert {name: after[name] for name in ("example.com", "example.net")} == {
        name: before[name] for name in ("example.com", "example.net")
    }
    assert (output / "current" / "example.net" / THUNDERBIRD).stat().st_ino == inode  # not rewritten
    assert b"Org Mail" in (output / "current" / "example.org" / THUNDERBIRD).read_bytes()
    # The version it replaced stays for readers in flight: through the next
    # publish, and at least publish.HOLD_SECONDS.
    old_version = output / "domains" / before["example.org"]
    assert old_version.is_dir()
    Path(pipeline.config_path).write_text(EXAMPLE + override.replace("Org Mail", "Org Mail 2"), encoding="utf-8")
    pipeline.run(force=False)
    assert old_version.is_dir()  # the next publish came within the hold
    monkeypatch.setattr(publish, "HOLD_SECONDS", 0.0)
    Path(pipeline.config_path).write_text(EXAMPLE + override.replace("Org Mail", "Org Mail 3"), encoding="utf-8")
    pipeline.run(force=False)
    assert not old_version.exists()
    assert len(os.listdir(output / "versions")) == 4  # three current, one retired


def test_restart_with_unchanged_config_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "autoconfig.toml"
    config.write_text(EXAMPLE, encoding="utf-8")
    output = tmp_path / "out"
    assert run_render(config, output).returncode == 0
    manifest = (output / "manifest.json").read_text()
    inodes = {name: (output / "current" / name / THUNDERBIRD).stat().st_ino for name in SHIPPED}
    before = targets(output)
    result = run_render(config, output)
    assert result.returncode == 0, result.stderr
    assert targets(output) == before
    assert {name: (output / "current" / name / THUNDERBIRD).stat().st_ino for name in SHIPPED} == inodes
    assert (output / "manifest.json").read_text() == manifest


def test_leftovers_of_a_killed_publish_are_removed(tmp_path: Path) -> None:
    pipeline_for(tmp_path, EXAMPLE).run()
    output = tmp_path / "out"
    (output / ".staging" / "example.org@0123456789abcdef" / "mail").mkdir(parents=True)
    (output / "domains" / ".tmp-example.org").symlink_to("../versions/nowhere")
    (output / "versions" / "example.org@feedfeedfeedfeed" / "mail").mkdir(parents=True)
    pipeline_for(tmp_path, EXAMPLE).run()  # a new process: compares with the disk, sweeps
    assert not (output / ".staging").exists()
    assert not (output / "domains" / ".tmp-example.org").is_symlink()
    assert not (output / "versions" / "example.org@feedfeedfeedfeed").exists()
    assert sorted(os.listdir(output / "versions")) == sorted(os.path.basename(t) for t in targets(output).values())


def test_old_layout_is_taken_over(tmp_path: Path) -> None:
    """A tree of the layout before (current -> gen-NNNNNN) is replaced in one switch of current."""
    output = tmp_path / "out"
    old = output / "gen-000007" / "example.org" / "mail"
    old.mkdir(parents=True)
    (old / "config-v1.1.xml").write_bytes(b"old")
    (output / "current").symlink_to("gen-000007")
    pipeline_for(tmp_path, EXAMPLE).run()
    assert os.readlink(output / "current") == "domains"
    assert not (output / "gen-000007").exists()
    assert_whole(output)


def test_readers_see_whole_documents_during_publishes(tmp_path: Path) -> None:
    """A reader opening a domain's file while it is switched back and forth gets one whole version."""
    pipeline = pipeline_for(tmp_path, EXAMPLE)
    pipeline.run()
    path = tmp_path / "out" / "current" / "example.org" / THUNDERBIRD
    versions = {path.read_bytes()}
    seen: list[bytes] = []
    failures: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                seen.append(path.read_bytes())
            except OSError as exc:
                failures.append(repr(exc))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for index in range(40):
            text = EXAMPLE.replace("Your Own Mail Provider", f"Provider {index % 2}")
            Path(pipeline.config_path).write_text(text, encoding="utf-8")
            pipeline.run(force=False)
            versions.add(path.read_bytes())
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert len(versions) == 3 and len(seen) > 40
    assert set(seen) <= versions


@pytest.mark.slow  # scale: 5,000 domains rendered, killed midway, rendered again
def test_render_killed_midway_leaves_a_tree_that_serves(tmp_path: Path) -> None:
    config = tmp_path / "autoconfig.toml"
    output = tmp_path / "static_xml"
    config.write_text(EXAMPLE, encoding="utf-8")
    assert run_render(config, output).returncode == 0
    good = (output / "current" / "example.org" / THUNDERBIRD).read_bytes()

    config.write_text(big_config(BIG, EXAMPLE.replace("port = 993", "port = 994")), encoding="utf-8")
    command = [sys.executable, "service.py", "render", "--config", str(config), "--output", str(output)]
    render = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Waits for progress, not for a time: on a loaded machine 200 domains can take a minute to appear.
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and render.poll() is None:
        if len(os.listdir(output / "domains")) > 200:
            break
        time.sleep(0.002)
    assert render.poll() is None, "the render finished before it could be killed; make the config bigger"
    render.send_signal(signal.SIGKILL)
    render.wait()
    linked = len(os.listdir(output / "domains"))
    assert 3 < linked < BIG + 1  # the kill really hit mid-way

    assert_whole(output)
    now = (output / "current" / "example.org" / THUNDERBIRD).read_bytes()
    assert now in (good, good.replace(b"<port>993</port>", b"<port>994</port>"))
    after = load_generation(str(output))
    assert after is not None and len(after.domains) >= 3

    assert run_render(config, output).returncode == 0
    assert not (output / ".staging").exists()
    assert len(targets(output)) == BIG + 1
    assert_whole(output)


@pytest.mark.parametrize(
    ("broken", "error"),
    [("[[provider]\n", "line 1: TOML syntax error: expected ']]' at the end of an array declaration (column 11)")],
    ids=["syntax-error"],
)
def test_service_killed_during_reload_restarts_on_what_is_on_disk(make_service, broken: str, error: str) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    good = service.get("/mail/config-v1.1.xml", host="autoconfig.example.org").content
    service.config_path.write_text(big_config(BIG).replace("port = 993", "port = 994"), encoding="utf-8")
    deadline = time.monotonic() + 900  # progress, not a time: see above
    while time.monotonic() < deadline and len(os.listdir(service.output / "domains")) < 200:
        time.sleep(0.002)
    service.stop(signal.SIGKILL)
    assert len(os.listdir(service.output / "domains")) < BIG + 1

    # Restart with a config that cannot load: what is on disk is served, whole.
    service.config_path.write_text(broken, encoding="utf-8")
    service.start()
    served = service.get("/mail/config-v1.1.xml", host="autoconfig.example.org").content
    assert served in (good, good.replace(b"<port>993</port>", b"<port>994</port>"))
    assert served == (service.output / "current" / "example.org" / THUNDERBIRD).read_bytes()
    assert service.health()["config_error"] == [f"{service.config_path}, {error}"]
