"""One run's report: the markdown tables (`tables`) between the markers of bench/README.md, the PNG plots
(`plots`) and the summary JSON in the results directory. `python -m bench.report` re-renders the tables
from bench/results/summary.json."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report.plots import plots
from bench.report.tables import tables

BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"
# Per-sample lists: plotted, left out of summary.json.
SAMPLE_KEYS = ("lateness_samples", "db_samples", "frame_samples")


def replace_between_markers(readme: Path, body: str) -> None:
    text = readme.read_text() if readme.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    readme.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")


def write(run: dict, readme: Path, out_dir: Path) -> None:
    """Plots into `out_dir`, the tables between the markers of `readme`, the raw summary as JSON."""
    # Carried-over phases kept their tables but not their samples: their plots stay as drawn then.
    carried = set(run.get("carried", {}).get("keys", []))
    plots({key: value for key, value in run.items() if key not in carried}, out_dir)
    slim = json.loads(json.dumps(run))
    for group in ("ticks", "timeouts"):
        for r in slim.get(group, []):
            for key in SAMPLE_KEYS:
                r.pop(key, None)
    if slim.get("starts"):
        slim["starts"].pop("latency_samples", None)
    if slim.get("side_by_side"):
        for r in slim["side_by_side"].values():
            r.pop("lateness_samples", None)
    (out_dir / "summary.json").write_text(json.dumps(slim, indent=1))
    replace_between_markers(readme, tables(run))
