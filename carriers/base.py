"""The one interface every carrier adapter implements (spec/carriers.md).

Everything above this module (routing, dispatch, the webhook) speaks only these types, so a real
carrier contract changes one adapter and nothing else.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field


class Outcome(enum.StrEnum):
    accepted = "accepted"
    not_subscriber = "not_subscriber"
    unsupported_device = "unsupported_device"
    rejected = "rejected"  # bad content or caller not registered: not retryable
    throttled = "throttled"
    unavailable = "unavailable"  # 5xx, timeout, circuit open


class ContentStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


@dataclass(frozen=True, slots=True)
class PostCall:
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class Lettering:
    """What one call shows on the citizen's phone; numbers are E.164."""

    request_id: str  # unique per push attempt chain of one call (the call record's public id)
    caller: str
    callee: str
    agency_name: str
    department_name: str
    guidance: str
    post_call: PostCall | None = None
    # The call's code for the citizen's check at /verify; shown with the guidance where it fits.
    verify_code: str = ""
    # Per-carrier content references (carrier name -> content id / key) for registered media.
    content_refs: dict[str, str] = field(default_factory=dict)
    # Inline JPEG for carriers that take media inline (LG U+); None when the call has no image.
    inline_image_jpeg: bytes | None = None
    callback_url: str | None = None


@dataclass(frozen=True, slots=True)
class PushResult:
    carrier: str
    outcome: Outcome
    code: str  # the carrier's own code: HTTP status, resultCode, or "timeout"/"circuit_open"
    latency_ms: int
    provider_ref: str | None = None  # lettering_id / msgKey / tid, to match later reports
    retry_after_s: float | None = None
    notes: tuple[str, ...] = ()  # e.g. "message cut 45->40 chars", kept with the call record
    # The carrier refused the campaign content the push referred to (not registered or not
    # approved there: spec "INVALID_CONTENT" / "4001"); the identity alone may still go through.
    content_refused: bool = False


class CarrierAdapter(abc.ABC):
    name: str

    @abc.abstractmethod
    async def push(self, lettering: Lettering, deadline: float) -> PushResult:
        """Push one lettering; `deadline` is a `time.monotonic()` instant no request may outlive."""

    async def register_content(self, image: bytes, mime_type: str, file_name: str) -> str | None:
        """Register media with the carrier; None for carriers that take media inline."""
        return None

    async def content_status(self, ref: str) -> ContentStatus:
        return ContentStatus.approved

    async def aclose(self) -> None:
        return None
