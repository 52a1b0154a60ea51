"""Token authentication against stored digests; malformed keys are rejected up front (a NUL byte
reached PostgreSQL as a 500)."""

import re

from rest_framework import authentication, exceptions

from accounts.models import AuthToken
from accounts.tokens import key_digest

_TOKEN_KEY = re.compile(r"^[0-9a-f]{40}$")


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`; request.auth is the AuthToken row (logout deletes it)."""

    model = AuthToken

    def authenticate_credentials(self, key: str):
        if not _TOKEN_KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        try:
            token = AuthToken.objects.select_related("user").get(digest=key_digest(key))
        except AuthToken.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return token.user, token
