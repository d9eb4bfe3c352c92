"""``tradecalc validate`` and ``tradecalc schema``: every check, format, big and hostile file."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from tradecalc.core.files import MAX_FILE_BYTES

from conftest import BUNDLED, MINI, ROOT, Run
from snapshot import assert_snapshot

INVALID = ROOT / "tests" / "invalid"
FIXTURE_SCENARIO = ROOT / "tests" / "fixtures" / "scenarios" / "half.yaml"
EXAMPLES = sorted(INVALID.glob("*.yaml"))
Cli = Callable[..., Run]


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # diagnostics name files as given: keep them relative


def test_every_check_has_an_example() -> None:
    assert len(EXAMPLES) >= 20
    for path in EXAMPLES:
        assert path.with_suffix(".expected").is_file(), path


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_invalid_example_yields_its_exact_message(cli: Cli, path: Path) -> None:
    name = str(path.relative_to(ROOT))
    run = cli("validate", name, "--data", str(MINI.relative_to(ROOT)))
    assert run.code == 1
    expected = path.with_suffix(".expected").read_text(encoding="utf-8")
    assert run.out == expected
    assert expected.startswith(f"{name}:")
    assert run.err.startswith("tradecalc: ")


def test_all_problems_of_all_files_sorted(cli: Cli) -> None:
    names = ["tests/invalid/unsorted-periods.yaml", "tests/invalid/alias-bomb.yaml"]
    run = cli("validate", *names, "--data", "tests/fixtures/mini.yaml")
    assert run.code == 1
    lines = run.out.splitlines()
    assert [line.split(":")[0] for line in lines] == sorted(names)
    assert run.err == "tradecalc: 2 problems in 2 of 2 files\n"


def test_one_file_with_many_problems_lists_them_all(cli: Cli, tmp_path: Path) -> None:
    text = (INVALID / "unknown-source.yaml").read_text(encoding="utf-8")
    text = text.replace('to: "2025-05-14"', 'to: "2025-04-01"')
    text = text.replace('rates: { "9503.00"', "rates: { 9503.00")
    path = tmp_path / "many.yaml"
    path.write_text(text, encoding="utf-8")
    run = cli("validate", str(path))
    assert run.code == 1
    messages = [line.removeprefix(f"{path}:") for line in run.out.splitlines()]
    assert len(messages) == 3
    assert messages[0].startswith("28:27: HS code is not quoted")
    assert messages[1].startswith("37:35: period ends (2025-04-01) before it starts")
    assert messages[2] == "38:52: unknown source 'usitc'"


@pytest.mark.parametrize("separator", ["\x1e", "\u2028", "\x85", "\x0b"])
def test_a_line_separator_in_a_name_stays_inside_its_diagnostic(
    cli: Cli, tmp_path: Path, separator: str
) -> None:
    """The fuzz run renamed party US to "\\x1e": the messages quoting the parties broke in two."""
    escape = f"\\x{ord(separator):02x}" if ord(separator) < 0x100 else f"\\u{ord(separator):04x}"
    text = MINI.read_text(encoding="utf-8").replace("\n  US:\n", f'\n  "{escape}":\n', 1)
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    run = cli("validate", str(path))
    assert run.code == 1
    problems = int(run.err.split()[1])
    lines = run.out.splitlines()
    assert len(lines) == problems >= 1
    assert all(line.startswith(f"{path}:") for line in lines), lines
    assert separator not in run.out
    quoted = [line for line in lines if "unknown importer 'US' (parties: " in line]
    assert quoted and all(escape in line for line in quoted), lines


def test_schema_and_semantic_problems_together(cli: Cli, tmp_path: Path) -> None:
    text = (INVALID / "unparseable-rate.yaml").read_text(encoding="utf-8")
    path = tmp_path / "both.yaml"
    path.write_text(text.replace('codes: ["9503.00"]', "codes: [9503.00]"), encoding="utf-8")
    run = cli("validate", str(path))
    assert [line.split(": ")[0] for line in run.out.splitlines()] == [
        f"{path}:17:33",
        f"{path}:37:55",
    ]


def test_clean_file_exits_zero_with_summary(cli: Cli) -> None:
    run = cli("validate", "tests/fixtures/mini.yaml")
    summary = "tradecalc: 1 file OK; 1 fact marked unconfirmed (list them with --unconfirmed)\n"
    assert (run.code, run.out, run.err) == (0, "", summary)


def test_unconfirmed_facts_are_listed_with_their_owner_and_line(cli: Cli) -> None:
    run = cli("validate", "tests/fixtures/mini.yaml", "--unconfirmed")
    assert run.code == 0
    assert run.out == "tests/fixtures/mini.yaml:109:92: us-232-steel: fixture fact\n"
    assert run.err == "tradecalc: 1 file OK; 1 fact marked unconfirmed\n"


def test_scenario_files_are_validated(cli: Cli, tmp_path: Path) -> None:
    bad = INVALID / "scenario-unknown-measure.yaml"
    good = tmp_path / "good.yaml"
    good.write_text(bad.read_text(encoding="utf-8").replace("us-reciprocal", "us-recip"))
    run = cli("validate", str(good), "--data", "tests/fixtures/mini.yaml")
    assert (run.code, run.out) == (0, "")
    run = cli(
        "validate", str(good), "tests/fixtures/mini.yaml", "--data", "tests/fixtures/mini.yaml"
    )
    assert run.code == 0
    assert run.err.startswith("tradecalc: 2 files OK; 1 fact marked unconfirmed")


def test_scenario_against_broken_schedule_says_so(cli: Cli) -> None:
    run = cli(
        "validate",
        "tests/invalid/scenario-unknown-measure.yaml",
        "--data",
        "tests/invalid/unknown-source.yaml",
    )
    assert run.code == 1
    assert run.out.startswith(
        "tests/invalid/scenario-unknown-measure.yaml:5:13: cannot check references: "
    )


def test_github_format(cli: Cli) -> None:
    run = cli("validate", "tests/invalid/unknown-source.yaml", "--format", "github")
    assert run.code == 1
    assert run.out == (
        "::error file=tests/invalid/unknown-source.yaml,line=38,col=52::unknown source 'usitc'\n"
    )


def test_github_format_escapes() -> None:
    from tradecalc.core.errors import Diagnostic, SourceLocation
    from tradecalc.render.data import diagnostics_github

    found = [Diagnostic(SourceLocation("a,b:c.yaml", 1, 2), "50% off\nnext")]
    assert (
        diagnostics_github(found) == "::error file=a%2Cb%3Ac.yaml,line=1,col=2::50%25 off%0Anext\n"
    )


def test_json_format(cli: Cli) -> None:
    run = cli("validate", "tests/invalid/unknown-source.yaml", "--format", "json")
    assert run.code == 1
    assert json.loads(run.out) == [
        {
            "file": "tests/invalid/unknown-source.yaml",
            "line": 38,
            "column": 52,
            "message": "unknown source 'usitc'",
        }
    ]
    clean = cli("validate", "tests/fixtures/mini.yaml", "--format", "json")
    assert (clean.code, json.loads(clean.out)) == (0, [])


def test_missing_file_is_a_usage_error(cli: Cli) -> None:
    run = cli("validate", "tests/invalid/nope.yaml")
    assert (run.code, run.out) == (2, "")
    assert run.err == "tradecalc: error: tests/invalid/nope.yaml: no such file\n"


def test_validate_snapshot(cli: Cli) -> None:
    names = [
        "tests/invalid/overlapping-periods.yaml",
        "tests/invalid/unquoted-code.yaml",
        "tests/invalid/period-without-source.yaml",
    ]
    run = cli("validate", *names)
    assert_snapshot("validate.txt", run.out + run.err)


def test_alias_bomb_is_refused_before_expanding(cli: Cli, tmp_path: Path) -> None:
    levels = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 30)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(levels) + "\n", encoding="utf-8")  # 10**30 strings if expanded
    run = cli("validate", str(path))
    assert run.code == 1
    assert run.out == f"{path}:1:5: YAML aliases (*name) are not allowed in tradecalc files\n"


def _big_schedule(codes: int) -> str:
    """A valid schedule whose MFN table has ``codes`` entries (about 38 bytes each)."""
    head = MINI.read_text(encoding="utf-8")
    marker = '          "9503.00.0073": "Free"\n'
    rows = "".join(
        f'          "{n // 100_000 + 1:02d}{n // 1000 % 100:02d}.{n // 10 % 100:02d}.'
        f'{n % 1000:04d}": "{n % 30}%"\n'
        for n in range(codes)
    )
    return head.replace(marker, marker + rows)


@pytest.mark.slow
def test_ten_megabyte_file_validates(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(_big_schedule(320_000), encoding="utf-8")
    assert path.stat().st_size > 10_000_000
    run = cli("validate", str(path))
    assert (run.code, run.out) == (0, ""), run.out[:500]


_LIMITED_CHILD = (
    "import resource, runpy, sys\n"
    "limit = int(sys.argv.pop(1))\n"
    "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
    "sys.argv[0] = 'tradecalc'\n"
    "runpy.run_module('tradecalc', run_name='__main__')\n"
)
"""``python -c _LIMITED_CHILD BYTES ARGS``: the entry point with its address space capped."""


def test_many_tiny_nodes_are_refused_while_composing(tmp_path: Path) -> None:
    """31.4 MB of ``0,`` (15.7 M nodes): refused at the node bound, within 1 GiB."""
    from tradecalc.schedule.loader import MAX_NODES

    path = tmp_path / "nodes.yaml"
    count = 15_700_000
    path.write_text("[" + "0," * (count - 1) + "0]\n", encoding="ascii")
    child = subprocess.run(
        [sys.executable, "-c", _LIMITED_CHILD, str(1 << 30), "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    column = 2 * MAX_NODES  # the root list is node 1; item k starts at column 2k
    assert child.stdout == f"{path}:1:{column}: more than {MAX_NODES:,} YAML nodes\n"
    assert (child.returncode, child.stderr) == (1, "tradecalc: 1 problem in 1 of 1 file\n")


def test_endless_schedule_stream_is_refused_at_the_byte_limit(tmp_path: Path) -> None:
    """``validate /dev/stdin`` fed zeros forever stops at the size limit, within 1 GiB."""
    import threading

    out, err = tmp_path / "out", tmp_path / "err"
    with out.open("wb") as out_file, err.open("wb") as err_file:
        child = subprocess.Popen(
            [sys.executable, "-c", _LIMITED_CHILD, str(1 << 30), "validate", "/dev/stdin"],
            stdin=subprocess.PIPE,
            stdout=out_file,
            stderr=err_file,
        )
    assert child.stdin is not None

    def feed(stream: IO[bytes]) -> None:
        block = b"0" * (1 << 16)
        try:
            while True:
                stream.write(block)
        except OSError:  # the child stopped reading
            return

    feeder = threading.Thread(target=feed, args=(child.stdin,), daemon=True)
    feeder.start()
    try:
        code = child.wait(timeout=600)
    finally:
        child.kill()
        child.wait()
        feeder.join()
        with contextlib.suppress(OSError):
            child.stdin.close()
    printed = out.read_text(encoding="utf-8") + err.read_text(encoding="utf-8")
    assert code == 1, printed
    assert "internal error" not in printed
    assert f"{MAX_FILE_BYTES:,}" in printed


def test_bundled_data_validates(cli: Cli) -> None:
    run = cli("validate", str(BUNDLED))
    assert (run.code, run.out) == (0, "")


# ----------------------------------------------------------------------------- schema


@pytest.mark.parametrize(
    ("args", "committed"),
    [((), "docs/schedule.schema.json"), (("--scenario",), "docs/scenario.schema.json")],
)
def test_committed_schema_matches_command(cli: Cli, args: tuple[str, ...], committed: str) -> None:
    run = cli("schema", *args)
    assert run.code == 0
    assert run.out == (ROOT / committed).read_text(encoding="utf-8")


def test_schema_to_file(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    run = cli("schema", "-o", str(target))
    assert (run.code, run.out) == (0, "")
    schema = json.loads(target.read_text(encoding="utf-8"))
    assert schema["$schema"].endswith("2020-12/schema")
    assert "from" in schema["$defs"]["Period"]["properties"]


def test_bundled_data_points_at_the_schema() -> None:
    first = BUNDLED.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../docs/schedule.schema.json"


# ----------------------------------------------------------------------------- pre-commit


def _readme_example() -> dict[str, Any]:
    """The repository entry of the README's pre-commit example."""
    import yaml

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("```yaml\n- repo: https://github.com/OWNER/tradecalc")
    block = readme[start + len("```yaml\n") : readme.index("```", start + 3)]
    (repo,) = yaml.safe_load(block)
    assert isinstance(repo, dict)
    return repo


