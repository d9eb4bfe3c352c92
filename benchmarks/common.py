"""What the benchmarks share: paths, the schedule to use, the environment for child processes."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
MINI = ROOT / "tests" / "fixtures" / "mini.yaml"


def schedule_path(given: str | None) -> Path:
    """``given``, else the bundled data if it validates, else the test schedule (said aloud)."""
    if given:
        return Path(given)
    from tradecalc.core.errors import DataError
    from tradecalc.schedule.load import bundled_path, load_schedule

    try:
        load_schedule(bundled_path())
    except DataError as exc:
        print(f"(bundled data does not validate: {exc}; using {MINI.relative_to(ROOT)})")
        return MINI
    return bundled_path()


def child_env() -> dict[str, str]:
    """Child processes write byte-code (as an installed package would) and use a private cache."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["TRADECALC_CACHE_DIR"] = str(OUT / "cache")
    env["NO_COLOR"] = "1"
    return env


def wall_time(cmd: list[str], env: dict[str, str]) -> float:
    """Seconds one run of ``cmd`` takes; exits 0 or 1 (needs review) are both fine."""
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.decode()}")
    return elapsed


class Measured(NamedTuple):
    """One child run: wall and CPU seconds, peak resident MiB, exit code, its stderr."""

    wall: float
    cpu: float
    peak: float
    code: int
    stderr: str


_LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    cpu = usage.ru_utime + usage.ru_stime
    out.write(f"{wall} {cpu} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""
"""Runs a command and writes its wall time, CPU time, peak and exit code. A child's peak
(``ru_maxrss``) starts at the memory of the process that spawned it (Linux keeps the
larger across ``exec``): started from this small launcher, not from a benchmark that has
grown, the figure is the command's own."""


def run_measured(cmd: list[str], env: dict[str, str], stdout: int | None = None) -> Measured:
    """``cmd`` run through :data:`_LAUNCHER`: its own wall, CPU and peak memory."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "measured"
        done = subprocess.run(
            [sys.executable, "-S", "-c", _LAUNCHER, str(report), *cmd],
            env=env,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        if not report.is_file():
            raise SystemExit(f"{' '.join(cmd)}: the launcher failed: {done.stderr[-2000:]}")
        wall, cpu, peak_kib, code = report.read_text().split()
    return Measured(float(wall), float(cpu), int(peak_kib) / 1024, int(code), done.stderr)


_SPIN = "n = 0\nfor i in range(12_000_000):\n    n += i\n"
"""Pure-Python work of about a second, the same on any core."""


def parallel_capacity(rounds: int = 3) -> float:
    """How much more work this machine does with two CPU-bound processes than with one:
    ``2 x (one process's time) / (two at once)``, the median of ``rounds``. Two real cores
    give about 2; cores shared with other tenants, or hyper-threads of one core, less. A
    job spread over both cores can be at most this much faster than on one, which bounds
    what a peer gains from its second core and what tradecalc could."""
    spin = [sys.executable, "-S", "-c", _SPIN]
    ratios = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(spin, check=True)
        alone = time.perf_counter() - start
        start = time.perf_counter()
        pair = [subprocess.Popen(spin) for _ in range(2)]
        for child in pair:
            child.wait()
        together = time.perf_counter() - start
        ratios.append(2 * alone / together)
    return statistics.median(ratios)
