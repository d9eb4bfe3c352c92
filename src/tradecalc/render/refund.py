"""Turn a refund or audit report into JSON, CSV or a Rich table. Reads results, computes nothing."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from itertools import islice
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from tradecalc.analysis.refund import NOTICE, ROUTES, EntryResult, Report
from tradecalc.core.status import status

ENTRY_COLUMNS = (
    "entry_number",
    "route",
    "ieepa_paid",
    "ieepa_expected",
    "section_122_paid",
    "interest",
    "deadline",
    "deadline_kind",
    "deviations",
    "status",
    "review",
)
AUDIT_COLUMNS = ("entry_number", "line", "hts", "kind", "heading", "filed", "expected", "detail")


def entry_status(entry: EntryResult) -> tuple[str, list[str]]:
    """``ok`` or ``needs_review``, with the reasons (lines the engine could not price, etc.)."""
    reasons = [f"line {line.line}: {why}" for line in entry.lines.values() for why in line.review]
    if not entry.valid_number:
        reasons.insert(0, "entry number is not a 3-character filer code and 8 digits")
    return status(reasons), reasons


def _deviations(entry: EntryResult) -> list[str]:
    return [f"line {line.line}: {d}" for line in entry.lines.values() for d in line.deviations()]


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _entry_dict(report: Report, entry: EntryResult) -> dict[str, Any]:
    status, reasons = entry_status(entry)
    return {
        "entry_number": entry.entry_number,
        "route": entry.route,
        "ieepa_paid": _money(report.ieepa_paid(entry)),
        "ieepa_expected": _money(report.ieepa_expected(entry)),
        "section_122_paid": _money(report.section_122_paid(entry)),
        "interest": _money(entry.interest),
        "deadline": entry.deadline.isoformat() if entry.deadline else None,
        "deadline_kind": entry.deadline_kind or None,
        "status": status,
        "review": reasons,
        "lines": [
            {
                "line": line.line,
                "hts": line.hts,
                "value": _money(line.value),
                "filed": {h: _money(a) for h, a in sorted(line.filed.items())},
                "expected": {h: _money(a) for h, a in sorted(line.expected.items())},
                "deviations": [str(d) for d in line.deviations()],
                "review": list(line.review),
            }
            for line in entry.lines.values()
        ],
    }


def report_json(report: Report, version: str, sha256: str) -> str:
    """The JSON contract of ``tradecalc refund --format json``."""
    return "".join(report_json_chunks(report, version, sha256))


def report_json_chunks(report: Report, version: str, sha256: str) -> Iterator[str]:
    """:func:`report_json` in pieces, one entry at a time (the document is never whole)."""
    yield '{\n  "as_of": ' + json.dumps(report.as_of.isoformat()) + ',\n  "entries": ['
    for number, entry in enumerate(report.entries):
        text = json.dumps(_entry_dict(report, entry), indent=2, ensure_ascii=False)
        yield ("," if number else "") + "\n" + textwrap.indent(text, "    ")
    yield "\n  ],\n" if report.entries else "],\n"
    totals = {key: _money(value) for key, value in report.totals().items()}
    routes = report.summary.routes
    rest = {
        "totals": {
            **totals,
            "entries": len(report.entries),
            "routes": {r: routes[r].entries for r in ROUTES},
        },
        "cape_files": report.cape_files,
        "bad_rows": [{"row": row, "error": message} for row, message in report.bad_rows],
        "invalid_entry_numbers": list(report.bad_numbers),
        "interest_note": report.interest_note,
        "notice": NOTICE,
        "data_version": version,
        "data_sha256": sha256,
    }
    yield json.dumps(rest, indent=2, ensure_ascii=False)[2:] + "\n"  # without its "{\n"


def report_csv(report: Report, version: str, sha256: str) -> str:
    """One row per entry, with the data version on every row."""
    return "".join(report_csv_chunks(report, version, sha256))


def report_csv_chunks(report: Report, version: str, sha256: str) -> Iterator[str]:
    """:func:`report_csv` a row at a time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")

    def flush() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    writer.writerow((*ENTRY_COLUMNS, "data_version", "data_sha256"))
    yield flush()
    for entry in report.entries:
        row = _entry_dict(report, entry)
        writer.writerow(
            (
                *(row[c] or "" for c in ENTRY_COLUMNS[:8]),
                "; ".join(_deviations(entry)),
                row["status"],
                "; ".join(row["review"]),
                version,
                sha256,
            )
        )
        yield flush()


