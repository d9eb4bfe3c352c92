"""Start-up: one-shot ``tradecalc duty`` against a bare Typer hello-world, paired in one run.

Every command runs as ``python FILE-or-module`` in a fresh process, in rounds (A B C D, A B
C D, ...) so drift in machine speed cancels; each ratio is taken within its round.

- ``duty`` with the default table and with ``--format json`` (what scripts call), each
  against the hello-world with tradecalc's garbage-collector tuning (off while the command
  runs, what is alive frozen at exit; see ``tradecalc.cli.main``): the like-for-like ratio,
  i.e. what tradecalc's own imports and work cost. Target: median ratio <= 1.3.
- ``duty`` on a code the curated data does not price (0101.30.0000), whose base rate comes
  from the bundled US schedule history (``data/hts/lines.tsv``, binary search on a
  memory map): what the bundle adds to a one-shot call.
- For context, the same against the untuned hello-world.

Each ratio is printed for wall time and for CPU time (the child's user + system seconds),
which other work on a shared machine disturbs less; the load average is printed with them.

Thirty rounds by default: the development machine switches between a fast and a slow phase
(in one set of 30 rounds the hello-world took 152-160 ms or 206-219 ms, nothing between), and
a round that straddles a switch gives a ratio of 0.9 or 1.7. With 10 rounds the median ratio
of the same code moved between 1.15 and 1.40 over three runs; over 30 it was 1.20.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time

from benchmarks.common import OUT, child_env, schedule_path

HELLO = """import typer

app = typer.Typer(add_completion=False)


@app.command()
def hello(name: str = "world") -> None:
    print(f"hello {name}")


if __name__ == "__main__":
    app()
"""

HELLO_TUNED = """import gc

gc.disable()

import typer

app = typer.Typer(add_completion=False)


@app.command()
def hello(name: str = "world") -> None:
    print(f"hello {name}")


if __name__ == "__main__":
    try:
        app()
    finally:
        gc.freeze()
"""

TARGET = 1.3


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``cmd`` (exit 0 or 1)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.decode()}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def main(runs: int = 30, data: str | None = None) -> None:
    """Print medians (min) in ms and the ratios, round by round."""
    OUT.mkdir(parents=True, exist_ok=True)
    scripts = {"hello": HELLO, "hello_gc": HELLO_TUNED}
    for name, text in scripts.items():
        (OUT / f"{name}.py").write_text(text, encoding="utf-8")
    env = child_env()
    path = schedule_path(data)
    duty = [sys.executable, "-m", "tradecalc", "duty", "1000", "--hs", "9503.00.0073"]
    duty += ["--data", str(path)]
    commands = {
        "tradecalc duty (table)": duty,
        "tradecalc duty --format json": [*duty, "--format", "json"],
        "tradecalc duty, bundled HTS code": [
            *duty[:6],
            "0101.30.0000",
            *duty[7:],
            "--date",
            "2025-06-01",
        ],
        "typer hello-world": [sys.executable, str(OUT / "hello.py")],
        "hello-world, GC tuned": [sys.executable, str(OUT / "hello_gc.py")],
    }
    for cmd in commands.values():  # warm up: byte-code, schedule cache, file cache
        timed(cmd, env)
    rounds = [{k: timed(cmd, env) for k, cmd in commands.items()} for _ in range(runs)]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"start-up, {runs} rounds, schedule {path.name}, load average {load}")
    for name in commands:
        wall = [r[name][0] * 1000 for r in rounds]
        cpu = [r[name][1] * 1000 for r in rounds]
        print(
            f"  {name:<34} {statistics.median(wall):7.1f} ms  (min {min(wall):.1f})"
            f"   CPU {statistics.median(cpu):7.1f} ms  (min {min(cpu):.1f})"
        )
    for name, base, target in (
        ("tradecalc duty (table)", "hello-world, GC tuned", TARGET),
        ("tradecalc duty --format json", "hello-world, GC tuned", TARGET),
        ("tradecalc duty, bundled HTS code", "tradecalc duty (table)", None),
        ("tradecalc duty (table)", "typer hello-world", None),
        ("tradecalc duty --format json", "typer hello-world", None),
    ):
        for kind, at in (("wall", 0), ("CPU", 1)):
            ratios = [r[name][at] / r[base][at] for r in rounds]
            median = statistics.median(ratios)
            verdict = ""
            if target is not None:
                verdict = f"  target <= {target:.2f}x: {'meets' if median <= target else 'MISSES'}"
            label = f"{name} / {base} ({kind})"
            print(f"  ratio {label:<70} {median:5.2f}x (min {min(ratios):.2f}x){verdict}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
