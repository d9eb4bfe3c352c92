"""Split a single-file data/rates.yaml into the part files under data/schedule/.

The one-off migration of issue 12 (item 6), kept so that a branch that still edits the
single file can be carried over: put that branch's single-file rates.yaml at
data/rates.yaml, run ``python scripts/split_schedule.py .`` from the repository root, and
compare the parts with ``git diff``. It also names the copied displaced_by lists as
displacement sets and rewrites the comments left by earlier tooling. It stops when a
marker it needs is missing, rather than guess.
"""

# ruff: noqa: E501  (the texts it finds and writes are data lines)
import re
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
src = (root / "data" / "rates.yaml").read_text(encoding="utf-8")
lines = src.splitlines(keepends=True)


def find(prefix, start=0):
    for i in range(start, len(lines)):
        if lines[i].startswith(prefix):
            return i
    raise SystemExit(f"marker not found: {prefix!r}")


top = [i for i, ln in enumerate(lines) if re.match(r"[a-z_]+:", ln)]
keys = {lines[i].split(":")[0]: i for i in top}
order = sorted(keys, key=keys.get)


def block(key):
    start = keys[key]
    later = [keys[k] for k in order if keys[k] > start]
    return "".join(lines[start : (min(later) if later else len(lines))])


HEADER_KEYS = ("schema_version", "version", "title", "published")
known = set(HEADER_KEYS) | {
    "sources",
    "parties",
    "measures",
    "product_lists",
    "claims",
    "regimes",
    "scenarios",
}
unknown = set(keys) - known
if unknown:
    raise SystemExit(f"top-level keys without a part: {unknown}")
i_src = min(keys[k] for k in keys if k not in HEADER_KEYS)
header = "".join(lines[:i_src])
sources = block("sources")
parties = block("parties")
measures = block("measures")
i_cn = measures.index(
    "  # ------------------------------------------------------------------ China: 2025 counter-tariff"
)
us, cn = measures[:i_cn], measures[i_cn:]
plists = block("product_lists")
claims = block("claims") if "claims" in keys else ""
regimes = block("regimes") + block("scenarios")


def sub(text, old, new, count=1):
    n = text.count(old)
    if n != count:
        raise SystemExit(f"expected {count} of {old[:60]!r}, found {n}")
    return text.replace(old, new)


# --- sources: human headings instead of the merge tool's section names
sources = sub(
    sources,
    "  # --- sources of the us_mfn301 section\n",
    "  # --- US: MFN base rates and Section 301\n",
)
sources = sub(
    sources, "  # --- sources of the us_232 section\n", "  # --- US: Section 232 and AD/CVD\n"
)
sources = sub(sources, "  # --- sources of the cn section\n", "  # --- China\n")

# --- US measures
REVIEW = (
    "[us-301-review-ev, us-301-review-syringes, us-301-review-enteral-syringes, us-301-review-solar,\n"
    "                   us-301-review-steel-alu, us-301-review-ev-batteries, us-301-review-semiconductors, us-301-review-gloves,\n"
    "                   us-301-review-tungsten, us-301-review-li-ion-other, us-301-review-graphite-magnets]"
)
n_review = us.count(REVIEW)
us = us.replace(REVIEW, '["set:section-301-review"]')
NONMETAL = "[us-232-autos, us-232-auto-parts, us-232-lumber, us-232-upholstered-furniture, us-232-cabinets, us-232-trucks]"
n_nonmetal = us.count(NONMETAL)
us = us.replace(NONMETAL, '["set:section-232-non-metal"]')
VEHICLES = "[us-232-autos, us-232-auto-parts, us-232-trucks]"
n_vehicles = us.count(VEHICLES)
us = us.replace(VEHICLES, '["set:section-232-vehicles"]')
print(
    f"set:section-301-review x{n_review}, set:section-232-non-metal x{n_nonmetal}, "
    f"set:section-232-vehicles x{n_vehicles}",
    file=sys.stderr,
)

