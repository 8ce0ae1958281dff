"""Reading server logs by time: when each line was written, and the tracebacks written after a moment."""

from __future__ import annotations

import re
from datetime import datetime

# The LOGGING formatter's `asctime` (local time, milliseconds): "2026-12-01 17:39:58,621 INFO ...".
_LOGGED = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}) ")
# daphne's access lines carry whole seconds only: "... [01/Dec/2026:17:40:00] ...".
_ACCESS = re.compile(r"\[(\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2})\]")


def logged_at(line: str) -> float | None:
    """When a log line was written (Unix seconds), if it says; an access line counts as the end of its second."""
    if match := _LOGGED.match(line):
        return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    if match := _ACCESS.search(line):
        return datetime.strptime(match.group(1), "%d/%b/%Y:%H:%M:%S").timestamp() + 1.0
    return None


def lines_with_times(log: str) -> list[tuple[float | None, str]]:
    """Every line with the time of the last timestamped line at or before it (a traceback's lines have none)."""
    out, last = [], None
    for line in log.splitlines():
        at = logged_at(line)
        last = at if at is not None else last
        out.append((last, line))
    return out


def tracebacks_after(log: str, moment: float) -> list[str]:
    """The "Traceback" lines written after `moment` (Unix seconds), each with the line that announced it.

    A traceback before any timestamped line counts as after: nothing shows it was earlier.
    """
    found, previous = [], ""
    for at, line in lines_with_times(log):
        if line.startswith("Traceback") and (at is None or at > moment):
            found.append(f"{previous.strip()} | {line.strip()}")
        if not line.startswith((" ", "Traceback")):
            previous = line
    return found
