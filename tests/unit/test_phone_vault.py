"""The versioned keys of citizens' numbers: hashing, sealing and opening under each version."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag
from pydantic import SecretStr

from lettering.core.phone import PhoneVault, UnknownKeyVersion
from lettering.core.settings import PhoneKeyPair, Settings
from lettering.webhook.auth import open_pbx_secret

NUMBER = "+821012345678"


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_hashes_and_opens_under_every_configured_version() -> None:
    old = (key(), key())
    v1 = PhoneVault(*old, 1)
    v2 = PhoneVault(key(), key(), 2, {1: old})
    sealed_v1 = v1.seal(NUMBER)
    sealed_v2 = v2.seal(NUMBER)
    assert v2.versions == (2, 1)
    assert v2.hashes(NUMBER) == (v2.hash(NUMBER), v1.hash(NUMBER))
    assert sealed_v2.previous_hashes == (v1.hash(NUMBER),)
    assert sealed_v2.all_hashes == (sealed_v2.hash_hex, v1.hash(NUMBER))
    assert v2.open(sealed_v1.ciphertext, 1) == NUMBER
    assert v2.open(sealed_v2.ciphertext, 2) == NUMBER
    with pytest.raises(InvalidTag):  # the version is bound to the ciphertext (AAD)
        v2.open(sealed_v1.ciphertext, 2)
    with pytest.raises(UnknownKeyVersion, match="key version 1 is not configured"):
        PhoneVault(key(), key(), 2).open(sealed_v1.ciphertext, 1)
    with pytest.raises(ValueError, match="both current and old"):
        PhoneVault(key(), key(), 2, {2: old})


def test_settings_refuse_a_bad_keyring() -> None:
    shared = key()
    good = {"phone_hash_key": SecretStr(key()), "phone_enc_key": SecretStr(key())}
    with pytest.raises(ValueError, match="must not hold the current key_version"):
        Settings(
            _env_file=None,
            key_version=2,
            phone_keys_old={2: PhoneKeyPair(hash_key=SecretStr(key()), enc_key=SecretStr(key()))},
            **good,
        )  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="same as another phone key"):
        Settings(
            _env_file=None,
            key_version=2,
            phone_keys_old={1: PhoneKeyPair(hash_key=SecretStr(shared), enc_key=SecretStr(shared))},
            **good,
        )  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=r"phone_keys_old\.1\.enc_key must be 32 bytes"):
        Settings(
            _env_file=None,
            key_version=2,
            phone_keys_old={1: PhoneKeyPair(hash_key=SecretStr(key()), enc_key=SecretStr("c2hvcnQ="))},
            **good,
        )  # type: ignore[call-arg]


def test_a_pbx_secret_sealed_before_versions_were_recorded_still_opens() -> None:
    """Rows from before the secret_key_version column say 1 (the migration's default)."""
    sealed_under_2 = PhoneVault(key(), key(), 2)
    secret = sealed_under_2.seal_secret("whsec_abc")
    assert open_pbx_secret(sealed_under_2, secret, 1) == "whsec_abc"  # recorded as 1, sealed as 2
    assert open_pbx_secret(sealed_under_2, secret, 2) == "whsec_abc"
    with pytest.raises(InvalidTag):
        open_pbx_secret(PhoneVault(key(), key(), 3, {1: (key(), key())}), secret, 1)
