"""The admin shows webhook endpoints, events and deliveries read-only, and never the secret."""

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import client_for
from tests.webhooks.conftest import create_endpoint
from webhooks import delivery
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in(client):
    admin = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-ops-123456")
    client.force_login(admin)
    return client


def test_admin_shows_endpoints_and_deliveries_read_only_without_the_secret(admin_client_logged_in, borrower, receiver):
    endpoint = create_endpoint(borrower, receiver.url)
    receiver.answer(503)
    client_for(borrower).post(f"/api/webhooks/{endpoint['id']}/test/")
    delivery.deliver_due()
    sealed = WebhookEndpoint.objects.get().secret_sealed
    attempt = WebhookDelivery.objects.get()
    event = WebhookEvent.objects.get()
    pages = {
        "/admin/webhooks/webhookendpoint/": receiver.url,
        f"/admin/webhooks/webhookendpoint/{endpoint['id']}/change/": receiver.url,
        "/admin/webhooks/webhookdelivery/": "HTTP 503",
        f"/admin/webhooks/webhookdelivery/{attempt.pk}/change/": "HTTP 503",
        "/admin/webhooks/webhookevent/": event.event_id,
        f"/admin/webhooks/webhookevent/{event.pk}/change/": event.event_id,
    }
    for url, expected in pages.items():
        response = admin_client_logged_in.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert expected in html, url
        assert endpoint["secret"] not in html and sealed not in html, url
        assert 'name="_save"' not in html, url  # read-only: no save button
    assert admin_client_logged_in.get("/admin/webhooks/webhookendpoint/add/").status_code == 403
    response = admin_client_logged_in.post(f"/admin/webhooks/webhookendpoint/{endpoint['id']}/delete/", {"post": "yes"})
    assert response.status_code == 403 and WebhookEndpoint.objects.exists()