def report_table(report: Report) -> Group:
    """A summary per route, then every entry with a deadline in the next 30 days."""
    totals = report.totals()
    routes = Table(title=f"IEEPA refunds as of {report.as_of}", title_justify="left")
    for name in ("route", "entries", "IEEPA paid", "IEEPA expected", "interest (est.)"):
        routes.add_column(name, justify="left" if name == "route" else "right", no_wrap=True)
    for route in ROUTES:
        sums = report.summary.routes[route]
        if not sums.entries:
            continue
        routes.add_row(
            route,
            f"{sums.entries:,}",
            f"{sums.ieepa_paid:,.2f}",
            f"{sums.ieepa_expected:,.2f}",
            f"{sums.interest:,.2f}",
        )
    routes.add_row(
        Text("total", style="bold"),
        f"{len(report.entries):,}",
        f"{totals['ieepa_paid']:,.2f}",
        f"{totals['ieepa_expected']:,.2f}",
        f"{totals['interest']:,.2f}",
    )
    parts: list[Any] = [routes]
    urgent = list(islice(report.entries, report.summary.urgent))  # they come first
    if urgent:
        soon = Table(title="Deadlines within 30 days", title_justify="left")
        for name in ("entry", "route", "deadline", "kind", "IEEPA paid"):
            soon.add_column(name, no_wrap=True, justify="right" if name == "IEEPA paid" else "left")
        for entry in urgent:
            soon.add_row(
                entry.entry_number,
                entry.route,
                str(entry.deadline),
                entry.deadline_kind,
                f"{report.ieepa_paid(entry):,.2f}",
            )
        parts.append(soon)
    lines = [
        f"Section 122 paid (a contingent refund while its litigation is open): "
        f"{totals['section_122_paid']:,.2f}"
    ]
    flagged = report.summary.flagged
    if flagged:
        lines.append(
            f"{flagged:,} entries have lines that differ from the expected duty "
            "(see tradecalc audit)"
        )
    if report.summary.invalid:
        lines.append(f"{report.summary.invalid:,} entry numbers are malformed and not filed")
    if report.bad_rows:
        lines.append(
            f"{len(report.bad_rows):,} rows could not be read (first: row "
            f"{report.bad_rows[0][0]}: {report.bad_rows[0][1]})"
        )
    if report.interest_note:
        lines.append(report.interest_note)
    lines.append(NOTICE)
    parts.append(Text("\n".join(lines)))
    return Group(*parts)


def audit_rows(report: Report) -> Iterator[dict[str, str]]:
    """Every deviation of every line (missing, extra, wrong period, amount off), streamed."""
    for entry in report.entries:
        for line in entry.lines.values():
            for found in line.deviations():
                yield {
                    "entry_number": entry.entry_number,
                    "line": line.line,
                    "hts": line.hts,
                    "kind": found.kind,
                    "heading": found.heading,
                    "filed": _money(found.filed) if found.filed is not None else "",
                    "expected": _money(found.expected) if found.expected is not None else "",
                    "detail": "; ".join(line.review),
                }


def audit_csv(report: Report) -> str:
    """``tradecalc audit --format csv``."""
    return "".join(audit_csv_chunks(report))


def audit_csv_chunks(report: Report) -> Iterator[str]:
    """:func:`audit_csv` a row at a time."""
    yield ",".join(AUDIT_COLUMNS) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, AUDIT_COLUMNS, lineterminator="\n")
    for row in audit_rows(report):
        writer.writerow(row)
        yield out.getvalue()
        out.seek(0)
        out.truncate()


def audit_json(report: Report, version: str, sha256: str) -> str:
    """``tradecalc audit --format json``: the deviations and their count by kind."""
    return "".join(audit_json_chunks(report, version, sha256))


def audit_json_chunks(report: Report, version: str, sha256: str) -> Iterator[str]:
    """:func:`audit_json` in pieces, one deviation at a time (the document is never whole)."""
    kinds: Counter[str] = Counter()
    yield '{\n  "deviations": ['
    for number, row in enumerate(audit_rows(report)):
        kinds[row["kind"]] += 1
        text = json.dumps(row, indent=2, ensure_ascii=False)
        yield ("," if number else "") + "\n" + textwrap.indent(text, "    ")
    yield "\n  ],\n" if kinds else "],\n"
    rest = {
        "by_kind": dict(sorted(kinds.items())),
        "lines": report.summary.lines,
        "notice": NOTICE,
        "data_version": version,
        "data_sha256": sha256,
    }
    yield json.dumps(rest, indent=2, ensure_ascii=False)[2:] + "\n"  # without its "{\n"


def audit_table(report: Report) -> Group:
    """Deviations by kind, then each one."""
    rows = list(audit_rows(report))
    table = Table(
        title=f"Chapter 99 lines filed vs expected: {len(rows):,} deviations", title_justify="left"
    )
    for name in AUDIT_COLUMNS[:7]:
        table.add_column(
            name, no_wrap=True, justify="right" if name in ("filed", "expected") else "left"
        )
    for row in rows:
        table.add_row(*(row[c] for c in AUDIT_COLUMNS[:7]))
    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(Counter(r["kind"] for r in rows).items()))
    return Group(table, Text(f"{kinds or 'no deviations'}\n{NOTICE}"))
