"""`make bench` / `python -m bench`: start the stack, run the phases, write the report.

Small sizes by default (a few minutes); the full sizes are

    make bench ARGS="--sockets 1000,5000,10000 --fillers 10000,100000 --shared 10000 --starts 2000 --students 10000"
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import django

from bench import machine, stack

BENCH_DIR = Path(__file__).resolve().parent
# The tick server of `--ticks-bare` (started with `python -m`, not by daphne).
BARE_TICK_SERVER = "-m bench.bare_tick_server"
PHASES = (
    "ticks",
    "timeouts",
    "starts",
    "remaining",
    "side",
    "extend",
    "throughput",
    "connects",
    "recovery",
    "fairshare",
)
# What each phase writes into the run, for carrying over the ones a partial run (--phases) did not repeat.
RUN_KEYS = {
    "ticks": "ticks",
    "timeouts": "timeouts",
    "starts": "starts",
    "remaining": "remaining",
    "side": "side_by_side",
    "extend": "extend",
    "connects": "connects",
    "throughput": "throughput",
    "recovery": "recovery",
    "fairshare": "fairshare",
}


def _design(text: str) -> tuple[str, dict[str, str]]:
    """`"label:NAME=value,NAME=value"` (--fairshare-design) -> (label, environment on top of ours); a value may hold
    commas (`BENCH_GC_THRESHOLD=20000,50,100`): a new assignment starts only at `,NAME=`."""
    label, _, assignments = text.partition(":")
    parts = [part for part in re.split(r",(?=[A-Z_][A-Z0-9_]*=)", assignments) if part.strip()]
    if not label.strip() or not all("=" in part for part in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: expected LABEL:NAME=value,NAME=value")
    return label.strip(), dict(part.split("=", 1) for part in parts)


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=_sizes, default=[500, 1000], help="tick phase sizes (comma list)")
    parser.add_argument("--tick-seconds", type=float, default=15, help="measured window per tick size")
    parser.add_argument(
        "--tick-webs", type=_sizes, default=[], help="also run the largest tick size spread over these process counts"
    )
    parser.add_argument(
        "--ticks-before",
        type=Path,
        action="append",
        default=[],
        help="another checkout (an earlier commit) whose daphne ticks the same sockets after ours, size by size "
        "(repeat for several)",
    )
    parser.add_argument(
        "--ticks-bare",
        action="store_true",
        help="also tick the same sockets from a server that costs next to nothing (the load generator's own lag)",
    )
    parser.add_argument("--timeouts", type=int, default=100, help="attempts per spread-out timeout case")
    parser.add_argument("--spread", type=float, default=10, help="seconds the deadlines of those cases spread over")
    parser.add_argument("--fillers", type=_sizes, default=[10000], help="other live timers for the unconnected case")
    parser.add_argument("--shared", type=int, default=1000, help="connected attempts sharing one deadline")
    parser.add_argument(
        "--connect-seconds-per-socket",
        type=float,
        default=0.009,
        help="lead before a connected timeout case's deadlines, per socket (more on a busy machine)",
    )
    parser.add_argument(
        "--timeout-cases",
        default="a,b,c",
        help="which timeout cases to run (comma list of a, b, c; c: shared deadline)",
    )
    parser.add_argument("--starts", type=int, default=500, help="starts in the burst")
    parser.add_argument("--start-seconds", type=float, default=10)
    parser.add_argument("--webs", type=int, default=1, help="daphne processes behind the REST phases (round robin)")
    parser.add_argument("--remaining-clients", type=int, default=50)
    parser.add_argument("--remaining-seconds", type=float, default=10)
    parser.add_argument("--students", type=int, default=500, help="students of the side-by-side comparison")
    parser.add_argument("--side-seconds", type=float, default=30, help="window of each side-by-side design")
    parser.add_argument("--extend", type=int, default=1000, help="ongoing attempts (and sockets) of the extended exam")
    parser.add_argument("--extend-webs", type=int, default=2, help="daphne processes holding those sockets")
    parser.add_argument("--connects", type=int, default=2000, help="sockets of the connects phase (issue 12: 5000)")
    parser.add_argument("--connect-concurrency", type=int, default=100, help="connects in flight at once")
    parser.add_argument(
        "--connects-before", type=Path, default=None, help="another checkout (an earlier commit) to measure beside"
    )
    parser.add_argument(
        "--throughput-clients", type=int, default=50, help="closed-loop clients of the throughput phase"
    )
    parser.add_argument("--throughput-seconds", type=float, default=10, help="window of each closed loop there")
    parser.add_argument(
        "--recovery-sockets", type=int, default=2000, help="sockets of each recovery case (issue 12: 2000)"
    )
    parser.add_argument(
        "--recovery-cases",
        default="redis-restart,daphne-kill",
        help="which recovery cases to run (comma list of redis-restart, daphne-kill)",
    )
    parser.add_argument(
        "--recovery-reconnect",
        choices=("page", "immediate"),
        default="page",
        help="how the recovery phase's sockets reconnect: as the page (0.5-1 s, then doubling, full jitter) or "
        "at once (up to 50 ms of jitter)",
    )
    parser.add_argument(
        "--fairshare-seconds", type=float, default=10, help="window of the students alone and beside each flood"
    )
    parser.add_argument("--fairshare-rounds", type=int, default=3, help="rounds of those windows, samples pooled")
    parser.add_argument(
        "--fairshare-design",
        type=_design,
        action="append",
        default=[],
        help="ours with other settings beside ours in the same run: 'LABEL:NAME=value,NAME=value' (repeatable)",
    )
    parser.add_argument(
        "--fairshare-before",
        type=Path,
        default=None,
        help="another checkout (an earlier commit) whose daphne meets the same abuser after ours, in the same run",
    )
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma list of {', '.join(PHASES)}")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", stack.DEFAULT_DATABASE_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", stack.DEFAULT_REDIS_URL))
    parser.add_argument("--profile", action="store_true", help="py-spy folded stacks of every server process")
    parser.add_argument(
        "--throughput-before",
        type=Path,
        default=None,
        help="another checkout (an earlier commit) whose daphne runs the same closed loops in the same run",
    )
    parser.add_argument(
        "--profile-windows",
        action="store_true",
        help="py-spy (--gil) of daphne during each closed-loop window of the throughput phase and each abuser "
        "window of the fairshare phase, one file each",
    )
    parser.add_argument("--gc-log", action="store_true", help="daphne logs every garbage collection over 20 ms")
    parser.add_argument("--readme", type=Path, default=BENCH_DIR / "README.md", help="where the tables go")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results", help="where plots and JSON go")
    return parser.parse_args(argv)


def _carry_over(run: dict, phases: set[str], summary_path) -> None:
    """Keep, from the last run's summary, the tables of the phases this run did not repeat, saying so."""
    skipped = [RUN_KEYS[p] for p in PHASES if p not in phases]
    if not skipped or not summary_path.exists():
        return
    import json

    earlier = json.loads(summary_path.read_text())
    carried = [key for key in skipped if earlier.get(key)]
    for key in carried:
        run[key] = earlier[key]
    if carried:
        run["carried"] = {
            "keys": carried,
            "from": earlier.get("carried", {}).get("from") or earlier.get("finished"),
            "command": earlier.get("carried", {}).get("command") or earlier.get("command"),
        }


