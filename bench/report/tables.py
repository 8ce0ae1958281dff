"""The markdown of one run: the machine, the targets, then one section (a table and its notes) per phase."""

from __future__ import annotations

from bench.report.cells import cpu, loadgen_cpu, section, spread
from bench.report.targets import targets
from bench.stats import ms, per_student_minute


def _ticks(results: list[dict]) -> list[str]:
    header = (
        "code",
        "sockets",
        "daphne processes",
        "tick lateness p50 / p99 / max (ms)",
        "ticks received / owed",
        "daphne CPU",
        "worker CPU",
        "load generator CPU",
        "RSS per socket",
        "daphne RSS",
        "Redis commands/s",
        "connect time",
    )
    rows = [
        (
            r.get("label", "ours"),
            f"{r['sockets']:,}",
            r.get("webs", 1),
            spread(r["lateness"]),
            f"{r['ticks_received']:,} / {r['ticks_expected']:,}",
            cpu(r, "daphne"),
            cpu(r, "worker"),
            loadgen_cpu(r),
            f"{r['rss_per_socket_kb']:.1f} KB",
            f"{r['rss_daphne_mb']:.0f} MB",
            f"{r['redis_commands_per_second']:,.0f}",
            f"{r['connect_seconds']:.0f} s ({r['connect_errors']} errors)",
        )
        for r in results
    ]
    return section(
        "### 1. Ticks on one daphne process",
        header,
        rows,
        "Lateness: arrival at the client minus the whole second the tick stands for "
        "(`deadline - remaining_seconds`, deadlines on whole seconds); it includes the client's own lag. "
        "CPU: share of one core over the window. Redis commands/s: the shared server's rate minus its rate "
        "just before (other tests use it too).",
        "![tick lateness](results/tick_lateness.png)",
    )


def _timeouts(results: list[dict]) -> list[str]:
    header = (
        "case",
        "attempts",
        "deadline → DB `timeout` p50 / p99 / max (ms)",
        "deadline → `timeout` frame p50 / p99 / max (ms)",
        "missing (DB / frame)",
    )
    rows = [
        (
            r["label"],
            f"{r['count']:,}",
            spread(r["db"]),
            spread(r["frame"]) if r["frame"] else "(no socket)",
            f"{r['db_missing']} / {r['frame_missing'] if r['frame'] else '-'}",
        )
        for r in results
    ]
    return section(
        "### 2. Timeout latency",
        header,
        rows,
        "DB `timeout` is seen by polling the rows every 50 ms (so up to ~50 ms late, plus the query).",
        "![timeout latency](results/timeout_latency.png)",
    )


def _starts(r: dict) -> list[str]:
    header = (
        "starts",
        "over",
        "daphne processes",
        "p50 (ms)",
        "p99 (ms)",
        "max (ms)",
        "errors",
        "attempts created",
        "daphne CPU",
    )
    row = (
        f"{r['count']:,}",
        f"{r['seconds']:.0f} s",
        r.get("webs", 1),
        ms(r["latency"]["p50"]),
        ms(r["latency"]["p99"]),
        ms(r["latency"]["max"]),
        r["errors"],
        f"{r['attempts_created']:,}",
        cpu(r, "daphne"),
    )
    return section(
        "### 3. Start burst",
        header,
        [row],
        "Distinct users, JWTs minted directly; each start on a new connection, sent on an even schedule "
        "whatever the earlier ones are doing (open loop).",
        "![start latency](results/start_latency.png)",
    )


def _remaining(r: dict) -> list[str]:
    header = ("clients", "daphne processes", "requests/s", "p50 (ms)", "p99 (ms)", "errors", "daphne CPU")
    row = (
        r["concurrency"],
        r.get("webs", 1),
        f"{r['requests_per_second']:.0f}",
        ms(r["latency"]["p50"]),
        ms(r["latency"]["p99"]),
        r["errors"],
        cpu(r, "daphne"),
    )
    return section(
        "### 4. REST `remaining`",
        header,
        [row],
        "Closed loop: each client sends its next request when the last one is answered (keep-alive).",
    )


