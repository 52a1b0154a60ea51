"""HTTPS delivery connects to the vetted address and still verifies the certificate for the URL's host
name (SNI): a real TLS receiver on 127.0.0.1 with a certificate made for the test."""

import shutil
import socket
import ssl
import subprocess
import threading
from http.server import ThreadingHTTPServer

import pytest

from tests.conftest import client_for
from tests.webhooks.conftest import Receiver, _handler, create_endpoint
from webhooks import delivery
from webhooks.models import WebhookDelivery

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
]


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch, settings):
    settings.LENME_WEBHOOK_ALLOW_PRIVATE = True
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hooks.test",
         "-addext", "subjectAltName=DNS:hooks.test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    holder = Receiver(url="", port=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    holder.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()

    trusting = ssl.create_default_context(cafile=str(cert))  # the test's certificate is the only trusted one
    monkeypatch.setattr(delivery.ssl, "create_default_context", lambda: trusting)
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host in {"hooks.test", "impostor.test"}:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    yield holder
    server.shutdown()
    server.server_close()


def test_https_delivery_reaches_the_pinned_address_with_the_hosts_certificate(borrower, tls_receiver):
    endpoint = create_endpoint(borrower, f"https://hooks.test:{tls_receiver.port}/tls")
    client_for(borrower).post(f"/api/webhooks/{endpoint['id']}/test/")
    delivery.deliver_due()
    (request,) = tls_receiver.requests
    assert request.path == "/tls" and request.headers["Host"] == f"hooks.test:{tls_receiver.port}"
    assert WebhookDelivery.objects.get().ok


def test_a_certificate_for_another_name_is_refused(borrower, tls_receiver):
    endpoint = create_endpoint(borrower, f"https://impostor.test:{tls_receiver.port}/tls")
    client_for(borrower).post(f"/api/webhooks/{endpoint['id']}/test/")
    delivery.deliver_due()
    assert tls_receiver.requests == []
    attempt = WebhookDelivery.objects.get()
    assert not attempt.ok and "certificate" in attempt.error.lower()
