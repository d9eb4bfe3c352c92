"""No data lost: atomic writes, caches that are checked before they are trusted, concurrent runs.

A cache file that is truncated, corrupted, from another version or for other data is ignored
and rebuilt; several processes filling the same cache at once leave a valid one; an
interrupted write or batch leaves the previous file as it was.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fuzzing import run_main
from tradecalc.batch import rows as batch
from tradecalc.core.files import replacing, write_atomic
from tradecalc.schedule import load as schedules
from tradecalc.schedule.load import load_schedule

from conftest import MINI, ROOT


def _cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("schedule-*.json"))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TRADECALC_CACHE_DIR", str(folder))
    return folder


def _fill(cache: Path) -> tuple[Path, bytes]:
    first = load_schedule(MINI)
    (cache_file,) = _cache_files(cache)
    assert first.schedule == load_schedule(MINI, use_cache=False).schedule
    return cache_file, cache_file.read_bytes()


def _corruptions(good: bytes) -> dict[str, bytes]:
    header, payload = good.split(b"\n", 1)
    fields = json.loads(header)
    flipped = bytearray(payload)
    flipped[len(flipped) // 2] ^= 0xFF
    return {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "header only": header + b"\n",
        "no newline": header,
        "flipped payload byte": header + b"\n" + bytes(flipped),
        "garbage header": b"{not json\n" + payload,
        "other version": json.dumps({**fields, "tradecalc": "0.0.0"}).encode() + b"\n" + payload,
        "other format": json.dumps({**fields, "format": -1}).encode() + b"\n" + payload,
        "other data": json.dumps({**fields, "sha256": "0" * 64}).encode() + b"\n" + payload,
        "random bytes": os.urandom(4096),
    }


@pytest.mark.parametrize("kind", list(_corruptions(b"{}\nx")))
def test_a_damaged_cache_file_is_rebuilt(cache: Path, kind: str) -> None:
    cache_file, good = _fill(cache)
    cache_file.write_bytes(_corruptions(good)[kind])
    assert schedules._read_cache(cache_file, cache_file.stem.removeprefix("schedule-")) is None
    again = load_schedule(MINI)
    assert again.schedule == load_schedule(MINI, use_cache=False).schedule
    assert cache_file.read_bytes() == good  # rebuilt, byte for byte
    assert _cache_files(cache) == [cache_file]


def test_a_second_load_in_one_process_skips_only_the_decode(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same cache bytes are decoded once per process; the file is still read and checked."""
    cache_file, good = _fill(cache)
    decoded = load_schedule(MINI).schedule
    calls: list[bytes] = []
    real = schedules.cache_format.decode

    def counting(payload: bytes) -> object:
        calls.append(payload)
        return real(payload)

    monkeypatch.setattr(schedules.cache_format, "decode", counting)
    assert load_schedule(MINI).schedule is decoded
    assert calls == []
    cache_file.write_bytes(_corruptions(good)["flipped payload byte"])
    assert load_schedule(MINI).schedule == decoded  # the damaged file is noticed and rebuilt
    assert cache_file.read_bytes() == good


def test_a_truncated_cache_gives_the_same_answer_as_no_cache(cache: Path) -> None:
    args = ["duty", "1000", "--hs", "9503.00.0073", "--format", "json", "--data", str(MINI)]
    fresh = run_main(args)
    (cache_file,) = _cache_files(cache)
    cache_file.write_bytes(cache_file.read_bytes()[:100])
    rebuilt = run_main(args)
    assert rebuilt == fresh
    assert fresh.code == 0
    assert schedules._read_cache(cache_file, cache_file.stem.removeprefix("schedule-")) is not None


def test_an_edited_data_file_is_never_answered_from_the_old_cache(
    cache: Path, tmp_path: Path
) -> None:
    data = tmp_path / "rates.yaml"
    data.write_text(MINI.read_text(encoding="utf-8"), encoding="utf-8")
    args = ["duty", "1000", "--hs", "9503.00.0073", "--regime", "geneva", "--format", "csv"]
    before = run_main([*args, "--data", str(data)])
    text = data.read_text(encoding="utf-8").replace(
        '"9503.00.0073": "Free"', '"9503.00.0073": "7%"'
    )
    data.write_text(text, encoding="utf-8")
    after = run_main([*args, "--data", str(data)])
    assert before.out != after.out
    assert ",70.00," in after.out
    assert len(_cache_files(cache)) == 2


