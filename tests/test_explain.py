"""``duty --explain``: rule, value base, heading, reporting order and citation of each layer."""

from __future__ import annotations

import json
from collections.abc import Callable

from conftest import MINI, Run
from snapshot import assert_snapshot

Cli = Callable[..., Run]
ARGS = ("duty", "1000", "--hs", "7326.90.8688", "--regime", "geneva", "--metal", "steel=40%")
DATA = ("--data", str(MINI))


def test_explain_footnotes_snapshot(cli: Cli) -> None:
    run = cli(*ARGS, "--explain", *DATA)
    assert run.code == 1  # the AD/CVD flag needs review
    assert_snapshot("explain.txt", run.out.replace(str(MINI), "mini.yaml"))


def test_explain_lines_name_base_heading_order_and_citation(cli: Cli) -> None:
    out = cli(*ARGS, "--explain", *DATA).out
    assert (
        "  + 3/4 us-232-steel (section-232) 9903.81.91: 50% on metal content 400.00 = 200.00" in out
    )
    assert "      rule: in scope 7326; period 2025-03-12 to open; rate 50%" in out
    assert "      cites: Test fixture" in out
    assert (
        "  - us-recip: all goods; period 2025-05-14 to 2025-06-04; rate 10%; "
        "displaced by us-232-steel" in out
    )
    assert "  - us-232-autos: code not in scope" in out


def test_explain_json(cli: Cli) -> None:
    run = cli(*ARGS, "--explain", "--format", "json", *DATA)
    explain = json.loads(run.out)["results"][0]["explain"]
    steel = next(e for e in explain if e["measure"] == "us-232-steel")
    assert steel == {
        "measure": "us-232-steel",
        "applied": True,
        "reason": "in scope 7326; period 2025-03-12 to open; rate 50%",
        "reporting_order": 3,
        "group": "section-232",
        "heading": "9903.81.91",
        "rate": "50%",
        "base_rule": "metal",
        "base": "400.00",
        "amount": "200.00",
        "citations": [{"id": "fx", "title": "Test fixture", "url": None}],
    }
    assert [e["reporting_order"] for e in explain[:4]] == [1, 2, 3, 4]
    recip = next(e for e in explain if e["measure"] == "us-recip")
    assert recip["applied"] is False
    assert recip["reason"].endswith("displaced by us-232-steel")


def test_no_explain_key_without_the_flag(cli: Cli) -> None:
    run = cli(*ARGS, "--format", "json", *DATA)
    assert "explain" not in json.loads(run.out)["results"][0]
