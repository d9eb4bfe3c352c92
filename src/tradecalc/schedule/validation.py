"""Validate schedule and scenario files: every problem of every file, sorted by position.

A file with a top-level ``scenario:`` key is a scenario file, checked against the
schedule it will be used with; anything else is a schedule. Unreadable files, YAML errors
and refused constructs (aliases, merge keys) become diagnostics like any other problem.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tradecalc.core.errors import DataError, Diagnostic, UsageError
from tradecalc.core.files import inside_folder, read_text
from tradecalc.schedule.checks import Path_, check_scenario, check_schedule, unquoted_codes
from tradecalc.schedule.fields import ValidationError, validate
from tradecalc.schedule.list_files import attach_list_files
from tradecalc.schedule.loader import (
    Document,
    build_model,
    diagnostic_from_message,
    include_parts,
    parse_yaml,
    read_document,
    validation_diagnostics,
)
from tradecalc.schedule.models import (
    Claim,
    Measure,
    Model,
    Override,
    Party,
    ProductList,
    Regime,
    Scenario,
    ScenarioFile,
    Schedule,
    Source,
    construct,
)


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


_HEADER_KEYS = {"schema_version", "version", "title", "published", "include"}
_SCHEDULE_KEYS = frozenset(f.name for f in dataclasses.fields(Schedule))
"""The top-level keys of a schedule (none has another name in the file)."""
MAX_ENTRY_CANDIDATES = 64
"""How many YAML files :func:`_entry_of` looks at to find the schedule that includes a part."""


def _is_part(data: Any) -> bool:
    """True for a part file: schedule keys only, none of the entry file's."""
    return (
        isinstance(data, dict)
        and bool(data)
        and not _HEADER_KEYS & data.keys()
        and data.keys() <= _SCHEDULE_KEYS
    )


def _entry_of(part: Path) -> Path | None:
    """The schedule file whose ``include:`` names ``part``, looked for in the part's folder
    and the two above it; None if there is none."""
    try:
        target = part.resolve()
    except OSError:
        return None
    folder, looked = target.parent, 0
    for _ in range(3):
        for candidate in sorted(folder.glob("*.y*ml")):
            looked += 1
            if looked > MAX_ENTRY_CANDIDATES:
                return None
            if candidate.resolve() != target and _includes(candidate, target):
                return candidate
        folder = folder.parent
    return None


def _includes(candidate: Path, target: Path) -> bool:
    try:
        text = read_text(candidate)
        if "include" not in text:
            return False
        doc = parse_yaml(text, str(candidate))
    except (DataError, UsageError):
        return False
    names = doc.data.get("include") if isinstance(doc.data, dict) else None
    if not isinstance(names, list):
        return False
    for name in names:
        try:
            if isinstance(name, str) and inside_folder(candidate.parent, name).resolve() == target:
                return True
        except (ValueError, OSError):
            continue
    return False


def _position(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.location.file, d.location.line, d.location.column, d.message)


def validate_file(path: Path, schedule: Callable[[], Schedule | DataError]) -> list[Diagnostic]:
    """The problems of one schedule or scenario file."""
    name = str(path)
    try:
        doc = read_document(path)
    except DataError as exc:
        return list(exc.diagnostics) or [diagnostic_from_message(name, str(exc))]
    is_scenario = isinstance(doc.data, dict) and "scenario" in doc.data
    if _is_part(doc.data):
        entry = _entry_of(path)
        if entry is None:
            message = (
                "a part of a schedule (no version: or title:): validate the file that "
                "includes it (e.g. data/rates.yaml)"
            )
            return [Diagnostic(doc.locate(()), message)]
        return validate_file(entry, schedule)
    if not is_scenario:
        try:
            doc, _ = include_parts(doc, path.parent)
        except DataError as exc:
            return [*unquoted_codes(doc), *exc.diagnostics]
        found = list(unquoted_codes(doc))
        try:
            return [*found, *schedule_problems(doc, path.parent)]
        except DataError as exc:
            return [*found, *exc.diagnostics]
    found = list(unquoted_codes(doc))
    try:
        scenario, unloaded = validate(ScenarioFile, doc.data).scenario, set[Path_]()
    except ValidationError as exc:
        found += validation_diagnostics(exc, doc)
        partial = _scenario_without(doc.data, {tuple(e["loc"]) for e in exc.errors()})
        if partial is None:
            return found
        scenario, unloaded = partial
    base = schedule()
    if isinstance(base, DataError):
        where = doc.locate(("scenario", "based_on"))
        message = f"cannot check references: the schedule does not load ({base})"
        return [*found, Diagnostic(where, message)]
    return [*found, *check_scenario(scenario, base, doc, unloaded)]


_PARTS: dict[str, tuple[type[Model], dict[str, Any]]] = {
    "measures": (Measure, {"periods": (), "displaced_by": ()}),
    "regimes": (Regime, {}),
    "scenarios": (Scenario, {"overrides": (), "add": ()}),
    "sources": (Source, {"title": "", "url": None, "kind": "derived"}),
    "parties": (Party, {"reporting_order": (), "valuation_source": (), "fees": (), "taxes": ()}),
    "product_lists": (ProductList, {"name": "", "codes": (), "source": ()}),
    "claims": (Claim, {"name": "", "importer": "US", "default": "", "effects": ()}),
}
"""The parts of a schedule checked one by one, and a stand-in for a part that fails."""
_HEADER = {"schema_version": "1", "version": "?", "title": "?", "published": "2000-01-01"}
"""Stand-ins for top-level values the semantic checks do not read."""


