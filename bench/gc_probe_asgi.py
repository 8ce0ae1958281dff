"""The product's ASGI app, plus a log line for every garbage collection over 20 ms (bench diagnostics).

`daphne bench.gc_probe_asgi:application`: shows whether tick lateness comes from collector pauses.
"""

import gc
import logging
import time

from examsite.asgi import application  # noqa: F401  (re-exported for daphne)

logger = logging.getLogger("bench.gc")
SLOW_COLLECTION_SECONDS = 0.02
_started: list[float] = []


def _timing(phase: str, info: dict) -> None:
    if phase == "start":
        _started[:] = [time.perf_counter()]
    elif _started:
        took = time.perf_counter() - _started[0]
        if took >= SLOW_COLLECTION_SECONDS:
            logger.warning("gc generation %d took %.3f s (collected %d)", info["generation"], took, info["collected"])


gc.callbacks.append(_timing)

# A/B of collector thresholds without touching the product: BENCH_GC_THRESHOLD="100000,50,100".
_threshold = __import__("os").environ.get("BENCH_GC_THRESHOLD")
if _threshold:
    gc.set_threshold(*(int(part) for part in _threshold.split(",")))
    logger.warning("gc thresholds set to %s", gc.get_threshold())
