"""Who may use the staff API: every route as a student, as staff not on the exam, as its proctor, as a superuser,
as staff when the exam names no proctors, and without a token. A refused request changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from attempts.models import Accommodation, Announcement, Attempt, AttemptEvent
from tests.factories import api_client, make_exam, make_user, start_attempt
from tests.helpers import NOT_FOUND, PROCTOR_API, STAFF_ONLY, UNKNOWN_ID, submit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@dataclass
class World:
    exam_id: int
    ongoing_id: int  # an ongoing attempt of the exam
    ended_id: int  # a submitted one (reopen's target)
    student_id: int  # the owner of the ongoing attempt


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # with {exam}, {ongoing}, {ended}, {student}
    body: dict | None
    ok: int

    def url(self, world: World, unknown: str | None = None) -> str:
        ids = {"exam": world.exam_id, "ongoing": world.ongoing_id, "ended": world.ended_id, "student": world.student_id}
        if unknown is not None:
            ids[unknown] = UNKNOWN_ID
        return PROCTOR_API + "/" + self.path.format(**ids)

    def call(self, client, world: World, unknown: str | None = None):
        if self.body is None:
            return getattr(client, self.method)(self.url(world, unknown))
        return getattr(client, self.method)(self.url(world, unknown), self.body, format="json")


ROUTES = [
    Route("list", "get", "exams/{exam}/attempts/", None, 200),
    Route("extend", "post", "attempts/{ongoing}/extend/", {"minutes": 5}, 200),
    Route("extend exam", "post", "exams/{exam}/extend/", {"seconds": 30}, 200),
    Route("end", "post", "attempts/{ongoing}/end/", {"reason": "r"}, 200),
    Route("reopen", "post", "attempts/{ended}/reopen/", {"minutes": 5}, 200),
    Route("announce", "post", "exams/{exam}/announcements/", {"message": "Hello"}, 201),
    Route("events", "get", "attempts/{ongoing}/events/", None, 200),
    Route("results", "get", "exams/{exam}/results.csv", None, 200),
    Route("put exam row", "put", "exams/{exam}/accommodations/{student}/", {"extra_minutes": 5}, 200),
    Route("delete exam row", "delete", "exams/{exam}/accommodations/{student}/", None, 204),
    Route("put all-exams row", "put", "accommodations/{student}/", {"extra_minutes": 5}, 200),
    Route("delete all-exams row", "delete", "accommodations/{student}/", None, 204),
]
ROUTE_IDS = [route.name for route in ROUTES]


def make_world(*, proctors: list) -> World:
    exam = make_exam(questions=2)
    exam.proctors.set(proctors)
    student = make_user()
    ongoing = start_attempt(student, exam)
    ended = start_attempt(make_user(), exam)
    submit(api_client(ended.user), ended.pk)
    return World(exam_id=exam.pk, ongoing_id=ongoing.pk, ended_id=ended.pk, student_id=student.pk)


def state() -> tuple:
    """Everything a staff route can change."""
    return (
        list(Attempt.objects.order_by("pk").values_list("pk", "status", "deadline_at", "change_seconds", "score")),
        AttemptEvent.objects.count(),
        Announcement.objects.count(),
        list(Accommodation.objects.values_list("pk", "extra_minutes")),
    )


ROLES = {
    "superuser": lambda: make_user(is_superuser=True),  # not even flagged staff: a superuser always may
    "assigned proctor": lambda: make_user(is_staff=True),
    "staff, exam without proctors": lambda: make_user(is_staff=True),
}


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("role", list(ROLES))
def test_allowed(route, role):
    user = ROLES[role]()
    world = make_world(proctors=[user] if role == "assigned proctor" else [])

    response = route.call(api_client(user), world)

    assert response.status_code == route.ok, response.content


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("role", ["student", "the attempt's own student", "staff not on the exam"])
def test_refused_403_and_nothing_changes(route, role):
    someone_else = make_user(is_staff=True)
    world = make_world(proctors=[someone_else])
    if role == "student":
        user = make_user()
    elif role == "the attempt's own student":
        user = Attempt.objects.get(pk=world.ongoing_id).user
    else:
        user = make_user(is_staff=True)
    before = state()

    response = route.call(api_client(user), world)

    assert (response.status_code, response.json()) == (403, STAFF_ONLY)
    assert state() == before


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_without_a_token_401(route):
    world = make_world(proctors=[])

    response = route.call(api_client(), world)

    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_unknown_ids_404_for_staff_and_403_for_students(route):
    world = make_world(proctors=[])
    staff, student = api_client(make_user(is_staff=True)), api_client(make_user())
    names = [name for name in ("exam", "ongoing", "ended", "student") if "{" + name + "}" in route.path]

    for name in names:
        assert status_of(route.call(staff, world, unknown=name)) == (404, NOT_FOUND), name
        # A student learns nothing, not even which ids exist.
        assert status_of(route.call(student, world, unknown=name)) == (403, STAFF_ONLY), name


def status_of(response) -> tuple[int, dict]:
    return response.status_code, response.json()


def test_an_inactive_staff_user_is_refused():
    proctor = make_user(is_staff=True)
    world = make_world(proctors=[])
    client = api_client(proctor)
    proctor.is_active = False
    proctor.save()

    response = ROUTES[0].call(client, world)

    assert response.status_code == 401


def test_all_exams_row_needs_a_user_allowed_on_every_exam():
    """It changes every exam: a proctor of one exam may not, when another exam names other proctors."""
    proctor, other_proctor = make_user(is_staff=True), make_user(is_staff=True)
    world = make_world(proctors=[proctor])
    make_exam().proctors.set([other_proctor])
    make_exam()  # an exam without proctors does not matter: every staff user may control it
    client = api_client(proctor)

    all_exams = client.put(f"{PROCTOR_API}/accommodations/{world.student_id}/", {"extra_minutes": 5}, format="json")
    own_exam = client.put(
        f"{PROCTOR_API}/exams/{world.exam_id}/accommodations/{world.student_id}/", {"extra_minutes": 5}, format="json"
    )

    assert status_of(all_exams) == (403, STAFF_ONLY)
    assert own_exam.status_code == 200
    assert list(Accommodation.objects.values_list("exam_id", flat=True)) == [world.exam_id]


def test_being_a_proctor_of_one_exam_gives_nothing_on_another():
    proctor = make_user(is_staff=True)
    make_world(proctors=[proctor])
    other = make_world(proctors=[make_user(is_staff=True)])

    for route in ROUTES:
        assert status_of(route.call(api_client(proctor), other)) == (403, STAFF_ONLY), route.name
