"""Views of the staff API (docs/api.md, "Live control"): authorize, parse, call one service, shape the answer.

Every view checks first that the user is staff (403 `staff_only` before any input is read, so a
student learns nothing, not even which ids exist), then the path ids (400), then the exam or
attempt and the user's right to control it (404, 403), then the body (400).
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from attempts import access, audit, clock, reports, selectors
from attempts.apis import serializers as s
from attempts.apis import staff_serializers as ss
from attempts.apis.views import path_param, submit_body
from attempts.models import Attempt, Exam
from attempts.services import control

STAFF_ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="`invalid_input`: a malformed id or body, naming the field"),
    401: OpenApiResponse(description="No or bad token"),
    403: OpenApiResponse(s.ErrorSerializer, description="`staff_only`: not staff, or not allowed on this exam"),
    404: OpenApiResponse(description="Not found"),
}
ENDED = OpenApiResponse(s.ErrorSerializer, description="`attempt_ended`: the attempt was already over")
TIME_CHANGE = PolymorphicProxySerializer(
    component_name="TimeChange",
    serializers=[ss.ChangeByMinutesSerializer, ss.ChangeBySecondsSerializer],
    resource_type_field_name=None,
)


def path_ids(request: Request, **raw: str) -> dict[str, int]:
    """The path's ids, once the user is known to be staff."""
    access.require_staff(request.user)
    serializer = ss.PathIdsSerializer(data=raw)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def proctored_exam(request: Request, exam_id: str) -> Exam:
    """The path's exam, if the user may control it."""
    return access.exam_for_proctor(user=request.user, exam_id=path_ids(request, exam_id=exam_id)["exam_id"])


def proctored_attempt(request: Request, attempt_id: str) -> Attempt:
    """The path's attempt, if the user may control its exam."""
    return access.attempt_for_proctor(
        user=request.user, attempt_id=path_ids(request, attempt_id=attempt_id)["attempt_id"]
    )


