"""The self-check in process, at a size where it looks at the tree in slices (a hoster's 100,000, scaled down).

tests/test_fault_matrix.py runs it against the real service on a small tree,
which it looks at whole each time; here the slice is made small so that a
pass over every folder takes several ticks, as it does at 100,000 domains.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from support.paths import EXAMPLE_CONFIG

from mailautoconf.reload import selfcheck
from mailautoconf.reload.pipeline import Pipeline
from mailautoconf.reload.selfcheck import SelfCheck
from mailautoconf.tree import publish
from mailautoconf.tree.store import Store

DOMAINS = [f"d{index:03d}.example" for index in range(40)]


@pytest.fixture
def checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SelfCheck:
    names = ", ".join(f'"{name}"' for name in DOMAINS)
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace(
        'domains = ["example.net", "example.org", "example.com"]', f"domains = [{names}]"
    )
    config = tmp_path / "autoconfig.toml"
    config.write_text(text, encoding="utf-8")
    pipeline = Pipeline(str(config), str(tmp_path / "out"), Store())
    assert pipeline.run().ok
    monkeypatch.setattr(selfcheck, "MIN_SLICE", 4)  # ten ticks a pass
    return SelfCheck(pipeline)


_CLOCK = itertools.count(1)


def _ticks(check: SelfCheck, count: int) -> None:
    for _ in range(count):
        check.tick(now=next(_CLOCK) * 1000.0)  # far apart: no backoff holds a tick back


def test_every_folder_is_looked_at_within_a_pass(checked: SelfCheck) -> None:
    output = Path(checked.pipeline.output_dir)
    last = DOMAINS[-1]
    (output / "domains" / last).unlink()
    _ticks(checked, 9)  # the slices before it: not seen yet
    assert not (output / "domains" / last).exists()
    _ticks(checked, 1)
    assert (output / "current" / last / "mail" / "config-v1.1.xml").is_file()
    store = checked.pipeline.store
    assert store is not None and store.tree.repairs == 1 and store.tree.errors is None
    assert store.tree.repaired == (f"{output}/domains/{last}: it is missing",)


def test_a_trouble_that_could_not_be_repaired_is_cleared_when_it_is_over(checked: SelfCheck) -> None:
    output = Path(checked.pipeline.output_dir)
    store = checked.pipeline.store
    assert store is not None
    aside = output.with_name("aside")
    os.rename(output, aside)
    output.symlink_to(output.parent / "nowhere")
    _ticks(checked, 1)
    assert store.tree.errors is not None and "cannot repair the tree" in store.tree.errors[-1]
    assert str(output) in store.tree.errors[0]
    output.unlink()
    os.rename(aside, output)
    _ticks(checked, 1)  # one tick, not a whole pass
    assert store.tree.errors is None
    assert publish.linked(str(output)).keys() == set(DOMAINS)
