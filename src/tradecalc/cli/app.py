"""The Typer application object and what every command shares."""

import gc
import os
from collections.abc import Callable
from enum import Enum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin

import typer
from typer._coercion import RuntimeParam, build_runtime_param
from typer._param_types import coerce_cli_choice, coerce_cli_path
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import CommandFunctionType

from tradecalc import __version__

if TYPE_CHECKING:
    from tradecalc.schedule.load import LoadedSchedule

COMMAND_ORDER = ("duty", "batch", "rates", "regimes", "diff", "validate", "schema", "hts")
"""How ``tradecalc --help`` lists the commands: the main job first, then by how often used."""


_UNSET: Any = object()


def _plain_value(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    """``value`` coerced as Typer's own TypeAdapter would, for the plain types tradecalc's
    options have (text, a flag, a file path, an enum); ``_UNSET`` for anything else."""
    if info.parser is not None:
        return _UNSET
    if type(value) is str:
        if annotation is str:
            return value
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            return coerce_cli_choice(
                value, choices=list(annotation), case_sensitive=info.case_sensitive, ctx=ctx
            )
        if annotation is Path and value and "\0" not in value:
            path_type = info.path_type or Path
            return coerce_cli_path(Path(value), info, path_type=path_type, param=param, ctx=ctx)
    elif type(value) is bool and annotation is bool:
        return value
    elif type(value) is int and annotation is int and _within(value, info.min, info.max):
        return value  # a default (text given on the command line goes to Typer)
    elif isinstance(annotation, type) and issubclass(annotation, Enum) and value in annotation:
        return value  # a default given as a member
    return _UNSET


def _within(value: int, low: Any, high: Any) -> bool:
    """True when ``value`` is within an int option's ``min`` and ``max`` (None: unbounded)."""
    return (low is None or value >= low) and (high is None or value <= high)


class _PlainParam(RuntimeParam):
    """Typer's coercion of one parameter without building a pydantic TypeAdapter for it.

    Typer validates every parameter with a TypeAdapter, built when the command runs; the
    first one imports and sets up pydantic's validation machinery (about 11 ms of a one-shot
    ``duty``, then 0.1 ms per parameter). For the plain types above the result is computed
    here, the same value; anything else, and any value Typer would refuse, goes to Typer's
    own coercion, so its errors and messages are unchanged.
    """

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        annotation: Any = self.annotation
        info = self.parameter_info
        try:
            if get_origin(annotation) is list and type(value) in (tuple, list):
                (item_type,) = get_args(annotation)
                items = [_plain_value(item_type, info, item, param, ctx) for item in value]
                result = _UNSET if _UNSET in items else items
            else:
                result = _plain_value(annotation, info, value, param, ctx)
        except Exception:  # Typer's coercion below gives the error, in its own words
            result = _UNSET
        if result is _UNSET:
            typer_own = build_runtime_param(param.type_descriptor)
            param._runtime_param = typer_own
            return typer_own._coerce_value(value, param=param, ctx=ctx)
        return result


def _plain_runtime_param(self: Any) -> RuntimeParam:
    """``get_runtime_param`` of :class:`_Option` and :class:`_Argument`: a
    :class:`_PlainParam` (Typer's own coercion for a file parameter)."""
    if self._runtime_param is None:
        descriptor = self.type_descriptor
        if descriptor.file_annotation is not None:
            self._runtime_param = build_runtime_param(descriptor)
        else:
            info = descriptor.parameter_info
            self._runtime_param = _PlainParam(annotation=descriptor.annotation, parameter_info=info)
    runtime: RuntimeParam = self._runtime_param
    return runtime


class _Option(TyperOption):
    """An option shown the Click way: a METAVAR (``TEXT``, ``FILE``), none on a flag."""

    get_runtime_param = _plain_runtime_param

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        if self.is_bool_flag:
            return None
        if self.type_descriptor.is_choice:
            return "[" + self.display_type(ctx).strip("<>").removeprefix("list[").rstrip("]") + "]"
        item = self.bare_type().removeprefix("list[").rstrip("]")
        return {"Path": "FILE", "int": "INTEGER"}.get(item, "TEXT")


class _Argument(TyperArgument):
    """An argument shown the Click way: ``NAME`` (``[NAME]`` if optional), no type label."""

    get_runtime_param = _plain_runtime_param

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw.upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")


def _click_style(params: list[Any]) -> list[Any]:
    """Give Typer's parameters Click's help conventions (:class:`_Option`, :class:`_Argument`).

    Typer builds the parameter objects itself, with no way to choose their class; the
    subclasses only change how help shows them, so swapping the class in place is safe.
    """
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = _Option
        elif type(param) is TyperArgument:
            param.__class__ = _Argument
    return params


class Command(TyperCommand):
    """A command whose help follows Click's conventions."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _click_style(super().get_params(ctx))


class Group(TyperGroup):
    """The command group: Click's help conventions, commands in :data:`COMMAND_ORDER`."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _click_style(super().get_params(ctx))

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))


