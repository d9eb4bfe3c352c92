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


# ----------------------------------------------------------------------------- exact money

from decimal import Decimal  # noqa: E402
from fractions import Fraction  # noqa: E402

from hypothesis import example, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tradecalc.core.errors import UsageError  # noqa: E402
from tradecalc.core.money import (  # noqa: E402
    AMOUNT_BOUND,
    FX_BOUND,
    PERCENT_BOUND,
    Bound,
    parse_amount,
)
from tradecalc.core.rate import parse_rate  # noqa: E402
from tradecalc.engine.assessment import Shipment, assess, regime_views, with_overrides  # noqa: E402
from tradecalc.engine.inputs import parse_fx  # noqa: E402
from tradecalc.schedule.models import Override  # noqa: E402


def _bounded(bound: Bound) -> st.SearchStrategy[str]:
    """Plain decimal texts across the whole of ``bound``: every number of decimals and of
    significant digits is equally likely, so the tiny and the huge come up as often as 1.5."""

    @st.composite
    def draw(data: st.DrawFn) -> str:
        places = data(st.integers(0, bound.decimals))
        size = data(st.integers(1, bound.integer + places))
        digits = str(data(st.integers(10 ** (size - 1), 10**size - 1)))
        whole, fraction = digits[: len(digits) - places] or "0", digits[len(digits) - places :]
        return f"{whole}.{fraction.rjust(places, '0')}" if places else whole

    return draw()


def _half_up(amount: Fraction) -> Fraction:
    """Independent rounding to the cent, half-up (amounts here are never negative)."""
    cents = amount * 100
    whole = cents.numerator // cents.denominator
    return Fraction(whole + (cents - whole >= Fraction(1, 2)), 100)


US_DUTIES = ("us-mfn", "us-301", "us-recip", "us-fentanyl")


def drawn_text(rates: list[str]) -> list[tuple[str, str]]:
    return list(zip(US_DUTIES, rates, strict=True))


@given(
    value=_bounded(AMOUNT_BOUND),
    fx=_bounded(FX_BOUND).filter(lambda t: Decimal(t) > 0),
    rates=st.lists(_bounded(PERCENT_BOUND), min_size=4, max_size=4),
    in_cny=st.booleans(),
)
@example(  # 24-digit customs value x 999.999999% = ...,00499 (30 digits): 28 would round it up
    value="100000000000000.099501",
    fx="0.000000001",
    rates=["999.999999", "25", "0", "7.5"],
    in_cny=True,
)
def test_duty_equals_an_exact_fraction_computation(
    mini,  # type: ignore[no-untyped-def]
    value: str,
    fx: str,
    rates: list[str],
    in_cny: bool,
) -> None:
    """Across the whole accepted range every line, total and landed cost is exact."""
    schedule = mini.schedule
    drawn = {m: Fraction(Decimal(r)) / 100 for m, r in zip(US_DUTIES, rates, strict=True)}
    overrides = [Override(measure=m, rate=parse_rate(f"{r}%")) for m, r in drawn_text(rates)]
    view = with_overrides(regime_views(schedule)["geneva"], overrides, "custom")
    shipment = Shipment("6110.11.0015", parse_amount(value), currency="CNY" if in_cny else None)
    result = assess(schedule, shipment, view, parse_fx([f"CNY={fx}"]))

    exact_value = Fraction(Decimal(value)) / (Fraction(Decimal(fx)) if in_cny else 1)
    customs = _half_up(exact_value)
    assert Fraction(result.customs_value) == customs
    assert {line.measure for line in result.lines} == set(US_DUTIES)
    for line in result.lines:
        assert Fraction(line.amount) == _half_up(customs * drawn[line.measure]), line
    duty = sum((_half_up(customs * r) for r in drawn.values()), Fraction(0))
    assert Fraction(result.duty) == duty
    others = sum((Fraction(x.amount) for x in (*result.fees, *result.taxes)), Fraction(0))
    assert Fraction(result.landed_cost) == customs + duty + others
    for amount in (result.customs_value, result.duty, result.total, result.landed_cost):
        assert "E" not in str(amount) and str(amount).count(".") == 1
        assert amount.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["9999999999999999999999999999"],
            "value '9999999999999999999999999999' is out of range: "
            "at most 15 digits before the decimal point and 6 after",
        ),
        (
            ["1000", "--freight", "1.0000001"],
            "freight '1.0000001' is out of range: "
            "at most 15 digits before the decimal point and 6 after",
        ),
        (
            ["1000", "--currency", "CNY", "--fx", "CNY=0." + "0" * 20 + "1"],
            f"--fx CNY '0.{'0' * 20}1' is out of range: "
            "at most 9 digits before the decimal point and 9 after",
        ),
        (
            ["1000", "--set", "us-recip=" + "9" * 26 + "%"],
            f"--set 'us-recip={'9' * 26}%': rate '{'9' * 26}%' is out of range: "
            "at most 6 digits before the decimal point and 6 after",
        ),
        (
            ["1000", "--set", "us-recip=$1234567890/kg"],
            "--set 'us-recip=$1234567890/kg': rate '$1234567890/kg' is out of range: "
            "at most 9 digits before the decimal point and 6 after",
        ),
    ],
)
def test_numbers_beyond_their_bound_are_usage_errors(
    cli: Cli, args: list[str], message: str
) -> None:
    run = cli("duty", *args, "--hs", "6110.11.0015", "--regime", "geneva", *DATA)
    assert (run.code, run.err) == (2, f"tradecalc: error: {message}\n")