def schedule_problems(doc: Document, folder: Path) -> list[Diagnostic]:
    """Schema problems of a schedule, then the semantic checks of every part that parsed.

    A measure, regime, scenario, source, party or product list that fails the schema is
    reported and replaced by a stand-in, so references to it are not reported again and the
    other parts are still checked. The list files in ``folder`` are checked row by row.
    """
    if not isinstance(doc.data, dict):
        build_model(Schedule, doc)  # raises: the top is not a mapping
    try:
        whole = validate(Schedule, doc.data)
    except ValidationError as exc:
        problems = validation_diagnostics(exc, doc)
        failed = {tuple(error["loc"]) for error in exc.errors(include_url=False)}
    else:
        schedule, listed, _ = attach_list_files(whole, folder, doc)
        return [*listed, *check_schedule(schedule, doc)]
    partial = _without(doc.data, failed)
    if partial is None:
        return problems
    schedule, unloaded = partial
    schedule, listed, _ = attach_list_files(schedule, folder, doc)
    return [*problems, *listed, *check_schedule(schedule, doc, unloaded)]


def _without(
    data: dict[str, Any], failed: set[tuple[Any, ...]]
) -> tuple[Schedule, set[Path_]] | None:
    """``data`` as a schedule with stand-ins for the parts at ``failed`` locations.

    None when a problem is outside the parts (a whole list missing or malformed).
    """
    unloaded: set[Path_] = set()
    pruned = dict(data)
    for loc in failed:
        if loc[0] in _HEADER:
            pruned[loc[0]] = _HEADER[loc[0]]
        elif loc[0] not in _SCHEDULE_KEYS and len(loc) == 1:
            pruned.pop(loc[0], None)  # an unknown key
        elif loc[0] in _PARTS and len(loc) > 1 and _holds(data.get(loc[0]), loc[1]):
            unloaded.add(loc[:2])
        else:
            return None
    for key in _PARTS:
        bad = {path[1] for path in unloaded if path[0] == key}
        value = data.get(key)
        if isinstance(value, list):
            pruned[key] = [item for i, item in enumerate(value) if i not in bad]
        elif isinstance(value, dict):
            pruned[key] = {name: item for name, item in value.items() if name not in bad}
    try:
        schedule = validate(Schedule, pruned)
    except ValidationError:
        return None
    update: dict[str, Any] = {}
    for key in _PARTS:
        value = data.get(key)
        failed_here = [path[1] for path in unloaded if path[0] == key]
        if not failed_here:
            continue
        if isinstance(value, list):
            items = list(getattr(schedule, key))
            for index in sorted(int(i) for i in failed_here):
                items.insert(index, _stand_in(key, value[index]))
            update[key] = tuple(items)
        elif isinstance(value, dict):
            parts = dict(getattr(schedule, key))
            update[key] = {
                name: parts[name] if name in parts else _stand_in(key, item)
                for name, item in value.items()
            }
    return dataclasses.replace(schedule, **update), unloaded


def _scenario_without(
    data: dict[str, Any], failed: set[tuple[Any, ...]]
) -> tuple[Scenario, set[Path_]] | None:
    """The scenario of ``data`` with stand-ins for the overrides and added measures that
    failed; None when a problem is elsewhere in the scenario."""
    raw = data.get("scenario")
    unloaded = {loc[:3] for loc in failed if len(loc) > 2 and loc[:2] in _SCENARIO_PARTS}
    if not isinstance(raw, dict) or any(loc[:3] not in unloaded for loc in failed):
        return None
    if any(not _holds(raw.get(str(key)), index) for _, key, index in unloaded):
        return None
    pruned = dict(raw)
    for _, key, _ in unloaded:
        skip = {index for _, k, index in unloaded if k == key}
        pruned[str(key)] = [item for i, item in enumerate(raw[str(key)]) if i not in skip]
    try:
        scenario = validate(Scenario, pruned)
    except ValidationError:
        return None
    update: dict[str, Any] = {}
    for key in ("overrides", "add"):
        items: list[Any] = list(getattr(scenario, key))
        for index in sorted(int(i) for _, k, i in unloaded if k == key):
            stand_in = (
                _stand_in("measures", raw[key][index])
                if key == "add"
                else construct(Override, measure="", off=True)
            )
            items.insert(index, stand_in)
        update[key] = tuple(items)
    return dataclasses.replace(scenario, **update), unloaded


_SCENARIO_PARTS = {("scenario", "overrides"), ("scenario", "add")}


def _stand_in(key: str, raw: Any) -> Model:
    """A part that failed the schema, built without validation: its names, nothing else."""
    model, empty = _PARTS[key]
    fields: dict[str, Any] = dict(empty)
    names = {f.name for f in dataclasses.fields(model)}  # type: ignore[arg-type]
    for name in ("id", "based_on"):
        if name in names:
            fields[name] = _text(raw, name)
    return construct(model, **fields)


def _holds(collection: Any, key: Any) -> bool:
    if isinstance(collection, list):
        return isinstance(key, int) and 0 <= key < len(collection)
    return isinstance(collection, dict) and key in collection


def _text(raw: Any, key: str) -> str:
    """``raw[key]`` if ``raw`` is a mapping holding text there, else an empty string."""
    value = raw.get(key) if isinstance(raw, dict) else None
    return value if isinstance(value, str) else ""


def unconfirmed_facts(path: Path) -> list[Diagnostic]:
    """Every ``unconfirmed:`` note of a (valid) data file and its parts, with its position
    and owner id."""
    doc = read_document(path)
    if not (isinstance(doc.data, dict) and "scenario" in doc.data):
        doc, _ = include_parts(doc, path.parent)
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
