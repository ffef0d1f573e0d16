"""Argon2 password hashing through pwdlib: hashes, verification, upgrading outdated hashes."""

from __future__ import annotations

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from lettering.users.passwords import burn_time, dummy_hash, hash_password, verify_password

PASSWORD = "여권발급-correct-horse"


def test_hash_is_salted_argon2id_and_verifies() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("$argon2id$")
    assert first != second
    assert PASSWORD not in first
    assert verify_password(PASSWORD, first) == (True, None)
    assert verify_password(PASSWORD, second) == (True, None)


def test_wrong_password_does_not_verify() -> None:
    stored = hash_password(PASSWORD)
    assert verify_password(PASSWORD + "x", stored) == (False, None)
    assert verify_password("", stored) == (False, None)


def test_unknown_hash_format_never_matches() -> None:
    assert verify_password(PASSWORD, "plain-text-from-an-old-system") == (False, None)
    assert verify_password(PASSWORD, "$2b$12$" + "a" * 53) == (False, None)


def test_outdated_parameters_are_rehashed_on_success_only() -> None:
    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1),)).hash(PASSWORD)
    assert "m=8192,t=1,p=1" in weak
    matches, new_hash = verify_password(PASSWORD, weak)
    assert matches
    assert new_hash is not None
    assert "m=65536,t=3,p=4" in new_hash
    assert verify_password(PASSWORD, new_hash) == (True, None)
    assert verify_password("wrong-password", weak) == (False, None)


def test_dummy_hash_is_made_once_and_matches_nothing_a_user_types() -> None:
    assert dummy_hash() is dummy_hash()
    assert verify_password(PASSWORD, dummy_hash()) == (False, None)
    burn_time(PASSWORD)
