"""factory_boy factories. Money is put in through the deposit service so the ledger always balances."""

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from accounts.services import account_deposit

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
    token, _ = Token.objects.get_or_create(user=user)
    return token.key
