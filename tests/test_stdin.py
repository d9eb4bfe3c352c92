"""``tradecalc duty --stdin``: one JSON answer per line, flushed, errors per line, exit at EOF."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

from tradecalc.cli.serve import serve
from tradecalc.core.money import FxTable
from tradecalc.schedule.load import LoadedSchedule

from conftest import MINI, run_child


def _start() -> subprocess.Popen[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "tradecalc", "duty", "--stdin", "--data", str(MINI)]
    return subprocess.Popen(
        [*cmd, "--regime", "geneva"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_answers_line_by_line_while_the_process_stays_open() -> None:
    proc = _start()
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write('{"hs": "9503.00.0073", "value": "1000"}\n')
    proc.stdin.flush()
    first = json.loads(proc.stdout.readline())  # answered before stdin is closed
    assert first["line"] == 1
    assert [(r["regime"], r["duty"]) for r in first["results"]] == [("geneva", "300.00")]
    proc.stdin.write("not json\n")
    proc.stdin.flush()
    second = json.loads(proc.stdout.readline())
    assert second["line"] == 2 and second["error"].startswith("not valid JSON")
    proc.stdin.close()
    assert proc.wait(timeout=30) == 1
    assert proc.stdout.read() == ""
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()


def test_all_good_lines_exit_zero() -> None:
    proc = _start()
    out, _ = proc.communicate('{"hs": "9503.00.0073", "value": "10"}\n\n', timeout=30)
    assert proc.returncode == 0
    assert [json.loads(line)["line"] for line in out.splitlines()] == [1]


def test_dated_line_without_regime_uses_its_date(mini: LoadedSchedule) -> None:
    sink = io.StringIO()
    source = io.StringIO(
        '{"hs": "7326.90.8688", "value": "200", "date": "2025-06-10"}\n'
        '{"hs": "9503.00.0073", "value": 5.5}\n'
        "[1]\n"
    )
    ok = serve(mini, [], False, (), FxTable(), source=source, sink=sink)
    answers = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert not ok
    assert answers[0]["results"][0]["regime"] == "2025-06-10"
    assert answers[0]["results"][0]["needs_review"] is True
    assert answers[1]["shipment"]["value"] == "5.5"  # a JSON number, read from its text
    assert answers[2] == {"line": 3, "error": "expected a JSON object, got list"}


def test_stdin_refuses_a_value_argument() -> None:
    done = run_child(["duty", "5", "--stdin", "--data", str(MINI)], "")
    assert done.returncode == 2
    assert done.stderr == (
        "tradecalc: error: --stdin reads the shipments from stdin: give no value or --hs\n"
    )
