"""``tradecalc duty`` end to end: the output contract (table, JSON, CSV) and error exits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tradecalc.schedule.load import load_schedule

from conftest import FIXTURES, MINI, Run

Cli = Callable[..., Run]
DATA = ("--data", str(MINI))


def test_json_contract(cli: Cli, mini) -> None:  # type: ignore[no-untyped-def]
    run = cli(
        "duty", "1000", "--hs", "6110.11.0015", "--regime", "geneva", "--format", "json", *DATA
    )
    assert run.code == 0, run.err
    assert run.err == ""
    doc = json.loads(run.out)
    assert doc["data_version"] == "test.1"
    assert doc["data_sha256"] == mini.sha256
    assert doc["shipment"] == {
        "hs": "6110.11.0015",
        "origin": "CN",
        "dest": "US",
        "value": "1000",
        "currency": None,
        "date": None,
        "mode": "ocean",
    }
    (result,) = doc["results"]
    assert [
        (x["measure"], x["heading"], x["rate"], x["base"], x["amount"]) for x in result["lines"]
    ] == [
        ("us-301", "9903.88.03", "25%", "1000.00", "250.00"),
        ("us-fentanyl", "9903.01.24", "20%", "1000.00", "200.00"),
        ("us-recip", "9903.01.25", "10%", "1000.00", "100.00"),
        ("us-mfn", None, "16%", "1000.00", "160.00"),
    ]
    assert all(line["source"] == ["fx"] for line in result["lines"])
    assert {
        k: result[k]
        for k in (
            "regime",
            "as_of",
            "currency",
            "customs_value",
            "duty",
            "fees",
            "taxes",
            "total",
            "effective_rate",
            "landed_cost",
        )
    } == {
        "regime": "geneva",
        "as_of": "2025-05-14T12:01",
        "currency": "USD",
        "customs_value": "1000.00",
        "duty": "710.00",
        "fees": "33.96",
        "taxes": "0.00",
        "total": "743.96",
        "effective_rate": "0.710000",
        "landed_cost": "1743.96",
    }
    assert result["needs_review"] is False and result["review"] == []


def test_csv_contract(cli: Cli) -> None:
    run = cli(
        "duty", "1000", "--hs", "6110.11.0015", "--regime", "geneva", "--format", "csv", *DATA
    )
    assert run.code == 0
    sha256 = load_schedule(MINI, use_cache=False).sha256
    assert run.out.replace(sha256, "SHA") == (
        "regime,as_of,currency,kind,measure,heading,rate,base,amount,source,data_version,"
        "status,review,data_sha256,claims,claimable\n"
        "geneva,2025-05-14T12:01,USD,duty,us-301,9903.88.03,25%,1000.00,250.00,fx,test.1,ok,,SHA,,\n"
        "geneva,2025-05-14T12:01,USD,duty,us-fentanyl,9903.01.24,20%,1000.00,200.00,fx,test.1,ok,,SHA,,\n"
        "geneva,2025-05-14T12:01,USD,duty,us-recip,9903.01.25,10%,1000.00,100.00,fx,test.1,ok,,SHA,,\n"
        "geneva,2025-05-14T12:01,USD,duty,us-mfn,,16%,1000.00,160.00,fx,test.1,ok,,SHA,,\n"
        "geneva,2025-05-14T12:01,USD,fee,us-mpf,,0.3464%,1000.00,32.71,fx,test.1,ok,,SHA,,\n"
        "geneva,2025-05-14T12:01,USD,fee,us-hmf,,0.125%,1000.00,1.25,fx,test.1,ok,,SHA,,\n"
        "geneva,2025-05-14T12:01,USD,duty_total,,,,,710.00,,test.1,ok,,SHA,,\n"
        "geneva,2025-05-14T12:01,USD,fees_total,,,,,33.96,,test.1,ok,,SHA,,\n"
        "geneva,2025-05-14T12:01,USD,taxes_total,,,,,0.00,,test.1,ok,,SHA,,\n"
        "geneva,2025-05-14T12:01,USD,total,,,,,743.96,,test.1,ok,,SHA,,\n"
        "geneva,2025-05-14T12:01,USD,effective_rate,,,,,0.710000,,test.1,ok,,SHA,,\n"
        "geneva,2025-05-14T12:01,USD,landed_cost,,,,,1743.96,,test.1,ok,,SHA,,\n"
    )


def test_table_compares_regimes(cli: Cli) -> None:
    run = cli(
        "duty",
        "1000",
        "--hs",
        "9503.00.0073",
        "--regime",
        "pre-geneva",
        "--regime",
        "geneva",
        "--set",
        "us-fentanyl=off",
        *DATA,
    )
    assert run.code == 0, run.err
    assert [line.rstrip() for line in run.out.splitlines()] == [
        "HS 9503.00.0073 · CN → US · customs value 1,000.00 USD",
        "",
        "                                        geneva      custom*",
        "                       pre-geneva   2025-05-14   2025-05-14",
        " Layer                 2025-05-13        12:01        12:01",
        " ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━",
        " us-fentanyl                  20%          20%            —",
        " 9903.01.24                200.00       200.00",
        " us-recip                    125%          10%          10%",
        "                         1,250.00       100.00       100.00",
        "                       9903.01.63   9903.01.25   9903.01.25",
        " us-mfn                      Free         Free         Free",
        "                             0.00         0.00         0.00",
        "",
        " Duty                    1,450.00       300.00       100.00",
        " Effective rate              145%          30%          10%",
        " us-mpf                   0.3464%      0.3464%      0.3464%",
        "                            32.71        32.71        32.71",
        " us-hmf                    0.125%       0.125%       0.125%",
        "                             1.25         1.25         1.25",
        "",
        " Total                   1,483.96       333.96       133.96",
        " Landed cost             2,483.96     1,333.96     1,133.96",
        " Total vs pre-geneva            —    -1,150.00    -1,350.00",
        " Status                        ok           ok           ok",
        "",
        "* hypothetical scenario, not law",
        "data test.1 (sha256 2c4a974f34c8)",
    ]


def test_scenario_file_adds_a_column(cli: Cli) -> None:
    scenario = FIXTURES / "scenarios" / "half.yaml"
    run = cli(
        "duty",
        "1000",
        "--hs",
        "9503.00.0073",
        "--scenario",
        str(scenario),
        "--format",
        "json",
        *DATA,
    )
    assert run.code == 0, run.err
    (result,) = json.loads(run.out)["results"]
    assert result["regime"] == "half" and result["hypothetical"] is True
    assert {x["measure"]: x["amount"] for x in result["lines"]}["us-fentanyl"] == "100.00"


def test_dest_china_alone_implies_origin_us(cli: Cli) -> None:
    run = cli(
        "duty",
        "1000",
        "--hs",
        "8542.31.00",
        "--dest",
        "CN",
        "--regime",
        "geneva",
        "--fx",
        "CNY=7",
        "--currency",
        "USD",
        "--freight",
        "0",
        "--format",
        "json",
        *DATA,
    )
    assert run.code == 0, run.err
    doc = json.loads(run.out)
    assert (doc["shipment"]["origin"], doc["shipment"]["dest"]) == ("US", "CN")
    assert doc["results"][0]["currency"] == "CNY"


def test_date_computes_the_schedule_in_force(cli: Cli) -> None:
    run = cli(
        "duty", "1000", "--hs", "9503.00.0073", "--date", "2025-05-13", "--format", "json", *DATA
    )
    (result,) = json.loads(run.out)["results"]
    assert result["duty"] == "1450.00"


def test_unknown_code_needs_review_with_exit_1(cli: Cli) -> None:
    run = cli("duty", "1000", "--hs", "9503.00.0090", "--regime", "geneva", "--no-hts", *DATA)
    assert run.code == 1
    assert "needs review [geneva]: no US base (MFN) rate for 9503.00.0090" in run.out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("duty", "--hs", "9503.00.0073", "--", "-5"), 2, "must not be negative"),
        (("duty", "ten", "--hs", "9503.00.0073"), 2, "is not a plain decimal number"),
        (("duty", "1000", "--hs", "95x3"), 2, "is not valid"),
        (("duty", "1000", "--hs", "9503.00.0073", "--regime", "nope"), 2, "unknown regime 'nope'"),
        (("duty", "1000", "--hs", "9503.00.0073", "--set", "nope=5%"), 2, "unknown measure 'nope'"),
        (("duty", "1000", "--hs", "9503.00.0073", "--set", "us-recip=lots"), 2, "--set"),
        (("duty", "1000", "--hs", "9503.00.0073", "--mode", "teleport"), 2, "mode 'teleport'"),
        (("duty", "1000", "--hs", "9503.00.0073", "--date", "13/05/2025"), 2, "is not YYYY-MM-DD"),
        (("duty", "1000", "--hs", "9503.00.0073", "--origin", "USA"), 2, "two-letter country"),
        (("duty", "1000", "--hs", "9503.00.0073", "--metal", "steel"), 2, "--metal"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(
    cli: Cli, args: tuple[str, ...], code: int, message: str
) -> None:
    run = cli(args[0], *DATA, *args[1:])
    assert run.code == code
    assert run.out == ""
    assert message in run.err
    assert "Traceback" not in run.err


def test_malformed_scenario_file_is_reported_with_its_line(cli: Cli) -> None:
    scenario = FIXTURES / "scenarios" / "broken.yaml"
    run = cli("duty", "1000", "--hs", "9503.00.0073", "--scenario", str(scenario), *DATA)
    assert run.code == 1
    assert f"{scenario}:8:" in run.err
    assert "Traceback" not in run.err


def test_unreadable_data_file(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    run = cli("duty", "1000", "--hs", "9503.00.0073", "--data", str(missing))
    assert run.code == 2
    assert str(missing) in run.err and "Traceback" not in run.err


def test_binary_data_file(cli: Cli, tmp_path: Path) -> None:
    junk = tmp_path / "junk.yaml"
    junk.write_bytes(b"\xff\xfe\x00garbage")
    run = cli("duty", "1000", "--hs", "9503.00.0073", "--data", str(junk))
    assert run.code in (1, 2)
    assert run.err.startswith(f"{junk}") or "tradecalc: error:" in run.err
    assert "Traceback" not in run.err


def test_version(cli: Cli) -> None:
    run = cli("--version")
    assert run.code == 0 and run.out.startswith("tradecalc 0.1.0")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("duty", "1000", "--hs", "9503.00.0073", "--bogus"), "No such option: --bogus"),
        (
            ("duty", "1000", "--hs", "9503.00.0073", "--format", "xml"),
            "Invalid value for '--format'",
        ),
        (("nocmd",), "No such command 'nocmd'"),
    ],
)
def test_parser_errors_are_one_line_with_the_help_to_read(
    cli: Cli, args: tuple[str, ...], message: str
) -> None:
    run = cli(*args)
    assert run.code == 2
    (line,) = run.err.splitlines()
    assert line.startswith("tradecalc: error: ") and message in line
    assert line.endswith("--help)")
