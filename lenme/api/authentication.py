"""Token authentication against stored digests; malformed keys are rejected up front (a NUL byte
reached PostgreSQL as a 500)."""

import functools
import re

from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework import authentication, exceptions

from accounts.models import AuthToken
from accounts.tokens import key_digest
from lenme.db import instance_from_row, select_columns

_TOKEN_KEY = re.compile(r"^[0-9a-f]{40}$")
_TOKEN_USER = AuthToken._meta.get_field("user")


@functools.cache
def _user_by_digest_sql() -> str:
    """The user of a token digest, then the token's id: one statement on the digest's unique index,
    written once instead of compiled by the ORM on every request."""
    user, token, qn = get_user_model()._meta, AuthToken._meta, connection.ops.quote_name
    return (
        f"SELECT {select_columns(get_user_model(), 'u')}, t.{qn(token.pk.column)} "  # noqa: S608 - model names
        f"FROM {qn(token.db_table)} t INNER JOIN {qn(user.db_table)} u "
        f"ON u.{qn(user.pk.column)} = t.{qn(token.get_field('user').column)} "
        f"WHERE t.{qn(token.get_field('digest').column)} = %s"
    )


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`; request.auth is the AuthToken row (logout deletes it)."""

    model = AuthToken

    def authenticate_credentials(self, key: str):
        if not _TOKEN_KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        digest = key_digest(key)
        with connection.cursor() as cursor:
            cursor.execute(_user_by_digest_sql(), [digest])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        user = instance_from_row(get_user_model(), row)
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        # The fields positionally, in the model's order (id, digest, user_id, created; a test pins it),
        # and the relation cache set directly: `user=` goes through the descriptor's router checks, a
        # sixth of this method's cost. The same instance either way.
        token = AuthToken(row[-1], digest, user.pk, None)
        _TOKEN_USER.set_cached_value(token, user)
        token._state.adding = False
        token._state.db = user._state.db
        return user, token
