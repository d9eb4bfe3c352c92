"""Find, load, check and cache schedule and scenario files.

A schedule is parsed from YAML and checked once per content: the validated result is
cached as JSON in the user's cache directory, keyed by the file's sha256, so a ``duty``
call never parses YAML when the file has not changed. A cache file that cannot be read
or validated is ignored and rebuilt, never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from tradecalc import __version__
from tradecalc.errors import DataError
from tradecalc.models import Scenario, ScenarioFile, Schedule

ENV_DATA = "TRADECALC_DATA"
ENV_CACHE = "TRADECALC_CACHE_DIR"
_CACHE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class LoadedSchedule:
    """A validated schedule with where it came from."""

    schedule: Schedule
    path: Path
    sha256: str


def bundled_path() -> Path:
    """The schedule shipped with tradecalc (installed copy, else the source tree's)."""
    here = Path(__file__).resolve().parent
    installed = here / "data" / "rates.yaml"
    if installed.is_file():
        return installed
    return here.parent.parent / "data" / "rates.yaml"


def default_path() -> Path:
    """``$TRADECALC_DATA`` if set, else the bundled schedule."""
    env = os.environ.get(ENV_DATA)
    return Path(env) if env else bundled_path()


def cache_dir() -> Path:
    """Where compiled schedules are kept (``$TRADECALC_CACHE_DIR`` overrides)."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("tradecalc", appauthor=False))


def load_schedule(path: Path | None = None, *, use_cache: bool = True) -> LoadedSchedule:
    """Load, validate and check a schedule file; raise DataError listing every problem."""
    from tradecalc.loader import read_text

    path = path or default_path()
    text = read_text(path)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    cache_file = cache_dir() / f"schedule-{digest}.json"
    if use_cache:
        cached = _read_cache(cache_file, digest)
        if cached is not None:
            return LoadedSchedule(cached, path, digest)
    schedule = compile_schedule(text, str(path))
    if use_cache:
        _write_cache(cache_file, digest, schedule)
    return LoadedSchedule(schedule, path, digest)


def compile_schedule(text: str, name: str) -> Schedule:
    """Parse and fully check schedule text (no cache)."""
    from tradecalc.checks import check_schedule
    from tradecalc.loader import build_model, parse_yaml

    doc = parse_yaml(text, name)
    schedule = build_model(Schedule, doc)
    problems = check_schedule(schedule, doc)
    if problems:
        count = len(problems)
        raise DataError(
            f"{name}: {count} problem{'s' if count != 1 else ''} found", tuple(problems)
        )
    return schedule


def load_scenario(path: Path, schedule: Schedule) -> Scenario:
    """Load a stand-alone scenario file and check it against ``schedule``."""
    from tradecalc.checks import check_scenario
    from tradecalc.loader import build_model, read_document

    doc = read_document(path)
    scenario_file = build_model(ScenarioFile, doc)
    problems = check_scenario(scenario_file.scenario, schedule, doc)
    if problems:
        count = len(problems)
        raise DataError(
            f"{path}: {count} problem{'s' if count != 1 else ''} found", tuple(problems)
        )
    return scenario_file.scenario


def _read_cache(cache_file: Path, digest: str) -> Schedule | None:
    try:
        raw = json.loads(cache_file.read_bytes())
        if (
            raw.get("format") != _CACHE_FORMAT
            or raw.get("sha256") != digest
            or raw.get("tradecalc") != __version__
        ):
            return None
        return Schedule.model_validate(raw["schedule"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ValidationError):
        return None


def _write_cache(cache_file: Path, digest: str, schedule: Schedule) -> None:
    payload = {
        "format": _CACHE_FORMAT,
        "tradecalc": __version__,
        "sha256": digest,
        "schedule": schedule.model_dump(mode="json", by_alias=True),
    }
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs speed
        write_atomic(cache_file, json.dumps(payload, separators=(",", ":")).encode("utf-8"))


def write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` via a temporary file and rename: never half-written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
