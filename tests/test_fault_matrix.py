"""The fault matrix: every file and folder the running service depends on, broken in every way, in turn.

Targets: the main config, an included file, the include folder, the config
folder, the signing certificate, key and chain, the output tree and a
domain's folder in it. Faults: deleted, a folder in its place, a dangling
symlink, a symlink loop, unreadable, garbage, an empty file, a half-written
file, and a new copy renamed over it. For each pair, against one real
service:

* clients get every document of the last good config, byte for byte, and
  profiles signed by the last good certificate;
* /healthz and /metrics say the truth and name the file: a config error, a
  signing error, a tree the service repaired by itself, or one it could not;
* ``check`` says what it says of that file;
* once the file is right again the service recovers by itself: no edit, no
  signal.

Then time: a signing certificate that expires while the service runs.

The service runs as root without the capabilities that let root read any
file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, dropped by setpriv), so that
"unreadable" means unreadable to it, as it is to the service's own user
under systemd.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs7
from support.configs import provider
from support.paths import ROOT
from support.pki import CA
from support.pox import pox_request
from support.service import Service

from mailautoconf import cli

pytestmark = pytest.mark.slow

MAIN_DOMAINS = ["main.example", "over.example"]  # over.example has an override: its own documents
INCLUDED = {"alpha.toml": ["alpha.example", "beta.example"], "gamma.toml": ["gamma.example"]}
DOMAINS = MAIN_DOMAINS + [domain for domains in INCLUDED.values() for domain in domains]
PROFILE = "/email.mobileconfig?emailaddress=fred%40alpha.example"
# Root without the two capabilities that bypass file permissions: chmod 000 then means what it says.
WITHOUT_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]

FAULTS = ("deleted", "directory", "dangling", "loop", "unreadable", "garbage", "empty", "half", "renamed")
GARBAGE = b"\x00\xff\xfe not [[toml or pem\n\x1b[2J"


def _main_config(check_interval: int = 1) -> str:
    override = 'overrides = { "over.example" = { hostname = "mail.over.example" } }'
    return (
        "[service]\n"
        'public_hostname = "autoconfig.main.example"\n'
        'include = ["autoconfig.d/*.toml"]\n'
        f"check_interval = {check_interval}\n"
        "\n[signing]\n"
        'certificate = "../certs/cert.pem"\n'
        'key = "../certs/key.pem"\n'
        'chain = "../certs/chain.pem"\n' + provider("main.example", MAIN_DOMAINS, "mail.main.example", extra=override)
    )


@dataclass
class World:
    """The service, its files, and what it served before any fault."""

    service: Service
    root: Path
    baseline: dict[str, bytes]
    serial: int  # of the signing certificate
    ca: CA

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def output(self) -> Path:
        return self.root / "static_xml"


def _write_world(root: Path) -> CA:
    (root / "config" / "autoconfig.d").mkdir(parents=True)
    (root / "config" / "autoconfig.toml").write_text(_main_config(), encoding="utf-8")
    for name, domains in INCLUDED.items():
        host = f"mail.{domains[0]}"
        (root / "config" / "autoconfig.d" / name).write_text(provider(domains[0], domains, host), encoding="utf-8")
    root_ca = CA.create()
    intermediate = root_ca.intermediate("mailautoconf test intermediate")
    chain, key = intermediate.issue(["autoconfig.main.example"], days=30)
    leaf = chain.split(b"-----END CERTIFICATE-----\n")[0] + b"-----END CERTIFICATE-----\n"
    (root / "certs").mkdir()
    (root / "certs" / "cert.pem").write_bytes(leaf)
    (root / "certs" / "key.pem").write_bytes(key)
    (root / "certs" / "chain.pem").write_bytes(intermediate.pem)
    return root_ca


def _served(service: Service) -> dict[str, bytes]:
    """Every document a client of each domain gets (the profile apart: its signature has a time in it)."""
    found = {}
    for domain in DOMAINS:
        answer = service.get(f"/mail/config-v1.1.xml?emailaddress=fred%40{domain}", host=f"autoconfig.{domain}")
        found[f"autoconfig {domain}"] = _ok(answer)
        answer = service.post("/autodiscover/autodiscover.xml", pox_request(f"fred@{domain}"))
        found[f"pox {domain}"] = _ok(answer)
        answer = service.get(f"/autodiscover/autodiscover.json?Email=fred@{domain}&Protocol=AutodiscoverV1")
        found[f"json {domain}"] = _ok(answer)
    return found


def _ok(answer) -> bytes:  # type: ignore[no-untyped-def]
    return answer.content if answer.status_code == 200 else f"{answer.status_code}".encode()


def _signer_serial(service: Service) -> int | None:
    """The serial of the certificate the profile is signed with; None for an unsigned profile."""
    answer = service.get(PROFILE)
    assert answer.status_code == 200, answer.text
    if answer.content.startswith(b"<?xml"):
        return None
    return int(pkcs7.load_der_pkcs7_certificates(answer.content)[0].serial_number)


def _start(root: Path) -> World:
    ca = _write_world(root)
    service = Service(root / "run", None)
    service.config_path = root / "config" / "autoconfig.toml"
    service.output = root / "static_xml"
    if os.geteuid() == 0:
        service.prefix = WITHOUT_DAC
    service.start()
    baseline = _served(service)
    serial = _signer_serial(service)
    assert serial is not None
    assert all(not value.isdigit() for value in baseline.values()), baseline
    return World(service, root, baseline, serial, ca)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if shutil.which("setpriv") is None and os.geteuid() == 0:
        pytest.skip("needs setpriv (util-linux) to run the service without root's file-permission bypass")
    found = _start(tmp_path_factory.mktemp("matrix"))
    yield found
    found.service.stop()


# -- the faults ------------------------------------------------------------------


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _half(data: bytes) -> bytes:
    """The first half, cut inside a line (a writer killed mid-way), never at a line's end."""
    cut = len(data) // 2
    while cut < len(data) and data[cut - 1 : cut] in (b"\n", b"]"):
        cut += 1
    return data[:cut]


