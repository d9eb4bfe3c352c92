#!/usr/bin/env bash
# Move tradecalc's flat modules into subpackages that show the architecture, and rewrite every
# reference to them (imports, dotted paths in code, strings and docs, file paths, the
# import-linter contracts in pyproject.toml, the README's layout section).
#
# Run from the repository root:  bash /work/wt/h12-relayout.sh
# Idempotent: a second run finds nothing to move and rewrites nothing. It edits by rule (regular
# expressions over all files), not by patch, so it also works after other branches are merged.
# Modules it does not know are moved by prefix (render_x -> render/x, batch_x -> batch/x,
# hts_x -> hts/x) or left in place with a warning.
#
# Limits: a new top-level module without a known prefix stays where it is (a warning; it is in
# no layer); module names built at run time from strings are not rewritten; Markdown lines may
# run past the wrap width; a long code line is wrapped by `ruff format` on its whole file. After
# the move `tradecalc.engine`, `tradecalc.batch` and `tradecalc.render` are packages: a later
# run reads `tradecalc.engine.X` (X not a submodule) as the old module's attribute and points
# it at `tradecalc.engine.assessment.X`.
#
# Environment: PYTHON (default python3, 3.11+), RUFF (default: ruff on PATH, else
# /work/venv/bin/ruff; import blocks are re-sorted with `ruff check --fix --select I`).
set -euo pipefail

if [[ ! -d src/tradecalc || ! -f pyproject.toml ]]; then
  echo "h12-relayout: run me from the tradecalc repository root" >&2
  exit 2
fi
PYTHON="${PYTHON:-python3}"

"$PYTHON" - <<'PY'
from __future__ import annotations

import io
import re
import subprocess
import textwrap
import tokenize
import sys
import tomllib
from pathlib import Path

PKG = Path("src/tradecalc")

# old module -> new dotted path under tradecalc (package.module)
MOVES = {
    # core: what every layer uses
    "errors": "core.errors",
    "files": "core.files",
    "money": "core.money",
    "rate": "core.rate",
    "status": "core.status",
    # schedule: the data model and everything that reads and checks it
    "models": "schedule.models",
    "loader": "schedule.loader",
    "checks": "schedule.checks",
    "validation": "schedule.validation",
    "schedules": "schedule.load",
    "cache_format": "schedule.cache_format",
    "list_files": "schedule.list_files",
    # hts: official tariff lines as base rates
    "hts_parse": "hts.parse",
    "hts_store": "hts.store",
    "hts_history": "hts.history",
    "cn_lines": "hts.cn_lines",
    "base_rates": "hts.base_rates",
    "providers": "hts.providers",
    # engine: from a schedule and a shipment to an assessment
    "engine": "engine.assessment",
    "compiled": "engine.compiled",
    "selection": "engine.selection",
    "inputs": "engine.inputs",
    "timeline": "engine.timeline",
    "snapshot": "engine.snapshot",
    "diff": "engine.diff",
    # batch: many shipments
    "batch": "batch.rows",
    "batch_join": "batch.join",
    "batch_jobs": "batch.jobs",
    "rate_export": "batch.export",
    # analysis: what is built on the engine and batch
    "impact": "analysis.impact",
    "refund": "analysis.refund",
    # render: every table and serialisation of results
    "render": "render.duty",
    "render_batch": "render.batch",
    "render_data": "render.data",
    "render_impact": "render.impact",
    "render_refund": "render.refund",
    # cli: the duty --stdin loop belongs to the duty command's side
    "serve": "cli.serve",
}
PREFIXES = {"render_": "render", "batch_": "batch", "hts_": "hts"}
STAY = {"__init__", "__main__"}

