"""GET /healthz: is every part this server needs answering?"""

import redis
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from attempts import timer


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # any driver error means "down", whatever its class
        return f"error: {exc.__class__.__name__}"


# A 503 says when to look again (RFC 9110 Retry-After): a part that failed is usually back
# within seconds (a Redis restart, a database failover), and a client or balancer that honours
# it (the exam page does, for every 503) does not ask again in a tight loop meanwhile.
RETRY_AFTER_SECONDS = 5

# Managed Redis often refuses CONFIG GET. The expiry worker then proves the events with a
# probe key before it starts; a health check cannot wait for one, so it reports "unverified"
# rather than failing every node of a deployment that works.
UNVERIFIED = "unverified (CONFIG GET refused)"


def _redis() -> tuple[str, str]:
    # A failure names the server (host:port; under Sentinel the primary of the moment, or what the
    # sentinels said): with several Redis servers, "off" alone does not say which one to fix.
    try:
        # Each timer server by name (every primary of a cluster): the operator learns which one is wrong.
        nodes = timer.nodes()
        down = [f"{name}: {exc}" for name, exc in _unanswered(nodes)]
        if down:
            return f"error at {'; '.join(down)}", "unknown"
        off = timer.nodes_without_notifications()
        return "ok", "ok" if not off else f"off at {', '.join(off)}"
    except redis.ResponseError:
        return "ok", UNVERIFIED
    except (timer.TimerUnavailable, *timer.REDIS_ERRORS) as exc:
        return f"error at {timer.node()}: {exc}", "unknown"


def _unanswered(nodes) -> list[tuple[str, Exception]]:
    failed = []
    for name, node in nodes:
        try:
            node.ping()
        except timer.REDIS_ERRORS as exc:
            failed.append((name, exc))
    return failed


@require_GET
def healthz(request):
    """200 when the database and Redis answer and expired-key events are on; 503 naming what fails, with Retry-After."""
    redis_state, notifications = _redis()
    checks = {
        "database": _database(),
        "redis": redis_state,
        "keyspace_notifications": notifications,
    }
    failing = [name for name, value in checks.items() if value not in ("ok", UNVERIFIED)]
    healthy = not failing
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    if failing:
        body["failing"] = failing
    if healthy:
        return JsonResponse(body)
    return JsonResponse(body, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