def test_bounds_hold_in_scenario_files_and_batch_rows(cli: Cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    scenario = tmp_path / "huge.yaml"
    scenario.write_text(
        'schema_version: "1"\nscenario:\n  id: huge\n  title: Huge\n  based_on: geneva\n'
        "  description: x\n  overrides:\n"
        '    - { measure: us-recip, rate: "99999999999999999999999999%" }\n',
        encoding="utf-8",
    )
    run = cli("duty", "1000", "--hs", "6110.11.0015", "--scenario", str(scenario), *DATA)
    assert run.code in (1, 2) and "out of range: at most 6 digits" in run.err, run.err
    assert "internal error" not in run.err
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "hs,value\n6110.11.0015,9999999999999999999999999999\n6110.11.0015,1000\n",
        encoding="utf-8",
    )
    run = cli("batch", str(rows), "--regime", "geneva", *DATA)
    assert "row 1: value '9999999999999999999999999999' is out of range" in run.err
    assert run.out.splitlines()[1].startswith("2,6110.11.0015,geneva,")


def test_an_imported_rate_beyond_the_bound_is_not_computable() -> None:
    from tradecalc.hts.parse import parse_general

    general = parse_general("9" * 30 + "%")
    assert (general.kind, general.rate) == ("text", None)
    with pytest.raises(UsageError):
        parse_amount("1" * 16)


# ----------------------------------------------------------------------------- directions

NOT_COVERED = "is not covered: tradecalc computes imports into the US from CN, HK or MO"


@pytest.mark.parametrize(
    ("pair", "covered"),
    [
        (("--origin", "CN"), True),
        (("--origin", "HK"), True),
        (("--origin", "MO"), True),
        (("--dest", "CN"), True),
        (("--origin", "XX"), False),
        (("--origin", "DE"), False),
        (("--origin", "VN", "--dest", "US"), False),
        (("--origin", "HK", "--dest", "CN"), False),
        (("--origin", "DE", "--dest", "CN"), False),
        (("--dest", "DE"), False),
    ],
)
def test_only_the_covered_pairs_compute(cli: Cli, pair: tuple[str, ...], covered: bool) -> None:
    run = cli("duty", "1000", "--hs", "6110.11.0015", *pair, "--format", "json", *DATA)
    if covered:
        assert run.code in (0, 1) and json.loads(run.out)["results"], run.err
    else:
        assert run.code == 2 and NOT_COVERED in run.err and run.out == ""


def test_an_uncovered_pair_is_a_bad_row_in_batch_and_stdin(cli: Cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "hs,value,origin,dest\n6110.11.0015,100,DE,\n6110.11.0015,100,CN,\n"
        "6110.11.0015,100,DE,\n8542.31,100,,CN\n",
        encoding="utf-8",
    )
    run = cli("batch", str(rows), "--regime", "geneva", *DATA)
    assert run.err.count(NOT_COVERED) == 2
    assert "row 1: DE -> US " in run.err and "row 3: DE -> US " in run.err
    assert [line.split(",")[0] for line in run.out.splitlines()[1:]] == ["2", "4"]
    lines = (
        '{"hs": "6110.11.0015", "value": "1", "origin": "XX"}\n'
        '{"hs": "6110.11.0015", "value": "1"}\n'
    )
    answers = [json.loads(x) for x in cli("duty", "--stdin", *DATA, stdin=lines).out.splitlines()]
    assert NOT_COVERED in answers[0]["error"] and "results" in answers[1]


