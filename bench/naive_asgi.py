"""The bench-only ASGI app of the naive consumer: `daphne bench.naive_asgi:application`.

HTTP (for /healthz) is the product's Django app; WebSockets go through the same Origin check
and JWT middleware, to the naive consumer only.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examsite.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from bench.naive_consumer import NaiveAttemptConsumer  # noqa: E402
from realtime.auth import JWTAuthMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            JWTAuthMiddleware(URLRouter([path("ws/attempts/<int:attempt_id>/", NaiveAttemptConsumer.as_asgi())]))
        ),
    }
)