def test_pre_commit_hook_checks_schedules_and_scenarios_only() -> None:
    import re

    import yaml

    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (example,) = _readme_example()["hooks"]
    assert example["id"] == hook["id"] == "tradecalc-validate"
    pattern = re.compile(str(example.get("files", hook["files"])))
    for checked in ("data/rates.yaml", "rates.yaml", "scenarios/lapse.yaml", "us-schedule.yml"):
        assert pattern.search(checked), checked
    assert pattern.search(str(FIXTURE_SCENARIO.relative_to(ROOT)))
    for ignored in (".github/workflows/ci.yml", ".pre-commit-config.yaml", "mkdocs.yml"):
        assert not pattern.search(ignored), ignored
    data = example["args"]
    assert isinstance(data, list) and data[0] == "--data" and pattern.search(data[1])


def test_pre_commit_example_pins_a_revision_that_exists() -> None:
    import re
    import subprocess

    rev = str(_readme_example()["rev"])
    tags = subprocess.run(
        ["git", "tag"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    assert rev in tags or re.fullmatch(r"[0-9a-f]{40}", rev), rev


_PYDANTIC_INTERNALS = (
    "Input should be a valid",
    "should have at least",
    "function-",
    "instance of",
)


def test_no_example_shows_pydantic_internals() -> None:
    for expected in INVALID.glob("*.expected"):
        text = expected.read_text(encoding="utf-8")
        assert not [word for word in _PYDANTIC_INTERNALS if word in text], expected
