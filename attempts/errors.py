"""Domain errors: each with the HTTP status, the text and the stable `code` of the contract (docs/api.md).

Clients switch on `code`, never on the text: texts are for people and may be reworded,
codes are part of the protocol.
"""

from datetime import UTC


class DomainError(Exception):
    status_code = 400
    message = ""
    code = "error"

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message

    def extra(self) -> dict:
        """Keys the error body carries beside `error` and `code` (JSON-ready)."""
        return {}


class NotFound(DomainError):
    status_code = 404
    message = "Not found."
    code = "not_found"  # not in the 404 body, which stays exactly {"detail": "Not found."}


class NotYourAttempt(DomainError):
    status_code = 403
    message = "This exam attempt does not belong to you."
    code = "not_your_attempt"


class ExamNotPublished(DomainError):
    message = "This exam is not published yet."
    code = "exam_not_published"


class PreviousAttemptTimedOut(DomainError):
    message = "Your previous attempt has timed out. Please start a new attempt."
    code = "previous_attempt_timed_out"


class TimerStartFailed(DomainError):
    status_code = 500
    message = "Failed to start exam timer. Please try again."
    code = "timer_unavailable"


class DatabaseUnavailable(DomainError):
    """The database did not answer (down, restarting, out of connections): nothing was done; ask again later."""

    status_code = 503
    message = "The exam server cannot reach its database right now. Nothing was changed; please try again."
    code = "database_unavailable"
    retry_after_seconds = 3  # a restart is back in seconds; the page waits this (Retry-After) before asking again


class AttemptAlreadySubmitted(DomainError):
    message = "Exam already submitted. Cannot modify answers."
    code = "already_submitted"


class QuestionNotInExam(DomainError):
    message = "This question does not belong to this exam."
    code = "question_not_in_exam"


class TimeExpired(DomainError):
    status_code = 410
    message = "Exam time has expired. Cannot submit answers."
    code = "time_expired"


class NotOpenYet(DomainError):
    message = "This exam is not open yet."
    code = "not_open_yet"

    def __init__(self, *, opens_at):
        super().__init__()
        self.opens_at = opens_at

    def extra(self) -> dict:
        return {"opens_at": self.opens_at.astimezone(UTC).isoformat().replace("+00:00", "Z")}


class ExamClosed(DomainError):
    message = "This exam is closed."
    code = "closed"


class NoAttemptsLeft(DomainError):
    message = "You have no attempts left for this exam."
    code = "no_attempts_left"

    def __init__(self, *, max_attempts: int):
        super().__init__()
        self.max_attempts = max_attempts  # this student's: the exam's own plus their extra attempts

    def extra(self) -> dict:
        return {"max_attempts": self.max_attempts}


class StaffOnly(DomainError):
    status_code = 403
    message = "Staff only."
    code = "staff_only"


class AttemptEnded(DomainError):
    status_code = 409
    message = "This attempt has already ended."
    code = "attempt_ended"


class NothingToCredit(DomainError):
    status_code = 409
    message = "There is no offline time to credit."
    code = "nothing_to_credit"


class AttemptRunning(DomainError):
    status_code = 409
    message = "This attempt is still running."
    code = "attempt_running"


class OtherAttemptRunning(DomainError):
    status_code = 409
    message = "The student has another attempt in progress."
    code = "other_attempt_running"


class AnswerSuperseded(DomainError):
    """Another tab saved a choice for this question that was made later than this request's (`chosen_at`)."""

    status_code = 409
    message = "A newer choice for this question was saved from another tab."
    code = "answer_superseded"

    def __init__(self, *, question_id: int, selected_option: str):
        super().__init__()
        self.question_id = question_id
        self.selected_option = selected_option  # the stored choice, which stays

    def extra(self) -> dict:
        return {"question_id": self.question_id, "selected_option": self.selected_option}


# Codes of errors that are not domain errors: bad input, and DRF's own refusals keep DRF's code
# (`not_authenticated`, `authentication_failed`, `token_not_valid`, `method_not_allowed`,
# `unsupported_media_type`, `parse_error`, `throttled`, `permission_denied`).
INVALID_INPUT = "invalid_input"


def all_codes() -> dict[str, str]:
    """Every domain error's code by class name, for the pages and the documentation."""
    return {cls.__name__: cls.code for cls in DomainError.__subclasses__()} | {"InvalidInput": INVALID_INPUT}


class AccountUnusable(Exception):
    """The token's user is gone or deactivated: what SimpleJWT's user lookup refuses, found without it.

    Not a DomainError: the view answers it as the 401 SimpleJWT would have (`detail`, its `code`),
    so a client sees the same refusal whichever way the request was authenticated.
    """

    def __init__(self, *, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def user_not_found() -> AccountUnusable:
    return AccountUnusable(code="user_not_found", message="User not found")  # SimpleJWT's own code and text


def user_inactive() -> AccountUnusable:
    return AccountUnusable(code="user_inactive", message="User is inactive")  # SimpleJWT's own code and text
