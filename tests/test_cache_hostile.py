"""A hostile schedule cache: planted code, a FIFO, a link to /dev/zero, a huge file.

The cache is JSON data read through a whitelist of classes, opened without following links
or blocking, and only when it is a regular file within the size bound. Whatever sits at the
cache path, ``duty`` gives the same answer as without a cache, promptly, runs nothing and
replaces the file with a real cache.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import pickle
import stat
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradecalc import __version__
from tradecalc.schedule import cache_format, models
from tradecalc.schedule import load as schedules
from tradecalc.schedule.cache_format import NotACacheError
from tradecalc.schedule.load import MAX_CACHE_BYTES, data_digest, load_schedule

from conftest import BUNDLED, MINI, ROOT


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    folder.mkdir()
    monkeypatch.setenv("TRADECALC_CACHE_DIR", str(folder))
    return folder


def _cache_path(folder: Path) -> Path:
    digest = hashlib.sha256(MINI.read_bytes()).hexdigest()
    return folder / f"schedule-{digest}.json"


class _Planted:
    """Unpickling this touches a marker file: what a planted pickle could do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (open, (self.marker, "w"))


def test_a_planted_pickle_with_a_valid_header_runs_nothing(cache: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Planted(str(marker)))
    digest = hashlib.sha256(MINI.read_bytes()).hexdigest()
    for fmt in (2, 3):  # the old pickle format's header and the current one
        header = {
            "format": fmt,
            "tradecalc": __version__,
            "sha256": digest,
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
        }
        planted = json.dumps(header, separators=(",", ":")).encode() + b"\n" + payload
        for name in (f"schedule-{digest}.bin", f"schedule-{digest}.json"):
            (cache / name).write_bytes(planted)
        assert load_schedule(MINI).schedule == load_schedule(MINI, use_cache=False).schedule
        assert not marker.exists()


def _duty_in_child(cache: Path) -> subprocess.CompletedProcess[str]:
    args = ["duty", "1000", "--hs", "9503.00.0073", "--format", "json", "--data", str(MINI)]
    return subprocess.run(
        [sys.executable, "-m", "tradecalc", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TRADECALC_CACHE_DIR": str(cache)},
        cwd=ROOT,
        timeout=120,  # a FIFO used to block here forever
        check=False,
    )


@pytest.mark.parametrize(
    "kind", ["fifo", "link to /dev/zero", "dangling link", "huge sparse", "folder"]
)
def test_whatever_is_at_the_cache_path_duty_answers_and_the_cache_is_rebuilt(
    cache: Path, kind: str
) -> None:
    expected = _duty_in_child(cache.parent / "clean")
    target = _cache_path(cache)
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "link to /dev/zero":
        target.symlink_to("/dev/zero")
    elif kind == "dangling link":
        target.symlink_to(cache / "nowhere")
    elif kind == "folder":
        target.mkdir()
    else:
        with target.open("wb") as handle:
            handle.truncate(MAX_CACHE_BYTES + 1)
    run = _duty_in_child(cache)
    if kind == "folder":  # answered without a cache; the folder is left alone
        assert (run.returncode, run.stdout) == (expected.returncode, expected.stdout)
        assert target.is_dir()
        return
    assert (run.returncode, run.stdout, run.stderr) == (
        expected.returncode,
        expected.stdout,
        expected.stderr,
    )
    assert stat.S_ISREG(os.lstat(target).st_mode)  # replaced by a real cache file
    assert os.lstat(target).st_size < MAX_CACHE_BYTES
    assert schedules._read_cache(target, target.stem.removeprefix("schedule-")) is not None
    assert stat.S_ISCHR(os.stat("/dev/zero").st_mode)


@pytest.mark.parametrize("path", [MINI, BUNDLED])
def test_the_json_cache_gives_back_the_same_schedule(path: Path) -> None:
    schedule = load_schedule(path, use_cache=False).schedule
    assert cache_format.decode(cache_format.encode(schedule)) == schedule


@pytest.mark.parametrize(
    "payload",
    [
        b'{"$":"Popen","args":"true"}',
        b'{"$":"Schedule"}',
        b'{"a":1}',
        b'{"$d":"1"}',
        b"[1,2]",
        b'{"$u":[{"$":"os.system"}]}',
    ],
)
def test_only_known_classes_and_tags_are_decoded(payload: bytes) -> None:
    with pytest.raises(NotACacheError):
        cache_format.decode(payload)


_decimals = st.decimals(allow_nan=False, allow_infinity=False)
_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text(), _decimals, st.dates())
_trees = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
    ),
    max_leaves=20,
)


