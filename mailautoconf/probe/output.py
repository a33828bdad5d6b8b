"""The report for people (a rich table, colour only on a terminal) and for scripts (``--json``)."""

from __future__ import annotations

import json
from typing import IO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mailautoconf.probe.report import FamilyResult
from mailautoconf.probe.report import ProbeReport
from mailautoconf.probe.report import Step
from mailautoconf.probe.report import Verdict
from mailautoconf.probe.report import as_json

__all__ = ["console", "print_json", "print_report"]

_STYLE = {"ok": "green", "fail": "bold red", "absent": "dim", "warn": "yellow", "skip": "dim"}


def console(file: IO[str]) -> Console:
    """A console that colours only a terminal (rich decides; NO_COLOR is honoured); lines outside tables unwrapped."""
    return Console(file=file, highlight=False, soft_wrap=True, width=None if file.isatty() else 160)


def _plain(text: str) -> str:
    """Printable text only, markup escaped: what a server sent must not drive the terminal or rich."""
    return escape("".join(char if char.isprintable() or char == "\n" else "?" for char in text))


def _details(step: Step) -> str:
    parts = []
    exchange = step.exchange
    for answer in step.dns:
        parts.append(answer.words())
    if exchange is not None:
        if exchange.tls is not None:
            parts.append("TLS: " + exchange.tls.words())
        if not exchange.error:
            parts.append("HTTP: " + exchange.words())
    return "\n".join(parts)


def _family_line(result: FamilyResult) -> str:
    if result.status == "ok":
        return f"{', '.join(map(str, result.servers))}\nvia {result.via}"
    return result.summary


def print_report(report: ProbeReport, out: Console, *, steps: bool = True) -> None:
    out.print(
        f"[bold]probe {_plain(report.address)}[/bold] ({report.domain}): {report.seconds:.2f} s, "
        f"slowest request {report.slowest:.2f} s"
    )
    table = Table(title="Client families", show_lines=False, expand=False)
    table.add_column("family")
    table.add_column("result")
    table.add_column("servers / why")
    for result in report.families:
        style = _STYLE[result.status]
        table.add_row(_plain(result.title), f"[{style}]{result.status}[/{style}]", _plain(_family_line(result)))
    out.print(table)
    if steps:
        detail = Table(title="Steps, in each client's order", show_lines=True)
        detail.add_column("family")
        detail.add_column("step")
        detail.add_column("verdict")
        detail.add_column("reason")
        detail.add_column("DNS / TLS / HTTP")
        for result in report.families:
            for step in result.steps:
                style = _STYLE[step.verdict.value]
                mark = " (used)" if step.used else ""
                detail.add_row(
                    _plain(result.family),
                    _plain(step.label),
                    f"[{style}]{step.verdict.value}{mark}[/{style}]",
                    _plain(step.reason),
                    _plain(_details(step)),
                )
        out.print(detail)
    for result in report.families:
        for note in result.notes:
            out.print(f"[yellow]note[/yellow] {_plain(result.title)}: {_plain(note)}")
    if report.disagreements:
        out.print("[bold]Disagreements between paths[/bold]")
        for line in report.disagreements:
            out.print(f"  - {_plain(line)}")
    if report.fixes:
        out.print("[bold]Fix first[/bold] (most users helped first)")
        for number, fix in enumerate(report.fixes, 1):
            kind = "" if fix.blocking else " [dim](degrades, does not block)[/dim]"
            out.print(f"  {number}. {_plain(fix.fix)} [dim]helps {', '.join(fix.families)}[/dim]{kind}")
    failing = [result.title for result in report.families if result.status == "fail"]
    if not failing:
        out.print("[green]all selected families configure[/green]")
    else:
        noun = "family fails" if len(failing) == 1 else "families fail"
        out.print(f"[bold red]{len(failing)} {noun}:[/bold red] {_plain('; '.join(failing))}")


def print_json(report: ProbeReport, file: IO[str]) -> None:
    json.dump(as_json(report), file, indent=1, ensure_ascii=False)
    file.write("\n")


def failed_steps(report: ProbeReport) -> list[tuple[str, Step]]:
    return [(r.family, s) for r in report.families for s in r.steps if s.verdict is Verdict.FAIL]
