"""Django's session, authentication and messages middleware, skipped for cookie-less calls to the API.

They serve the admin and the docs pages. A call to the JSON API under /api/ authenticates with its
token (DRF sets request.user), reads and writes no session and stores no message: without a cookie
to read, these three layers only build objects nobody uses and hand the response back untouched, a
twentieth of a deposit's CPU. A request that carries a cookie, the docs and schema pages (templates;
Swagger's carries a CSRF token) and every other path go through them as before. CSRF stays for
every request (its view check is not skipped: a view under /api/ that is not csrf_exempt would
still be checked, and fail without a cookie, exactly as before).
"""

from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest

API_PREFIX = "/api/"
# Under the API prefix but rendered for a browser: always the full stack.
API_PAGES = ("/api/docs/", "/api/redoc/", "/api/schema/")


def is_api_call(request: HttpRequest) -> bool:
    """A request to the JSON API that carries no cookie (an empty Cookie header is none)."""
    path = request.path_info
    return path.startswith(API_PREFIX) and not path.startswith(API_PAGES) and not request.META.get("HTTP_COOKIE")


class _BrowserOnly:
    def __call__(self, request: HttpRequest):
        if is_api_call(request):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(_BrowserOnly, sessions.SessionMiddleware):
    pass


class AuthenticationMiddleware(_BrowserOnly, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(_BrowserOnly, messages.MessageMiddleware):
    pass
