"""``tradecalc impact`` fits 80 and 120 columns: no figure, date or time is cut or split.

Only the regime column may wrap (an id is one word); every figure the JSON output gives is
checked on one line of the table, rendered as the table renders it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import BUNDLED, Run

Cli = Callable[..., Run]
ROWS = (("9503.00.0073", "123456789"), ("8517.13.0000", "234567890"), ("7326.90.8688", "98765"))
CHOICES = {
    "every regime": (),
    "a regime, a dated column and the breakdowns": (
        "--regime",
        "forced-labour-301",
        "--date",
        "2025-05-14T12:01",
        "--by",
        "chapter",
        "--top",
        "2",
    ),
}


def _whole(text: str, tokens: Iterable[str]) -> None:
    assert "…" not in text, text
    lines = text.splitlines()
    for token in set(tokens):
        # whole: no digit, sign or separator glued on; a date may go on with its time (T)
        before, after = r"(?:(?<![\w.,+-])|(?<=\dT))", r"(?:(?![\w]|[.,]\d)|(?=T\d))"
        pattern = re.compile(before + re.escape(token) + after)
        assert any(pattern.search(line) for line in lines), f"{token!r} split or missing:\n{text}"


def _tokens(record: dict[str, str]) -> list[str]:
    """What the table shows of one regime, from the JSON record (amounts under 10^9: units)."""
    amounts = [f"{Decimal(record[k]):,.0f}" for k in ("customs_value", "duty", "review_value")]
    rate = f"{Decimal(record['average_rate']) * 100:.2f}%"
    change = f"{Decimal(record['increment']) * 100:+.2f}"
    return [*amounts, rate, change, *record["as_of"].split("T")]


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("choice", list(CHOICES))
def test_impact_table_never_cuts_a_figure(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, width: int, choice: str
) -> None:
    basket = tmp_path / "basket.csv"
    basket.write_text("hs,value\n" + "".join(f"{c},{v}\n" for c, v in ROWS), encoding="utf-8")
    args = ("impact", str(basket), "--data", str(BUNDLED), "--no-hts", *CHOICES[choice])
    report = json.loads(cli(*args, "--format", "json").out)
    monkeypatch.setenv("COLUMNS", str(width))
    out = cli(*args).out
    assert all(len(line.rstrip()) <= width for line in out.splitlines()), out
    _whole(out, [t for record in report["results"] for t in _tokens(record)])
    if width >= 120:  # room for the table with every id and moment on one line
        assert "┃ regime" in out
        _whole(
            out, [r["regime"] for r in report["results"]] + [r["as_of"] for r in report["results"]]
        )
