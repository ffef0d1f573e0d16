"""Shared adapter helpers: Retry-After, backoff, timeouts, image checks."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from carriers.http import (
    ImageSpec,
    full_jitter_backoff,
    image_problem,
    mime_of,
    parse_retry_after,
    request_timeout,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        (" 0.5 ", 0.5),
        ("-4", 0.0),
        ("Sat, 01 Mar 2025 12:00:10 GMT", 10.0),
        ("Sat, 01 Mar 2025 11:59:00 GMT", 0.0),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_full_jitter_backoff_bounds() -> None:
    assert full_jitter_backoff(0, 0.1, 1.0, rng=lambda: 1.0) == pytest.approx(0.1)
    assert full_jitter_backoff(3, 0.1, 1.0, rng=lambda: 1.0) == pytest.approx(0.8)
    assert full_jitter_backoff(10, 0.1, 1.0, rng=lambda: 1.0) == pytest.approx(1.0)
    assert full_jitter_backoff(10, 0.1, 1.0, rng=lambda: 0.0) == 0.0
    assert 0.0 <= full_jitter_backoff(2, 0.1, 1.0) <= 0.4


def test_request_timeout_is_the_remaining_time() -> None:
    timeout = request_timeout(0.2, 0.5)
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (0.2, 0.2, 0.2, 0.2)
    timeout = request_timeout(3.0, 0.5)
    assert (timeout.connect, timeout.read) == (0.5, 3.0)
    assert request_timeout(1.0, None).connect == 1.0


def _image(fmt: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size).save(buffer, format=fmt)
    return buffer.getvalue()


def test_image_problem() -> None:
    spec = ImageSpec(formats=frozenset({"JPEG"}), size=(64, 32), max_bytes=10_000)
    assert image_problem(_image("JPEG", (64, 32)), spec) is None
    assert image_problem(_image("PNG", (64, 32)), spec) == "image is PNG, expected JPEG"
    assert image_problem(_image("JPEG", (32, 64)), spec) == "image is 32x64, expected 64x32"
    assert image_problem(b"junk", spec) == "image is not decodable"
    assert image_problem(b"\xff" * 10_001, spec) == "image is 10001 bytes, limit 10000"


def test_mime_of() -> None:
    assert mime_of(_image("JPEG", (2, 2))) == "image/jpeg"
    assert mime_of(_image("PNG", (2, 2))) == "image/png"
    assert mime_of(b"GIF89a") is None


def test_short_masks_numbers_and_bounds_length() -> None:
    from carriers.http import short

    assert short("callee +821001234567 unknown") == "callee *** unknown"
    assert short("from 031-5180-2114\nnot registered") == "from *** not registered"
    assert short("message longer than 40 characters") == "message longer than 40 characters"
    assert len(short("x" * 500)) == 120