def _side_by_side(s: dict) -> list[str]:
    ours, poll, naive = s["ours"], s["polling"], s["naive"]
    base = per_student_minute(ours)

    def ratio(result):
        value = per_student_minute(result)
        return "-" if value is None or not base else f"{value / base:.1f}x"

    def cell(result):
        value = per_student_minute(result)
        return "-" if value is None else f"{value * 1000:.2f}"

    naive_late = naive.get("lateness", {})
    header = ("design", "daphne CPU", "CPU ms per student-minute", "vs ours", "Redis commands/s", "what a student sees")
    rows = [
        (
            "ours: sockets, one ticker per process",
            cpu(ours, "daphne"),
            cell(ours),
            "1.0x",
            f"{ours['redis_commands_per_second']:,.0f}",
            f"a tick every second, p99 {ms(ours['lateness']['p99'])} ms late",
        ),
        (
            "naive: sockets, each reads its own TTL every second",
            cpu(naive, "daphne"),
            cell(naive),
            ratio(naive),
            f"{naive['redis_commands_per_second']:,.0f}",
            f"{naive['ticks_received']:,} ticks of {naive['ticks_expected']:,} owed "
            f"(p99 {ms(naive_late.get('p99'))} ms from the second they show)",
        ),
        (
            "REST polling every 10 s (the original client)",
            cpu(poll, "daphne"),
            cell(poll),
            ratio(poll),
            f"{poll['redis_commands_per_second']:,.0f}",
            f"a fresh number every 10 s; {poll['requests']:,} requests, p99 {ms(poll['latency']['p99'])} ms, "
            f"{poll['errors']} errors",
        ),
    ]
    return section(
        f"### 5. Side by side, {ours['sockets']:,} students each",
        header,
        rows,
        "The naive consumer lives in `bench/naive_consumer.py` and is served by `bench/naive_asgi.py` only.",
    )


def _extend(r: dict) -> list[str]:
    header = ("how", "requests", "`time_changed` after the request, p50 / p99 / max (ms)", "sockets told", "answers")
    rows = [
        (
            "ours: one request for the whole exam",
            1,
            spread(r["exam_wide"]["latency"]),
            f"{r['count'] - r['exam_wide']['missing']:,} of {r['count']:,}",
            f"{r['exam_wide']['status']} in {r['exam_wide']['response_ms']:.0f} ms",
        ),
        (
            "one attempt at a time (the floor: one socket told)",
            r["one"]["latency"]["count"] + r["one"]["missing"],
            spread(r["one"]["latency"]),
            f"{r['one']['latency']['count']} of {r['one']['latency']['count'] + r['one']['missing']}",
            ", ".join(str(x) for x in r["one"]["statuses"]),
        ),
        (
            "naive: one request per attempt, 16 in flight",
            f"{r['count']:,}",
            spread(r["naive"]["latency"]),
            f"{r['count'] - r['naive']['missing']:,} of {r['count']:,}",
            ", ".join(str(x) for x in r["naive"]["statuses"]),
        ),
    ]
    return section(
        f"### 6. Extending a whole exam: {r['count']:,} ongoing attempts, sockets on {r['webs']} daphne processes",
        header,
        rows,
        "Latency: arrival of each socket's `time_changed` at the client minus the moment the request was sent "
        "(for the naive way, the first of its requests). Every socket is connected before the extension; the "
        "request goes to the first process, the frames reach both through the channel layer.",
    )


