"""Routes of webhook endpoints: one URL per action."""

from django.urls import path

from webhooks import views

urlpatterns = [
    path("webhooks/", views.WebhookListCreateView.as_view(), name="webhook-list"),
    path("webhooks/<int:endpoint_id>/", views.WebhookDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<int:endpoint_id>/test/", views.WebhookTestView.as_view(), name="webhook-test"),
    path("webhooks/<int:endpoint_id>/enable/", views.WebhookEnableView.as_view(), name="webhook-enable"),
    path("webhooks/<int:endpoint_id>/deliveries/", views.WebhookDeliveryListView.as_view(), name="webhook-deliveries"),
]