def log(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    phases = set(args.phases.split(","))
    started = time.time()
    limit = stack.raise_open_files_limit()
    env = stack.bench_env(args.database_url, args.redis_url)
    os.environ.update(env)
    work_dir = args.results / "raw"
    work_dir.mkdir(parents=True, exist_ok=True)
    log(f"open files limit {limit}; database {args.database_url}; Redis {args.redis_url}")
    stack.create_database(args.database_url)
    log("migrating")
    stack.migrate(env, work_dir)
    django.setup()

    from bench import phases as ph
    from bench import report, seed
    from bench.monitor import Monitor

    redis_base = args.redis_url.rpartition("/")[0]
    our_keys = [
        (args.redis_url, stack.TIMER_KEY_PREFIX),
        (f"{redis_base}/2", stack.CHANNEL_LAYER_PREFIX),
        (f"{redis_base}/3", f"{stack.CACHE_KEY_PREFIX}:"),
    ]
    seed.cleanup_redis(our_keys)
    from attempts.models import Exam

    Exam.objects.filter(title__startswith="bench ").delete()  # left by an interrupted run

    description = machine.describe()
    monitor = Monitor(args.redis_url)
    monitor.start()
    bench_stack = stack.Stack(env, work_dir, profile=args.profile)
    bench = ph.Bench(env=env, stack=bench_stack, monitor=monitor, work_dir=work_dir, log=log)
    if args.gc_log:
        bench.product_app = "bench.gc_probe_asgi:application"
    run: dict = {"machine": description, "command": "make bench ARGS=" + shlex.quote(shlex.join(argv))}
    if not argv:
        run["command"] = "make bench"
    try:
        bench.worker = bench_stack.start_worker()
        monitor.watch("worker", bench.worker.process.pid)
        log("expiry worker ready")
        if "ticks" in phases:
            run["ticks"] = []
            for n in args.sockets:  # ours, then (if asked) the earlier checkout, back to back at each size
                run["ticks"].append(ph.ticks(bench, n, args.tick_seconds))
                for checkout in args.ticks_before:
                    run["ticks"].append(ph.ticks_before(bench, n, args.tick_seconds, checkout))
                if args.ticks_bare:
                    bare = ph.ticks(bench, n, args.tick_seconds, application=BARE_TICK_SERVER, label="generator alone")
                    run["ticks"].append(bare)
            run["ticks"] += [ph.ticks(bench, max(args.sockets), args.tick_seconds, webs=w) for w in args.tick_webs]
        if "timeouts" in phases:
            run["timeouts"] = []
            cases = set(args.timeout_cases.split(","))
            if "a" in cases:
                web = bench.fresh_web("web-timeouts")
                run["timeouts"].append(
                    ph.timeouts(
                        bench,
                        web,
                        args.timeouts,
                        spread=args.spread,
                        label="(a) connected",
                        connect_seconds_per_socket=args.connect_seconds_per_socket,
                    )
                )
                bench.drop_web(web)
            for filler in args.fillers if "b" in cases else []:
                run["timeouts"].append(
                    ph.timeouts(
                        bench,
                        None,
                        args.timeouts,
                        spread=args.spread,
                        filler=filler,
                        label=f"(b) not connected, {filler:,} other timers",
                    )
                )
            if "c" in cases:
                web = bench.fresh_web("web-shared")
                run["timeouts"].append(
                    ph.timeouts(
                        bench,
                        web,
                        args.shared,
                        spread=0,
                        label="(c) connected, one shared deadline",
                        connect_seconds_per_socket=args.connect_seconds_per_socket,
                    )
                )
                bench.drop_web(web)
        if "starts" in phases or "remaining" in phases:
            webs = bench.fresh_webs("web-rest", args.webs)
            if "starts" in phases:
                run["starts"] = ph.start_burst(bench, webs, args.starts, args.start_seconds)
            if "remaining" in phases:
                run["remaining"] = ph.remaining(bench, webs, args.remaining_clients, args.remaining_seconds)
            for web in webs:
                bench.drop_web(web)
        if "side" in phases:
            run["side_by_side"] = {
                "ours": ph.ticks(bench, args.students, args.side_seconds, label="ours"),
                "naive": ph.ticks(
                    bench, args.students, args.side_seconds, application="bench.naive_asgi:application", label="naive"
                ),
                "polling": ph.polling(bench, args.students, args.side_seconds),
            }
        if "extend" in phases:
            run["extend"] = ph.extensions(bench, args.extend, webs=args.extend_webs)
        if "connects" in phases:
            run["connects"] = ph.connects(
                bench, args.connects, concurrency=args.connect_concurrency, before=args.connects_before
            )
        if "throughput" in phases:
            run["throughput"] = ph.throughput(
                bench,
                concurrency=args.throughput_clients,
                seconds=args.throughput_seconds,
                burst=args.starts,
                burst_seconds=args.start_seconds,
                profile=args.profile_windows,
                before=args.throughput_before,
            )
            log(f"throughput: {json.dumps(run['throughput'])}")
        if "recovery" in phases:
            run["recovery"] = ph.recovery(
                bench,
                args.recovery_sockets,
                cases=set(args.recovery_cases.split(",")),
                reconnect=args.recovery_reconnect,
            )
            log(f"recovery: {json.dumps(run['recovery'])}")
        if "fairshare" in phases:
            run["fairshare"] = ph.fairshare(
                bench,
                seconds=args.fairshare_seconds,
                rounds=args.fairshare_rounds,
                designs=args.fairshare_design,
                profile=args.profile_windows,
                before=args.fairshare_before,
            )
            log(f"fairshare: {json.dumps(run['fairshare'])}")
    except Exception:
        traceback.print_exc()
        log("a phase failed; the report holds the phases that finished")
        run["failed"] = traceback.format_exc(limit=3)
    finally:
        bench_stack.stop_all()
        monitor.stop()
        Exam.objects.filter(title__startswith="bench ").delete()
        deleted = seed.cleanup_redis(our_keys)
        log(f"stack stopped; {deleted} Redis keys of ours deleted")
    run["finished"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    run["elapsed_minutes"] = (time.time() - started) / 60
    _carry_over(run, phases, args.results / "summary.json")
    report.write(run, args.readme, args.results)
    log(f"report written to {args.readme} and {args.results}")
    return 1 if "failed" in run else 0
