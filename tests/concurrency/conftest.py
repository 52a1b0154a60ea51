"""Real races over HTTP: a threaded live server, one plain HTTP connection per request (no new
dependency), threads started together behind a barrier, and every response recorded so the suite can
print its figures and prove that nothing answered 5xx."""

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.client import HTTPConnection
from urllib.parse import urlsplit

import pytest
from django.db import connection

from accounts.audit import audit
from accounts.services import platform_user
from tests import factories

# Figures of the whole suite, printed at the end of the run.
FIGURES: Counter = Counter()
_FIGURES_LOCK = threading.Lock()


@dataclass
class Reply:
    method: str
    path: str
    status: int
    body: object
    headers: dict[str, str]
    raw: bytes

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) and self.status >= 400 else None

    @property
    def outcome(self) -> str:
        return f"{self.status} {self.code}" if self.code else str(self.status)


@dataclass
class Recorder:
    """Every reply of a test, thread-safe; fails the test on any 5xx."""

    replies: list[Reply] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, reply: Reply) -> None:
        with self.lock:
            self.replies.append(reply)
        with _FIGURES_LOCK:
            FIGURES["requests"] += 1
            if reply.status >= 400:
                FIGURES[f"{reply.status} {reply.code}"] += 1
            if reply.status >= 500:
                FIGURES["5xx"] += 1

    def outcomes(self) -> Counter:
        with self.lock:
            return Counter(r.outcome for r in self.replies)

    def server_errors(self) -> list[Reply]:
        with self.lock:
            return [r for r in self.replies if r.status >= 500]


class Api:
    """A tiny HTTP client for one user against the live server; one connection per request."""

    def __init__(self, base_url: str, recorder: Recorder, token: str | None = None):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.recorder = recorder
        self.token = token

    def connect(self) -> HTTPConnection:
        conn = HTTPConnection(self.host, self.port, timeout=60)
        conn.connect()
        return conn

    def send(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        key: str | None = None,
        conn: HTTPConnection | None = None,
    ) -> Reply:
        conn = conn or self.connect()
        headers = {"Connection": "close", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if key is not None:
            headers["Idempotency-Key"] = key
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            reply_headers = {k.lower(): v for k, v in response.getheaders()}
            status = response.status
        finally:
            conn.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        reply = Reply(method, path, status, parsed, reply_headers, raw)
        self.recorder.add(reply)
        return reply

    def get(self, path: str, **kwargs) -> Reply:
        return self.send("GET", path, **kwargs)

    def post(self, path: str, body: object = None, **kwargs) -> Reply:
        return self.send("POST", path, body, **kwargs)


def race(*calls: Callable[..., Reply], connect: Callable[[], HTTPConnection] | None = None) -> list[Reply]:
    """Run the calls in threads that start together behind a barrier; return their replies in order.

    Each call receives a connection already open to the server, so the requests leave at the same
    instant instead of queueing behind TCP handshakes. Threads close their own DB connection.
    """
    barrier = threading.Barrier(len(calls))
    results: list[Reply | BaseException | None] = [None] * len(calls)

    def run(index: int, call: Callable[..., Reply]) -> None:
        try:
            conn = connect() if connect else None
            barrier.wait(timeout=30)
            results[index] = call(conn) if conn is not None else call()
        except BaseException as exc:  # reported in the main thread
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


@dataclass
class Harness:
    base_url: str
    recorder: Recorder

    def api(self, user=None) -> Api:
        return Api(self.base_url, self.recorder, factories.token_for(user) if user is not None else None)

    def user(self, username: str, balance: Decimal | str | None = None):
        return factories.UserFactory(username=username, balance=Decimal(balance) if balance else None)

    def race(self, *pairs: tuple[Api, str, str, object]) -> list[Reply]:
        """race() over (api, method, path, body) tuples."""
        calls = [
            (lambda conn, a=api, m=method, p=path, b=body: a.send(m, p, b, conn=conn))
            for api, method, path, body in pairs
        ]
        return race(*calls, connect=pairs[0][0].connect)


@pytest.fixture
def harness(live_server, settings):
    """The live server with the platform account present (a transactional flush removes it)."""
    settings.LENME_DB_RETRIES = 8
    platform_user()
    recorder = Recorder()
    yield Harness(live_server.url, recorder)
    assert recorder.server_errors() == [], [(r.method, r.path, r.status, r.raw[:300]) for r in recorder.server_errors()]


def assert_audit_clean() -> int:
    """Run the ledger audit; fail listing the violations. Returns how many things were checked."""
    report = audit()
    assert report.ok, "\n".join(str(v) for v in report.violations[:20])
    with _FIGURES_LOCK:
        FIGURES["audits"] += 1
        FIGURES["invariant checks"] += sum(r.checked for r in report.results)
    return sum(r.checked for r in report.results)


def show(capsys, title: str, figures: dict) -> None:
    """Print figures to the real terminal, so they show in CI logs without -s."""
    with capsys.disabled():
        print(f"\n[concurrency] {title}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.write_sep("-", "concurrency suite figures")
        for name, count in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{name:>40}: {count}")


class Stopwatch:
    def __init__(self):
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 2)
