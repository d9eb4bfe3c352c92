"""Compare command output with a stored snapshot under tests/snapshots/.

Set TRADECALC_UPDATE_SNAPSHOTS=1 to rewrite the stored files after a deliberate change;
a missing snapshot is a failure, never silently written.
"""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


def assert_snapshot(name: str, text: str) -> None:
    """``text`` must equal tests/snapshots/NAME (trailing spaces on lines ignored)."""
    text = "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    path = SNAPSHOTS / name
    if os.environ.get("TRADECALC_UPDATE_SNAPSHOTS") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no snapshot {path}; run with TRADECALC_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8")