@given(_trees)
def test_every_value_round_trips_exactly(tree: object) -> None:
    back = cache_format.decode(cache_format.encode(tree))
    assert back == tree
    assert repr(back) == repr(tree)  # same types, same Decimal exponents


def test_decimals_keep_their_exponent() -> None:
    values = tuple(Decimal(t) for t in ("25", "0.090", "-0", "1E+3", "0E-7", "12.50"))
    assert [str(d) for d in cache_format.decode(cache_format.encode(values))] == [  # type: ignore[attr-defined]
        str(d) for d in values
    ]


def test_the_digest_of_one_file_is_its_sha256_and_any_extra_file_changes_it() -> None:
    own = hashlib.sha256(MINI.read_bytes()).hexdigest()
    assert data_digest(own, {}) == own
    with_list = data_digest(own, {"lists/a.csv": "1" * 64})
    assert with_list != own
    assert with_list != data_digest(own, {"lists/a.csv": "2" * 64})
    assert with_list != data_digest(own, {"lists/b.csv": "1" * 64})
    assert with_list == data_digest(own, {"lists/a.csv": "1" * 64})
    both = {"lists/a.csv": "1" * 64, "schedule/us.yaml": "3" * 64}
    assert data_digest(own, both) == data_digest(own, dict(reversed(both.items())))


@pytest.fixture(scope="module")
def bundled_pair() -> tuple[object, object]:
    """The bundled schedule as checked, and as decoded from its cache bytes."""
    schedule = load_schedule(BUNDLED, use_cache=False).schedule
    return schedule, cache_format.decode(cache_format.encode(schedule))


def test_list_rows_decode_lazily_and_equal_the_checked_rows(bundled_pair: tuple[Any, Any]) -> None:
    schedule, decoded = bundled_pair
    dated = [k for k, p in schedule.product_lists.items() if p.rows]
    assert dated
    for key in dated:
        rows = decoded.product_lists[key].rows
        assert isinstance(rows, cache_format.LazyRows)
        assert rows == schedule.product_lists[key].rows
        assert schedule.product_lists[key].rows == rows
        assert len(rows) == len(schedule.product_lists[key].rows)
        assert hash(rows) == hash(schedule.product_lists[key].rows)
    assert cache_format.encode(decoded) == cache_format.encode(schedule)


