"""The new-password rules (lettering/users/passwords.py): each refusal says what is wrong."""

from __future__ import annotations

import pytest

from lettering.users.passwords import common_passwords, password_problem


def test_the_shipped_list_is_loaded_lower_cased() -> None:
    listed = common_passwords()
    assert len(listed) > 15_000
    assert "1029384756" in listed
    assert all(p == p.lower() for p in listed)


@pytest.mark.parametrize(
    ("password", "english", "korean"),
    [
        ("short-pw", "at least 10 characters", "10자 이상"),
        ("x" * 1025, "at most 1024 characters", "1024자 이하"),
        ("aaaaaaaaaaaa", "one character repeated", "한 글자의 반복"),
        ("1029384756", "commonly used", "널리 쓰이는"),
        ("1111111111", "one character repeated", "한 글자의 반복"),
        ("hong.gildong-2026", "email's name", "이메일 아이디"),
    ],
)
def test_refusals_name_the_problem(password: str, english: str, korean: str) -> None:
    problem = password_problem(password, "Hong.Gildong@hanbit.go.kr")
    assert problem is not None
    assert english in problem.english
    assert korean in problem.korean


def test_a_long_uncommon_password_passes() -> None:
    assert password_problem("correct-horse-battery", "editor@hanbit.go.kr") is None