def test_an_unwritable_cache_only_costs_speed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("TRADECALC_CACHE_DIR", str(blocker / "cache"))
    assert load_schedule(MINI).schedule == load_schedule(MINI, use_cache=False).schedule


_WORKER = """
import sys
from pathlib import Path
from tradecalc.schedule.load import load_schedule
reference = load_schedule(Path(sys.argv[1]), use_cache=False).schedule
sys.stdin.readline()  # start together
for _ in range(int(sys.argv[2])):
    assert load_schedule(Path(sys.argv[1])).schedule == reference
print("ok")
"""


def test_concurrent_runs_leave_a_valid_cache(cache: Path) -> None:
    env = {**os.environ, "TRADECALC_CACHE_DIR": str(cache)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(MINI), "15"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for _ in range(6)
    ]
    for worker in workers:  # all have loaded Python and the schedule: let them race
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = [worker.communicate(timeout=120) for worker in workers]
    assert [(w.returncode, out) for w, (out, _) in zip(workers, results, strict=True)] == [
        (0, "ok\n")
    ] * 6, [err for _, err in results]
    (cache_file,) = _cache_files(cache)
    digest = cache_file.stem.removeprefix("schedule-")
    expected = load_schedule(MINI, use_cache=False).schedule
    assert schedules._read_cache(cache_file, digest) == (expected, {})
    assert sorted(p.name for p in cache.iterdir()) == [cache_file.name]  # no temp files left


# ----------------------------------------------------------------------------- atomic writes


def test_an_interrupted_write_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("previous\n", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt), replacing(target) as tmp:
        tmp.write_text("half a fi", encoding="utf-8")
        raise KeyboardInterrupt
    assert target.read_text(encoding="utf-8") == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    write_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_interrupted_batch_keeps_the_previous_output_and_errors_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.csv"
    rows = "".join(f"SKU{i},9503.00.0073,{1000 + i}\n" for i in range(50))
    source.write_text("sku,hs,value\n" + rows + "x,8.47E+09,1\n", encoding="utf-8")
    out, errors = tmp_path / "out.csv", tmp_path / "errors.csv"
    out.write_text("previous results\n", encoding="utf-8")
    errors.write_text("previous errors\n", encoding="utf-8")
    real = batch.ResultWriter.write
    written = 0

    def interrupted(self: batch.ResultWriter, row: batch.ResultRow) -> None:
        nonlocal written
        written += 1
        if written == 40:  # mid-stream: rows are already in the temporary file
            raise KeyboardInterrupt
        real(self, row)

    monkeypatch.setattr(batch.ResultWriter, "write", interrupted)
    args = ["batch", str(source), "-o", str(out), "--errors", str(errors), "--data", str(MINI)]
    run = run_main(args)
    assert (run.code, run.out) == (130, "")  # Click's exit status for Ctrl-C
    assert out.read_text(encoding="utf-8") == "previous results\n"
    assert errors.read_text(encoding="utf-8") == "previous errors\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["errors.csv", "in.csv", "out.csv"]
    monkeypatch.setattr(batch.ResultWriter, "write", real)
    done = run_main(args)
    assert done.code == 1  # the bad row
    assert out.read_text(encoding="utf-8").count("\n") == 1 + 50 * 3


_READ_ONLY = ("replacing(", "mode=ro", "os.O_RDONLY |", "# scratch: private, removed by close()")
"""Lines that only read, or write a private scratch file (refund's spill), never an output."""
_WRITES = re.compile(
    r"\.write_(text|bytes)\(|open\([^)]*['\"][wax]b?['\"]|sqlite3\.connect\(|os\.open\(|shutil\.copy"
)


def test_every_write_goes_through_the_atomic_helpers() -> None:
    """Source check: outside files.py, files are only written inside ``replacing``."""
    suspicious = []
    for path in sorted((ROOT / "src" / "tradecalc").rglob("*.py")):
        if path.name == "files.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _WRITES.search(line) and not any(ok in line for ok in _READ_ONLY):
                suspicious.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert suspicious == []
