"""``Tables.prepare`` in two processes: the table of compiling each code in turn, byte for
byte, whoever compiles which chunk; a failed helper costs only time; Ctrl-C and a killed
parent leave no helper behind and print one line at most."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tradecalc.engine import compiled
from tradecalc.hts.base_rates import Providers
from tradecalc.schedule.models import Schedule

from conftest import bundled_us_codes

TIMEOUT = 60


@pytest.fixture(scope="module")
def world() -> tuple[Schedule, Providers, list[str]]:
    """The bundled data, the US lines, and codes of two chapters and one no revision has."""
    schedule, providers, codes = bundled_us_codes("61", "95")
    assert len(codes) > 400
    codes.append("9999999999")
    random.Random(12).shuffle(codes)  # compiled in sorted order, added in this one
    return schedule, providers, codes


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper for any number of codes, in chunks of 16."""
    monkeypatch.setattr(compiled, "PARALLEL_CODES", 1)
    monkeypatch.setattr(compiled, "_CHUNK", 16)


def _table(world: tuple[Schedule, Providers, list[str]], processes: int) -> bytes:
    schedule, providers, codes = world
    tables = compiled.Tables(schedule, providers, compiled.RateTable("k", [], {}))
    tables.prepare("US", "CN", codes, processes)
    tables.prepare("US", "CN", codes[:5], processes)  # compiled already: nothing to do
    assert len(tables.table.codes) == len(codes)
    return tables.table.to_bytes()


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of chunks each helper sent back."""
    sent: list[int] = []
    real: Callable[[compiled._Helper], compiled._Compiled] = compiled._Helper.results

    def results(helper: compiled._Helper) -> compiled._Compiled:
        found = real(helper)
        sent.append(len(found))
        return found

    monkeypatch.setattr(compiled._Helper, "results", results)
    return sent


def test_two_processes_write_the_table_of_one(
    world: tuple[Schedule, Providers, list[str]],
    small_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whichever chunks the helper takes, the table's bytes are those of one process."""
    sent = _spy(monkeypatch)
    assert _table(world, 2) == _table(world, 1)
    assert len(sent) == 1  # a helper ran (once: the second prepare had nothing to do)


def test_chunks_both_compiled_are_merged_in_order(
    world: tuple[Schedule, Providers, list[str]],
    small_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The parent compiles the first three chunks, marking only the first (compiled before
    forking); the helper then compiles every other chunk, and its chunks after the third
    are added in order."""
    sent = _spy(monkeypatch)
    monkeypatch.setattr(compiled._Helper, "claim", lambda _helper, number: number < 3)
    one = _table(world, 1)
    assert _table(world, 2) == one
    chunks = -(-len(world[2]) // compiled._CHUNK)
    assert sent == [chunks - 1]


def test_a_failed_helper_leaves_its_chunks_to_the_parent(
    world: tuple[Schedule, Providers, list[str]],
    small_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A helper that fails sends nothing back: the parent compiles its chunks itself."""
    sent = _spy(monkeypatch)
    parent = os.getpid()
    real = compiled._Compiler.compile_code

    def compile_code(compiler: compiled._Compiler, digits: str) -> object:
        if os.getpid() != parent:
            raise RuntimeError("the helper breaks")
        return real(compiler, digits)

    one = _table(world, 1)
    monkeypatch.setattr(compiled._Compiler, "compile_code", compile_code)
    assert _table(world, 2) == one
    assert sent == [0]


_COMPILE_ALL = """
import os, sys
from tradecalc.engine import compiled
from tradecalc.hts.base_rates import Providers
from tradecalc.hts.history import open_schedule
from tradecalc.schedule.load import load_schedule

schedule = load_schedule(use_cache=False).schedule
providers = Providers(open_schedule(True, bundled=True))
codes = compiled.route_codes("US", providers, schedule)
tables = compiled.Tables(schedule, providers)
helper_start = compiled._Helper.start

def start(compiler, chunks, done):
    helper = helper_start(compiler, chunks, done)
    print(helper.pid, flush=True)
    return helper

compiled._Helper.start = start
try:
    for _ in range(20):  # long enough to be interrupted while the helper runs
        tables = compiled.Tables(schedule, providers)
        tables.prepare("US", "CN", codes, 2)
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
"""


def _helper_of(proc: subprocess.Popen[bytes]) -> int:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip().isdigit(), line
    return int(line)


def _gone(pid: int) -> bool:
    """True once ``pid`` has ended (and been reaped, or is a zombie of another parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def _wait_for(condition: Callable[[], bool]) -> None:
    end = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _start() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_COMPILE_ALL)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


@needs_proc
def test_ctrl_c_stops_the_helper_which_prints_nothing() -> None:
    """Ctrl-C to the whole group while the helper compiles: the parent alone reports it, and
    the helper is gone."""
    proc = _start()
    try:
        helper = _helper_of(proc)
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
    assert (proc.returncode, err) == (130, b"interrupted\n")
    _wait_for(lambda: _gone(helper))


@needs_proc
def test_a_killed_parent_leaves_no_helper() -> None:
    """The helper dies with its parent, silently."""
    proc = _start()
    try:
        helper = _helper_of(proc)
    finally:
        proc.kill()
    _, err = proc.communicate(timeout=TIMEOUT)
    _wait_for(lambda: _gone(helper))
    assert b"Traceback" not in err and b"Error" not in err
