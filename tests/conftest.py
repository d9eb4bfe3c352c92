"""Shared fixtures: paths, the test schedule, an isolated cache, hypothesis profiles."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tradecalc.hts.base_rates import Providers
from tradecalc.schedule.load import LoadedSchedule, load_schedule
from tradecalc.schedule.models import Schedule

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
MINI = FIXTURES / "mini.yaml"
BUNDLED = ROOT / "data" / "rates.yaml"
SHARED_DATA = ROOT.parent / "shared" / "data"

settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile(
    "fuzz",
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never touch the user's cache or data directories from a test."""
    home = tmp_path_factory.getbasetemp() / "tradecalc-home"
    monkeypatch.setenv("TRADECALC_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("TRADECALC_HOME", str(tmp_path_factory.mktemp("home")))  # own revisions
    monkeypatch.delenv("TRADECALC_DATA", raising=False)
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture(scope="session")
def mini() -> LoadedSchedule:
    """The small test schedule of tests/fixtures/mini.yaml."""
    return load_schedule(MINI, use_cache=False)


def run_child(
    args: Sequence[str],
    stdin: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    text: bool = True,
) -> subprocess.CompletedProcess[Any]:
    """``python -m tradecalc ARGS`` in a child process: the console entry point, as shipped."""
    return subprocess.run(
        [sys.executable, "-m", "tradecalc", *args],
        input=stdin,
        capture_output=True,
        text=text,
        env=env,
        cwd=cwd,
        check=False,
    )


@dataclass(frozen=True)
class Run:
    """What one command-line run printed and returned."""

    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """Run ``tradecalc ARGS`` in-process: parsing, the command and the error mapping.

    It calls ``run``, what the console script runs without its process-exit tuning of the
    garbage collector (``tests/test_entry.py`` covers that in a child process).
    """
    from tradecalc.cli.run import run as run_tradecalc

    def run(*args: str, stdin: str | None = None) -> Run:
        monkeypatch.setattr(sys, "argv", ["tradecalc", *args])
        if stdin is not None:
            import io

            data = io.BytesIO(stdin.encode("utf-8"))
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(data, encoding="utf-8"))
        capsys.readouterr()
        try:
            run_tradecalc()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def bundled() -> Iterator[LoadedSchedule]:
    """The bundled schedule, data/rates.yaml."""
    yield load_schedule(BUNDLED, use_cache=False)


def bundled_us_codes(*prefixes: str) -> tuple[Schedule, Providers, list[str]]:
    """The bundled schedule, the bundled US tariff lines as providers, and the US codes of
    the route from China starting with one of ``prefixes`` (compile tests)."""
    from tradecalc.engine.compiled import route_codes
    from tradecalc.hts.history import open_schedule

    schedule = load_schedule(use_cache=False).schedule
    us = open_schedule(True, bundled=True)
    assert us is not None
    providers = Providers(us)
    codes = [c for c in route_codes("US", providers, schedule) if c.startswith(prefixes)]
    return schedule, providers, codes
