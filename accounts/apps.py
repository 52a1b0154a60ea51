"""accounts app: users' profiles, balances, the ledger and registration."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from accounts import signals  # noqa: F401
        from lenme import checks  # noqa: F401
        from lenme.db import use_sqlite_parameter_limit

        connection_created.connect(use_sqlite_parameter_limit, dispatch_uid="lenme.sqlite_parameter_limit")
