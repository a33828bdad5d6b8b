"""What publishing must never do: leave a tree that differs from what is served, or share it with a second writer.

Unit tests of publish.py's guarantees (a failed publish puts back what it
did, one process per output folder, generation numbers that never restart,
no version removed under a link), then the same against the real service
and the real ``render`` command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT

from mailautoconf import dnsnames
from mailautoconf.tree import publish
from mailautoconf.tree.publish import Change
from mailautoconf.tree.publish import Linked

DOCUMENT = "mail/config-v1.1.xml"


def _change(text: str, digest: str) -> Change:
    return Change(digest, lambda: {DOCUMENT: text.encode()})


def _tree(output: Path) -> dict[str, bytes]:
    """What a reader of current/ sees: each folder's document."""
    current = output / "current"
    return {entry.name: (entry / DOCUMENT).read_bytes() for entry in sorted(current.iterdir())}


def _first(output: Path) -> dict[str, Linked]:
    changes = {name: _change(f"{name} one", f"{index:016x}") for index, name in enumerate(("a.test", "b.test"))}
    _, linked = publish.publish(str(output), changes, 2, {})
    return linked


class _Boom(OSError):
    pass


def _failing(after: int) -> Mapping[str, Change]:
    """Changes whose documents are written until the ``after``-th, which fails as a full disk does."""
    changes: dict[str, Change] = {}
    for index, name in enumerate(("a.test", "b.test", "c.test")):
        if index == after:

            def explode() -> dict[str, bytes]:
                raise _Boom(28, "No space left on device")

            changes[name] = Change(f"{index + 10:016x}", explode)
        else:
            changes[name] = _change(f"{name} two", f"{index + 10:016x}")
    return changes


def test_a_publish_failing_while_writing_leaves_the_tree_as_it_was(tmp_path: Path) -> None:
    linked = _first(tmp_path)
    before, links, versions = (
        _tree(tmp_path),
        sorted(os.listdir(tmp_path / "domains")),
        os.listdir(tmp_path / "versions"),
    )
    with pytest.raises(_Boom):
        publish.publish(str(tmp_path), _failing(2), 3, linked)
    assert _tree(tmp_path) == before
    assert sorted(os.listdir(tmp_path / "domains")) == links  # c.test was not linked, a.test not switched
    assert sorted(os.listdir(tmp_path / "versions")) == sorted(versions)  # what it wrote is gone
    assert not (tmp_path / ".staging").exists()


def test_a_publish_failing_while_linking_puts_the_links_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    linked = _first(tmp_path)
    before, targets = _tree(tmp_path), {e.name: os.readlink(e) for e in (tmp_path / "domains").iterdir()}
    real = publish._link
    calls = []

    def link(*arguments: str) -> None:
        calls.append(arguments)
        if len(calls) == 3:  # a.test and b.test switched, then c.test fails
            raise OSError(28, "No space left on device")
        real(*arguments)

    monkeypatch.setattr(publish, "_link", link)
    changes = {
        name: _change(f"{name} two", f"{index + 10:016x}") for index, name in enumerate(("a.test", "b.test", "c.test"))
    }
    with pytest.raises(OSError, match="No space"):
        publish.publish(str(tmp_path), changes, 3, linked)
    assert _tree(tmp_path) == before
    assert {e.name: os.readlink(e) for e in (tmp_path / "domains").iterdir()} == targets
    assert publish.read_manifest(str(tmp_path))["generation"] == "gen-000001"


def test_generation_numbers_go_on_after_the_manifest_is_lost(tmp_path: Path) -> None:
    _first(tmp_path)
    (tmp_path / publish.MANIFEST).unlink()
    published, _ = publish.publish(str(tmp_path), {"c.test": _change("c", "0" * 16)}, 3, {}, after=41)
    assert published.generation == "gen-000042"


def test_a_dangling_link_is_not_taken_for_a_written_folder(tmp_path: Path) -> None:
    linked = _first(tmp_path)
    version = publish.version_name("a.test", linked["a.test"])
    os.rename(tmp_path / "versions" / version, tmp_path / "gone")
    assert set(publish.linked(str(tmp_path))) == {"b.test"}


def test_sweep_never_removes_a_version_a_link_points_at(tmp_path: Path) -> None:
    _first(tmp_path)
    # A caller that believes nothing is linked (another process's view, say) sweeps.
    publish.sweep(str(tmp_path), {})
    assert _tree(tmp_path) == {"a.test": b"a.test one", "b.test": b"b.test one"}


def test_a_second_process_is_refused_naming_the_first(tmp_path: Path) -> None:
    held = publish.claim(str(tmp_path), "serve")
    try:
        script = "from mailautoconf.tree import publish; publish.claim(__import__('sys').argv[1], 'render')"
        result = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 1  # Busy, uncaught: Python's exit status for an exception
        assert f"mailautoconf serve (pid {os.getpid()}, since " in result.stderr
        assert "one process per output folder" in result.stderr
        # The folder deleted and made again: the hold is lost, and taken again.
        for entry in tmp_path.iterdir():
            entry.unlink()
        assert not held.held()
        held.renew()
        assert held.held()
    finally:
        held.release()


def test_the_version_names_fit_what_check_allows() -> None:
    """dnsnames.VERSION_SUFFIX, which check's domain length limit is made of, is what publish appends."""
    longest = "x" * dnsnames.MAX_DOMAIN
    name = publish.version_name(longest, Linked("f" * 16, 4102444800))  # 2100-01-01
    assert len(name) == dnsnames.MAX_FILE_NAME


def test_render_beside_a_running_service_is_refused_and_leaves_its_tree_alone(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    generation = service.health()["generation"]
    links = {entry.name: os.readlink(entry) for entry in (service.output / "domains").iterdir()}
    other = service.config_path.with_name("other.toml")
    other.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8").replace("Your Own", "Another"), encoding="utf-8")
    command = [sys.executable, "service.py", "render", "--config", str(other), "--output", str(service.output)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "render: " in result.stderr and "mailautoconf serve (pid " in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert {entry.name: os.readlink(entry) for entry in (service.output / "domains").iterdir()} == links
    assert service.health()["generation"] == generation
    # A second serve on the same folder stops at once, saying why.
    second = make_service(start=False)
    second.output = service.output
    with pytest.raises(AssertionError, match="publishes into this folder"):
        second.start()
