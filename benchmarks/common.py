"""What the benchmarks share: paths, the schedule to use, the environment for child processes."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

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
