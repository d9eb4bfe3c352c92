"""Help follows Click's conventions, fits 80 columns, and every command and option is in README."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import typer.main

from tradecalc.cli.app import COMMAND_ORDER
from tradecalc.cli.run import app

from conftest import ROOT, Run

Cli = Callable[..., Run]


def _commands(
    group: Any = None, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """``(path, command)`` of every command and group, the root first."""
    group = group if group is not None else typer.main.get_command(app)
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


COMMANDS = [path for path, _ in _commands()]


def _help(cli: Cli, monkeypatch: pytest.MonkeyPatch, path: tuple[str, ...], width: int) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    run = cli(*path, "--help")
    assert run.code == 0, run.err
    return run.out


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "tradecalc")
def test_h_is_help_everywhere(cli: Cli, path: tuple[str, ...]) -> None:
    long, short = cli(*path, "--help"), cli(*path, "-h")
    assert short.code == 0 and short.out == long.out
    assert "Usage: tradecalc" in short.out


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "tradecalc")
def test_help_uses_click_metavars(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, path: tuple[str, ...]
) -> None:
    text = _help(cli, monkeypatch, path, 80)
    assert not re.search(r"<(str|bool|int|file|path|list\[)", text), text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage, usage
    command = dict(_commands())[path]
    for param in command.params:  # arguments are named in capitals, as in the usage line
        if param.param_type_name == "argument":
            assert param.metavar and param.metavar.isupper(), param.name
            assert param.metavar in usage
    for line in text.splitlines():  # a flag shows no type: its help starts right after it
        if re.match(r"│ --(explain|no-hts|stdin|unconfirmed|version|traceback) ", line):
            assert not re.search(r"--\S+\s+(TEXT|BOOLEAN)\b", line), line


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "tradecalc")
def test_defaults_survive_rich_markup_at_80_columns(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, path: tuple[str, ...]
) -> None:
    command = dict(_commands())[path]
    text = " ".join(_help(cli, monkeypatch, path, 80).replace("│", " ").split())
    for param in command.params:
        assert "[" not in (param.help or ""), f"{param.name}: Rich would read [...] as markup"
        if isinstance(param.show_default, str):
            first = param.show_default.split()[0]
            assert f"[default: ({first}" in text, (param.name, text)


def test_named_defaults_are_shown(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    duty = " ".join(_help(cli, monkeypatch, ("duty",), 80).replace("│", " ").split())
    for shown in ("(CN, or US when --dest CN)", "(US, or CN when --origin US)", "(the importer's)"):
        assert f"[default: {shown}]" in duty
    batch = " ".join(_help(cli, monkeypatch, ("batch",), 80).replace("│", " ").split())
    assert "[default: (from the output file name, else csv)]" in batch


def _examples(command: Any) -> list[str]:
    """The lines of a command's examples: comments and command lines."""
    epilog = command.epilog or ""
    return [line for line in epilog.splitlines() if line.startswith(("# ", "tradecalc ", "cat "))]


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "tradecalc")
def test_examples_do_not_wrap_at_80_columns(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, path: tuple[str, ...]
) -> None:
    command = dict(_commands())[path]
    shown = {line.strip() for line in _help(cli, monkeypatch, path, 80).splitlines()}
    for line in _examples(command):
        assert line.strip() in shown, f"wrapped at 80 columns: {line}"


def test_every_duty_example_is_ok_on_a_fresh_install(cli: Cli) -> None:
    command = dict(_commands())[("duty",)]
    lines = command.epilog.replace("\\\n", "").splitlines()
    runs = [shlex.split(line)[1:] for line in lines if line.startswith("tradecalc duty")]
    assert len(runs) >= 3
    for args in runs:
        run = cli(*args)
        assert run.code == 0, (args, run.err)
        if "--format" not in args:
            assert "needs review" not in run.out


def test_commands_are_listed_in_a_deliberate_order(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _help(cli, monkeypatch, (), 120)
    listed = [m.group(1) for m in re.finditer(r"^│ (\w+) {2,}", text, re.MULTILINE)]
    listed = [name for name in listed if name in COMMAND_ORDER]
    assert listed == list(COMMAND_ORDER)


def test_shell_completion_is_offered(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    text = _help(cli, monkeypatch, (), 120)
    assert "--install-completion" in text and "--show-completion" in text


def test_readme_documents_every_command_and_option() -> None:
    """Like sqlite-utils' docs test: each command and each of its options is in README.md."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = [" ".join(path) for path, _ in _commands() if path]
    missing = [name for name in names if f"tradecalc {name}" not in readme]
    missing += [
        f"{' '.join(path) or 'tradecalc'} {opt}"
        for path, command in _commands()
        for param in command.params
        for opt in param.opts
        if opt.startswith("--") and not re.search(re.escape(opt) + r"(?![\w-])", readme)
    ]
    assert not missing, missing
