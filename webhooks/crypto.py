"""Sealing webhook secrets at rest with only the standard library.

The service must sign with each endpoint's secret, so it cannot store a one-way hash. It stores the
secret encrypted and authenticated under keys derived from SECRET_KEY (HMAC-SHA256 with distinct
labels): a keystream of HMAC-SHA256(enc_key, nonce || counter) blocks (HMAC as a PRF in counter mode)
XORed with the secret, then an HMAC-SHA256 tag over nonce and ciphertext (encrypt-then-MAC), checked
in constant time before anything is decrypted. A database dump or the admin shows only
`v1:<base64>`; reading a secret needs SECRET_KEY too. Rotating SECRET_KEY makes existing secrets
unreadable: endpoints then have to be created again (their deliveries fail with a clear error).
"""

import base64
import hashlib
import hmac
import secrets

from django.conf import settings

_VERSION = "v1:"
_NONCE = 16
_TAG = 32


class SecretUnreadable(Exception):
    """The sealed secret was tampered with or sealed under another SECRET_KEY."""


def _key(label: bytes) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), b"lenme.webhooks." + label, hashlib.sha256).digest()


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = (
        hmac.new(key, nonce + counter.to_bytes(4, "big"), hashlib.sha256).digest()
        for counter in range((length + 31) // 32)
    )
    return b"".join(blocks)[:length]


def new_secret() -> str:
    """32 random bytes as URL-safe text, with a prefix that says what it is."""
    return "whsec_" + secrets.token_urlsafe(32)


def seal(secret: str) -> str:
    plain = secret.encode()
    nonce = secrets.token_bytes(_NONCE)
    cipher = bytes(a ^ b for a, b in zip(plain, _keystream(_key(b"enc"), nonce, len(plain)), strict=True))
    tag = hmac.new(_key(b"mac"), nonce + cipher, hashlib.sha256).digest()
    return _VERSION + base64.urlsafe_b64encode(nonce + cipher + tag).decode()


def unseal(sealed: str) -> str:
    try:
        if not sealed.startswith(_VERSION):
            raise ValueError
        raw = base64.urlsafe_b64decode(sealed[len(_VERSION) :].encode())
    except ValueError as exc:
        raise SecretUnreadable("The endpoint's secret is not in a known format.") from exc
    nonce, cipher, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
    if len(raw) < _NONCE + _TAG or not hmac.compare_digest(
        tag, hmac.new(_key(b"mac"), nonce + cipher, hashlib.sha256).digest()
    ):
        raise SecretUnreadable("The endpoint's secret cannot be read with this SECRET_KEY.")
    return bytes(a ^ b for a, b in zip(cipher, _keystream(_key(b"enc"), nonce, len(cipher)), strict=True)).decode()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256(secret as UTF-8, "<t>.<raw body>")>`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
