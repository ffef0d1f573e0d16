"""What every HTTP carrier adapter shares: the deadline, the breaker, error mapping, media checks.

An adapter subclasses `HttpAdapter` and writes only its protocol: `_prepare` (fit the texts, build
the request payload) and `_deliver` (send it, map the carrier's answer to an `Answer`). The base
class guarantees the hot-path rules for all of them: no request outlives the deadline, none starts
with less than `MIN_REQUEST_S` left, an open breaker answers at once, and no exception leaves
`push()`.
"""

from __future__ import annotations

import abc
import asyncio
import io
import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import httpx
from PIL import Image, UnidentifiedImageError

from carriers.base import CarrierAdapter, Lettering, Outcome, PushResult
from carriers.breaker import Breaker

logger = logging.getLogger(__name__)

# Never start a request with less time than this left: it could not complete anyway.
MIN_REQUEST_S = 0.005
# A push cut at its deadline is the carrier's failure only if the carrier had a fair chance: the
# request started with at least FAIR_BUDGET_S left, and the event loop noticed the deadline within
# LATE_S of it. Otherwise the service was late (an overloaded worker starts pushes late, and a busy
# loop reads a carrier's answer late): the attempt is recorded as SERVICE_LATE, and the breaker,
# which exists to stop asking a carrier that is down, is not charged. Without this, a burst that
# overloads a worker opens every carrier's breaker and the next 30 s of calls go to fallback.
FAIR_BUDGET_S = 0.2
LATE_S = 0.05
SERVICE_LATE = "service_late"
# Calls off the hot path (content registration and status) get this much time.
CONTENT_CALL_TIMEOUT_S = 10.0

PayloadT = TypeVar("PayloadT")
# A carrier may echo a number in its error text; notes never carry one.
_DIGIT_RUN = re.compile(r"\+?\d[\d\s().-]{5,}\d")


class CarrierError(Exception):
    """A carrier call that did not produce a usable answer; `code` says why (kept short)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class ContentRefused(CarrierError):
    """Media the carrier would refuse (format, size, bytes): not sent."""


class DeadlineExceeded(CarrierError):
    """The deadline leaves no time for the request."""

    def __init__(self) -> None:
        super().__init__("timeout")


@dataclass(frozen=True, slots=True)
class Answer:
    """A carrier's answer to one lettering, before timing and notes are added."""

    outcome: Outcome
    code: str
    provider_ref: str | None = None
    retry_after_s: float | None = None
    notes: tuple[str, ...] = ()
    content_refused: bool = False  # see PushResult.content_refused


@dataclass(slots=True)
class Prepared(Generic[PayloadT]):
    """A lettering turned into a carrier's request payload, and the notes fitting it produced."""

    payload: PayloadT
    notes: list[str] = field(default_factory=list)


def remaining_s(deadline: float) -> float:
    """Seconds left until a `time.monotonic()` deadline (negative once passed)."""
    return deadline - time.monotonic()


def service_was_late(sent: float, deadline: float) -> bool:
    """Whether a push sent at `sent` and cut at `deadline` (both monotonic) timed out through the
    service's own lateness rather than the carrier's (see FAIR_BUDGET_S and LATE_S)."""
    return deadline - sent < FAIR_BUDGET_S or time.monotonic() - deadline > LATE_S


def request_timeout(remaining: float, connect_s: float | None) -> httpx.Timeout:
    """An httpx timeout of the remaining time, the connect phase capped by the client's setting."""
    connect = remaining if connect_s is None else min(connect_s, remaining)
    return httpx.Timeout(remaining, connect=connect)


async def send_within(
    client: httpx.AsyncClient, method: str, url: str, deadline: float, **kwargs: Any
) -> httpx.Response:
    """Send one request that cannot outlive `deadline`; raise DeadlineExceeded if too little is left.

    `url` is absolute and `kwargs` are httpx.Request's (content, json, files, headers, …); the
    client's headers come first. The request goes straight to the client's transport, without
    the client's per-request machinery (URL and header merging, cookies, auth, redirects, event
    hooks), none of which a carrier call uses: measured with bench/http_client.py, a push-sized
    POST costs 183 µs of client CPU this way against 400 µs through `client.request` (8 at a time;
    295 against 505 one at a time). respx and the in-process simulator's ASGI transport sit at
    the transport, so they see the same requests.
    """
    remaining = remaining_s(deadline)
    if remaining < MIN_REQUEST_S:
        raise DeadlineExceeded()
    timeout = request_timeout(remaining, client.timeout.connect)
    headers = client.headers.copy()
    extra = kwargs.pop("headers", None)
    if extra:
        headers.update(extra)
    request = httpx.Request(method, url, headers=headers, extensions={"timeout": timeout.as_dict()}, **kwargs)
    # httpx's own lookup (mounts, proxies from the environment); public API has no other door.
    transport = client._transport_for_url(request.url)
    try:
        # httpx timeouts are per phase; the outer timeout bounds the whole exchange.
        async with asyncio.timeout(remaining):
            response = await transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
    except TimeoutError as exc:
        raise DeadlineExceeded() from exc
    response.request = request
    return response


