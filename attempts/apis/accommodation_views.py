"""Views of the staff API's accommodations (docs/api.md): a student's row for one exam, or for every exam.

Per exam: staff allowed on that exam. All exams: staff allowed on every exam (superusers; staff
when no exam names proctors without them), since that row changes every exam.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from attempts import access, errors
from attempts.apis import staff_serializers as ss
from attempts.apis.staff_views import STAFF_ERRORS, parsed_body, path_ids, proctored_exam
from attempts.apis.views import path_param
from attempts.services import accommodations

PUT_RESPONSES = {200: ss.AccommodationSerializer, **STAFF_ERRORS}
DELETE_RESPONSES = {204: None, **STAFF_ERRORS}


def _put(request: Request, *, student, exam_id: int | None) -> Response:
    row = accommodations.accommodation_put(
        actor=request.user, student=student, exam_id=exam_id, **parsed_body(ss.AccommodationInputSerializer, request)
    )
    return Response(ss.AccommodationSerializer(row).data)


def _delete(request: Request, *, student, exam_id: int | None) -> Response:
    accommodations.accommodation_delete(actor=request.user, student=student, exam_id=exam_id)
    return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["proctor"])
class AllExamsAccommodationView(APIView):
    def _student(self, request: Request, user_id: str):
        ids = path_ids(request, user_id=user_id)
        if not access.may_proctor_every_exam(request.user):
            raise errors.StaffOnly()
        return accommodations.student_of(user_id=ids["user_id"])

    @extend_schema(parameters=[path_param("user_id")], request=ss.AccommodationInputSerializer, responses=PUT_RESPONSES)
    def put(self, request: Request, user_id: str) -> Response:
        """Set the student's accommodation for every exam (a row for one exam still wins for that exam)."""
        return _put(request, student=self._student(request, user_id), exam_id=None)

    @extend_schema(parameters=[path_param("user_id")], responses=DELETE_RESPONSES)
    def delete(self, request: Request, user_id: str) -> Response:
        """Remove the student's all-exams accommodation (204 also when there was none)."""
        return _delete(request, student=self._student(request, user_id), exam_id=None)


@extend_schema(tags=["proctor"])
class ExamAccommodationView(APIView):
    def _exam_and_student(self, request: Request, exam_id: str, user_id: str):
        user_id = path_ids(request, exam_id=exam_id, user_id=user_id)["user_id"]
        exam = proctored_exam(request, exam_id)
        return exam, accommodations.student_of(user_id=user_id)

    @extend_schema(
        parameters=[path_param("exam_id"), path_param("user_id")],
        request=ss.AccommodationInputSerializer,
        responses=PUT_RESPONSES,
    )
    def put(self, request: Request, exam_id: str, user_id: str) -> Response:
        """Set the student's accommodation for this exam."""
        exam, student = self._exam_and_student(request, exam_id, user_id)
        return _put(request, student=student, exam_id=exam.pk)

    @extend_schema(parameters=[path_param("exam_id"), path_param("user_id")], responses=DELETE_RESPONSES)
    def delete(self, request: Request, exam_id: str, user_id: str) -> Response:
        """Remove the student's accommodation for this exam (204 also when there was none)."""
        exam, student = self._exam_and_student(request, exam_id, user_id)
        return _delete(request, student=student, exam_id=exam.pk)
