"""parse_number's fast path for plain 010 numbers agrees with phonenumbers, the reference."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from lettering.core import phone
from lettering.core.phone import parse_number


def _by_phonenumbers(digits: str) -> tuple[str, bool]:
    num = phonenumbers.parse(digits, "KR")
    national = str(num.national_number)
    mobile = (
        num.country_code == 82
        and national.startswith(("10", "11", "16", "17", "18", "19"))
        and phonenumbers.number_type(num) == phonenumbers.PhoneNumberType.MOBILE
    )
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164), mobile


def test_fast_path_agrees_with_phonenumbers_on_every_010_number_shape() -> None:
    rng = random.Random(7)
    numbers = [f"010{a}{rng.randrange(10**7):07d}" for a in range(10) for _ in range(300)]
    fast = [n for n in numbers if phone._PLAIN_KR_MOBILE.fullmatch(n)]
    assert len(fast) == 9 * 300  # every fourth digit but 5 takes the fast path
    for digits in fast:
        parsed = parse_number(digits)
        assert (parsed.e164, parsed.is_kr_mobile) == _by_phonenumbers(digits), digits


@pytest.mark.parametrize(
    "raw",
    ["010-5970-1234", "010-5123-4567", "011-234-5678", "031-5180-2114", "+82 10-1234-5678", "0101234567"],
)
def test_other_forms_still_go_through_phonenumbers(raw: str) -> None:
    parsed = parse_number(raw)
    digits = "".join(c for c in raw if c.isdigit() or c == "+")
    assert (parsed.e164, parsed.is_kr_mobile) == _by_phonenumbers(digits)
