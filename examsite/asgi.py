"""ASGI entry point: HTTP to Django; WebSockets through the Origin check and JWT auth to routing.py."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examsite.settings")
django_asgi_app = get_asgi_application()  # before importing anything that touches models

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from attempts.apis.fair_share import RateLimit  # noqa: E402
from attempts.apis.holds import HoldDeadline  # noqa: E402
from examsite.arrival import StampArrival  # noqa: E402
from examsite.concurrency import ConcurrencyLimit  # noqa: E402
from realtime.auth import JWTAuthMiddleware  # noqa: E402
from routing import websocket_urlpatterns  # noqa: E402

# Collector thresholds of a server process (young, middle, old); see the end of this module.
GC_THRESHOLDS = (100_000, 50, 100)

slots = ConcurrencyLimit(django_asgi_app, limit=settings.HTTP_CONCURRENCY, per_user=settings.HTTP_SLOTS_PER_USER)
application = ProtocolTypeRouter(
    {
        # Refused past its user's budget before anything else (no body read, no hold, no slot);
        # then held and stamped before the queue: a request that waits for a thread keeps its
        # arrival time, and its attempt is not timed out under it meanwhile.
        "http": RateLimit(HoldDeadline(StampArrival(slots))),
        "websocket": AllowedHostsOriginValidator(JWTAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)

# Everything built at start-up (Django, DRF, the URL conf) lives as long as the process. Left
# in the collector's generations, each full collection walks it again, freeing nothing, and
# with thousands of sockets those ~1 s pauses made ticks late (measured: bench/README.md).
gc.collect()
gc.freeze()
# Sockets made after start-up are not frozen: with 6,000 of them the default thresholds
# (700, 10, 10) promoted each pass's short-lived objects into the old generation fast enough to
# trigger a full collection every ~3 s, 0.8 s each, freeing nothing; tick p99 1.27 s. A larger
# young generation lets those objects die young: no full collection in steady state, p99 0.43 s
# (bench/README.md). Each young collection then takes ~50 ms, every few seconds.
gc.set_threshold(*GC_THRESHOLDS)
