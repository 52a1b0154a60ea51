"""Token authentication that rejects malformed keys up front (a NUL byte reached PostgreSQL as a 500)."""

import re

from rest_framework import authentication, exceptions

_TOKEN_KEY = re.compile(r"^[0-9a-f]{40}$")


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str):
        if not _TOKEN_KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
