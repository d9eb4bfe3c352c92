"""What the fuzz tests share: an in-process runner, the "clean ending" contract, weird values.

Every fuzz test is parametrised twice: ``quick`` runs in the normal suite under the default
hypothesis profile, ``fuzz`` is marked ``@pytest.mark.fuzz`` for the long run::

    HYPOTHESIS_PROFILE=fuzz python -m pytest -m fuzz -q --hypothesis-show-statistics
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import pytest
from hypothesis import strategies as st

from conftest import Run

BOTH = pytest.mark.parametrize("depth", ["quick", pytest.param("fuzz", marks=pytest.mark.fuzz)])
"""Run a property in the normal suite (``quick``) and in the long fuzz run (``fuzz``)."""

_DIAGNOSTIC = re.compile(r"^.+:\d+(:\d+)?: .+$")


def run_main(args: list[str], stdin: str | bytes | None = None) -> Run:
    """``tradecalc ARGS`` in-process (``run``, as the ``cli`` fixture does), output captured.

    ``stdin`` is given as text (UTF-8 encoded) or as the exact bytes.
    """
    from tradecalc.cli.run import run as run_tradecalc

    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv, sys.stdin
    sys.argv = ["tradecalc", *args]
    if stdin is not None:
        raw = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                run_tradecalc()
                code: object = 0
            except SystemExit as exc:
                code = exc.code if exc.code is not None else 0
    finally:
        sys.argv, sys.stdin = saved
    return Run(code if isinstance(code, int) else -1, out.getvalue(), err.getvalue())


def assert_clean(run: Run) -> None:
    """The contract: exit 0, 1 or 2; no traceback, no internal error; failures say why."""
    assert run.code in (0, 1, 2), run
    assert "Traceback" not in run.err and "Traceback" not in run.out, run.err
    assert "internal error" not in run.err, run.err
    lines = run.err.rstrip("\n").split("\n")  # not splitlines: a file name may hold U+0085
    errors = [line for line in lines if line.startswith("tradecalc: error: ")]
    assert len(errors) <= 1, run.err
    if errors:
        assert lines[-1] == errors[0], run.err  # the error line comes last
        assert run.code in (1, 2), run
    if run.code == 2:
        assert errors or "Usage:" in run.err, run.err  # ours, or Click's usage error


def assert_diagnostics(run: Run) -> None:
    """``validate`` output: every stdout line is ``file:line[:col]: message``."""
    assert_clean(run)
    if run.code == 1 and not run.err.startswith("tradecalc: error:"):
        lines = run.out.splitlines()
        assert lines, run
        for line in lines:
            assert _DIAGNOSTIC.match(line) or line.startswith(("/", "tests")), line


WEIRD_NUMBERS = (
    "1e999999",
    "1E+09",
    "NaN",
    "nan",
    "inf",
    "-Infinity",
    "-0",
    "+0",
    "-0.00",
    "0",
    "0.001",
    "1" * 40,
    "9" * 28,
    "9" * 26 + ".99",
    "0." + "0" * 40 + "1",
    "1,000.50",
    "1_000",
    "١٠٠٠",
    "１０００",
    "٣.٥",
    " 12 ",
    "",
    ".",
    "-",
    "1.2.3",
    "0x1F",
    "½",
    "1\u00a0000",
    "12%",
    "-5",
)
WEIRD_DATES = (
    "2025-02-30",
    "2025-02-29",
    "2024-02-29",
    "2025-13-01",
    "2025-00-10",
    "0000-01-01",
    "0001-01-01",
    "9999-12-31",
    "9999-12-31T23:59",
    "2025-05-14T24:00",
    "2025-05-14T12:60",
    "2025-05-14 12:01",
    "2025-05-14T12:01:30",
    "2025-05-14Z",
    "20250514",
    "14/05/2025",
    "2025-5-14",
    "２０２５-05-14",
    "",
    " ",
)
CODES = (
    "9503.00.0073",
    "9503",
    "95",
    "8471.30.0100",
    "0101.21",
    "8.47E+09",
    "8471300100",
    "84713001001",
    "0",
    "9503.00.00.73",
    "9503..00",
    "٩٥٠٣",
    "9503.00.0073 ",
    "9999.99.9999",
    "7323.93.0080",
    "8542.31",
    "1201.90",
    "8703.80.0000",
)

weird_numbers = st.one_of(
    st.sampled_from(WEIRD_NUMBERS),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**45), max_value=10**45).map(str),
    st.floats().map(repr),
    st.text(max_size=12),
)
weird_dates = st.one_of(
    st.sampled_from(WEIRD_DATES),
    st.dates().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M")),
    st.from_regex(r"\A\d{4}-\d{2}-\d{2}(T\d{2}:\d{2})?\Z"),
    st.text(max_size=16),
)
codes = st.one_of(
    st.sampled_from(CODES),
    st.from_regex(r"\A\d{2,10}\Z"),
    st.from_regex(r"\A\d{4}(\.\d{2}){0,2}(\.?\d{2,4})?\Z"),
    st.text(alphabet="0123456789.E+ ", max_size=14),
    st.text(max_size=12),
)


def write_bytes(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to ``folder/name`` and return the path."""
    path = folder / name
    path.write_bytes(data)
    return path
