"""GET /api/schema/ is a valid OpenAPI 3 document of the five endpoints; GET /api/docs/ serves its viewer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from attempts import errors

pytestmark = pytest.mark.django_db

FIVE_PATHS = {
    "/api/exam/timer/start/{exam_id}/": "post",
    "/api/exam/timer/remaining/{attempt_id}/": "get",
    "/api/exam/timer/submit-answer/": "post",
    "/api/exam/timer/submit/{attempt_id}/": "post",
    "/api/exam/timer/questions/{attempt_id}/": "get",
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi_3(schema):
    validate_schema(schema)  # raises on any violation of the OpenAPI 3 JSON schema
    assert schema["openapi"].startswith("3.")


def test_schema_has_the_five_endpoints_and_the_token_routes(schema):
    for path, method in FIVE_PATHS.items():
        assert method in schema["paths"].get(path, {}), path
    assert {"/api/token/", "/api/token/refresh/"} <= set(schema["paths"])


def test_schema_documents_the_status_codes(schema):
    start = schema["paths"]["/api/exam/timer/start/{exam_id}/"]["post"]["responses"]
    answer = schema["paths"]["/api/exam/timer/submit-answer/"]["post"]["responses"]
    assert {"200", "201", "400", "401", "403", "404", "500"} <= set(start)
    assert {"200", "400", "403", "404", "410"} <= set(answer)


def test_schema_documents_the_429_of_every_route_with_a_budget_and_only_those(schema):
    limited = {
        path: operation["responses"].get("429")
        for path, item in schema["paths"].items()
        for operation in item.values()
        if isinstance(operation, dict) and "responses" in operation
    }
    for path in [*FIVE_PATHS, "/api/exam/timer/attempts/{exam_id}/"]:
        assert limited[path]["headers"]["Retry-After"], path
        assert limited[path]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RateLimited"}
    assert any(path.startswith("/api/exam/proctor/") and response for path, response in limited.items())
    assert "RateLimited" not in str(limited["/api/token/"])  # the login throttle's own 429, left as it was
    body = schema["components"]["schemas"]["RateLimited"]
    assert body["properties"]["code"]["enum"] == ["rate_limited"] and "retry_after" in body["required"]


def test_schema_path_ids_are_integers(schema):
    for path, method in FIVE_PATHS.items():
        for parameter in schema["paths"][path][method].get("parameters", []):
            assert (parameter["in"], parameter["schema"]["type"]) == ("path", "integer"), path


def test_schema_never_shows_the_correct_option_to_students(schema):
    question = schema["components"]["schemas"]["StudentQuestion"]["properties"]
    assert "correct_option" not in question


def test_schema_yaml_by_default():
    response = APIClient().get("/api/schema/")

    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3.")


def test_docs_page_200_with_its_viewer_from_our_own_static_files():
    response = APIClient().get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui" in asset and asset.endswith(".js") for asset in assets), assets
    assert [asset for asset in assets if asset.startswith(("http:", "https:", "//"))] == []
    for asset in assets:
        if asset.startswith(settings.STATIC_URL):
            assert finders.find(asset.removeprefix(settings.STATIC_URL)), asset


def test_schema_says_every_error_body_has_a_code(schema):
    answer = schema["paths"]["/api/exam/timer/submit-answer/"]["post"]["responses"]
    error = answer["410"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"error", "code"} <= set(schema["components"]["schemas"][error]["required"])


@pytest.mark.parametrize("value", ["a\u0000", "\u0000", " \u0000 ", "   ", ""])
def test_schema_token_fields_refuse_what_the_server_refuses(schema, value):
    # The server refuses blank strings and NUL characters with a 400; a value the schema calls
    # valid must not be one of them (schemathesis once generated "…\u0000" and got that 400).
    pattern = schema["components"]["schemas"]["RefreshRequest"]["properties"]["refresh"]["pattern"]
    assert re.search(pattern, value) is None


STAFF_PATHS = {
    "/api/exam/proctor/exams/{exam_id}/attempts/": {"get"},
    "/api/exam/proctor/attempts/{attempt_id}/extend/": {"post"},
    "/api/exam/proctor/exams/{exam_id}/extend/": {"post"},
    "/api/exam/proctor/attempts/{attempt_id}/end/": {"post"},
    "/api/exam/proctor/attempts/{attempt_id}/reopen/": {"post"},
    "/api/exam/proctor/exams/{exam_id}/announcements/": {"post"},
    "/api/exam/proctor/attempts/{attempt_id}/events/": {"get"},
    "/api/exam/proctor/exams/{exam_id}/results.csv": {"get"},
    "/api/exam/proctor/accommodations/{user_id}/": {"put", "delete"},
    "/api/exam/proctor/exams/{exam_id}/accommodations/{user_id}/": {"put", "delete"},
}


def test_schema_has_every_staff_route_with_its_errors(schema):
    for path, methods in STAFF_PATHS.items():
        assert methods <= set(schema["paths"].get(path, {})), path
        for method in methods:
            operation = schema["paths"][path][method]
            assert {"400", "401", "403", "404"} <= set(operation["responses"]), (path, method)
            assert "staff_only" in operation["responses"]["403"]["description"]
            assert operation["tags"] == ["proctor"]
            for parameter in operation["parameters"]:
                assert (parameter["in"], parameter["schema"]["type"]) == ("path", "integer"), path


def test_schema_staff_bodies_and_answers(schema):
    paths = schema["paths"]
    for action in ("extend", "reopen"):
        operation = paths[f"/api/exam/proctor/attempts/{{attempt_id}}/{action}/"]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/TimeChange")
        assert "409" in operation["responses"]
    assert "409" in paths["/api/exam/proctor/attempts/{attempt_id}/end/"]["post"]["responses"]
    time_change = schema["components"]["schemas"]["TimeChange"]["oneOf"]
    assert [ref["$ref"].rsplit("/", 1)[-1] for ref in time_change] == ["ChangeByMinutes", "ChangeBySeconds"]
    minutes = schema["components"]["schemas"]["ChangeByMinutes"]["properties"]["minutes"]
    assert (minutes["minimum"], minutes["maximum"]) == (1, 1440)
    announce = paths["/api/exam/proctor/exams/{exam_id}/announcements/"]["post"]["responses"]
    assert "201" in announce
    csv_answer = paths["/api/exam/proctor/exams/{exam_id}/results.csv"]["get"]["responses"]["200"]["content"]
    assert set(csv_answer) == {"text/csv"}
    assert "204" in paths["/api/exam/proctor/accommodations/{user_id}/"]["delete"]["responses"]


def test_every_error_code_is_in_the_api_documentation():
    table = (Path(settings.BASE_DIR) / "docs" / "api.md").read_text(encoding="utf-8").split("## Error codes", 1)[1]
    missing = [code for code in errors.all_codes().values() if code != "not_found" and f"| `{code}` |" not in table]
    assert not missing
