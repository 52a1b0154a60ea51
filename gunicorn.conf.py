"""gunicorn settings, read automatically when gunicorn starts in the repo root (`gunicorn lenme.wsgi`).

Every value comes from the environment with a production default; command-line flags still win.
"""

import os
from pathlib import Path

from dotenv import load_dotenv

load_dotenv(Path(__file__).resolve().parent / ".env")  # as lenme.settings does: the environment wins


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


wsgi_app = "lenme.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "").strip() or "0.0.0.0:8000"
workers = _int("GUNICORN_WORKERS", 4)
# gthread keeps client connections alive between requests (sync closes each one) and lets a worker
# run Python while another thread waits on the database; each thread holds its own persistent
# database connection (CONN_MAX_AGE). Compare with BENCH_WORKER_CLASS=sync make bench.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "").strip() or "gthread"
threads = _int("GUNICORN_THREADS", 2)
timeout = _int("GUNICORN_TIMEOUT", 30)  # a worker silent this long is killed and restarted
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)  # in-flight requests finish on restart
keepalive = _int("GUNICORN_KEEPALIVE", 5)  # seconds an idle client connection stays open
# gunicorn 27's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), which every
# instance on the machine would share (the last one started takes it over): off unless given a path.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip() or None
control_socket_disable = control_socket is None
if control_socket is None:
    del control_socket
# The app logs every request itself (lenme.access); gunicorn's own access log would repeat it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "").strip().lower() or "info"