def full_jitter_backoff(
    attempt: int, base_s: float, cap_s: float, rng: Callable[[], float] = random.random
) -> float:
    """AWS-style full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rng() * min(cap_s, base_s * 2.0 ** max(attempt, 0))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent or invalid."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN or infinite
        return None
    return max(0.0, seconds)


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The response body as a JSON object, or None when it is not one."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def str_field(body: dict[str, Any] | None, key: str) -> str | None:
    """A string member of a JSON object, or None."""
    if body is None:
        return None
    value = body.get(key)
    return value if isinstance(value, str) else None


def short(text: str, limit: int = 120) -> str:
    """A carrier's free-text detail for notes: one line, bounded, phone-number-like digits masked."""
    text = _DIGIT_RUN.sub("***", " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


@dataclass(frozen=True, slots=True)
class ImageSpec:
    formats: frozenset[str]  # Pillow format names: "JPEG", "PNG"
    size: tuple[int, int]
    max_bytes: int


def image_problem(data: bytes, spec: ImageSpec) -> str | None:
    """Why the carrier would refuse this image (format, dimensions, bytes), or None if it fits."""
    if len(data) > spec.max_bytes:
        return f"image is {len(data)} bytes, limit {spec.max_bytes}"
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, size = img.format, img.size
    except (UnidentifiedImageError, OSError, ValueError):
        return "image is not decodable"
    if fmt not in spec.formats:
        return f"image is {fmt}, expected {'/'.join(sorted(spec.formats))}"
    if size != spec.size:
        return f"image is {size[0]}x{size[1]}, expected {spec.size[0]}x{spec.size[1]}"
    return None


def mime_of(data: bytes) -> str | None:
    """The MIME type of a JPEG or PNG by its signature."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


class HttpAdapter(CarrierAdapter, Generic[PayloadT]):
    """The hot-path rules shared by every HTTP adapter; subclasses implement the protocol only."""

    name: str

    def __init__(self, base_url: str, client: httpx.AsyncClient, breaker: Breaker) -> None:
        self._base_url = base_url.rstrip("/")
        self._client = client
        self._breaker = breaker

    @property
    def breaker(self) -> Breaker:
        """This carrier's breaker (the dashboard shows its state)."""
        return self._breaker

    def _url(self, path: str) -> str:
        return f"{self._base_url}{path}"

    @abc.abstractmethod
    def _prepare(self, lettering: Lettering) -> Prepared[PayloadT]:
        """Fit the lettering to the carrier's limits and build its request payload."""

    @abc.abstractmethod
    async def _deliver(self, prepared: Prepared[PayloadT], lettering: Lettering, deadline: float) -> Answer:
        """Send the prepared lettering and map the carrier's answer."""

    async def push(self, lettering: Lettering, deadline: float) -> PushResult:
        """Push one lettering within `deadline`; every failure is an outcome, never an exception."""
        start = time.monotonic()
        notes: list[str] = []
        try:
            prepared = self._prepare(lettering)
            notes.extend(prepared.notes)
        except Exception:
            logger.exception("%s: preparing a lettering failed", self.name)
            return self._result(Answer(Outcome.rejected, "prepare_failed"), start, notes)
        if deadline - start < MIN_REQUEST_S:
            return self._result(Answer(Outcome.unavailable, "timeout"), start, notes)
        if not self._breaker.allow():
            return self._result(Answer(Outcome.unavailable, "circuit_open"), start, notes)
        sent = time.monotonic()
        answer = await self._guarded_deliver(prepared, lettering, deadline)
        timed_out = answer.outcome is Outcome.unavailable and answer.code == "timeout"
        if timed_out and service_was_late(sent, deadline):
            left_ms = max(deadline - sent, 0) * 1000
            late_ms = max(time.monotonic() - deadline, 0) * 1000
            answer = Answer(
                Outcome.unavailable,
                SERVICE_LATE,
                notes=(
                    f"{self.name} not answered in time by this service: {left_ms:.0f} ms left at the"
                    f" request, deadline noticed {late_ms:.0f} ms late",
                ),
            )
            self._breaker.record_inconclusive()
        elif answer.outcome is Outcome.unavailable:
            self._breaker.record_failure()
        else:
            # Any answer, even a refusal or a throttle, shows the gateway is up.
            self._breaker.record_success()
        return self._result(answer, start, notes)

    async def _guarded_deliver(
        self, prepared: Prepared[PayloadT], lettering: Lettering, deadline: float
    ) -> Answer:
        try:
            async with asyncio.timeout(max(remaining_s(deadline), 0.0)):
                return await self._deliver(prepared, lettering, deadline)
        except (TimeoutError, httpx.TimeoutException):
            return Answer(Outcome.unavailable, "timeout")
        except CarrierError as exc:
            return Answer(Outcome.unavailable, exc.code)
        except httpx.ConnectError:
            return Answer(Outcome.unavailable, "connect_error")
        except httpx.HTTPError as exc:
            return Answer(
                Outcome.unavailable, "transport_error", notes=(f"{self.name} {type(exc).__name__}",)
            )
        except Exception:
            logger.exception("%s: unexpected error in push", self.name)
            return Answer(Outcome.unavailable, "internal_error")

    def _result(self, answer: Answer, start: float, notes: list[str]) -> PushResult:
        return PushResult(
            carrier=self.name,
            outcome=answer.outcome,
            code=answer.code,
            latency_ms=max(0, round((time.monotonic() - start) * 1000)),
            provider_ref=answer.provider_ref,
            retry_after_s=answer.retry_after_s,
            notes=(*notes, *answer.notes),
            content_refused=answer.content_refused,
        )

    @staticmethod
    def _content_deadline() -> float:
        return time.monotonic() + CONTENT_CALL_TIMEOUT_S