old_block = us[
    us.index("  # tradecalc data fragment: US MFN") : us.index(
        "  # ------------------------------------------------------------------ US MFN base\n"
    )
]
us = us.replace(
    old_block,
    """\
  # US MFN (column 1 general) base rates come from the bundled official schedule (data/hts,
  # scripts/build_hts_history.py); the us-mfn entries below only annotate it. Section 301 (China)
  # Lists 1/2/3/4A and the 2024 four-year-review increases (9903.91.xx):
  # - List membership: the lists generated from U.S. note 20 (scripts/lists/s301.py), or the
  #   "See 9903.88.xx" footnote of the imported HTS line (@hts:9903.88.xx), cross-checked with
  #   the Budget Lab's s301_product_lists.csv (docs/lists-crosscheck.md).
  # - Product exclusions (9903.88.69): the 26 of U.S. note 20(vvv) that name a whole statistical line
  #   are excluded (us-301-exclusions-9903-88-69, through 9 Nov 2026); the others describe a product
  #   within a line (and 9903.88.70, note 20(www)) and are claims, not applied. List 4B (9903.88.16)
  #   is suspended and is not modelled.
""",
)
us = sub(
    us,
    "  # displaced_by: [all us-301-review-* measures]; today",
    '  # displaced_by: ["set:section-301-review"] (every us-301-review-* measure); today',
)
us = sub(
    us,
    "  # Fragment: US Section 232 measures (metals, autos, wood, trucks) and AD/CVD review flags\n  # on goods of Chinese origin.  Source ids prefixed s232- / adcvd-.\n",
    "  # US Section 232 measures (metals, autos, wood, trucks) and AD/CVD review flags on goods of\n  # Chinese origin. Their source ids start with s232- / adcvd-.\n",
)
us = sub(us, "none of those is in this fragment's scope then", "none of those is in scope then")
us = sub(
    us,
    "  # - us-ieepa-reciprocal (rates.yaml) lists the displacing non-metal 232 ids",
    "  # - us-ieepa-reciprocal (above) is displaced by the non-metal 232 measures (set:section-232-non-metal)",
)
us = sub(
    us,
    "  #   charged on the remainder when a metal measure applies;",
    "  #   from 4 Jun 2025 and charged on the remainder when a metal measure applies;",
)
assert us.startswith("measures:\n")
sets = """\
# Lists of measures that displace another, named once and used as displaced_by: ["set:NAME"].
displacement_sets:
  # The four-year-review headings 9903.91.xx replace the 9903.88.xx list heading on the same goods.
  section-301-review: [us-301-review-ev, us-301-review-syringes, us-301-review-enteral-syringes,
                       us-301-review-solar, us-301-review-steel-alu, us-301-review-ev-batteries,
                       us-301-review-semiconductors, us-301-review-gloves, us-301-review-tungsten,
                       us-301-review-li-ion-other, us-301-review-graphite-magnets]
  # Vehicle 232 measures displace the metals (steel, aluminium, copper) and wood 232 measures.
  section-232-vehicles: [us-232-autos, us-232-auto-parts, us-232-trucks]
  # Section 232 articles other than metals: not subject to the reciprocal duty from 4 Jun 2025.
  section-232-non-metal: [us-232-autos, us-232-auto-parts, us-232-lumber, us-232-upholstered-furniture,
                          us-232-cabinets, us-232-trucks]

"""

# --- China measures
cn = sub(
    cn,
    "  # China-side fragment (prefix cn-): MFN base rates",
    "  # China's measures (ids start with cn-): MFN base rates",
)
cn = sub(
    cn,
    "Compiled from /work/shared/research/china-side-facts.md and the WTO TTD file.",
    "Compiled from the research notes (shared/research/china-side-facts.md) and the WTO TTD file.",
)
cn = "measures:\n" + cn

HEAD = "# {what}\n# Part of the tradecalc schedule: data/rates.yaml includes it (see the conventions there).\n\n"
parts = {
    "sources.yaml": (
        "Sources: every source id cited by a rate, date, list row or valuation rule.",
        sources,
    ),
    "parties.yaml": (
        "Importing parties: valuation, time zone, reporting order, fees, VAT and consumption tax.",
        parties,
    ),
    "us-measures.yaml": (
        "US measures on goods of Chinese origin: IEEPA, Section 122, 301 and 232, AD/CVD flags, MFN notes.",
        sets + us,
    ),
    "cn-measures.yaml": (
        "China's measures on goods of US origin: MFN, 2018-19 and 2025 counter-tariffs, remedies.",
        cn,
    ),
    "lists.yaml": (
        "Product lists named by scopes as @id: inline codes, or CSV files under data/lists/ (paths\n# relative to data/, the folder of rates.yaml).",
        plists,
    ),
    **(
        {
            "claims.yaml": (
                "Claims: facts only the importer can declare (--claim ID) and the measures they change.",
                claims,
            )
        }
        if claims
        else {}
    ),
    "regimes.yaml": ("Named regimes (a date) and scenarios (a regime with overrides).", regimes),
}
folder = root / "data" / "schedule"
folder.mkdir(exist_ok=True)
for name, (what, body) in parts.items():
    (folder / name).write_text(HEAD.format(what=what) + body.rstrip("\n") + "\n", encoding="utf-8")

header = header.rstrip("\n") + "\n"
header = sub(
    header,
    "# on goods of US origin, February 2025 to November 2026.\n#\n",
    "# on goods of US origin, February 2025 to November 2026.\n#\n"
    "# This file names the schedule's parts (include:, paths relative to this folder); they are\n"
    "# read as one schedule, in this order. Edit the part that holds what you change.\n#\n",
)
header += "\ninclude:\n" + "".join(f"  - schedule/{name}\n" for name in parts)
(root / "data" / "rates.yaml").write_text(header, encoding="utf-8")
