"""A real HTTP receiver on 127.0.0.1 (a threaded http.server) and helpers for webhook tests."""

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import client_for


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers each POST with the next planned (status, delay, headers, body) for its path (any path
    when planned without one), then its route's answer, then `default`."""

    url: str
    port: int
    requests: list[Received] = field(default_factory=list)
    plan: list[tuple] = field(default_factory=list)
    plans: dict[str, list[tuple]] = field(default_factory=dict)
    routes: dict[str, tuple] = field(default_factory=dict)
    default: tuple = (200, 0.0, {}, b"ok")
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *responses, path: str | None = None) -> None:
        planned = [r if isinstance(r, tuple) else (r, 0.0, {}, b"") for r in responses]
        (self.plan if path is None else self.plans.setdefault(path, [])).extend(planned)

    def next_answer(self, path: str) -> tuple:
        if self.plans.get(path):
            return self.plans[path].pop(0)
        if self.plan:
            return self.plan.pop(0)
        return self.routes.get(path, self.default)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requests

    def event_ids(self) -> list[str]:
        return [r.headers["Lenme-Event-Id"] for r in self.requests]


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with receiver.lock:
                receiver.requests.append(Received(self.path, dict(self.headers), body, time.monotonic()))
                status, delay, headers, payload = receiver.next_answer(self.path)
            time.sleep(delay)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (a timeout test)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def receiver(settings):
    settings.LENME_WEBHOOK_ALLOW_PRIVATE = True
    holder = Receiver(url="", port=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    server.daemon_threads = True
    holder.port = server.server_address[1]
    holder.url = f"http://127.0.0.1:{holder.port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder
    server.shutdown()
    server.server_close()


def create_endpoint(user, url: str, **extra) -> dict:
    response = client_for(user).post("/api/webhooks/", {"url": url, **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def use_broker(settings, monkeypatch):
    """Make this process publish to `url`, as a web process with CELERY_BROKER_URL does; the Celery
    app's cached broker connection pools are reset before and after, so tests cannot leak them."""
    from lenme.celery import app

    def reset_pools():
        app._pool = None
        app.amqp._producer_pool = None

    def use(url: str) -> str:
        settings.CELERY_BROKER_URL = url
        monkeypatch.setitem(app.conf, "broker_url", url)
        monkeypatch.setitem(app.conf, "task_always_eager", False)
        reset_pools()
        return url

    yield use
    reset_pools()
