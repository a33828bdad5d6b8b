"""Fixtures that run the real service (support/service.py) or its app in process (support/app.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.app import App
from support.app import render_app
from support.isolation import requires_isolation
from support.paths import ROOT
from support.service import Service

__all__ = ["ROOT"]  # test_bench.py imports ROOT from here


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``realclient`` every test that needs the loopback-only namespace.

    A test that starts a real client or server program must run there (it
    resolves names and connects by itself), so ``requires_isolation`` is on
    it already; deriving the marker from that keeps the two from parting,
    and a new real-client test is in ``-m realclient`` without a second line.
    """
    for item in items:
        if requires_isolation.mark in item.iter_markers("skipif"):
            item.add_marker(pytest.mark.realclient)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service on the shipped example config, shared by a module's read-only tests."""
    running = Service(tmp_path_factory.mktemp("service")).start()
    yield running
    running.stop()


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator:
    """Start services with their own config; all are stopped after the test."""
    started: list[Service] = []

    def make(config_text: str | None = None, *, start: bool = True, expect_ready: bool = True) -> Service:
        instance = Service(tmp_path / f"s{len(started)}", config_text)
        started.append(instance)
        return instance.start(expect_ready=expect_ready) if start else instance

    yield make
    for instance in started:
        instance.stop()


@pytest.fixture
def app(tmp_path: Path) -> App:
    """The app in process on a real render of a small config (support/app.py): no process, no socket."""
    return render_app(tmp_path / "app")
