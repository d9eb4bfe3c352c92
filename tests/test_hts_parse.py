"""The USITC HTS export parser: cell cleaning, rate grammar, hierarchy and inheritance."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradecalc.core.errors import DataError
from tradecalc.core.rate import parse_rate
from tradecalc.hts.parse import (
    COMPUTABLE,
    clean_text,
    clean_unit,
    footnote_headings,
    parse_export,
    parse_general,
)

GRAMMAR = Path(__file__).parent / "fixtures" / "hts_grammar.json"


@pytest.mark.parametrize(
    ("text", "kind", "rate"),
    [
        ("Free", "free", "Free"),
        (" free ", "free", "Free"),
        ("6.8%", "ad_valorem", "6.8%"),
        ("3.7% ", "ad_valorem", "3.7%"),
        ("2.5% <u></u>", "ad_valorem", "2.5%"),
        ("4.4¢/kg", "specific", "4.4¢/kg"),
        ("$1.646/kg", "specific", "$1.646/kg"),
        ("0.9¢ each", "specific", "0.9¢/item"),
        ("19.8¢/liter", "specific", "19.8¢/l"),
        ("$1.13/m<sup>3</sup>", "specific", "$1.13/m3"),
        ("18.7¢/m2", "specific", "18.7¢/m2"),
        ("8.8¢/kg + 20%", "compound", "8.8¢/kg + 20%"),
        ("40¢/kg +10.4%", "compound", "40¢/kg + 10.4%"),
        ("90¢/pr. + 20%", "compound", "90¢/pair + 20%"),
        ("$1.77/pf.liter", "unit", None),
        ("4.4¢/liter + 31.4¢/pf. liter", "unit", None),
        ("13.5¢/kg + 6.3% + 1.9¢/article", "unit", None),
        ("3.7¢/kg on drained weight", "qualified", None),
        ("18.7¢/clean kg", "qualified", None),
        ("6.5% on the entire set", "qualified", None),
        ("3.6606¢/kg of total sugars", "qualified", None),
        ("51¢ each + 6.25% on the case + 5.3% on the battery", "qualified", None),
        ("3.6606¢/kg less 0.020668¢/kg for each degree under 100 degrees", "qualified", None),
        ("The rate applicable to each garment in the ensemble if separately entered", "text", None),
        ("See additional U.S. note 1", "text", None),
        ("", "none", None),
        ("\u00a0 ", "none", None),
    ],
)
def test_general_rate_grammar(text: str, kind: str, rate: str | None) -> None:
    parsed = parse_general(text)
    assert parsed.kind == kind
    assert (str(parsed.rate) if parsed.rate is not None else None) == rate
    assert parsed.needs_review == (kind not in COMPUTABLE and kind != "none")


@given(st.text(max_size=40))
def test_any_text_is_parsed_or_flagged(text: str) -> None:
    parsed = parse_general(text)
    if parsed.kind in COMPUTABLE:
        assert parsed.rate is not None
        assert parse_rate(str(parsed.rate)) == parsed.rate  # what the store writes reads back
    else:
        assert parsed.rate is None


@given(
    st.decimals(min_value=0, max_value=999, places=2, allow_nan=False),
    st.sampled_from(["kg", "liter", "doz.", "pr.", "head", "m2", "m3", "t", "bbl"]),
    st.decimals(min_value=0, max_value=99, places=1, allow_nan=False),
)
def test_compound_rates_round_trip(cents: Decimal, unit: str, percent: Decimal) -> None:
    parsed = parse_general(f"{cents}¢/{unit} + {percent}%")
    assert parsed.kind == "compound"
    assert parsed.rate is not None
    assert parsed.rate.ad_valorem == percent / 100
    assert parsed.rate.specifics[0].amount == cents / 100


@pytest.mark.parametrize(
    ("raw", "unit"),
    [
        ("m²", "m2"),
        ("m<sup>2</sup>", "m2"),
        ("m<sup>2 </sup>", "m2"),
        ('m<sup style="font-size: 9.75px;">3</sup>', "m3"),
        ("<u>kg</u>", "kg"),
        ("pcs ", "pcs"),
        ("\n", ""),
        ("thousand m<sup>3</sup>", "thousand m3"),
    ],
)
def test_units_are_normalised(raw: str, unit: str) -> None:
    assert clean_unit(raw) == unit


def test_cells_lose_markup_entities_and_odd_spaces() -> None:
    assert clean_text("Of camels (<i>Camelidae</i>)&nbsp;\u00a0 ") == "Of camels (Camelidae)"
    assert clean_text(None) == ""


def test_footnotes_give_chapter_99_headings_of_rate_and_description_only() -> None:
    notes = [
        {"columns": ["general"], "value": "See 9903.88.15. ", "type": "endnote"},
        {"columns": ["desc"], "value": "See 9903.88.69 and 9903.88.15.", "type": "endnote"},
        {"columns": ["other"], "value": "See 9903.90.05.", "type": "endnote"},
        {"columns": ["stat"], "value": "See chapter 99 statistical note 1.", "type": "footnote"},
    ]
    assert footnote_headings(notes) == ("9903.88.15", "9903.88.69")
    assert footnote_headings(None) == ()


def test_fixture_lines_hierarchy_and_inheritance() -> None:
    parsed = parse_export(GRAMMAR.read_bytes(), "fixture")
    lines = parsed.by_code()
    assert parsed.rows == 34
    assert len(lines) == 33  # one label row
    assert parsed.tariff_lines == 20  # 8-digit rows + 10-digit rows without one (ch. 01-97)
    males = lines["0101210010"]
    assert (males.general.kind, males.rate_code, males.headings) == (
        "free",
        "01012100",
        ("9903.88.15",),
    )
    assert (
        males.path
        == "Live horses, asses, mules and hinnies: > Horses: > Purebred breeding animals > Males"
    )
    assert males.units == ("No.",)
    asses = lines["0101300000"]
    assert (asses.general.text, asses.rate_code) == ("6.8%", "0101300000")
    cords = lines["8544429090"]
    assert cords.general.text == "2.6%"
    assert cords.headings == ("9903.88.03", "9903.88.69")
    assert lines["8703800010"].headings == ("9903.91.03",)
    assert lines["59031020"].units == ("m2", "kg")
    assert lines["59031018"].units == ("m2", "kg")
    assert lines["0101"].general.kind == "none"
    assert lines["61032200"].general.kind == "text"


def test_not_an_export_is_a_data_error() -> None:
    with pytest.raises(DataError, match="not a USITC HTS JSON export"):
        parse_export(b'{"a": 1}', "x.json")
    with pytest.raises(DataError, match="not a USITC HTS JSON export"):
        parse_export(b"\xff\xfe garbage", "x.json")
    with pytest.raises(DataError, match="no rows"):
        parse_export(b"[]", "x.json")
