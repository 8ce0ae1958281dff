"""What the pages' scripts must know of the protocol, rendered from the server's own constants.

The exam page and the proctor dashboard read this (`{{ protocol|json_script:"protocol" }}`)
instead of keeping copies of close codes, frame texts and error codes that could drift.
"""

from attempts import errors, texts
from realtime import protocol as ws


def protocol(request) -> dict:
    """`protocol`: close codes by name, the end frames' texts, and the REST error codes."""
    return {
        "protocol": {
            "close": ws.close_codes(),
            "messages": {
                "timeout": texts.TIMEOUT_MESSAGE,
                "completed": texts.COMPLETED_MESSAGE,
                "ended_by_proctor": texts.ENDED_BY_PROCTOR_MESSAGE,  # a `completed` frame's, when a proctor ended it
            },
            "errors": errors.all_codes(),
        }
    }
