"""The forced-labour Section 301 (from 24 Jul 2026) spares the lines of the Section 122
exemption list (9903.03.03), the stand-in for CBP's 9903.05.86 list: day before, day of."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import run_child


def _measures(code: str, date: str) -> set[str]:
    done = run_child(["duty", "1000", "--hs", code, "--date", date, "--format", "json"])
    assert done.returncode in (0, 1), done.stderr
    result: dict[str, Any] = json.loads(done.stdout)["results"][0]
    return {line["measure"] for line in result["lines"] if line["amount"] != "0.00"}


@pytest.mark.parametrize(
    ("code", "before", "on"),
    [
        # on the Section 122 exemption list: neither surcharge charges it
        ("8471.30.0100", set(), set()),
        # not on it: Section 122 until 23 Jul, the forced-labour 301 from 24 Jul
        ("9503.00.0073", {"us-section-122"}, {"us-301-forced-labour"}),
    ],
)
def test_exclusion_list_at_the_switch(code: str, before: set[str], on: set[str]) -> None:
    surcharges = {"us-section-122", "us-301-forced-labour"}
    assert _measures(code, "2026-07-23") & surcharges == before
    assert _measures(code, "2026-07-24") & surcharges == on