DOCSTRINGS = {
    "core": "Foundations every layer uses: errors, exact money, rates, atomic file writes and "
    "the status vocabulary.",
    "schedule": "The tariff schedule as data: frozen models, YAML loading, checks, validation, "
    "product-list files and the on-disk cache.",
    "hts": "Official tariff lines as base rates: the US HTS (parse, store, bundled history) and "
    "China's tariff lines, behind one provider interface.",
    "engine": "Duty computation: one shipment's assessment, the compiled rate table, regime "
    "selection, inputs, timelines, snapshots and diffs.",
    "batch": "Many shipments: rows in and out, the join against the rate table, worker "
    "processes and the rate-table export.",
    "analysis": "Analyses built on the engine: the impact of regimes on a basket of trade, and "
    "IEEPA refunds from ACE exports.",
    "render": "Output: every Rich table and JSON or CSV rendering of results (none is built in "
    "``cli/``).",
}

warnings: list[str] = []


def git(*args: str) -> None:
    subprocess.run(["git", *args], check=True)


# ----------------------------------------------------------------------------- plan the moves

plan: dict[str, str] = {}
for path in sorted(PKG.glob("*.py")):
    name = path.stem
    if name in STAY:
        continue
    target = MOVES.get(name)
    if target is None:
        prefix = next((p for p in PREFIXES if name.startswith(p)), None)
        if prefix is None:
            warnings.append(f"{path}: unknown module left in place (not in any layer)")
            continue
        target = f"{PREFIXES[prefix]}.{name[len(prefix):]}"
    plan[name] = target
# modules moved by an earlier run still need their references rewritten
for name, target in MOVES.items():
    if name not in plan and (PKG / (target.replace(".", "/") + ".py")).is_file():
        plan[name] = target

moved_now: list[Path] = []
for name, target in plan.items():
    source = PKG / f"{name}.py"
    dest = PKG / (target.replace(".", "/") + ".py")
    if not source.is_file():
        continue
    if dest.exists():
        sys.exit(f"h12-relayout: both {source} and {dest} exist; merge them by hand first")
    dest.parent.mkdir(parents=True, exist_ok=True)
    git("mv", str(source), str(dest))
    moved_now.append(dest)

for package, doc in DOCSTRINGS.items():
    init = PKG / package / "__init__.py"
    if (PKG / package).is_dir() and not init.exists():
        lines = textwrap.wrap(f'"""{doc}"""', width=96)
        init.write_text("\n".join(lines) + "\n", encoding="utf-8")
        git("add", str(init))

# A moved module is one level deeper: its own folder is no longer the package folder.
for path in moved_now:
    text = path.read_text(encoding="utf-8")
    new = re.sub(
        r"Path\(__file__\)(\.resolve\(\))?\.parent(?![s\w])",
        lambda m: f"Path(__file__){m.group(1) or ''}.parents[1]",
        text,
    )
    if re.search(r"Path\(__file__\)(?!(\.resolve\(\))?\.parents\[1\])", new):
        warnings.append(f"{path}: other use of Path(__file__); check it points where it should")
    if new != text:
        path.write_text(new, encoding="utf-8")

# ----------------------------------------------------------------------------- rewrite references

packages: dict[str, set[str]] = {}
for target in plan.values():
    package, module = target.split(".")
    packages.setdefault(package, set()).add(module)
for folder in PKG.iterdir():
    if folder.is_dir() and (folder / "__init__.py").exists():
        packages.setdefault(folder.name, set()).update(
            p.stem for p in folder.glob("*.py") if p.stem != "__init__"
        )
        packages[folder.name].update(p.name for p in folder.iterdir() if p.is_dir())


def dotted_pattern(old: str) -> str:
    """``tradecalc.OLD`` not followed by more of a name, nor by a submodule of a package that
    took OLD's name (so ``tradecalc.engine.assessment`` is left alone on a second run)."""
    guard = ""
    if old in packages:
        subs = "|".join(sorted(packages[old], key=len, reverse=True))
        guard = rf"(?!\.(?:{subs})\b)(?!\s+import\s+\(?\s*(?:{subs})\b)"
    return rf"(?<![\w.])tradecalc\.{old}(?![\w]){guard}"


