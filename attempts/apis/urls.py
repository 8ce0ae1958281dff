from django.urls import path

from attempts.apis import views

# <str:…>: ids that are not integers get a 400 naming the field, not a bare 404 page.
urlpatterns = [
    path("start/<str:exam_id>/", views.StartExamView.as_view(), name="exam-start"),
    path(
        "remaining/<str:attempt_id>/",
        views.RemainingTimeView.as_view(),
        name="attempt-remaining",
    ),
    path("attempts/<str:exam_id>/", views.OwnAttemptsView.as_view(), name="own-attempts"),
    path("submit-answer/", views.SubmitAnswerView.as_view(), name="answer-submit"),
    path(
        "submit/<str:attempt_id>/",
        views.SubmitExamView.as_view(),
        name="attempt-submit",
    ),
    path(
        "questions/<str:attempt_id>/",
        views.QuestionsView.as_view(),
        name="attempt-questions",
    ),
]
