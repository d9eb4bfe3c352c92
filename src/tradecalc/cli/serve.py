"""``tradecalc duty --stdin``: one JSON shipment per line in, one JSON answer out (:func:`serve`).

A script keeps one process open and pays the start-up once. Each answer is flushed as soon as
it is written. A line that cannot be assessed, for whatever reason, is answered with
``{"line": N, "error": "..."}`` and the loop goes on. Stdin is read like a batch file: strict
UTF-8, lines of at most :data:`~tradecalc.core.files.MAX_LINE_CHARS` characters (a longer line or
bytes that are not UTF-8 stop the run with a data error, exit 1). The answer for a good line
is the ``--format json`` document on one line, with ``"line": N`` first. Blank lines are
skipped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

from tradecalc.core.errors import failure_reason
from tradecalc.core.files import LineReader
from tradecalc.core.money import FxTable
from tradecalc.engine.assessment import RegimeView, assess
from tradecalc.engine.inputs import load_json, shipment_from_mapping
from tradecalc.engine.selection import entry_views
from tradecalc.hts.base_rates import BaseRates
from tradecalc.render.duty import result_json, shipment_json
from tradecalc.schedule.load import LoadedSchedule
from tradecalc.schedule.models import Override

__all__ = ["serve"]


def serve(
    loaded: LoadedSchedule,
    views: Sequence[RegimeView],
    explicit: bool,
    overrides: Sequence[Override],
    fx: FxTable,
    explain: bool = False,
    base_rates: BaseRates | None = None,
    source: Iterable[str] | None = None,
    sink: IO[str] | None = None,
) -> bool:
    """Answer every line of ``source`` (default: stdin, as bytes); True when every line was
    ok and none needs review."""
    source = source if source is not None else LineReader(sys.stdin.buffer, "stdin")
    sink = sink or sys.stdout
    ok = True
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        chosen = (views, explicit, overrides)
        answer, good = _answer(loaded, chosen, (fx, base_rates), explain, line, number)
        ok = ok and good
        sink.write(json.dumps(answer, ensure_ascii=False, separators=(",", ":")) + "\n")
        sink.flush()
    return ok


def _answer(
    loaded: LoadedSchedule,
    views: tuple[Sequence[RegimeView], bool, Sequence[Override]],
    rates: tuple[FxTable, BaseRates | None],
    explain: bool,
    line: str,
    number: int,
) -> tuple[dict[str, Any], bool]:
    try:
        fields = load_json(line)
    except ValueError as exc:
        return {"line": number, "error": f"not valid JSON: {exc}"}, False
    except RecursionError:
        return {"line": number, "error": "not valid JSON: nested too deeply"}, False
    if not isinstance(fields, dict):
        kind = type(fields).__name__
        return {"line": number, "error": f"expected a JSON object, got {kind}"}, False
    try:
        shipment = shipment_from_mapping(fields)
        chosen, explicit, overrides = views
        if not explicit and shipment.entry is not None:
            chosen = entry_views(shipment.entry, overrides)
        results = [assess(loaded.schedule, shipment, view, *rates) for view in chosen]
        answer = {
            "line": number,
            "shipment": shipment_json(shipment),
            "results": [result_json(r, explain) for r in results],
            "data_version": loaded.schedule.version,
            "data_sha256": loaded.sha256,
        }
    except Exception as exc:  # one bad line never stops the stream
        return {"line": number, "error": failure_reason(exc)}, False
    return answer, not any(r.needs_review for r in results)
