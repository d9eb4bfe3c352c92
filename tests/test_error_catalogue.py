"""docs/errors.md lists every error message the code can raise (found by reading the source)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from conftest import ROOT

CATALOGUE = ROOT / "docs" / "errors.md"
_RAISERS = {"UsageError": 0, "DataError": 0, "MissingFxRateError": 0, "RateSyntaxError": 0}
_RAISERS |= {"WriteError": 0}
_RAISERS |= {"ValueError": 0, "RowError": 1, "_fail": 2, "_at": 2}


def _template(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = (v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
        return "".join(str(p) for p in parts)
    return None


def message_templates() -> Iterator[tuple[str, str]]:
    """``(where, template)`` of every error message in src/, placeholders as ``…``."""
    for path in sorted((ROOT / "src" / "tradecalc").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            found: ast.expr | None = None
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                index = _RAISERS.get(name)
                if index is not None and len(node.args) > index:
                    found = node.args[index]
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "error":
                        found = value
            text = _template(found) if found is not None else None
            if text:
                yield f"{path.relative_to(ROOT)}:{node.lineno}", text


def _fixed_part(template: str) -> str:
    """The longest literal piece of a template (what a reader would search for)."""
    return max((p.strip(" :;") for p in template.split("…")), key=len)


def test_source_has_messages() -> None:
    assert len(list(message_templates())) > 100


def test_every_message_is_in_the_catalogue() -> None:
    text = " ".join(CATALOGUE.read_text(encoding="utf-8").split())
    missing = [
        f"{where}: {template}"
        for where, template in message_templates()
        if len(_fixed_part(template)) >= 6 and _fixed_part(template) not in text
    ]
    assert missing == []


def test_catalogue_states_the_limits_the_code_uses() -> None:
    from tradecalc.core.files import MAX_FILE_BYTES
    from tradecalc.schedule import loader

    text = CATALOGUE.read_text(encoding="utf-8")
    assert f"{MAX_FILE_BYTES:,} bytes" in text
    assert f"At most {loader.MAX_DEPTH} levels" in text
    assert f"At most {loader.MAX_NODES:,} nodes" in text
    assert re.search(r"\*\*2\*\* usage error", text)