DOTTED = [
    (re.compile(dotted_pattern(old)), f"tradecalc.{new}")
    for old, new in sorted(plan.items(), key=lambda kv: -len(kv[0]))
]
PATHS = [
    (re.compile(rf"(?<![\w])tradecalc/{old}\.py\b"), f"tradecalc/{new.replace('.', '/')}.py")
    for old, new in plan.items()
]
FROM_IMPORT = re.compile(
    r"^(?P<indent>[ \t]*)from tradecalc import (?:\((?P<group>[^)]*)\)|(?P<line>[^\n(#]+?))"
    r"(?P<comment>[ \t]*#[^\n]*)?$",
    re.MULTILINE,
)


def split_from_import(match: re.Match[str]) -> str:
    """``from tradecalc import batch, __version__`` -> one import per moved module, the rest kept."""
    indent = match["indent"]
    body = match["group"] if match["group"] is not None else match["line"]
    names = [n.strip() for n in re.sub(r"#[^\n]*", "", body).replace("\n", " ").split(",")]
    names = [n for n in names if n]
    kept, lines = [], []
    for item in names:
        name, _, alias = (part.strip() for part in item.partition(" as "))
        target = plan.get(name)
        if target is None:
            kept.append(item)
            continue
        package, module = target.split(".")
        local = alias or name
        suffix = "" if local == module else f" as {local}"
        lines.append(f"{indent}from tradecalc.{package} import {module}{suffix}")
    if not lines:
        return match.group(0)
    if kept:
        lines.insert(0, f"{indent}from tradecalc import {', '.join(kept)}")
    if match["comment"]:
        lines[-1] += match["comment"]
    return "\n".join(lines)


def rewrite(text: str, python: bool) -> str:
    if python:
        text = FROM_IMPORT.sub(split_from_import, text)
    for pattern, new in DOTTED:
        text = pattern.sub(new, text)
    for pattern, new in PATHS:
        text = pattern.sub(new, text)
    return text


