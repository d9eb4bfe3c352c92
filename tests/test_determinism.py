"""Determinism: the same inputs give byte-identical JSON and CSV across runs and hash seeds.

Each case runs in fresh processes with different ``PYTHONHASHSEED`` values, the first with an
empty cache (YAML compiled) and the others with the filled one (model unpickled).
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
