"""LG U+ delivery reports: signature check and parsing."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from carriers.lgu import parse_report, report_signature, verify_report_signature

SECRET = "cb-secret"
BODY = json.dumps({"tid": "t-1", "result": "DISPLAYED", "at": "2025-03-01T05:02:03Z"}).encode()


def test_valid_signature_is_accepted_in_any_case() -> None:
    signature = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert report_signature(BODY, SECRET) == signature
    assert verify_report_signature(BODY, signature, SECRET)
    assert verify_report_signature(BODY, signature.upper(), SECRET)
    assert verify_report_signature(BODY, f" {signature}\n", SECRET)


@pytest.mark.parametrize("header", [None, "", "abc", "zz" * 32, "é" * 64])
def test_missing_or_wrong_signature_is_refused(header: str | None) -> None:
    assert not verify_report_signature(BODY, header, SECRET)


def test_signature_covers_the_exact_bytes() -> None:
    signature = report_signature(BODY, SECRET)
    assert not verify_report_signature(BODY.replace(b'": "', b'":"'), signature, SECRET)
    assert not verify_report_signature(BODY, signature, "other")
    assert not verify_report_signature(BODY, signature, "")


def test_parse_report() -> None:
    report = parse_report(BODY)
    assert report.tid == "t-1"
    assert report.result == "DISPLAYED"
    assert report.at == datetime(2025, 3, 1, 5, 2, 3, tzinfo=UTC)


def test_parse_report_keeps_offsets_and_assumes_utc_when_naive() -> None:
    kst = timezone(timedelta(hours=9))
    with_offset = parse_report(b'{"tid": "a", "result": "EXPIRED", "at": "2025-03-01T14:00:00+09:00"}')
    assert with_offset.at == datetime(2025, 3, 1, 14, tzinfo=kst)
    naive = parse_report(b'{"tid": "a", "result": "UNSUPPORTED", "at": "2025-03-01T05:00:00"}')
    assert naive.at.tzinfo is UTC


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"result": "DISPLAYED", "at": "2025-03-01T05:02:03Z"}', "no tid"),
        (b'{"tid": " ", "result": "DISPLAYED", "at": "2025-03-01T05:02:03Z"}', "no tid"),
        (b'{"tid": 5, "result": "DISPLAYED", "at": "2025-03-01T05:02:03Z"}', "no tid"),
        (b'{"tid": "t", "result": "SHOWN", "at": "2025-03-01T05:02:03Z"}', "result must be one of"),
        (b'{"tid": "t", "result": "DISPLAYED"}', "no 'at'"),
        (b'{"tid": "t", "result": "DISPLAYED", "at": "yesterday"}', "not an ISO 8601"),
    ],
)
def test_malformed_reports_raise_value_error(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_report(raw)