def _connects(r: dict) -> list[str]:
    header = (
        "app",
        "connected / errors",
        "connects/s, all / second half",
        "first frame p50 / p99 / max (ms)",
        "daphne CPU",
        "daphne CPU per connect",
        "load generator CPU",
        "DB connections (most at once / distinct)",
    )
    rows = [
        (
            label,
            f"{d['connected']:,} / {d['errors']}",
            f"{d['rate'] or 0:,.0f} / {d['rate_second_half'] or 0:,.0f}",
            spread(d["latency"]),
            cpu(d, "daphne"),
            "-" if d.get("cpu_ms_per_connect") is None else f"{d['cpu_ms_per_connect']:.2f} ms",
            loadgen_cpu(d),
            f"{d['db_connections_most']} / {d['db_connections_distinct']}",
        )
        for label, d in r["designs"].items()
    ]
    return section(
        f"### 7. Socket connects: {r['sockets']:,} sockets on one daphne process, "
        f"{r['concurrency']} connecting at once",
        header,
        rows,
        "A connect counts when its first frame arrives (ours: the `tick`, after the token, the attempt and the "
        "timer were checked); every socket stays open, so the second half connects beside thousands of open "
        "(ticking) sockets. The bare ASGI app (`bench/bare_ws_asgi.py`) accepts and sends one frame: the floor of "
        "daphne and the load generator here. CPU per connect: daphne's CPU seconds over the phase per socket "
        "(the ticks of the sockets already open included); the machine is shared, and a starved process connects "
        "slower at about the same cost each. DB connections: the daphne process's TCP connections to MariaDB, "
        "sampled every 50 ms.",
    )


def _throughput(r: dict) -> list[str]:
    designs = r.get("designs") or {"ours": r}
    header = (
        "daphne",
        "`/login/` req/s (p50 / p99 ms)",
        "starts/s (p50 / p99 ms)",
        "ratio",
        "daphne CPU bare / starts",
    )
    rows = [
        (
            label,
            f"{d['bare']['requests_per_second']:,.0f} ({ms(d['bare']['latency']['p50'])} / "
            f"{ms(d['bare']['latency']['p99'])})",
            f"{d['starts']['requests_per_second']:,.0f} ({ms(d['starts']['latency']['p50'])} / "
            f"{ms(d['starts']['latency']['p99'])})",
            f"{d['ratio']:.2f}",
            f"{d['bare']['cpu'].get('daphne', 0):.0%} / {d['starts']['cpu'].get('daphne', 0):.0%}",
        )
        for label, d in designs.items()
    ]
    bursts = [
        (processes, b)
        for processes, key in (("1", "burst"), ("2", "burst_two"))
        if (b := designs.get("ours", {}).get(key) or (r.get("burst") if key == "burst" else None))
    ]
    lines = section(
        f"### 8. Start throughput: one production-mode daphne (DEBUG=0), {r['concurrency']} clients in a closed "
        f"loop for {r['seconds']:.0f} s each",
        header,
        rows,
        "Each design on a fresh process, one after the other in this run: first `/login/` (a template, no "
        "database), then `POST start` by students who have no attempt yet (each a new attempt). Ratio: starts/s "
        "over `/login/` req/s of the same process.",
    )
    if bursts:
        lines += section(
            "**Open-loop start burst**, ours: a new connection per start, evenly over the window",
            ("processes", "starts / seconds", "p50 / p99 / max (ms)", "errors"),
            [(n, f"{b['count']:,} / {b['seconds']:.0f}", spread(b["latency"]), str(b["errors"])) for n, b in bursts],
        )
    return lines


def _codes(closes: dict) -> str:
    codes = ", ".join(f"{code}: {n:,}" for code, n in sorted(closes["codes"].items()))
    return f"{closes['closed']:,} ({codes or 'none'}); {closes['reopened']:,} reopened"


