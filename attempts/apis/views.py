"""Views of the five exam endpoints (docs/api.md): parse, call one service, return the output serializer's data."""

from drf_spectacular.drainage import set_override
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from attempts import clock, errors, selectors, services
from attempts.apis import serializers as s
from attempts.apis.holds import holding
from attempts.models import Attempt
from attempts.scoring import result_of
from attempts.texts import (
    ALREADY_SUBMITTED_MESSAGE,
    COMPLETED_MESSAGE,
    RESUME_MESSAGE,
    TIMEOUT_MESSAGE,
    TIMEOUT_SUBMIT_MESSAGE,
)
from examsite.arrival import received_at

ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="Bad input, or a rule of the exam refused it"),
    401: OpenApiResponse(description="No or bad token"),
    403: OpenApiResponse(s.ErrorSerializer, description="Not your attempt"),
    404: OpenApiResponse(description="Not found"),
}

# Both SimpleJWT classes are the one bearer scheme "jwtAuth" of the schema (drf-spectacular's own
# extensions): the same component, not a collision (`check --deploy` fails on the warning).
set_override(JWTStatelessUserAuthentication, "suppress_collision_warning", True)


def _path_id(serializer_class, **raw) -> int:
    serializer = serializer_class(data=raw)
    serializer.is_valid(raise_exception=True)
    return next(iter(serializer.validated_data.values()))


def _own_attempt(request: Request, attempt_id: str) -> Attempt:
    """The requesting user's attempt of the path's `attempt_id` (400 malformed, 404 unknown, 403 another's)."""
    return selectors.attempt_for_user(
        user=request.user, attempt_id=_path_id(s.AttemptIdSerializer, attempt_id=attempt_id)
    )


def path_param(name: str) -> OpenApiParameter:
    """A path id as the schema documents it."""
    # The bounds the id serializers enforce (400 outside them), so that the schema's "valid" is valid.
    return OpenApiParameter(name, {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}, OpenApiParameter.PATH)


def submit_body(attempt: Attempt, *, outcome: str) -> dict:
    """The submit response of an ended attempt: `submitted`, `timeout` or `already_completed` (a proctor's end too)."""
    figures = result_of(attempt)
    body = {
        "status": outcome,
        "score": figures.score,
        "total_marks": figures.total_marks,
        "percentage": figures.percentage,
    }
    if outcome == "already_completed":
        body["message"] = ALREADY_SUBMITTED_MESSAGE
    else:
        body.update(
            correct_answers=figures.correct_answers,
            total_questions=figures.total_questions,
            time_taken_minutes=figures.time_taken_minutes,
        )
    if outcome == "timeout":
        body["message"] = TIMEOUT_SUBMIT_MESSAGE
    return body


