"""loans app: loans, offers, payments, the lending flow and its scheduled jobs."""

from django.apps import AppConfig


class LoansConfig(AppConfig):
    name = "loans"
    default_auto_field = "django.db.models.BigAutoField"
