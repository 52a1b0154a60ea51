"""Settings come from the environment: production (DEBUG off) refuses to start without a SECRET_KEY."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_production_defaults_keep_database_connections_open_and_check_them():
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "d = settings.DATABASES['default']; print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lenme.settings",
        "DEBUG": "0",
        "SECRET_KEY": "a-real-secret",
        "CONN_MAX_AGE": "",  # unset (an empty value wins over .env, as unset would without one)
        "CONN_HEALTH_CHECKS": "",
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed probe
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["60", "True"]


@pytest.mark.parametrize(("value", "expected"), [("", "True 1"), ("1", "True 1"), ("0", "None None")])
def test_postgresql_binds_on_the_server_and_prepares_statements_unless_turned_off(value, expected):
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "o = settings.DATABASES['default'].get('OPTIONS', {}); "
        "print(o.get('server_side_binding'), o.get('prepare_threshold'))"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lenme.settings",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",  # read, never connected to
        "DB_PREPARED_STATEMENTS": value,
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed probe
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_prepared_statements_keep_the_options_given_in_database_url():
    """dj_database_url puts the URL's query (sslmode, options=-c statement_timeout=..., application_name)
    in OPTIONS; settings.py replaced that dict, so `?sslmode=verify-full` was silently dropped (libpq
    falls back to `prefer`) and a statement_timeout given there no longer applied (checked over HTTP:
    a request blocked on a row lock hung instead of answering 409 `conflict` after 300 ms)."""
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "o = settings.DATABASES['default']['OPTIONS']; "
        "print(o.get('sslmode'), o.get('options'), o.get('server_side_binding'), o.get('prepare_threshold'))"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lenme.settings",
        "DATABASE_URL": "postgres://u@db.example.com:5432/unused?sslmode=verify-full&options=-c%20statement_timeout%3D5000",
        "DB_PREPARED_STATEMENTS": "1",
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed probe
        [sys.executable, "-c", probe], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "verify-full -c statement_timeout=5000 True 1"


def test_gunicorn_config_defaults_and_environment(monkeypatch):
    import runpy

    for name in (
        "GUNICORN_WORKERS", "GUNICORN_WORKER_CLASS", "GUNICORN_THREADS", "GUNICORN_TIMEOUT", "GUNICORN_BIND",
        "GUNICORN_CONTROL_SOCKET",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (config["workers"], config["worker_class"], config["timeout"], config["accesslog"]) == (
        4,
        "gthread",
        30,
        None,
    )
    assert config["wsgi_app"] == "lenme.wsgi:application"
    assert config["control_socket_disable"] is True and "control_socket" not in config

    monkeypatch.setenv("GUNICORN_CONTROL_SOCKET", "/tmp/lenme-test.ctl")
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (config["control_socket"], config["control_socket_disable"]) == ("/tmp/lenme-test.ctl", False)
    monkeypatch.delenv("GUNICORN_CONTROL_SOCKET")

    monkeypatch.setenv("GUNICORN_WORKERS", "9")
    monkeypatch.setenv("GUNICORN_TIMEOUT", "5")
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (config["workers"], config["timeout"]) == (9, 5)
