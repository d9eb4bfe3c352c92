"""Bounded parsing: alias bombs, deep nesting, node counts, file sizes, extreme numbers, huge rates.

Every refusal is checked with its exact message, so the catalogue in docs/errors.md stays true.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from tradecalc.core.errors import DataError, UsageError
from tradecalc.core.files import MAX_FILE_BYTES
from tradecalc.core.money import AMOUNT_BOUND, parse_amount, parse_decimal
from tradecalc.core.rate import RateSyntaxError, parse_rate
from tradecalc.schedule import loader
from tradecalc.schedule.load import compile_schedule

from conftest import MINI, Run

Cli = Callable[..., Run]
TOYS = ("--hs", "9503.00.0073", "--regime", "geneva", "--format", "csv")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- YAML structure


def test_alias_bomb_is_refused_by_duty(cli: Cli, tmp_path: Path) -> None:
    levels = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 40)]
    path = _write(tmp_path, "bomb.yaml", "\n".join(levels) + "\n")  # 10**40 strings expanded
    run = cli("duty", "1000", *TOYS, "--data", str(path))
    message = "YAML aliases (*name) are not allowed in tradecalc files"
    assert (run.code, run.out) == (1, "")
    assert run.err == f"{path}:1:5: {message}\ntradecalc: error: {path}:1:5: {message}\n"


def test_merge_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^x:2:5: YAML merge keys \(<<\) are not allowed$"):
        loader.parse_yaml("a: {k: v}\nb: {<<: {k: w}}\n", "x")


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(DataError, match=r"^x:2:1: duplicate key 'a'$"):
        loader.parse_yaml("a: 1\na: 2\n", "x")


def test_nesting_beyond_max_depth_is_refused() -> None:
    depth = loader.MAX_DEPTH + 1
    text = "a: " + "[" * depth + "]" * depth + "\n"
    with pytest.raises(DataError) as caught:
        loader.parse_yaml(text, "deep.yaml")
    assert str(caught.value) == f"deep.yaml:1:{depth + 3}: nested deeper than 64 levels"


def test_block_nesting_beyond_max_depth_is_refused() -> None:
    text = "".join(f"{' ' * i}k{i}:\n" for i in range(loader.MAX_DEPTH + 2))
    with pytest.raises(DataError, match=r"^deep\.yaml:\d+:\d+: nested deeper than 64 levels$"):
        loader.parse_yaml(text, "deep.yaml")


def test_nesting_within_the_bound_is_read() -> None:
    depth = loader.MAX_DEPTH - 1
    doc = loader.parse_yaml("a: " + "[" * depth + "]" * depth + "\n", "ok.yaml")
    assert isinstance(doc.data["a"], list)


def test_pathological_nesting_stops_in_the_parser(cli: Cli, tmp_path: Path) -> None:
    depth = 200_000  # far beyond any recursion limit: libyaml's own depth bound refuses it
    path = _write(tmp_path, "abyss.yaml", "a: " + "[" * depth + "]" * depth + "\n")
    run = cli("validate", str(path))
    assert run.code == 1
    assert run.out == f"{path}:1:1003: invalid YAML: exceeded maximum nesting depth\n"


def test_node_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_NODES", 50)
    text = "a: [" + ", ".join(["'x'"] * 60) + "]\n"
    with pytest.raises(DataError, match=r"^many\.yaml:1:\d+: more than 50 YAML nodes$"):
        loader.parse_yaml(text, "many.yaml")
    assert loader.MAX_NODES == 50
    loader.parse_yaml("a: [" + ", ".join(["'x'"] * 40) + "]\n", "few.yaml")


def test_the_default_bounds_are_as_documented() -> None:
    assert (loader.MAX_DEPTH, loader.MAX_NODES, MAX_FILE_BYTES) == (64, 2_000_000, 32 << 20)


# ----------------------------------------------------------------------------- file size


def _sparse(tmp_path: Path, name: str, size: int) -> Path:
    """A file of ``size`` bytes that costs no disk space (a hole)."""
    path = tmp_path / name
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


@pytest.mark.parametrize("command", ["duty", "validate", "scenario"])
def test_file_over_the_size_limit_is_refused(cli: Cli, tmp_path: Path, command: str) -> None:
    path = _sparse(tmp_path, "huge.yaml", MAX_FILE_BYTES + 1)
    message = f"{path}: file is 33,554,433 bytes, above the 33,554,432-byte limit"
    if command == "validate":
        run = cli("validate", str(path))
        assert (run.code, run.out) == (1, f"{message}\n")
        return
    if command == "duty":
        run = cli("duty", "1000", *TOYS, "--data", str(path))
    else:
        run = cli("duty", "1000", *TOYS, "--data", str(MINI), "--scenario", str(path))
    assert (run.code, run.out, run.err) == (1, "", f"tradecalc: error: {message}\n")


def test_file_at_the_size_limit_is_read(tmp_path: Path) -> None:
    path = _sparse(tmp_path, "edge.yaml", MAX_FILE_BYTES)  # NUL bytes: read, then refused as YAML
    with pytest.raises(DataError, match="invalid YAML"):
        loader.read_document(path)


def test_text_longer_than_the_limit_is_refused_by_the_parser() -> None:
    with pytest.raises(DataError, match=r"^big: document above the 33,554,432-byte limit$"):
        loader.parse_yaml(" " * (MAX_FILE_BYTES + 1), "big")


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "text",
    ["1e999999", "1E5", "NaN", "nan", "Infinity", "-inf", "0x10", "1/2", "١٠٠٠", "１０", "", "."],
)
def test_non_plain_numbers_are_refused(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_decimal(text, "value")
    assert str(caught.value) == f"value {text!r} is not a plain decimal number (e.g. 1234.56)"


def test_forty_digit_amounts_are_refused_not_rounded() -> None:
    text = "1" * 40
    with pytest.raises(UsageError) as caught:
        parse_amount(text, "value")
    assert str(caught.value) == (
        f"value {text!r} is out of range: at most 15 digits before the decimal point and 6 after"
    )
    largest = "9" * AMOUNT_BOUND.integer + "." + "9" * AMOUNT_BOUND.decimals
    assert parse_amount(largest) == Decimal(largest)


@pytest.mark.parametrize("text", ["-0", "+0", "-0.00", "0"])
def test_negative_zero_is_zero(text: str) -> None:
    value = parse_amount(text)
    assert value == 0
    assert not value.is_signed()


def test_extreme_values_on_the_command_line(cli: Cli) -> None:
    run = cli("duty", "1e999999", *TOYS, "--data", str(MINI))
    assert (run.code, run.err) == (
        2,
        "tradecalc: error: value '1e999999' is not a plain decimal number (e.g. 1234.56)\n",
    )
    run = cli("duty", "1" * 40, *TOYS, "--data", str(MINI))
    assert (run.code, run.err) == (
        2,
        f"tradecalc: error: value '{'1' * 40}' is out of range: "
        "at most 15 digits before the decimal point and 6 after\n",
    )
    run = cli("duty", "1000", *TOYS, "--freight", "NaN", "--data", str(MINI))
    assert run.err == (
        "tradecalc: error: freight 'NaN' is not a plain decimal number (e.g. 1234.56)\n"
    )
    plain = cli("duty", "1000", *TOYS, "--freight", "0", "--data", str(MINI))
    negative_zero = cli("duty", "1000", *TOYS, "--freight", "-0", "--data", str(MINI))
    assert negative_zero == plain
    assert plain.code == 0


def test_largest_amount_is_computed_exactly(cli: Cli) -> None:
    value = "9" * 15 + ".99"
    run = cli("duty", value, *TOYS, "--data", str(MINI))
    assert run.code == 0, run.err
    row = run.out.splitlines()[1].split(",")
    assert value in row


def test_huge_rate_text_is_refused_naming_the_bound() -> None:
    assert parse_rate("9" * 6 + "." + "9" * 6 + "%").ad_valorem == Decimal("9999.99999999")
    with pytest.raises(RateSyntaxError, match="at most 6 digits before the decimal point"):
        parse_rate("9" * 40 + "%")


# ----------------------------------------------------------------------------- rate bound


def _with_rate(rate: str, extra: str = "") -> str:
    text = MINI.read_text(encoding="utf-8")
    old = '      - { from: "2024-01-01", rate: "25%", heading: "9903.88.03", source: fx }\n'
    assert old in text
    new = (
        f'      - {{ from: "2024-01-01", rate: "{rate}", heading: "9903.88.03", '
        f"source: fx{extra} }}\n"
    )
    return text.replace(old, new)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_rate_above_1000_percent_is_a_validation_error() -> None:
    text = _with_rate("1500%")
    with pytest.raises(DataError) as caught:
        compile_schedule(text, "big-rate.yaml")
    line = _line_of(text, '"1500%"')
    assert [str(d) for d in caught.value.diagnostics] == [
        f"big-rate.yaml:{line}:37: rate 1500% is above 1000%; check it, or say why it is "
        "right with intentional: 'reason'"
    ]


def test_rate_of_exactly_1000_percent_is_accepted() -> None:
    compile_schedule(_with_rate("1000%"), "edge.yaml")


def test_intentional_marks_a_huge_rate_as_right() -> None:
    text = _with_rate("1500%", ', intentional: "prohibitive rate of the test statute"')
    schedule = compile_schedule(text, "intended.yaml")
    period = next(m for m in schedule.measures if m.id == "us-301").periods[0]
    assert period.intentional == "prohibitive rate of the test statute"


def test_intentional_on_a_code_rate() -> None:
    text = MINI.read_text(encoding="utf-8")
    old = '          "6110.11.0015": "16%"\n'
    assert old in text
    flagged = text.replace(old, '          "6110.11.0015": { rate: "2000%" }\n')
    with pytest.raises(DataError, match="1 problem found"):
        compile_schedule(flagged, "code.yaml")
    marked = text.replace(
        old, '          "6110.11.0015": { rate: "2000%", intentional: "test embargo" }\n'
    )
    compile_schedule(marked, "code.yaml")


def test_validate_reports_the_huge_rate(cli: Cli, tmp_path: Path) -> None:
    path = _write(tmp_path, "rates.yaml", _with_rate("100000%"))
    run = cli("validate", str(path))
    assert run.code == 1
    assert "rate 100000% is above 1000%; check it" in run.out
    assert run.err == "tradecalc: 1 problem in 1 of 1 file\n"
