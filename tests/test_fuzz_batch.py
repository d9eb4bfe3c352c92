"""Fuzzing ``tradecalc batch``: CSV and JSONL rows as spreadsheets and other systems mangle them.

Wrong encodings (latin-1, cp1252, UTF-16 with a BOM), BOMs, missing and extra columns, stray
quotes, codes a spreadsheet turned into numbers (``8.47E+09``), random JSON. Every run ends
with exit 0, 1 or 2, bad rows are reported with their row number, and the output is complete
CSV or JSONL whose row numbers exist in the input.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import BOTH, CODES, WEIRD_NUMBERS, assert_clean, codes, run_main, weird_dates

from conftest import MINI

COLUMNS = ("hs", "value", "origin", "dest", "currency", "date", "freight", "qty", "unit", "metal")
EXCEL = ("8.47E+09", "8.47131E+9", "9.503E+03", "1.20190E+3", "=8471300100", "'0101.21")

cells = {
    "hs": st.one_of(codes, st.sampled_from(EXCEL)),
    "value": st.one_of(st.sampled_from(WEIRD_NUMBERS), st.decimals(0, 10**9, places=2).map(str)),
    "origin": st.sampled_from(("CN", "US", "", "cn", "XX")),
    "dest": st.sampled_from(("US", "CN", "")),
    "currency": st.sampled_from(("USD", "CNY", "", "€")),
    "date": weird_dates,
    "freight": st.sampled_from(WEIRD_NUMBERS),
    "qty": st.sampled_from(WEIRD_NUMBERS),
    "unit": st.sampled_from(("kg", "item", "", "furlong")),
    "metal": st.sampled_from(("steel=40%", "copper=10", "tin=1", "steel=1e5", "")),
}


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    header = draw(st.lists(st.sampled_from(COLUMNS), min_size=0, max_size=8, unique=True))
    if draw(st.booleans()):
        header += draw(st.lists(st.sampled_from(("sku", "note", "HS", " Value ", "")), max_size=2))
    rows = [header]
    for _ in range(draw(st.integers(0, 5))):
        row = [draw(cells.get(name.strip().lower(), st.text(max_size=6))) for name in header]
        if draw(st.integers(0, 9)) == 0:
            row = row[: draw(st.integers(0, len(row)))] + draw(st.lists(st.text(max_size=3)))
        rows.append(row)
    out = io.StringIO()
    csv.writer(out, lineterminator=draw(st.sampled_from(("\n", "\r\n")))).writerows(rows)
    text = out.getvalue()
    if draw(st.integers(0, 4)) == 0 and text:  # a stray quote somewhere
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(('"', '""', "'", ",", "\x00"))) + text[at:]
    encoding = draw(st.sampled_from(("utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252")))
    return text.encode(encoding, errors="replace")


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            lines.append(draw(st.sampled_from(("", "{", "[]", "null", '"x"', "{'hs': 1}"))))
            continue
        obj: dict[str, object] = {
            name: draw(st.one_of(cells[name], json_values))
            for name in draw(st.lists(st.sampled_from(COLUMNS), max_size=6, unique=True))
        }
        if draw(st.booleans()):
            obj["sku"] = draw(json_values)
        lines.append(json.dumps(obj, ensure_ascii=draw(st.booleans())))
    text = "\n".join(lines) + draw(st.sampled_from(("", "\n")))
    encoding = draw(st.sampled_from(("utf-8", "utf-8-sig", "utf-16", "latin-1")))
    return text.encode(encoding, errors="replace")


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-batch")


def _check_output(out: Path, fmt: str, rows_in: int) -> None:
    text = out.read_text(encoding="utf-8")
    if fmt == "jsonl":
        numbers = [json.loads(line)["row"] for line in text.splitlines()]
    else:
        table = list(csv.reader(io.StringIO(text)))
        assert table and table[0][0] == "row"
        assert all(len(r) == len(table[0]) for r in table)
        numbers = [int(r[0]) for r in table[1:]]
    assert all(1 <= n <= max(rows_in, 1) for n in numbers)


@BOTH
@given(
    data=st.one_of(csv_files(), jsonl_files()),
    out_fmt=st.sampled_from(("csv", "jsonl")),
    regime=st.sampled_from(([], ["--regime", "geneva"], ["--regime", "nope"])),
)
def test_batch_of_mangled_rows_ends_cleanly(
    depth: str, data: bytes, out_fmt: str, regime: list[str], fuzz_dir: Path
) -> None:
    is_jsonl = data.lstrip(b"\xef\xbb\xbf\xff\xfe\x00").startswith((b"{", b"[", b"n", b'"'))
    source = fuzz_dir / ("in.jsonl" if is_jsonl else "in.csv")
    source.write_bytes(data)
    out = fuzz_dir / f"out.{out_fmt}"
    out.write_text("previous\n", encoding="utf-8")
    errors = fuzz_dir / "errors.csv"
    run = run_main(
        [
            "batch",
            str(source),
            "-o",
            str(out),
            "--errors",
            str(errors),
            *regime,
            "--data",
            str(MINI),
        ]
    )
    assert_clean(run)
    if run.err.startswith("tradecalc: error: ") or "tradecalc: error: " in run.err:
        assert out.read_text(encoding="utf-8") == "previous\n"  # a refused run keeps the old file
        return
    lines_in = data.count(b"\n") + 1
    _check_output(out, out_fmt, lines_in)
    for row in list(csv.reader(io.StringIO(errors.read_text(encoding="utf-8"))))[1:]:
        assert int(row[0]) >= 1 and row[1]


@BOTH
@given(code=st.sampled_from((*EXCEL, *CODES)))
def test_spreadsheet_codes_are_refused_with_a_reason_or_assessed(
    depth: str, code: str, fuzz_dir: Path
) -> None:
    source = fuzz_dir / "codes.csv"
    source.write_text(f"hs,value\n{code},1000\n", encoding="utf-8")
    run = run_main(["batch", str(source), "--regime", "geneva", "--data", str(MINI)])
    assert_clean(run)
    if "E+" in code:
        assert "looks like a spreadsheet number in scientific notation" in run.err


@pytest.mark.parametrize(
    ("encoding", "ok"),
    [("utf-8", True), ("utf-8-sig", True), ("utf-16", True), ("latin-1", False)],
)
def test_encodings(tmp_path: Path, encoding: str, ok: bool) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes("hs,value,sku\n9503.00.0073,1000,café\n".encode(encoding))
    out = tmp_path / "out.csv"
    out.write_text("previous\n", encoding="utf-8")
    run = run_main(
        ["batch", str(source), "-o", str(out), "--regime", "geneva", "--data", str(MINI)]
    )
    if ok:
        assert run.code == 0, run.err
        assert (
            out.read_text(encoding="utf-8")
            .splitlines()[1]
            .startswith("1,café,9503.00.0073,geneva,")
        )
    else:
        assert run.code == 1
        assert run.err == (
            f"tradecalc: error: {source}: not UTF-8 text at line 2 (byte 34): save it as UTF-8 "
            "(in Excel: CSV UTF-8) or UTF-16 with a byte-order mark\n"
        )
        assert out.read_text(encoding="utf-8") == "previous\n"


def test_bom_on_stdin_does_not_hide_the_first_column() -> None:
    run = run_main(
        ["batch", "-", "--regime", "geneva", "--data", str(MINI)],
        stdin="\ufeffhs,value\n9503.00.0073,1000\n",
    )
    assert run.code == 0, run.err
    assert run.out.splitlines()[1].startswith("1,9503.00.0073,geneva,")


def test_deeply_nested_json_is_a_bad_row_not_a_crash(tmp_path: Path) -> None:
    source = tmp_path / "deep.jsonl"
    source.write_text("[" * 100_000 + "\n", encoding="utf-8")
    run = run_main(["batch", str(source), "--regime", "geneva", "--data", str(MINI)])
    assert run.code == 1
    assert run.err.startswith("tradecalc: row 1: not valid JSON: nested too deeply\n")
    run = run_main(["duty", "--stdin", "--data", str(MINI)], stdin="[" * 100_000 + "\n")
    assert (run.code, run.out) == (1, '{"line":1,"error":"not valid JSON: nested too deeply"}\n')


def test_unclosed_quote_swallowing_the_file_stops_the_batch(tmp_path: Path) -> None:
    source = tmp_path / "quote.csv"
    source.write_text('hs,value\n9503.00.0073,1000\n"' + "9" * 200_000 + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    out.write_text("previous\n", encoding="utf-8")
    run = run_main(["batch", str(source), "-o", str(out), "--data", str(MINI)])
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        f"tradecalc: error: {source}: malformed CSV at line 3 (field larger than field limit "
        "(131072); an unclosed quote?)\n"
    )
    assert out.read_text(encoding="utf-8") == "previous\n"
