from django.urls import path

from attempts.apis import accommodation_views, staff_views

# Mounted at /api/exam/proctor/. <str:…>: ids that are not integers get a 400 naming the field.
urlpatterns = [
    path("exams/<str:exam_id>/attempts/", staff_views.ExamAttemptsView.as_view(), name="proctor-attempts"),
    path("exams/<str:exam_id>/extend/", staff_views.ExamExtendView.as_view(), name="proctor-exam-extend"),
    path(
        "exams/<str:exam_id>/announcements/",
        staff_views.AnnouncementsView.as_view(),
        name="proctor-announcements",
    ),
    path("exams/<str:exam_id>/results.csv", staff_views.ResultsCsvView.as_view(), name="proctor-results-csv"),
    path(
        "exams/<str:exam_id>/accommodations/<str:user_id>/",
        accommodation_views.ExamAccommodationView.as_view(),
        name="proctor-exam-accommodation",
    ),
    path("attempts/<str:attempt_id>/extend/", staff_views.AttemptExtendView.as_view(), name="proctor-attempt-extend"),
    path(
        "attempts/<str:attempt_id>/credit-offline/",
        staff_views.AttemptCreditOfflineView.as_view(),
        name="proctor-attempt-credit-offline",
    ),
    path("attempts/<str:attempt_id>/end/", staff_views.AttemptEndView.as_view(), name="proctor-attempt-end"),
    path("attempts/<str:attempt_id>/reopen/", staff_views.AttemptReopenView.as_view(), name="proctor-attempt-reopen"),
    path("attempts/<str:attempt_id>/events/", staff_views.AttemptEventsView.as_view(), name="proctor-attempt-events"),
    path(
        "accommodations/<str:user_id>/",
        accommodation_views.AllExamsAccommodationView.as_view(),
        name="proctor-accommodation",
    ),
]
