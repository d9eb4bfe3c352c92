"""Find, load, check and cache schedule and scenario files.

A schedule is parsed from YAML and checked once per content: the checked model is cached
in the user's cache directory, keyed by the file's sha256, so a ``duty`` call neither
parses YAML nor re-validates when the file has not changed. A cache file is a one-line
JSON header (format, tradecalc version, the data file's sha256 and the sha256 of the
payload) followed by the pickled model; one whose header or payload hash does not match
is ignored and rebuilt, never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

from tradecalc import __version__
from tradecalc.errors import DataError
from tradecalc.files import read_text, write_atomic
from tradecalc.models import Scenario, ScenarioFile, Schedule

ENV_DATA = "TRADECALC_DATA"
ENV_CACHE = "TRADECALC_CACHE_DIR"
_CACHE_FORMAT = 3


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
    from tradecalc.list_files import data_digest, file_digests

    path = path or default_path()
    text = read_text(path)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    cache_file = cache_dir() / f"schedule-{digest}.bin"
    if use_cache:
        cached = _read_cache(cache_file, digest)
        if cached is not None:
            schedule, files = cached
            if file_digests(schedule, path.parent) == files:
                return LoadedSchedule(schedule, path, data_digest(digest, files))
    schedule, files = compile_schedule_files(text, str(path), path.parent)
    if use_cache:
        _write_cache(cache_file, digest, schedule, files)
    return LoadedSchedule(schedule, path, data_digest(digest, files))


def compile_schedule(text: str, name: str) -> Schedule:
    """Parse and fully check schedule text (no cache); list files are read beside ``name``."""
    return compile_schedule_files(text, name, Path(name).parent)[0]


def compile_schedule_files(text: str, name: str, folder: Path) -> tuple[Schedule, dict[str, str]]:
    """Parse and check schedule text and its list files in ``folder``; return their sha256s."""
    from tradecalc.checks import check_schedule
    from tradecalc.list_files import attach_list_files
    from tradecalc.loader import build_model, parse_yaml

    doc = parse_yaml(text, name)
    schedule, problems, files = attach_list_files(build_model(Schedule, doc), folder, name)
    problems.extend(check_schedule(schedule, doc))
    if problems:
        count = len(problems)
        raise DataError(
            f"{name}: {count} problem{'s' if count != 1 else ''} found", tuple(problems)
        )
    return schedule, files


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


def _read_cache(cache_file: Path, digest: str) -> tuple[Schedule, dict[str, str]] | None:
    try:
        header_line, payload = cache_file.read_bytes().split(b"\n", 1)
        header = json.loads(header_line)
        files = header.pop("files")
        expected = {
            "format": _CACHE_FORMAT,
            "tradecalc": __version__,
            "sha256": digest,
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
        }
        if header != expected or not isinstance(files, dict):
            return None
        schedule = pickle.loads(payload)
    except Exception:  # any unreadable cache is rebuilt
        return None
    return (schedule, files) if isinstance(schedule, Schedule) else None


def _write_cache(cache_file: Path, digest: str, schedule: Schedule, files: dict[str, str]) -> None:
    payload = pickle.dumps(schedule, protocol=pickle.HIGHEST_PROTOCOL)
    header = {
        "format": _CACHE_FORMAT,
        "tradecalc": __version__,
        "sha256": digest,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "files": files,
    }
    data = json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n" + payload
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs speed
        write_atomic(cache_file, data)
