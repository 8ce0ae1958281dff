"""Channel-layer group names: the one module that spells them.

`attempt.<id>` holds every socket of one attempt (any process), `proctor.exam.<id>` every
proctor dashboard of one exam.
"""


def attempt_group(attempt_id: int) -> str:
    """The group of every socket of one attempt."""
    return f"attempt.{attempt_id}"


def proctor_group(exam_id: int) -> str:
    """The group of every proctor dashboard of one exam."""
    return f"proctor.exam.{exam_id}"
