"""KT lettering gateway: HMAC-signed requests, result codes in a 200 body (spec/carriers.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from carriers.base import ContentStatus, Lettering, Outcome
from carriers.breaker import Breaker
from carriers.http import (
    Answer,
    CarrierError,
    ContentRefused,
    HttpAdapter,
    ImageSpec,
    Prepared,
    image_problem,
    json_object,
    mime_of,
    parse_retry_after,
    send_within,
    short,
    str_field,
)
from carriers.text import fit_field, guidance_with_code
from lettering.core.settings import KtSettings

CALLER_NAME_LIMIT = 20
DEPT_NAME_LIMIT = 20
GUIDE_TEXT_LIMIT = 60
LINK_TITLE_LIMIT = 20
IMAGE_SPEC = ImageSpec(formats=frozenset({"JPEG", "PNG"}), size=(1080, 1920), max_bytes=500 * 1024)

CONTENT_NOT_APPROVED = "4001"  # the contentKey is unknown or not approved
_RESULTS = {
    "0000": Outcome.accepted,
    "3001": Outcome.not_subscriber,
    "3002": Outcome.unsupported_device,
    "3003": Outcome.rejected,  # calling number not registered
    CONTENT_NOT_APPROVED: Outcome.rejected,
    "4002": Outcome.rejected,  # text too long
    "4003": Outcome.rejected,  # signature invalid
    "9001": Outcome.throttled,
    "9999": Outcome.unavailable,
}
_APPROVAL = {"WAIT": ContentStatus.pending, "OK": ContentStatus.approved, "DENY": ContentStatus.rejected}


def sign(secret: str, timestamp: str, raw_body: bytes) -> str:
    """KT's X-Signature: hex(HMAC-SHA256(secret, "{X-Timestamp}\\n{raw body}"))."""
    message = timestamp.encode("ascii") + b"\n" + raw_body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


class KtAdapter(HttpAdapter[bytes]):
    """KT: every request signed over the exact bytes sent; the outcome is the body's resultCode."""

    name = "kt"

    def __init__(
        self,
        settings: KtSettings,
        base_url: str,
        client: httpx.AsyncClient,
        breaker: Breaker,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(base_url, client, breaker)
        self._settings = settings
        self._wall_clock = wall_clock

    def _prepare(self, lettering: Lettering) -> Prepared[bytes]:
        notes: list[str] = []
        payload: dict[str, Any] = {
            "msgKey": lettering.request_id,
            "callingNumber": lettering.caller,
            "calledNumber": lettering.callee,
            "callerName": fit_field(self.name, "callerName", lettering.agency_name, CALLER_NAME_LIMIT, notes),
            "deptName": fit_field(self.name, "deptName", lettering.department_name, DEPT_NAME_LIMIT, notes),
            "guideText": guidance_with_code(
                self.name, "guideText", lettering.guidance, lettering.verify_code, GUIDE_TEXT_LIMIT, notes
            ),
        }
        content_key = lettering.content_refs.get(self.name)
        if content_key:
            payload["contentKey"] = content_key
        if lettering.post_call is not None:
            payload["afterCall"] = {
                "linkTitle": fit_field(
                    self.name, "linkTitle", lettering.post_call.title, LINK_TITLE_LIMIT, notes
                ),
                "linkUrl": lettering.post_call.url,
            }
        return Prepared(_encode(payload), notes)

    async def _deliver(self, prepared: Prepared[bytes], lettering: Lettering, deadline: float) -> Answer:
        response = await self._signed("/api/v2/lettering/send", prepared.payload, deadline)
        if response.status_code != 200:
            return Answer(Outcome.unavailable, str(response.status_code))
        body = json_object(response)
        result_code = str_field(body, "resultCode")
        if result_code is None:
            return Answer(Outcome.unavailable, "malformed")
        outcome = _RESULTS.get(result_code)
        if outcome is None:
            return Answer(
                Outcome.unavailable, result_code, notes=(f"kt unknown resultCode {short(result_code, 20)}",)
            )
        if outcome is Outcome.accepted:
            return Answer(outcome, result_code, provider_ref=lettering.request_id)
        if outcome is Outcome.throttled:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return Answer(outcome, result_code, retry_after_s=retry_after)
        if outcome is Outcome.rejected:
            message = str_field(body, "resultMsg") or ""
            return Answer(
                outcome,
                result_code,
                notes=(f"kt rejected: {result_code} {short(message)}".rstrip(),),
                content_refused=result_code == CONTENT_NOT_APPROVED
                and bool(lettering.content_refs.get(self.name)),
            )
        return Answer(outcome, result_code)

    async def register_content(self, image: bytes, mime_type: str, file_name: str) -> str | None:
        """Register a PNG or JPEG (1080x1920, <= 500 KB); returns its contentKey, usable once OK."""
        problem = image_problem(image, IMAGE_SPEC)
        if problem is not None:
            raise ContentRefused("image_refused", problem)
        actual_mime = mime_of(image) or mime_type
        body = _encode(
            {"fileName": file_name, "mimeType": actual_mime, "data": base64.b64encode(image).decode("ascii")}
        )
        response = await self._signed("/api/v2/content/register", body, self._content_deadline())
        answer = json_object(response)
        result_code = str_field(answer, "resultCode")
        content_key = str_field(answer, "contentKey")
        if response.status_code != 200 or result_code != "0000" or not content_key:
            raise CarrierError(result_code or str(response.status_code), str_field(answer, "resultMsg") or "")
        return content_key

    async def content_status(self, ref: str) -> ContentStatus:
        """The approval state (WAIT / OK / DENY) of a registered contentKey."""
        response = await self._signed(
            "/api/v2/content/status", _encode({"contentKey": ref}), self._content_deadline()
        )
        answer = json_object(response)
        result_code = str_field(answer, "resultCode")
        approval = str_field(answer, "approval")
        if response.status_code != 200 or result_code != "0000" or approval not in _APPROVAL:
            raise CarrierError(result_code or str(response.status_code), str_field(answer, "resultMsg") or "")
        return _APPROVAL[approval]

    async def _signed(self, path: str, raw_body: bytes, deadline: float) -> httpx.Response:
        """POST `raw_body` exactly as signed."""
        timestamp = str(int(self._wall_clock() * 1000))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Api-Key": self._settings.api_key,
            "X-Timestamp": timestamp,
            "X-Signature": sign(self._settings.secret.get_secret_value(), timestamp, raw_body),
        }
        return await send_within(
            self._client, "POST", self._url(path), deadline, content=raw_body, headers=headers
        )


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
