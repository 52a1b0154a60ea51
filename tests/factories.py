"""factory_boy factories. Money is put in through the deposit service so the ledger always balances."""

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from accounts.services import account_deposit
from accounts.tokens import token_issue

User = get_user_model()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def balance(user, create, extracted, **kwargs):
        user.save()
        if extracted:
            account_deposit(user=user, amount=Decimal(extracted))


def token_for(user) -> str:
    """A new token key for user (only digests are stored, so there is no existing key to fetch)."""
    return token_issue(user=user)
