"""Refuse, before anything decodes it, a request whose Content-Type charset is no text encoding.

`application/json; charset=base64` (or rot13, hex, zlib, an unknown name) made Django and DRF raise
LookupError while decoding the body or the query string: a 500 on every POST, register and token
included. Such a request is a 400 `parse_error` (problem+json): its body cannot be read.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse

from lenme.api.errors import PROBLEM_CONTENT_TYPE, problem


def _is_text_encoding(name: str) -> bool:
    try:  # not b"": decoding empty bytes skips the codec lookup
        b" ".decode(name)  # LookupError for unknown names and for bytes-to-bytes codecs (base64, zlib, ...)
    except LookupError:
        return False
    except ValueError:
        pass  # a text encoding that cannot decode a lone space (utf-16): the parser's 400 handles it
    return True


class RejectUndecodableCharsetMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        charset = request.content_params.get("charset") if request.content_params else None
        if charset is not None and not _is_text_encoding(charset):
            detail = f"The request's charset {charset[:40]!r} is not a text encoding this service can decode."
            body = problem(400, "parse_error", "Malformed request body", detail)
            body["errors"] = [{"field": None, "code": "parse_error", "detail": detail}]
            return JsonResponse(body, status=400, content_type=PROBLEM_CONTENT_TYPE)
        return self.get_response(request)
