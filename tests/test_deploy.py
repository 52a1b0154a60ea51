"""`manage.py check --deploy` is clean with production settings from the environment, and development
(DEBUG=1 over plain http, as `make run` serves) is not redirected to HTTPS."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "kq8#Zr2-vN0pW!x7Lb4@tY6eHs1%uJ9cMf3^dG5&aQ0*iRnB-7hTz",
    "DJANGO_ALLOWED_HOSTS": "api.example.com",
    "CACHE_URL": "redis://127.0.0.1:6379/0",
}
PROBE = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
    "s.SECURE_PROXY_SSL_HEADER)"
)


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    """A fresh interpreter with these variables (they win over any .env file)."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "lenme.settings", **env}
    for name in ("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE"):
        environment.setdefault(name, "")
    return subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_env():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr and "no issues" in result.stdout, result.stdout + result.stderr


def test_check_deploy_warns_when_throttle_counts_would_be_per_process():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **{**PRODUCTION, "CACHE_URL": ""})

    assert result.returncode != 0
    assert "CACHE_URL" in result.stderr


def test_production_defaults_are_https_and_no_proxy_header_is_trusted():
    result = run(["-c", PROBE], **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True", "31536000", "None"]


def test_the_proxy_header_is_trusted_only_when_configured():
    result = run(["-c", PROBE], **PRODUCTION, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto,https")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("('HTTP_X_FORWARDED_PROTO', 'https')")


def test_development_is_served_over_plain_http():
    result = run(["-c", PROBE], DEBUG="1", SECRET_KEY="")

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "False", "0", "None"]


def test_a_request_in_development_is_not_redirected(client):
    response = client.get("/api/loans/quote/?amount=100.00&term_months=1&interest_rate=0")

    assert response.status_code == 200
