"""End-to-end: the watcher picks up edits, survives mistakes and recovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT
from support.service import Service

EXAMPLE = EXAMPLE_CONFIG.read_text(encoding="utf-8")
PATH = "/mail/config-v1.1.xml"


def display_name(service: Service, host: str = "autoconfig.example.org") -> str:
    answer = service.get(PATH, host=host)
    return answer.text if answer.status_code == 200 else ""


def served_name(service: Service, host: str = "autoconfig.example.org") -> str | None:
    """The <displayName> of the document served for ``host``."""
    return ET.fromstring(service.get(PATH, host=host).content).findtext("emailProvider/displayName")


def with_name(name: str) -> str:
    return EXAMPLE.replace('"Your Own Mail Provider"', f'"{name}"')


def replace_by_rename(path: Path, text: str) -> None:
    """Write the way vim, sed -i and deploy tools do: a new file renamed over the old."""
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def test_valid_edit_in_place_is_served(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    first = service.health()["generation"]
    with open(service.config_path, "w", encoding="utf-8") as handle:  # in place: truncate and write
        handle.write(with_name("Edited In Place"))
    service.wait_for(lambda: "Edited In Place" in display_name(service), what="in-place edit to be served")
    assert service.health()["generation"] != first
    assert service.health()["config_error"] is None


def test_file_replaced_by_rename_is_served(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    first = service.health()["generation"]
    replace_by_rename(service.config_path, with_name("Renamed Into Place"))
    service.wait_for(lambda: service.health()["generation"] != first, what="a new generation")
    assert served_name(service) == "Renamed Into Place"


def test_new_domain_is_served_after_edit(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    assert service.get(PATH, host="autoconfig.example.info").status_code == 404
    replace_by_rename(service.config_path, EXAMPLE.replace('"example.com"]', '"example.com", "example.info"]'))
    service.wait_for(lambda: service.get(PATH, host="autoconfig.example.info").status_code == 200, what="new domain")
    assert service.health()["domains"] == 4


def test_invalid_edit_keeps_serving_and_fix_recovers(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    before = service.get(PATH, host="autoconfig.example.org").content
    generation = service.health()["generation"]
    broken = EXAMPLE.replace("port = 993", "port = 99999")
    replace_by_rename(service.config_path, broken)
    health = service.wait_for(lambda: (h := service.health())["config_error"] and h, what="error in /healthz")
    line = broken.splitlines().index("port = 99999") + 1
    assert health["config_error"] == [
        f'{service.config_path}, line {line}: provider "example.net", incoming server 1: '
        "port 99999 is not a port (1-65535)"
    ]
    assert health["status"] == "config error"
    assert health["generation"] == generation
    assert service.get(PATH, host="autoconfig.example.org").content == before
    service.wait_for(lambda: f"line {line}" in (text := service.log()) and "port 99999 is not a port" in text)

    replace_by_rename(service.config_path, with_name("Fixed Again"))
    service.wait_for(lambda: "Fixed Again" in display_name(service), what="fixed config to be served")
    assert service.health()["config_error"] is None


def test_syntax_error_keeps_serving(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    replace_by_rename(service.config_path, EXAMPLE + "\n[[provider\n")
    health = service.wait_for(lambda: (h := service.health())["config_error"] and h, what="syntax error reported")
    assert "TOML syntax error" in health["config_error"][0]
    assert display_name(service)


def test_deleted_and_restored(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    service.config_path.unlink()
    health = service.wait_for(lambda: (h := service.health())["config_error"] and h, what="missing file reported")
    assert "cannot read the file" in health["config_error"][0]
    assert "Your Own Mail Provider" in display_name(service)  # still serving
    service.config_path.write_text(with_name("Restored"), encoding="utf-8")
    service.wait_for(lambda: "Restored" in display_name(service), what="restored file to be served")
    assert service.health()["config_error"] is None


def test_burst_of_writes_ends_with_last_content(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    for index in range(10):
        replace_by_rename(service.config_path, with_name(f"Burst {index}"))
    service.wait_for(lambda: "Burst 9" in display_name(service), what="the last write of a burst")
    # Exactly the last one ("Burst 9", not a longer name holding it), from a config without error.
    assert served_name(service) == "Burst 9"
    assert service.health()["config_error"] is None


def test_sighup_reloads_and_repairs_the_tree(make_service) -> None:  # type: ignore[no-untyped-def]
    """SIGHUP reads everything again and compares every domain with the disk.

    With nothing changed nothing is written (same generation); a domain
    folder someone removed by hand is written again.
    """
    service = make_service()
    before = service.health()
    (service.output / "current" / "example.org").unlink()
    service.process.send_signal(signal.SIGHUP)
    service.wait_for(lambda: service.health()["generation"] != before["generation"], what="SIGHUP re-check")
    service.wait_for(lambda: "(1 folders written, 0 removed)" in service.log(), what="the log line")
    assert (service.output / "current" / "example.org" / "mail" / "config-v1.1.xml").read_bytes() == service.get(
        PATH, host="autoconfig.example.org"
    ).content


def test_start_with_broken_config_serves_last_good_generation(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    assert service.stop() == 0
    broken = EXAMPLE.replace("port = 993", 'port = "993"')
    service.config_path.write_text(broken, encoding="utf-8")
    service.start()
    line = broken.splitlines().index('port = "993"') + 1
    assert service.health()["config_error"] == [
        f'{service.config_path}, line {line}: provider "example.net", incoming server 1: '
        '"port" must be a whole number, not a string'
    ]
    assert "Your Own Mail Provider" in display_name(service)


def test_start_with_broken_config_and_nothing_rendered_is_503(make_service) -> None:  # type: ignore[no-untyped-def]
    broken = EXAMPLE.replace("port = 993", "port = 0")
    service = make_service(broken, expect_ready=False)
    answer = service.get("/healthz")
    assert answer.status_code == 503
    line = broken.splitlines().index("port = 0") + 1
    assert answer.json()["config_error"] == [
        f'{service.config_path}, line {line}: provider "example.net", incoming server 1: port 0 is not a port (1-65535)'
    ]
    assert service.get(PATH, host="autoconfig.example.org").status_code == 503
    service.config_path.write_text(EXAMPLE, encoding="utf-8")
    service.wait_for(lambda: service.get("/healthz").status_code == 200, what="recovery from a first broken config")


def test_sigterm_and_sigint_stop_cleanly(make_service) -> None:  # type: ignore[no-untyped-def]
    for sig in (signal.SIGTERM, signal.SIGINT):
        service = make_service()
        assert service.stop(sig) == 0
        assert "stopped" in service.log()


def test_every_request_sees_a_whole_generation_during_reloads(make_service) -> None:  # type: ignore[no-untyped-def]
    """Readers during many swaps only ever see complete documents of one generation."""
    service = make_service()
    names = [f"Generation {index}" for index in range(8)]
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys, time\n"
            "path, example = sys.argv[1], open(sys.argv[2]).read()\n"
            "for name in sys.argv[3:]:\n"
            "    open(path + '.new', 'w').write(example.replace('Your Own Mail Provider', name))\n"
            "    os.replace(path + '.new', path)\n"
            "    time.sleep(0.25)\n",
            str(service.config_path),
            str(EXAMPLE_CONFIG),
            *names,
        ],
        cwd=ROOT,
    )
    seen = set()
    deadline = time.monotonic() + 30
    while writer.poll() is None and time.monotonic() < deadline:
        answer = service.get(PATH, host="autoconfig.example.org")
        assert answer.status_code == 200
        assert answer.text.rstrip().endswith("</clientConfig>")
        seen.add(answer.text.split("<displayName>")[1].split("<")[0])
    writer.wait(timeout=10)
    service.wait_for(lambda: names[-1] in display_name(service), what="last generation")
    assert len(seen) >= 2  # the readers really ran across swaps
