"""Start-up: one-shot ``tradecalc duty`` against a bare Typer hello-world, paired in one run.

Both are run as ``python FILE-or-module`` in fresh processes, alternately (A B A B ...), so
drift in machine speed cancels; the ratio is taken pair by pair. Target: median ratio <= 1.3.
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


def main(runs: int = 10, data: str | None = None) -> None:
    """Print medians (min) in ms and the paired ratio."""
    OUT.mkdir(parents=True, exist_ok=True)
    hello = OUT / "hello.py"
    hello.write_text(HELLO, encoding="utf-8")
    env = child_env()
    path = schedule_path(data)
    duty = [sys.executable, "-m", "tradecalc", "duty", "1000", "--hs", "9503.00.0073"]
    duty += ["--data", str(path)]
    base = [sys.executable, str(hello)]
    for cmd in (duty, base):  # warm up: byte-code, schedule cache, file cache
        wall_time(cmd, env)
    pairs = [(wall_time(duty, env), wall_time(base, env)) for _ in range(runs)]
    ratios = [d / b for d, b in pairs]
    d_ms = [d * 1000 for d, _ in pairs]
    b_ms = [b * 1000 for _, b in pairs]
    print(f"start-up, {runs} paired runs, schedule {path.name}")
    print(f"  tradecalc duty (table)  {statistics.median(d_ms):7.1f} ms  (min {min(d_ms):.1f})")
    print(f"  typer hello-world       {statistics.median(b_ms):7.1f} ms  (min {min(b_ms):.1f})")
    verdict = "meets" if statistics.median(ratios) <= 1.3 else "MISSES"
    print(
        f"  ratio duty/hello        {statistics.median(ratios):7.2f}x (min {min(ratios):.2f}x)"
        f"  target <= 1.30x: {verdict}"
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
