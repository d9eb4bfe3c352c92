"""A schedule split over part files (include:), displacement sets, and one data digest."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from tradecalc.core.errors import DataError
from tradecalc.engine.assessment import Shipment, assess, regime_views
from tradecalc.schedule import loader
from tradecalc.schedule.load import compile_schedule, data_digest, load_schedule
from tradecalc.schedule.loader import include_parts, read_document
from tradecalc.schedule.validation import validate_files

from conftest import BUNDLED, MINI, Run

Cli = Callable[..., Run]

MINI_TEXT = MINI.read_text(encoding="utf-8")
_CUT = (MINI_TEXT.index("sources:"), MINI_TEXT.index("measures:"))
HEADER, FIRST, SECOND = MINI_TEXT[: _CUT[0]], MINI_TEXT[_CUT[0] : _CUT[1]], MINI_TEXT[_CUT[1] :]
"""mini.yaml cut in three: the header, sources and parties, the rest."""


def _split(folder: Path, first: str = FIRST, second: str = SECOND, extra: str = "") -> Path:
    """mini.yaml as an entry file under ``folder`` and two part files in ``parts/``."""
    (folder / "parts").mkdir(exist_ok=True)
    (folder / "parts" / "a.yaml").write_text(first, encoding="utf-8")
    (folder / "parts" / "b.yaml").write_text(second, encoding="utf-8")
    entry = folder / "rates.yaml"
    entry.write_text(
        HEADER + "include: [parts/a.yaml, parts/b.yaml" + extra + "]\n", encoding="utf-8"
    )
    return entry


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def _problems(path: Path) -> list[str]:
    return [str(d) for d in validate_files([path], lambda: load_schedule(MINI).schedule)]


def _without_include(loaded_path: Path) -> dict[str, object]:
    data = asdict(load_schedule(loaded_path, use_cache=False).schedule)
    data.pop("include")
    return data


# ----------------------------------------------------------------------------- loading


def test_parts_load_as_the_single_file(tmp_path: Path) -> None:
    entry = _split(tmp_path)
    assert _without_include(entry) == _without_include(MINI)
    assert load_schedule(entry, use_cache=False).schedule.include == (
        "parts/a.yaml",
        "parts/b.yaml",
    )


def test_the_bundled_schedule_names_its_parts_and_equals_its_single_file_form(
    tmp_path: Path,
) -> None:
    doc, parts = include_parts(read_document(BUNDLED), BUNDLED.parent)
    assert sorted(parts) == sorted(doc.data["include"])
    assert all(name.startswith("schedule/") for name in parts)
    single = dict(doc.data)
    single.pop("include")
    shutil.copytree(BUNDLED.parent / "lists", tmp_path / "lists")
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump(single, sort_keys=False, allow_unicode=True), encoding="utf-8")
    one = load_schedule(path, use_cache=False)
    split = load_schedule(BUNDLED, use_cache=False)
    assert _without_include(path) == _without_include(BUNDLED)
    assert one.sha256 != split.sha256


def test_every_part_and_list_file_is_in_the_digest(tmp_path: Path) -> None:
    entry = _split(tmp_path)
    first = load_schedule(entry)
    own = load_schedule(entry).sha256
    assert first.sha256 == own
    hashes = {
        name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        for name in ("parts/a.yaml", "parts/b.yaml")
    }
    entry_sha = hashlib.sha256(entry.read_bytes()).hexdigest()
    assert first.sha256 == data_digest(entry_sha, hashes)
    seen = {first.sha256}
    for name in ("parts/a.yaml", "parts/b.yaml"):
        with (tmp_path / name).open("a", encoding="utf-8") as handle:
            handle.write("# edited\n")
        again = load_schedule(entry)  # the cache must notice the changed part
        assert again.sha256 not in seen
        seen.add(again.sha256)


def test_a_changed_part_is_never_served_from_the_cache(tmp_path: Path) -> None:
    entry = _split(tmp_path)
    shipment = Shipment("9503.00.0073", Decimal(1000))

    def duty() -> Decimal:
        schedule = load_schedule(entry).schedule
        return assess(schedule, shipment, regime_views(schedule)["geneva"]).duty

    before = duty()
    old = 'to: "2025-06-04", rate: "10%", heading: "9903.01.25"'
    assert SECOND.count(old) == 1
    text = SECOND.replace(old, old.replace('"10%"', '"11%"'))
    (tmp_path / "parts" / "b.yaml").write_text(text, encoding="utf-8")
    assert duty() == before + Decimal(10)


# ----------------------------------------------------------------------------- positions


def test_a_problem_in_a_part_is_reported_at_its_file_and_line(tmp_path: Path) -> None:
    second = SECOND.replace(
        '    authority: "test"\n', '    authority: "test"\n    colour: red\n', 1
    )
    entry = _split(tmp_path, second=second)
    line = _line_of(second, "colour:")
    part = tmp_path / "parts" / "b.yaml"
    assert _problems(entry) == [f"{part}:{line}:13: measures.0.colour: unknown key 'colour'"]


def test_a_semantic_problem_in_a_part_is_reported_at_its_file_and_line(tmp_path: Path) -> None:
    second = SECOND.replace("source: fx }", "source: nowhere }", 1)
    entry = _split(tmp_path, second=second)
    line = _line_of(second, "nowhere")
    (problem,) = _problems(entry)
    assert problem.startswith(f"{tmp_path / 'parts' / 'b.yaml'}:{line}:")
    assert problem.endswith("unknown source 'nowhere'")
    with pytest.raises(DataError) as caught:
        compile_schedule(entry.read_text(encoding="utf-8"), str(entry))
    assert [str(d) for d in caught.value.diagnostics] == [problem]


def test_a_key_defined_in_two_files_is_one_clear_problem(tmp_path: Path) -> None:
    second = 'sources:\n  fx: { title: "again", kind: derived }\n' + SECOND
    entry = _split(tmp_path, second=second)
    first_at = f"{tmp_path / 'parts' / 'a.yaml'}:{_line_of(FIRST, 'fx:')}:7"
    assert _problems(entry) == [
        f"{tmp_path / 'parts' / 'b.yaml'}:2:7: sources: 'fx' is already defined at {first_at}"
    ]


def test_a_header_value_given_twice_is_refused(tmp_path: Path) -> None:
    entry = _split(tmp_path, first='version: "again"\n' + FIRST)
    (problem,) = _problems(entry)
    assert problem == (
        f"{tmp_path / 'parts' / 'a.yaml'}:1:10: 'version' is already given at {entry}:3:10"
    )


# ----------------------------------------------------------------------------- bounds


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (", parts/missing.yaml", "no such file"),
        (", ../outside.yaml", "must be a relative path inside the schedule's folder"),
        (", /etc/hostname", "must be a relative path inside the schedule's folder"),
        (", parts/a.yaml", "'parts/a.yaml' is already read (include entry 0)"),
        (", rates.yaml", "'rates.yaml' is already read (the schedule itself)"),
        (", parts/link.yaml", "leads out of the schedule's folder (a symbolic link)"),
        (", parts/fifo.yaml", "'parts/fifo.yaml' is not a regular file"),
        (", parts", "'parts' is not a regular file"),
    ],
)
def test_a_bad_include_is_reported_on_its_line(tmp_path: Path, extra: str, message: str) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
    outside.write_text("regimes: []\n", encoding="utf-8")
    entry = _split(tmp_path, extra=extra)
    os.symlink(outside, tmp_path / "parts" / "link.yaml")
    os.mkfifo(tmp_path / "parts" / "fifo.yaml")  # reading it would wait for a writer
    (problem,) = _problems(entry)
    assert problem.startswith(f"{entry}:{_line_of(entry.read_text(), 'include:')}:")
    assert message in problem


def test_a_part_cannot_include_others(tmp_path: Path) -> None:
    entry = _split(tmp_path, first="include: [parts/b.yaml]\n" + FIRST)
    assert _problems(entry) == [
        f"{tmp_path / 'parts' / 'a.yaml'}:1:10: a part file cannot include others "
        "(include: is for the entry file)"
    ]


def test_the_number_of_parts_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_PARTS", 1)
    entry = _split(tmp_path)
    (problem,) = _problems(entry)
    assert problem.endswith("include: more than 1 part files")


def test_the_node_bound_holds_for_all_parts_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = _split(tmp_path)
    sizes = [loader.read_document(p).nodes for p in (entry, *sorted(tmp_path.glob("parts/*")))]
    monkeypatch.setattr(loader, "MAX_NODES", max(sizes) + 1)  # each file alone fits
    (problem,) = _problems(entry)
    assert problem.endswith(
        f"more than {max(sizes) + 1:,} YAML nodes in the schedule's files together"
    )


def test_the_size_bound_holds_for_all_parts_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = _split(tmp_path)
    monkeypatch.setattr(loader, "MAX_FILE_BYTES", max(len(FIRST), len(SECOND)) + 1)
    (problem,) = _problems(entry)
    assert problem.startswith(f"{entry}:")
    assert problem.endswith(f"include: the parts are above {len(SECOND) + 1:,} bytes together")


@pytest.mark.parametrize(
    "value", ["parts/a.yaml", "[parts/a.yaml, {}]", "[parts/a.yaml, '']", "{}"]
)
def test_include_must_be_a_list_of_names(tmp_path: Path, value: str) -> None:
    _split(tmp_path)
    entry = tmp_path / "rates.yaml"
    entry.write_text(HEADER + f"include: {value}\n", encoding="utf-8")
    assert _problems(entry) == [
        f"{entry}:{HEADER.count(chr(10)) + 1}:10: include: expected a list of file names"
    ]


def test_a_list_file_cannot_leave_the_folder_through_a_link(tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-list.csv"
    outside.write_text("code,from,to,source,note\n8471,,,fx,\n", encoding="utf-8")
    (tmp_path / "lists").mkdir()
    os.symlink(outside, tmp_path / "lists" / "l.csv")
    text = MINI_TEXT.replace(
        'list3: { name: "List 3", codes: ["6110.11", "7326.90.86"], source: fx }',
        'list3: { name: "List 3", file: "lists/l.csv", source: fx }',
    )
    entry = tmp_path / "rates.yaml"
    entry.write_text(text, encoding="utf-8")
    (problem,) = _problems(entry)
    assert problem.startswith(f"{entry}:{_line_of(text, 'list3:')}:")
    assert "leads out of the schedule's folder" in problem


# ----------------------------------------------------------------------------- displacement sets


def _with_set(folder: Path, ref: str) -> Path:
    text = MINI_TEXT.replace("displaced_by: [us-232-autos]", f'displaced_by: ["{ref}"]').replace(
        "sources:\n", "displacement_sets:\n  vehicles: [us-232-autos]\n\nsources:\n", 1
    )
    path = folder / "rates.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_displacement_set_expands_to_its_members(tmp_path: Path) -> None:
    named = load_schedule(_with_set(tmp_path, "set:vehicles"), use_cache=False).schedule
    inline = load_schedule(MINI, use_cache=False).schedule
    assert named.measures == inline.measures
    assert named.displacement_sets == {"vehicles": ("us-232-autos",)}


def test_an_unknown_displacement_set_is_one_clear_message(tmp_path: Path) -> None:
    path = _with_set(tmp_path, "set:vehicle")
    line = _line_of(path.read_text(encoding="utf-8"), '"set:vehicle"')
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}:{line}:")
    assert problem.endswith(
        "displaced_by names unknown displacement set 'set:vehicle' (known: vehicles)"
    )


def test_a_displacement_set_names_known_measures(tmp_path: Path) -> None:
    path = _with_set(tmp_path, "set:vehicles")
    path.write_text(
        path.read_text(encoding="utf-8").replace("[us-232-autos]\n", "[us-232-auto, set:x]\n", 1),
        encoding="utf-8",
    )
    messages = [p.split(": ", 1)[1] for p in _problems(path)]
    assert "displacement set names unknown measure 'us-232-auto'" in messages
    assert "a displacement set cannot name another set ('set:x')" in messages


# ----------------------------------------------------------------------------- the data


def test_carried_forward_blocks_are_identical() -> None:
    """The 2026 China MFN and VAT tables repeat 2025's (no change reported): edit both."""
    schedule = load_schedule(BUNDLED, use_cache=False).schedule
    cn_mfn = next(m for m in schedule.measures if m.id == "cn-mfn")
    vat = next(t for t in schedule.parties["CN"].taxes if t.id == "cn-vat")
    for item in (cn_mfn, vat):
        assert item.periods[0].rates == item.periods[1].rates, item.id


