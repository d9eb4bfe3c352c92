"""Fuzzing the command line and the text grammars: every case ends cleanly (exit 0, 1 or 2).

Targets: ``duty`` with random option values and combinations (on the test schedule and the
bundled data), ``duty --stdin`` lines, scenario files with random content, ``diff``,
``regimes`` and ``rates`` arguments; and the parsers behind them: rates, numbers, dates, codes.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fuzzing import (
    BOTH,
    assert_clean,
    codes,
    run_main,
    weird_dates,
    weird_numbers,
)
from tradecalc.core.errors import UsageError
from tradecalc.core.money import parse_amount, parse_decimal
from tradecalc.core.rate import RateSyntaxError, normalise_unit, parse_rate
from tradecalc.engine.inputs import parse_entry, parse_fx, parse_metal, parse_overrides
from tradecalc.schedule.models import is_code, parse_when

from conftest import BUNDLED, MINI

REGIMES = ("before", "pre-geneva", "geneva", "lapse", "busan", "section-122", "geneva-lapse")
MEASURES = ("us-mfn", "us-301", "us-recip", "us-fentanyl", "us-ieepa-reciprocal", "cn-counter")
RATE_BITS = ("25%", "Free", "off", "OFF", "4.4¢/kg", "$1.13/m3", "1 CNY/kg", "1e5%", "%", "-5%")
UNITS = ("kg", "g", "t", "l", "m2", "m³", "item", "No.", "doz", "pair", "bbl", "furlong", "")

rate_texts = st.one_of(
    st.sampled_from(RATE_BITS),
    st.text(alphabet="0123456789.%¢$/+ kgCNYitemFrel³²-", max_size=24),
    st.text(max_size=16),
)


def _opt(name: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just([]), values.map(lambda v: [name, v]))


def _many(name: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(values, max_size=3).map(lambda vs: [x for v in vs for x in (name, v)])


def _pair(keys: tuple[str, ...], values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(st.sampled_from(keys), values).map("=".join),
        st.text(max_size=10),
    )


duty_options = st.tuples(
    _opt("--hs", codes),
    _opt("--origin", st.sampled_from(("CN", "US", "us", "XX", "C1", "", "CHN", "中国"))),
    _opt("--dest", st.sampled_from(("CN", "US", "DE", "", "U S"))),
    _opt("--date", weird_dates),
    _many("--regime", st.one_of(st.sampled_from(REGIMES), st.text(max_size=8))),
    _many("--set", _pair(MEASURES, rate_texts)),
    _opt("--currency", st.sampled_from(("USD", "CNY", "EUR", "usd", "US$", "", "€€€"))),
    _opt("--freight", weird_numbers),
    _opt("--insurance", weird_numbers),
    _opt("--qty", weird_numbers),
    _opt("--unit", st.sampled_from(UNITS)),
    _opt("--mode", st.sampled_from(("ocean", "air", "AIR", "truck", "rail", "postal", "boat", ""))),
    _many("--metal", _pair(("steel", "aluminium", "copper", "gold"), weird_numbers)),
    _many("--fx", _pair(("CNY", "EUR", "usd", "C1Y"), weird_numbers)),
    _opt("--format", st.sampled_from(("table", "json", "csv", "xml"))),
    st.sampled_from(([], ["--explain"])),
    st.sampled_from(([], ["--no-hts"])),
)


@BOTH
@given(
    value=st.one_of(st.none(), weird_numbers),
    options=duty_options,
    shuffle=st.randoms(use_true_random=False),
    bundled=st.booleans(),
)
def test_duty_with_random_options_ends_cleanly(
    depth: str, value: str | None, options: tuple[list[str], ...], shuffle: Any, bundled: bool
) -> None:
    groups = list(options)
    shuffle.shuffle(groups)
    args = ["duty", *([] if value is None else ["--", value] if value.startswith("-") else [value])]
    flat = [x for group in groups for x in group]
    if args[-2:-1] == ["--"]:  # options must come before the -- separator
        args = ["duty", *flat, "--", args[-1]]
    else:
        args += flat
    if not bundled:
        args += ["--data", str(MINI)]
    run = run_main(args)
    assert_clean(run)
    if run.code == 0 and "--format" in args:
        fmt = args[args.index("--format") + 1]
        if fmt == "json":
            json.loads(run.out)


stdin_fields = st.fixed_dictionaries(
    {},
    optional={
        "hs": st.one_of(codes, st.integers(), st.floats(), st.none(), st.booleans()),
        "value": st.one_of(weird_numbers, st.integers(), st.floats(), st.lists(st.integers())),
        "date": weird_dates,
        "origin": st.sampled_from(("CN", "US", "XX", "")),
        "qty": weird_numbers,
        "unit": st.sampled_from(UNITS),
        "metal": _pair(("steel", "copper"), weird_numbers),
        "sku": st.text(max_size=5),
    },
)
stdin_lines = st.one_of(
    stdin_fields.map(json.dumps),
    st.sampled_from(("", "[]", "null", "{", '{"hs": "9503.00.0073"', "\ufeff{}", "1e999999")),
    st.text(max_size=30),
)


@BOTH
@given(
    lines=st.lists(stdin_lines, max_size=6), regime=st.sampled_from(([], ["--regime", "geneva"]))
)
def test_duty_stdin_lines_end_cleanly(depth: str, lines: list[str], regime: list[str]) -> None:
    text = "\n".join(line.replace("\n", " ").replace("\r", " ") for line in lines)
    run = run_main(["duty", "--stdin", *regime, "--data", str(MINI)], stdin=text)
    assert_clean(run)
    for line in run.out.splitlines():
        json.loads(line)  # every answer is one JSON line


scenario_texts = st.one_of(
    st.text(max_size=200),
    st.fixed_dictionaries(
        {
            "scenario": st.fixed_dictionaries(
                {},
                optional={
                    "id": st.one_of(
                        st.sampled_from(("half", "x", "geneva", "BAD ID")), st.integers()
                    ),
                    "title": st.text(max_size=8),
                    "based_on": st.sampled_from(("geneva", "lapse", "nope", "half", "")),
                    "overrides": st.lists(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "measure": st.sampled_from(MEASURES),
                                "rate": rate_texts,
                                "off": st.sampled_from(("true", "yes", "1", "maybe")),
                            },
                        ),
                        max_size=3,
                    ),
                    "add": st.sampled_from(([], [{}], "x", [{"id": "new"}])),
                },
            )
        },
        optional={"schema_version": st.sampled_from(("1", "2", 1)), "extra": st.just("x")},
    ).map(lambda d: json.dumps(d, ensure_ascii=False)),  # JSON is YAML
)


@BOTH
@given(text=scenario_texts, regime=st.sampled_from(([], ["--regime", "geneva"])))
def test_scenario_files_with_random_content_end_cleanly(
    depth: str, text: str, regime: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz-scenario.yaml"
    path.write_text(text, encoding="utf-8")
    run = run_main(
        [
            "duty",
            "1000",
            "--hs",
            "9503.00.0073",
            *regime,
            "--scenario",
            str(path),
            "--data",
            str(MINI),
            "--format",
            "csv",
        ]
    )
    assert_clean(run)
    if run.code == 1 and run.err:
        assert run.err.rstrip("\n").split("\n")[-1].startswith("tradecalc: error: "), run.err


data_words = st.one_of(
    st.sampled_from(REGIMES),
    st.sampled_from((str(MINI), str(BUNDLED), "tests/fixtures/scenarios/half.yaml", "-", "")),
    st.sampled_from(("missing.yaml", "/", "tests", "README.md", "pyproject.toml")),
    st.text(max_size=10),
)


@BOTH
@given(
    command=st.sampled_from(("diff", "regimes", "rates", "validate", "schema")),
    words=st.lists(data_words, max_size=3),
    options=st.tuples(
        _opt("--format", st.sampled_from(("table", "json", "csv", "text", "github", "x"))),
        _opt("--data", st.sampled_from((str(MINI), "missing.yaml", "tests", ""))),
        _opt("--origin", st.sampled_from(("CN", "US", "XX"))),
        _opt("--scenario", st.sampled_from(("tests/fixtures/scenarios/half.yaml", "nope"))),
    ),
)
def test_data_commands_with_random_arguments_end_cleanly(
    depth: str, command: str, words: list[str], options: tuple[list[str], ...]
) -> None:
    args = [command, *(x for group in options for x in group), "--", *words]
    run = run_main(args)
    assert_clean(run)


# ----------------------------------------------------------------------------- grammars


@BOTH
@given(text=rate_texts)
def test_parse_rate_raises_only_rate_syntax_errors(depth: str, text: str) -> None:
    try:
        rate = parse_rate(text)
    except RateSyntaxError:
        return
    assert parse_rate(str(rate)) == rate  # what it prints, it reads back


@BOTH
@given(text=st.one_of(weird_numbers, st.text(max_size=50)))
def test_number_parsers_raise_only_usage_errors(depth: str, text: str) -> None:
    try:
        value = parse_decimal(text, "value")
    except UsageError as exc:
        assert str(exc).startswith("value ")
        return
    assert value.is_finite()
    assert not (value == 0 and value.is_signed())
    try:
        amount = parse_amount(text)
    except UsageError:
        assert value < 0
    else:
        assert amount == value >= 0


@BOTH
@given(text=weird_dates)
def test_date_parsers_raise_only_value_errors(depth: str, text: str) -> None:
    try:
        when = parse_when(text)
    except ValueError:
        with pytest.raises(UsageError):
            parse_entry(text)
        return
    assert parse_entry(text)[0] == when


@BOTH
@given(text=codes)
def test_code_check_never_raises(depth: str, text: str) -> None:
    """A code is 2 to 10 ASCII digits in pairs, each pair after the first optionally set off
    by one dot or one space (users type ``8471.30.0100``, ``8471 30 0100``, ``8471300100``)."""
    if is_code(text):
        digits = re.sub("[. ]", "", text.strip())
        assert digits.isascii() and digits.isdigit() and 2 <= len(digits) <= 10
        assert len(digits) % 2 == 0 and "  " not in text.strip() and ".." not in text


@BOTH
@given(
    fx=st.lists(_pair(("CNY", "EUR", "x"), weird_numbers), max_size=3),
    metal=st.lists(_pair(("steel", "aluminium", "tin"), weird_numbers), max_size=3),
    sets=st.lists(_pair(MEASURES, rate_texts), max_size=3),
    unit=st.text(max_size=6),
)
def test_option_parsers_raise_only_usage_errors(
    depth: str, fx: list[str], metal: list[str], sets: list[str], unit: str
) -> None:
    for parse, items in ((parse_fx, fx), (parse_metal, metal), (parse_overrides, sets)):
        try:
            parse(items)
        except UsageError as exc:
            assert str(exc)
    try:
        normalise_unit(unit)
    except RateSyntaxError as exc:
        assert "unknown quantity unit" in str(exc)


def test_runner_sees_a_traceback_as_unclean() -> None:
    """The contract check itself can fail (so the fuzz tests can)."""
    from conftest import Run

    with pytest.raises(AssertionError):
        assert_clean(Run(1, "", "tradecalc: error: internal error: KeyError: 'x' (please report)"))
    with pytest.raises(AssertionError):
        assert_clean(Run(3, "", ""))
    assert_clean(Run(2, "", "tradecalc: error: value 'x' is not a plain decimal number\n"))


def test_fuzz_tests_leave_the_working_tree_alone() -> None:
    assert not Path("fuzz-scenario.yaml").exists()


def test_a_file_name_with_a_line_break_gives_one_error_line() -> None:
    run = run_main(["validate", "a\nb.yaml"])
    assert (run.code, run.err) == (2, "tradecalc: error: a\\nb.yaml: no such file\n")


# ----------------------------------------------------------------------------- status


def _curated_codes() -> list[tuple[str, str]]:
    """``(importer, code)`` of every code the bundled schedule rates, plus an unknown CN one."""
    from tradecalc.schedule.load import load_schedule

    schedule = load_schedule(BUNDLED, use_cache=False).schedule
    found = {
        (m.importer, code)
        for m in schedule.measures
        for p in m.periods
        for code in p.rates
        if len(code.replace(".", "")) >= 4
    }
    # A US code outside the official schedule is a usage error now (tests/test_hts_history.py)
    return sorted(found | {("CN", "9999.99")})


CURATED = _curated_codes()
statuses = st.tuples(
    st.sampled_from(CURATED),
    st.sampled_from(([], ["--metal", "steel=40%"], ["--qty", "120", "--unit", "kg"])),
    st.sampled_from(([], ["--date", "2025-05-14"], ["--date", "2026-03-01T09:30"])),
)
_FORMATS = ["table", "csv"]


def _json_results(args: list[str]) -> tuple[int, list[dict[str, Any]]]:
    """The exit status and the per-regime results of ``ARGS --format json``."""
    run = run_main([*args, "--format", "json"])
    assert run.code in (0, 1), run
    return run.code, json.loads(run.out)["results"]


def _csv_review(out: str) -> dict[str, bool]:
    """Per regime: does a status column of ``duty --format csv`` say it needs review?"""
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows, out
    columns = [c for c in rows[0] if "status" in c.lower() or "review" in c.lower()]
    assert columns, f"no status column in {list(rows[0])}"
    column = columns[0]
    found: dict[str, bool] = {}
    for row in rows:
        found[row["regime"]] = found.get(row["regime"], False) or "review" in row[column].lower()
    return found


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2})?")


@BOTH
@pytest.mark.parametrize("form", _FORMATS)
@given(case=statuses)
@example(case=(("US", "7326.90.8688"), [], []))  # steel content unknown in some regimes
def test_every_output_format_carries_the_status(
    depth: str, form: str, case: tuple[tuple[str, str], list[str], list[str]]
) -> None:
    """What ``--format json`` marks as needing review, the table and the CSV mark too: the
    exit status, the table's status row and every review reason, the CSV's status column."""
    (dest, code), extra, date = case
    os.environ["COLUMNS"] = "250"  # one table row per line (restored by the autouse fixture)
    origin = "US" if dest == "CN" else "CN"
    args = ["duty", "1000", "--hs", code, "--origin", origin, "--dest", dest, *extra, *date]
    code_json, results = _json_results(args)
    review = {result["regime"]: bool(result["needs_review"]) for result in results}
    run = run_main([*args, "--format", form])
    assert run.code == code_json == (1 if any(review.values()) else 0), run
    if form == "csv":
        assert _csv_review(run.out) == review
        return
    (status,) = [
        line.replace("needs review", "needs-review").split()[1:]
        for line in run.out.splitlines()
        if line.startswith(" Status ")
    ]
    assert status == ["needs-review" if needs else "ok" for needs in review.values()], run.out
    printed = " ".join((run.out + run.err).split())
    for result in results:
        for reason in result["review"]:
            text = " ".join(reason.split())
            shared = _DATE.sub("each column's date", text)  # printed once for all columns
            assert f": {text}" in printed or shared in printed, (reason, run.out)
