"""The compiled rate table against the engine: random code, moment and amounts, to the cent."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradecalc.batch.rows import result_values
from tradecalc.engine import assessment as engine
from tradecalc.engine import compiled
from tradecalc.hts.base_rates import Providers
from tradecalc.hts.cn_lines import ChinaLines
from tradecalc.hts.history import open_schedule
from tradecalc.schedule.load import load_schedule
from tradecalc.schedule.models import Schedule, format_when

US_SAMPLE = 160
CN_SAMPLE = 80


@pytest.fixture(scope="module")
def world() -> tuple[Schedule, Providers, compiled.RateTable, dict[str, list[str]]]:
    """The bundled data, its providers, and a table compiled for a seeded sample of codes."""
    schedule = load_schedule(use_cache=False).schedule
    us = open_schedule(True, bundled=True)
    assert us is not None
    china = ChinaLines()
    providers = Providers(us, china)
    rng = random.Random(12)
    codes = {
        "US": rng.sample(compiled.route_codes("US", providers, schedule), US_SAMPLE),
        "CN": rng.sample(compiled.route_codes("CN", providers, schedule), CN_SAMPLE),
    }
    table = compiled.compile_table(schedule, providers, "test", codes)
    return schedule, providers, table, codes


MOMENTS = st.datetimes(min_value=datetime(2024, 6, 1), max_value=datetime(2026, 12, 31))


@given(
    pick=st.integers(0, 10**6),
    importer=st.sampled_from(["US", "CN"]),
    when=MOMENTS,
    dated=st.booleans(),
    cents=st.integers(0, 10**11),
    freight=st.none() | st.integers(0, 10**7),
    insurance=st.none() | st.integers(0, 10**6),
)
def test_compiled_layers_charge_what_the_engine_charges(
    world: tuple[Schedule, Providers, compiled.RateTable, dict[str, list[str]]],
    pick: int,
    importer: str,
    when: datetime,
    dated: bool,
    cents: int,
    freight: int | None,
    insurance: int | None,
) -> None:
    """Every result column of a compiled row equals the engine's, for any code and moment."""
    schedule, providers, table, codes = world
    if dated:
        when = datetime(when.year, when.month, when.day)
    origin = "US" if importer == "CN" else "CN"
    code = codes[importer][pick % len(codes[importer])]
    layers = table.at(importer, origin, code, when)
    assert layers is not None
    if layers.engine:
        return  # the engine's own path
    value = Decimal(cents) / 100
    if value <= engine.low_value_limit(schedule.parties[importer], origin, [when]):
        return  # within de minimis: the batch sends it to the engine (its entry type decides)
    amounts = [None if x is None else Decimal(x) / 100 for x in (freight, insurance)]
    ship = engine.Shipment(
        code, value, origin, importer, when, dated, freight=amounts[0], insurance=amounts[1]
    )
    view = engine.dated_view(when)
    expected = result_values(ship, engine.assess(schedule, ship, view, None, providers))
    party = schedule.parties[importer]
    intraday = compiled.intraday_at(schedule, importer, when) if dated else ()
    charged = compiled.charge(
        party, layers, value, amounts[0], amounts[1], compiled.fees_at(party, "ocean", when),
        intraday,
    )  # fmt: skip
    got = compiled.result_values(
        code, view.id, format_when(when), party.currency, (origin, importer), charged
    )
    assert got == expected


def test_table_covers_both_routes_and_names_engine_rows(
    world: tuple[Schedule, Providers, compiled.RateTable, dict[str, list[str]]],
) -> None:
    """Each sampled code has intervals; specific and metal-content layers are kept (charged
    like the engine without a quantity or a declared content); only codes without a base
    rate are left to the engine, said why."""
    table = world[2]
    assert len(table.codes) == US_SAMPLE + CN_SAMPLE
    reasons = {layers.engine for layers in table.layers}
    assert reasons <= {"", "no base rate for the code: the engine says why"}
    assert any(layers.specific for layers in table.layers)
    assert any(layers.metal for layers in table.layers)


def test_cache_round_trip_and_refusal(
    world: tuple[Schedule, Providers, compiled.RateTable, dict[str, list[str]]],
    tmp_path: Path,
) -> None:
    """The cache reads back equal; a damaged or foreign file is refused, never trusted."""
    table = world[2]
    data = table.to_bytes()
    again = compiled.RateTable.from_bytes(data, "test")
    assert list(again.rows()) == list(table.rows())
    with pytest.raises(ValueError):
        compiled.RateTable.from_bytes(data, "another key")
    with pytest.raises(ValueError):
        compiled.RateTable.from_bytes(data[:-3] + b"]]}", "test")


