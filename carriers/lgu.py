"""LG U+ lettering gateway: accepted now, the display result later by a signed callback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

import httpx

from carriers.base import Lettering, Outcome
from carriers.breaker import Breaker
from carriers.http import (
    Answer,
    HttpAdapter,
    ImageSpec,
    Prepared,
    image_problem,
    json_object,
    parse_retry_after,
    send_within,
    short,
    str_field,
)
from carriers.text import fit_field, guidance_with_code
from lettering.core.settings import LguSettings

TITLE_LIMIT = 30
BODY_LIMIT = 60
IMAGE_SPEC = ImageSpec(formats=frozenset({"JPEG"}), size=(640, 960), max_bytes=200 * 1024)
SIGNATURE_HEADER = "X-LGU-Signature"

LguResult = Literal["DISPLAYED", "UNSUPPORTED", "EXPIRED"]
REPORT_RESULTS: frozenset[str] = frozenset({"DISPLAYED", "UNSUPPORTED", "EXPIRED"})


@dataclass(frozen=True, slots=True)
class LguReport:
    """One delivery report: `tid` is the Lettering.request_id the push was sent with."""

    tid: str
    result: LguResult
    at: datetime  # timezone-aware (UTC when the report carries no offset)


class LguAdapter(HttpAdapter[dict[str, Any]]):
    """LG U+: API-key auth, media inline; ACCEPTED means sent, the phone's answer comes by callback."""

    name = "lgu"

    def __init__(
        self, settings: LguSettings, base_url: str, client: httpx.AsyncClient, breaker: Breaker
    ) -> None:
        super().__init__(base_url, client, breaker)
        self._settings = settings

    def _prepare(self, lettering: Lettering) -> Prepared[dict[str, Any]]:
        notes: list[str] = []
        title = " ".join(part for part in (lettering.agency_name, lettering.department_name) if part)
        payload: dict[str, Any] = {
            "tid": lettering.request_id,
            "from": lettering.caller,
            "to": lettering.callee,
            "title": fit_field(self.name, "title", title, TITLE_LIMIT, notes),
            "body": guidance_with_code(
                self.name, "body", lettering.guidance, lettering.verify_code, BODY_LIMIT, notes
            ),
        }
        image = lettering.inline_image_jpeg
        if image is not None:
            problem = image_problem(image, IMAGE_SPEC)
            if problem is None:
                payload["image"] = base64.b64encode(image).decode("ascii")
            else:
                # The identity is what matters on the hot path: send it without the image.
                notes.append(f"lgu image dropped: {problem}")
        if lettering.post_call is not None:
            payload["link"] = lettering.post_call.url
        if lettering.callback_url:
            payload["callback_url"] = lettering.callback_url
        return Prepared(payload, notes)

    async def _deliver(
        self, prepared: Prepared[dict[str, Any]], lettering: Lettering, deadline: float
    ) -> Answer:
        response = await send_within(
            self._client,
            "POST",
            self._url("/lettering/v1/requests"),
            deadline,
            json=prepared.payload,
            headers={"Authorization": f"ApiKey {self._settings.api_key.get_secret_value()}"},
        )
        return _answer(response, lettering.request_id)


def _answer(response: httpx.Response, request_id: str) -> Answer:
    """Map LG U+'s status and code to an outcome."""
    status = response.status_code
    body = json_object(response)
    code = str_field(body, "code")
    if status == 200:
        if code == "ACCEPTED":
            return Answer(Outcome.accepted, "ACCEPTED", provider_ref=str_field(body, "tid") or request_id)
        return Answer(Outcome.unavailable, "malformed")
    if status == 404 and code == "NOT_SUBSCRIBER":
        return Answer(Outcome.not_subscriber, "NOT_SUBSCRIBER")
    if status == 400:
        reason = " ".join(part for part in (code or "", str_field(body, "detail") or "") if part)
        return Answer(
            Outcome.rejected, code or "400", notes=(f"lgu rejected: {short(reason or 'no reason given')}",)
        )
    if status == 429:
        return Answer(
            Outcome.throttled, "429", retry_after_s=parse_retry_after(response.headers.get("Retry-After"))
        )
    # 5xx, a 404 that is not the gateway's answer, a refused API key (401/403), anything unexpected.
    return Answer(Outcome.unavailable, str(status))


def report_signature(raw_body: bytes, secret: str) -> str:
    """hex(HMAC-SHA256(callback secret, raw body)), as LG U+ signs its reports."""
    return hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()


def verify_report_signature(raw_body: bytes, signature_header: str | None, secret: str) -> bool:
    """Check X-LGU-Signature over the exact raw body, in constant time."""
    if not signature_header or not secret:
        return False
    given = signature_header.strip().lower().encode("ascii", errors="replace")
    expected = report_signature(raw_body, secret).encode("ascii")
    return hmac.compare_digest(given, expected)


def parse_report(raw_body: bytes) -> LguReport:
    """Parse a report body `{"tid", "result", "at"}`; ValueError says what is wrong with it."""
    try:
        body = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("LG U+ report is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ValueError("LG U+ report is not a JSON object")
    tid = body.get("tid")
    if not isinstance(tid, str) or not tid.strip():
        raise ValueError("LG U+ report has no tid")
    result = body.get("result")
    if not isinstance(result, str) or result not in REPORT_RESULTS:
        raise ValueError(f"LG U+ report result must be one of {sorted(REPORT_RESULTS)}")
    at_raw = body.get("at")
    if not isinstance(at_raw, str):
        raise ValueError("LG U+ report has no 'at' timestamp")
    try:
        at = datetime.fromisoformat(at_raw.strip())
    except ValueError as exc:
        raise ValueError("LG U+ report 'at' is not an ISO 8601 timestamp") from exc
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return LguReport(tid=tid, result=cast(LguResult, result), at=at)
