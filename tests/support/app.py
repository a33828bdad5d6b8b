"""The web layer in process: ``create_app`` on a store filled by a real render, driven by Flask's test client.

No process and no socket: a test of a web-layer branch costs milliseconds.
The store is filled the way ``serve`` fills it (:class:`Pipeline` renders
the config into a folder and swaps the store to the result), so the bytes
answered are the bytes ``publish`` wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mailautoconf.reload.pipeline import Pipeline
from mailautoconf.serve.web import create_app
from mailautoconf.tree.store import Store
from support.configs import SMALL

__all__ = ["App", "render_app"]


@dataclass
class App:
    """A rendered config, the store serving it and a test client of the app."""

    config_path: Path
    output: Path  # the output folder: current/<domain>/... as publish wrote it
    store: Store
    client: FlaskClient

    def get(self, path: str, host: str = "autoconfig.example.org", **headers: str) -> TestResponse:
        return self.client.get(path, headers={"Host": host, **headers})


def render_app(workdir: Path, config_text: str = SMALL) -> App:
    """Render ``config_text`` into ``workdir`` and serve it from a fresh app."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "autoconfig.toml"
    config_path.write_text(config_text, encoding="utf-8")
    output = workdir / "static_xml"
    store = Store()
    outcome = Pipeline(str(config_path), str(output), store).run()
    assert outcome.ok, outcome.errors
    assert store.generation is not None
    return App(config_path, output, store, create_app(store).test_client())
