"""The engine at the edges of what it accepts: extreme dates, money bounds, country pairs."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from conftest import MINI, Run

Cli = Callable[..., Run]
DATA = ("--data", str(MINI))
DIRECTIONS = {"CN->US": ("--hs", "6110.11.0015"), "US->CN": ("--hs", "8542.31", "--dest", "CN")}
EXTREME_DATES = ("0001-01-01", "0001-01-01T00:01", "9999-12-31", "9999-12-31T23:59")


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
@pytest.mark.parametrize("when", EXTREME_DATES)
@pytest.mark.parametrize("output", ["table", "json", "csv"])
def test_extreme_dates_compute(cli: Cli, direction: str, when: str, output: str) -> None:
    """Every date the grammar accepts computes (needs review at most), in every format."""
    run = cli("duty", "1000", *DIRECTIONS[direction], "--date", when, "--format", output, *DATA)
    assert run.code in (0, 1), run.err
    assert "internal error" not in run.err
    if output == "json":
        (result,) = json.loads(run.out)["results"]
        assert result["as_of"] == when


@pytest.mark.parametrize("when", EXTREME_DATES)
def test_extreme_dates_in_a_stream(cli: Cli, when: str) -> None:
    """A far-future row is answered and does not stop the rows after it."""
    rows = [
        {"hs": "6110.11.0015", "value": "1000", "date": when},
        {"hs": "6110.11.0015", "value": "1000", "date": "2025-06-01"},
    ]
    run = cli("duty", "--stdin", *DATA, stdin="".join(json.dumps(r) + "\n" for r in rows))
    answers = [json.loads(line) for line in run.out.splitlines()]
    assert [a["line"] for a in answers] == [1, 2]
    assert all("results" in a for a in answers), answers
