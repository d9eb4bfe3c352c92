"""The vectorised batch path (polars) writes byte for byte what the reference path writes."""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import os
import random
import threading
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from tradecalc.batch import join as batch_join
from tradecalc.batch import rows as batch
from tradecalc.core.files import LineReader, count_lines
from tradecalc.core.money import FxTable
from tradecalc.engine.assessment import RegimeView
from tradecalc.engine.compiled import Tables, route_codes
from tradecalc.engine.selection import select_views
from tradecalc.hts.base_rates import Providers
from tradecalc.hts.cn_lines import ChinaLines
from tradecalc.hts.history import open_schedule
from tradecalc.schedule.load import load_schedule
from tradecalc.schedule.models import Schedule

from conftest import Run, run_child

pytest.importorskip("polars", reason="the vectorised path needs the fast extra (polars)")

PROVENANCE = ("2026.01", "ab" * 32)
HEADER = ["sku", "hs", "origin", "dest", "value", "date", "mode", "claims", "freight", "note"]


@pytest.fixture(scope="module")
def world() -> tuple[Schedule, Tables, list[str]]:
    schedule = load_schedule(use_cache=False).schedule
    us = open_schedule(True)
    assert us is not None
    providers = Providers(us, ChinaLines())
    codes = random.Random(5).sample(route_codes("US", providers, schedule), 80)
    dotted = [f"{c[:4]}.{c[4:6]}.{c[6:]}" for c in codes[:10]]
    extra = ["9503.00.0073", "1201.90", "0101", "8471.30.0100", "8507.60.00.30", "0708209010"]
    return schedule, Tables(schedule, providers), [*codes, *dotted, *extra]


def render(
    schedule: Schedule,
    tables: Tables,
    text: str,
    vectorised: bool,
    block: int | None = None,
    views: tuple[RegimeView, ...] = (),
    ahead: bool = True,
) -> tuple[str, list[batch.RowError], batch.Summary]:
    """The CSV output, the bad rows and the summary of one path; with ``block``, the input
    read as the command reads it (simple lines in blocks of about that many bytes), each
    block read ahead of its charge on a thread of its own, unless not ``ahead`` (as from a
    pipe)."""
    summary = batch.Summary()
    if block is None:
        rows = batch.read_csv(io.StringIO(text))
    else:
        rows = batch.read_csv(LineReader(io.BytesIO(text.encode()), "input", block=block))
        assert rows.ahead  # bytes in memory: a read never waits
        rows = dataclasses.replace(rows, ahead=ahead)
    out = io.StringIO()
    writer = batch.ResultWriter(out, "csv", rows.extra, provenance=PROVENANCE)
    errors = []
    found = batch_join.assess_joined(
        schedule, rows, tables, FxTable(), summary, views, PROVENANCE, vectorised
    )
    batch.write_results(found, writer, errors.append)
    return out.getvalue(), errors, summary


def table_text(rows: list[list[str]], end: str = "\n") -> str:
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator=end)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return stream.getvalue()


def charge_rows(schedule: Schedule, tables: Tables, rows: list[list[str]]) -> batch_join.Charged:
    """What the columns path itself charges (or refuses) of ``rows`` (cells of HEADER)."""
    joined = batch_join.Vectorised(
        schedule, tuple(HEADER), ("sku", "note"), tables, FxTable(), PROVENANCE
    )
    items = [(n, cells, None) for n, cells in enumerate(rows, start=1)]
    charged = joined._charge(items)  # type: ignore[arg-type]
    assert charged is not None
    return charged


def text_data(charged: batch_join.Charged) -> bytes:
    """The CSV lines of the rows ``charged``, their text's parts made and joined."""
    return b"".join(batch_join._part_data(made, [], []) for made in charged.made)


DAY = st.integers(0, 800).map(lambda n: (date(2024, 12, 1) + timedelta(days=n)).isoformat())
VALUE = st.one_of(
    st.integers(0, 10**12).map(lambda c: f"{c // 100}.{c % 100:02d}"),
    st.integers(10**12, 10**15 - 1).map(lambda c: f"{c // 100}.{c % 100:02d}"),
    st.integers(0, 10**9).map(str),
    st.sampled_from(
        ["0", "0.5", "0.005", "9999999999999.99", "1e3", "-5", " 12", "", "abc", "1,000"]
    ),
)
NOTE = st.sampled_from(["", "plain", "a,b", 'say "hi"', "two\nlines", "tab\there"])
PLAIN_NOTE = st.sampled_from(["", "plain", "tab\there", "é;x", " "])


