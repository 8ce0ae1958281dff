"""Whether the running task was asked to stop, for background loops that must end with their event loop."""

from __future__ import annotations

import asyncio


def cancel_requested() -> bool:
    """True once the loop asked this task to stop, even if a library it awaited swallowed the
    CancelledError (a Redis command cancelled mid-flight can surface as a timeout or a connection
    error: a layer-groups watch once outlived its loop's cancel by 120 s, on a machine at load 12)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
