"""``batch --jobs N``: chunks of rows assessed in worker processes, written in input order.

The parent reads the input and writes the output; workers assess chunks of rows and return
them as formatted text with their bad rows and totals. At most ``2 * jobs`` chunks are in
flight (``jobs + 1`` blocks of lines, whose results are tens of MB), so memory stays
bounded however long the input. Where one process would charge the rows as columns
(:func:`tradecalc.batch.join.columns_path`) and :func:`can_fork_columns`, each worker does
so, a block of lines at a time (:func:`run_columns`); else workers take the row path.

Workers ignore Ctrl-C (the parent alone reports it and stops them) and die with the parent:
killed, it leaves no orphan behind and no traceback.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, NamedTuple, TypeVar

from tradecalc.batch.rows import (
    Block,
    ResultWriter,
    RowError,
    Summary,
    _Assessor,
    _Item,
    write_results,
)

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult, Pool

    from tradecalc.batch.join import Vectorised
    from tradecalc.core.money import FxTable
    from tradecalc.engine.assessment import RegimeView
    from tradecalc.hts.base_rates import BaseRates
    from tradecalc.schedule.models import Schedule

CHUNK_ROWS = 4096


class _Job(NamedTuple):
    """What every worker of a run is set up with: the schedule, the regimes, the exchange
    rates and base rates, the input's header and its pass-through columns."""

    schedule: Schedule
    views: Sequence[RegimeView]
    rates: tuple[FxTable, BaseRates | None]
    header: Sequence[str]
    extra: Sequence[str]


_worker: tuple[_Assessor, tuple[str, tuple[str, str]]] | None = None
_columns: Vectorised | None = None


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

    def take(text: str, errors: list[RowError], part: Summary) -> None:
        out.write(text)
        _report(errors, on_error)
        _merge(summary, part)

    job = _Job(schedule, views, rates, header, extra)
    with _pool(jobs, _start, (job, (fmt, provenance))) as pool:
        _in_order(pool, _assess_chunk, _tasks(items, CHUNK_ROWS), 2 * jobs, take)
    return summary


def run_columns(
    schedule: Schedule,
    header: Sequence[str],
    extra: Sequence[str],
    parts: Iterator[Block | _Item],
    out: IO[str],
    views: Sequence[RegimeView],
    rates: tuple[FxTable, BaseRates | None],
    on_error: Callable[[RowError], object] | None,
    jobs: int,
    provenance: tuple[str, str],
    data_sha256: str,
) -> Summary:
    """Charge ``parts`` (blocks of lines, then single rows) as columns in ``jobs`` processes,
    a block (or a run of single rows) per task; same output, order and summary as one
    process. The workers are forked before this process has used polars."""
    summary = Summary()
    # a block's output is tens of MB: one waiting at most
    writer = ResultWriter(out, "csv", extra, provenance=provenance, queued=1)

    def take(data: bytes, errors: list[RowError], part: Summary) -> None:
        writer.write_chunk(data)
        _report(errors, on_error)
        _merge(summary, part)

    job = _Job(schedule, views, rates, header, extra)
    try:
        with _pool(jobs, _start_columns, (job, provenance, data_sha256), "fork") as pool:
            _in_order(pool, _charge_columns, _tasks(parts, CHUNK_ROWS), jobs + 1, take)
        writer.finish()
    finally:
        writer.wait()
    return summary


_T = TypeVar("_T")
_R = TypeVar("_R")


def _in_order(
    pool: Pool,
    work: Callable[[_T], tuple[_R, list[RowError], Summary]],
    tasks: Iterable[_T],
    most: int,
    take: Callable[[_R, list[RowError], Summary], None],
) -> None:
    """``work`` on each task in ``pool``, each result given to ``take`` in task order, at
    most ``most`` tasks in flight (an error is raised: :func:`_pool` stops the workers)."""
    pending: deque[AsyncResult[tuple[_R, list[RowError], Summary]]] = deque()
    for task in tasks:
        pending.append(pool.apply_async(work, (task,)))
        if len(pending) >= most:
            take(*pending.popleft().get())
    while pending:
        take(*pending.popleft().get())


TERMINATE_WAIT = 2.0
"""Seconds a stopped run waits for its pool to end (:func:`_terminate`)."""


