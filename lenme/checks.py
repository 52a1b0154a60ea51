"""Deployment checks of our own (`manage.py check --deploy`): throttle counts must be shared."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

PER_PROCESS_CACHES = {"django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache"}


@register(Tags.security, deploy=True)
def check_shared_throttle_cache(app_configs=None, **kwargs) -> list[Warning]:
    if settings.CACHES["default"]["BACKEND"] in PER_PROCESS_CACHES:
        return [
            Warning(
                "CACHE_URL is unset: rate limits (sign-in included) are counted per process, so N workers "
                "allow N times the limit.",
                hint="Set CACHE_URL to a Redis shared by every worker, e.g. redis://127.0.0.1:6379/1.",
                id="lenme.W001",
            )
        ]
    return []
