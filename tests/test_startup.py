"""The one-shot path stays light: what ``duty`` imports and builds, not how long it takes.

Typer's parameters are coerced without a pydantic TypeAdapter each (``cli.app._PlainParam``),
giving the same values as Typer's own coercion and, for anything it refuses, the same error;
the schedule's models are plain dataclasses, validated by pydantic only when built from
YAML (``schedule.fields``). A warm one-shot ``duty`` then imports neither pydantic nor
``importlib.metadata``, and decodes the cached schedule without building its list rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer._coercion import build_runtime_param

from tradecalc.cli import app as cli_app
from tradecalc.cli.run import registered

from conftest import BUNDLED, ROOT


def _every_parameter() -> list[Any]:
    """Every Typer parameter of every command (and of the root), as the CLI sees them."""
    group = typer.main.get_command(registered())
    root = typer.Context(group)
    params = list(group.get_params(root))
    for name in group.list_commands(root):  # type: ignore[attr-defined]
        command = group.get_command(root, name)  # type: ignore[attr-defined]
        params += command.get_params(typer.Context(command))
    return params


def _samples(annotation: Any, tmp_path: Path) -> list[Any]:
    folder = tmp_path / "folder"
    folder.mkdir(exist_ok=True)
    texts = ["abc", "", " 12 ", "ü", "-", str(folder), str(tmp_path / "absent.yaml"), "a\0b"]
    enum_values = (
        [m.value for m in annotation]
        if isinstance(annotation, type) and issubclass(annotation, cli_app.Enum)
        else []
    )
    return [*texts, *enum_values, ("a", "b"), (), True, False, 3]


def _outcome(runtime: Any, value: Any, param: Any) -> tuple[str, Any]:
    try:
        return "value", runtime._coerce_value(value, param=param, ctx=None)
    except Exception as exc:  # the error itself is compared
        return "error", (type(exc).__name__, str(exc))


def test_plain_coercion_gives_what_typers_own_gives(tmp_path: Path) -> None:
    checked = 0
    for param in _every_parameter():
        if param.type_descriptor.file_annotation is not None:
            continue
        ours = param.get_runtime_param()
        typers = build_runtime_param(param.type_descriptor)
        for value in _samples(param.type_descriptor.annotation, tmp_path):
            param._runtime_param = ours
            expected = _outcome(typers, value, param)
            assert _outcome(ours, value, param) == expected, (param.name, value)
            assert type(_outcome(ours, value, param)[1]) is type(expected[1]), (param.name, value)
            checked += 1
        param._runtime_param = None
    assert checked > 300


def test_every_command_parameter_takes_the_light_path() -> None:
    kinds = {type(p.get_runtime_param()).__name__ for p in _every_parameter()}
    assert kinds == {"_PlainParam"}


_PROBE = """
import runpy, sys
sys.argv = ["tradecalc", *sys.argv[1:]]
try:
    runpy.run_module("tradecalc", run_name="__main__")
except SystemExit:
    pass
from tradecalc.schedule import load
from tradecalc.schedule.cache_format import LazyRows
loaded = [m for m in ("importlib.metadata", "pydantic", "typer._adapters") if m in sys.modules]
(schedule,) = load._DECODED.values()
built = sum(len(p.rows._built) for p in schedule.product_lists.values()
            if isinstance(p.rows, LazyRows))
total = sum(len(p.rows) for p in schedule.product_lists.values())
print(__import__("json").dumps({"loaded": loaded, "built": built, "rows": total}),
      file=sys.stderr)
"""


@pytest.mark.parametrize("output", ["table", "json"])
def test_a_warm_one_shot_duty_loads_no_validation_machinery(tmp_path: Path, output: str) -> None:
    env = {**os.environ, "TRADECALC_CACHE_DIR": str(tmp_path / "cache"), "NO_COLOR": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    args = ["duty", "1000", "--hs", "7326.90.8688", "--data", str(BUNDLED), "--format", output]
    cold = subprocess.run([sys.executable, "-c", _PROBE, *args], env=env, capture_output=True)
    warm = subprocess.run([sys.executable, "-c", _PROBE, *args], env=env, capture_output=True)
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout == cold.stdout
    report = json.loads(warm.stderr.decode().splitlines()[-1])
    assert report["loaded"] == []
    assert report["rows"] > 10_000
    assert report["built"] < 100  # the rows of the code's prefixes, not the lists
