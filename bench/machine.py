"""What the numbers were measured on."""

from __future__ import annotations

import os
import platform
import subprocess

import psutil


def describe() -> dict:
    cpu_model = platform.processor() or "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        redis_version = ""
    return {
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "redis": redis_version.split()[2].removeprefix("v=") if redis_version.count(" ") >= 2 else "unknown",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
