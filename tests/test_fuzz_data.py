"""Fuzzing data files: random mutations of the test schedule and of the bundled rates.yaml.

Structural mutations (deleted keys, wrong types, huge numbers, unicode, deep nesting) work on
the parsed data and are written back as YAML; text mutations (deleted, duplicated or swapped
lines, truncation, stray characters, anchors and aliases) work on the file's text. Each
mutant goes through ``validate`` or ``duty --data``: it must end with exit 0, 1 or 2 and, on
failure, ``file:line:col`` diagnostics or one ``tradecalc: error:`` line, never a traceback.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from fuzzing import BOTH, assert_clean, assert_diagnostics, run_main
from tradecalc.core.errors import DataError
from tradecalc.schedule.load import compile_schedule
from tradecalc.schedule.loader import include_parts, parse_yaml, read_document

from conftest import BUNDLED, MINI

Path_ = tuple[str | int, ...]
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # big reprs
PYDANTIC_INTERNALS = ("instance of", "after validation", "function-", "tagged-union", "[key]")
"""Words of pydantic's own error texts that a diagnostic must never show."""


def _single_file(entry: Path) -> str:
    """The bundled schedule and its parts as one YAML document (no include:)."""
    data = dict(include_parts(read_document(entry), entry.parent)[0].data)
    data.pop("include")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


SOURCES = {"mini": MINI.read_text(encoding="utf-8"), "bundled": _single_file(BUNDLED)}


def _paths(data: Any, here: Path_ = ()) -> list[Path_]:
    found = [here]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*here, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _paths(value, (*here, i))
    return found


PLAIN = {name: parse_yaml(text, name).data for name, text in SOURCES.items()}
PATHS = {name: _paths(data)[1:] for name, data in PLAIN.items()}

replacements = st.one_of(
    st.sampled_from(
        (
            None,
            True,
            0,
            -1,
            10**40,
            1.5,
            float("inf"),
            "1e999999",
            "NaN",
            "-0",
            "1" * 40 + "%",
            "99999%",
            "",
            "Free",
            "2025-02-30",
            "9999-12-31",
            "8.47E+09",
            "@nope",
            "@hts:9903.88.03",
            "ÄÖÜ 中文 \u202e",
            "x" * 5000,
            [],
            {},
            [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]],
        )
    ),
    st.text(max_size=20),
    st.integers(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    st.integers(min_value=60, max_value=80).map(lambda n: _nested(n)),
)


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def _mutate(data: Any, path: Path_, action: str, new: Any) -> None:
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = new
    elif action == "rename" and isinstance(parent, dict):
        parent[f"{last}_x"] = parent.pop(last)


@st.composite
def structural_mutants(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(("mini", "mini", "bundled")))
    data = copy.deepcopy(PLAIN[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)[1:]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(("delete", "replace", "replace", "rename")))
        _mutate(data, path, action, copy.deepcopy(draw(replacements)))  # never share a sample
    return name, yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=200)


@st.composite
def text_mutants(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(("mini", "mini", "bundled")))
    lines = SOURCES[name].splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(
            st.sampled_from(("delete", "duplicate", "swap", "insert", "anchor", "truncate"))
        )
        if action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])  # a duplicated key, or a repeated list item
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "insert":
            column = draw(st.integers(0, len(lines[i])))
            junk = draw(
                st.one_of(
                    st.text(max_size=6),
                    st.sampled_from(("{", "]", ": ", "\t", "'", '"', "- ", "#", "\x00", "\ufeff")),
                )
            )
            lines[i] = lines[i][:column] + junk + lines[i][column:]
        elif action == "anchor":
            lines[i] = lines[i].replace(": ", ": &a ", 1)
            j = draw(st.integers(i, len(lines) - 1))
            lines[j] = lines[j].replace(": ", ": *a #", 1)
        else:
            cut = draw(st.integers(0, len(lines[i])))
            lines = [*lines[:i], lines[i][:cut]]
        if not lines:
            break
    return name, "".join(lines)


mutants = st.one_of(structural_mutants(), text_mutants())


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-data")


