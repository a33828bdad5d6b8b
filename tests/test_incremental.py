"""Reloads that cost what they change, proven on the running service and on disk.

Each edit is checked three ways: what the service answers, what the files in
the tree hold (byte for byte the same), and which domain folders were
switched (only the changed ones).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from support.configs import HEAD
from support.configs import provider

from mailautoconf.reload.pipeline import Pipeline
from mailautoconf.render import DOCUMENTS
from mailautoconf.render import EVOLUTION
from mailautoconf.render import THUNDERBIRD
from mailautoconf.tree.store import OwnTemplates
from mailautoconf.tree.store import Store
from mailautoconf.tree.store import TemplateEntry

PATH = "/mail/config-v1.1.xml"


ALPHA = ["alpha.example", "a1.example", "a2.example", "a3.example"]
BETA = ["beta.example", "b1.example"]


def config_text(alpha: list[str] = ALPHA, beta: list[str] = BETA, alpha_extra: str = "") -> str:
    return (
        HEAD
        + provider("alpha.example", alpha, "mail.alpha.example", alpha_extra)
        + provider("beta.example", beta, "mail.{domain}")
    )


def targets(output: Path) -> dict[str, str]:
    return {entry.name: os.readlink(entry) for entry in (output / "domains").iterdir()}


def digests(found: dict[str, str]) -> dict[str, str]:
    """Version names without their mtime: what the documents are made from."""
    return {name: target.rsplit(".", 1)[0] for name, target in found.items()}


def served_equals_disk(service, domains: list[str]) -> None:  # type: ignore[no-untyped-def]
    for domain in domains:
        answer = service.get(PATH, host=f"autoconfig.{domain}")
        assert answer.status_code == 200, domain
        on_disk = service.output / "current" / domain / THUNDERBIRD
        assert answer.content == on_disk.read_bytes(), domain
        assert answer.headers["Last-Modified"] == _http_date(on_disk.stat().st_mtime)
        evolution = service.get(PATH, host=f"autoconfig.{domain}", headers={"User-Agent": "Evolution/3.46.4"})
        assert evolution.content == (service.output / "current" / domain / EVOLUTION).read_bytes()


def _http_date(mtime: float) -> str:
    from email.utils import formatdate

    return formatdate(int(mtime), usegmt=True)


def edit(service, text: str, check) -> None:  # type: ignore[no-untyped-def]
    temporary = service.config_path.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, service.config_path)
    service.wait_for(check, what="the edit to be served")


def test_domain_moved_removed_override_added_and_removed(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(config_text())
    served_equals_disk(service, ALPHA + BETA)
    before = targets(service.output)

    # a2 moves from alpha (shared host) to beta (per-domain host names).
    edit(
        service,
        config_text(alpha=[d for d in ALPHA if d != "a2.example"], beta=[*BETA, "a2.example"]),
        lambda: b"mail.a2.example" in service.get(PATH, host="autoconfig.a2.example").content,
    )
    after = targets(service.output)
    assert {name for name in after if after[name] != before.get(name)} == {"a2.example"}
    served_equals_disk(service, ALPHA + BETA)

    # a3 leaves: 404, and its folder is gone; nobody else is touched.
    edit(
        service,
        config_text(alpha=["alpha.example", "a1.example"], beta=[*BETA, "a2.example"]),
        lambda: service.get(PATH, host="autoconfig.a3.example").status_code == 404,
    )
    assert not (service.output / "current" / "a3.example").exists()
    assert {name: targets(service.output)[name] for name in after if name != "a3.example"} == {
        name: after[name] for name in after if name != "a3.example"
    }

    # An override for a1, then removed again: a1 alone changes, and comes back to what it was.
    a1 = service.get(PATH, host="autoconfig.a1.example").content
    override = '\n[provider.overrides."a1.example"]\nhostname = "imap.a1.example"\n'
    with_override = config_text(alpha=["alpha.example", "a1.example"], beta=[*BETA, "a2.example"]) + ""
    with_override = with_override.replace(
        '[[provider]]\nid = "beta.example"', override.strip() + '\n\n[[provider]]\nid = "beta.example"', 1
    )
    assert override.strip() in with_override
    plain_targets = targets(service.output)
    edit(service, with_override, lambda: b"imap.a1.example" in service.get(PATH, host="autoconfig.a1.example").content)
    changed = {name for name, target in targets(service.output).items() if target != plain_targets[name]}
    assert changed == {"a1.example"}
    served_equals_disk(service, ["alpha.example", "a1.example", *BETA, "a2.example"])
    edit(
        service,
        config_text(alpha=["alpha.example", "a1.example"], beta=[*BETA, "a2.example"]),
        lambda: service.get(PATH, host="autoconfig.a1.example").content == a1,
    )
    # The same digest as before the override; a new mtime (the file was written again).
    assert digests(targets(service.output)) == digests(plain_targets)


def test_added_domain_is_served_and_others_untouched(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(config_text())
    before = targets(service.output)
    edit(
        service,
        config_text(alpha=[*ALPHA, "a4.example"]),
        lambda: service.get(PATH, host="autoconfig.a4.example").status_code == 200,
    )
    after = targets(service.output)
    assert set(after) - set(before) == {"a4.example"}
    assert {name: after[name] for name in before} == before
    served_equals_disk(service, [*ALPHA, "a4.example"])


def test_plain_domains_share_their_providers_templates(tmp_path: Path) -> None:
    """The store holds one set of documents per provider, not one per domain (memory at 100,000 domains)."""
    domains = [f"d{index:04d}.example" for index in range(500)]
    override = '[provider.overrides."d0007.example"]\ndisplay_name = "Seven"\n'
    config = tmp_path / "autoconfig.toml"
    config.write_text(config_text(alpha=domains, alpha_extra=override), encoding="utf-8")
    store = Store()
    pipeline = Pipeline(str(config), str(tmp_path / "out"), store)
    assert pipeline.run().ok
    generation = store.generation
    assert generation is not None
    entries = [generation.domains[name] for name in domains if name != "d0007.example"]
    assert all(isinstance(entry, TemplateEntry) for entry in entries)
    assert len({id(entry.templates) for entry in entries if isinstance(entry, TemplateEntry)}) == 1
    # An override: its own documents, rendered from the model when asked for (not read back from disk).
    override = generation.domains["d0007.example"]
    assert isinstance(override, TemplateEntry) and isinstance(override.templates, OwnTemplates)
    for name in [*domains[:20], "d0007.example", *BETA]:
        entry = generation.domains[name]
        for relative in DOCUMENTS:
            assert entry.content(relative) == (tmp_path / "out" / "current" / name / relative).read_bytes()


def test_edit_is_served_while_other_files_in_the_folder_keep_changing(make_service) -> None:  # type: ignore[no-untyped-def]
    """A log written beside the config must not postpone a reload (it did, for as long as it was written)."""
    service = make_service(config_text())
    stop = threading.Event()
    noise = service.config_dir / "service.log"

    def write_noise() -> None:
        deadline = time.monotonic() + 12
        while not stop.is_set() and time.monotonic() < deadline:
            with open(noise, "a", encoding="utf-8") as handle:
                handle.write("a line\n")
            time.sleep(0.02)

    writer = threading.Thread(target=write_noise)
    writer.start()
    writing_when_served: list[bool] = []

    def served() -> bool:
        if b"Renamed mail" not in service.get(PATH, host="autoconfig.a1.example").content:
            return False
        writing_when_served.append(writer.is_alive())
        return True

    try:
        time.sleep(0.3)
        edit(service, config_text().replace("alpha.example mail", "Renamed mail"), served)
    finally:
        stop.set()
        writer.join()
    assert writing_when_served == [True]  # served while the log was still being written, not after
