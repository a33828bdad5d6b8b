"""What the PACC digest watcher (mailautoconf/paccwatch.py) costs at 100,000 domains, in process, no DNS.

A generated config of ``--domains`` domains (providers of 1,000, all with
``pacc = true``) is loaded, and a store is filled the way the pipeline
fills it (one set of templates per provider, an entry per domain), without
writing the tree. Then, each the best of a few runs:

* **reload**: what an edit of one provider's display name hands the
  watcher: paccguard.digest_changes over that provider (the pipeline's own
  cost of the guard), and the watcher taking the names in;
* **sweep start**: every domain with a published digest, read from the
  config and the store, sorted (once per sweep: at start and every
  ``sweep_interval``), and the memory the sorted list holds;
* **held**: memory of the schedule after a first sweep found 1 % stale,
  and after an edit made 1,000 domains stale (tracemalloc, the schedule's
  own allocations).

    .venv/bin/python bench/paccstale.py [--domains 100000]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailautoconf import config
from mailautoconf.pacc import guard as paccguard
from mailautoconf.pacc.schedule import Schedule
from mailautoconf.pacc.watch import DnsWatcher
from mailautoconf.render.templates import DOMAIN
from mailautoconf.render.templates import UNICODE
from mailautoconf.render.templates import domain_values
from mailautoconf.render.templates import provider_templates
from mailautoconf.tree.store import Generation
from mailautoconf.tree.store import Store
from mailautoconf.tree.store import TemplateEntry

PROVIDER = """
[[provider]]
id = "p{index:03d}.example"
display_name = "{name}"
domains = [{domains}]
pacc = true

[[provider.incoming]]
type = "imap"
hostname = "imap.p{index:03d}.example"
port = 993
socket_type = "SSL"
authentication = "password-cleartext"
username = "{{address}}"

[[provider.outgoing]]
type = "smtp"
hostname = "smtp.p{index:03d}.example"
port = 465
socket_type = "SSL"
authentication = "password-cleartext"
username = "{{address}}"
"""


def config_text(domains: int, renamed: int | None = None) -> str:
    parts = ['[service]\npublic_hostname = "autoconfig.example.net"\n']
    for index in range(max(1, domains // 1000)):
        names = ", ".join(f'"d{number:06d}.example"' for number in range(index * 1000, (index + 1) * 1000))
        name = "Renamed" if index == renamed else f"Provider {index}"
        parts.append(PROVIDER.format(index=index, name=name, domains=names))
    return "".join(parts)


def best(runs: int, action):  # type: ignore[no-untyped-def]
    """The fastest of ``runs`` calls of ``action`` (seconds) and its last result."""
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return min(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=100_000)
    args = parser.parse_args(argv)
    loader = config.Loader()
    loaded = loader.load("bench.toml", config_text(args.domains)).config
    edited = loader.load("bench.toml", config_text(args.domains, renamed=0)).config
    templates = {id(provider): provider_templates(provider) for provider in loaded.providers}
    entries = {}
    for provider in loaded.providers:
        shared = templates[id(provider)].shared
        assert shared is not None
        for domain in provider.domains:
            values = domain_values(domain)
            entries[domain.name] = TemplateEntry(shared, values[DOMAIN], values[UNICODE], 0)
    store = Store(generation=Generation("gen-000001", "", entries))
    total = sum(len(provider.domains) for provider in loaded.providers)
    print(f"{total:,} domains in {len(loaded.providers)} providers, all with pacc = true")

    # reload: one provider of 1,000 domains renamed
    before = [(loaded.providers[0], templates[id(loaded.providers[0])])]
    after = [(edited.providers[0], provider_templates(edited.providers[0]))]
    seconds, changes = best(5, lambda: paccguard.digest_changes(before, after))
    print(f"reload: digest_changes of one edited provider: {seconds * 1000:.1f} ms, {len(changes.published):,} names")
    watcher = DnsWatcher(store)
    seconds, _ = best(5, lambda: watcher.applied(loaded, changes))
    print(f"reload: handing them to the watcher: {seconds * 1e6:.0f} us")

    # sweep start
    watcher._current = loaded
    seconds, names = best(3, lambda: sorted(watcher._published_names()))
    tracemalloc.start()
    schedule = Schedule(300, 86400)
    schedule.start_sweep(names, 0)
    held = tracemalloc.get_traced_memory()[0]
    print(f"sweep start: {seconds:.2f} s to list and sort {len(names):,} names; the list holds {held / 2**20:.2f} MiB")
    while isinstance(name := schedule.next(0), str):
        schedule.record(name, "stale" if hash(name) % 100 == 0 else "ok", 0)
    held = tracemalloc.get_traced_memory()[0]
    counts = schedule.counts()
    print(f"held after the first sweep: {counts.stale:,} stale, {held / 2**10:.0f} KiB")
    schedule.changed(changes.published)
    while isinstance(name := schedule.next(1), str):
        schedule.record(name, "stale", 1)
    held = tracemalloc.get_traced_memory()[0]
    stale = schedule.counts().stale
    print(f"held after an edit made {len(changes.published):,} stale: {stale:,} stale, {held / 2**10:.0f} KiB")
    tracemalloc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
