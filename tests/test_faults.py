"""Faults of the disk under the real service: the output folder full or read-only during a publish.

The rendered tree lives on a small tmpfs mounted in the test's own mount
namespace (tests/run.sh runs everything under ``unshare --net --mount``; the
mounts here need root and are skipped without it). In both cases the error
is logged and reported by /healthz as a tree error, clients keep getting the
documents of the last good generation byte for byte, the tree on disk keeps
no part of the failed publish, and once the disk is usable again the service
publishes by itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.configs import HEAD
from support.configs import provider
from support.mounts import mount
from support.mounts import tmpfs

# The service retries a failed publish by itself, every check_interval at first.
FAST_HEAD = HEAD.replace("[service]\n", "[service]\ncheck_interval = 1\n", 1)
OLD = FAST_HEAD + provider("alpha.example", ["alpha.example", "beta.example"], "mail.alpha.example")
# The edit: a new host name, and many more domains than the nearly full disk holds.
MANY = [f"d{index:04d}.example" for index in range(100)]
NEW = FAST_HEAD + provider("alpha.example", ["alpha.example", "beta.example", *MANY], "mail2.alpha.example")
DOCUMENT = "/mail/config-v1.1.xml?emailaddress=fred%40{domain}"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs of this test's own, unmounted afterwards."""
    with tmpfs(tmp_path / "disk", "8m") as folder:
        yield folder


def _start_on(make_service, disk: Path):  # type: ignore[no-untyped-def]
    service = make_service(OLD, start=False)
    service.output = disk / "static_xml"
    service.start()
    return service


def _documents(service, domains: list[str]) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    answers = {domain: service.get(DOCUMENT.format(domain=domain)) for domain in domains}
    assert {domain: answer.status_code for domain, answer in answers.items()} == dict.fromkeys(domains, 200)
    return {domain: answer.content for domain, answer in answers.items()}


def _edit(service, text: str) -> None:  # type: ignore[no-untyped-def]
    temporary = service.config_path.with_name("autoconfig.toml.new")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, service.config_path)


def _fails_keeps_serving(service, old: dict[str, bytes], reason: str) -> dict:  # type: ignore[no-untyped-def]
    """The edit was not applied: /healthz says why, the old documents are served unchanged.

    Returns /healthz once it reports the tree error.
    """
    _edit(service, NEW)
    health: dict = service.wait_for(
        lambda: (h := service.health())["tree_error"] and h, what=f"/healthz to report {reason}", timeout=20
    )
    assert health["config_error"] is None, health  # the config is fine: the disk is not
    assert any(reason in error and "cannot publish" in error for error in health["tree_error"]), health
    assert all(error.startswith(str(service.output)) for error in health["tree_error"]), health
    assert service.get("/healthz").status_code == 200  # still serving
    # ... and in the metrics: a failed render, the tree flagged and named, the old generation served.
    scraped = service.metrics()
    assert scraped[("mailautoconf_reloads_total", (("outcome", "publish_error"),))] >= 1
    assert scraped[("mailautoconf_tree_error", ())] == 1
    assert scraped[("mailautoconf_trouble_file", (("file", str(service.output)), ("kind", "tree")))] == 1
    assert scraped[("mailautoconf_generation_info", (("generation", health["generation"]),))] == 1
    assert _documents(service, list(old)) == old
    # Not half of the new config: a domain only the failed edit hosts is not hosted (README: 404).
    assert service.get(DOCUMENT.format(domain=MANY[0])).status_code == 404
    # The tree on disk is what is served: no folder of the new config was linked (nginx serves it).
    assert sorted(os.listdir(service.output / "domains")) == sorted(old)

    # The log is written by its own thread: /healthz can say it first.
    def logged() -> str | None:
        text: str = service.log()
        return text if reason in text else None

    log = service.wait_for(logged, what=f"the log to say {reason}")
    assert "Traceback" not in log, log
    return health


def _recovers(service, old_generation: str) -> dict:  # type: ignore[no-untyped-def]
    """Once the disk is usable the service publishes the new config by itself: nobody touches it.

    Returns /healthz once a new generation is published without a tree error.
    """
    health: dict = service.wait_for(
        lambda: (h := service.health())["tree_error"] is None and h["generation"] != old_generation and h,
        what="the new config to be published",
        timeout=30,
    )
    new = _documents(service, ["alpha.example", MANY[0], MANY[-1]])
    assert all(b"mail2.alpha.example" in body for body in new.values()), new
    assert "Traceback" not in service.log()
    return health


def test_full_disk_keeps_the_old_documents_and_recovers(make_service, disk: Path) -> None:  # type: ignore[no-untyped-def]
    service = _start_on(make_service, disk)
    old = _documents(service, ["alpha.example", "beta.example"])
    assert all(b"mail.alpha.example" in body for body in old.values())
    generation = service.health()["generation"]
    # Nearly full: 32 KiB left, far less than 100 domain folders need.
    statvfs = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * (statvfs.f_bavail * statvfs.f_frsize - 32 * 1024))

    failed = _fails_keeps_serving(service, old, "No space left on device")
    assert (failed["status"], failed["generation"]) == ("tree error", generation), failed

    filler.unlink()
    assert _recovers(service, generation)["status"] == "ok"


def test_read_only_output_keeps_the_old_documents_and_recovers(make_service, disk: Path) -> None:  # type: ignore[no-untyped-def]
    # Root ignores permission bits (chmod 0555 would not stop it): a read-only mount does.
    service = _start_on(make_service, disk)
    old = _documents(service, ["alpha.example", "beta.example"])
    generation = service.health()["generation"]
    mount("-o", "remount,ro", str(disk))

    failed = _fails_keeps_serving(service, old, "Read-only file system")
    assert (failed["status"], failed["generation"]) == ("tree error", generation), failed

    mount("-o", "remount,rw", str(disk))
    assert _recovers(service, generation)["status"] == "ok"