@st.composite
def shipments(draw: st.DrawFn, codes: list[str]) -> list[list[str]]:
    rows = []
    notes = draw(st.sampled_from([NOTE, PLAIN_NOTE]))  # quoted cells end the simple lines
    for n in range(draw(st.integers(0, 30))):
        odd_code = st.sampled_from(
            ["12345", "0708209010", "99", "0101.2", "\u0660\u0661\u0660\u0661"]
        )
        hs = draw(st.one_of(st.sampled_from(codes), st.sampled_from(codes), odd_code))
        origin, dest = draw(st.sampled_from([("", ""), ("CN", "US"), ("US", "CN"), ("HK", "")]))
        odd_day = [
            "",
            "2025-04-09T12:00",
            "2025-02-30",
            "2025-5-20",
            "\uff12\uff10\uff12\uff15-05-20",
        ]
        day = draw(st.one_of(DAY, DAY, st.sampled_from(odd_day)))
        mode = draw(st.sampled_from(["", "ocean", "air", "truck", "boat"]))
        claims = draw(st.sampled_from(["", "", "", "s301-exclusion"]))
        freight = draw(st.sampled_from(["", "", "", "12.50"]))
        row = [f"S{n}", hs, origin, dest, draw(VALUE), day, mode, claims, freight, draw(notes)]
        if draw(st.integers(0, 19)) == 0:
            row = row[: draw(st.sampled_from([0, 1, 4, 11]))]  # blank, or a bad row by its number
        rows.append(row)
    return rows


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    size=st.sampled_from([3, 7, 65_536]),
    block=st.sampled_from([None, 60, 500, 1 << 22]),
    end=st.sampled_from(["\n", "\r\n"]),
    ahead=st.booleans(),
    part=st.sampled_from([1, 2, 5, 16_384]),
)
def test_vectorised_output_is_byte_identical(
    world: tuple[Schedule, Tables, list[str]],
    data: st.DataObject,
    size: int,
    block: int | None,
    end: str,
    ahead: bool,
    part: int,
) -> None:
    """Plain, engine, undated, claimed, ragged, blank and quoted rows interleaved, in chunks
    and in blocks of simple lines (read ahead or not), the text in parts of ``part`` rows,
    against the reference path reading the csv module's records."""
    schedule, tables, codes = world
    text = table_text(data.draw(shipments(codes)), end)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch_join.Vectorised, "chunk_size", size)
        patch.setattr(batch_join, "_TEXT_ROWS", part)
        fast = render(schedule, tables, text, True, block, ahead=ahead)
    reference = render(schedule, tables, text, False)
    assert fast[0] == reference[0]
    assert fast[1] == reference[1]
    assert fast[2] == reference[2]


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    regimes=st.sampled_from(
        [("pre-geneva", "geneva"), ("geneva",), ("section-122", "forced-labour-301", "busan")]
    ),  # the last two ask about in-transit claims only at entry: not under a regime
    block=st.sampled_from([None, 500, 1 << 22]),
    results=st.sampled_from([3, 20_000]),
)
def test_vectorised_output_under_named_regimes_is_byte_identical(
    world: tuple[Schedule, Tables, list[str]],
    data: st.DataObject,
    regimes: tuple[str, ...],
    block: int | None,
    results: int,
) -> None:
    """With ``--regime``, every row (dated or not) under each regime at its own moment: the
    columns path writes what the reference path writes, and keeps the regimes' totals in
    the same order, whatever pieces the blocks are cut into."""
    schedule, tables, codes = world
    views = tuple(select_views(schedule, list(regimes)))
    assert all(batch_join.by_columns(view) for view in views)
    text = table_text(data.draw(shipments(codes)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch_join, "_RESULTS", results)
        fast = render(schedule, tables, text, True, block, views)
    reference = render(schedule, tables, text, False, None, views)
    assert fast[0] == reference[0]
    assert fast[1] == reference[1]
    assert fast[2] == reference[2]
    assert list(fast[2].totals) == list(reference[2].totals)


def test_vectorised_sample_of_every_date(world: tuple[Schedule, Tables, list[str]]) -> None:
    """Every code at dates across the schedule's changes: same bytes, and the fast path
    really charged most rows (it is not silently the reference path)."""
    schedule, tables, codes = world
    days = ["2025-01-15", "2025-02-10", "2025-04-10", "2025-05-20", "2025-08-15", "2026-01-15"]
    rows = [
        [f"S{i}", code, "CN", "US", f"{(i * 7919) % 10**7}.{i % 100:02d}", day, "", "", "", ""]
        for i, (code, day) in enumerate((c, d) for d in days for c in codes)
    ]
    text = table_text(rows)
    charged = charge_rows(schedule, tables, rows)
    assert charged.charged.height >= len(rows) // 2
    fast = render(schedule, tables, text, True)
    assert fast == render(schedule, tables, text, False)
    assert render(schedule, tables, text, True, 1 << 16) == fast


def test_empty_and_header_only_inputs(world: tuple[Schedule, Tables, list[str]]) -> None:
    schedule, tables, _ = world
    text = table_text([])
    assert render(schedule, tables, text, True) == render(schedule, tables, text, False)


def test_cells_quoted_as_the_csv_module_does() -> None:
    """The quoting rule is the csv module's own, whatever the Python version."""
    for text in ["", "a", "a,b", 'a"b', "a\nb", "a\rb", " a", "a\tb", "é;x"]:
        stream = io.StringIO()
        csv.writer(stream, lineterminator="\n").writerow((text, "z"))
        assert stream.getvalue() == f"{batch_join._cell(text)},z\n"


def test_jsonl_input_takes_the_reference_path(world: tuple[Schedule, Tables, list[str]]) -> None:
    """JSON values need not be text (``false``, numbers): such rows are never vectorised."""
    schedule, tables, codes = world
    second = json.dumps({"hs": codes[0], "value": 12, "date": "2025-05-20"})
    text = '{"hs": false}\n' + second + "\n"
    found = []
    for vectorised in (True, False):
        summary = batch.Summary()
        rows = batch.read_jsonl(io.StringIO(text))
        found.append(
            list(
                batch_join.assess_joined(
                    schedule, rows, tables, FxTable(), summary, (), PROVENANCE, vectorised
                )
            )
        )
    assert found[0] == found[1]
    assert all(isinstance(item, (batch.ResultRow, batch.RowError)) for item in found[0])


def test_a_cached_table_charges_from_its_columns_and_summaries(
    world: tuple[Schedule, Tables, list[str]],
) -> None:
    """Read back from the cache format, the table gives the join its intervals as columns
    and each layer set's summary without decoding a layer set: same bytes as the reference
    path; the stored summaries equal those made from the layers; a damaged summary drops
    the table (compiled again), never a wrong row."""
    import hashlib

    from tradecalc.engine import compiled

    schedule, tables, codes = world
    days = ["2025-01-15", "2025-04-10", "2025-08-15", "2026-01-15"]
    rows = [
        [f"S{i}", code, "CN", "US", f"{(i * 7919) % 10**7}.{i % 100:02d}", day, "", "", "", ""]
        for i, (code, day) in enumerate((c, d) for d in days for c in codes)
    ]
    text = table_text(rows)
    reference = render(schedule, tables, text, False)
    data = tables.table.to_bytes()
    loaded = compiled.RateTable.from_bytes(data, tables.table.key)
    assert loaded.packed is not None
    for index, layers in enumerate(tables.table.layers):
        assert loaded.summary(index) == compiled.summarize(layers)
    assert not any(loaded.decoded)  # summaries read without decoding the layers
    digits, starts, ids = loaded.columns("US", "CN")
    spans: dict[str, tuple[list[int], list[int]]] = {}
    for code, start, layer in zip(digits, starts, ids, strict=True):
        spans.setdefault(code, ([], []))[0].append(start)
        spans[code][1].append(layer)
    assert spans == {
        d: tables.table.spans(("US", "CN", d)) for i, o, d in tables.table.codes if i == "US"
    }
    cached = Tables(schedule, tables.base_rates, compiled.RateTable.from_bytes(data, loaded.key))
    assert render(schedule, cached, text, True) == reference
    # a summary that is not one: the table is dropped and compiled again
    head, _, payload = data.partition(b"\n")
    header = json.loads(head)
    count = len(tables.table.layers)
    columns = sum(header["parts"][:6])  # the summaries' columns
    first_k = columns + 8 * count * (len(compiled.SUMMARY_FIELDS) + 1)  # k0 of layer set 0
    assert int.from_bytes(payload[first_k : first_k + 8], "little") >= 1
    for damage in (0, 2**40):  # k0 = 0 (a division by zero); n0 of an unused slot
        body = bytearray(payload)
        if damage:
            slots = header["slots"]
            lines = columns + 8 * count * compiled.SUMMARY_FIELDS.index("lines")
            short = next(
                i for i in range(count)
                if int.from_bytes(payload[lines + 8 * i : lines + 8 * i + 8], "little") < slots
            )  # fmt: skip
            unused = columns + 8 * (
                count * (len(compiled.SUMMARY_FIELDS) + 3 * (slots - 1)) + short
            )
            body[unused : unused + 8] = damage.to_bytes(8, "little")
        else:
            body[first_k : first_k + 8] = bytes(8)
        header["payload_sha256"] = hashlib.sha256(body).hexdigest()
        damaged = json.dumps(header).encode() + b"\n" + bytes(body)
        table = compiled.RateTable.from_bytes(damaged, loaded.key)
        with pytest.raises(compiled.NotATableError):
            table.summary(short if damage else 0)
        broken = Tables(schedule, tables.base_rates, table)
        assert render(schedule, broken, text, True) == reference
        assert broken.generation >= 1
    # interval offsets out of order (a code's intervals would be another's): dropped too
    body = bytearray(payload)
    offsets = header["parts"][0]  # the codes' first-interval offsets follow their names
    second = bytes(body[offsets + 8 : offsets + 16])
    body[offsets + 8 : offsets + 16] = body[offsets + 16 : offsets + 24]
    body[offsets + 16 : offsets + 24] = second
    assert body != payload
    header["payload_sha256"] = hashlib.sha256(body).hexdigest()
    table = compiled.RateTable.from_bytes(json.dumps(header).encode() + b"\n" + body, loaded.key)
    broken = Tables(schedule, tables.base_rates, table)
    assert render(schedule, broken, text, True) == reference
    assert broken.generation >= 1
    # texts that are not the summaries': the cache is not read at all
    body = bytearray(payload)
    body[-2:] = b"{}"
    header["payload_sha256"] = hashlib.sha256(body).hexdigest()
    with pytest.raises(compiled.NotATableError):
        compiled.RateTable.from_bytes(json.dumps(header).encode() + b"\n" + bytes(body), loaded.key)


def test_the_join_prices_only_what_its_one_rule_allows(
    world: tuple[Schedule, Tables, list[str]],
) -> None:
    """batch.rows.join_rule is the one routing rule of both join paths: rows it refuses
    (here: $800 and under, and air) take the row path, with the same output."""
    schedule, tables, codes = world
    rows = [
        [f"S{i}", code, "CN", "US", value, "2025-05-20", mode, "", "", ""]
        for i, (code, value, mode) in enumerate(
            (c, v, m) for c in codes[:20] for v in ("800.00", "800.01") for m in ("", "air")
        )
    ]
    text = table_text(rows)
    reference = render(schedule, tables, text, False)
    strict = batch.JoinRule(
        blank=batch.join_rule().blank, modes=("ocean", "truck"), min_cents=80_001
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(batch_join, "join_rule", lambda: strict)
        charged = charge_rows(schedule, tables, rows)
        priced = set(charged.charged.get_column("number").to_list())
        assert priced and all(rows[n - 1][4] == "800.01" and rows[n - 1][6] == "" for n in priced)
        assert render(schedule, tables, text, True) == reference
        assert render(schedule, tables, text, False) == reference


def test_values_of_trillions_are_charged_as_columns_and_summed_exactly(
    world: tuple[Schedule, Tables, list[str]],
) -> None:
    """Rows of $5 trillion each (a year of a code's trade, say) are charged by the columns
    path, and the totals of 20,000 of them (past 64 bits in cents) equal the sums of the
    rows' own cells, worked out in Python integers."""
    schedule, tables, _ = world
    value, count = 5 * 10**12, 20_000
    rows = [
        [f"S{i}", "9503.00.0073", "CN", "US", f"{value}.00", "2025-05-20", "", "", "", ""]
        for i in range(count)
    ]
    charged = charge_rows(schedule, tables, rows)
    assert charged.charged.height == count and not charged.errors
    assert len(charged.made) == -(-count // batch_join._TEXT_ROWS)  # in parts
    lines = list(csv.reader(io.StringIO(text_data(charged).decode())))
    at = {name: i for i, name in enumerate(["row", "sku", "note", *batch.RESULT_COLUMNS])}
    duty = sum(int(line[at["duty"]].replace(".", "")) for line in lines)
    assert sum(int(line[at["customs_value"]].replace(".", "")) for line in lines) > 2**63
    ((_, results, _, customs, charged_duty),) = charged.counts.totals
    assert (results, customs, charged_duty) == (count, count * value * 100, duty)


def test_the_command_charges_billions_as_the_reference_path_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real entry point on rows worth billions and trillions (and plain ones), dated
    across the year's regimes: the columns path's output and summary are byte for byte the
    pure-Python path's (``TRADECALC_VECTORISED=0``), the Decimal engine's own money."""
    source = tmp_path / "in.csv"
    values = ["12345678901.23", "40679904773", "5000000000000.00", "9999999999999.99", "999.99"]
    days = ["2025-02-10", "2025-04-10", "2025-06-01", "2026-01-15"]
    codes = ["9503.00.0073", "8517130000", "8471300100"]
    rows = itertools.product(codes, values, days)
    lines = ["ref,hs,value,date"]
    lines += [f"r{i},{code},{value},{day}" for i, (code, value, day) in enumerate(rows)]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = []
    for vectorised in ("1", "0"):
        monkeypatch.setenv("TRADECALC_VECTORISED", vectorised)
        out = tmp_path / f"out-{vectorised}.csv"
        run = run_child(["batch", str(source), "-o", str(out)])
        assert run.returncode in (0, 1), run.stderr
        found.append((out.read_bytes(), run.stderr))
    assert found[0] == found[1]
    assert found[0][0].count(b"\n") == len(lines)  # the header and a row each


def test_the_command_refuses_uneven_lines_whose_commas_add_up(tmp_path: Path) -> None:
    """The real entry point under two regimes (blocks of 1 MiB) on a file whose last block
    holds a row of 3 cells and, without its line end, one of 5 (a trailing comma) among
    rows of 4: the commas add up to rows of 4, yet both are bad rows, named by row, and
    every other row is charged under each regime. The file is a whole number of the
    reader's chunks, so its last line comes in a block with the others: there polars 2.1
    dropped the empty fifth cell, filled the short row, and both were charged."""
    from tradecalc.core.files import _READ_CHUNK

    source = tmp_path / "in.csv"
    rows = 40_000  # about 1.3 MB
    lines = ["ref,hs,value,date"]
    lines += [f"r{i},9503.00.0073,{1000 + i % 997},2025-06-01" for i in range(1, rows - 1)]
    lines += [f"r{rows - 1},9503.00.0073,1000", f"r{rows},9503.00.0073,1000,2025-06-01,"]
    pad = -len("\n".join(lines).encode()) % _READ_CHUNK
    lines[1] = lines[1].replace("r1,", "r1" + "x" * pad + ",", 1)
    source.write_text("\n".join(lines), encoding="utf-8")  # no line end after the last
    assert source.stat().st_size % _READ_CHUNK == 0 and source.stat().st_size > 1 << 20
    out, errors = tmp_path / "out.csv", tmp_path / "errors.csv"
    regimes = ["--regime", "pre-geneva", "--regime", "geneva"]
    run = run_child(["batch", str(source), "-o", str(out), "--errors", str(errors), *regimes])
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert list(csv.reader(io.StringIO(errors.read_text(encoding="utf-8"))))[1:] == [
        [str(rows - 1), "3 cells where the header has 4"],
        [str(rows), "5 cells where the header has 4"],
    ]
    charged = [line.split(",", 1)[0] for line in out.read_text(encoding="utf-8").splitlines()]
    assert charged[1:] == [str(n) for n in range(1, rows - 1) for _ in range(2)]


_CELL = st.text(st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]), max_size=6)


@given(
    st.lists(st.tuples(st.integers(1, 30), _CELL), max_size=12),
    st.lists(st.tuples(st.integers(1, 30), _CELL), max_size=6),
)
def test_reference_lines_go_where_a_stable_sort_by_number_puts_them(
    charged: list[tuple[int, str]], others: list[tuple[int, str]]
) -> None:
    """The charged lines' text with other rows' lines spliced in at byte offsets (cells of
    any width in UTF-8) equals the lines of both sorted by row number, charged lines first
    among equals: as a stable sort of the two runs concatenated."""
    import polars as pl

    charged.sort(key=lambda pair: pair[0])
    others.sort(key=lambda pair: pair[0])
    frame = pl.DataFrame(
        {
            "number": [n for n, _ in charged],
            "cell": [c for _, c in charged],
            "regime": ["r"] * len(charged),
            "needs": [0] * len(charged),
            "cents": [1] * len(charged),
            "duty": [1] * len(charged),
        },
        schema={"number": pl.Int64, "cell": pl.String, "regime": pl.String,
                "needs": pl.Int64, "cents": pl.Int64, "duty": pl.Int64},
    )  # fmt: skip
    parts = [pl.col("number").cast(pl.String), pl.col("cell"), pl.lit("é\n")]  # a literal too
    text = batch_join._text(frame, parts)
    lines = [f"{n},{c}\n" for n, c in others]
    merged = text.with_lines([n for n, _ in others], lines)
    both = [(n, f"{n},{c},é\n") for n, c in charged] + [(n, f"{n},{c}\n") for n, c in others]
    assert merged.decode() == "".join(line for _, line in sorted(both, key=lambda p: p[0]))
    assert batch_join._counts(frame).rows == len({n for n, _ in charged})


@given(st.lists(st.integers(0, 10**17), max_size=50))
def test_money_and_ratio_text_are_the_exact_decimal_digits(values: list[int]) -> None:
    """Cents and millionths written by a decimal product equal integer arithmetic's digits."""
    import polars as pl

    frame = pl.DataFrame({"v": values}, schema={"v": pl.Int64})
    money = frame.select(batch_join._money_text(pl.col("v"))).to_series().to_list()
    ratio = frame.select(batch_join._ratio_text(pl.col("v"))).to_series().to_list()
    assert money == [f"{v // 100}.{v % 100:02d}" for v in values]
    assert ratio == [f"{v // 10**6}.{v % 10**6:06d}" for v in values]


def test_rows_within_de_minimis_and_codes_not_in_force_are_columns_work(
    world: tuple[Schedule, Tables, list[str]],
) -> None:
    """A value within de minimis (no entry type, while it is available) is charged by the
    columns path with the engine's review item, and a code the schedule in force does not
    hold gets the engine's error there too: same bytes as the reference path, and neither
    kind of row left to it."""
    schedule, tables, codes = world
    days = ["2025-01-15", "2025-04-10", "2025-08-15", "2026-01-15"]
    rows = [
        [f"S{i}", code, "CN", "US", value, day, "", "", "", ""]
        for i, (code, value, day) in enumerate(
            (c, v, d) for d in days for c in [*codes[:12], "0708209010"] for v in ("12.34", "800")
        )
    ]
    text = table_text(rows)
    charged = charge_rows(schedule, tables, rows)
    unknown = {n for n, row in enumerate(rows, start=1) if row[1] == "0708209010"}
    assert {e.row for e in charged.errors} == unknown
    assert all("is not in the US tariff schedule in force on" in e.reason for e in charged.errors)
    lines = text_data(charged).decode().split("\n")[:-1]
    within = [line for line in lines if "is within de minimis" in line]
    assert within and all(",2025-01-15," in line or ",2025-04-10," in line for line in within)
    assert "value 12.34 USD is within de minimis" in "".join(within)
    assert len(lines) + len(charged.errors) == len(rows)  # nothing left to the reference path
    assert render(schedule, tables, text, True, 1 << 16) == render(schedule, tables, text, False)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["0101", "010121", "0101210010", "9503000073", "12019000"]),
            st.lists(st.integers(0, 50), min_size=1, max_size=6, unique=True),
        ),
        min_size=0,
        max_size=5,
        unique_by=lambda code: code[0],
    ),
    st.integers(0, 4),
    st.lists(
        st.tuples(
            st.sampled_from(["0101", "010121", "9503000073", "8471", "x"]), st.integers(-5, 60)
        ),
        max_size=40,
    ),
)
def test_interval_lookup_is_an_as_of_join_by_code(
    codes: list[tuple[str, list[int]]], split: int, rows: list[tuple[str, int]]
) -> None:
    """:class:`_Intervals` gives each row the layer of its code's latest start at or
    before its moment, as a plain search per row does, whatever the order codes and their
    intervals came in."""
    import polars as pl

    layer_of = {
        (code, start): number * 100 + i
        for number, (code, starts) in enumerate(codes)
        for i, start in enumerate(starts)
    }
    intervals = batch_join._Intervals()
    for part in (codes[:split], codes[split:]):  # codes added over two chunks
        found = [(i, start, layer_of[code, start]) for i, (code, starts) in enumerate(part)
                 for start in starts]  # fmt: skip
        intervals.add(
            [code for code, _ in part],
            pl.DataFrame(found, schema=["code", "start", "layer"], orient="row"),
        )
    found = intervals.layers(
        pl.Series([code for code, _ in rows], dtype=pl.String),
        pl.Series([moment for _, moment in rows], dtype=pl.Int64),
    ).to_list()
    expected = []
    for code, moment in rows:
        before = [start for (known, start) in layer_of if known == code and start <= moment]
        expected.append(layer_of[code, max(before)] if before else None)
    assert found == expected