class StartExamView(APIView):
    # The token alone, no user row: the start reads the account's state (exists, is active) with
    # the exam in its first query instead and refuses as SimpleJWT would (401 `user_not_found`,
    # `user_inactive`). Nothing else of the user is used here: no staff or superuser check, no
    # password (CHECK_REVOKE_TOKEN is off), only the id. Saves one query per start.
    authentication_classes = [JWTStatelessUserAuthentication]

    @extend_schema(
        parameters=[path_param("exam_id")],
        request=None,
        responses={
            201: s.StartResponseSerializer,
            200: s.StartResponseSerializer,
            500: OpenApiResponse(
                s.ErrorSerializer,
                description="Redis unreachable; no attempt was created",
            ),
            **ERRORS,
        },
    )
    def post(self, request: Request, exam_id: str) -> Response:
        """Start an attempt (201), or resume the ongoing one (200)."""
        try:
            result = services.attempt_start(user=request.user, exam_id=_path_id(s.ExamIdSerializer, exam_id=exam_id))
        except errors.AccountUnusable as exc:
            raise AuthenticationFailed(exc.message, code=exc.code) from exc
        attempt = result.attempt
        body = {
            "attempt_id": attempt.pk,
            "exam_id": attempt.exam_id,
            "exam_title": attempt.exam.title,
            "duration_minutes": attempt.exam.duration_minutes,
            "remaining_seconds": result.remaining_seconds,
            "deadline_at": attempt.deadline_at,
            "time_limit_seconds": attempt.time_limit_seconds,
            "total_questions": result.total_questions,
            "total_marks": result.total_marks,
        }
        if not result.created:
            body["message"] = RESUME_MESSAGE
        return Response(
            s.StartResponseSerializer(body).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class RemainingTimeView(APIView):
    @extend_schema(
        parameters=[path_param("attempt_id")],
        responses={200: s.RemainingResponseSerializer, **ERRORS},
    )
    def get(self, request: Request, attempt_id: str) -> Response:
        """Seconds left of an attempt, or how it ended."""
        attempt = _own_attempt(request, attempt_id)
        seconds = clock.attempt_reconcile(attempt=attempt)
        if attempt.status == Attempt.Status.ONGOING:
            body = {
                "status": "running",
                "remaining_seconds": seconds,
                "remaining_ms": max(0, clock.ms_until(attempt.deadline_at)),
                "deadline_at": attempt.deadline_at,
            }
        elif attempt.status == Attempt.Status.TIMEOUT:
            body = {"status": "timeout", "remaining_seconds": 0, "message": TIMEOUT_MESSAGE}
        else:
            body = {"status": "completed", "remaining_seconds": 0, "message": COMPLETED_MESSAGE}
        return Response(s.RemainingResponseSerializer(body).data)


class SubmitAnswerView(APIView):
    @extend_schema(
        request=s.SubmitAnswerSerializer,
        responses={
            200: s.AnswerResponseSerializer,
            409: OpenApiResponse(
                s.SupersededSerializer,
                description="answer_superseded: a choice made later was saved from another tab; it stays",
            ),
            410: OpenApiResponse(s.ErrorSerializer, description="Time expired"),
            **ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        """Save or change one answer."""
        serializer = s.SubmitAnswerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.answer_save(
            user=request.user,
            received_at=received_at(request),
            caller_holds=holding(request),
            **serializer.validated_data,
        )
        body = {
            "status": "saved",
            "question_id": result.answer.question_id,
            "selected_option": result.answer.selected_option,
            "action": "saved" if result.created else "updated",
        }
        return Response(s.AnswerResponseSerializer(body).data)


class SubmitExamView(APIView):
    @extend_schema(
        parameters=[path_param("attempt_id")],
        request=None,
        responses={200: s.SubmitResponseSerializer, **ERRORS},
    )
    def post(self, request: Request, attempt_id: str) -> Response:
        """Submit and score an attempt."""
        result = services.attempt_submit(
            user=request.user,
            attempt_id=_path_id(s.AttemptIdSerializer, attempt_id=attempt_id),
            received_at=received_at(request),
            caller_holds=holding(request),
        )
        return Response(s.SubmitResponseSerializer(submit_body(result.attempt, outcome=result.outcome)).data)


class QuestionsView(APIView):
    @extend_schema(
        parameters=[path_param("attempt_id")],
        responses={200: s.QuestionsResponseSerializer, **ERRORS},
    )
    def get(self, request: Request, attempt_id: str) -> Response:
        """The attempt's questions, without correct answers, and its saved answers."""
        attempt = _own_attempt(request, attempt_id)
        body = {
            "attempt_id": attempt.pk,
            "exam_title": attempt.exam.title,
            "questions": selectors.questions_of(attempt),
            "saved_answers": selectors.saved_answers_of(attempt),
            "announcements": selectors.announcements_of(attempt.exam_id),
        }
        return Response(s.QuestionsResponseSerializer(body).data)


class OwnAttemptsView(APIView):
    @extend_schema(
        parameters=[path_param("exam_id")],
        responses={200: s.OwnAttemptsResponseSerializer, **ERRORS},
    )
    def get(self, request: Request, exam_id: str) -> Response:
        """The requesting student's attempts of an exam, newest first, with each ended one's result."""
        own = selectors.attempts_of_user(user=request.user, exam_id=_path_id(s.ExamIdSerializer, exam_id=exam_id))
        body = {"exam_id": own.exam_id, "exam_title": own.exam_title, "attempts": own.attempts}
        return Response(s.OwnAttemptsResponseSerializer(body).data)