def test_no_truncated_machine_comments_are_left() -> None:
    texts = [BUNDLED.read_text(encoding="utf-8")]
    texts += [
        p.read_text(encoding="utf-8") for p in sorted((BUNDLED.parent / "schedule").glob("*.yaml"))
    ]
    for text in texts:
        comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
        for word in ("Fragment:", "fragment", "/tmp/", "/work/", "sources of the"):
            assert word not in comments


# ----------------------------------------------------------------------------- validate a part


def test_validating_a_part_checks_the_schedule_that_includes_it(tmp_path: Path) -> None:
    second = SECOND.replace("source: fx }", "source: nowhere }", 1)
    entry = _split(tmp_path, second=second)
    part = tmp_path / "parts" / "b.yaml"
    assert _problems(part) == _problems(entry) != []


def test_a_part_no_schedule_includes_is_one_clear_message(tmp_path: Path) -> None:
    part = tmp_path / "stray.yaml"
    part.write_text(SECOND, encoding="utf-8")
    assert _problems(part) == [
        f"{part}:1:1: a part of a schedule (no version: or title:): validate the file that "
        "includes it (e.g. data/rates.yaml)"
    ]


def test_every_bundled_part_validates(cli: Cli) -> None:
    parts = sorted(str(p) for p in (BUNDLED.parent / "schedule").glob("*.yaml"))
    run = cli("validate", *parts)
    assert (run.code, run.out) == (0, "")


def test_invalid_yaml_in_a_part_is_reported_in_the_part(tmp_path: Path, cli: Cli) -> None:
    entry = _split(tmp_path, second=SECOND.replace("measures:\n", "measures:\n  - [unclosed\n", 1))
    part = tmp_path / "parts" / "b.yaml"
    (problem,) = _problems(entry)
    assert problem.startswith(f"{part}:3:")
    assert "invalid YAML" in problem
    run = cli("duty", "1000", "--hs", "9503.00.0073", "--data", str(entry))
    assert run.code == 1
    assert problem in run.err


def test_an_empty_part_is_one_problem_and_costs_no_nodes(tmp_path: Path) -> None:
    entry = _split(tmp_path, first="# nothing yet\n", extra=", parts/c.yaml")
    (tmp_path / "parts" / "c.yaml").write_text(FIRST, encoding="utf-8")
    assert _problems(entry) == [
        f"{tmp_path / 'parts' / 'a.yaml'}: expected a mapping at the top of a part file"
    ]
