"""Low-value shipments (``--entry``, ``--items``): de minimis, the postal duty and informal
entry at every effective date (day before, day of), in ``duty``, ``batch`` and ``--stdin``,
with the needs-review case and the usage errors.

Expected amounts are worked out here from the figures of ``parties.US.low_value`` as
published (the rates and per-item amounts below), not read back from the engine; an informal
entry is checked against the same shipment entered formally.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from conftest import BUNDLED, Run

Cli = Callable[..., Run]

CODE = "6109.10.0012"  # cotton T-shirts: MFN 16.5%, Section 301 list 4A 7.5%
CENT = Decimal("0.01")


def _json(cli: Cli, value: str, *args: str, rc: int | None = None) -> dict[str, Any]:
    run = cli("duty", value, "--hs", CODE, "--format", "json", *args)
    if rc is not None:
        assert run.code == rc, run.err
    data: dict[str, Any] = json.loads(run.out)
    return data


def _one(cli: Cli, value: str, date: str, *args: str, rc: int | None = None) -> dict[str, Any]:
    results: list[dict[str, Any]] = _json(cli, value, "--date", date, *args, rc=rc)["results"]
    assert len(results) == 1
    return results[0]


def _sum(lines: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(x["amount"]) for x in lines), Decimal(0))


def _money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


# ----------------------------------------------------------------------------- postal

# (date, what a postal item of China pays): a rate of its value, "de-minimis", "informal"
# (all duties on an informal entry) or "review" (no postal rule known: all duties, review)
POSTAL = [
    ("2025-02-03", "de-minimis"),
    ("2025-02-04", "review"),  # EO 14195: de minimis suspended, no postal duty yet
    ("2025-02-06", "review"),
    ("2025-02-07", "de-minimis"),  # ACE resumed de minimis clearances (EO 14200)
    ("2025-05-01", "de-minimis"),
    ("2025-05-02", "120%"),  # EO 14256 as amended
    ("2025-05-13", "120%"),
    ("2025-05-14", "54%"),  # EO 14298 (Geneva)
    ("2025-08-28", "54%"),
    ("2025-08-29", "30%"),  # EO 14324
    ("2025-11-09", "30%"),
    ("2025-11-10", "20%"),
    ("2026-02-23", "20%"),
    ("2026-02-24", "10%"),  # EO 14388: follows the Section 122 surcharge
    ("2026-07-23", "10%"),
    ("2026-07-24", "informal"),  # postal informal entry, all duties
    ("2026-12-02", "informal"),
]


@pytest.mark.parametrize(("date", "expected"), POSTAL)
@pytest.mark.parametrize("value", ["100", "800"])
def test_postal_item_at_every_date(cli: Cli, date: str, expected: str, value: str) -> None:
    rc = {"review": 1, "informal": None}.get(expected, 0)  # informal: as the formal entry
    result = _one(cli, value, date, "--entry", "postal", rc=rc)
    if expected.endswith("%"):
        rate = Decimal(expected[:-1]) / 100
        assert [x["measure"] for x in result["lines"]] == ["us-postal"]
        assert result["lines"][0]["amount"] == str(_money(Decimal(value) * rate))
        assert result["fee_lines"] == []  # in place of every other duty and fee
        assert result["claimable"] == []
        assert any(n.startswith(f"postal item on {date}") for n in result["notes"])
    elif expected == "de-minimis":
        assert (result["lines"], result["fee_lines"], result["status"]) == ([], [], "ok")
        assert any(n.startswith("de minimis: duty-free") for n in result["notes"])
    else:
        formal = _one(cli, value, date, "--entry", "formal")
        assert result["lines"] == formal["lines"]  # all ordinary duties
        mpf = next(x for x in result["fee_lines"] if x["measure"] == "us-mpf")
        assert mpf["rate"].endswith("/entry")  # the informal-entry MPF
        if expected == "review":
            assert result["status"] == "needs_review"
            assert any(r.startswith("no postal duty is known") for r in result["review"])
        else:
            assert result["review"] == formal["review"]


# (date, USD per postal item); None: no per-item option known (a usage error)
PER_ITEM = [
    ("2025-05-02", "100"),
    ("2025-05-13", "100"),
    ("2025-05-14", "100"),
    ("2025-08-28", "100"),
    ("2025-08-29", "200"),
    ("2025-11-09", "200"),
    ("2025-11-10", "160"),
    ("2026-02-23", "160"),
    ("2026-02-24", None),
    ("2026-07-23", None),
]


@pytest.mark.parametrize(("date", "per_item"), PER_ITEM)
@pytest.mark.parametrize("items", ["1", "3"])
def test_postal_per_item_at_every_date(
    cli: Cli, date: str, per_item: str | None, items: str
) -> None:
    args = ("--entry", "postal-specific", "--items", items)
    if per_item is None:
        run = cli("duty", "100", "--hs", CODE, "--date", date, *args)
        assert run.code == 2
        assert run.err.strip().splitlines() == [
            f"tradecalc: error: no per-item postal duty is known on {date}: "
            "use --entry postal (10% of the value)"
        ]
        return
    result = _one(cli, "100", date, *args, rc=0)
    (line,) = result["lines"]
    assert (line["measure"], line["rate"]) == ("us-postal", f"${per_item}/item")
    assert Decimal(line["amount"]) == Decimal(per_item) * int(items)
    assert result["fee_lines"] == []


def test_derived_postal_figures_are_shown_as_unconfirmed(cli: Cli) -> None:
    for date in ("2025-08-29", "2025-11-10", "2026-02-24", "2026-07-24"):
        result = _one(cli, "100", date, "--entry", "postal")
        assert any(n.startswith("unconfirmed: postal:") for n in result["notes"]), date
    confirmed = _one(cli, "100", "2025-05-14", "--entry", "postal")
    assert not any(n.startswith("unconfirmed: postal:") for n in confirmed["notes"])


def test_postal_per_item_before_the_postal_duty_is_de_minimis(cli: Cli) -> None:
    result = _one(cli, "100", "2025-05-01", "--entry", "postal-specific", "--items", "2", rc=0)
    assert result["lines"] == []
    assert any("no per-item postal duty on 2025-05-01" in n for n in result["notes"])


def test_postal_without_a_rule_for_macau_needs_review(cli: Cli) -> None:
    result = _one(cli, "100", "2025-09-01", "--entry", "postal", "--origin", "MO", rc=1)
    assert any(r.startswith("no postal duty is known for goods of MO") for r in result["review"])
    # the Section 122 postal rate covers every origin
    on = _one(cli, "100", "2026-03-02", "--entry", "postal", "--origin", "MO", rc=0)
    assert [x["amount"] for x in on["lines"]] == ["10.00"]


# ----------------------------------------------------------------------------- de minimis

# (origin, date, de minimis available)
DE_MINIMIS = [
    ("CN", "2025-02-03", True),
    ("CN", "2025-02-04", False),
    ("CN", "2025-02-06", False),
    ("CN", "2025-02-07", True),
    ("CN", "2025-05-01", True),
    ("CN", "2025-05-02", False),
    ("HK", "2025-05-01", True),
    ("HK", "2025-05-02", False),
    ("MO", "2025-05-02", True),  # not named by EO 14256 (unconfirmed)
    ("MO", "2025-08-28", True),
    ("MO", "2025-08-29", False),  # EO 14324: every origin
    ("CN", "2026-12-02", False),
]


@pytest.mark.parametrize(("origin", "date", "available"), DE_MINIMIS)
def test_de_minimis_by_origin_and_date(cli: Cli, origin: str, date: str, available: bool) -> None:
    result = _one(cli, "800", date, "--entry", "de-minimis", "--origin", origin, rc=0)
    if available:
        assert (result["lines"], result["fee_lines"]) == ([], [])
        assert result["claimable"] == []
        if origin == "MO" and date < "2025-08-29":
            assert any("unconfirmed: de minimis: Macau" in n for n in result["notes"])
        return
    formal = _one(cli, "800", date, "--entry", "formal", "--origin", origin)
    assert result["lines"] == formal["lines"]
    assert _sum(result["lines"]) > 0
    assert any(f"de minimis is suspended for goods of {origin}" in n for n in result["notes"])


# ----------------------------------------------------------------------------- informal entry

# (date, informal-entry MPF, unconfirmed)
INFORMAL_MPF = [
    ("2025-09-30", "2.62", False),
    ("2025-10-01", "2.69", False),
    ("2026-09-30", "2.69", False),
    ("2026-10-01", "2.77", True),
]


@pytest.mark.parametrize(("date", "mpf", "unconfirmed"), INFORMAL_MPF)
def test_informal_entry_mpf_by_fiscal_year(
    cli: Cli, date: str, mpf: str, unconfirmed: bool
) -> None:
    result = _one(cli, "2500", date, "--entry", "informal", rc=0)
    formal = _one(cli, "2500", date, "--entry", "formal")
    assert result["lines"] == formal["lines"]
    fees = {x["measure"]: x["amount"] for x in result["fee_lines"]}
    assert fees["us-mpf"] == mpf
    # the HMF is not the MPF: it stays, 0.125% of the value by sea
    assert fees["us-hmf"] == str(_money(Decimal("2500") * Decimal("0.00125")))
    formal_fees = {x["measure"]: x["amount"] for x in formal["fee_lines"]}
    assert formal_fees["us-mpf"] != mpf
    flagged = any(n.startswith("unconfirmed: us-mpf: FY2027 informal") for n in result["notes"])
    assert flagged == unconfirmed


def test_informal_entry_by_air_has_no_hmf(cli: Cli) -> None:
    result = _one(cli, "500", "2025-10-01", "--entry", "informal", "--mode", "air")
    assert [(x["measure"], x["amount"]) for x in result["fee_lines"]] == [("us-mpf", "2.69")]


# ----------------------------------------------------------------------------- needs review


def test_value_within_de_minimis_without_entry_needs_review_pre_escalation(cli: Cli) -> None:
    run = cli("duty", "800", "--hs", CODE, "--format", "json")
    assert run.code == 1
    results = {r["regime"]: r for r in json.loads(run.out)["results"]}
    pre = results.pop("pre-escalation")
    assert pre["status"] == "needs_review"
    assert any("within de minimis" in r for r in pre["review"])
    assert _sum(pre["lines"]) > 0  # computed as a formal entry
    for regime, result in results.items():  # suspended for China there
        assert not any("within de minimis" in r for r in result["review"]), regime


@pytest.mark.parametrize(
    ("value", "args", "review"),
    [
        ("800", (), True),
        ("800.01", (), False),
        ("800", ("--entry", "formal"), False),
        ("800", ("--entry", "informal"), False),
    ],
)
def test_review_only_without_an_entry_type(
    cli: Cli, value: str, args: tuple[str, ...], review: bool
) -> None:
    result = _one(cli, value, "2025-02-03", *args, rc=1 if review else 0)
    assert any("within de minimis" in r for r in result["review"]) == review


def test_review_in_every_format(cli: Cli) -> None:
    table = cli("duty", "100", "--hs", CODE, "--date", "2025-02-03")
    assert table.code == 1
    assert "within de minimis" in table.out
    csv_run = cli("duty", "100", "--hs", CODE, "--date", "2025-02-03", "--format", "csv")
    assert csv_run.code == 1
    assert "within de minimis" in csv_run.out


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("100", "--entry", "bogus"), "entry type 'bogus' is not one of formal, informal"),
        (("100", "--entry", "postal-specific", "--items", "0"), "items '0' is not a whole"),
        (("100", "--entry", "postal-specific", "--items", "1.5"), "items '1.5' is not a whole"),
        (("100", "--entry", "postal-specific", "--items", "x"), "items 'x' is not a whole"),
        (("100", "--entry", "postal-specific", "--items", "-2"), "items '-2' is not a whole"),
        (("100", "--items", "2"), "--items counts postal items"),
        (("100", "--entry", "postal", "--items", "2"), "--items counts postal items"),
        (("100", "--entry", "postal-specific"), "needs the number of postal items"),
        (("800.01", "--entry", "de-minimis"), "--entry de-minimis is for goods valued at 800"),
        (("800.01", "--entry", "postal"), "--entry postal is for goods valued at 800"),
        (("2500.01", "--entry", "informal"), "an informal entry is for goods valued at 2500"),
        (
            ("100", "--entry", "informal", "--origin", "US", "--dest", "CN"),
            "--entry applies to imports into the US, not into CN",
        ),
    ],
)
def test_bad_values_are_one_line_exit_2(cli: Cli, args: tuple[str, ...], message: str) -> None:
    run = cli("duty", *args[:1], "--hs", CODE, "--date", "2025-06-01", *args[1:])
    assert run.code == 2
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("tradecalc: error: ")
    assert message in lines[0]
    assert "Traceback" not in run.err


def test_formal_entry_into_china_changes_nothing(cli: Cli) -> None:
    args = ("--origin", "US", "--dest", "CN", "--date", "2025-06-01")
    plain = cli("duty", "1000", "--hs", "8542.31", "--format", "json", *args)
    formal = cli("duty", "1000", "--hs", "8542.31", "--format", "json", *args, "--entry", "formal")
    assert formal.code == plain.code
    assert json.loads(formal.out)["results"] == json.loads(plain.out)["results"]


def test_entry_type_is_case_insensitive_and_echoed(cli: Cli) -> None:
    data = _json(cli, "100", "--date", "2025-06-01", "--entry", "POSTAL-Specific", "--items", "2")
    assert (data["shipment"]["entry"], data["shipment"]["items"]) == ("postal-specific", 2)
    assert "entry" not in _json(cli, "1000", "--date", "2025-06-01")["shipment"]


# ----------------------------------------------------------------------------- batch, --stdin

ROWS = [
    # hs, value, date, entry, items: a mix of the table paths and the engine's
    (CODE, "100", "2025-06-01", "postal-specific", "3"),
    (CODE, "100", "2025-06-01", "postal", ""),
    (CODE, "100", "2025-02-03", "", ""),
    (CODE, "100", "2025-02-03", "de-minimis", ""),
    (CODE, "2000", "2025-10-01", "informal", ""),
    (CODE, "1000", "2025-10-01", "", ""),
    (CODE, "800", "2025-10-01", "", ""),
]


def _batch(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vectorised: str) -> str:
    monkeypatch.setenv("TRADECALC_VECTORISED", vectorised)
    source = tmp_path / "in.csv"
    lines = ["hs,value,date,entry,items,sku"]
    lines += [",".join((*row, f"s{i}")) for i, row in enumerate(ROWS)]
    lines.append(f"{CODE},100,2025-06-01,parcel,,bad")
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / f"out-{vectorised}.csv"
    errors = tmp_path / f"errors-{vectorised}.csv"
    run = cli("batch", str(source), "-o", str(out), "--errors", str(errors))
    assert run.code == 1  # a row needs review, one is bad
    assert "entry type 'parcel' is not one of" in errors.read_text(encoding="utf-8")
    return out.read_text(encoding="utf-8")


@pytest.mark.parametrize("vectorised", ["0", "1"])
def test_batch_rows_match_duty(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vectorised: str
) -> None:
    text = _batch(cli, tmp_path, monkeypatch, vectorised)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["sku"] for r in rows] == [f"s{i}" for i in range(len(ROWS))]
    for row, (_, value, date, entry, items) in zip(rows, ROWS, strict=True):
        args = ["--date", date]
        args += ["--entry", entry] if entry else []
        args += ["--items", items] if items else []
        result = _one(cli, value, date, *args[2:])
        assert row["duty"] == str(_sum(result["lines"]).quantize(CENT)), row
        assert row["fees"] == str(_sum(result["fee_lines"]).quantize(CENT)), row
        assert row["status"] == result["status"], row
    assert rows[2]["status"] == "needs_review"
    assert rows[0]["duty"] == "300.00"


def test_stdin_reads_entry_and_items(cli: Cli) -> None:
    lines = [
        {"hs": CODE, "value": "100", "date": "2025-06-01", "entry": "postal-specific", "items": 2},
        {"hs": CODE, "value": "100", "date": "2025-06-01", "entry": "postal"},
        {"hs": CODE, "value": "100", "date": "2025-06-01", "items": "two"},
    ]
    run = cli("duty", "--stdin", stdin="\n".join(json.dumps(x) for x in lines) + "\n")
    answers = [json.loads(line) for line in run.out.splitlines()]
    assert run.code == 1
    assert [x["amount"] for x in answers[0]["results"][0]["lines"]] == ["200.00"]
    assert answers[0]["shipment"]["items"] == 2
    assert [x["amount"] for x in answers[1]["results"][0]["lines"]] == ["54.00"]
    assert "items 'two' is not a whole number" in answers[2]["error"]


def test_stdin_refuses_entry_options(cli: Cli) -> None:
    run = cli("duty", "--stdin", "--entry", "postal", stdin="")
    assert run.code == 2
    assert "reads the entry type from each line" in run.err


# ----------------------------------------------------------------------------- data checks


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("replaces: us-mpf", "replaces: us-nope", "fee 'us-nope' is not a fee of US"),
        ("group: section-122", "group: nope", "group 'nope' is not in the reporting_order"),
        ("source: usc-19-1321", "source: nope-1321", "unknown source 'nope-1321'"),
        ('from: "2025-05-14"\n          to: "2025-08-29"', 'from: "2025-05-10"\n          to: '
         '"2025-08-29"', "overlaps the previous one"),
        ("          informal: true\n", "", "needs exactly one of 'rate' or 'informal: true'"),
    ],
)  # fmt: skip
def test_validate_checks_the_low_value_rules(
    cli: Cli, tmp_path: Path, old: str, new: str, message: str
) -> None:
    shutil.copytree(BUNDLED.parent, tmp_path / "data")
    part = tmp_path / "data" / "schedule" / "parties.yaml"
    text = part.read_text(encoding="utf-8")
    assert text.count(old) == 1
    part.write_text(text.replace(old, new), encoding="utf-8")
    run = cli("validate", str(tmp_path / "data" / "rates.yaml"))
    assert run.code == 1
    assert message in run.out + run.err


def test_postal_per_item_after_the_postal_duty_says_items_change_nothing(cli: Cli) -> None:
    args = ("--entry", "postal-specific", "--items", "4")
    result = _one(cli, "100", "2026-08-03", *args, rc=0)
    postal = _one(cli, "100", "2026-08-03", "--entry", "postal", rc=0)
    assert (result["lines"], result["fee_lines"]) == (postal["lines"], postal["fee_lines"])
    assert "no per-item postal duty on 2026-08-03: --items changes nothing" in result["notes"]
