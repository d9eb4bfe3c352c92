"""The compiler's shared work: what it reuses across codes equals compiling each code alone."""

from __future__ import annotations

from datetime import datetime

import pytest

from tradecalc.engine import compiled
from tradecalc.hts.base_rates import Providers
from tradecalc.schedule.models import Schedule

from conftest import bundled_us_codes

HEADING = "6110"
"""Sweaters: over a hundred tariff lines under a few measures, at many different rates."""


@pytest.fixture(scope="module")
def world() -> tuple[Schedule, Providers, list[str]]:
    """The bundled data, the US lines, and the codes under :data:`HEADING`."""
    schedule, providers, codes = bundled_us_codes(HEADING)
    assert len(codes) > 50
    return schedule, providers, codes


def test_codes_compiled_together_equal_each_compiled_alone(
    world: tuple[Schedule, Providers, list[str]],
) -> None:
    """Layers resolved once for one code and re-rated for its siblings (same measures, another
    MFN rate) are the layers a fresh compile of each sibling finds."""
    schedule, providers, codes = world
    together = compiled._Compiler(schedule, "CN", "US", providers)
    found = {code: together.compile_code(code) for code in codes}
    assert together.rerated, "no layers were re-rated: the test checks nothing"
    for code in codes:
        alone = compiled._Compiler(schedule, "CN", "US", providers)
        assert found[code] == alone.compile_code(code), code


def test_bundled_lines_equal_the_provider_asked_at_every_instant(
    world: tuple[Schedule, Providers, list[str]],
) -> None:
    """The bundled history read once per code (and a code no revision has, known to have no
    line at any instant) gives the intervals of asking the provider at each instant."""
    schedule, providers, codes = world
    fast = compiled._Compiler(schedule, "CN", "US", providers)
    slow = compiled._Compiler(schedule, "CN", "US", providers)
    slow.fast_hts = False
    missing = HEADING + "999999"
    assert providers.lookup(missing, datetime(2025, 6, 1)) is None
    for code in [*codes[:20], missing]:
        assert fast.compile_code(code) == slow.compile_code(code), code
    assert fast.compile_code(missing)[0][1].engine  # no base rate: the engine says why
