"""Rate limits, read from settings per request so an empty THROTTLE_*_RATE disables them.

Counts live in the default cache: shared by every worker when CACHE_URL points at Redis. A cache
outage must not take the service down: a throttle that cannot reach its cache allows the request and
logs a warning (availability over rate limiting; money rules never depend on it).

The client address is the connection's (REMOTE_ADDR) unless NUM_PROXIES says how many proxies in
front append to X-Forwarded-For; a client-supplied X-Forwarded-For is otherwise ignored.
"""

import hashlib
import logging
import unicodedata

from django.conf import settings
from rest_framework import exceptions, throttling

logger = logging.getLogger(__name__)


def client_address(request) -> str:
    """The address NUM_PROXIES trusted proxies saw the client at (DRF's rule, read per request)."""
    remote_addr = request.META.get("REMOTE_ADDR", "")
    num_proxies = settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if num_proxies <= 0 or not forwarded:
        return remote_addr
    addresses = [a.strip() for a in forwarded.split(",")]
    return addresses[-min(num_proxies, len(addresses))] or remote_addr


class SafeThrottleMixin:
    """Trusted client address, and "allow and log" when the cache is down (never a 500)."""

    def get_ident(self, request) -> str:
        return client_address(request)

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception:
            logger.warning("throttle %s: cache unavailable, request allowed", type(self).__name__, exc_info=True)
            return True


class UserRateThrottle(SafeThrottleMixin, throttling.UserRateThrottle):
    def get_rate(self) -> str | None:
        return settings.THROTTLE_USER_RATE or None


class AnonRateThrottle(SafeThrottleMixin, throttling.AnonRateThrottle):
    def get_rate(self) -> str | None:
        return settings.THROTTLE_ANON_RATE or None


class LoginAddressThrottle(SafeThrottleMixin, throttling.SimpleRateThrottle):
    """Sign-in attempts (token, password change) per client address."""

    scope = "login-address"

    def get_rate(self) -> str | None:
        return settings.THROTTLE_LOGIN_RATE or None

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(SafeThrottleMixin, throttling.SimpleRateThrottle):
    """Sign-in attempts per username (case-insensitive, as usernames are unique), from any address."""

    scope = "login-username"

    def __init__(self, username: str):
        folded = unicodedata.normalize("NFKC", username).casefold().encode("utf-8", errors="surrogatepass")
        self.ident = hashlib.sha256(folded).hexdigest()
        super().__init__()

    def get_rate(self) -> str | None:
        return settings.THROTTLE_LOGIN_RATE or None

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.ident}


def login_attempt(request, username: str) -> None:
    """Count one sign-in attempt for username; 429 `throttled` once over THROTTLE_LOGIN_RATE."""
    throttle = LoginUsernameThrottle(username)
    if not throttle.allow_request(request, None):
        raise exceptions.Throttled(wait=throttle.wait())
