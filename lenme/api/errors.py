"""Domain errors and the one handler that renders every error as RFC 9457 problem+json."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from lenme.errors import (  # noqa: F401 - re-exported: the HTTP layer's view of the domain errors
    AlreadyPaid,
    Conflict,
    DomainError,
    DuplicateOffer,
    Forbidden,
    IdempotencyInFlight,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidState,
    NotCovered,
    NotFound,
    OutOfOrder,
    ValidationFailed,
)

PROBLEM_CONTENT_TYPE = "application/problem+json"


_DRF_CODES = {
    exceptions.ValidationError: ("validation_error", "Invalid input"),
    exceptions.ParseError: ("parse_error", "Malformed request body"),
    exceptions.NotAuthenticated: ("not_authenticated", "Not authenticated"),
    exceptions.AuthenticationFailed: ("authentication_failed", "Authentication failed"),
    exceptions.PermissionDenied: ("permission_denied", "Permission denied"),
    exceptions.NotFound: ("not_found", "Not found"),
    exceptions.MethodNotAllowed: ("method_not_allowed", "Method not allowed"),
    exceptions.NotAcceptable: ("not_acceptable", "Not acceptable"),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", "Unsupported media type"),
    exceptions.Throttled: ("throttled", "Too many requests"),
}


def problem(status_code: int, code: str, title: str, detail: str, errors: list | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def flatten_errors(detail: Any, prefix: str | None = None) -> list[dict[str, Any]]:
    """DRF's nested error dict -> [{field, code, detail}] with dotted field names."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = None if key in ("non_field_errors", "__all__") else (f"{prefix}.{key}" if prefix else str(key))
            if key in ("non_field_errors", "__all__"):
                name = prefix
            out.extend(flatten_errors(value, name))
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)):
                out.extend(flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)))
            else:
                out.extend(flatten_errors(value, prefix))
        return out
    return [{"field": prefix, "code": getattr(detail, "code", "invalid") or "invalid", "detail": str(detail)}]


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE)


# PostgreSQL query_canceled: a statement_timeout (or a cancelled lock wait) ran out. Nothing was
# committed, so it is a 409 `conflict` the client may retry, not a 500.
_CONFLICT_SQLSTATES = {"57014"}


def _is_query_canceled(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "sqlstate", None) in _CONFLICT_SQLSTATES:
            return True
        exc = exc.__cause__
    return False


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, OperationalError) and _is_query_canceled(exc):
        set_rollback()
        exc = Conflict("The database cancelled the statement (it ran past its time limit); it is safe to retry.")
    if isinstance(exc, DomainError):
        return problem_response(problem(exc.status_code, exc.code, exc.title, exc.detail, exc.errors))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django log it and answer 500 (lenme.urls renders it as problem+json)

    response = drf_exception_handler(exc, context)
    if response is None:  # pragma: no cover - DRF handles every APIException
        return None
    code, title = next(((c, t) for cls, (c, t) in _DRF_CODES.items() if isinstance(exc, cls)), (None, None))
    if code is None:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        title = str(exc.default_detail)
    errors = None
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        detail = errors[0]["detail"] if len(errors) == 1 else "The request has invalid fields."
    else:
        detail = str(exc.detail)
        if response.status_code == status.HTTP_400_BAD_REQUEST:
            # Every 400 carries `errors`, so clients have one shape to read; null field: the whole body.
            errors = [{"field": None, "code": code, "detail": detail}]
    headers = {k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate", "Allow")}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    return problem_response(problem(response.status_code, code, title, detail, errors), headers)
