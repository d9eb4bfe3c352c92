"""Validate schedule and scenario files: every problem of every file, sorted by position.

A file with a top-level ``scenario:`` key is a scenario file, checked against the
schedule it will be used with; anything else is a schedule. Unreadable files, YAML errors
and refused constructs (aliases, merge keys) become diagnostics like any other problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from tradecalc.checks import check_scenario, check_schedule, unquoted_codes
from tradecalc.errors import DataError, Diagnostic, SourceLocation
from tradecalc.list_files import attach_list_files
from tradecalc.loader import build_model, read_document
from tradecalc.models import ScenarioFile, Schedule

_LOCATED = re.compile(r"(?P<line>\d+):(?P<column>\d+): (?P<message>.*)", re.DOTALL)


def validate_files(
    paths: Iterable[Path], schedule_for_scenarios: Callable[[], Schedule]
) -> list[Diagnostic]:
    """Every problem in ``paths``, sorted by file, line, column and message.

    ``schedule_for_scenarios`` is called (once, lazily) when a scenario file needs the
    schedule its ``based_on`` and overrides refer to; it may raise DataError.
    """
    found: set[Diagnostic] = set()
    cache: list[Schedule | DataError] = []

    def schedule() -> Schedule | DataError:
        if not cache:
            try:
                cache.append(schedule_for_scenarios())
            except DataError as exc:
                cache.append(exc)
        return cache[0]

    for path in paths:
        found.update(validate_file(path, schedule))
    return sorted(found, key=_position)


def _position(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.location.file, d.location.line, d.location.column, d.message)


def validate_file(path: Path, schedule: Callable[[], Schedule | DataError]) -> list[Diagnostic]:
    """The problems of one schedule or scenario file."""
    name = str(path)
    try:
        doc = read_document(path)
    except DataError as exc:
        return list(exc.diagnostics) or [_from_message(name, str(exc))]
    found = list(unquoted_codes(doc))
    is_scenario = isinstance(doc.data, dict) and "scenario" in doc.data
    try:
        if is_scenario:
            scenario = build_model(ScenarioFile, doc).scenario
        else:
            parsed, listed, _ = attach_list_files(build_model(Schedule, doc), path.parent, name)
            return [*found, *listed, *check_schedule(parsed, doc)]
    except DataError as exc:
        return [*found, *exc.diagnostics]
    base = schedule()
    if isinstance(base, DataError):
        where = doc.locate(("scenario", "based_on"))
        message = f"cannot check references: the schedule does not load ({base})"
        return [*found, Diagnostic(where, message)]
    return [*found, *check_scenario(scenario, base, doc)]


def _from_message(name: str, message: str) -> Diagnostic:
    """A diagnostic from an error message ``name[:line:col]: text``."""
    text = message.removeprefix(f"{name}:").lstrip()
    match = _LOCATED.fullmatch(text)
    if match:
        line, column = int(match["line"]), int(match["column"])
        return Diagnostic(SourceLocation(name, line, column), match["message"])
    return Diagnostic(SourceLocation(name), text)


def unconfirmed_facts(path: Path) -> list[Diagnostic]:
    """Every ``unconfirmed:`` note of a (valid) data file, with its position and owner id."""
    doc = read_document(path)
    found = []
    stack: list[tuple[object, tuple[str | int, ...], str]] = [(doc.data, (), "")]
    while stack:
        node, where, owner = stack.pop()
        if isinstance(node, dict):
            owner = str(node.get("id", owner)) if isinstance(node.get("id"), str) else owner
            for key, value in node.items():
                if key == "unconfirmed" and isinstance(value, str):
                    label = owner or ".".join(str(p) for p in where) or "file"
                    found.append(Diagnostic(doc.locate((*where, key)), f"{label}: {value}"))
                else:
                    stack.append((value, (*where, key), owner))
        elif isinstance(node, list):
            stack.extend((item, (*where, i), owner) for i, item in enumerate(node))
    return sorted(found, key=_position)
