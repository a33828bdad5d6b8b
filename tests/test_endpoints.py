"""The endpoints table (mailautoconf/endpoints.py) is the one place a public path is written.

The app routes exactly the table, /metrics counts by the table's labels, no
other module of the package spells one of its paths (docstrings and comments
may: they are documentation), and every view that serves documents answers
503 until something is rendered.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

import pytest
from support.paths import ROOT

from mailautoconf import endpoints
from mailautoconf.serve import metrics
from mailautoconf.serve.web import create_app
from mailautoconf.tree.store import Store

PACKAGE = ROOT / "mailautoconf"
HOME = PACKAGE / "endpoints.py"


def routed() -> dict[str, set[str]]:
    """Every rule of the app's URL map and the methods routed there (over all its views)."""
    found: dict[str, set[str]] = {}
    for rule in create_app(Store()).url_map.iter_rules():
        found.setdefault(rule.rule, set()).update(rule.methods or ())
    return found


def table() -> dict[str, set[str]]:
    """What the table says the app routes: its paths, the address form as a rule; HEAD with GET."""
    found: dict[str, set[str]] = {}
    for served in endpoints.ALL:
        rules = [*served.paths, *([served.address_prefix + "<path:address>"] if served.address_prefix else [])]
        methods = set(served.methods) | ({"HEAD"} if "GET" in served.methods else set())
        for rule in rules:
            found.setdefault(rule, set()).update(methods)
    return found


def test_the_app_routes_exactly_the_table() -> None:
    assert routed() == table()


def test_no_path_is_in_the_table_twice() -> None:
    paths = [path for served in endpoints.ALL for path in served.paths]
    assert len(paths) == len(set(paths))


def test_the_metrics_labels_are_the_tables() -> None:
    labels = {served.label for served in endpoints.ALL}
    assert (*sorted(labels), "other") == metrics.ENDPOINTS
    for served in endpoints.ALL:
        for path in served.paths:
            assert metrics.endpoint(path) == served.label, path
    v2 = endpoints.AUTODISCOVER_JSON
    assert metrics.endpoint(v2.address_prefix + "fred@example.org") == v2.label
    assert metrics.endpoint("/nothing") == metrics.endpoint("/mail/") == "other"


def test_folded_paths_are_written_folded() -> None:
    """serve/wsgi.py folds paths under CASE_FOLDED to lower case before routing: the table must match them so."""
    folded = [
        path
        for served in endpoints.ALL
        for path in (*served.paths, served.address_prefix)
        if path.startswith(endpoints.CASE_FOLDED)
    ]
    assert endpoints.AUTODISCOVER_POX.path in folded and endpoints.AUTODISCOVER_JSON.address_prefix in folded
    assert all(path == path.lower() for path in folded)


def test_paths_are_plain_for_nginx() -> None:
    """deploy/nginx.py writes the paths into locations and regular expressions escaping only "."."""
    for served in endpoints.ALL:
        for path in (*served.paths, served.address_prefix):
            assert path == "" or re.fullmatch(r"/[A-Za-z0-9._/-]*", path), path


# -- the vocabulary is the only home of a path -----------------------------------------------------

# A path where a client, nginx or a reader would take it as one: the whole text, after a space,
# quote or "=", or after "scheme://host". Not a folder of the rendered tree ("apple/email.mobileconfig").
_BEFORE = r"(?:^|(?<=[^A-Za-z0-9_.~/-])|(?<=://)[^/\s]*)"
_AFTER = r"(?![A-Za-z0-9_~-])"


def public_paths() -> list[str]:
    paths = [path for served in endpoints.ALL for path in served.paths if path != "/"]  # "/" is everywhere
    prefixes = [served.address_prefix for served in endpoints.ALL if served.address_prefix]
    return [*paths, *prefixes, endpoints.CASE_FOLDED, endpoints.ACME_CHALLENGES]


def spelled(source: str, words: list[str]) -> Iterator[tuple[int, str]]:
    """(line, word) for every ``words`` path, or the address parameter, in a string of ``source`` (not a docstring)."""
    tree = ast.parse(source)
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    patterns = [(word, re.compile(_BEFORE + re.escape(word) + _AFTER, re.IGNORECASE)) for word in words]
    patterns.append((endpoints.ADDRESS_PARAMETER, re.compile(rf"\b{endpoints.ADDRESS_PARAMETER}\b")))
    for node in ast.walk(tree):  # f-strings too: their literal pieces are Constant nodes
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            for word, pattern in patterns:
                if pattern.search(node.value):
                    yield node.lineno, word


def test_no_module_but_endpoints_spells_a_public_path() -> None:
    words = public_paths()
    found = [
        f"{path.relative_to(ROOT)}:{line}: {word}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != HOME
        for line, word in spelled(path.read_text(encoding="utf-8"), words)
    ]
    assert not found, "public paths spelled outside mailautoconf/endpoints.py:\n" + "\n".join(found)


def test_endpoints_spells_each_path_once() -> None:
    tree = ast.parse(HOME.read_text(encoding="utf-8"))
    constants = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value]
    for word in [*public_paths(), "/", endpoints.ADDRESS_PARAMETER]:
        assert constants.count(word) == 1, word


@pytest.mark.parametrize(
    "source",
    [
        'PATH = "/autodiscover/autodiscover.xml"\n',
        'if request.path == "/Autodiscover/Autodiscover.xml".lower(): pass\n',
        'url = f"https://{host}/mail/config-v1.1.xml?x=1"\n',
        'line = "    location = /healthz {"\n',
        'url = "https://autoconfig.example.org/email.mobileconfig"\n',
        'url = f"{base}{domain}/.well-known/caldav/"\n',
        "params = {'emailaddress': address}\n",
        'def f() -> None:\n    """Doc."""\n    return g("/metrics")\n',
    ],
)
def test_the_scan_finds_a_path_written_elsewhere(source: str) -> None:
    assert list(spelled(source, public_paths()))


@pytest.mark.parametrize(
    "source",
    [
        '"""The module: GET /autodiscover/autodiscover.xml, ?emailaddress=."""\n',
        'def f() -> None:\n    """Answer /healthz."""\n',
        "# /metrics in a comment\nx = 1\n",
        'APPLE_PROFILE = "apple/email.mobileconfig"  # a file of the rendered tree\n',
        'OUTLOOK_POX = "autodiscover/autodiscover.xml"\n',
        'x = "/mail/config-v1.1.xmlx" + "/healthzz"\n',
        'dav = "/.well-known/caldavs"\n',
    ],
)
def test_the_scan_leaves_documentation_and_other_names_alone(source: str) -> None:
    assert not list(spelled(source, public_paths()))


# -- nothing rendered yet ------------------------------------------------------------------------


def answering_while_starting() -> Iterator[tuple[str, str]]:
    for served in endpoints.ALL:
        if served in (endpoints.HEALTHZ, endpoints.METRICS):
            continue  # they answer while starting: what is served is what they report
        for path in (*served.paths, *([served.address_prefix + "fred@example.org"] if served.address_prefix else [])):
            for method in served.methods:
                if served is endpoints.AUTODISCOVER_POX and method == "GET":
                    continue  # 405 whatever the state (test_web.py)
                yield method, path


@pytest.mark.parametrize(("method", "path"), list(answering_while_starting()))
def test_every_document_view_is_503_until_something_is_rendered(method: str, path: str) -> None:
    client = create_app(Store()).test_client()
    answer = client.open(path, method=method, headers={"Host": "autoconfig.example.org"})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.text == ("" if method == "HEAD" else "starting: no configuration rendered yet\n")
