import pytest

from attempts import timer


@pytest.mark.django_db
def test_start_then_resume(exam, student, client_for):
    client = client_for(student)
    first = client.post(f"/api/exam/timer/start/{exam.pk}/")
    assert first.status_code == 201, first.content
    second = client.post(f"/api/exam/timer/start/{exam.pk}/")
    assert second.status_code == 200
    assert second.json()["attempt_id"] == first.json()["attempt_id"]
    assert second.json()["message"] == "Resuming existing exam attempt"
    assert 3599 <= timer.remaining(first.json()["attempt_id"]) <= 3600
