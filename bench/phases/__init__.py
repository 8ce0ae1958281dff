"""The measurements, one function each; every one leaves the database and Redis as it found them.

`harness` holds what they share (daphne processes, seeded attempts, load generators); `sockets` the
tick phase, `timeouts` the timeout phases, `rest` the REST phases, `extend` the proctors' extensions, `connects`
the socket connects, `recovery` a Redis restart and a daphne SIGKILL under sockets, `fairshare` five
students beside one flooding token.
"""

from bench.phases.connects import connects
from bench.phases.extend import extensions
from bench.phases.fairshare import fairshare
from bench.phases.harness import Bench
from bench.phases.recovery import recovery
from bench.phases.rest import polling, remaining, start_burst
from bench.phases.sockets import ticks, ticks_before
from bench.phases.throughput import throughput
from bench.phases.timeouts import timeouts

__all__ = [
    "Bench",
    "connects",
    "extensions",
    "fairshare",
    "polling",
    "recovery",
    "remaining",
    "start_burst",
    "throughput",
    "ticks",
    "ticks_before",
    "timeouts",
]
