"""Rate limits read from settings per request, so an empty THROTTLE_*_RATE disables them."""

from django.conf import settings
from rest_framework import throttling


class UserRateThrottle(throttling.UserRateThrottle):
    def get_rate(self) -> str | None:
        return settings.THROTTLE_USER_RATE or None


class AnonRateThrottle(throttling.AnonRateThrottle):
    def get_rate(self) -> str | None:
        return settings.THROTTLE_ANON_RATE or None
