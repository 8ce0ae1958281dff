"""The markdown tables and PNG plots of one run, written between the markers of bench/README.md."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.stats import ms, per_student_minute

BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"


def _cpu(result: dict, name: str) -> str:
    """CPU of the processes called `name` (daphne: every daphne process of the phase, summed)."""
    values = [v for k, v in result.get("cpu", {}).items() if k == name or k.startswith(f"{name}-")]
    return "-" if not values else f"{sum(values) * 100:.0f} %"


def _loadgen_cpu(result: dict) -> str:
    total = sum(v for k, v in result.get("cpu", {}).items() if k.startswith(("ticks-", "to-", "loadgen")))
    return f"{total * 100:.0f} %"


def _row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**missed**")


def targets(run: dict) -> list[str]:
    """Issue 6's targets against this run's numbers."""
    rows = []
    one_process = [r for r in run.get("ticks", []) if r.get("webs", 1) == 1]
    if one_process:
        largest = max(one_process, key=lambda r: r["sockets"])
        p99 = largest["lateness"]["p99"]
        rows.append(
            _row(
                f"{largest['sockets']:,} sockets on one daphne, p99 tick lateness <= 250 ms",
                f"p99 {ms(p99)} ms ({largest['ticks_received']:,} of {largest['ticks_expected']:,} ticks)",
                _verdict(p99 is not None and p99 <= 0.25),
            )
        )
    for r in run.get("timeouts", []):
        if r["spread"] and r["connected"]:
            p99 = r["frame"]["p99"]
            rows.append(
                _row(
                    "timeout frame p99 <= 1 s after the deadline, connected",
                    f"p99 {ms(p99)} ms ({r['count']:,} attempts)",
                    _verdict(p99 is not None and p99 <= 1 and not r["frame_missing"]),
                )
            )
        elif r["spread"]:
            p99 = r["db"]["p99"]
            rows.append(
                _row(
                    f"not connected, {r['filler']:,} other live timers: timed out p99 <= 1 s",
                    f"DB `timeout` p99 {ms(p99)} ms ({r['count']:,} attempts)",
                    _verdict(p99 is not None and p99 <= 1 and not r["db_missing"]),
                )
            )
        else:
            worst = max(r["db"]["max"] or 0, (r["frame"] or {}).get("max") or 0)
            complete = not r["db_missing"] and not r["frame_missing"]
            rows.append(
                _row(
                    f"{r['count']:,} attempts sharing a deadline: all `timeout` in DB and all frames within 3 s",
                    f"last DB row {ms(r['db']['max'])} ms, last frame {ms((r['frame'] or {}).get('max'))} ms"
                    f" (missing {r['db_missing']} / {r['frame_missing']})",
                    _verdict(complete and worst <= 3),
                )
            )
    if run.get("starts"):
        r = run["starts"]
        p99 = r["latency"]["p99"]
        rows.append(
            _row(
                f"{r['count']:,} starts in {r['seconds']:.0f} s, p99 <= 300 ms, no errors",
                f"p99 {ms(p99)} ms, {r['errors']} errors ({r.get('webs', 1)} daphne process)",
                _verdict(p99 is not None and p99 <= 0.3 and not r["errors"]),
            )
        )
    if not rows:
        return []
    return ["### Targets", "", _row("target", "this run", ""), _row("---", "---", "---"), *rows, ""]


def tables(run: dict) -> str:
    lines = []
    machine = run["machine"]
    lines += [
        f"Run of {run['finished']} (UTC), {run['elapsed_minutes']:.1f} min. Machine: {machine['cores']} cores, "
        f"{machine['ram_gb']} GB RAM, {machine['cpu_model']}, Python {machine['python']}, Redis {machine['redis']}, "
        f"load average at start {machine['load_average_at_start']}. The load generator runs on the same machine, "
        "which is shared with other engineers' test suites: numbers are noisy, compare within this run.",
        "",
        f"Command: `{run['command']}`",
        "",
        *targets(run),
    ]
    if run.get("ticks"):
        lines += [
            "### 1. Ticks on one daphne process",
            "",
            _row(
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
            ),
            _row(*["---"] * 11),
        ]
        for r in run["ticks"]:
            late = r["lateness"]
            lines.append(
                _row(
                    f"{r['sockets']:,}",
                    r.get("webs", 1),
                    f"{ms(late['p50'])} / {ms(late['p99'])} / {ms(late['max'])}",
                    f"{r['ticks_received']:,} / {r['ticks_expected']:,}",
                    _cpu(r, "daphne"),
                    _cpu(r, "worker"),
                    _loadgen_cpu(r),
                    f"{r['rss_per_socket_kb']:.1f} KB",
                    f"{r['rss_daphne_mb']:.0f} MB",
                    f"{r['redis_commands_per_second']:,.0f}",
                    f"{r['connect_seconds']:.0f} s ({r['connect_errors']} errors)",
                )
            )
        lines += [
            "",
            "Lateness: arrival at the client minus the whole second the tick stands for "
            "(`deadline - remaining_seconds`, deadlines on whole seconds); it includes the client's own lag. "
            "CPU: share of one core over the window. Redis commands/s: the shared server's rate minus its rate "
            "just before (other tests use it too).",
            "",
            "![tick lateness](results/tick_lateness.png)",
            "",
        ]
    if run.get("timeouts"):
        lines += [
            "### 2. Timeout latency",
            "",
            _row(
                "case",
                "attempts",
                "deadline → DB `timeout` p50 / p99 / max (ms)",
                "deadline → `timeout` frame p50 / p99 / max (ms)",
                "missing (DB / frame)",
            ),
            _row(*["---"] * 5),
        ]
        for r in run["timeouts"]:
            frame = r["frame"]
            lines.append(
                _row(
                    r["label"],
                    f"{r['count']:,}",
                    f"{ms(r['db']['p50'])} / {ms(r['db']['p99'])} / {ms(r['db']['max'])}",
                    f"{ms(frame['p50'])} / {ms(frame['p99'])} / {ms(frame['max'])}" if frame else "(no socket)",
                    f"{r['db_missing']} / {r['frame_missing'] if frame else '-'}",
                )
            )
        lines += [
            "",
            "DB `timeout` is seen by polling the rows every 50 ms (so up to ~50 ms late, plus the query).",
            "",
            "![timeout latency](results/timeout_latency.png)",
            "",
        ]
    if run.get("starts"):
        r = run["starts"]
        lines += [
            "### 3. Start burst",
            "",
            _row(
                "starts",
                "over",
                "daphne processes",
                "p50 (ms)",
                "p99 (ms)",
                "max (ms)",
                "errors",
                "attempts created",
                "daphne CPU",
            ),
            _row(*["---"] * 9),
            _row(
                f"{r['count']:,}",
                f"{r['seconds']:.0f} s",
                r.get("webs", 1),
                ms(r["latency"]["p50"]),
                ms(r["latency"]["p99"]),
                ms(r["latency"]["max"]),
                r["errors"],
                f"{r['attempts_created']:,}",
                _cpu(r, "daphne"),
            ),
            "",
            "Distinct users, JWTs minted directly; each start on a new connection, sent on an even schedule "
            "whatever the earlier ones are doing (open loop).",
            "",
            "![start latency](results/start_latency.png)",
            "",
        ]
    if run.get("remaining"):
        r = run["remaining"]
        lines += [
            "### 4. REST `remaining`",
            "",
            _row("clients", "daphne processes", "requests/s", "p50 (ms)", "p99 (ms)", "errors", "daphne CPU"),
            _row(*["---"] * 7),
            _row(
                r["concurrency"],
                r.get("webs", 1),
                f"{r['requests_per_second']:.0f}",
                ms(r["latency"]["p50"]),
                ms(r["latency"]["p99"]),
                r["errors"],
                _cpu(r, "daphne"),
            ),
            "",
            "Closed loop: each client sends its next request when the last one is answered (keep-alive).",
            "",
        ]
    if run.get("side_by_side"):
        s = run["side_by_side"]
        ours, poll, naive = s["ours"], s["polling"], s["naive"]
        base = per_student_minute(ours)

        def ratio(result):
            value = per_student_minute(result)
            return "-" if value is None or not base else f"{value / base:.1f}x"

        def cell(result):
            value = per_student_minute(result)
            return "-" if value is None else f"{value * 1000:.2f}"

        naive_late = naive.get("lateness", {})
        lines += [
            f"### 5. Side by side, {ours['sockets']:,} students each",
            "",
            _row(
                "design",
                "daphne CPU",
                "CPU ms per student-minute",
                "vs ours",
                "Redis commands/s",
                "what a student sees",
            ),
            _row(*["---"] * 6),
            _row(
                "ours: sockets, one ticker per process",
                _cpu(ours, "daphne"),
                cell(ours),
                "1.0x",
                f"{ours['redis_commands_per_second']:,.0f}",
                f"a tick every second, p99 {ms(ours['lateness']['p99'])} ms late",
            ),
            _row(
                "naive: sockets, each reads its own TTL every second",
                _cpu(naive, "daphne"),
                cell(naive),
                ratio(naive),
                f"{naive['redis_commands_per_second']:,.0f}",
                f"{naive['ticks_received']:,} ticks of {naive['ticks_expected']:,} owed "
                f"(p99 {ms(naive_late.get('p99'))} ms from the second they show)",
            ),
            _row(
                "REST polling every 10 s (the original client)",
                _cpu(poll, "daphne"),
                cell(poll),
                ratio(poll),
                f"{poll['redis_commands_per_second']:,.0f}",
                f"a fresh number every 10 s; {poll['requests']:,} requests, p99 {ms(poll['latency']['p99'])} ms, "
                f"{poll['errors']} errors",
            ),
            "",
            "The naive consumer lives in `bench/naive_consumer.py` and is served by `bench/naive_asgi.py` only.",
            "",
        ]
    return "\n".join(lines)


def plots(run: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    if run.get("ticks"):
        fig, ax = plt.subplots(figsize=(7, 4))
        for r in run["ticks"]:
            samples = sorted(x * 1000 for x in r["lateness_samples"])
            if samples:
                ax.plot(
                    samples, [i / len(samples) * 100 for i in range(len(samples))], label=f"{r['sockets']:,} sockets"
                )
        ax.axvline(250, color="red", linestyle="--", linewidth=1, label="target p99 250 ms")
        ax.set_xlabel("tick lateness (ms)")
        ax.set_ylabel("percentile")
        ax.set_title("Tick lateness on one daphne process (CDF)")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out_dir / "tick_lateness.png", dpi=100)
        plt.close(fig)
    if run.get("timeouts"):
        fig, ax = plt.subplots(figsize=(8, 4))
        data, labels = [], []
        for r in run["timeouts"]:
            # Short labels: "(b) 100k", "(c) 10k" - the table has the long ones.
            short = r["label"][:3] + (f" {r['filler'] // 1000}k" if r["filler"] else "")
            short += f" n={r['count']:,}" if not r["spread"] else ""
            data.append([x * 1000 for x in r["db_samples"]] or [0])
            labels.append(f"{short}\nDB")
            if r["connected"]:
                data.append([x * 1000 for x in r["frame_samples"]] or [0])
                labels.append(f"{short}\nframe")
        ax.boxplot(data, whis=(1, 99), showfliers=False)
        ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=7)
        ax.axhline(1000, color="red", linestyle="--", linewidth=1, label="1 s")
        ax.set_ylabel("ms after the deadline (whiskers p1-p99)")
        ax.set_title("Deadline to DB timeout and to the client's frame")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "timeout_latency.png", dpi=100)
        plt.close(fig)
    if run.get("starts"):
        fig, ax = plt.subplots(figsize=(7, 4))
        samples = run["starts"]["latency_samples"]
        ax.scatter([s[0] for s in samples], [s[1] * 1000 for s in samples], s=2)
        ax.axhline(300, color="red", linestyle="--", linewidth=1, label="target p99 300 ms")
        ax.set_xlabel("seconds into the burst")
        ax.set_ylabel("start latency (ms)")
        ax.set_title(f"{len(samples):,} starts")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "start_latency.png", dpi=100)
        plt.close(fig)


def _replace_between_markers(readme: Path, body: str) -> None:
    text = readme.read_text() if readme.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    readme.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")


def write(run: dict, readme: Path, out_dir: Path) -> None:
    """Plots into `out_dir`, the tables between the markers of `readme`, the raw summary as JSON."""
    plots(run, out_dir)
    slim = json.loads(json.dumps(run))
    for group in ("ticks", "timeouts"):
        for r in slim.get(group, []):
            for key in ("lateness_samples", "db_samples", "frame_samples"):
                r.pop(key, None)
    if slim.get("starts"):
        slim["starts"].pop("latency_samples", None)
    if slim.get("side_by_side"):
        for r in slim["side_by_side"].values():
            r.pop("lateness_samples", None)
    (out_dir / "summary.json").write_text(json.dumps(slim, indent=1))
    _replace_between_markers(readme, tables(run))


if __name__ == "__main__":
    # `python -m bench.report`: the tables again from results/summary.json (the plots stay as they are).
    here = Path(__file__).resolve().parent
    _replace_between_markers(here / "README.md", tables(json.loads((here / "results" / "summary.json").read_text())))
