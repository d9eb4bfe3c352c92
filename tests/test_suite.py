"""The test suite itself: it collects however pytest is started, and never hides broken data."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT

TESTS = ROOT / "tests"


def _collect(*args: str, cwd: str) -> subprocess.CompletedProcess[str]:
    """``pytest --collect-only -q`` (node ids) as the ``pytest`` script runs it.

    ``-P`` keeps Python from putting the working folder first on ``sys.path``, as
    ``python -m pytest`` does and the ``pytest`` console script does not. The project's
    ``addopts`` are reset so the listing does not depend on them.
    """
    return subprocess.run(
        [
            sys.executable,
            "-P",
            "-m",
            "pytest",
            "--collect-only",
            "-o",
            "addopts=",
            "-q",
            "-p",
            "no:cacheprovider",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


@pytest.mark.parametrize(
    ("cwd", "target"),
    [(ROOT, "tests/test_diff.py"), (ROOT / "tests", "test_validate.py")],
    ids=["from-root", "from-tests"],
)
def test_a_module_collects_without_the_working_folder_on_the_path(cwd: object, target: str) -> None:
    run = _collect(target, cwd=str(cwd))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert sum("::" in line for line in run.stdout.splitlines()) > 5


def test_the_slow_marker_selects_the_ten_megabyte_validate_run() -> None:
    run = _collect("-m", "slow", "tests/test_validate.py", cwd=str(ROOT))
    assert run.returncode == 0, run.stdout + run.stderr
    selected = [line for line in run.stdout.splitlines() if "::" in line]
    assert selected == ["tests/test_validate.py::test_ten_megabyte_file_validates"]


def test_no_test_turns_broken_bundled_data_into_a_skip() -> None:
    for path in TESTS.glob("test_*.py"):
        if path.name == "test_suite.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert "bundled_validates" not in text, path.name
        assert "does not validate yet" not in text, path.name


def test_readme_names_the_shared_skips() -> None:
    """The README's count of ``../shared`` skips is the number of tests marked ``shared``."""
    run = _collect("-m", "shared", cwd=str(ROOT))
    count = sum("::" in line for line in run.stdout.splitlines())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{count} tests marked `shared`" in readme


def test_the_floors_are_those_the_suite_last_passed_with() -> None:
    """Each ``>=`` floor of a runtime dependency and of the ``fast`` extra is the version
    ``.ci/floors`` last ran the whole suite with: a floor changed without that run fails."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["fast"]
    stated = [spec.replace(">=", "==") for spec in dict.fromkeys(wanted)]
    passed = (ROOT / ".ci" / "floors.passed").read_text().splitlines()
    assert stated == [line for line in passed if not line.startswith("#")]
