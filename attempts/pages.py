"""The HTML pages: shells that the browser fills from the REST API and the sockets.

The pages carry no user data: they authenticate with the JWT pair the login page keeps in
the tab's sessionStorage, so the server renders the same shell for everyone and every
permission is checked by the API and the sockets behind it.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """The site root: the sign-in page."""
    return redirect("login")


@require_safe
def login_page(request: HttpRequest) -> HttpResponse:
    """Sign in with username and password; keeps the JWT pair for the other pages."""
    return render(request, "attempts/login.html")


@require_safe
def exam_page(request: HttpRequest, exam_id: int) -> HttpResponse:
    """The student's exam page: start or resume, answer, watch the clock, submit."""
    return render(request, "attempts/exam.html", {"exam_id": exam_id})


@require_safe
def proctor_page(request: HttpRequest, exam_id: int) -> HttpResponse:
    """The proctor's live table of an exam's attempts (the socket refuses non-staff users)."""
    return render(request, "attempts/proctor.html", {"exam_id": exam_id})
