"""Maps domain errors and bad input to the contract's JSON bodies."""

import logging

from django.db import InterfaceError, OperationalError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from attempts import errors


def _first_message(detail) -> str:
    """`field: message` of the first problem in a DRF error detail, for the `error` key."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _first_message(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    """Every error body has `error` and `code` (404 keeps exactly DRF's `detail`); bad input names its field.

    A database that does not answer is a 503 with Retry-After, not a 500: the request's transaction
    was rolled back (nothing half-done), and the exam page sends it again after the wait.
    """
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable for %s: %s", context["request"].path, exc)
        unavailable = errors.DatabaseUnavailable()
        return Response(
            {"error": unavailable.message, "code": unavailable.code},
            status=unavailable.status_code,
            headers={"Retry-After": str(unavailable.retry_after_seconds)},
        )
    if isinstance(exc, errors.NotFound):
        return Response({"detail": exc.message}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, errors.DomainError):
        return Response({"error": exc.message, "code": exc.code, **exc.extra()}, status=exc.status_code)
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            {"error": _first_message(exc.detail), "code": errors.INVALID_INPUT, "fields": exc.detail}, status=400
        )
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        if response.status_code == status.HTTP_404_NOT_FOUND:
            return response
        response.data.setdefault("error", str(response.data["detail"]))
        # SimpleJWT's token errors carry a `code` already (`token_not_valid`); DRF's own carry a default one.
        response.data.setdefault("code", getattr(exc, "default_code", "error"))
    return response