def _break_file(path: Path, fault: str) -> Callable[[], None]:
    """Break the file at ``path``; returns what puts it right again."""
    saved = path.read_bytes()

    def restore() -> None:
        if fault == "unreadable":
            path.chmod(0o644)
            return
        _remove(path)
        temporary = path.with_name(path.name + ".restored")
        temporary.write_bytes(saved)
        os.replace(temporary, path)

    if fault == "unreadable":
        path.chmod(0)
        return restore
    if fault == "renamed":
        temporary = path.with_name(path.name + ".new")
        temporary.write_bytes(saved)
        os.replace(temporary, path)
        return restore
    path.unlink()
    _stand_in(path, fault, saved)
    return restore


def _stand_in(path: Path, fault: str, saved: bytes = b"") -> None:
    """Put what ``fault`` leaves at ``path``, where nothing is now."""
    if fault == "directory":
        path.mkdir()
    elif fault == "dangling":
        path.symlink_to(path.parent / "nowhere" / path.name)
    elif fault == "loop":
        path.symlink_to(path.name)
    elif fault in ("garbage", "empty", "half"):
        path.write_bytes({"garbage": GARBAGE, "empty": b"", "half": _half(saved)}[fault])


def _break_folder(path: Path, fault: str, half_file: str | None = None) -> Callable[[], None]:
    """Break the folder at ``path`` (the original is kept aside); returns what puts it right again."""
    aside = path.with_name(path.name + ".aside")

    def restore() -> None:
        if fault == "unreadable":
            path.chmod(0o755)
            return
        if aside.exists():
            _remove(path)
            os.rename(aside, path)

    if fault == "unreadable":
        path.chmod(0)
        return restore
    if fault in ("renamed", "half"):
        copy = path.with_name(path.name + ".new")
        shutil.copytree(path, copy, symlinks=True)
        if fault == "half":
            assert half_file is not None
            target = copy / half_file
            if target.is_symlink():  # a domain folder in the tree: cut its document
                target = (target.parent / os.readlink(target)).resolve() / "mail" / "config-v1.1.xml"
            target.write_bytes(_half(target.read_bytes()))
        os.rename(path, aside)
        os.rename(copy, path)
        return restore
    os.rename(path, aside)
    _stand_in(path, fault)
    return restore


