"""Reload under load (issue 11, section 1): every answer is 200 and one whole valid generation while the config churns.

The storm itself (variants, rewrites, validating clients, wrk) is bench/storm.py,
run here for a short time so the test and the bench check the same thing.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from support.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))  # storm.py imports harness.py as the bench scripts do
import storm

pytestmark = pytest.mark.slow

SECONDS = 20
CLIENTS = 16
CONNECTIONS = 64


def test_variants_are_told_apart_and_mixtures_match_none() -> None:
    valid = {1, 2}
    assert storm.variant_of("beta.example", "GET", storm.expected("beta.example", 2), valid) == 2
    mixed = (*storm.expected("beta.example", 1)[:3], *storm.expected("beta.example", 2)[3:])
    assert storm.variant_of("beta.example", "GET", mixed, valid) is None
    assert storm.variant_of("beta.example", "GET", storm.expected("beta.example", 3), valid) is None


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_reload_storm_under_load(make_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    service = make_service(start=False)
    rewriter = storm.Storm(service.config_path)
    first = rewriter.setup()
    service.start()
    assert storm.serves_variant(service.port, first)

    result = storm.run_storm(service.port, rewriter, service.log_path, tmp_path, SECONDS, CLIENTS, CONNECTIONS)
    storm.print_result(result)

    assert service.process.poll() is None, service.log()
    tally = result.tally
    assert tally.answers > 0 and tally.bad == 0, tally.problems
    assert set(tally.by_status) == {200}
    assert tally.connection_errors == 0
    for kind, run in result.wrk.items():
        assert run.requests > 0 and run.errors == 0, (kind, run)
    assert result.settled, f"variant {result.last_valid} not served after the storm\n{service.log()[-3000:]}"
    assert result.log.published >= 2 and result.log.rejected >= 1
    assert "Traceback" not in service.log()
