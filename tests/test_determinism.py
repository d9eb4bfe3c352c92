"""Determinism: the same inputs give byte-identical JSON and CSV across runs and hash seeds.

Each case runs in fresh processes with different ``PYTHONHASHSEED`` values, the first with an
empty cache (YAML compiled) and the others with the filled one (model read from the JSON cache).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import BUNDLED, FIXTURES, MINI, ROOT, run_child

SEEDS = ("0", "1", "random")
SHIPMENT = ("1000", "--hs", "9503.00.0073", "--freight", "120", "--explain")

CASES = {
    "duty json, test data": ["duty", *SHIPMENT, "--format", "json", "--data", str(MINI)],
    "duty csv, test data": ["duty", *SHIPMENT, "--format", "csv", "--data", str(MINI)],
    "duty json, set and scenario": [
        "duty",
        *SHIPMENT,
        "--scenario",
        str(FIXTURES / "scenarios" / "half.yaml"),
        "--set",
        "us-recip=off",
        "--format",
        "json",
        "--data",
        str(MINI),
    ],
    "batch csv": ["batch", str(FIXTURES / "batch_in.csv"), "--data", str(MINI)],
    "batch jsonl": [
        "batch",
        str(FIXTURES / "batch_in.jsonl"),
        "--format",
        "jsonl",
        "--data",
        str(MINI),
    ],
    "validate json": ["validate", "tests/invalid/unsorted-periods.yaml", "--format", "json"],
}
BUNDLED_CASES = {
    "duty json, bundled": ["duty", "5000", "--hs", "8542.31", "--dest", "CN", "--format", "json"],
    "duty csv, bundled": ["duty", *SHIPMENT, "--format", "csv"],
    "diff json, bundled": ["diff", "pre-geneva", "geneva", "--format", "json"],
}


def _run(args: list[str], seed: str, cache: Path) -> tuple[int, bytes]:
    env = {
        **os.environ,
        "PYTHONHASHSEED": seed,
        "TRADECALC_CACHE_DIR": str(cache),
        "TRADECALC_HOME": str(cache.parent / "home"),
        "COLUMNS": "100",
        "NO_COLOR": "1",
    }
    env.pop("TRADECALC_DATA", None)
    done = run_child(args, env=env, cwd=ROOT, text=False)
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    return done.returncode, done.stdout


def _assert_identical(args: list[str], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    outputs = {seed: _run(args, seed, cache) for seed in SEEDS}
    first = outputs[SEEDS[0]]
    assert first[1], "no output to compare"
    for seed, output in outputs.items():
        assert output == first, f"PYTHONHASHSEED={seed} differs"


@pytest.mark.parametrize("case", list(CASES))
def test_same_bytes_across_hash_seeds(case: str, tmp_path: Path) -> None:
    _assert_identical(CASES[case], tmp_path)


@pytest.mark.parametrize("case", list(BUNDLED_CASES))
def test_same_bytes_across_hash_seeds_bundled(case: str, tmp_path: Path) -> None:
    assert BUNDLED.is_file()
    _assert_identical(BUNDLED_CASES[case], tmp_path)


def test_batch_output_file_is_identical_across_runs(tmp_path: Path) -> None:
    files = []
    for seed in ("0", "1"):
        target = tmp_path / f"out-{seed}.jsonl"
        args = ["batch", str(FIXTURES / "batch_in.csv"), "-o", str(target), "--data", str(MINI)]
        _run(args, seed, tmp_path / f"cache-{seed}")
        files.append(target.read_bytes())
    assert files[0] == files[1] and files[0]


ENVIRONMENTS = {
    "UTC, C.UTF-8, seed 0": {"TZ": "UTC", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0"},
    "Shanghai, C": {"TZ": "Asia/Shanghai", "LC_ALL": "C", "PYTHONHASHSEED": "1"},
    "New York, C.UTF-8": {"TZ": "America/New_York", "LC_ALL": "C.UTF-8"},
    "Kiritimati, LANG only": {"TZ": "Pacific/Kiritimati", "LANG": "C.UTF-8"},
}
"""Time zones on both sides of UTC and of the schedules' own zones, and C locales."""
ENVIRONMENT_CASES = {
    "duty table, test data": ["duty", *SHIPMENT, "--data", str(MINI)],
    "duty json with a time, test data": [
        *CASES["duty json, test data"],
        "--date",
        "2025-05-14T00:30",
    ],
    "duty csv, test data": CASES["duty csv, test data"],
    "batch csv": CASES["batch csv"],
    "validate": ["validate", "tests/invalid/unsorted-periods.yaml", str(MINI)],
    "duty json, bundled": BUNDLED_CASES["duty json, bundled"],
    "duty table, bundled": ["duty", "1000", "--hs", "7326.90.8688"],
}


@pytest.mark.parametrize("case", list(ENVIRONMENT_CASES))
def test_same_bytes_across_time_zones_and_locales(case: str, tmp_path: Path) -> None:
    """Output never depends on the machine's time zone, locale or hash seed."""
    outputs = {}
    for name, variables in ENVIRONMENTS.items():
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "TZ"))}
        env |= {
            "PYTHONHASHSEED": "random",
            "TRADECALC_CACHE_DIR": str(tmp_path / "cache"),
            "TRADECALC_HOME": str(tmp_path / "home"),
            "COLUMNS": "100",
            "NO_COLOR": "1",
            **variables,
        }
        env.pop("TRADECALC_DATA", None)
        done = run_child(ENVIRONMENT_CASES[case], env=env, cwd=ROOT, text=False)
        assert b"Traceback" not in done.stderr, done.stderr.decode()
        outputs[name] = (done.returncode, done.stdout, done.stderr)
    first = next(iter(outputs.values()))
    assert first[1] or first[2], "no output to compare"
    for name, output in outputs.items():
        assert output == first, f"{name} differs"
