"""Settings come from the environment: production (DEBUG off) refuses to start without a SECRET_KEY."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import django; django.setup(); from django.conf import settings; "
    "print('DEBUG', settings.DEBUG, 'KEY', settings.SECRET_KEY, 'HOSTS', ','.join(settings.ALLOWED_HOSTS))"
)


def start(**env: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with these variables (they win over any .env file)."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "lenme.settings", **env}
    return subprocess.run(  # noqa: S603 - our own interpreter and a fixed probe
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_production_without_secret_key_refuses_to_start():
    result = start(DEBUG="0", SECRET_KEY="")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_production_with_secret_key_starts():
    result = start(DEBUG="0", SECRET_KEY="a-real-secret-from-the-environment", DJANGO_ALLOWED_HOSTS="api.example.com")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "DEBUG",
        "False",
        "KEY",
        "a-real-secret-from-the-environment",
        "HOSTS",
        "api.example.com",
    ]


def test_development_without_secret_key_uses_an_insecure_local_key():
    result = start(DEBUG="1", SECRET_KEY="")

    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    assert words[:2] == ["DEBUG", "True"]
    assert words[3].startswith("insecure-")