CELL = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters='\n\r",'), max_size=6
)
"""A cell of a simple line (decoded UTF-8: no lone surrogate)."""


@st.composite
def cell_rows(draw: st.DrawFn, width: int) -> list[list[str]]:
    """Rows of ``width`` cells, now and then one of another number."""
    even = st.lists(CELL, min_size=width, max_size=width)
    odd = st.lists(CELL, max_size=width + 2)
    return draw(st.lists(st.one_of(even, even, even, odd), min_size=1, max_size=30))


@pytest.mark.parametrize("end", ["", "\n"])
def test_a_last_line_of_more_cells_is_never_cut_off(end: str) -> None:
    """Lines of 2, 1 and 3 cells have the commas of three lines of 2: the last line's empty
    third cell is not dropped (polars 2.1 drops it when that line has no end), the lines are
    split one by one."""
    block = batch.Block(",\n0\n,," + end, 1, 3)
    assert batch_join._even_cells(block, 2) is None
    split, bad = batch_join._cells_line_by_line(block, 2)
    assert split.rows() == [(1, "", "")]
    assert [batch_join._row_of(item) for item in bad] == [2, 3]


@given(
    st.data(),
    st.booleans(),
    st.integers(1, 6),
    st.one_of(st.integers(1, 10**6), st.integers(2**32 - 40, 2**40)),  # past 32-bit numbers
)
def test_a_block_read_by_the_csv_reader_is_the_block_split_at_commas(
    data: st.DataObject, ended: bool, width: int, first: int
) -> None:
    """Where polars' CSV reader takes a block (every line ``width`` cells), its columns are
    the lines split at their commas, row numbers included; where it does not, splitting
    line by line gives the rows of ``width`` cells and the others as bad rows."""
    rows = data.draw(cell_rows(width))
    text = "\n".join(",".join(cells) for cells in rows) + ("\n" if ended else "")
    assume(ended or rows[-1])  # an empty last line without its end is no line at all
    block = batch.Block(text, first, count_lines(text))
    split, bad = batch_join._cells_line_by_line(block, width)
    fast = batch_join._even_cells(block, width)
    lines = block.lines()
    even = [line.count(",") == width - 1 for line in lines]
    expected = [(first + i, *line.split(",")) for i, line in enumerate(lines) if even[i]]
    blank = [line.strip() == "" and "," not in line for line in lines]
    assert split.rows() == expected
    assert [batch_join._row_of(item) for item in bad] == [
        first + i for i in range(len(lines)) if not even[i] and not blank[i]
    ]
    event("read by the CSV reader" if fast is not None else "split line by line")
    if fast is not None:
        assert fast.rows() == expected
        assert not bad
        assert fast.schema == split.schema


