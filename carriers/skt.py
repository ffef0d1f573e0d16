"""SKT lettering gateway: OAuth2 client credentials, results by HTTP status (spec/carriers.md)."""

from __future__ import annotations

import asyncio
import time
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
    parse_retry_after,
    send_within,
    short,
    str_field,
)
from carriers.text import fit_field, guidance_with_code
from lettering.core.settings import SktSettings

NAME_LIMIT = 16
SUBTITLE_LIMIT = 20
MESSAGE_LIMIT = 40
POST_CALL_TITLE_LIMIT = 30
IMAGE_SPEC = ImageSpec(formats=frozenset({"JPEG"}), size=(720, 1280), max_bytes=300 * 1024)
TTL_SECONDS = 60
# Refresh the token this long before it expires (less for very short-lived tokens).
TOKEN_MARGIN_S = 60.0

_CONTENT_STATUS = {
    "pending": ContentStatus.pending,
    "approved": ContentStatus.approved,
    "rejected": ContentStatus.rejected,
}


class SktAdapter(HttpAdapter[dict[str, Any]]):
    """SKT: bearer token reused until ~60 s before expiry; a 401 refreshes it once and retries."""

    name = "skt"

    def __init__(
        self, settings: SktSettings, base_url: str, client: httpx.AsyncClient, breaker: Breaker
    ) -> None:
        super().__init__(base_url, client, breaker)
        self._settings = settings
        self._token: str | None = None
        self._token_refresh_at = 0.0
        self._token_lock = asyncio.Lock()

    def _prepare(self, lettering: Lettering) -> Prepared[dict[str, Any]]:
        notes: list[str] = []
        payload: dict[str, Any] = {
            "request_id": lettering.request_id,
            "caller": lettering.caller,
            "callee": lettering.callee,
            "display": {
                "name": fit_field(self.name, "name", lettering.agency_name, NAME_LIMIT, notes),
                "subtitle": fit_field(
                    self.name, "subtitle", lettering.department_name, SUBTITLE_LIMIT, notes
                ),
                "message": guidance_with_code(
                    self.name, "message", lettering.guidance, lettering.verify_code, MESSAGE_LIMIT, notes
                ),
            },
            "ttl_seconds": TTL_SECONDS,
        }
        content_id = lettering.content_refs.get(self.name)
        if content_id:
            payload["content_id"] = content_id
        if lettering.post_call is not None:
            payload["post_call"] = {
                "title": fit_field(
                    self.name, "post_call.title", lettering.post_call.title, POST_CALL_TITLE_LIMIT, notes
                ),
                "url": lettering.post_call.url,
            }
        return Prepared(payload, notes)

    async def _deliver(
        self, prepared: Prepared[dict[str, Any]], lettering: Lettering, deadline: float
    ) -> Answer:
        response = await self._authorised(
            "POST", self._url("/v1/letterings"), deadline, json=prepared.payload
        )
        return _answer(response, lettering.request_id, "content_id" in prepared.payload)

    async def register_content(self, image: bytes, mime_type: str, file_name: str) -> str | None:
        """Upload a JPEG (720x1280, <= 300 KB); returns its content_id, usable once approved."""
        problem = image_problem(image, IMAGE_SPEC)
        if problem is not None:
            raise ContentRefused("image_refused", problem)
        response = await self._authorised(
            "POST",
            self._url("/v1/contents"),
            self._content_deadline(),
            files={"file": (file_name, image, "image/jpeg")},
        )
        body = json_object(response)
        content_id = str_field(body, "content_id")
        if response.status_code not in (200, 201) or not content_id:
            raise CarrierError(str(response.status_code), short(response.text))
        return content_id

    async def content_status(self, ref: str) -> ContentStatus:
        """The approval state of a registered content id (an unknown id counts as rejected)."""
        response = await self._authorised("GET", self._url(f"/v1/contents/{ref}"), self._content_deadline())
        if response.status_code == 404:
            return ContentStatus.rejected
        status = str_field(json_object(response), "status")
        if response.status_code != 200 or status not in _CONTENT_STATUS:
            raise CarrierError(str(response.status_code), short(response.text))
        return _CONTENT_STATUS[status]

    async def _authorised(self, method: str, url: str, deadline: float, **kwargs: Any) -> httpx.Response:
        """Send with the bearer token; on a 401 fetch a new token once and send once more."""
        token = await self._bearer(deadline)
        response = await send_within(
            self._client, method, url, deadline, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )
        if response.status_code != 401:
            return response
        token = await self._bearer(deadline, stale=token)
        return await send_within(
            self._client, method, url, deadline, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )

    async def _bearer(self, deadline: float, stale: str | None = None) -> str:
        """The cached token, or a new one when it is missing, about to expire, or `stale`."""
        async with self._token_lock:
            if self._token is not None and self._token != stale and time.monotonic() < self._token_refresh_at:
                return self._token
            response = await send_within(
                self._client,
                "POST",
                self._url("/oauth2/token"),
                deadline,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._settings.client_id,
                    "client_secret": self._settings.client_secret.get_secret_value(),
                },
            )
            body = json_object(response)
            token = str_field(body, "access_token")
            if response.status_code != 200 or not token or body is None:
                self._token = None
                raise CarrierError(f"token_{response.status_code}")
            expires_in = body.get("expires_in", 3600)
            lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
            self._token = token
            self._token_refresh_at = time.monotonic() + lifetime - min(TOKEN_MARGIN_S, lifetime / 2)
            return token


def _answer(response: httpx.Response, request_id: str, content_sent: bool = False) -> Answer:
    """Map SKT's HTTP status (and error name) to an outcome."""
    status = response.status_code
    code = str(status)
    body = json_object(response)
    error = str_field(body, "error")
    if status == 202:
        return Answer(Outcome.accepted, code, provider_ref=str_field(body, "lettering_id") or request_id)
    if status == 404 and error == "NOT_SUBSCRIBER":
        return Answer(Outcome.not_subscriber, code)
    if status == 422 and error == "UNSUPPORTED_DEVICE":
        return Answer(Outcome.unsupported_device, code)
    if status in (400, 403, 422):
        detail = str_field(body, "detail") or ""
        reason = " ".join(part for part in (error or "", detail) if part) or "no reason given"
        return Answer(
            Outcome.rejected,
            code,
            notes=(f"skt rejected: {short(reason)}",),
            # INVALID_CONTENT for a push that named a content id: that content is not usable there.
            content_refused=status == 400 and error == "INVALID_CONTENT" and content_sent,
        )
    if status == 429:
        return Answer(
            Outcome.throttled, code, retry_after_s=parse_retry_after(response.headers.get("Retry-After"))
        )
    # 5xx, a 404 that is not the gateway's answer (wrong URL), a second 401, anything unexpected.
    return Answer(Outcome.unavailable, code)
