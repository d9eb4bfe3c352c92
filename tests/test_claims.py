"""Claims (``--claim ID``): each claim with and without, its window's edges, the review that
names it, every output format, and the US measures added after July 2026 at their dates."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import BUNDLED, Run

Cli = Callable[..., Run]

US_CN = ("--origin", "CN", "--dest", "US")


def _result(cli: Cli, code: str, date: str, *args: str, rc: int | None = None) -> dict[str, Any]:
    """The one JSON result of ``duty 1000 --hs CODE --date DATE ARGS``."""
    run = cli("duty", "1000", "--hs", code, "--date", date, "--format", "json", *args)
    if rc is not None:
        assert run.code == rc, run.err
    results: list[dict[str, Any]] = json.loads(run.out)["results"]
    assert len(results) == 1
    return results[0]


def _measures(result: dict[str, Any]) -> set[str]:
    return {line["measure"] for line in result["lines"]}


# (claim, code, date, measure it takes off, heading reported, extra args)
REMOVES = [
    ("not-vehicle-part", "8507.60.0020", "2026-09-01", "us-232-auto-parts", "9903.94.06", US_CN),
    ("civil-aircraft", "8411.11.4000", "2026-03-02", "us-section-122", "9903.03.05", US_CN),
    ("civil-aircraft", "8411.11.4000", "2026-08-03", "us-301-forced-labour", "9903.05.88", US_CN),
    ("in-transit", "9503.00.0073", "2026-02-27", "us-section-122", "9903.03.02", US_CN),
    ("in-transit", "9503.00.0073", "2026-07-24", "us-301-forced-labour", "9903.05.85", US_CN),
    ("donation", "9503.00.0073", "2026-03-02", "us-section-122", "9903.03.10", US_CN),
    ("donation", "9503.00.0073", "2026-08-03", "us-301-forced-labour", "9903.05.91", US_CN),
    ("information-materials", "4901.99.0093", "2026-03-02", "us-section-122", "9903.03.11", US_CN),
    (
        "information-materials",
        "4901.99.0093",
        "2026-08-03",
        "us-301-forced-labour",
        "9903.05.92",
        US_CN,
    ),
    ("particular-articles-122", "0805.90.0100", "2026-03-02", "us-section-122", "9903.03.04", ()),
    ("fl301-hts-list", "9503.00.0073", "2026-08-03", "us-301-forced-labour", "9903.05.86", ()),
    (
        "fl301-particular-articles",
        "9503.00.0073",
        "2026-08-03",
        "us-301-forced-labour",
        "9903.05.87",
        (),
    ),
    ("pharmaceutical-use", "9018.90.8000", "2026-08-03", "us-301-forced-labour", "9903.05.89", ()),
    ("s301-exclusion", "4202.92.3131", "2026-08-03", "us-301-list3", "9903.88.69", ()),
    ("s301-machinery-exclusion", "4202.92.3131", "2026-08-03", "us-301-list3", "9903.88.70", ()),
    (
        "cn-market-exclusion",
        "1201.90.1100",
        "2025-12-01",
        "cn-counter-2018-301-25",
        None,
        ("--dest", "CN"),
    ),
]


@pytest.mark.parametrize(
    ("claim", "code", "date", "measure", "heading", "extra"),
    REMOVES,
    ids=[f"{c[0]}-{c[2]}" for c in REMOVES],
)
def test_claim_takes_the_measure_off(
    cli: Cli,
    claim: str,
    code: str,
    date: str,
    measure: str,
    heading: str | None,
    extra: tuple[str, ...],
) -> None:
    without = _result(cli, code, date, *extra)
    assert measure in _measures(without)
    offered = f"{claim} ({heading})" if heading else claim
    assert offered in without["claimable"]
    assert without["claims"] == []
    with_claim = _result(cli, code, date, *extra, "--claim", claim)
    assert measure not in _measures(with_claim)
    assert any(text.startswith(f"{claim}: ") for text in with_claim["claims"])
    if heading:
        assert any(f"(report {heading})" in text for text in with_claim["claims"])
    assert claim not in " ".join(with_claim["claimable"])
    assert with_claim["duty"] != without["duty"]


@pytest.mark.parametrize(
    ("claim", "code", "date", "extra"),
    [
        ("not-vehicle-part", "8507.60.0020", "2026-09-01", ()),
        ("in-transit", "9503.00.0073", "2026-02-24", ()),
        ("in-transit", "9503.00.0073", "2026-07-27", ()),
        ("patented-pharmaceutical", "3004.90.9206", "2026-08-03", ()),
        ("cn-market-exclusion", "1201.90.1100", "2025-12-01", ("--dest", "CN")),
    ],
)
def test_a_fact_the_law_turns_on_needs_review_naming_the_claim(
    cli: Cli, claim: str, code: str, date: str, extra: tuple[str, ...]
) -> None:
    without = _result(cli, code, date, *extra, rc=1)
    assert without["status"] == "needs_review"
    assert any(f"--claim {claim}" in item and "(claim)" in item for item in without["review"])
    with_claim = _result(cli, code, date, *extra, "--claim", claim, rc=0)
    assert with_claim["review"] == []


@pytest.mark.parametrize(
    ("claim", "date", "measure"),
    [
        ("in-transit", "2026-02-24", "us-section-122"),
        ("in-transit", "2026-02-27", "us-section-122"),
        ("in-transit", "2026-07-24", "us-301-forced-labour"),
        ("in-transit", "2026-07-27", "us-301-forced-labour"),
    ],
)
def test_in_transit_window_first_and_last_day(
    cli: Cli, claim: str, date: str, measure: str
) -> None:
    assert measure not in _measures(_result(cli, "9503.00.0073", date, "--claim", claim))


@pytest.mark.parametrize(
    ("date", "measure"), [("2026-02-28", "us-section-122"), ("2026-07-28", "us-301-forced-labour")]
)
def test_in_transit_window_closed_day_after(cli: Cli, date: str, measure: str) -> None:
    without = _result(cli, "9503.00.0073", date, rc=0)
    assert not any("in-transit" in item for item in without["review"])
    assert not any(item.startswith("in-transit") for item in without["claimable"])
    claimed = _result(cli, "9503.00.0073", date, "--claim", "in-transit")
    assert measure in _measures(claimed)
    assert claimed["claims"] == []
    assert any("claim in-transit counts for" in note for note in claimed["notes"])


def test_named_regime_is_not_asked_about_in_transit(cli: Cli) -> None:
    run = cli("duty", "1000", "--hs", "9503.00.0073", "--regime", "forced-labour-301")
    assert run.code == 0
    assert "in-transit (9903.05.85)" in run.out


def test_s301_exclusion_ends_on_10_november_2026(cli: Cli) -> None:
    last = _result(cli, "4202.92.3131", "2026-11-09", "--claim", "s301-exclusion")
    after = _result(cli, "4202.92.3131", "2026-11-10", "--claim", "s301-exclusion")
    assert "us-301-list3" not in _measures(last)
    assert "us-301-list3" in _measures(after)


def test_us_content_charges_the_reciprocal_on_the_rest(cli: Cli) -> None:
    result = _result(cli, "9503.00.0073", "2025-06-01", "--claim", "us-content=30%")
    line = next(x for x in result["lines"] if x["measure"] == "us-ieepa-reciprocal")
    assert (line["base"], line["amount"]) == ("700.00", "70.00")
    assert "us-content: IEEPA reciprocal duty charged on the value less 30%" in result["claims"][0]
    below = _result(cli, "9503.00.0073", "2025-06-01", "--claim", "us-content=10%")
    line = next(x for x in below["lines"] if x["measure"] == "us-ieepa-reciprocal")
    assert line["base"] == "1000.00" and below["claims"] == []
    assert any("below the 20%" in note for note in below["notes"])


def test_a_claim_that_changes_nothing_says_so(cli: Cli) -> None:
    result = _result(cli, "9503.00.0073", "2025-06-01", "--claim", "donation", rc=0)
    assert result["claims"] == []
    assert any(note.startswith("claim donation changes nothing") for note in result["notes"])
    outside = _result(cli, "9503.00.0073", "2026-08-03", "--claim", "civil-aircraft")
    assert "us-301-forced-labour" in _measures(outside)
    assert any("claim civil-aircraft does not cover" in note for note in outside["notes"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--claim", "nope"), "unknown claim 'nope'; claims for imports into US: civil-aircraft"),
        (("--claim", "us-content"), "claim us-content needs the share it claims"),
        (("--claim", "donation=5%"), "claim donation takes no share"),
        (("--claim", "Bad Id!"), "is not a claim id"),
        (("--claim", "us-content=30"), "give the share as a percentage"),
        (("--claim", "us-content=130%"), "a share cannot exceed 100%"),
    ],
)
def test_bad_claims_are_one_line_usage_errors(
    cli: Cli, args: tuple[str, ...], message: str
) -> None:
    run = cli("duty", "1000", "--hs", "9503.00.0073", "--date", "2026-08-03", *args)
    assert run.code == 2
    assert run.out == ""
    assert run.err.count("\n") == 1 and message in run.err


# ----------------------------------------------------------------------------- formats


def test_table_shows_claims_applied_and_claimable(cli: Cli) -> None:
    args = ("duty", "1000", "--hs", "8507.60.0020", "--date", "2026-09-01")
    run = cli(*args, "--claim", "not-vehicle-part")
    assert run.code == 0
    assert "claim applied [2026-09-01]: not-vehicle-part:" in run.out
    assert "claims that would change this [2026-09-01]: " in run.out
    plain = cli(*args)
    assert "claims that would change this [2026-09-01]: not-vehicle-part (9903.94.06)" in plain.out


def test_json_lists_the_declared_claims(cli: Cli) -> None:
    run = cli(
        "duty", "1000", "--hs", "9503.00.0073", "--date", "2025-06-01", "--format", "json",
        "--claim", "us-content=30%", "--claim", "donation",
    )  # fmt: skip
    assert json.loads(run.out)["shipment"]["claims"] == ["donation", "us-content=30%"]


def test_csv_carries_the_claim_columns(cli: Cli) -> None:
    run = cli(
        "duty", "1000", "--hs", "8507.60.0020", "--date", "2026-09-01", "--format", "csv",
        "--claim", "not-vehicle-part",
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert all(row["claims"].startswith("not-vehicle-part: ") for row in rows)
    assert all("donation (9903.05.91)" in row["claimable"] for row in rows)


def test_batch_claims_column(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "hs,value,date,claims\n"
        "8507.60.0020,1000,2026-09-01,not-vehicle-part\n"
        "8507.60.0020,1000,2026-09-01,\n"
        "9503.00.0073,1000,2026-07-24,donation; in-transit\n"
        "9503.00.0073,1000,2026-08-03,bogus\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    run = cli("batch", str(source), "-o", str(out))
    assert run.code == 1
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [row["row"] for row in rows] == ["1", "2", "3"]
    assert rows[0]["status"] == "ok" and rows[0]["claims"].startswith("not-vehicle-part: ")
    assert rows[0]["duty"] == "409.00"
    assert rows[1]["status"] == "needs_review" and "--claim not-vehicle-part" in rows[1]["review"]
    assert rows[1]["claimable"] == "not-vehicle-part (9903.94.06)"
    assert rows[2]["claims"].startswith("donation: ") and rows[2]["status"] == "ok"
    assert "row 4: unknown claim 'bogus'" in run.err


def test_stdin_claims_field(cli: Cli) -> None:
    lines = (
        '{"hs": "8507.60.0020", "value": "1000", "date": "2026-09-01", '
        '"claims": ["not-vehicle-part"]}\n'
        '{"hs": "8507.60.0020", "value": "1000", "date": "2026-09-01", '
        '"claims": "not-vehicle-part;donation"}\n'
        '{"hs": "8507.60.0020", "value": "1000", "date": "2026-09-01", "claims": "nope"}\n'
    )
    run = cli("duty", "--stdin", stdin=lines)
    answers = [json.loads(line) for line in run.out.splitlines()]
    first = answers[0]["results"][0]
    assert first["claims"][0].startswith("not-vehicle-part: ")
    second = answers[1]["results"][0]
    assert {c.split(":")[0] for c in second["claims"]} == {"not-vehicle-part", "donation"}
    assert "unknown claim 'nope'" in answers[2]["error"]
    assert cli("duty", "--stdin", "--claim", "donation", stdin="").code == 2


# ----------------------------------------------------------------------------- new measures


@pytest.mark.parametrize(("code", "rate"), [("8806.22.0000", "25%"), ("8806.24.0000", "100%")])
def test_drones_232_from_3_september_2026(cli: Cli, code: str, rate: str) -> None:
    before = _result(cli, code, "2026-09-02")
    assert "us-232-drones" not in _measures(before)
    assert "us-301-forced-labour" in _measures(before)
    on = _result(cli, code, "2026-09-03")
    line = next(x for x in on["lines"] if x["measure"] == "us-232-drones")
    assert line["rate"] == rate and line["heading"] == "9903.08.22"
    assert "us-301-forced-labour" not in _measures(on)  # displaced: 9903.05.90


def test_patented_pharmaceuticals_from_31_july_2026(cli: Cli) -> None:
    before = _result(cli, "3004.90.9206", "2026-07-30", "--claim", "patented-pharmaceutical")
    assert "us-232-pharma-patented" not in _measures(before)
    assert any("claim patented-pharmaceutical changes nothing" in n for n in before["notes"])
    on = _result(cli, "3004.90.9206", "2026-07-31", "--claim", "patented-pharmaceutical")
    line = next(x for x in on["lines"] if x["measure"] == "us-232-pharma-patented")
    assert (line["heading"], line["amount"]) == ("9903.04.60", "1000.00")
    assert "us-301-forced-labour" not in _measures(on)
    assert "us-232-pharma-patented" not in _measures(_result(cli, "3004.90.9206", "2026-07-31"))


@pytest.mark.parametrize(
    ("date", "value", "mpf"),
    [
        ("2026-09-30", "100", "33.58"),
        ("2026-10-01", "100", "34.58"),
        ("2026-09-30", "1000000", "651.50"),
        ("2026-10-01", "1000000", "670.86"),
    ],
)
def test_mpf_fiscal_2027(cli: Cli, date: str, value: str, mpf: str) -> None:
    run = cli("duty", value, "--hs", "9503.00.0073", "--date", date, "--format", "json")
    result = json.loads(run.out)["results"][0]
    fee = next(x for x in result["fee_lines"] if x["measure"] == "us-mpf")
    assert fee["amount"] == mpf
    if date >= "2026-10-01":
        assert any(n.startswith("unconfirmed: us-mpf: FY2027") for n in result["notes"])


# ----------------------------------------------------------------------------- data checks


def test_validate_names_a_claim_on_an_unknown_measure(cli: Cli, tmp_path: Path) -> None:
    shutil.copytree(BUNDLED.parent, tmp_path / "data")
    part = tmp_path / "data" / "schedule" / "claims.yaml"
    text = part.read_text(encoding="utf-8")
    old = '- {measure: us-section-122, heading: "9903.03.10"'
    broken = text.replace(old, '- {measure: us-nothing, heading: "9903.03.10"', 1)
    assert broken != text
    part.write_text(broken, encoding="utf-8")
    run = cli("validate", str(tmp_path / "data" / "rates.yaml"))
    assert run.code == 1
    assert "claim 'donation' names unknown measure 'us-nothing'" in run.out
