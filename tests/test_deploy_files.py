"""The production files of deploy/ stay in step with the code: every setting in the environment example."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The names the settings read: env("X"), env.int("X"), _secret("X", ...).
READ = re.compile(r"""(?:\benv(?:\.\w+)?|_secret)\(\s*["']([A-Z][A-Z0-9_]*)["']""")
# Scale-out names of the contract (docs/deploy.md), whichever module reads them.
SCALE_OUT = {
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_PASSWORD",
    "REDIS_DB",
    "REDIS_SENTINELS",
    "REDIS_SENTINEL_MASTER",
    "REDIS_SENTINEL_PASSWORD",
    "REDIS_CLUSTER_NODES",
    "CHANNEL_LAYER_HOSTS",
}


def listed_names() -> set[str]:
    """Variables the example sets or shows commented out (`NAME=` or `#NAME=` at a line's start)."""
    text = (ROOT / "deploy" / "examtimer.env.example").read_text()
    return set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def test_every_setting_the_server_reads_is_in_the_environment_example():
    read = set()
    for path in (ROOT / "examsite").glob("*.py"):
        read |= set(READ.findall(path.read_text()))
    assert "SECRET_KEY" in read and "NUM_PROXIES" in read  # the pattern still finds the settings
    assert sorted((read | SCALE_OUT) - listed_names()) == []


def test_the_example_runs_behind_one_proxy_in_production():
    text = (ROOT / "deploy" / "examtimer.env.example").read_text()
    assert re.search(r"^DEBUG=False$", text, flags=re.MULTILINE)
    assert re.search(r"^NUM_PROXIES=1$", text, flags=re.MULTILINE)
