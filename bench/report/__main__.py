"""`python -m bench.report`: the tables again from results/summary.json (the plots stay as they are)."""

import json
from pathlib import Path

from bench.report import replace_between_markers, tables

BENCH_DIR = Path(__file__).resolve().parent.parent

replace_between_markers(
    BENCH_DIR / "README.md", tables(json.loads((BENCH_DIR / "results" / "summary.json").read_text()))
)