def _terminate(pool: Pool) -> None:
    """Stop ``pool`` at once: its workers killed, then its ``terminate`` on a thread of its
    own, waited for at most :data:`TERMINATE_WAIT` seconds. CPython's pool joins the thread
    that feeds tasks to the workers, which can be stuck for ever sending a block to workers
    that are gone (a Ctrl-C in the middle of a send hung 2 runs in 40 so)."""
    for worker in multiprocessing.active_children():  # this process's: the pool's workers
        worker.kill()
    stopping = threading.Thread(target=pool.terminate, name="tradecalc-stop", daemon=True)
    stopping.start()
    stopping.join(TERMINATE_WAIT)


def _report(errors: list[RowError], on_error: Callable[[RowError], object] | None) -> None:
    if on_error is not None:
        for error in errors:
            on_error(error)


_P = TypeVar("_P", Block | _Item, _Item)


def _tasks(parts: Iterable[_P], size: int) -> Iterator[list[_P]]:
    """Each block alone, and the single rows between blocks in runs of at most ``size``."""
    run: list[_P] = []
    for part in parts:
        if isinstance(part, Block):
            if run:
                yield run
                run = []
            yield [part]
            continue
        run.append(part)
        if len(run) >= size:
            yield run
            run = []
    if run:
        yield run


def can_fork_columns() -> bool:
    """Whether :func:`run_columns` may fork its workers: the system forks, and this process
    has not loaded polars (a forked copy of a polars that has run would wait for its thread
    pool for ever)."""
    return "polars" not in sys.modules and "fork" in multiprocessing.get_all_start_methods()


@contextlib.contextmanager
def _pool(
    jobs: int, start: Callable[..., None], args: tuple[object, ...], method: str | None = None
) -> Iterator[Pool]:
    """``jobs`` worker processes, each set up by ``start(parent's pid, *args)``, started by
    ``method`` (None: the system's default); on any error (a Ctrl-C that came while they
    were forked is raised as it is let through) they are stopped at once
    (:func:`_terminate`), else they leave when the work is done."""
    pool: Pool | None = None
    blocked = hasattr(signal, "pthread_sigmask")
    try:
        if blocked:  # a Ctrl-C while forking waits for the parent; workers never see it
            previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            context = multiprocessing.get_context(method)
            pool = context.Pool(jobs, initializer=start, initargs=(os.getpid(), *args))
        finally:
            if blocked:
                signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        yield pool
    except BaseException:
        if pool is not None:
            _terminate(pool)
        raise
    pool.close()
    pool.join()


def _become_worker(parent: int) -> None:
    """Ignore Ctrl-C (the parent reports it), take the default end on SIGTERM and SIGHUP
    (the parent's cleanup is not ours), and die with ``parent``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with(parent)


def _start(parent: int, job: _Job, output: tuple[str, tuple[str, str]]) -> None:
    """Set up a row worker: results written as ``output`` (format, provenance)."""
    global _worker
    _become_worker(parent)
    fx, base_rates = job.rates
    assessor = _Assessor(job.schedule, job.views, fx, job.header, job.extra, base_rates)
    _worker = (assessor, output)


def _start_columns(parent: int, job: _Job, provenance: tuple[str, str], data_sha256: str) -> None:
    """Set up a columns worker over the rate table cached for ``data_sha256``."""
    global _columns
    from tradecalc.batch.join import Vectorised
    from tradecalc.batch.rows import _open_tables

    _become_worker(parent)
    fx, base_rates = job.rates
    tables = _open_tables(job.schedule, base_rates, data_sha256)
    _columns = Vectorised(job.schedule, job.header, job.extra, tables, fx, provenance, job.views)


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


def _charge_columns(parts: list[Block | _Item]) -> tuple[bytes, list[RowError], Summary]:
    """A task of :func:`run_columns`: its CSV lines as UTF-8, its bad rows and its totals.
    Codes compiled on the way are saved to the table's cache."""
    assert _columns is not None, "worker not started"
    summary = Summary()
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=True)
    writer = ResultWriter(text, "csv", _columns.extra, header=False, provenance=_columns.provenance)
    errors: list[RowError] = []
    write_results(_columns.assess_blocks(iter(parts), summary), writer, errors.append)
    text.flush()
    _columns.tables.save()
    return raw.getvalue(), errors, summary


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
