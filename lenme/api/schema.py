"""OpenAPI pieces shared by every view: the problem+json error shape and its responses."""

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

_FieldError = inline_serializer(
    name="FieldError",
    fields={
        "field": serializers.CharField(allow_null=True, help_text="The field, or null for the body as a whole."),
        "code": serializers.CharField(),
        "detail": serializers.CharField(),
    },
)

Problem = inline_serializer(
    name="Problem",
    fields={
        "type": serializers.CharField(default="about:blank"),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "code": serializers.CharField(help_text="What clients switch on: see the error code table."),
        "errors": _FieldError.__class__(many=True, required=False),
    },
)

_DESCRIPTIONS = {
    400: "`validation_error` (field problems in `errors`) or `parse_error` (the body is not JSON).",
    401: "`not_authenticated` (no token) or `authentication_failed` (bad token).",
    403: "`permission_denied`: the caller can see the object but may not do this.",
    404: "`not_found`: no such object, or the caller may not see it.",
    422: "`idempotency_key_reused`: the Idempotency-Key was used with another request.",
    429: "`throttled`: rate limit; see the Retry-After header.",
}


def problem(status: int, description: str | None = None, codes: tuple[str, ...] = ()) -> OpenApiResponse:
    text = description or _DESCRIPTIONS.get(status, "")
    if codes:
        text = (text + " " if text else "") + "Codes: " + ", ".join(f"`{c}`" for c in codes) + "."
    return OpenApiResponse(response=Problem, description=text)


def errors(*statuses: int, conflicts: tuple[str, ...] = (), auth: bool = True, idempotent: bool = False) -> dict:
    """The error responses of an endpoint, in the contract's precedence order."""
    out: dict = {}
    if auth:
        out[401] = problem(401)
    for status in statuses:
        out[status] = problem(status)
    if 400 not in out and idempotent:
        out[400] = problem(400)
    if conflicts or idempotent:
        codes = tuple(conflicts) + (("conflict", "idempotency_in_flight") if idempotent else ("conflict",))
        out[409] = problem(409, "The state does not allow this.", codes)
    if idempotent:
        out[422] = problem(422)
    out[429] = problem(429)
    return out


IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=False,
    type=str,
    description=(
        "1 to 255 visible ASCII characters, per user. A repeat with the same method, path and body within "
        "24 h replays the first response (header `Idempotent-Replayed: true`) and executes nothing; the same "
        "key with another request is 422; a repeat while the first is running is 409 `idempotency_in_flight`. "
        "400s, 409 `conflict` and 5xx are not stored, so a retry executes afresh."
    ),
)

__all__ = ["IDEMPOTENCY_KEY", "OpenApiExample", "Problem", "errors", "problem"]


class AutoSchema(openapi.AutoSchema):
    """Operations are described by their extend_schema text only: class docstrings are for developers."""

    def get_description(self) -> str:
        return ""
