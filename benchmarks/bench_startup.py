"""Start-up: one-shot ``tradecalc duty`` against a bare Typer hello-world, paired in one run.

Every command runs as ``python FILE-or-module`` in a fresh process, in rounds (A B C D, A B
C D, ...) so drift in machine speed cancels; each ratio is taken within its round.

- ``duty`` with the default table and with ``--format json`` (what scripts call), each
  against the bare hello-world. Target: median ratio <= 1.3.
- ``duty`` on a code the curated data does not price (0101.30.0000), whose base rate comes
  from the bundled US schedule history (``data/hts/lines.tsv``, binary search on a
  memory map): what the bundle adds to a one-shot call.
- For context, the same hello-world with tradecalc's garbage-collector tuning (off while
  the command runs, what is alive frozen at exit; see ``tradecalc.cli.main``): the
  like-for-like ratio, i.e. what tradecalc's own imports and work cost.
"""

from __future__ import annotations

import statistics
import sys

from benchmarks.common import OUT, child_env, schedule_path, wall_time

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


def main(runs: int = 10, data: str | None = None) -> None:
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
        wall_time(cmd, env)
    rounds = [{k: wall_time(cmd, env) for k, cmd in commands.items()} for _ in range(runs)]
    print(f"start-up, {runs} rounds, schedule {path.name}")
    for name in commands:
        ms = [r[name] * 1000 for r in rounds]
        print(f"  {name:<34} {statistics.median(ms):7.1f} ms  (min {min(ms):.1f})")
    for name, base, target in (
        ("tradecalc duty (table)", "typer hello-world", TARGET),
        ("tradecalc duty --format json", "typer hello-world", TARGET),
        ("tradecalc duty, bundled HTS code", "tradecalc duty (table)", None),
        ("tradecalc duty (table)", "hello-world, GC tuned", None),
    ):
        ratios = [r[name] / r[base] for r in rounds]
        median = statistics.median(ratios)
        verdict = ""
        if target is not None:
            verdict = f"  target <= {target:.2f}x: {'meets' if median <= target else 'MISSES'}"
        label = f"{name} / {base}"
        print(f"  ratio {label:<50} {median:5.2f}x (min {min(ratios):.2f}x){verdict}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
