"""Password hashing: Argon2id through pwdlib, with the parameters pwdlib recommends."""

from __future__ import annotations

from functools import cache

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_LENGTH = 10
MAX_LENGTH = 1024

_hasher = PasswordHash((Argon2Hasher(),))


def hash_password(password: str) -> str:
    """An Argon2id hash of `password` (salted; about 50 ms of CPU and 64 MiB)."""
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """(matches, new hash) - the new hash is set when the stored one uses outdated parameters.

    A hash pwdlib does not recognise never matches (and is never an error to the caller).
    """
    try:
        return _hasher.verify_and_update(password, password_hash)
    except UnknownHashError:
        return False, None


@cache
def dummy_hash() -> str:
    """A hash to verify against when the email is unknown, so that costs as long as a wrong password."""
    return hash_password("not-a-password-of-anyone")


def burn_time(password: str) -> None:
    """Spend the time of one verification (unknown user), and always fail."""
    verify_password(password, dummy_hash())
