"""A config split over files: ``[service] include`` (a hosting panel writes one file per customer)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.configs import HEAD
from support.configs import provider

from mailautoconf import config

PATH = "/mail/config-v1.1.xml"
MAIN = HEAD.replace("[service]\n", '[service]\ninclude = "autoconfig.d/*.toml"\n') + provider(
    "alpha.example", ["alpha.example"], "mail.alpha.example"
)


def write_split(folder: Path, files: dict[str, str]) -> Path:
    main = folder / "autoconfig.toml"
    main.write_text(MAIN, encoding="utf-8")
    (folder / "autoconfig.d").mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / "autoconfig.d" / name).write_text(text, encoding="utf-8")
    return main


def test_included_files_add_providers(tmp_path: Path) -> None:
    main = write_split(
        tmp_path,
        {
            "beta.toml": provider("beta.example", ["beta.example"], "mail.beta.example"),
            "gamma.toml": provider("gamma.example", ["gamma.example", "g1.example"], "mail.{domain}"),
            "notes.txt": "not a config file",
        },
    )
    loaded = config.load(str(main)).config
    assert [p.id for p in loaded.providers] == ["alpha.example", "beta.example", "gamma.example"]
    assert loaded.sources == (str(main), *(str(tmp_path / "autoconfig.d" / n) for n in ("beta.toml", "gamma.toml")))


def test_messages_name_the_included_file_and_line(tmp_path: Path) -> None:
    broken = provider("beta.example", ["beta.example"], "mail.beta.example").replace("port = 993", "port = 99999")
    main = write_split(tmp_path, {"beta.toml": broken})
    with pytest.raises(config.ConfigError) as caught:
        config.load(str(main))
    line = broken.splitlines().index("port = 99999") + 1
    assert [str(p) for p in caught.value.problems] == [
        f'{tmp_path}/autoconfig.d/beta.toml, line {line}: provider "beta.example", incoming server 1: '
        "port 99999 is not a port (1-65535)"
    ]


def test_a_domain_in_two_files_names_both(tmp_path: Path) -> None:
    main = write_split(
        tmp_path, {"beta.toml": provider("beta.example", ["beta.example", "alpha.example"], "m.example")}
    )
    with pytest.raises(config.ConfigError) as caught:
        config.load(str(main))
    domains_line = MAIN.splitlines().index('domains = ["alpha.example"]') + 1
    beta_line = provider("beta.example", [], "").splitlines().index("domains = []") + 1
    assert [str(p) for p in caught.value.problems] == [
        f'{tmp_path}/autoconfig.d/beta.toml, line {beta_line}: provider "beta.example": domain "alpha.example" '
        f'is already hosted by provider "alpha.example" ({tmp_path}/autoconfig.toml, line {domains_line})'
    ]


@pytest.mark.parametrize("section", ["[dns]\nttl = 60\n", '[service]\npublic_hostname = "x.example"\n'])
def test_an_included_file_holds_providers_only(tmp_path: Path, section: str) -> None:
    main = write_split(tmp_path, {"beta.toml": section})
    with pytest.raises(config.ConfigError) as caught:
        config.load(str(main))
    name = section.split("]")[0].lstrip("[")
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path}/autoconfig.d/beta.toml, line 1: [{name}] belongs in the main file {main}; "
        "an included file holds [[provider]] tables only"
    ]


def test_syntax_errors_in_two_files_are_both_reported(tmp_path: Path) -> None:
    main = write_split(tmp_path, {"a.toml": "[[provider]\n", "b.toml": "x = \n"})
    with pytest.raises(config.ConfigError) as caught:
        config.load(str(main))
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path}/autoconfig.d/a.toml, line 1: TOML syntax error: expected ']]' at the end of an array declaration "
        "(column 11)",
        f"{tmp_path}/autoconfig.d/b.toml, line 1: TOML syntax error: invalid value (column 5)",
    ]


def test_unchanged_files_give_the_same_providers(tmp_path: Path) -> None:
    """The loader's reuse: what did not change comes back as the very same object."""
    main = write_split(
        tmp_path,
        {
            "beta.toml": provider("beta.example", ["beta.example"], "mail.beta.example"),
            "gamma.toml": provider("gamma.example", ["gamma.example"], "mail.gamma.example"),
        },
    )
    loader = config.Loader()
    first = loader.load(str(main)).config
    gamma = tmp_path / "autoconfig.d" / "gamma.toml"
    gamma.write_text(gamma.read_text().replace("gamma.example mail", "Gamma"), encoding="utf-8")
    second = loader.load(str(main)).config
    assert second.providers[0] is first.providers[0] and second.providers[1] is first.providers[1]
    assert second.providers[2] is not first.providers[2] and second.providers[2].display_name == "Gamma"


def test_pieces_of_one_file_are_reused(tmp_path: Path) -> None:
    """In one big file too, an edit of one [[provider]] re-validates only that one."""
    text = HEAD + "".join(
        provider(f"p{index}.example", [f"d{index}.example"], "mail.example.net") for index in range(5)
    )
    main = tmp_path / "autoconfig.toml"
    main.write_text(text, encoding="utf-8")
    loader = config.Loader()
    first = loader.load(str(main)).config
    main.write_text(text.replace("p3.example mail", "Three"), encoding="utf-8")
    second = loader.load(str(main)).config
    same = [new is old for new, old in zip(second.providers, first.providers, strict=True)]
    assert same == [True, True, True, False, True]
    assert second == config.load(str(main)).config  # equal to a load from scratch


def test_service_follows_included_files(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(start=False)
    write_split(service.config_dir, {"beta.toml": provider("beta.example", ["beta.example"], "mail.beta.example")})
    service.start()
    assert service.get(PATH, host="autoconfig.beta.example").status_code == 200
    folder = service.config_dir / "autoconfig.d"

    # A new file appears (written under another name, then renamed, as panels do).
    temporary = folder / ".gamma.toml.tmp"
    temporary.write_text(provider("gamma.example", ["gamma.example"], "mail.gamma.example"), encoding="utf-8")
    os.replace(temporary, folder / "gamma.toml")
    service.wait_for(lambda: service.get(PATH, host="autoconfig.gamma.example").status_code == 200, what="gamma")

    # An edit of one file.
    beta = folder / "beta.toml"
    beta.write_text(beta.read_text().replace("beta.example mail", "Beta Renamed"), encoding="utf-8")
    service.wait_for(
        lambda: b"Beta Renamed" in service.get(PATH, host="autoconfig.beta.example").content, what="beta edit"
    )

    # A broken file: everything keeps being served, and /healthz names the file.
    beta.write_text("[[provider]\n", encoding="utf-8")
    service.wait_for(lambda: service.health()["config_error"], what="the error")
    assert "beta.toml, line 1" in service.health()["config_error"][0]
    assert b"Beta Renamed" in service.get(PATH, host="autoconfig.beta.example").content

    # The file removed: its domain goes.
    beta.unlink()
    service.wait_for(lambda: service.get(PATH, host="autoconfig.beta.example").status_code == 404, what="removal")
    assert service.health()["config_error"] is None
    assert service.get(PATH, host="autoconfig.gamma.example").status_code == 200
