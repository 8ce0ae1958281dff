"""The cells and sections every table of the report is made of."""

from __future__ import annotations

from bench.stats import ms


def cpu(result: dict, name: str) -> str:
    """CPU of the processes called `name` (daphne: every daphne process of the phase, summed)."""
    values = [v for k, v in result.get("cpu", {}).items() if k == name or k.startswith(f"{name}-")]
    return "-" if not values else f"{sum(values) * 100:.0f} %"


def loadgen_cpu(result: dict) -> str:
    """CPU of every load generator of the phase, summed."""
    prefixes = ("ticks-", "to-", "loadgen", "connects-", "recover-")
    total = sum(v for k, v in result.get("cpu", {}).items() if k.startswith(prefixes))
    return f"{total * 100:.0f} %"


def row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**missed**")


def spread(s: dict) -> str:
    """p50 / p99 / max of a summary, in ms."""
    return f"{ms(s['p50'])} / {ms(s['p99'])} / {ms(s['max'])}"


def section(title: str, header: tuple[str, ...], rows: list[tuple], *notes: str) -> list[str]:
    """`title`, a table of `header` and `rows` (each a tuple of cells), then each note as a paragraph."""
    lines = [title, "", row(*header), row(*["---"] * len(header)), *(row(*cells) for cells in rows), ""]
    for note in notes:
        lines += [note, ""]
    return lines
