"""A JSON parser that keeps numbers exact: fractions become Decimal, never float."""

import json
from decimal import Decimal, InvalidOperation

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class ExponentNumber(Decimal):
    """A JSON number written with an exponent (1e3); money and integer fields reject it."""


def _parse_float(text: str) -> Decimal:
    try:
        return ExponentNumber(text) if "e" in text.lower() else Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the JSON grammar already guarantees a number
        raise ParseError("Invalid number.") from exc


def _reject_constant(name: str) -> None:
    raise ParseError(f"{name} is not valid JSON.")


MAX_DEPTH = 32  # no request of this API nests beyond 2; deeper bodies are hostile


def _depth_exceeds(data: object, limit: int) -> bool:
    """Whether containers nest deeper than limit (iterative: no recursion limit to hit)."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        try:
            raw = stream.read() if stream is not None else b""
            if not raw.strip():
                return {}
            data = json.loads(raw.decode(encoding), parse_float=_parse_float, parse_constant=_reject_constant)
        except RecursionError as exc:  # hostile nesting ([[[[...) must be a 400, not a 500
            raise ParseError("JSON parse error - nested too deeply.") from exc
        except (ValueError, UnicodeDecodeError, LookupError) as exc:  # LookupError: charset=base64
            raise ParseError(f"JSON parse error - {exc}") from exc
        if _depth_exceeds(data, MAX_DEPTH):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels.")
        return data