def _write(folder: Path, text: str) -> Path:
    path = folder / "rates.yaml"
    path.write_text(text, encoding="utf-8")
    cache = folder / "cache"
    shutil.rmtree(cache, ignore_errors=True)  # valid mutants would fill the cache
    os.environ["TRADECALC_CACHE_DIR"] = str(cache)  # restored by the autouse fixture
    return path


@BOTH
@given(mutant=mutants)
def test_validate_of_a_mutated_schedule_ends_cleanly(
    depth: str, mutant: tuple[str, str], fuzz_dir: Path
) -> None:
    path = _write(fuzz_dir, mutant[1])
    run = run_main(["validate", str(path)])
    assert_diagnostics(run)
    for line in run.out.splitlines():
        assert line.startswith(f"{path}"), line
        assert not [word for word in PYDANTIC_INTERNALS if word in line], line


@BOTH
@given(mutant=mutants, explain=st.booleans())
def test_duty_on_a_mutated_schedule_ends_cleanly(
    depth: str, mutant: tuple[str, str], explain: bool, fuzz_dir: Path
) -> None:
    path = _write(fuzz_dir, mutant[1])
    args = ["duty", "1000", "--hs", "9503.00.0073", "--data", str(path), "--format", "json"]
    run = run_main([*args, *(["--explain"] if explain else [])])
    assert_clean(run)
    if run.code == 1 and run.err:
        *diagnostics, last = run.err.rstrip("\n").split("\n")
        assert last.startswith("tradecalc: error: "), run.err
        for line in diagnostics:
            assert line.startswith(f"{path}:"), line


def _party_codes(data: Any) -> list[tuple[str, str]]:
    """``(importer, code)`` of every code a measure of the file rates, for a party it has."""
    parties = data.get("parties") if isinstance(data, dict) else None
    measures = data.get("measures") if isinstance(data, dict) else None
    if not isinstance(parties, dict) or not isinstance(measures, list):
        return []
    found = {
        (str(measure["importer"]), str(code))
        for measure in measures
        if isinstance(measure, dict) and measure.get("importer") in parties
        for period in measure.get("periods") or ()
        if isinstance(period, dict) and isinstance(period.get("rates"), dict)
        for code in period["rates"]
    }
    found |= {(party, "9503.00.0073" if party == "US" else "1201.90") for party in parties}
    return sorted(found)


@BOTH
@given(mutant=mutants, data=st.data())
def test_a_schedule_that_validates_computes_duty(
    depth: str, mutant: tuple[str, str], data: st.DataObject, fuzz_dir: Path
) -> None:
    """``validate`` clean implies ``duty`` loads the file and computes every regime."""
    path = _write(fuzz_dir, mutant[1])
    clean = run_main(["validate", str(path)]).code == 0
    event(f"validates: {clean}")
    if not clean:
        return
    dest, code = data.draw(st.sampled_from(_party_codes(parse_yaml(mutant[1], "x").data)))
    origin = "US" if dest != "US" else "CN"
    args = ["duty", "1000", "--hs", code, "--origin", origin, "--dest", dest]
    run = run_main([*args, "--data", str(path), "--format", "json"])
    assert_clean(run)
    assert run.code in (0, 1) and "tradecalc: error:" not in run.err, run
    assert json.loads(run.out)["results"], run.out


@BOTH
@given(mutant=mutants)
def test_validate_and_compile_agree(depth: str, mutant: tuple[str, str]) -> None:
    """A file ``validate`` passes compiles, and one it rejects raises DataError only."""
    name, text = mutant
    try:
        compile_schedule(text, name)
    except DataError as exc:
        assert str(exc)
        for diagnostic in exc.diagnostics:
            assert diagnostic.location.file == name


def test_unmutated_sources_compile() -> None:
    compile_schedule(SOURCES["mini"], "mini")
    assert PATHS["mini"] and PATHS["bundled"]


def test_a_key_with_a_line_break_stays_on_one_diagnostic_line(tmp_path: Path) -> None:
    path = tmp_path / "rates.yaml"
    path.write_text(SOURCES["mini"] + '"bad\\r\\nkey": x\n', encoding="utf-8")
    run = run_main(["validate", str(path)])
    assert run.code == 1
    assert run.out == f"{path}:166:15: 'bad\\r\\nkey': unknown key 'bad\\r\\nkey'\n"
