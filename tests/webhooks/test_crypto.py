"""Secrets at rest: sealed under a key derived from SECRET_KEY, authenticated, never stored as is."""

import base64

import pytest

from webhooks import crypto


def test_a_sealed_secret_opens_only_with_the_same_secret_key(settings):
    secret = crypto.new_secret()
    sealed = crypto.seal(secret)
    assert secret not in sealed and secret[6:] not in sealed and sealed.startswith("v1:")
    assert crypto.seal(secret) != sealed  # a fresh nonce each time
    assert crypto.unseal(sealed) == secret
    settings.SECRET_KEY = "another-key"
    with pytest.raises(crypto.SecretUnreadable):
        crypto.unseal(sealed)


def test_a_tampered_sealed_secret_is_refused():
    sealed = crypto.seal(crypto.new_secret())
    raw = bytearray(base64.urlsafe_b64decode(sealed[3:]))
    raw[20] ^= 1
    with pytest.raises(crypto.SecretUnreadable):
        crypto.unseal("v1:" + base64.urlsafe_b64encode(bytes(raw)).decode())
    for garbage in ("", "v1:", "v1:!!!", "v0:" + sealed[3:]):
        with pytest.raises(crypto.SecretUnreadable):
            crypto.unseal(garbage)


def test_new_secrets_carry_at_least_32_random_bytes():
    secrets = {crypto.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(len(base64.urlsafe_b64decode(s[6:] + "=")) >= 32 for s in secrets)


def test_the_signature_is_hmac_sha256_of_t_dot_body():
    import hashlib
    import hmac

    header = crypto.signature_header("whsec_k", 1700000000, b'{"a":1}')
    digest = hmac.new(b"whsec_k", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={digest}"