def test_a_cached_table_opens_on_a_thread_as_it_reads_in_place(
    world: tuple[Schedule, Providers, compiled.RateTable, dict[str, list[str]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """open_tables reads the cached file on a thread; the table it gives is the one read in
    place; a damaged file or a folder at its path gives an empty table; any other failure
    is raised where the table is first used, not lost on the thread."""
    schedule, providers, table, _ = world
    first = compiled.open_tables(schedule, providers, "digest", tmp_path)
    assert first.path is not None and not first.table.layers  # nothing cached yet
    first.path.write_bytes(compiled.RateTable(first.table.key, *table_parts(table)).to_bytes())
    again = compiled.open_tables(schedule, providers, "digest", tmp_path)
    in_place = compiled.RateTable.from_bytes(first.path.read_bytes(), first.table.key)
    assert list(again.table.rows()) == list(in_place.rows()) == list(table.rows())
    first.path.write_bytes(b"not a table")
    assert not compiled.open_tables(schedule, providers, "digest", tmp_path).table.layers
    first.path.unlink()
    first.path.mkdir()
    assert not compiled.open_tables(schedule, providers, "digest", tmp_path).table.layers

    def exhausted(path: Path) -> bytes:
        raise MemoryError("no memory left")

    monkeypatch.setattr(compiled, "_read_regular", exhausted)
    failing = compiled.open_tables(schedule, providers, "digest", tmp_path)
    with pytest.raises(MemoryError, match="no memory left"):
        _ = failing.table


def table_parts(
    table: compiled.RateTable,
) -> tuple[list[compiled.Layers], dict[tuple[str, str, str], tuple[list[datetime], list[int]]]]:
    """The layers and codes of ``table`` (a copy to build another table from)."""
    table.complete()
    return list(table.layers), dict(table.codes)


def test_intervals_start_where_layers_change(
    world: tuple[Schedule, Providers, compiled.RateTable, dict[str, list[str]]],
) -> None:
    """Consecutive intervals of a code never hold the same layers (they would be one)."""
    table = world[2]
    for starts, ids in table.codes.values():
        assert starts == sorted(starts)
        assert all(a != b for a, b in itertools.pairwise(ids))


def test_a_damaged_cached_table_is_compiled_again(
    world: tuple[Schedule, Providers, compiled.RateTable, dict[str, list[str]]],
    tmp_path: Path,
) -> None:
    """A cache whose payload hash matches but whose rows are wrong is dropped, not trusted."""
    import hashlib
    import json

    schedule, providers, table, codes = world
    key = "k"
    good = compiled.RateTable(key, list(table.layers), dict(table.codes)).to_bytes()
    head, _, payload = good.partition(b"\n")
    header = json.loads(head)
    sizes = header["parts"]
    names = json.loads(payload[: sizes[0]])
    name = names[0]
    at = sizes[0] + sizes[1]  # the interval starts: make the first code's unordered
    first = int.from_bytes(payload[sizes[0] + 8 : sizes[0] + 16], "little")
    assert first >= 2
    body = bytearray(payload)
    body[at : at + 8] = (2**62).to_bytes(8, "little")
    blob = sum(sizes[:5])  # the first layer set's JSON: not a layer set any more
    end = int.from_bytes(payload[sum(sizes[:4]) + 8 : sum(sizes[:4]) + 16], "little")
    body[blob : blob + end] = b"[" + b" " * (end - 2) + b"]"
    bad = bytes(body)
    header["payload_sha256"] = hashlib.sha256(bad).hexdigest()
    data = json.dumps(header).encode() + b"\n" + bad
    loaded = compiled.RateTable.from_bytes(data, key)
    tables = compiled.Tables(schedule, providers, loaded, tmp_path / "t.json")
    importer, origin, digits = name.split("|")
    when = datetime(2025, 6, 1)
    expected = table.at(importer, origin, digits, when)
    assert tables.at(importer, origin, digits, when) == expected
    assert tables.generation == 1
    other = codes["US"][1]
    assert tables.at("US", "CN", other, when) == table.at("US", "CN", other, when)


EDGE_CODES = 24
"""Sampled codes per route whose every interval edge is checked against the one-shot path."""


def test_layers_equal_the_one_shot_plan_around_every_edge(
    world: tuple[Schedule, Providers, compiled.RateTable, dict[str, list[str]]],
) -> None:
    """At each instant where a sampled code's layers change, and just before it, the layers
    hold the duty lines the one-shot path charges (measure, heading, rate, value base, source)
    and charge the same result columns; layers left to the engine are so where the one-shot
    path has no base rate. The one-shot path resolves every measure of the schedule at that
    moment; the compiler only the measures its prefix index finds, at the instants it visits."""
    schedule, providers, table, codes = world
    checked = 0
    for importer, origin in (("US", "CN"), ("CN", "US")):
        party = schedule.parties[importer]
        for code in codes[importer][:EDGE_CODES]:
            found = table.find((importer, origin, code))
            assert found is not None
            for start in found[0][1:]:
                for when in (start - timedelta(microseconds=1), start):
                    layers = table.at(importer, origin, code, when)
                    assert layers is not None
                    ship = engine.Shipment(code, Decimal("1234.56"), origin, importer, when, False)
                    view = engine.dated_view(when)
                    result = engine.assess(schedule, ship, view, None, providers)
                    if layers.engine:
                        assert not any(line.group == "base" for line in result.lines)
                        continue
                    lines = [
                        (x.measure, x.heading, str(x.rate), x.base_rule, x.source)
                        for x in result.lines
                    ]
                    assert lines == [(d[0], d[3], d[4], d[6], d[7]) for d in layers.duties]
                    charged = compiled.charge(
                        party, layers, ship.value, None, None,
                        compiled.fees_at(party, "ocean", when),
                    )  # fmt: skip
                    got = compiled.result_values(
                        code, view.id, format_when(when), party.currency, (origin, importer),
                        charged,
                    )  # fmt: skip
                    assert got == result_values(ship, result)
                    checked += 1
    assert checked > 100
