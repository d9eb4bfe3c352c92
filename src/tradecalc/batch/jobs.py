"""``batch --jobs N``: chunks of rows assessed in worker processes, written in input order.

The parent reads the input and writes the output; workers assess chunks of rows and return
them as formatted text with their bad rows and totals. At most ``2 * jobs`` chunks are in
flight, so memory stays bounded however long the input.

Workers ignore Ctrl-C (the parent alone reports it and stops them) and die with the parent:
killed, it leaves no orphan behind and no traceback.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import IO, TYPE_CHECKING

from tradecalc.batch.rows import ResultWriter, RowError, Summary, _Assessor, _Item

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult

    from tradecalc.core.money import FxTable
    from tradecalc.engine.assessment import RegimeView
    from tradecalc.hts.base_rates import BaseRates
    from tradecalc.schedule.models import Schedule

CHUNK_ROWS = 4096

_worker: tuple[_Assessor, tuple[str, tuple[str, str]]] | None = None


def run_parallel(
    schedule: Schedule,
    header: Sequence[str],
    extra: Sequence[str],
    items: Iterator[_Item],
    out: IO[str],
    fmt: str,
    views: Sequence[RegimeView],
    rates: tuple[FxTable, BaseRates | None],
    on_error: Callable[[RowError], object] | None,
    jobs: int,
    provenance: tuple[str, str] = ("", ""),
) -> Summary:
    """Assess ``items`` in ``jobs`` processes; same output, order and summary as one process."""
    summary = Summary()
    ResultWriter(out, fmt, extra)  # the header
    pending: deque[AsyncResult[tuple[str, list[RowError], Summary]]] = deque()

    def collect() -> None:
        text, errors, part = pending.popleft().get()
        out.write(text)
        if on_error is not None:
            for error in errors:
                on_error(error)
        _merge(summary, part)

    output = (fmt, provenance)
    blocked = hasattr(signal, "pthread_sigmask")
    if blocked:  # a Ctrl-C while forking waits for the parent; workers never see it
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        pool = multiprocessing.Pool(
            jobs,
            initializer=_start,
            initargs=(os.getpid(), schedule, views, rates, header, extra, output),
        )
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    try:
        for chunk in _chunks(items, CHUNK_ROWS):
            pending.append(pool.apply_async(_assess_chunk, (chunk,)))
            if len(pending) >= 2 * jobs:
                collect()
        while pending:
            collect()
    except BaseException:
        pool.terminate()  # workers die at once (their signals are the defaults)
        raise
    pool.close()  # done: workers leave when the queue is empty; no signal is sent
    pool.join()
    return summary


def _chunks(items: Iterable[_Item], size: int) -> Iterator[list[_Item]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _start(
    parent: int,
    schedule: Schedule,
    views: Sequence[RegimeView],
    rates: tuple[FxTable, BaseRates | None],
    header: Sequence[str],
    extra: Sequence[str],
    output: tuple[str, tuple[str, str]],
) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for number in (signal.SIGTERM, signal.SIGHUP):  # the parent's cleanup is not ours
        signal.signal(number, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with(parent)
    fx, base_rates = rates
    _worker = (_Assessor(schedule, views, fx, header, extra, base_rates), output)


_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """End this worker quietly as soon as ``parent`` is gone.

    On Linux the kernel sends SIGKILL when the parent dies (``PR_SET_PDEATHSIG``); elsewhere
    a thread checks the parent process once a second.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        armed = False
    if os.getppid() != parent:  # gone before the signal was armed
        os._exit(0)
    if not armed:
        threading.Thread(target=_watch, args=(parent,), daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _assess_chunk(chunk: list[_Item]) -> tuple[str, list[RowError], Summary]:
    assert _worker is not None, "worker not started"
    assessor, (fmt, provenance) = _worker
    summary = Summary()
    buffer = io.StringIO()
    writer = ResultWriter(buffer, fmt, assessor.extra, header=False, provenance=provenance)
    errors = []
    for item in assessor.assess(chunk, summary):
        if isinstance(item, RowError):
            errors.append(item)
        else:
            writer.write(item)
    return buffer.getvalue(), errors, summary


def _merge(summary: Summary, part: Summary) -> None:
    summary.rows += part.rows
    summary.results += part.results
    summary.errors += part.errors
    summary.needs_review += part.needs_review
    for key, totals in part.totals.items():
        acc = summary.totals.get(key)
        if acc is None:
            summary.totals[key] = totals
            continue
        acc.shipments += totals.shipments
        acc.customs_value += totals.customs_value
        acc.duty += totals.duty
        acc.needs_review += totals.needs_review
