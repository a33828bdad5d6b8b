"""`pip install .` gives a working `mailautoconf` command, as it does for automx2.

The checkout is installed (not editable) into a fresh virtualenv with
nothing but what pyproject.toml declares, from a folder of wheels and no
index: a dependency missing from the declaration is missing at run time,
and a template missing from the package data is missing from the page.
The installed command then runs from a folder outside the checkout and must
answer clients as `python service.py serve` does.

tests/run.sh fills the wheel folder before it cuts the network off; run by
hand, this test fills it from the index pip is configured with.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from support.isolation import ISOLATED
from support.paths import EXAMPLE_CONFIG
from support.paths import ROOT
from support.pox import pox_request
from support.service import Service

WHEELHOUSE = ROOT / "tests" / "artifacts" / "wheels"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# What the build copies: the checkout as `git clone` gives it, without what runs leave behind.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "static_xml", "artifacts", "__pycache__", ".*_cache", "build", "*.egg-info"
)


def pins(lines: list[str]) -> dict[str, str]:
    """Requirement lines -> {canonical name: specifier}, comments and blank lines dropped."""
    found: dict[str, str] = {}
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            found[requirement.name.lower().replace("_", "-")] = str(requirement.specifier)
    return found


REQUIREMENTS = pins((ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines())


def test_pyproject_declares_the_pins_of_requirements_txt() -> None:
    """One set of versions: requirements.txt for `pip install -r`, pyproject.toml for `pip install .`."""
    assert pins(PYPROJECT["project"]["dependencies"]) == REQUIREMENTS
    assert all(specifier.startswith("==") for specifier in REQUIREMENTS.values()), REQUIREMENTS


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the checkout installed by pip, as an admin would."""
    folder = tmp_path_factory.mktemp("package")
    download = ""
    if not ISOLATED:  # in the namespace there is no index: tests/run.sh has filled the folder
        # Offline, the wheels an earlier run left may still do; if not, the install below says so.
        download = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
             "-r", str(ROOT / "requirements.txt"), *PYPROJECT["build-system"]["requires"],
             "--dest", str(WHEELHOUSE)],
            capture_output=True, text=True, timeout=300,
        ).stderr  # fmt: skip
    source = folder / "checkout"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    target = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True, timeout=120)
    # The test's own pip installs into the new environment (--python), with
    # build isolation: setuptools comes from the wheel folder too.
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), "install",
         "--no-index", "--find-links", str(WHEELHOUSE), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert installed.returncode == 0, f"{installed.stdout}{installed.stderr}\npip download said:\n{download}"
    return target


def in_venv(venv: Path, *command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / command[0]), *command[1:]], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_installed_package_is_the_one_imported(venv: Path, tmp_path: Path) -> None:
    """From outside the checkout, Python finds the copy in site-packages, templates and metadata included."""
    script = (
        "import importlib.metadata, json, mailautoconf, mailautoconf.render.page as page; "
        "print(json.dumps([mailautoconf.__file__, sorted(p.name for p in page.TEMPLATE_FOLDER.iterdir()), "
        "importlib.metadata.requires('mailautoconf')]))"
    )
    result = in_venv(venv, "python", "-c", script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    where, templates, requires = json.loads(result.stdout)
    site_packages = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    assert Path(where) == site_packages / "mailautoconf" / "__init__.py"
    assert templates == sorted(path.name for path in (ROOT / "mailautoconf" / "templates").iterdir())
    assert pins(requires) == REQUIREMENTS


def test_check_with_the_installed_command(venv: Path, tmp_path: Path) -> None:
    result = in_venv(venv, "mailautoconf", "check", "--config", str(EXAMPLE_CONFIG), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{EXAMPLE_CONFIG}: OK, 1 provider(s), 3 domain(s), 0 warning(s)\n"
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("command", "prog"),
    [(["mailautoconf"], "mailautoconf"), (["python", "-m", "mailautoconf"], "python -m mailautoconf")],
)
def test_the_command_names_itself(venv: Path, tmp_path: Path, command: list[str], prog: str) -> None:
    result = in_venv(venv, *command, "serve", "--no-such-option", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"{prog}: error: unrecognized arguments: --no-such-option"


@pytest.fixture(scope="module")
def installed_service(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """`mailautoconf serve` from the fresh virtualenv, run from a folder outside the checkout."""
    running = Service(tmp_path_factory.mktemp("installed"))
    running.command = [str(venv / "bin" / "mailautoconf")]
    running.cwd = running.workdir
    yield running.start()
    assert running.stop() == 0, running.log()  # SIGTERM: a clean stop


REQUESTS = [
    pytest.param("/mail/config-v1.1.xml?emailaddress=fred@example.org", "example.org", None, 200, id="autoconfig"),
    pytest.param("/autodiscover/autodiscover.xml", None, pox_request("fred@example.com"), 200, id="autodiscover"),
    # The settings page and the unhosted page: the Jinja templates, package data.
    pytest.param("/?emailaddress=fred@example.net", "autoconfig.example.net", None, 200, id="settings-page"),
    pytest.param("/", "autoconfig.unhosted.example", None, 404, id="not-found-page"),
]


@pytest.mark.parametrize(("path", "host", "body", "status"), REQUESTS)
def test_the_installed_command_answers_as_service_py(
    installed_service: Service, service: Service, path: str, host: str | None, body: bytes | None, status: int
) -> None:
    def ask(running: Service) -> tuple[int, str, str, bytes]:
        answer = running.get(path, host=host) if body is None else running.post(path, body)
        return answer.status_code, answer.headers["Content-Type"], answer.headers.get("ETag", ""), answer.content

    expected = ask(service)
    assert expected[0] == status and expected[3], expected
    assert ask(installed_service) == expected
