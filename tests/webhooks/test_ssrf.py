"""The SSRF guard: hosts that are or resolve to non-public addresses are refused at creation and again
at delivery, and a delivery connects to the address it vetted (DNS resolution mocked)."""

import ipaddress
import socket

import pytest

from tests.accounts.api_helpers import assert_problem
from tests.conftest import client_for
from tests.webhooks.conftest import create_endpoint
from webhooks import delivery
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db

NON_PUBLIC = [
    "127.0.0.1",  # loopback
    "127.8.9.10",
    "10.1.2.3",  # private
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # shared address space (carrier NAT)
    "169.254.169.254",  # link-local (cloud metadata)
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "0.0.0.0",  # noqa: S104 - unspecified
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "2001:db8::1",  # documentation
    "fec0::1",  # site-local
]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def fake_dns(monkeypatch, table: dict[str, list[str]]) -> list[str]:
    """Resolve the names of `table` to its addresses; records every lookup."""
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        lookups.append(host)
        addresses = table.get(host) or ([host] if _is_ip(host) else None)  # a numeric host needs no DNS
        if addresses is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_an_address_literal_that_is_not_public_is_refused(borrower, address, monkeypatch):
    fake_dns(monkeypatch, {address: [address]})
    host = f"[{address}]" if ":" in address else address
    response = client_for(borrower).post("/api/webhooks/", {"url": f"https://{host}/hook"}, format="json")
    assert_problem(response, 400, "validation_error", field="url")
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_a_name_resolving_to_a_non_public_address_is_refused(borrower, address, monkeypatch):
    fake_dns(monkeypatch, {"evil.example.com": [address]})
    response = client_for(borrower).post("/api/webhooks/", {"url": "https://evil.example.com/x"}, format="json")
    body = assert_problem(response, 400, "validation_error", field="url")
    assert "non-public" in body["errors"][0]["detail"]


def test_one_bad_address_among_good_ones_refuses_the_name(borrower, monkeypatch):
    fake_dns(monkeypatch, {"mixed.example.com": ["93.184.216.34", "10.0.0.5"]})
    response = client_for(borrower).post("/api/webhooks/", {"url": "https://mixed.example.com/"}, format="json")
    assert_problem(response, 400, "validation_error", field="url")


def test_a_name_that_does_not_resolve_is_refused(borrower, monkeypatch):
    fake_dns(monkeypatch, {})
    response = client_for(borrower).post("/api/webhooks/", {"url": "https://nowhere.invalid/"}, format="json")
    assert_problem(response, 400, "validation_error", field="url")


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_accepted(borrower, address, monkeypatch):
    fake_dns(monkeypatch, {"hooks.example.com": [address]})
    assert create_endpoint(borrower, "https://hooks.example.com/x")["enabled"] is True


def test_allow_private_accepts_private_hosts(borrower, monkeypatch, settings):
    settings.LENME_WEBHOOK_ALLOW_PRIVATE = True
    fake_dns(monkeypatch, {"intranet.local": ["10.0.0.5"]})
    assert create_endpoint(borrower, "http://intranet.local/x")["url"] == "http://intranet.local/x"


def test_dns_rebinding_is_refused_at_delivery(borrower, receiver, monkeypatch, settings):
    """Public when created, loopback when delivered: nothing is sent, the attempt says why."""
    settings.LENME_WEBHOOK_ALLOW_PRIVATE = False
    fake_dns(monkeypatch, {"rebind.example.com": ["93.184.216.34"]})
    endpoint = create_endpoint(borrower, f"https://rebind.example.com:{receiver.port}/hook")
    client_for(borrower).post(f"/api/webhooks/{endpoint['id']}/test/")
    fake_dns(monkeypatch, {"rebind.example.com": ["127.0.0.1"]})
    delivery.deliver_due()
    assert receiver.requests == []
    attempt = WebhookDelivery.objects.get()
    assert not attempt.ok and attempt.status_code is None and "non-public" in attempt.error


def test_delivery_connects_to_the_vetted_address_with_the_original_host(borrower, receiver, monkeypatch):
    """The name is resolved once per attempt, by the guard, and the connection goes to that address."""
    lookups = fake_dns(monkeypatch, {"hooks.test": ["127.0.0.1"]})
    endpoint = create_endpoint(borrower, f"http://hooks.test:{receiver.port}/hook?x=1")
    lookups.clear()
    client_for(borrower).post(f"/api/webhooks/{endpoint['id']}/test/")
    delivery.deliver_due()
    (request,) = receiver.requests
    assert request.headers["Host"] == f"hooks.test:{receiver.port}" and request.path == "/hook?x=1"
    assert lookups == ["hooks.test", "127.0.0.1"]  # resolved by the guard; then connected to its answer