def parsed_body(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    """The request's body, validated (400 naming the field)."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


@extend_schema(tags=["proctor"])
class ExamAttemptsView(APIView):
    @extend_schema(parameters=[path_param("exam_id")], responses={200: ss.ProctorViewSerializer, **STAFF_ERRORS})
    def get(self, request: Request, exam_id: str) -> Response:
        """The exam's attempts that are ongoing or ended within the last hour: the proctor table's rows."""
        view = selectors.proctor_view(exam_id=proctored_exam(request, exam_id).pk)
        body = {"exam_id": view.exam_id, "exam_title": view.exam_title, "attempts": view.rows}
        return Response(ss.ProctorViewSerializer(body).data)


@extend_schema(tags=["proctor"])
class AttemptExtendView(APIView):
    @extend_schema(
        parameters=[path_param("attempt_id")],
        request=TIME_CHANGE,
        responses={200: ss.TimeChangedSerializer, 409: ENDED, **STAFF_ERRORS},
    )
    def post(self, request: Request, attempt_id: str) -> Response:
        """Give one ongoing attempt more time (never capped by the exam's closing time)."""
        attempt = proctored_attempt(request, attempt_id)
        change = control.attempt_extend(
            actor=request.user, attempt_id=attempt.pk, **parsed_body(ss.TimeChangeSerializer, request)
        )
        return Response(ss.TimeChangedSerializer(time_changed_body(change.attempt)).data)


def time_changed_body(moved: Attempt) -> dict:
    """The answer to a change of one attempt's time: where its deadline stands now."""
    return {
        "attempt_id": moved.pk,
        "status": "running",
        "remaining_seconds": clock.seconds_to(moved.deadline_at),
        "deadline_at": moved.deadline_at,
        "change_seconds": moved.change_seconds,
    }


@extend_schema(tags=["proctor"])
class AttemptCreditOfflineView(APIView):
    @extend_schema(
        parameters=[path_param("attempt_id")],
        request=ss.CreditOfflineSerializer,
        responses={
            200: ss.CreditedSerializer,
            409: OpenApiResponse(
                s.ErrorSerializer, description="`attempt_ended`, or `nothing_to_credit`: no uncredited offline second"
            ),
            **STAFF_ERRORS,
        },
    )
    def post(self, request: Request, attempt_id: str) -> Response:
        """Give an ongoing attempt back the time its page was offline since the last credit."""
        attempt = proctored_attempt(request, attempt_id)
        credit = control.attempt_credit_offline(
            actor=request.user, attempt_id=attempt.pk, **parsed_body(ss.CreditOfflineSerializer, request)
        )
        body = {**time_changed_body(credit.change.attempt), "credited_seconds": credit.credited_seconds}
        return Response(ss.CreditedSerializer(body).data)


@extend_schema(tags=["proctor"])
class ExamExtendView(APIView):
    @extend_schema(
        parameters=[path_param("exam_id")],
        request=TIME_CHANGE,
        responses={200: ss.ExamExtendedSerializer, **STAFF_ERRORS},
    )
    def post(self, request: Request, exam_id: str) -> Response:
        """Give every ongoing attempt of the exam more time."""
        exam = proctored_exam(request, exam_id)
        extended = control.exam_extend(
            actor=request.user, exam_id=exam.pk, **parsed_body(ss.TimeChangeSerializer, request)
        )
        body = {"exam_id": exam.pk, "extended": len(extended), "attempt_ids": extended}
        return Response(ss.ExamExtendedSerializer(body).data)


@extend_schema(tags=["proctor"])
class AttemptEndView(APIView):
    @extend_schema(
        parameters=[path_param("attempt_id")],
        request=ss.EndSerializer,
        responses={200: s.SubmitResponseSerializer, 409: ENDED, **STAFF_ERRORS},
    )
    def post(self, request: Request, attempt_id: str) -> Response:
        """End an ongoing attempt now: completed and scored, as if the student had submitted."""
        attempt = proctored_attempt(request, attempt_id)
        ended = control.attempt_end(actor=request.user, attempt_id=attempt.pk, **parsed_body(ss.EndSerializer, request))
        return Response(s.SubmitResponseSerializer(submit_body(ended, outcome="submitted")).data)


@extend_schema(tags=["proctor"])
class AttemptReopenView(APIView):
    @extend_schema(
        parameters=[path_param("attempt_id")],
        request=TIME_CHANGE,
        responses={
            200: ss.ReopenedSerializer,
            409: OpenApiResponse(
                s.ErrorSerializer,
                description="`attempt_running`: still ongoing; `other_attempt_running`: the student started another",
            ),
            **STAFF_ERRORS,
        },
    )
    def post(self, request: Request, attempt_id: str) -> Response:
        """Make an ended attempt ongoing again for the time given, its answers kept and its score cleared."""
        attempt = proctored_attempt(request, attempt_id)
        reopened = control.attempt_reopen(
            actor=request.user, attempt_id=attempt.pk, **parsed_body(ss.TimeChangeSerializer, request)
        )
        body = {
            "attempt_id": reopened.pk,
            "status": "running",
            "remaining_seconds": clock.seconds_to(reopened.deadline_at),
            "deadline_at": reopened.deadline_at,
        }
        return Response(ss.ReopenedSerializer(body).data)


@extend_schema(tags=["proctor"])
class AnnouncementsView(APIView):
    @extend_schema(
        parameters=[path_param("exam_id")],
        request=ss.AnnouncementInputSerializer,
        responses={201: s.AnnouncementSerializer, **STAFF_ERRORS},
    )
    def post(self, request: Request, exam_id: str) -> Response:
        """Post an announcement to everyone taking the exam (stored, and pushed to their sockets)."""
        exam = proctored_exam(request, exam_id)
        posted = control.announcement_post(
            actor=request.user, exam_id=exam.pk, **parsed_body(ss.AnnouncementInputSerializer, request)
        )
        body = {"id": posted.pk, "exam_id": posted.exam_id, "message": posted.message, "created_at": posted.created_at}
        return Response(s.AnnouncementSerializer(body).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["proctor"])
class AttemptEventsView(APIView):
    @extend_schema(parameters=[path_param("attempt_id")], responses={200: ss.AuditTrailSerializer, **STAFF_ERRORS})
    def get(self, request: Request, attempt_id: str) -> Response:
        """The attempt's audit trail, oldest first."""
        attempt = proctored_attempt(request, attempt_id)
        body = {"attempt_id": attempt.pk, "events": audit.trail_of(attempt.pk)}
        return Response(ss.AuditTrailSerializer(body).data)


class _JsonWhateverTheAccept(BaseContentNegotiation):
    """The file is CSV whatever the client accepts (a browser's download sends */*, a script text/csv); errors JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema(tags=["proctor"])
class ResultsCsvView(APIView):
    content_negotiation_class = _JsonWhateverTheAccept

    @extend_schema(
        operation_id="proctor_exam_results_csv",
        parameters=[path_param("exam_id")],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="a header row, then one row per attempt, oldest start first"
            ),
            **STAFF_ERRORS,
        },
    )
    def get(self, request: Request, exam_id: str) -> HttpResponse:
        """Every attempt of the exam as CSV: `attempt_id,username,status,…,offline_seconds`."""
        exam = proctored_exam(request, exam_id)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="exam-{exam.pk}-results.csv"'
        reports.write_results_csv(response, exam_id=exam.pk)
        return response
