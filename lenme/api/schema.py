"""OpenAPI pieces shared by every view: the problem+json error shape and its responses."""

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from lenme.api.errors import PROBLEM_CONTENT_TYPE

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
        "type": serializers.CharField(help_text="A URI; `about:blank`."),
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
    """The error responses of an endpoint (problem+json), in the contract's precedence order."""
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
    return {(status, PROBLEM_CONTENT_TYPE): response for status, response in out.items()}


IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=False,
    type=str,
    description=(
        "1 to 255 visible ASCII characters, per user. A repeat with the same method, path and body within "
        "24 h replays the first response (header `Idempotent-Replayed: true`) and executes nothing; the same "
        "key with another request is 422; a repeat while the first is running is 409 `idempotency_in_flight` "
        "whatever its body (once the first has finished, another body is 422). 400s, 409 `conflict` and 5xx are "
        "not stored, so a retry executes afresh; a key whose first request died is free again on PostgreSQL as soon "
        "as the database notices (its claim dies with its transaction), after 60 s at most."
    ),
)

__all__ = ["IDEMPOTENCY_KEY", "OpenApiExample", "Problem", "errors", "problem"]


class TokenSchemeExtension(OpenApiAuthenticationExtension):
    """`Authorization: Token <key>`; the service stores only a digest of each key."""

    target_class = "lenme.api.authentication.TokenAuthentication"
    name = "tokenAuth"
    priority = 1

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Token <key>`, the 40 hex digits answered by register, token or password (prefix `Token`). "
                "Only a SHA-256 digest of each key is stored, so a lost key cannot be shown again: sign in "
                "for a new one. `POST /api/auth/logout/` revokes the key sent; a password change revokes "
                "every earlier key."
            ),
        }


class DecimalAmountFieldExtension(OpenApiSerializerFieldExtension):
    """Money and rates: answered as strings with exactly two decimals; accepted as such a string or a
    plain number, with at most two decimals as written."""

    target_class = "lenme.api.fields.DecimalAmountField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        from lenme.api.fields import RateField

        is_rate = isinstance(self.target, RateField)
        example = "15.00" if is_rate else "5000.00"
        what = "Annual percent, 0.00 to 100.00." if is_rate else "Money."
        if direction == "response":
            return {
                "type": "string",
                "format": "decimal",
                "pattern": r"^\d+\.\d{2}$",
                "example": example,
                "description": what,
            }
        return {
            "oneOf": [
                {"type": "string", "pattern": r"^\d+(\.\d{1,2})?$", "example": example},
                {"type": "number", "multipleOf": 0.01, "example": float(example)},
            ],
            "description": f"{what} A string in plain decimal notation or a JSON number, at most two decimals as written; no exponent.",
        }


class AutoSchema(openapi.AutoSchema):
    """Operations are described by their extend_schema text only: class docstrings are for developers."""

    def get_description(self) -> str:
        return ""

    def _is_list_view(self, serializer=None) -> bool:
        # Decide on the success response: the (status, problem+json) error keys would sort first.
        if serializer is None:
            serializer = self.get_response_serializers()
        if isinstance(serializer, dict):
            serializer = {k: v for k, v in serializer.items() if not isinstance(k, tuple)} or serializer
        return super()._is_list_view(serializer)


def postprocess(result: dict, generator, request, public) -> dict:
    """Declare what the decorators cannot: the replay and rate-limit headers, and page_size's bounds."""
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            idempotent = any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", []))
            for status, response in operation.get("responses", {}).items():
                if idempotent and status.startswith("2"):
                    response.setdefault("headers", {})["Idempotent-Replayed"] = {
                        "schema": {"type": "string", "enum": ["true"]},
                        "description": "Present when this is the stored response of an earlier request with the same key.",
                    }
                if status == "429":
                    response.setdefault("headers", {})["Retry-After"] = {
                        "schema": {"type": "integer"},
                        "description": "Seconds to wait before retrying.",
                    }
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "page_size" and parameter.get("in") == "query":
                    parameter["schema"] = {"type": "integer", "minimum": 1, "default": 50, "maximum": 200}
                    parameter["description"] = "Results per page: default 50; above 200 is 400 `validation_error`."
    return result