def _recovery(r: dict) -> list[str]:
    lines = []
    if rr := r.get("redis_restart"):
        proctor = rr["proctor"] or {}
        first = proctor.get("first_frame") or {}
        errors = sum(e["count"] for e in rr["errors"].values())
        rows = [
            ("Redis down (SIGTERM until it answers a PING)", f"{rr['redis_down_seconds'] * 1000:.0f} ms"),
            ("first tick after Redis answers, p50 / p99 / max (ms)", spread(rr["ticking"]["after"])),
            (
                "sockets never ticking again (of them: open all along, silent)",
                f"{rr['ticking']['never']:,} of {rr['sockets']:,} ({rr['ticking'].get('never_open', '-')})",
            ),
            ("sockets closed (codes), reopened", _codes(rr["closes"])),
            (
                "daphne's 'socket ended (closed 1011 if open)' lines",
                ", ".join(f"{n}" for n in rr.get("layer_outage_lines", {}).values()) or "-",
            ),
            ("failed connect tries", f"{rr['failures']['count']:,} {rr['failures']['kinds'] or ''}"),
            (
                "proctor dashboard: first frame after Redis answers",
                f"{first.get('type', '-')} after {ms(first.get('after'))} ms; closes {proctor.get('closes')}",
            ),
            *(
                (
                    f"announcement posted {a['label']} ({a['sent_after'] * 1000:.0f} ms after Redis answered)",
                    f"{a['status']} in {a['response_ms']:.0f} ms; {a['received']:,} of {rr['sockets']:,} sockets, "
                    f"{spread(a['after_sent'])} ms after it was sent",
                )
                for a in rr["announcements"]
            ),
            (
                f"dashboard events: {rr['probes']['sent']} extensions, one every 0.25 s from Redis answering",
                f"{rr['probes']['arrived']} arrived, {spread(rr['probes']['latency'])} ms after sent; lost: sent at "
                f"{', '.join(f'{t:.2f}' for t in rr['probes']['lost_sent_after']) or 'none'} s",
            ),
            (
                "the dashboard's copy of the first announcement",
                f"{ms(proctor.get('announcement_after'))} ms after Redis answered "
                f"({ms(proctor.get('announcement_after_sent'))} ms after it was sent)",
            ),
            ("ERROR / Traceback lines later than 1 s after Redis answered", f"{errors}"),
        ]
        lines += section(
            f"### 8. Redis restarted empty under {rr['sockets']:,} sockets on {rr['webs']} daphne processes "
            f"(load average {rr['load_average']})",
            ("measure", "this run"),
            rows,
        )
    if dk := r.get("daphne_kill"):
        rows = [
            ("daphne down (SIGKILL until the new one accepts TCP)", f"{dk['down_seconds']:.2f} s"),
            ("new daphne's /healthz 200, after it accepts", f"{dk['healthz_after_accept'] * 1000:.0f} ms"),
            ("first tick after the new daphne accepts, p50 / p99 / max (ms)", spread(dk["ticking"]["after"])),
            ("sockets never ticking again", f"{dk['ticking']['never']:,} of {dk['sockets']:,}"),
            ("sockets closed (codes), reopened", _codes(dk["closes"])),
            ("failed connect tries while down", f"{dk['failures_down']['count']:,} {dk['failures_down']['kinds']}"),
            (
                "failed connect tries after it accepts",
                f"{dk['failures_after']['count']:,} {dk['failures_after']['kinds']}",
            ),
            ("ERROR / Traceback lines of the new daphne", f"{dk['errors']['count']}"),
        ]
        lines += section(
            f"### 9. daphne SIGKILLed under {dk['sockets']:,} sockets, a new one on its port "
            f"(load average {dk['load_average']})",
            ("measure", "this run"),
            rows,
        )
    if lines:
        how = (
            "as the page does (0.5-1 s, then doubling waits, full jitter)"
            if r["reconnect"] == "page"
            else ("at once (up to 50 ms of jitter)")
        )
        lines += [
            f"The sockets reconnect {how}; they live in separate load-generator processes. Private redis-server "
            "for timers, channel layer and cache (no persistence: it comes back empty).",
            "",
        ]
    return lines