PART = st.one_of(
    st.lists(st.sampled_from(["1,2", "3,4", "5", ",,", ""]), min_size=1, max_size=4).map(
        lambda lines: "\n".join(lines) + "\n"
    ),
    st.integers(1, 10**6).map(lambda n: (n, [str(n), "x"], None)),  # a row after the blocks
)


def _reading() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tradecalc-read"]


@given(
    parts=st.lists(PART, max_size=8),
    fail=st.one_of(st.none(), st.integers(0, 8)),
    stop=st.one_of(st.none(), st.integers(0, 8)),
)
def test_reading_ahead_gives_the_parts_in_order_and_stops_with_its_caller(
    parts: list[str | tuple[int, list[str], None]], fail: int | None, stop: int | None
) -> None:
    """Blocks read ahead on a thread come with the cells the caller would parse itself, in
    order, then the rows after the blocks; an error of the reader comes at its place; a
    caller that stops early leaves no reading thread behind."""
    numbered: list[batch.Block | tuple[int, list[str], None]] = []
    for part in parts:
        if isinstance(part, str):
            part = batch.Block(part, len(numbered) + 1, count_lines(part))
        numbered.append(part)
    blocks = len(list(itertools.takewhile(lambda p: isinstance(p, batch.Block), numbered)))
    numbered = [p for i, p in enumerate(numbered) if i < blocks or not isinstance(p, batch.Block)]

    def source() -> Iterator[batch.Block | tuple[int, list[str], None]]:
        for i, part in enumerate(numbered):
            if i == fail:
                raise OSError("disk gone")
            yield part

    def taken(found: Iterator[tuple[object, object]]) -> list[tuple[object, object]]:
        kept = []
        try:
            for i, item in enumerate(found):
                if i == stop:
                    break
                kept.append(item)
        finally:
            found.close()  # type: ignore[attr-defined]
        return kept

    def same(a: list[tuple[object, object]], b: list[tuple[object, object]]) -> bool:
        return len(a) == len(b) and all(
            x[0] == y[0]
            and (x[1].equals(y[1]) if x[1] is not None and y[1] is not None else x[1] is y[1])
            for x, y in zip(a, b, strict=True)
        )

    outcomes = []
    for read in (batch_join._read, batch_join._read_ahead):
        try:
            outcomes.append((taken(read(source(), 2)), None))
        except OSError as exc:
            outcomes.append(([], str(exc)))
        assert not _reading()
    (plain, plain_error), (ahead, ahead_error) = outcomes
    assert plain_error == ahead_error
    assert same(plain, ahead)
    expected = numbered[: min([len(numbered), *(n for n in (fail, stop) if n is not None)])]
    if plain_error is None:
        assert [part for part, _ in plain] == expected