class Typer(typer.Typer):
    """``typer.Typer`` whose commands are :class:`Command` and groups :class:`Group`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            cls=Group,
            context_settings={"help_option_names": ["-h", "--help"]},
            rich_markup_mode="rich",
            **kwargs,
        )

    def command(
        self, name: str | None = None, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        return super().command(name, cls=kwargs.pop("cls", Command), **kwargs)


app = Typer(
    name="tradecalc",
    help="US–China tariff calculator: landed duty under pre-Geneva, Geneva, later and "
    "hypothetical regimes, from versioned, sourced schedules.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


class Format(StrEnum):
    """Output formats of ``duty``."""

    table = "table"
    json = "json"
    csv = "csv"


DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Schedule file.",
        show_default="$TRADECALC_DATA or the bundled data",
        dir_okay=False,
    ),
]


OriginOption = Annotated[
    str | None,
    typer.Option(
        metavar="COUNTRY", help="Country of origin.", show_default="CN, or US when --dest CN"
    ),
]
DestOption = Annotated[
    str | None,
    typer.Option(
        metavar="COUNTRY", help="Importing country.", show_default="US, or CN when --origin US"
    ),
]
ScenarioOption = Annotated[
    list[Path] | None,
    typer.Option(help="Scenario file; repeatable.", show_default=False, dir_okay=False),
]
NoHtsOption = Annotated[
    bool,
    typer.Option(
        "--no-hts",
        help="Ignore the official US schedule (bundled and imported HTS revisions): "
        "curated data only.",
    ),
]
FxOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="CUR=RATE",
        help="Exchange rate in units per 1 USD, e.g. CNY=7.18; repeatable.",
        show_default=False,
    ),
]


def regime_option(show_default: str | bool = "every named regime") -> Any:
    """``--regime``: a named regime or scenario, repeatable (each one a column)."""
    return typer.Option(
        metavar="NAME", help="Named regime or scenario; repeatable.", show_default=show_default
    )


RegimeOption = Annotated[list[str] | None, regime_option()]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="MEASURE=RATE",
        help="MEASURE=RATE or MEASURE=off: adds a column 'custom' based on the last one.",
        show_default=False,
    ),
]
DatesOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="DATE", help="The schedule in force on DATE; repeatable.", show_default=False
    ),
]
FormatOption = Annotated[Format, typer.Option("--format", help="Output format.")]


def examples(*items: tuple[str, str]) -> str:
    """A help epilog of ``(what it does, command line)`` examples, each comment on its own line.

    Keep each line under 78 characters: at 80 columns nothing then wraps.
    """
    return "Examples:\n\n" + "\n\n".join(f"# {what}\n{line}" for what, line in items)


def load(data: Path | None) -> "LoadedSchedule":
    """Load the schedule named by ``--data`` (or the default one)."""
    from tradecalc.schedule.load import load_schedule

    return load_schedule(data)


def streaming() -> None:
    """Turn cyclic garbage collection back on (``main`` turns it off).

    For the commands that read a stream of unbounded length (``batch``, ``duty --stdin``):
    their memory then stays flat however long they run. Everything else reads bounded
    input (files of at most 32 MiB) and creates no cyclic garbage worth collecting:
    validating a 10 MB schedule peaks at the same memory either way, in half the time.

    A collection then comes after 10,000 net allocations (not 700) and a middle-generation
    one after 100 of those (not 10): a batch holds chunks of tens of thousands of rows
    alive, which the default thresholds traversed hundreds of times (a seventh of the CPU
    time of a 115,000-row batch). Memory stays bounded all the same.
    """
    gc.set_threshold(10_000, 100, 10)
    gc.enable()
    os.environ.setdefault(*KEEP_FREED_PAGES)


KEEP_FREED_PAGES = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:-1,narenas:1")
"""polars' allocator (jemalloc) keeps the pages a stream's chunks free for the next chunks
instead of giving them back to the system and faulting them in again, in one arena shared
by every thread, so what one thread frees another reuses (read when polars is first
imported; a value the user set wins). Keeping the pages, on 1,000,000 generated rows: 256k
page faults and 2.1 s of system time before, 83k and 1.5 s after, the same peak memory.
One arena rather than one per core: bench_batch's peak 263 -> 236 MiB, the realistic
workload's 405 -> 381 MiB, 1,000,000 generated rows' 491 -> 458 MiB, none slower (3 to 10
alternated runs each)."""


_traceback_wanted = False


def traceback_wanted() -> bool:
    """Should an internal error print its trace (``--traceback`` or ``TRADECALC_DEBUG=1``)?"""
    import os

    return _traceback_wanted or os.environ.get("TRADECALC_DEBUG", "") not in ("", "0")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tradecalc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    traceback: Annotated[
        bool,
        typer.Option(
            "--traceback",
            help="On an internal error, print the full trace to report it "
            "(or set TRADECALC_DEBUG=1).",
        ),
    ] = False,
) -> None:
    """US–China tariff calculator."""
    global _traceback_wanted
    _traceback_wanted = traceback