# ----------------------------------------------------------------------------- regime vs date

INFORMATIONAL = "entry date 2026-12-02 is informational: pre-geneva is computed as of its own "


def test_a_regime_is_its_own_moment_in_duty(cli: Cli) -> None:
    args = ("duty", "1000", "--hs", "6110.11.0015", "--regime", "pre-geneva", "--format", "json")
    plain = json.loads(cli(*args, *DATA).out)["results"][0]
    dated = json.loads(cli(*args, "--date", "2026-12-02", *DATA).out)["results"][0]
    assert dated["as_of"] == plain["as_of"] == "2025-05-13"
    assert dated["duty"] == plain["duty"] and dated["lines"] == plain["lines"]
    assert INFORMATIONAL + "moment, 2025-05-13" in dated["notes"]
    table = cli(*args[:-2], "--date", "2026-12-02", *DATA)
    assert "note: " + INFORMATIONAL in table.out


def test_without_a_regime_the_date_sets_the_moment(cli: Cli) -> None:
    run = cli(
        "duty", "1000", "--hs", "6110.11.0015", "--date", "2025-05-13", "--format", "json", *DATA
    )
    (result,) = json.loads(run.out)["results"]
    named = cli(
        "duty", "1000", "--hs", "6110.11.0015", "--regime", "pre-geneva", "--format", "json", *DATA
    )
    assert result["as_of"] == "2025-05-13"
    assert result["lines"] == json.loads(named.out)["results"][0]["lines"]


