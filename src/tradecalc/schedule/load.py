"""Find, load, check and cache schedule and scenario files.

A schedule is parsed from YAML and checked once per content: the checked model is cached
in the user's cache directory, keyed by the sha256 of the schedule file, so a ``duty`` call neither
parses YAML nor re-validates when the data has not changed. A cache file is a one-line
JSON header (format, tradecalc version, the schedule file's sha256, the sha256 of every
part and list file, and the sha256 of the payload)
followed by the model as tagged JSON (:mod:`tradecalc.schedule.cache_format`: data only, nothing
that can run). It is opened without following links or blocking, read only if it is a
regular file within :data:`MAX_CACHE_BYTES`; one whose header or payload hash does not
match is ignored and rebuilt, never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from tradecalc import __version__
from tradecalc.core.errors import DataError, TradecalcError, WriteError
from tradecalc.core.files import inside_folder, read_text, replace_file
from tradecalc.core.records import record
from tradecalc.schedule import cache_format
from tradecalc.schedule.cache_format import NotACacheError
from tradecalc.schedule.models import Scenario, ScenarioFile, Schedule

ENV_DATA = "TRADECALC_DATA"
ENV_CACHE = "TRADECALC_CACHE_DIR"
_CACHE_FORMAT = 6
MAX_CACHE_BYTES = 16 * 1024 * 1024
"""A cache file larger than this is ignored (the bundled schedule's is about 0.5 MB)."""


@record
class LoadedSchedule:
    """A validated schedule with where it came from."""

    schedule: Schedule
    path: Path
    sha256: str


def bundled_path() -> Path:
    """The schedule shipped with tradecalc (installed copy, else the source tree's)."""
    here = Path(__file__).resolve().parents[1]
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
    """Load, validate and check a schedule (its parts and list files too).

    Raise DataError listing every problem. The cache is keyed by the entry file's sha256
    and records the sha256 of every part and list file, checked again on each load.
    """
    path = path or default_path()
    text = read_text(path)
    own = hashlib.sha256(text.encode("utf-8")).hexdigest()
    cache_file = cache_dir() / f"schedule-{own}.json"
    if use_cache:
        cached = _read_cache(cache_file, own)
        if cached is not None:
            schedule, files = cached
            if _current_digests(path.parent, files) == files:
                return LoadedSchedule(schedule, path, data_digest(own, files))
    schedule, files = compile_schedule_files(text, str(path), path.parent)
    if use_cache:
        _write_cache(cache_file, own, schedule, files)
    return LoadedSchedule(schedule, path, data_digest(own, files))


def data_digest(own_sha256: str, files: Mapping[str, str]) -> str:
    """The schedule's identity: ``data_sha256`` in results.

    ``own_sha256`` is the sha256 of the schedule (entry) file; ``files`` the sha256 of
    every file it reads besides (parts and list files), keyed by the name it uses for them.
    With no other file, the entry file's own sha256; else the sha256 of it and of every
    name and hash in name order, so a change to any file gives a new identity.
    """
    if not files:
        return own_sha256
    digest = hashlib.sha256(own_sha256.encode("ascii"))
    for name in sorted(files):
        digest.update(f"\n{name}\t{files[name]}".encode())
    return digest.hexdigest()


def _current_digests(folder: Path, files: Mapping[str, str]) -> dict[str, str] | None:
    """The sha256 of each file named in ``files`` as it is now; None if one cannot be read."""
    try:
        return {
            name: hashlib.sha256(read_text(inside_folder(folder, name)).encode("utf-8")).hexdigest()
            for name in files
        }
    except (TradecalcError, ValueError):
        return None


def compile_schedule(text: str, name: str) -> Schedule:
    """Parse and fully check schedule text (no cache); parts and list files are read beside
    ``name``."""
    return compile_schedule_files(text, name, Path(name).parent)[0]


def compile_schedule_files(text: str, name: str, folder: Path) -> tuple[Schedule, dict[str, str]]:
    """Parse and check schedule text, its parts and its list files in ``folder``.

    Returns the schedule (displacement sets expanded) and the sha256 of every part and list
    file read, keyed by the name the schedule uses.
    """
    from tradecalc.schedule.checks import check_schedule
    from tradecalc.schedule.list_files import attach_list_files
    from tradecalc.schedule.loader import build_model, include_parts, parse_yaml

    doc, parts = include_parts(parse_yaml(text, name), folder)
    schedule, problems, files = attach_list_files(build_model(Schedule, doc), folder, doc)
    problems.extend(check_schedule(schedule, doc))
    if problems:
        count = len(problems)
        raise DataError(
            f"{name}: {count} problem{'s' if count != 1 else ''} found", tuple(problems)
        )
    return schedule.expanded(), {**parts, **files}


def load_scenario(path: Path, schedule: Schedule) -> Scenario:
    """Load a stand-alone scenario file and check it against ``schedule``."""
    from tradecalc.schedule.checks import check_scenario
    from tradecalc.schedule.loader import build_model, read_document

    doc = read_document(path)
    scenario_file = build_model(ScenarioFile, doc)
    problems = check_scenario(scenario_file.scenario, schedule, doc)
    if problems:
        count = len(problems)
        raise DataError(
            f"{path}: {count} problem{'s' if count != 1 else ''} found", tuple(problems)
        )
    return scenario_file.scenario.expanded(schedule.displacement_sets)


def _read_cache(cache_file: Path, digest: str) -> tuple[Schedule, dict[str, str]] | None:
    try:
        header_line, payload = _read_regular(cache_file).split(b"\n", 1)
        header = json.loads(header_line)
        files = header.pop("files")
        payload_sha256 = hashlib.sha256(payload).hexdigest()
        expected = {
            "format": _CACHE_FORMAT,
            "tradecalc": __version__,
            "sha256": digest,
            "payload_sha256": payload_sha256,
        }
        if header != expected or not isinstance(files, dict):
            return None
        schedule = _DECODED.get(payload_sha256) or cache_format.decode(payload)
    except Exception:  # any unreadable cache is rebuilt
        return None
    if not isinstance(schedule, Schedule):
        return None
    _DECODED.pop(payload_sha256, None)
    while len(_DECODED) >= _DECODED_SIZE:
        del _DECODED[next(iter(_DECODED))]
    _DECODED[payload_sha256] = schedule
    return schedule, files


_DECODED: dict[str, Schedule] = {}
"""Cache payloads decoded in this process, by their sha256 (decoding is a pure function of the
bytes): a second load of the same schedule in one process (``serve``, a library caller, the
tests) still reads and checks the cache file and every data file, but skips the decode."""
_DECODED_SIZE = 4


def _read_regular(path: Path) -> bytes:
    """A regular file's bytes: no link followed, no FIFO waited on, at most MAX_CACHE_BYTES."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_CACHE_BYTES:
        os.close(fd)
        raise NotACacheError(path)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_CACHE_BYTES + 1)
    if len(data) > MAX_CACHE_BYTES:
        raise NotACacheError(path)
    return data


def _write_cache(cache_file: Path, digest: str, schedule: Schedule, files: dict[str, str]) -> None:
    try:
        payload = cache_format.encode(schedule)
    except TypeError:  # a value the format does not know: run without a cache
        return
    header = {
        "format": _CACHE_FORMAT,
        "tradecalc": __version__,
        "sha256": digest,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "files": files,
    }
    data = json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n" + payload
    if len(data) > MAX_CACHE_BYTES:
        return
    with contextlib.suppress(WriteError):  # a cache that cannot be written only costs speed
        replace_file(cache_file, data)
