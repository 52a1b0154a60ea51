"""API token keys: 40 random hex digits for the client, only their SHA-256 digest in the database.

A key carries 160 random bits, so an unsalted fast digest is enough (nothing to brute-force) and a
request costs one indexed lookup by digest.
"""

import hashlib
import secrets


def key_new() -> str:
    return secrets.token_hex(20)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def token_issue(*, user) -> str:
    """Store a new token for user and return its key (the only time it exists in clear)."""
    from accounts.models import AuthToken

    key = key_new()
    AuthToken.objects.create(user=user, digest=key_digest(key))
    return key