def _writing() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tradecalc-write"]


@given(
    chunks=st.lists(
        st.tuples(st.binary(max_size=12), st.sampled_from(["bytes", "made", "fails"])),
        max_size=12,
    ),
    early=st.booleans(),
    queued=st.integers(1, 3),
)
def test_the_writer_writes_chunks_in_order_and_raises_the_first_error(
    chunks: list[tuple[bytes, str]], early: bool, queued: int
) -> None:
    """Chunks given as bytes or as what makes them (or fails to) are written in order, on a
    thread of their own, up to the first failure, whose error the caller gets (from a later
    chunk or from the finish); stopped early, a prefix of them is written; no writing
    thread is left."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    writer = batch.ResultWriter(stream, "csv", (), header=False, queued=queued)
    failures: list[OSError] = []

    def chunk(data: bytes, kind: str) -> batch.Chunk:
        if kind == "bytes":
            return data
        if kind == "made":
            return lambda: data
        failure = OSError(f"chunk {len(failures)} failed")
        failures.append(failure)

        def fails() -> bytes:
            raise failure

        return fails

    given_chunks = [chunk(data, kind) for data, kind in chunks]
    first = next((i for i, (_, kind) in enumerate(chunks) if kind == "fails"), len(chunks))
    expected = b"".join(data for data, _ in chunks[:first])
    raised: BaseException | None = None
    try:
        for made in given_chunks:
            writer.write_chunk(made)
        if early:
            raised = writer.wait()
        else:
            writer.finish()
    except OSError as exc:
        raised = exc
    finally:
        writer.wait()
    assert not _writing()
    if early:
        assert expected.startswith(raw.getvalue())
        assert raised is None or raised is failures[0]
    else:
        assert raw.getvalue() == expected
        assert raised is (failures[0] if failures else None)


def test_reads_from_pipes_are_not_read_ahead(tmp_path: Path) -> None:
    """A pipe's read may wait for its writer (a stop must not wait with it): its blocks are
    read as they are charged; a regular file's and bytes in memory are read ahead."""
    shipments = tmp_path / "in.csv"
    shipments.write_text("hs,value\n9503.00.0073,1000\n", encoding="utf-8")
    read, write = os.pipe()
    with open(shipments, "rb") as file, os.fdopen(read, "rb") as pipe:
        os.write(write, b"hs,value\n")
        os.close(write)
        readers = [LineReader(file, "in"), LineReader(pipe, "-"),
                   LineReader(io.BytesIO(b"hs,value\n"), "-")]  # fmt: skip
        assert [reader.waits for reader in readers] == [False, True, False]
        assert [batch.read_csv(reader).ahead for reader in readers] == [True, False, True]


