"""Tables fit the width: no number, percentage, code, heading or timestamp is cut or split.

Each output is rendered at 80 and 120 columns, and every value it must show (taken from
the JSON output or from the data, not from the table) must appear whole on one line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from tradecalc.core.money import percent
from tradecalc.render.duty import money
from tradecalc.schedule.models import format_when

from conftest import BUNDLED, MINI, Run, run_child

Cli = Callable[..., Run]
WIDTHS = [80, 120]
BUNDLED_DATA = ("--data", str(BUNDLED))


def assert_whole(text: str, tokens: Iterable[str]) -> None:
    """Each token is on one line, not glued to a neighbour's digits, and nothing is cut."""
    assert "…" not in text, text
    lines = text.splitlines()
    for token in set(tokens):
        pattern = re.compile(rf"(?<![\w.])(?<!\d,){re.escape(token)}(?![\w]|[.,]\d)")
        assert any(pattern.search(line) for line in lines), f"{token!r} split or missing:\n{text}"
    for line in lines:
        assert len(line.rstrip()) <= max(WIDTHS) or " " in line.strip(), line


def _duty_tokens(cli: Cli, args: tuple[str, ...]) -> list[str]:
    data = json.loads(cli(*args, "--format", "json").out)
    tokens = []
    for r in data["results"]:
        tokens += [r["regime"], *format_when_parts(r["as_of"])]
        for line in (*r["lines"], *r["fee_lines"], *r["tax_lines"]):
            tokens += [line["measure"], line["rate"], money_text(line["amount"])]
            tokens += [line["heading"]] if line["heading"] else []
        tokens += [money_text(r[k]) for k in ("duty", "total", "landed_cost")]
        tokens.append(percent_text(r["effective_rate"]))
    return tokens


def format_when_parts(text: str) -> list[str]:
    """A column heading shows a moment as its date and, below it, its time."""
    return text.split("T")


def money_text(text: str) -> str:
    from decimal import Decimal

    return money(Decimal(text))


def percent_text(text: str) -> str:
    from decimal import Decimal

    return percent(Decimal(text))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("code", ["9503.00.0073", "9999.99.9999", "7326.90.8688"])
def test_duty_table_never_splits_a_number(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, width: int, code: str
) -> None:
    args = ("duty", "1450", "--hs", code, *BUNDLED_DATA, "--no-hts")  # 9999.99.9999: unknown
    tokens = _duty_tokens(cli, args)
    monkeypatch.setenv("COLUMNS", str(width))
    run = cli(*args)
    table = run.out.split("\n† ")[0].split("\nneeds review")[0].split("\nnote:")[0]
    assert_whole(table, tokens)
    assert all(len(line.rstrip()) <= width for line in table.splitlines())


@pytest.mark.parametrize("width", WIDTHS)
def test_duty_stacks_regimes_only_when_they_do_not_fit(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    out = cli("duty", "1000", "--hs", "9503.00.0073", *BUNDLED_DATA).out
    tables = out.count(" Layer ")
    assert tables == (1 if width >= 120 else 2)
    assert out.count("HS 9503.00.0073") == 1  # the title once, over the first table


@pytest.mark.parametrize("columns", [None, "80", "120"])
def test_batch_summary_off_a_terminal_keeps_every_amount(
    tmp_path: Path, columns: str | None
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("hs,value\n9503.00.0073,123456789012.50\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = columns
    done = run_child(["batch", str(source), "-o", str(tmp_path / "o.csv"), *BUNDLED_DATA], env=env)
    assert done.returncode == 0, done.stderr
    duties = [
        money_text(line.split(",")[8])
        for line in (tmp_path / "o.csv").read_text(encoding="utf-8").splitlines()[1:]
    ]
    assert_whole(done.stderr, ["123,456,789,012.50", *duties])
    limit = int(columns) if columns else 160
    assert all(len(line) <= limit for line in done.stderr.splitlines())


@pytest.mark.parametrize("width", WIDTHS)
def test_rates_never_cuts_ids_or_sources(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, width: int, bundled: object
) -> None:
    from tradecalc.engine.timeline import timeline

    line = timeline(bundled.schedule, "9503.00.0073", "CN", "US", None)  # type: ignore[attr-defined]
    tokens = []
    for e in line.entries:
        tokens += [e.measure.id, format_when(e.start), *e.source, str(e.rate)]
        tokens += [format_when(e.end)] if e.end else []
        tokens += [e.heading] if e.heading else []
    monkeypatch.setenv("COLUMNS", str(width))
    run = cli("rates", "9503.00.0073", "--no-hts", *BUNDLED_DATA)
    assert_whole(run.out.split("\nTotal ad valorem")[0], tokens)


@pytest.mark.parametrize("width", WIDTHS)
def test_diff_never_splits_a_timestamp(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    changes = json.loads(cli("diff", "pre-geneva", "geneva", *BUNDLED_DATA, "--format", "json").out)
    stamps = re.findall(r"\d{4}-\d\d-\d\d(?:T\d\d:\d\d)?", json.dumps(changes))
    ids = [c["item"] for c in changes["changes"]]
    assert stamps and ids
    monkeypatch.setenv("COLUMNS", str(width))
    assert_whole(cli("diff", "pre-geneva", "geneva", *BUNDLED_DATA).out, [*stamps, *ids])


@pytest.mark.parametrize("width", WIDTHS)
def test_regimes_never_cuts_a_date_or_rate(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    data = json.loads(cli("regimes", "--format", "json", *BUNDLED_DATA).out)
    tokens = []
    for r in data["regimes"]:
        tokens += [r["id"], r["as_of"]]
        tokens += [percent_text(h["rate"]) for h in r["headline"]]
    monkeypatch.setenv("COLUMNS", str(width))
    assert_whole(cli("regimes", *BUNDLED_DATA).out, tokens)


@pytest.mark.parametrize("width", WIDTHS)
def test_mini_duty_with_explain_fits(cli: Cli, monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    args = ("duty", "1000", "--hs", "6110.11.0015", "--data", str(MINI))
    tokens = _duty_tokens(cli, args)
    monkeypatch.setenv("COLUMNS", str(width))
    out = cli(*args).out
    assert_whole(out.split("\nnote:")[0].split("\ndata ")[0], tokens)


def test_a_pinned_column_is_as_wide_as_the_console_draws_its_cells() -> None:
    """pinned() measures a no-wrap column's cells as the console draws them (markup read,
    emoji codes left as text: tradecalc's consoles draw no emoji), so text such as
    ``:ok:`` in a cell is never cut short."""
    import io

    from rich.console import Console
    from rich.table import Table

    from tradecalc.render.duty import pinned

    table = Table()
    table.add_column("Layer", no_wrap=True)
    table.add_row("[dim]9903.01.25[/dim] :ok: :thumbs_up:")
    console = Console(width=120, file=io.StringIO(), highlight=False, emoji=False)
    console.print("[dim]9903.01.25[/dim] :ok: :thumbs_up:")
    drawn = console.file.getvalue().strip()  # type: ignore[attr-defined]
    assert pinned(table).columns[0].min_width == len(drawn) == len("9903.01.25 :ok: :thumbs_up:")
