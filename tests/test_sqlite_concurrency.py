"""On the embedded SQLite default, concurrent money requests queue for the write lock instead of
failing: a real threaded server on a SQLite file, many requests at once, no 5xx, exact balances."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(base: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        base + path, method=method, data=json.dumps(body).encode() if body is not None else None
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def sqlite_server(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DEBUG": "1",
        "THROTTLE_USER_RATE": "",
        "THROTTLE_ANON_RATE": "",
        "THROTTLE_LOGIN_RATE": "",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],  # threaded
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/api/loans/quote/?amount=100&term_months=1&interest_rate=0", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    yield base
    server.terminate()
    server.communicate(timeout=20)


def test_concurrent_money_requests_on_sqlite_queue_and_never_fail(sqlite_server):
    base = sqlite_server
    tokens = {}
    for name in ("borrower", *[f"lender{i}" for i in range(8)]):
        status, body = _call(
            base, "POST", "/api/auth/register/", {"username": name, "password": "correct-horse-battery"}
        )
        assert status == 201, body
        tokens[name] = body["token"]
    status, loan = _call(base, "POST", "/api/loans/", {"amount": "1000.00", "term_months": 4}, tokens["borrower"])
    assert status == 201

    results: list[tuple[str, int]] = []
    barrier = threading.Barrier(16)

    def lender_steps(name: str) -> None:
        barrier.wait()
        results.append(
            ("lender deposit", _call(base, "POST", "/api/accounts/deposit/", {"amount": "1003.75"}, tokens[name])[0])
        )
        barrier.wait()
        offer = _call(base, "POST", f"/api/loans/{loan['id']}/offers/", {"interest_rate": "5.00"}, tokens[name])
        results.append(("offer", offer[0]))

    def borrower_steps() -> None:
        barrier.wait()
        results.append(
            ("deposit", _call(base, "POST", "/api/accounts/deposit/", {"amount": "1.00"}, tokens["borrower"])[0])
        )
        barrier.wait()
        results.append(
            ("withdraw", _call(base, "POST", "/api/accounts/withdraw/", {"amount": "1.00"}, tokens["borrower"])[0])
        )

    threads = [threading.Thread(target=lender_steps, args=(f"lender{i}",)) for i in range(8)]
    threads += [threading.Thread(target=borrower_steps) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(results) == 32 and all(status < 500 for _, status in results), results
    by_kind = {kind: sorted(status for k, status in results if k == kind) for kind, _ in results}
    assert by_kind == {"lender deposit": [200] * 8, "offer": [201] * 8, "deposit": [200] * 8, "withdraw": [200] * 8}
    for i in range(8):
        me = _call(base, "GET", "/api/accounts/me/", token=tokens[f"lender{i}"])[1]
        assert (me["balance"], me["reserved_balance"]) == ("1003.75", "1003.75")
    borrower = _call(base, "GET", "/api/accounts/me/", token=tokens["borrower"])[1]
    assert borrower["balance"] == "0.00"
    status, loan = _call(base, "GET", f"/api/loans/{loan['id']}/", token=tokens["borrower"])
    assert loan["status"] == "OFFERED"