def test_a_lookup_builds_only_the_rows_of_the_code_asked(bundled_pair: tuple[Any, Any]) -> None:
    schedule, _ = bundled_pair
    decoded = cache_format.decode(cache_format.encode(schedule))
    key = max(schedule.product_lists, key=lambda k: len(schedule.product_lists[k].rows))
    plist, fresh = schedule.product_lists[key], decoded.product_lists[key]
    code = plist.rows[len(plist.rows) // 2].digits
    assert isinstance(fresh.__dict__["_index"], cache_format.RowIndex)
    assert fresh.holds(code, None) is plist.holds(code, None) is True
    assert len(fresh.rows._built) <= len(plist._index[code])  # nothing else was built
    assert fresh._index[code] == plist._index[code]
    assert dict(fresh._index) == plist._index


def test_the_seeded_index_is_the_product_lists_own_cached_index() -> None:
    """The decoder fills ``ProductList._index`` (a cached_property) from the lazy rows: a
    rename there must fail here, not make every one-shot build every row."""
    assert isinstance(vars(models.ProductList)["_index"], functools.cached_property)


def test_dated_lists_answer_alike_from_the_cache(bundled_pair: tuple[Any, Any]) -> None:
    schedule, decoded = bundled_pair
    codes = sorted({r.digits for p in schedule.product_lists.values() for r in p.rows})
    sample = [*codes[:: max(1, len(codes) // 150)], "9503000073", "7326908688", "01"]
    moments = [None, schedule.published, datetime(2019, 1, 1), datetime(2025, 6, 1)]
    for key, plist in schedule.product_lists.items():
        other = decoded.product_lists[key]
        for code in sample:
            for when in moments:
                assert other.holds(code, when) is plist.holds(code, when), (key, code, when)


def test_lazy_rows_copy_and_pickle_as_tuples(bundled_pair: tuple[Any, Any]) -> None:
    schedule, decoded = bundled_pair
    assert copy.deepcopy(decoded) == schedule
    again = pickle.loads(pickle.dumps(decoded))  # what a worker process would get
    assert again == schedule
    assert all(type(p.rows) is tuple for p in again.product_lists.values())
    assert all(type(p._index) is dict for p in again.product_lists.values() if p.rows)


def _rows_payload(kinds: str, digits: str, keys: str) -> bytes:
    return f'{{"$r":[{kinds},{json.dumps(digits)},{json.dumps(keys)}]}}'.encode()


_KIND = '{"$u":[{"$u":[{"$t":"2025-01-01T00:00:00"},null,{"$u":["s"]},""]}]}'


@pytest.mark.parametrize(
    "payload",
    [
        _rows_payload(_KIND, "01\n02", "0"),  # fewer kinds than rows
        _rows_payload(_KIND, "01", "00"),  # more kinds than rows
        _rows_payload(_KIND, "01", "1"),  # a kind that is not there
        _rows_payload(_KIND, "01", "/"),  # below the first kind
        _rows_payload(_KIND, "01", ""),
        _rows_payload('{"$u":[{"$u":[1,null,{"$u":[]},""]}]}', "01", "0"),  # a start not a time
        _rows_payload('{"$u":[{"$u":[null,null,{"$u":[2]},""]}]}', "01", "0"),  # a source not text
        _rows_payload('{"$u":[{"$u":[null,null]}]}', "01", "0"),  # a kind too short
        b'{"$r":[1,2]}',
        b'{"$r":"01"}',
    ],
)
def test_malformed_list_rows_are_not_a_cache(payload: bytes) -> None:
    with pytest.raises(NotACacheError):
        cache_format.decode(payload)


def test_well_formed_list_rows_decode() -> None:
    rows = cache_format.decode(_rows_payload(_KIND, "01\n0203", "00"))
    assert [(r.digits, r.start, r.source) for r in rows] == [  # type: ignore[attr-defined]
        ("01", datetime(2025, 1, 1), ("s",)),
        ("0203", datetime(2025, 1, 1), ("s",)),
    ]


def test_a_busy_lazy_index_becomes_the_lists_plain_index(bundled_pair: tuple[Any, Any]) -> None:
    schedule, _ = bundled_pair
    decoded = cache_format.decode(cache_format.encode(schedule))
    key = max(schedule.product_lists, key=lambda k: len(schedule.product_lists[k].rows))
    plist = decoded.product_lists[key]
    codes = [row.digits for row in schedule.product_lists[key].rows]
    for n in range(cache_format._BUSY + 1):
        assert plist._index.get(codes[n % len(codes)] + "x") is None
    assert type(plist.__dict__["_index"]) is dict  # what a compile then looks codes up in
    assert plist._index == schedule.product_lists[key]._index
    assert plist == schedule.product_lists[key]