# -- what is expected --------------------------------------------------------------


def _check(world: World) -> tuple[int, str]:
    """`service.py check` on the config, as the service's own user would run it."""
    if os.geteuid() == 0:  # root would read an unreadable file: ask as the service does
        result = subprocess.run(
            [*WITHOUT_DAC, sys.executable, "service.py", "check", "--config", str(world.service.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=ROOT,
        )
        return result.returncode, result.stdout + result.stderr
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.check(argparse.Namespace(config=str(world.service.config_path)))
    return code, out.getvalue() + err.getvalue()


def _metric(world: World, name: str, **labels: str) -> float | None:
    return world.service.metrics().get((name, tuple(sorted(labels.items()))))


def _healthy(world: World, *, checked_after: str = "") -> dict:  # type: ignore[type-arg]
    """Wait until the service says all is well again, and serves what it served before.

    ``checked_after``: a time (as /healthz writes it) the tree must have been checked after, so that what
    the check finds of a restored tree is not taken for the next case's.
    """
    service = world.service
    health = service.wait_for(
        lambda: (
            (h := service.health())["status"] == "ok"
            and (h["tree_checked_at"] or "") > checked_after
            and _served(service) == world.baseline
            and h
        ),
        timeout=20,
        what="all well, and the documents of before",
    )
    assert _signer_serial(service) == world.serial
    # And what nginx serves from the tree is what the service serves.
    for domain in DOMAINS:
        on_disk = (world.output / "current" / domain / "mail" / "config-v1.1.xml").read_bytes()
        answer = service.get("/mail/config-v1.1.xml", host=f"autoconfig.{domain}")
        assert on_disk == answer.content, domain
    return health  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Target:
    name: str
    kind: str  # config, signing, tree
    path: str  # relative to the world's root
    folder: bool = False
    half_file: str | None = None  # for a folder: the file a half-written copy cuts


TARGETS = [
    Target("main config", "config", "config/autoconfig.toml"),
    Target("included file", "config", "config/autoconfig.d/gamma.toml"),
    Target("include folder", "config", "config/autoconfig.d", folder=True, half_file="gamma.toml"),
    Target("config folder", "config", "config", folder=True, half_file="autoconfig.d/gamma.toml"),
    Target("signing certificate", "signing", "certs/cert.pem"),
    Target("signing key", "signing", "certs/key.pem"),
    Target("signing chain", "signing", "certs/chain.pem"),
    Target("output tree", "tree", "static_xml", folder=True, half_file="domains/alpha.example"),
    Target("domain folder", "tree", "static_xml/domains/alpha.example", folder=True, half_file="mail/config-v1.1.xml"),
]
# What the service can put right itself, by publishing again; the rest it reports until the admin does.
REPAIRED = {
    "output tree": {"deleted", "directory", "half", "renamed"},
    "domain folder": set(FAULTS),
}


def _domain_folder(world: World, fault: str) -> Callable[[], None]:
    """Break domains/alpha.example: the link to its version, or the version itself."""
    link = world.output / "domains" / "alpha.example"
    version = (link.parent / os.readlink(link)).resolve()
    if fault == "unreadable":
        version.chmod(0)
        return lambda: version.chmod(0o755) if version.exists() else None
    if fault == "half":
        document = version / "mail" / "config-v1.1.xml"
        document.write_bytes(_half(document.read_bytes()))
        return lambda: None
    if fault == "renamed":  # a copy of its documents, a real folder, where the link was
        copy = link.with_name(".copy")
        shutil.copytree(version, copy)
        link.unlink()
        os.rename(copy, link)
        return lambda: None
    link.unlink()
    if fault == "dangling":  # to a version of the name publish gives, that is not there
        link.symlink_to("../versions/alpha.example@0000000000000000.1")
    else:
        _stand_in(link, fault)
    return lambda: None


def _break(world: World, target: Target, fault: str) -> Callable[[], None]:
    path = world.root / target.path
    if target.name == "domain folder":
        return _domain_folder(world, fault)
    if target.folder:
        return _break_folder(path, fault, target.half_file)
    return _break_file(path, fault)


CASES = [pytest.param(target, fault, id=f"{target.name}-{fault}") for target in TARGETS for fault in FAULTS]


@pytest.mark.parametrize(("target", "fault"), CASES)
def test_fault(world: World, target: Target, fault: str) -> None:
    service = world.service
    before = _healthy(world)
    path = str(world.root / target.path)
    restore = _break(world, target, fault)
    try:
        if fault == "renamed" and target.kind != "tree":
            _a_new_copy_is_taken(world, target)
        elif target.name == "included file" and fault == "deleted":
            _an_included_file_deleted_is_an_edit(world)
        elif target.kind == "tree" and fault in REPAIRED.get(target.name, ()):
            _repaired(world, before, path)
        elif target.kind == "tree":
            _reported_tree(world, path)
        else:
            _reported(world, target, fault, path)
        assert "Traceback" not in service.log()
    finally:
        restore()
        restored = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _healthy(world, checked_after=restored if target.kind == "tree" else "")


def _reported(world: World, target: Target, fault: str, path: str) -> None:
    """A config or signing fault: reported naming the file, nothing served changes, check agrees."""
    service = world.service
    field = f"{target.kind}_error"
    health = service.wait_for(
        lambda: (h := service.health())[field] and h, timeout=10, what=f"/healthz {field} to name {path}"
    )
    assert any(path in line for line in health[field]), health[field]
    assert health["status"] == f"{target.kind} error" and target.kind in health["troubles"], health
    assert service.get("/healthz").status_code == 200
    assert _served(service) == world.baseline
    assert _signer_serial(service) == world.serial  # the last good certificate keeps signing
    assert _metric(world, f"mailautoconf_{target.kind}_error") == 1
    named = {labels for (name, labels) in service.metrics() if name == "mailautoconf_trouble_file"}
    assert any(("kind", target.kind) in labels and any(path in value for _, value in labels) for labels in named), named
    code, said = _check(world)
    if target.name == "include folder" and fault == "directory":
        # check has no earlier load to compare with: an empty folder is a valid config, with a warning.
        assert code == 0 and f"{path}: warning: include" in said, said
    else:
        assert code == 1 and path in said, said


def _reported_tree(world: World, path: str) -> None:
    """A tree the service cannot repair (the output path is not a folder it can write): said, and served."""
    service = world.service
    health = service.wait_for(lambda: (h := service.health())["tree_error"] and h, timeout=10, what="tree_error")
    assert any(line.startswith(path) for line in health["tree_error"]), health["tree_error"]
    assert health["status"] == "tree error", health
    assert _served(service) == world.baseline  # from memory, the tree being out of reach
    assert _metric(world, "mailautoconf_tree_error") == 1
    assert _metric(world, "mailautoconf_trouble_file", kind="tree", file=path) == 1
    code, said = _check(world)
    assert code == 0, said  # the config is fine


def _repaired(world: World, before: dict, path: str) -> None:  # type: ignore[type-arg]
    """A tree the service repairs by publishing again: said in /healthz and the log, nginx's files whole again."""
    service = world.service
    repairs = before["tree_repairs"]
    # (A repair of what the last case's restore did may come first: wait for the one naming this path.)
    health = service.wait_for(
        lambda: (h := service.health())["tree_repairs"] > repairs and any(path in x for x in h["tree_repaired"]) and h,
        timeout=10,
        what=f"a repair naming {path}",
    )
    assert int(health["generation"].split("-")[1]) > int(before["generation"].split("-")[1]), health
    assert _metric(world, "mailautoconf_tree_repairs_total") == health["tree_repairs"]
    assert "repaired the tree" in service.wait_for(lambda: "repaired the tree" in (t := service.log()) and t)


def _an_included_file_deleted_is_an_edit(world: World) -> None:
    """Deleting a customer's file is how a panel removes the customer: applied, not an error."""
    service = world.service
    service.wait_for(
        lambda: service.get("/mail/config-v1.1.xml", host="autoconfig.gamma.example").status_code == 404,
        what="gamma.example withdrawn",
    )
    health = service.health()
    assert health["status"] == "ok", health
    served = _served(service)
    assert {key: value for key, value in served.items() if "gamma" not in key} == {
        key: value for key, value in world.baseline.items() if "gamma" not in key
    }
    assert _check(world)[0] == 0


def _a_new_copy_is_taken(world: World, target: Target) -> None:
    """A new copy renamed over the file or folder is read, and so are edits inside a new folder afterwards."""
    service = world.service
    generation = service.health()["generation"]
    if not target.folder:
        assert service.health()["status"] == "ok"
        return
    # The watcher must watch the new folder, not the one renamed away.
    gamma = world.config / "autoconfig.d" / "gamma.toml"
    text = gamma.read_text(encoding="utf-8")
    gamma.write_text(text.replace("mail.gamma.example", "mail2.gamma.example"), encoding="utf-8")
    service.wait_for(
        lambda: b"mail2.gamma.example" in service.get("/mail/config-v1.1.xml", host="autoconfig.gamma.example").content,
        what="an edit inside the new folder",
    )
    assert service.health()["generation"] != generation
    gamma.write_text(text, encoding="utf-8")
    service.wait_for(
        lambda: b"mail.gamma.example" in service.get("/mail/config-v1.1.xml", host="autoconfig.gamma.example").content,
        what="the edit undone",
    )


# -- time ------------------------------------------------------------------------


def test_a_signing_certificate_that_expires_while_serving(make_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Nothing changes on disk: the clock alone makes the certificate unusable, and the service says so."""
    ca = CA.create()
    folder = tmp_path / "certs"
    ca.issue_files(["autoconfig.alpha.example"], folder, days=4 / 86400)  # four seconds
    head = '[service]\npublic_hostname = "autoconfig.alpha.example"\ncheck_interval = 1\n'
    signing = f'\n[signing]\ncertificate = "{folder}/fullchain.pem"\nkey = "{folder}/privkey.pem"\n'
    service = make_service(head + signing + provider("alpha.example", ["alpha.example"], "mail.alpha.example"))
    first = service.health()
    assert first["signing"] == "expiring" and first["profiles_signed"], first
    assert _signer_serial(service) is not None
    health = service.wait_for(
        lambda: (h := service.health())["signing_error"] and h, timeout=20, what="the certificate to expire"
    )
    assert "expired on" in health["signing_error"][0] and str(folder) in health["signing_error"][0], health
    assert health["status"] == "signing error" and not health["profiles_signed"], health
    assert _signer_serial(service) is None  # unsigned, and said so
    assert service.metrics()[("mailautoconf_signing_error", ())] == 1
    assert "expired on" in service.log()
    # A renewal is taken without a restart.
    chain, key = ca.issue(["autoconfig.alpha.example"], days=30)
    for name, data in (("privkey.pem", key), ("fullchain.pem", chain)):
        (folder / (name + ".new")).write_bytes(data)
        os.replace(folder / (name + ".new"), folder / name)
    service.wait_for(lambda: service.health()["status"] == "ok", what="the renewed certificate")
    assert _signer_serial(service) is not None
