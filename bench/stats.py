"""Percentiles and summaries, without numpy in the hot path."""

from __future__ import annotations

import math


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (nearest rank) of `values`, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict:
    """count, p50, p99 and max of `values`."""
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


def ms(value: float | None) -> str:
    """Seconds as whole milliseconds for a table ("-" when missing)."""
    return "-" if value is None else f"{value * 1000:.0f}"


def per_student_minute(result: dict) -> float | None:
    """Daphne CPU seconds per student-minute of a side-by-side measurement."""
    cpu = result.get("cpu_seconds", {}).get("daphne")
    if cpu is None or not result.get("seconds"):
        return None
    return cpu / (result["sockets"] * result["seconds"] / 60)