def _statuses(abuser: dict) -> str:
    counts = abuser["statuses"]
    others = sum(n for status, n in counts.items() if status not in ("200", "429"))
    return (
        f"{counts.get('200', 0):,} answers 200, {counts.get('429', 0):,} answers 429"
        + (f", {others:,} other" if others else "")
        + f" in {abuser['seconds']:.0f} s"
    )


def _fairshare(r: dict) -> list[str]:
    header = (
        "daphne",
        "abuser on",
        "abuser's answers",
        "students alone p50 / p99 (ms)",
        "beside the abuser p50 / p99 (ms)",
        "p99 ratio",
        "students refused / errors",
        "daphne CPU beside",
    )
    rows = []
    for label, d in r["designs"].items():
        alone = d["alone"]
        if d.get("env"):
            label = f"{label} ({', '.join(f'`{k}={v}`' for k, v in d['env'].items())})"
        for route, shown in (("remaining", "`remaining`"), ("answer", "`submit-answer`")):
            beside = d[route]
            rows.append(
                (
                    label,
                    shown,
                    _statuses(beside["abuser"]),
                    f"{ms(alone['latency']['p50'])} / {ms(alone['latency']['p99'])}",
                    f"{ms(beside['latency']['p50'])} / {ms(beside['latency']['p99'])}",
                    "-" if beside["ratio"] is None else f"{beside['ratio']:.2f}x",
                    f"{beside['refused'] + alone['refused']} / {beside['errors'] + alone['errors']}",
                    cpu(beside, "daphne"),
                )
            )
    return section(
        f"### 10. Fair share: {r['victims']} students beside one token with {r['in_flight']} requests in flight, "
        "one production-mode daphne (DEBUG=0)",
        header,
        rows,
        f"Each student polls `remaining` every {r['poll_interval']:g} s and saves an answer every "
        f"{r['answer_interval']:g} s, for {r['seconds']:.0f} s alone, then {r['seconds']:.0f} s beside an abuser "
        "(its own process: one token, keep-alive connections each sending again as soon as it is answered) on "
        f"each route in turn; {r.get('rounds', 1)} rounds, every design's windows one after the other in each, the "
        "samples of a kind pooled over the rounds; the students' latencies are over all their requests (both kinds). "
        "Ratio: p99 beside over p99 alone of the same process in this run. Each design on a fresh process (all "
        "started at once, 2 s of the students first to warm it); budgets spent nowhere at each window's start.",
    )


# The phases' sections in order: the key of `run` each one renders.
SECTIONS = (
    ("ticks", _ticks),
    ("timeouts", _timeouts),
    ("starts", _starts),
    ("remaining", _remaining),
    ("side_by_side", _side_by_side),
    ("extend", _extend),
    ("connects", _connects),
    ("throughput", _throughput),
    ("recovery", _recovery),
    ("fairshare", _fairshare),
)


def _carried(run: dict) -> list[str]:
    carried = run.get("carried")
    if not carried:
        return []
    return [
        f"Carried over from the run of {carried['from']} (`{carried['command']}`), not repeated by this one: "
        f"{', '.join(carried['keys'])}.",
        "",
    ]


def tables(run: dict) -> str:
    machine = run["machine"]
    lines = [
        f"Run of {run['finished']} (UTC), {run['elapsed_minutes']:.1f} min. Machine: {machine['cores']} cores, "
        f"{machine['ram_gb']} GB RAM, {machine['cpu_model']}, Python {machine['python']}, Redis {machine['redis']}, "
        f"load average at start {machine['load_average_at_start']}. The load generator runs on the same machine, "
        "which is shared with other engineers' test suites: numbers are noisy, compare within this run.",
        "",
        f"Command: `{run['command']}`",
        "",
        *_carried(run),
        *targets(run),
    ]
    for key, render in SECTIONS:
        if run.get(key):
            lines += render(run[key])
    return "\n".join(lines)
