"""One access-log line per request, written by the app so it exists under any server.

Logged (logger `lenme.access`): the request id, method, path, status, user id and duration. Never the
query string, headers or body, so no token, password, secret or Idempotency-Key value can leak.
"""

import logging
import re
import time
import uuid
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse

log = logging.getLogger("lenme.access")

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy or client may hand us as a request id: short, and nothing that could forge a log line.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")
_SANE_METHOD = re.compile(r"[A-Z]{1,16}")
_MAX_PATH = 512


def request_id_for(request: HttpRequest) -> str:
    """The caller's X-Request-ID when it is sane, else a fresh one."""
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    if _SANE_REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def _user_id(request: HttpRequest) -> str:
    user = getattr(request, "user", None)  # DRF sets the token's user here too
    if user is not None and user.is_authenticated:
        return str(user.pk)
    return "-"


class AccessLogMiddleware:
    """Outermost middleware: it times everything the app does and sees every response, errors included."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request.request_id = request_id_for(request)
        response = self.get_response(request)
        duration_ms = (time.perf_counter() - started) * 1000
        response[REQUEST_ID_HEADER] = request.request_id
        if log.isEnabledFor(logging.INFO):
            method = request.method if _SANE_METHOD.fullmatch(request.method or "") else "-"
            # Percent-encoded again, so a decoded newline or control character cannot forge a line.
            path = quote(request.path[:_MAX_PATH], safe="/:@!$&'()*+,;=-._~")
            log.info(
                "request_id=%s method=%s path=%s status=%d user=%s duration_ms=%.1f",
                request.request_id,
                method,
                path,
                response.status_code,
                _user_id(request),
                duration_ms,
            )
        return response
