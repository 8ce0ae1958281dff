"""The PNG plots of one run: tick lateness (CDF), timeout latency (box plot), start latency (scatter)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _save(fig, ax, path: Path) -> None:
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plots(run: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    if run.get("ticks"):
        fig, ax = plt.subplots(figsize=(7, 4))
        for r in run["ticks"]:
            samples = sorted(x * 1000 for x in r["lateness_samples"])
            if samples:
                label = f"{r['sockets']:,} sockets, {r.get('label', 'ours')}"
                ax.plot(samples, [i / len(samples) * 100 for i in range(len(samples))], label=label)
        ax.axvline(250, color="red", linestyle="--", linewidth=1, label="target p99 250 ms")
        ax.set_xlabel("tick lateness (ms)")
        ax.set_ylabel("percentile")
        ax.set_title("Tick lateness on one daphne process (CDF)")
        ax.grid(alpha=0.3)
        _save(fig, ax, out_dir / "tick_lateness.png")
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
        _save(fig, ax, out_dir / "timeout_latency.png")
    if run.get("starts"):
        fig, ax = plt.subplots(figsize=(7, 4))
        samples = run["starts"]["latency_samples"]
        ax.scatter([s[0] for s in samples], [s[1] * 1000 for s in samples], s=2)
        ax.axhline(300, color="red", linestyle="--", linewidth=1, label="target p99 300 ms")
        ax.set_xlabel("seconds into the burst")
        ax.set_ylabel("start latency (ms)")
        ax.set_title(f"{len(samples):,} starts")
        _save(fig, ax, out_dir / "start_latency.png")
