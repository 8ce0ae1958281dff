"""Domain errors, each with the status code and text of the contract (design document)."""


class DomainError(Exception):
    status_code = 400
    message = ""

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message


class NotFound(DomainError):
    status_code = 404
    message = "Not found."


class NotYourAttempt(DomainError):
    status_code = 403
    message = "This exam attempt does not belong to you."


class ExamNotPublished(DomainError):
    message = "This exam is not published yet."


class PreviousAttemptTimedOut(DomainError):
    message = "Your previous attempt has timed out. Please start a new attempt."


class TimerStartFailed(DomainError):
    status_code = 500
    message = "Failed to start exam timer. Please try again."


class AttemptAlreadySubmitted(DomainError):
    message = "Exam already submitted. Cannot modify answers."


class QuestionNotInExam(DomainError):
    message = "This question does not belong to this exam."


class TimeExpired(DomainError):
    status_code = 410
    message = "Exam time has expired. Cannot submit answers."
