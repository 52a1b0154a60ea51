"""The README's receiver example, extracted and run against a real signed delivery; and the new
settings are documented in `.env.example` and the README's table."""

import re
import time
from pathlib import Path

import pytest

from tests.conftest import client_for
from tests.webhooks.conftest import create_endpoint
from webhooks import delivery

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SETTINGS = [
    "LENME_WEBHOOK_ALLOW_PRIVATE",
    "LENME_WEBHOOK_TIMEOUT",
    "LENME_WEBHOOK_BACKOFF",
    "LENME_WEBHOOK_MAX_ATTEMPTS",
    "LENME_WEBHOOK_WORKERS",
]


def readme_verify():
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- webhook-verify:start -->\s*```python\n(.*?)```\s*<!-- webhook-verify:end -->", readme, re.S
    ).group(1)
    assert len([line for line in block.splitlines() if line.strip()]) <= 10, "the README promises ten lines"
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace["verify"]


@pytest.mark.django_db
def test_the_readme_example_verifies_a_real_delivery(borrower, receiver):
    verify = readme_verify()
    endpoint = create_endpoint(borrower, receiver.url)
    client_for(borrower).post(f"/api/webhooks/{endpoint['id']}/test/")
    delivery.deliver_due()
    (request,) = receiver.requests
    header = request.headers["Lenme-Signature"]

    assert verify(endpoint["secret"], header, request.body) is True
    assert verify(endpoint["secret"], header, request.body + b" ") is False  # tampered body
    assert verify("whsec_" + "A" * 43, header, request.body) is False  # another secret
    assert verify(endpoint["secret"], header, request.body, tolerance=-1) is False  # too old
    stale = f"t={int(time.time()) - 301},{header.split(',')[1]}"
    assert verify(endpoint["secret"], stale, request.body) is False
    assert verify(endpoint["secret"], "garbage", request.body) is False


def test_every_webhook_setting_is_in_env_example_and_the_readme_table():
    env_example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    settings_py = (ROOT / "lenme" / "settings.py").read_text()
    assert sorted(set(re.findall(r'"(LENME_WEBHOOK_[A-Z_]+)"', settings_py))) == sorted(WEBHOOK_SETTINGS)
    for name in WEBHOOK_SETTINGS:
        assert re.search(rf"^{name}=", env_example, re.M), name
        assert f"| `{name}` |" in readme, name