@pytest.mark.parametrize(
    ("regimes", "expected"),
    [((), batch.BLOCK_BYTES), (("geneva",), batch.BLOCK_BYTES),
     (("pre-geneva", "geneva"), batch.SLICED_BLOCK_BYTES)],
)  # fmt: skip
def test_the_command_reads_smaller_blocks_under_several_regimes(
    cli: Callable[..., Run],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    regimes: tuple[str, ...],
    expected: int,
) -> None:
    """Under several regimes a row gives a result each, and a block's cells stay in memory
    while its slices are charged: the command reads smaller blocks."""
    import tradecalc.core.files as files

    sizes: list[int] = []
    made = files.LineReader.__init__

    def recording(reader: LineReader, *args: object, **kwargs: object) -> None:
        made(reader, *args, **kwargs)  # type: ignore[arg-type]
        sizes.append(reader.block)

    monkeypatch.setattr(files.LineReader, "__init__", recording)
    shipments = tmp_path / "in.csv"
    shipments.write_text("hs,value\n9503.00.0073,1000\n", encoding="utf-8")
    options = [arg for regime in regimes for arg in ("--regime", regime)]
    found = cli("batch", str(shipments), "-o", str(tmp_path / "out.csv"), *options)
    assert found.code in (0, 1), found.err
    assert sizes == [expected]
    assert batch.SLICED_BLOCK_BYTES < batch.BLOCK_BYTES
