"""The directory snapshot's caller numbers and `to_e164_kr`: the fast path for plain Korean forms
gives what phonenumbers gives, for every number in the shipped directory and for generated ones."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import NumberParseException

from lettering.core.phone import NotAPhoneNumber, to_e164_kr
from lettering.directory.snapshot import _e164_or_none

ROOT = Path(__file__).resolve().parents[2]


def slow(raw: str) -> str | None:
    """The conversion as it was: phonenumbers for every number (unparseable or impossible: none)."""
    if not raw:
        return None
    try:
        num = phonenumbers.parse(raw, "KR")
    except (NumberParseException, ValueError):
        return None
    if not phonenumbers.is_possible_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def fast(raw: str) -> str | None:
    """`to_e164_kr` (fast path first), unparseable: none."""
    try:
        return to_e164_kr(raw) if raw else None
    except (NotAPhoneNumber, NumberParseException, ValueError):
        return None


def test_every_shipped_caller_number() -> None:
    with (ROOT / "data" / "directory.csv").open(encoding="utf-8") as f:
        numbers = {row["caller_number"] for row in csv.DictReader(f)}
    assert len(numbers) > 1000
    for raw in numbers:
        assert _e164_or_none(raw) == slow(raw), raw
        assert fast(raw) == slow(raw), raw


def generated(rng: random.Random) -> str:
    prefix = rng.choice(
        ["02", "031", "032", "033", "041", "042", "043", "044", "051", "052", "053", "054", "055"]
        + ["061", "062", "063", "064", "010", "011", "016", "017", "018", "019", "070", "080"]
        + ["034", "045", "056", "065", "012", "01", "0", "1588", "82", "+82 31", "", "00"]
    )
    first = rng.choice("0123456789")
    rest = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 9)))
    sep = rng.choice(["-", " ", ".", "", ") ", "--", "/"])
    middle = first + rest[: len(rest) // 2]
    return f"{prefix}{sep}{middle}{sep}{rest[len(rest) // 2 :]}"


@pytest.mark.parametrize("seed", range(5))
def test_generated_numbers_agree_with_phonenumbers(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(2000):
        raw = generated(rng)
        assert _e164_or_none(raw) == slow(raw), raw
        assert fast(raw) == slow(raw), raw


@pytest.mark.parametrize(
    "raw", ["", "031-5180-2114", "02-2133-1234", "010-1234-5678", "(031) 5180 2114", "1588-1234", "12"]
)
def test_examples(raw: str) -> None:
    assert _e164_or_none(raw) == slow(raw)
