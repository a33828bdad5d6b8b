"""/metrics against the real service: requests by endpoint, client family and status; reloads; what is served.

Every figure is read with prometheus_client's own parser (support/service.py),
so the exposition is also proven well-formed. Counts are compared as the
difference between two scrapes around requests this test sent itself.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from support.paths import EXAMPLE_CONFIG
from support.pox import pox_request
from support.service import Service

from mailautoconf.reload.pipeline import Pipeline
from mailautoconf.serve import metrics
from mailautoconf.tree.store import Store

THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"
EVOLUTION = "Evolution/3.46.4"
ANDROID = "okhttp/4.12.0"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
AUTOCONFIG = "/mail/config-v1.1.xml"

Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def requests_counted(before: Metrics, after: Metrics) -> Counter[tuple[str, str, str]]:
    """(endpoint, client, status) -> requests between two scrapes."""
    counted: Counter[tuple[str, str, str]] = Counter()
    for (name, labels), value in after.items():
        if name != "mailautoconf_http_requests_total":
            continue
        found = dict(labels)
        delta = value - before.get((name, labels), 0.0)
        if delta:
            counted[(found["endpoint"], found["client"], found["status"])] = int(delta)
    return counted


def value(scraped: Metrics, name: str, **labels: str) -> float:
    return scraped[(name, tuple(sorted(labels.items())))]


@pytest.mark.parametrize(
    ("agent", "family"),
    [
        (THUNDERBIRD, "thunderbird"),
        (EVOLUTION, "evolution"),
        # goamailclient.c: "gnome-online-accounts/" PACKAGE_VERSION " "; libsoup appends its own name.
        ("gnome-online-accounts/3.58.1 libsoup/3.6.5", "gnome"),
        (ANDROID, "android"),
        ("Mozilla/5.0 (Android 14) Thunderbird/9.0", "android"),
        ("Mozilla/5.0 (X11; Linux x86_64) KIO/6.5 KMail/6.2", "kmail"),
        (OUTLOOK, "outlook"),
        (IPHONE, "apple"),
        (BROWSER, "browser"),
        ("curl/8.11", "other"),
        ("", "other"),
    ],
)
def test_client_family_of_real_user_agents(agent: str, family: str) -> None:
    assert metrics.client_family(agent) == family


def test_requests_are_counted_by_endpoint_client_and_status(service: Service) -> None:
    before = service.metrics()
    sent: Counter[tuple[str, str, str]] = Counter()

    def get(path: str, agent: str, host: str = "autoconfig.example.org", **key: str) -> None:
        answer = service.get(path, host=host, headers={"User-Agent": agent})
        sent[(key["endpoint"], key["client"], str(answer.status_code))] += 1

    for _ in range(3):
        get(AUTOCONFIG + "?emailaddress=fred%40example.org", THUNDERBIRD, endpoint="autoconfig", client="thunderbird")
    get("/.well-known/autoconfig/mail/config-v1.1.xml", EVOLUTION, "example.org", endpoint="autoconfig",
        client="evolution")  # fmt: skip
    get(AUTOCONFIG, ANDROID, endpoint="autoconfig", client="android")
    get(AUTOCONFIG, ANDROID, "autoconfig.not-hosted.example", endpoint="autoconfig", client="android")
    get("/autodiscover/autodiscover.json?Protocol=AutodiscoverV1&Email=fred%40example.org", OUTLOOK,
        endpoint="autodiscover_json", client="outlook")  # fmt: skip
    get("/autodiscover/autodiscover.json/v1.0/fred@example.org?Protocol=AutodiscoverV1", OUTLOOK,
        endpoint="autodiscover_json", client="outlook")  # fmt: skip
    get("/email.mobileconfig?emailaddress=fred%40example.org", IPHONE, endpoint="apple_profile", client="apple")
    get("/?emailaddress=fred%40example.org", BROWSER, endpoint="page", client="browser")
    get("/no/such/thing", "curl/8.11", endpoint="other", client="other")
    for body, status in ((pox_request("fred@example.org"), 200), (b"<not-xml", 400)):
        answer = service.post("/Autodiscover/Autodiscover.xml", body, headers={"User-Agent": OUTLOOK})
        assert answer.status_code == status
        sent[("autodiscover_pox", "outlook", str(status))] += 1

    counted = requests_counted(before, service.metrics())
    counted.pop(("metrics", "other", "200"), None)  # the first scrape itself
    assert counted == sent
    assert ("autoconfig", "android", "404") in sent and ("other", "other", "404") in sent  # statuses do differ


def test_hostile_requests_add_no_new_label_values(service: Service) -> None:
    """Label values come from fixed sets whatever the path and User-Agent: no series per attacker."""
    chooser = random.Random(11)
    for index in range(150):
        noise = "x" + "".join(chooser.choice("abc<>\"'%/\\ ;") for _ in range(chooser.randint(1, 40)))
        service.get(f"/{noise}{index}", headers={"User-Agent": noise + str(index)})
    scraped = service.metrics()
    series = [dict(labels) for name, labels in scraped if name == "mailautoconf_http_requests_total"]
    assert {labels["endpoint"] for labels in series} <= set(metrics.ENDPOINTS)
    assert {labels["client"] for labels in series} <= set(metrics.CLIENT_FAMILIES)
    assert all(labels["status"].isdigit() and len(labels["status"]) == 3 for labels in series)


def test_metrics_name_no_address(service: Service) -> None:
    service.get(AUTOCONFIG + "?emailaddress=secret-person%40example.org", host="autoconfig.example.org")
    text = service.get("/metrics").text
    assert "secret-person" not in text and "example.org" not in text


def test_reloads_renders_and_config_errors(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    first = service.metrics()
    assert value(first, "mailautoconf_reloads_total", outcome="applied") == 1
    assert value(first, "mailautoconf_render_duration_seconds_count") == 1
    assert value(first, "mailautoconf_render_duration_seconds_sum") > 0
    assert value(first, "mailautoconf_domains") == service.health()["domains"] == 3
    assert value(first, "mailautoconf_generation") == 1
    assert value(first, "mailautoconf_generation_info", generation=service.health()["generation"]) == 1
    assert value(first, "mailautoconf_config_error") == 0
    assert value(first, "process_resident_memory_bytes") > 0

    good = service.config_path.read_text(encoding="utf-8")
    service.config_path.write_text(good.replace("port = 993", "port = 99999", 1), encoding="utf-8")
    broken = service.wait_for(
        lambda: (m := service.metrics()) and value(m, "mailautoconf_config_error") == 1 and m, what="a config error"
    )
    assert value(broken, "mailautoconf_reloads_total", outcome="config_error") == 1
    assert value(broken, "mailautoconf_config_errors_total") == 1
    assert value(broken, "mailautoconf_config_problems", severity="error") == len(service.health()["config_error"])
    assert value(broken, "mailautoconf_generation") == 1  # the last good render is still served
    assert value(broken, "mailautoconf_render_duration_seconds_count") == 1  # nothing rendered

    service.config_path.write_text(
        good.replace("Your Own Mail Provider", "Your Own Mail Provider, edited", 1), encoding="utf-8"
    )
    fixed = service.wait_for(
        lambda: (m := service.metrics()) and value(m, "mailautoconf_generation") == 2 and m, what="the fixed config"
    )
    assert value(fixed, "mailautoconf_config_error") == 0
    assert value(fixed, "mailautoconf_reloads_total", outcome="applied") == 2
    assert value(fixed, "mailautoconf_render_duration_seconds_count") == 2
    buckets = [
        (float(dict(labels)["le"]), count)
        for (name, labels), count in fixed.items()
        if name == "mailautoconf_render_duration_seconds_bucket"
    ]
    assert sorted(buckets) == buckets and buckets[-1] == (float("inf"), 2)  # cumulative, ending in the count


def test_an_unexpected_failure_is_reported_like_any_failed_reload(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A bug in a reload (not a config problem) still shows in /healthz's state and the metrics, then propagates."""
    config_path = tmp_path / "autoconfig.toml"
    config_path.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    store = Store()
    pipeline = Pipeline(str(config_path), str(tmp_path / "out"), store)
    assert pipeline.run().ok

    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(pipeline, "_apply", broken)
    with pytest.raises(RuntimeError):
        pipeline.run()
    assert store.health.config_errors is not None
    assert any("reload failed: RuntimeError: a bug" in error for error in store.health.config_errors)
    outcomes = store.reloads.snapshot()[0]
    assert outcomes["applied"] == 1 and outcomes["error"] == 1