def wrap_long_lines(path: Path, before: str, text: str) -> str:
    """Re-wrap docstring and comment lines the rewrite pushed past 100 characters; a file
    with a long code line is left to ``ruff format`` (see the end of the script)."""
    old_lines = set(before.splitlines())
    prose: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type != tokenize.STRING or not token.string.startswith('"' * 3):
                continue
            prose.update(range(token.start[0], token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        return text
    out: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if len(line) <= 100 or line in old_lines:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        comment = line.lstrip().startswith("#")
        if not comment and number not in prose:
            needs_format.add(path)
            out.append(line)
            continue
        lead = indent + ("# " if comment else "")
        rest = line
        while len(rest) > 100:
            cut = rest.rfind(" ", len(lead) + 1, 101)
            if cut <= len(lead):
                break
            out.append(rest[:cut].rstrip())
            rest = lead + rest[cut + 1 :].lstrip()
        out.append(rest)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


needs_format: set[Path] = set()
files: list[Path] = []
for root in ("src", "tests", "benchmarks", "scripts"):
    files += [p for p in Path(root).rglob("*.py") if "fixtures" not in p.parts]
files += list(Path("docs").rglob("*.md")) if Path("docs").is_dir() else []
files += [p for p in Path(".").glob("*.md")]
files += [p for p in Path(".ci").glob("*") if p.is_file()] if Path(".ci").is_dir() else []
files.append(Path("pyproject.toml"))
changed = 0
for path in files:
    text = path.read_text(encoding="utf-8")
    new = rewrite(text, path.suffix == ".py")
    if new != text and path.suffix == ".py":
        new = wrap_long_lines(path, text, new)
    if new != text:
        path.write_text(new, encoding="utf-8")
        changed += 1

# ----------------------------------------------------------------------------- import-linter

LAYERS_NAME = (
    "Layers: the command line over rendering over analyses over batch over the engine over "
    "the schedule and the tariff lines over the core"
)
INSIDE = {
    "engine": ["diff : timeline : snapshot : inputs : selection", "compiled", "assessment"],
    "schedule": ["validation : load", "checks : loader : list_files", "models"],
    "hts": ["providers : history : store : parse : cn_lines", "base_rates"],
    "core": ["files", "rate", "money", "errors"],
}
INSIDE_NAMES = {
    "engine": "services over the compiled table over the assessment",
    "schedule": "validation and loading over the checks and the YAML reader over the models",
    "hts": "the providers and the stores over the base-rate interface",
    "core": "files over rates over money over errors",
}


def toml_value(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        inline = "[" + ", ".join(toml_value(v) for v in value) + "]"
        if len(inline) <= 60:
            return inline
        return "[\n" + "".join(f"  {toml_value(v)},\n" for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to pyproject.toml")


def contract(fields: dict[str, object]) -> str:
    return "[[tool.importlinter.contracts]]\n" + "".join(
        f"{key} = {toml_value(value)}\n" for key, value in fields.items()
    )


pyproject = Path("pyproject.toml")
text = pyproject.read_text(encoding="utf-8")
config = tomllib.loads(text).get("tool", {}).get("importlinter", {})
generated = {LAYERS_NAME, *(f"Inside {p}: {n}" for p, n in INSIDE_NAMES.items())}
kept = [
    c
    for c in config.get("contracts", [])
    if c.get("name") not in generated
    and not (c.get("type") == "layers" and c.get("containers") == ["tradecalc"])
]
order = ["cli", "render", "analysis", "batch", "engine", "schedule | hts", "core"]
present = [
    layer
    for layer in order
    if all((PKG / part.strip()).is_dir() for part in layer.split("|"))
]
blocks = [
    contract(
        {"name": LAYERS_NAME, "type": "layers", "containers": ["tradecalc"], "layers": present}
    )
]
for package, layers in INSIDE.items():
    mods = [m.strip() for layer in layers for m in re.split(r"[:|]", layer)]
    if all((PKG / package / f"{m}.py").is_file() for m in mods):
        blocks.append(
            contract(
                {
                    "name": f"Inside {package}: {INSIDE_NAMES[package]}",
                    "type": "layers",
                    "containers": [f"tradecalc.{package}"],
                    "layers": layers,
                }
            )
        )
    else:
        warnings.append(f"tradecalc.{package}: a module of its inner contract is missing; skipped")
blocks += [contract(c) for c in kept]
options = {k: v for k, v in config.items() if k != "contracts"}
options.setdefault("root_package", "tradecalc")
# ``tradecalc/__init__`` names its lazy exports under ``if TYPE_CHECKING:``; counted, they would
# make every module that reads ``tradecalc.__version__`` depend on the engine.
options["exclude_type_checking_imports"] = True
section = "[tool.importlinter]\n" + "".join(
    f"{k} = {toml_value(v)}\n" for k, v in options.items()
)
section += "\n" + "\n".join(blocks)
start = text.index("[tool.importlinter]")
rest = re.search(r"^\[(?!\[?tool\.importlinter)", text[start + 1 :], re.MULTILINE)
end = start + 1 + rest.start() if rest else len(text)
new_text = text[:start] + section + ("\n" + text[end:] if rest else "")
if new_text != text:
    pyproject.write_text(new_text, encoding="utf-8")

# ----------------------------------------------------------------------------- README layout

LAYOUT = """Layout: `src/tradecalc/` is a package per layer, and dependencies point one way, down
this list (`lint-imports` checks it, with the contracts in `pyproject.toml`):

1. `cli/` (Typer): one module per command family (`duty`, `batch`, `data`, `hts`, `impact`,
   `refund`) that never import each other; what they share (the app, the option types such
   as `RegimeOption`, `SetOption`, `FormatOption`) is in `cli/app.py`, and `cli/serve.py` is
   the `duty --stdin` loop. A one-shot call imports only the module of the command it names.
2. `render/`: every Rich table and JSON or CSV rendering of results (`duty`, `batch`, `data`,
   `impact`, `refund`); none is built in `cli/`.
3. `analysis/`: `impact` (regimes over a basket of trade) and `refund` (IEEPA refunds from
   ACE exports), built on the engine and on batch.
4. `batch/`: `rows` (reading, assessing and writing rows), `join` (rows joined to the
   compiled rate table), `jobs` (worker processes), `export` (`rates export` and its SQL).
5. `engine/`: `assessment` (one shipment under one regime: the reference engine), `compiled`
   (the rate table and its one money path), `selection` (regimes, scenarios, `--set`, dates:
   the one function every command uses), `inputs` (text fields to a shipment), `timeline`,
   `snapshot` and `diff`. Inside, the services sit over `compiled`, which sits over
   `assessment`.
6. `schedule/` (the data model: `models`, the YAML `loader`, `checks`, `validation`,
   `list_files`, `load` with its non-executable `cache_format`) and, independent of it,
   `hts/` (official tariff lines as base rates: `parse`, `store` and `history` of the US HTS,
   China's `cn_lines`, the `base_rates` interface and the `providers` a command uses).
7. `core/`: `errors`, `money` (exact Decimal, half-up to the cent), `rate` (rate text and
   arithmetic), `files` (atomic writes, signals), `status`. Rates and money sit here, not
   in `engine/`, because the schedule's models and the HTS parser are built from them.

The public API is `tradecalc.__all__` (`assess`, `Shipment`, `Assessment`, `regime_views`,
`select_views`, `load_schedule`, `FxTable`), importable from `tradecalc` itself; the modules
above are its implementation. The package ships `py.typed`.
"""
readme = Path("README.md")
if readme.is_file():
    text = readme.read_text(encoding="utf-8")
    found = re.search(r"^Layout: `src/tradecalc/`.*?ships `py\.typed`\.\n", text, re.S | re.M)
    if found is None:
        warnings.append("README.md: no layout section ('Layout: `src/tradecalc/` ...') found")
    elif found.group(0) != LAYOUT:
        readme.write_text(text[: found.start()] + LAYOUT + text[found.end() :], encoding="utf-8")

# ----------------------------------------------------------------------------- what is left

leftover = re.compile(
    r"(?<![\w.])tradecalc\.(" + "|".join(sorted(MOVES, key=len, reverse=True)) + r")(?![\w])"
)
for path in files:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for found in leftover.finditer(line):
            name = found.group(1)
            if name in packages:  # now a package: only an attribute of the old module is left over
                attribute = re.match(r"\.(\w+)", line[found.end() :])
                if attribute is None or attribute.group(1) in packages[name]:
                    continue
            warnings.append(f"{path}:{number}: old module path left: {line.strip()}")

Path(".h12-relayout-format").write_text(
    "".join(f"{p}\n" for p in sorted(map(str, needs_format))), encoding="utf-8"
)
print(f"h12-relayout: {len(moved_now)} modules moved, {changed} files rewritten")
for warning in warnings:
    print(f"h12-relayout: warning: {warning}", file=sys.stderr)
PY

RUFF="${RUFF:-$(command -v ruff || echo /work/venv/bin/ruff)}"
if [[ -x "$RUFF" ]]; then
  "$RUFF" check --quiet --fix --select I src tests benchmarks scripts || true
  # files where a rewritten path made a code line too long: let the formatter wrap them
  if [[ -s .h12-relayout-format ]]; then
    xargs "$RUFF" format --quiet < .h12-relayout-format
  fi
else
  if [[ -s .h12-relayout-format ]]; then
    echo "h12-relayout: format these files: $(tr '\n' ' ' < .h12-relayout-format)" >&2
  fi
  echo "h12-relayout: ruff not found: sort the import blocks with 'ruff check --fix --select I'" >&2
fi
rm -f .h12-relayout-format
