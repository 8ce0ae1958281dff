"""The recovery phase's figures, from what the reconnecting load generator recorded: pure functions of its result.

Every time is wall-clock seconds on this machine (the orchestrator and the load generators share its clock).
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

from bench.stats import summary
from tests.faults.logs import lines_with_times

# A server log line that reports a failure: the LOGGING format's level, or a traceback's first line.
ERROR_LINE = re.compile(r"^\S+ \S+ (ERROR|CRITICAL) |^Traceback ")
ERROR_SAMPLES = 5


def merged(results: list[dict]) -> dict:
    """One result of several load generators: their sockets together, the first proctor dashboard found."""
    sockets, failed, count = {}, [], 0
    proctor = None
    for result in results:
        sockets.update(result["sockets"])
        failed += result["failed"]
        count += result["failure_count"]
        proctor = proctor or result.get("proctor")
    return {"sockets": sockets, "proctor": proctor, "failed": failed, "failure_count": count}


def first_after(times: list[float], moment: float) -> float | None:
    return next((t for t in times if t > moment), None)


def ticking_again(result: dict, moment: float) -> dict:
    """Per attempt socket, its first tick after `moment`, as seconds from it: summary, and the sockets never ticking."""
    delays, never, silent = [], [], 0
    for attempt_id, socket in result["sockets"].items():
        tick = first_after(socket["ticks"], moment)
        if tick is None:
            never.append(int(attempt_id))
            # Open all along and silent: the server neither ticks nor closes it, so the page never reconnects.
            silent += not any(at > moment - 60 for at, _ in socket["closes"])
        else:
            delays.append(tick - moment)
    return {"after": summary(delays), "never": len(never), "never_open": silent, "never_samples": never[:10]}


def closes(result: dict, since: float) -> dict:
    """Attempt sockets the server closed after `since`: how many, their close codes, how many opened again after."""
    codes: collections.Counter = collections.Counter()
    closed = reopened = 0
    for socket in result["sockets"].values():
        after = [(at, code) for at, code in socket["closes"] if at > since]
        if not after:
            continue
        closed += 1
        codes.update(str(code) for _, code in after)
        if any(opened > after[0][0] for opened in socket["opens"]):
            reopened += 1
    return {"closed": closed, "codes": dict(codes), "reopened": reopened}


def failures(result: dict, since: float) -> dict:
    """Failed connect tries after `since`: count, and the kinds (first words) most seen."""
    after = [what for at, what in result["failed"] if at > since]
    kinds = collections.Counter(what.split(":")[0] for what in after)
    return {"count": len(after), "kinds": dict(kinds.most_common(5))}


def frame_arrivals(result: dict, kind: str, frame_id) -> list[float]:
    """Arrival of the frame of type `kind` with this id on each attempt socket that got it."""
    found = []
    for socket in result["sockets"].values():
        arrival = next((at for at, k, i in socket["frames"] if k == kind and i == frame_id), None)
        if arrival is not None:
            found.append(arrival)
    return found


def proctor_figures(proctor: dict | None, moment: float, announcement: dict | None) -> dict | None:
    """The dashboard after `moment`: its first frame (type, delay), the announcement's arrival, closes, reopens."""
    if proctor is None:
        return None
    first = next(((at, kind) for at, kind, _ in proctor["frames"] if at > moment), None)
    arrival = None
    if announcement and announcement.get("id") is not None:
        arrival = next(
            (at for at, kind, i in proctor["frames"] if kind == "announcement" and i == announcement["id"]), None
        )
    return {
        "first_frame": None if first is None else {"type": first[1], "after": first[0] - moment},
        "announcement_after": None if arrival is None else arrival - moment,
        "announcement_after_sent": None if arrival is None or not announcement else arrival - announcement["sent"],
        "closes": [code for at, code in proctor["closes"] if at > moment - 60],
        "reopened": sum(1 for at in proctor["opens"] if at > moment),
    }


def probes(proctor: dict | None, sent: list[dict], kind: str = "attempt_time_changed") -> dict:
    """Events sent one after the other after the fault (an extension of one attempt each, `sent`: its attempt id,
    when it was sent, the status): which reached the dashboard, how long after they were sent."""
    frames = proctor["frames"] if proctor else []
    rows = []
    for probe in sent:
        arrival = next(
            (at for at, k, i in frames if k == kind and i == probe["attempt_id"] and at >= probe["sent"]), None
        )
        rows.append(
            {
                "sent_after": probe["sent_after"],
                "status": probe["status"],
                "latency": None if arrival is None else arrival - probe["sent"],
            }
        )
    arrived = [r for r in rows if r["latency"] is not None]
    lost = [r["sent_after"] for r in rows if r["latency"] is None]
    return {
        "sent": len(rows),
        "arrived": len(arrived),
        "lost_sent_after": lost,
        "first_arrived_sent_after": arrived[0]["sent_after"] if arrived else None,
        "latency": summary([r["latency"] for r in arrived]),
        "rows": rows,
    }


def error_lines(log_path: Path, since: float) -> dict:
    """ERROR / CRITICAL / Traceback lines of a server log written after `since`: count and a few samples."""
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    found = [line for at, line in lines_with_times(text) if (at is None or at > since) and ERROR_LINE.search(line)]
    return {"count": len(found), "samples": [line[:240] for line in found[:ERROR_SAMPLES]]}


def matching_lines(log_path: Path, pattern: str, since: float) -> int:
    """How many lines of a server log written after `since` match the regular expression `pattern`."""
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    regex = re.compile(pattern)
    return sum(1 for at, line in lines_with_times(text) if at is not None and at > since and regex.search(line))
