"""The fixed texts that REST bodies and socket frames share (the original API's own wording)."""

RESUME_MESSAGE = "Resuming existing exam attempt"
TIMEOUT_MESSAGE = "Exam time has expired"
COMPLETED_MESSAGE = "Exam already submitted"
TIMEOUT_SUBMIT_MESSAGE = "Exam submitted after time expired"
ALREADY_SUBMITTED_MESSAGE = "Exam was already submitted"
ENDED_BY_PROCTOR_MESSAGE = "Exam ended by the proctor"
