"""``tradecalc hts``: import, list and remove official USITC HTS revisions.

Imported revisions live in ``$TRADECALC_HOME/hts`` (default: the platform's user data
directory, e.g. ``~/.local/share/tradecalc/hts``). ``duty`` then takes base (MFN) rates
and Chapter 99 footnote headings from the revision in force on the entry date, for any
code the curated schedule has no base rate for.
"""

from typing import TYPE_CHECKING, Annotated

import typer

from tradecalc.cli.app import Typer, app, examples

if TYPE_CHECKING:
    from datetime import date

hts_app = Typer(
    help="Import the official USITC tariff schedule (HTS JSON export) for every code.",
    no_args_is_help=True,
)
app.add_typer(hts_app, name="hts")


@hts_app.command(
    "import",
    epilog=examples(
        ("Name and date from the file", "tradecalc hts import hts_2025_rev_11.json.gz"),
        (
            "Name and date given",
            "tradecalc hts import export.json --revision 2026-rev-3 --effective 2026-02-07",
        ),
        (
            "Straight from USITC",
            "tradecalc hts import --revision 2026-rev-10 --effective 2026-06-08 \\\n"
            "  'https://hts.usitc.gov/reststop/exportList?from=0100&to=9999&format=JSON&styles=false'",
        ),
    ),
)
def import_(
    source: Annotated[
        str,
        typer.Argument(
            metavar="FILE_OR_URL",
            help="USITC HTS JSON export: a path or an https URL, plain or gzip.",
            show_default=False,
        ),
    ],
    revision: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Revision name, e.g. 2025-rev-11.",
            show_default="from the file name",
        ),
    ] = None,
    effective: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="Date the revision takes effect, YYYY-MM-DD.",
            show_default="known for the 44 USITC exports 2025 Basic to 2026 Rev 10",
        ),
    ] = None,
) -> None:
    """Import one HTS revision: parse every tariff line once, store it for fast lookups."""
    import time

    from tradecalc.hts.store import import_revision

    started = time.perf_counter()
    rev, parsed = import_revision(source, revision, _date(effective))
    flagged = sum(1 for line in parsed.lines if line.general.needs_review and len(line.code) >= 8)
    typer.echo(
        f"imported {rev.name} (effective {rev.effective.isoformat()}): {parsed.rows} rows, "
        f"{parsed.tariff_lines} tariff lines, {flagged} coded lines with a rate that needs "
        f"review, in {time.perf_counter() - started:.1f} s -> {rev.path}"
    )


@hts_app.command("list")
def list_() -> None:
    """List the bundled and imported revisions and the dates they take effect."""
    from rich.console import Console

    from tradecalc.hts.history import bundle_dir, read_revisions
    from tradecalc.hts.store import hts_dir, revisions
    from tradecalc.render.data import revisions_table

    bundled = read_revisions()
    typer.echo(
        f"bundled: {len(bundled)} revisions, {bundled[0].name} ({bundled[0].effective}) to "
        f"{bundled[-1].name} ({bundled[-1].effective}), in {bundle_dir()}"
    )
    revs = revisions()
    if not revs:
        typer.echo(f"no HTS revision imported (folder {hts_dir()}); see: tradecalc hts import")
        return
    Console(highlight=False).print(revisions_table(str(hts_dir()), revs))


@hts_app.command("remove")
def remove(
    revision: Annotated[
        str, typer.Argument(metavar="REVISION", help="Revision name, as `hts list` shows it.")
    ],
) -> None:
    """Delete an imported revision."""
    from tradecalc.hts.store import remove_revision

    rev = remove_revision(revision)
    typer.echo(f"removed {rev.name} (effective {rev.effective.isoformat()})")


def _date(text: str | None) -> "date | None":
    from datetime import date

    from tradecalc.core.errors import UsageError

    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--effective {text!r} is not a date (YYYY-MM-DD)") from None
