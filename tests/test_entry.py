"""The console entry point: the same answers as ``run``, and its garbage-collector tuning."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import FIXTURES, MINI, Run, run_child

Cli = Callable[..., Run]
DATA = ("--data", str(MINI))


def _child(args: tuple[str, ...], stdin: str | None = None) -> tuple[int, str, str]:
    done = run_child(args, stdin)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("duty", "1000", "--hs", "9503.00.0073", *DATA),  # table, exit 0
        ("duty", "1000", "--hs", "9503.00.0073", "--format", "json", *DATA),
        ("duty", "1000", "--hs", "9503.00.0090", "--regime", "geneva", *DATA),  # exit 1
        ("duty", "ten", "--hs", "9503.00.0073", *DATA),  # usage error, exit 2
        ("duty", "--bogus"),  # parser error, exit 2
        ("--version",),
    ],
)
def test_console_entry_answers_exactly_as_run_does(cli: Cli, args: tuple[str, ...]) -> None:
    inside = cli(*args)
    assert _child(args) == (inside.code, inside.out, inside.err)


def test_stdin_mode_through_the_entry_point() -> None:
    code, out, err = _child(("duty", "--stdin", *DATA), '{"hs": "9503.00.0073", "value": "1"}\n')
    assert (code, err) == (0, "")
    assert out.count("\n") == 1 and '"regime"' in out


@pytest.fixture
def gc_restored() -> Iterator[None]:
    """Leave the collector as the test found it, frozen objects included."""
    enabled = gc.isenabled()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()
        else:
            gc.disable()


@pytest.mark.usefixtures("gc_restored")
@pytest.mark.parametrize("enabled", [True, False])
def test_main_restores_the_collector_state(
    enabled: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tradecalc.cli import main

    (gc.enable if enabled else gc.disable)()
    monkeypatch.setattr(sys, "argv", ["tradecalc", "--version"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("tradecalc ")
    assert gc.isenabled() is enabled
    assert gc.get_freeze_count() > 0  # what lived at exit is left out of the last collection


@pytest.mark.usefixtures("gc_restored")
@pytest.mark.parametrize(
    ("args", "stdin", "collects"),
    [
        (("batch", str(FIXTURES / "batch_in.csv"), "-o", "{tmp}/out.csv", *DATA), None, True),
        (("duty", "--stdin", *DATA), '{"hs": "9503.00.0073", "value": "1"}\n', True),
        (("duty", "1000", "--hs", "9503.00.0073", *DATA), None, False),
        (("validate", str(MINI)), None, False),
        (
            (
                "hts",
                "import",
                str(FIXTURES / "hts_grammar.json"),
                "--revision",
                "t-1",
                "--effective",
                "2025-01-01",
            ),
            None,
            False,
        ),
    ],
)
def test_only_streaming_commands_turn_garbage_collection_back_on(
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    stdin: str | None,
    collects: bool,
) -> None:
    monkeypatch.setenv("TRADECALC_HOME", str(tmp_path / "home"))  # the import stays here
    gc.disable()
    run = cli(*(a.replace("{tmp}", str(tmp_path)) for a in args), stdin=stdin)
    assert run.code in (0, 1), run.err
    assert gc.isenabled() is collects


@pytest.mark.parametrize("output_format", ["table", "json", "csv"])
def test_a_reader_that_goes_away_stops_it_quietly(output_format: str) -> None:
    args = ["duty", "1000", "--hs", "9503.00.0073", "--format", output_format, *DATA]
    with subprocess.Popen(
        [sys.executable, "-m", "tradecalc", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        child.stdout.close()  # long before the child has started up and written anything
        err = child.stderr.read()
    assert (child.returncode, err) == (1, b"")


# ----------------------------------------------------------------------------- internal errors


def _crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``duty`` hit a bug: loading the schedule raises an unexpected exception."""

    def broken(data: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("tradecalc.cli.duty.load", broken)


def test_internal_error_is_one_line_that_says_how_to_get_the_trace(
    cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRADECALC_DEBUG", raising=False)
    _crash(monkeypatch)
    run = cli("duty", "1000", "--hs", "9503.00.0073", "--data", str(MINI))
    assert run.code == 1
    assert run.err.splitlines() == [
        "tradecalc: error: internal error: RuntimeError: simulated bug "
        "(please report this; rerun with --traceback for the trace)"
    ]


def test_a_panic_in_compiled_code_is_an_internal_error_too(
    cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyo3's PanicException (polars') is a BaseException: one line, not a traceback."""
    polars = pytest.importorskip("polars", reason="polars (the fast extra) is not installed")
    monkeypatch.delenv("TRADECALC_DEBUG", raising=False)

    def broken(data: object) -> None:
        raise polars.exceptions.PanicException("simulated panic")

    monkeypatch.setattr("tradecalc.cli.duty.load", broken)
    run = cli("duty", "1000", "--hs", "9503.00.0073", "--data", str(MINI))
    assert run.code == 1
    assert run.err.splitlines() == [
        "tradecalc: error: internal error: PanicException: simulated panic "
        "(please report this; rerun with --traceback for the trace)"
    ]


@pytest.mark.parametrize("how", ["option", "environment"])
def test_traceback_switch_prints_the_trace_and_keeps_the_status(
    cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    _crash(monkeypatch)
    args = ["duty", "1000", "--hs", "9503.00.0073", "--data", str(MINI)]
    if how == "option":
        monkeypatch.delenv("TRADECALC_DEBUG", raising=False)
        args.insert(0, "--traceback")
    else:
        monkeypatch.setenv("TRADECALC_DEBUG", "1")
    run = cli(*args)
    assert run.code == 1
    lines = run.err.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert 'raise RuntimeError("simulated bug")' in run.err
    assert lines[-1] == (
        "tradecalc: error: internal error: RuntimeError: simulated bug "
        "(please report this with the trace above)"
    )