def test_a_regime_is_its_own_moment_in_batch_and_stdin(cli: Cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = tmp_path / "rows.csv"
    rows.write_text("hs,value,date\n6110.11.0015,1000,2026-12-02\n6110.11.0015,1000,\n", "utf-8")
    out = cli("batch", str(rows), "--regime", "pre-geneva", *DATA).out.splitlines()
    dated, undated = (line.split(",") for line in out[1:])
    assert dated[2:4] == undated[2:4] == ["pre-geneva", "2025-05-13"]
    assert dated[1:] == undated[1:]
    lines = '{"hs": "6110.11.0015", "value": "1000", "date": "2026-12-02"}\n'
    (answer,) = [
        json.loads(x)
        for x in cli(
            "duty", "--stdin", "--regime", "pre-geneva", *DATA, stdin=lines
        ).out.splitlines()
    ]
    (result,) = answer["results"]
    assert result["as_of"] == "2025-05-13" and result["duty"] == dated[6]
    assert INFORMATIONAL + "moment, 2025-05-13" in result["notes"]


# ----------------------------------------------------------------------------- smaller items

STEEL = ("duty", "1000", "--hs", "7326.90.8688", "--regime", "geneva", "--format", "json")


def _bases(run: Run) -> dict[str, str]:
    (result,) = json.loads(run.out)["results"]
    return {line["measure"]: line["base"] for line in result["lines"]}


def test_metal_content_needs_a_percent_or_a_currency(cli: Cli) -> None:
    bare = cli(*STEEL, "--metal", "steel=40", *DATA)
    assert bare.code == 2
    assert "give a share with % or an amount with its currency" in bare.err
    share = _bases(cli(*STEEL, "--metal", "steel=40%", *DATA))
    amount = _bases(cli(*STEEL, "--metal", "steel=USD400", *DATA))
    in_cny = _bases(cli(*STEEL, "--metal", "steel=CNY2000", "--fx", "CNY=5", *DATA))
    assert share == amount == in_cny
    assert share["us-232-steel"] == "400.00"


def test_a_set_measure_that_does_not_apply_is_noted(cli: Cli) -> None:
    args = ("duty", "1000", "--hs", "6110.11.0015", "--regime", "geneva")
    applies = cli(*args, "--set", "us-recip=5%", "--format", "json", *DATA)
    assert not any("--set" in n for r in json.loads(applies.out)["results"] for n in r["notes"])
    moot = ("--set", "us-232-steel=50%", "--set", "cn-counter=off")
    run = cli(*args, *moot, "--format", "json", *DATA)
    custom = json.loads(run.out)["results"][-1]
    assert (
        "--set us-232-steel changes nothing: it does not apply here (code not in scope)"
        in (custom["notes"])
    )
    assert any(n.startswith("--set cn-counter changes nothing") for n in custom["notes"])
    table = cli(*args, *moot, *DATA)
    assert "note: --set us-232-steel changes nothing" in table.out


def test_an_unknown_set_measure_names_the_nearest_ids(cli: Cli) -> None:
    run = cli("duty", "1000", "--hs", "6110.11.0015", "--set", "us-reciprocal=5%", *DATA)
    assert run.code == 2
    assert "--set: unknown measure 'us-reciprocal'; nearest ids: us-recip" in run.err
    assert "tradecalc rates CODE" in run.err


def test_a_zero_effective_rate_has_the_precision_of_the_others(cli: Cli) -> None:
    from tradecalc.core.money import effective_rate

    assert str(effective_rate(Decimal("0.00"), Decimal("0.00"))) == "0.000000"
    assert str(effective_rate(Decimal("0.00"), Decimal("5.00"))) == "0.000000"
    run = cli("duty", "0", "--hs", "6110.11.0015", "--regime", "geneva", "--format", "json", *DATA)
    assert json.loads(run.out)["results"][0]["effective_rate"] == "0.000000"


@pytest.mark.parametrize("command", ["batch", "stdin"])
def test_json_numbers_are_read_exactly_from_their_text(
    cli: Cli,
    tmp_path,  # type: ignore[no-untyped-def]
    command: str,
) -> None:
    lines = (
        '{"hs": "6110.11.0015", "value": 1200.5, "freight": 0.1}\n'
        '{"hs": "6110.11.0015", "value": 0.30000000000000004}\n'
        '{"hs": "6110.11.0015", "value": NaN}\n'
        '{"hs": "6110.11.0015", "value": Infinity}\n'
        '{"hs": "6110.11.0015", "value": "1200.5", "freight": "0.1"}\n'
    )
    if command == "batch":
        path = tmp_path / "rows.jsonl"
        path.write_text(lines, encoding="utf-8")
        run = cli("batch", str(path), "--regime", "geneva", *DATA)
        rows = [line.split(",") for line in run.out.splitlines()[1:]]
        assert [(r[0], r[5]) for r in rows] == [("1", "1200.50"), ("5", "1200.50")]
        assert "row 2: value '0.30000000000000004' is out of range" in run.err
        assert "row 3: not valid JSON: NaN is not a number" in run.err
        assert "row 4: not valid JSON: Infinity is not a number" in run.err
        assert rows[0][1:] == rows[1][1:]
    else:
        run = cli("duty", "--stdin", "--regime", "geneva", *DATA, stdin=lines)
        answers = [json.loads(x) for x in run.out.splitlines()]
        assert answers[0]["shipment"]["value"] == "1200.5"
        assert answers[0]["results"] == answers[4]["results"]
        assert "out of range" in answers[1]["error"]
        assert answers[2]["error"] == "not valid JSON: NaN is not a number"


# ----------------------------------------------------------------------------- China direction


def test_nearest_codes_are_neighbours_in_the_hierarchy() -> None:
    from tradecalc.engine.assessment import nearest_codes

    known = ["0201", "9018.19", "9018.90.10", "9022.14", "9018.11", "1201.90.11", "90"]
    assert nearest_codes("9018901000"[:6], known) == ["9018.90.10", "9018.11", "9018.19"]
    assert nearest_codes("901850", known) == ["9018.11", "9018.19", "9018.90.10"]
    assert nearest_codes("903000", known) == ["90", "9018.11", "9018.19"]
    assert nearest_codes("850000", known) == []


def _review(run: Run) -> list[str]:
    return [r for result in json.loads(run.out)["results"] for r in result["review"]]


def test_unknown_china_code_points_at_real_neighbours_not_hts_import(cli: Cli) -> None:
    base = ("duty", "1000", "--dest", "CN", "--regime", "busan", "--format", "json")
    (message,) = [r for r in _review(cli(*base, "--hs", "9018.90")) if "base (MFN)" in r]
    assert "hts import" not in message and "add it to the data file" in message
    hint = message.split("; ")[1]
    if hint.startswith("nearest known codes: "):
        codes = hint.removeprefix("nearest known codes: ").split(", ")
        assert all(code.startswith("90") for code in codes), codes
    else:
        assert hint == "no known code is in chapter 90"
    (us,) = [
        r
        for r in _review(
            cli(
                "duty",
                "1000",
                "--hs",
                "0101.21.0010",
                "--regime",
                "geneva",
                "--format",
                "json",
                *DATA,
                "--no-hts",
            )
        )
        if "base (MFN)" in r
    ]
    assert "no known code is in chapter 01" in us and "tradecalc hts import" in us


def test_vat_of_a_shorter_code_than_its_listed_lines_needs_review(cli: Cli) -> None:
    def vat(code: str) -> tuple[str, list[str]]:
        run = cli(
            "duty", "1000", "--hs", code, "--dest", "CN", "--regime", "busan", "--format", "json"
        )
        (result,) = json.loads(run.out)["results"]
        (line,) = [t for t in result["tax_lines"] if t["measure"] == "cn-vat"]
        return line["rate"], [r for r in result["review"] if r.startswith("Import VAT")]

    assert vat("1201.90.11") == ("9%", [])
    assert vat("1201.90.19") == ("9%", [])
    rate, review = vat("1201.90")
    assert rate == "13%"
    assert review == [
        "Import VAT: 1201.90 is charged 13%, but listed lines under it differ "
        "(1201.90.11 9%, 1201.90.19 9%); give the full tariff line"
    ]
    assert vat("8542.31") == ("13%", [])


def test_the_effective_rate_is_shown_as_charged_to_a_hundredth_of_a_percent(cli: Cli) -> None:
    from tradecalc.core.money import effective_percent

    assert effective_percent(Decimal("0.100001")) == "10%"
    assert effective_percent(Decimal("0.100050")) == "10.01%"
    assert effective_percent(Decimal("0.274949")) == "27.49%"
    assert effective_percent(Decimal("0.000000")) == "0%"
    run = cli("duty", "1000.05", "--hs", "6110.11.0015", "--regime", "geneva", *DATA)
    (row,) = [line for line in run.out.splitlines() if "Effective rate" in line]
    assert row.split()[-1] == "71%"
    data = cli(
        "duty", "1000.05", "--hs", "6110.11.0015", "--regime", "geneva", "--format", "json", *DATA
    )
    assert json.loads(data.out)["results"][0]["effective_rate"] == "0.710004"  # data keep 6 places


def _schedule_with_301_at(tmp_path, rate: str):  # type: ignore[no-untyped-def]
    text = MINI.read_text(encoding="utf-8")
    old = '      - { from: "2024-01-01", rate: "25%", heading: "9903.88.03", source: fx }\n'
    new = (
        f'      - {{ from: "2024-01-01", rate: "{rate}", heading: "9903.88.03", source: fx, '
        'intentional: "prohibitive test rate" }\n'
    )
    assert old in text
    path = tmp_path / "rates.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_validate_clean_implies_duty_computes_at_the_largest_rate(cli: Cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    largest = _schedule_with_301_at(tmp_path, "999999.999999%")
    assert cli("validate", str(largest)).code == 0
    value = "9" * 15 + ".999999"
    run = cli(
        "duty",
        value,
        "--hs",
        "6110.11.0015",
        "--regime",
        "before",
        "--format",
        "json",
        "--data",
        str(largest),
    )
    (result,) = json.loads(run.out)["results"]
    (line,) = [x for x in result["lines"] if x["measure"] == "us-301"]
    customs = Fraction(Decimal(result["customs_value"]))
    assert customs == _half_up(Fraction(Decimal(value)))
    assert Fraction(Decimal(line["amount"])) == _half_up(customs * Fraction("9999.99999999"))
    assert "E" not in run.out
    beyond = _schedule_with_301_at(tmp_path, "9" * 26 + "%")
    run = cli("validate", str(beyond))
    assert run.code == 1 and "out of range: at most 6 digits" in run.out


def test_extreme_dates_in_a_batch(cli: Cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "hs,value,date\n"
        + "".join(f"6110.11.0015,1000,{when}\n" for when in EXTREME_DATES)
        + "6110.11.0015,1000,2025-06-01\n",
        encoding="utf-8",
    )
    run = cli("batch", str(rows), *DATA)
    assert "internal error" not in run.err and "row " not in run.err
    as_of = [line.split(",")[3] for line in run.out.splitlines()[1:]]
    assert as_of == [*EXTREME_DATES, "2025-06-01"]
