"""Every state change of an attempt: start, answer, submit, expire (one module each).

Transitions out of `ongoing` are conditional UPDATEs (`WHERE status='ongoing'`), so of two
racing callers (submit and expiry, two expiry workers) exactly one wins. Events are
announced only after the transaction commits (`attempts.events`).
"""

from attempts.services.answer import AnswerResult, answer_save
from attempts.services.expire import attempt_expire, attempts_expire_many
from attempts.services.start import StartResult, attempt_start
from attempts.services.submit import SubmitResult, attempt_submit

__all__ = [
    "AnswerResult",
    "StartResult",
    "SubmitResult",
    "answer_save",
    "attempt_expire",
    "attempt_start",
    "attempt_submit",
    "attempts_expire_many",
]
