"""Fuzzing ``hts import``: random shapes, sizes, markup, encodings and gzip damage.

Every example is imported through the command line in-process: it must succeed or end with
one ``tradecalc: error:`` line, never a traceback. A success must report as many rows as the
example has, and every coded row must be found by a lookup. The property runs in a child
pytest under an address-space limit (``RLIMIT_AS``), so unbounded memory fails the test.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import zlib
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import BOTH, assert_clean, run_main
from tradecalc.core.errors import DataError
from tradecalc.hts.store import ImportedSchedule

from conftest import ROOT

CHILD = "TRADECALC_FUZZ_HTS_CHILD"
MEMORY = 2 * 2**30
"""Address space of the child running the property."""

markup = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["<", ">", "<b>", "</b>", "<sup>2</sup>", "&amp;", "&#x41;", "&bogus;", "\u00a0"]
    ),
    st.builds(
        lambda c, n: c * n, st.sampled_from(["<", ">", "&", "<a", "x"]), st.integers(0, 20_000)
    ),
)
htsnos = st.one_of(
    st.from_regex(r"\A\d{4}(\.\d{2}){0,2}(\.\d{2})?\Z"),
    st.from_regex(r"\A\d{2,12}\Z"),
    markup,
)
rates = st.one_of(
    st.sampled_from(["Free", "6.8%", "4.4¢/kg + 2.6%", "$1.13/m3", "25¢/pf.liter", "1" * 60 + "%"]),
    markup,
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), markup)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
footnotes = st.lists(
    st.fixed_dictionaries(
        {"columns": st.lists(st.sampled_from(["general", "desc", "other"]), max_size=2)},
        optional={"value": st.one_of(markup, st.just("See 9903.88.15."))},
    ),
    max_size=2,
)
rows = st.fixed_dictionaries(
    {"htsno": htsnos},
    optional={
        "indent": st.one_of(st.integers(-3, 20).map(str), markup, st.just("9" * 5000), values),
        "description": markup,
        "general": rates,
        "units": st.one_of(st.lists(markup, max_size=3), values),
        "footnotes": st.one_of(footnotes, values),
        "other": values,
    },
)
documents = st.one_of(st.lists(rows, max_size=12), values)


@st.composite
def encoded(draw: st.DrawFn) -> tuple[bytes, object]:
    """File bytes and the document they hold (see :func:`_document`)."""
    document = draw(documents)
    data = json.dumps(document, ensure_ascii=draw(st.booleans())).encode("utf-8")
    how = draw(st.sampled_from(["plain", "gzip", "damaged gzip", "truncated gzip", "bytes"]))
    if how == "plain":
        return data, document
    if how == "bytes":
        raw = draw(st.binary(max_size=200))
        return raw, _document(raw)
    packed = bytearray(gzip.compress(data))
    if how == "truncated gzip":
        del packed[draw(st.integers(0, len(packed) - 1)) :]
    elif how == "damaged gzip":
        packed[draw(st.integers(0, len(packed) - 1))] ^= draw(st.integers(1, 255))
    return bytes(packed), _document(bytes(packed))


def _document(raw: bytes) -> object:
    """What the bytes hold, read with the standard library alone (None: no JSON document).

    Damage to a gzip header's time stamp or flags can leave the content intact."""
    try:
        return json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    except (OSError, EOFError, ValueError, RecursionError, zlib.error):
        return None


def _coded(document: object) -> list[str]:
    """Digits of the rows a lookup must find (independent of the parser's own rules)."""
    if not isinstance(document, list):
        return []
    found = []
    for row in document:
        code = row["htsno"].replace(".", "") if isinstance(row["htsno"], str) else ""
        if re.fullmatch(r"[0-9]{4,10}", code) and "<" not in row["htsno"]:
            found.append(code)
    return found


@pytest.mark.skipif(CHILD not in os.environ, reason="runs in the memory-limited child below")
@given(encoded())
def test_hts_import_property(example: tuple[bytes, object]) -> None:
    data, document = example
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        source = home / "export.json"
        source.write_bytes(data)
        os.environ["TRADECALC_HOME"] = str(home)
        run = run_main(
            ["hts", "import", str(source), "--revision", "f-1", "--effective", "2025-01-01"]
        )
        assert_clean(run)
        if run.code != 0:
            assert run.err.startswith("tradecalc: error: ") and run.err.count("\n") == 1
            return
        assert isinstance(document, list), "only an array of rows can be imported"
        assert f": {len(document)} rows, " in run.out
        store = ImportedSchedule.open(home / "hts")
        assert store is not None
        try:
            for code in _coded(document):
                store.entry(code, datetime(2025, 6, 1))
                store.nearest(code, datetime(2025, 6, 1))
        except DataError as exc:  # only a damaged file may fail, and this one is fresh
            pytest.fail(f"lookup failed: {exc}")
        finally:
            store.close()


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


@BOTH
def test_hts_import_fuzz_in_a_memory_limited_child(depth: str) -> None:
    profile = os.environ.get("HYPOTHESIS_PROFILE", "default") if depth == "fuzz" else "default"
    env = {**os.environ, CHILD: "1", "HYPOTHESIS_PROFILE": profile}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-x",
            f"{Path(__file__).name}::test_hts_import_property",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT / "tests",
        preexec_fn=_limit_memory,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout, done.stdout[-2000:]
