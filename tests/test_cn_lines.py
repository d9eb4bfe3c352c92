"""China's bundled tariff lines, counter-tariff layers and VAT by line.

The provider tests use a small table of their own; the layer tests price real lines of the
bundled schedule the day before and the day of each change; the generator tests (which need
../shared/data) rerun the scripts and compare their output with the committed files.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradecalc.core.rate import parse_rate
from tradecalc.engine.assessment import Assessment, RegimeView, Shipment, assess
from tradecalc.hts.base_rates import Providers, for_importer
from tradecalc.hts.cn_lines import ChinaLines, neighbours, resolve
from tradecalc.schedule.load import LoadedSchedule
from tradecalc.schedule.models import Override

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "china-tariff"
HEADER = "code,mfn,in_quota,out_of_quota,vat,source,layers,unconfirmed\n"
CHINA = Providers(ChinaLines())


def _table(tmp_path: Path, rows: str) -> ChinaLines:
    path = tmp_path / "lines.csv"
    path.write_text("# test table\n" + HEADER + rows, encoding="utf-8")
    return ChinaLines(path)


SMALL = (
    "10019900,1,1,65,9,cn-bjz-2019,301-2018-25pct,\n"
    "12019011,3,,,9,cn-bjz-2019,mar-2025-annex2,carried forward\n"
    "12019019,3,,,9,cn-bjz-2019,mar-2025-annex2,carried forward\n"
    "12019020,3,,,9,cn-bjz-2019,,\n"
    "37025200,,,,13,cn-bjz-2019,,\n"
    "880240,3,,,13,cn-wto-ttd-usa-2025,,HS-6 rate\n"
)
JUNE = datetime(2025, 6, 1)


# ----------------------------------------------------------------------------- the provider


def test_a_line_answers_for_itself_and_for_longer_codes(tmp_path: Path) -> None:
    lines = _table(tmp_path, SMALL)
    hit = lines.lookup("12019011", JUNE)
    assert hit is not None and hit.code == "1201.90.11" and hit.rate == parse_rate("3%")
    assert hit.unconfirmed == "carried forward"
    assert lines.lookup("1201901100", JUNE) == hit  # a 10-digit code takes its 8-digit line
    assert lines.lookup("88024010", JUNE) is not None  # an HS-6 row answers for its lines


def test_a_shorter_code_resolves_only_when_every_line_under_it_agrees(tmp_path: Path) -> None:
    lines = _table(tmp_path, SMALL)
    assert lines.lookup("120190", JUNE) is None  # 1201.90.20 is in no counter-tariff list
    agreed = lines.lookup("1201901", JUNE)
    assert agreed is not None and agreed.code == "1201.90.1"
    assert "every line under 1201.90.1 agrees" in (agreed.unconfirmed or "")


def test_a_nonexistent_code_gets_its_real_neighbours(tmp_path: Path) -> None:
    lines = _table(tmp_path, SMALL)
    assert lines.lookup("12019099", JUNE) is None
    assert lines.nearest("12019099", JUNE) == ("1201.90.11", "1201.90.19", "1201.90.20")
    assert lines.nearest("9999", JUNE) == ()


def test_trq_line_reads_in_and_out_of_quota(tmp_path: Path) -> None:
    hit = _table(tmp_path, SMALL).lookup("10019900", JUNE)
    assert hit is not None and hit.rate == parse_rate("1%")
    assert hit.text == "1% (in-quota 1%; out-of-quota 65%)"


def test_no_rate_before_2025_and_2026_marked(tmp_path: Path) -> None:
    lines = _table(tmp_path, SMALL)
    assert lines.lookup("12019011", datetime(2024, 12, 31)) is None
    hit = lines.lookup("12019020", datetime(2026, 3, 1))
    assert hit is not None and "2026 schedule not checked" in (hit.unconfirmed or "")
    spec = lines.lookup("37025200", JUNE)
    assert spec is not None and spec.rate is None  # specific duty: the engine asks for review


@given(st.lists(st.from_regex(r"[0-9]{4,8}", fullmatch=True), min_size=1, max_size=30, unique=True),
       st.from_regex(r"[0-9]{4,10}", fullmatch=True))  # fmt: skip
def test_resolve_agrees_with_a_plain_scan(keys: list[str], digits: str) -> None:
    keys.sort()
    values = {k: k[-1] for k in keys}  # entries "agree" when their last digits are equal
    found = resolve(keys, values.__getitem__, digits, lambda a, b: a == b)
    ancestors = [k for k in keys if digits.startswith(k) and len(k) >= 4]
    below = [k for k in keys if k.startswith(digits) and k != digits]
    if ancestors:
        assert found is not None and found[0] == max(ancestors, key=len)
    elif below and len({values[k] for k in below}) == 1:
        assert found == (digits, values[below[0]], False)
    else:
        assert found is None
    near = neighbours(keys, digits)
    assert all(k.startswith(near[0][:1]) for k in near)


def test_providers_pick_the_importer() -> None:
    us = ChinaLines()
    us.importer = "US"  # type: ignore[misc]
    both = Providers(us, ChinaLines())
    assert for_importer(both, "CN") is both.by_importer["CN"]
    assert for_importer(both, "EU") is None
    with pytest.raises(TypeError):
        both.lookup("1201", JUNE)


# ----------------------------------------------------------------------------- layers by date


def _price(
    bundled: LoadedSchedule, code: str, when: str, overrides: tuple[Override, ...] = ()
) -> Assessment:
    moment = datetime.fromisoformat(when)
    shipment = Shipment(
        code, Decimal(1000), origin="US", dest="CN", entry=moment, entry_is_date=False,
        freight=Decimal(0), insurance=Decimal(0),
    )  # fmt: skip
    return assess(
        bundled.schedule, shipment, RegimeView("t", "t", moment, "", overrides), None, CHINA
    )


def _rates(result: Assessment) -> dict[str, str]:
    return {line.measure: str(line.rate) for line in result.lines}


@pytest.mark.parametrize(
    ("code", "measure", "before", "on", "rate"),
    [
        ("0203.12.00", "cn-counter-2018-232-25", "2018-04-01T23:59", "2018-04-02", "25%"),
        ("0808.10.00", "cn-counter-2018-232-15", "2018-04-01T23:59", "2018-04-02", "15%"),
        ("1201.90.11", "cn-counter-2018-301-25", "2018-07-05T23:59", "2018-07-06", "25%"),
        ("2301.20.10", "cn-counter-2018-301-25", "2018-08-22T23:59", "2018-08-23", "25%"),
        ("0101.29.00", "cn-counter-2018-301-10", "2018-09-23T23:59", "2018-09-24", "10%"),
        ("2804.30.00", "cn-counter-2018-301-5", "2018-09-23T23:59", "2018-09-24", "5%"),
        ("1201.90.11", "cn-counter-2019-301-5", "2019-09-01T12:00", "2019-09-01T12:01", "5%"),
        ("2711.11.00", "cn-counter-2018-301-25", "2019-05-31T23:59", "2019-06-01", "25%"),
        ("2711.11.00", "cn-counter-2025-feb", "2025-02-09T23:59", "2025-02-10", "15%"),
        ("2709.00.00", "cn-counter-2025-feb", "2025-02-09T23:59", "2025-02-10", "10%"),
        ("1201.90.11", "cn-counter-2025-mar", "2025-03-09T23:59", "2025-03-10", "10%"),
        ("1005.90.00", "cn-counter-2025-mar", "2025-03-09T23:59", "2025-03-10", "15%"),
        ("8802.40.10", "cn-counter-2025", "2025-04-10T12:00", "2025-04-10T12:01", "84%"),
    ],
)
def test_a_layer_starts_on_its_date(
    bundled: LoadedSchedule, code: str, measure: str, before: str, on: str, rate: str
) -> None:
    assert measure not in _rates(_price(bundled, code, before))
    assert _rates(_price(bundled, code, on))[measure] == rate


@pytest.mark.parametrize(
    ("code", "measure", "last", "gone"),
    [
        ("1201.90.11", "cn-counter-2025-mar", "2025-11-10T13:00", "2025-11-10T13:01"),
        ("8703.23.62", "cn-counter-2018-301-25", "2018-12-31T23:59", "2019-01-01"),
        ("0101.29.00", "cn-counter-2018-301-10", "2019-05-31T23:59", "2019-06-01"),
        ("8802.40.10", "cn-counter-2025", "2026-11-10T13:00", "2026-11-10T13:01"),
    ],
)
def test_a_layer_ends_on_its_date(
    bundled: LoadedSchedule, code: str, measure: str, last: str, gone: str
) -> None:
    assert measure in _rates(_price(bundled, code, last))
    assert measure not in _rates(_price(bundled, code, gone))


def test_the_2019_list_is_halved_at_1301_on_14_feb_2020(bundled: LoadedSchedule) -> None:
    assert (
        _rates(_price(bundled, "1201.90.11", "2020-02-14T13:00"))["cn-counter-2019-301-5"] == "5%"
    )
    assert (
        _rates(_price(bundled, "1201.90.11", "2020-02-14T13:01"))["cn-counter-2019-301-5"] == "2.5%"
    )


def test_after_the_suspension_the_result_says_the_status_is_unknown(
    bundled: LoadedSchedule,
) -> None:
    result = _price(bundled, "8802.40.10", "2026-11-10T13:01")
    assert any("status unknown" in item for item in result.review)
    priced = _price(
        bundled,
        "8802.40.10",
        "2026-11-10T13:01",
        (Override(measure="cn-counter-2025", rate=parse_rate("10%")),),
    )
    assert _rates(priced)["cn-counter-2025"] == "10%"


def test_soybeans_after_busan_total_the_sourced_stack(bundled: LoadedSchedule) -> None:
    result = _price(bundled, "1201.90.11", "2025-11-11")
    # 3% MFN + 25% (2018) + 2.5% (Sep 2019, halved) + 10% (reciprocal) = 40.5%
    assert result.duty == Decimal("405.00")


def test_the_exclusion_is_a_claim_that_switches_the_301_layers_off(bundled: LoadedSchedule) -> None:
    result = _price(bundled, "1201.90.11", "2025-06-01")
    assert any("(claim)" in item for item in result.review)
    off = tuple(
        Override(measure=m, off=True) for m in ("cn-counter-2018-301-25", "cn-counter-2019-301-5")
    )
    claimed = _price(bundled, "1201.90.11", "2025-06-01", off)
    assert set(_rates(claimed)) == {"cn-mfn", "cn-counter-2025-mar", "cn-counter-2025"}
    # pork: the Sec. 232 counter-measure stays (not excludable)
    pork = _rates(_price(bundled, "0203.12.00", "2025-06-01"))
    assert pork["cn-counter-2018-232-25"] == "25%"


def test_trq_in_quota_by_default_out_of_quota_by_override(bundled: LoadedSchedule) -> None:
    rice = _price(bundled, "1006.30.90", "2025-06-01")
    (base,) = [line for line in rice.lines if line.group == "base"]
    assert str(base.rate) == "1%"
    assert any("Tariff-rate quota" in item for item in rice.review)
    out = _price(
        bundled, "1006.30.90", "2025-06-01", (Override(measure="cn-mfn", rate=parse_rate("65%")),)
    )
    assert _rates(out)["cn-mfn"] == "65%"
    sugar = _price(bundled, "1701.99.10", "2025-06-01")
    assert _rates(sugar)["cn-mfn"] == "15%"


@pytest.mark.parametrize(
    ("code", "tax", "rate"),
    [
        ("0808.10.00", "cn-vat-9pct", "9%"),  # apples: agricultural product (list)
        ("1201.90.11", "cn-vat", "9%"),  # soybeans: curated in the schedule
        ("8471.30.10", "cn-vat", "13%"),  # laptops: general rate
        ("1701.99.10", "cn-vat", "13%"),  # sugar: not an agricultural product for VAT
    ],
)
def test_vat_by_line(bundled: LoadedSchedule, code: str, tax: str, rate: str) -> None:
    result = _price(bundled, code, "2026-03-01")
    (vat,) = result.taxes
    assert (vat.measure, str(vat.rate)) == (tax, rate)
    assert vat.amount == (result.customs_value + result.duty) * Decimal(rate[:-1]) / 100


def test_an_uncurated_line_shows_its_unconfirmed_rate(bundled: LoadedSchedule) -> None:
    result = _price(bundled, "0808.10.00", "2025-06-01")
    (base,) = [line for line in result.lines if line.group == "base"]
    assert str(base.rate) == "10%" and base.source == ("cn-bjz-2019",)
    assert base.unconfirmed and "2019 MFN" in base.unconfirmed


# ----------------------------------------------------------------------------- generators


GENERATED = [
    ROOT / "data" / "cn" / "tariff-lines.csv",
    *sorted((ROOT / "data" / "lists").glob("cn-*.csv")),
]


@pytest.mark.shared
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent: shared China data not here")
def test_the_lines_generator_reproduces_the_committed_files() -> None:
    before = {path: path.read_bytes() for path in GENERATED}
    try:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "build_china_lines.py")], check=True)
        after = sorted(
            [ROOT / "data" / "cn" / "tariff-lines.csv", *(ROOT / "data" / "lists").glob("cn-*.csv")]
        )
        assert after == sorted(before)
        changed = [p.name for p in after if p.read_bytes() != before[p]]
        assert changed == []
    finally:
        for path, content in before.items():
            path.write_bytes(content)


REPORTS = [ROOT / "docs" / "china-coverage.md", ROOT / "docs" / "china-crosscheck.md"]


@pytest.mark.shared
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent: shared China data not here")
def test_the_coverage_report_reproduces_the_committed_reports() -> None:
    before = {path: path.read_bytes() for path in REPORTS}
    try:
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "report_china_coverage.py")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        assert [p.name for p in REPORTS if p.read_bytes() != before[p]] == []
    finally:
        for path, content in before.items():
            path.write_bytes(content)


def test_every_bundled_line_gives_a_computable_rate_or_says_why() -> None:
    """A rate the parser refuses (an HS-6 average with 15 decimals) once crashed `duty`."""
    lines = ChinaLines()
    when = datetime(2026, 1, 1)
    refused = []
    for key in lines.lines():
        found = lines.lookup(key, when)
        assert found is not None
        if found.rate is None and found.kind != "text":
            refused.append(key)
        if found.rate is None:
            assert found.text  # the reason is shown for review
    assert refused == []
    assert lines.lookup("970191", when).rate is None  # type: ignore[union-attr]
