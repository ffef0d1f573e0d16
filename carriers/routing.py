"""Finding the callee's carrier: learned route first, then the configured order (spec "Routing").

Number portability means the number does not tell the carrier, so the router asks each carrier in
turn. It stops at the first that knows the callee (accepted or unsupported device) or refuses the
lettering, moves on past `not_subscriber` and past a carrier that is down, and never sends anything
after the call's deadline. A carrier that refuses only the campaign content (not registered or not
approved there, as after a carrier restart) is asked again at once with the identity alone: the
citizen still sees who is calling.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from carriers.base import CarrierAdapter, Lettering, Outcome, PushResult
from carriers.http import MIN_REQUEST_S, SERVICE_LATE, full_jitter_backoff

# `expired`: the ring window had passed before any carrier could be asked; nothing was sent (an
# overloaded service, not a carrier failure). `late`: a push was sent but the service itself was
# too late to see its answer (carriers.http.SERVICE_LATE), and no carrier failed: overloaded too.
RouteOutcome = Literal[
    "accepted", "unsupported_device", "no_subscriber", "rejected", "failed", "expired", "late"
]

# A throttled carrier without Retry-After is retried after a full-jitter wait of at most this.
THROTTLE_BACKOFF_BASE_S = 0.1
THROTTLE_BACKOFF_CAP_S = 0.25
# A throttle retry is only worth it with at least this much time left once the wait is over.
MIN_RETRY_BUDGET_S = 0.05


@dataclass(slots=True)
class RouteResult:
    """Every push made for one lettering and what they add up to."""

    attempts: list[PushResult] = field(default_factory=list)
    final: PushResult | None = None
    outcome: RouteOutcome = "failed"
    # The carrier that accepted or answered unsupported_device: the route to learn.
    subscriber_carrier: str | None = None
    # The learned carrier answered not_subscriber: the number was ported away.
    forget_learned: bool = False
    # (carrier, content ref) of campaign content a carrier refused: to be registered again.
    refused_content: list[tuple[str, str]] = field(default_factory=list)


def identity_only(lettering: Lettering) -> Lettering:
    """The lettering without its campaign content (image, content refs, post-call link)."""
    return dataclasses.replace(lettering, content_refs={}, inline_image_jpeg=None, post_call=None)


async def _without_refused_content(
    result: RouteResult, adapter: CarrierAdapter, lettering: Lettering, push: PushResult, deadline: float
) -> PushResult:
    """`push` refused the campaign content: record why, and push the identity alone, in time."""
    ref = lettering.content_refs.get(adapter.name, "")
    result.refused_content.append((adapter.name, ref))
    result.attempts[-1] = dataclasses.replace(
        push, notes=(*push.notes, f"campaign content {ref} refused: sending the identity alone")
    )
    if deadline - time.monotonic() < MIN_REQUEST_S:
        return result.attempts[-1]
    again = await adapter.push(identity_only(lettering), deadline)
    again = dataclasses.replace(
        again, notes=(f"identity only: {adapter.name} refused campaign content {ref}", *again.notes)
    )
    result.attempts.append(again)
    return again


def carrier_sequence(
    adapters: Mapping[str, CarrierAdapter], order: Sequence[str], learned: str | None
) -> list[str]:
    """The carriers to try: the learned one first, then the configured order, each once."""
    sequence: list[str] = []
    for name in ([learned] if learned else []) + list(order):
        if name in adapters and name not in sequence:
            sequence.append(name)
    return sequence


async def route_push(
    adapters: Mapping[str, CarrierAdapter],
    order: Sequence[str],
    learned: str | None,
    lettering: Lettering,
    deadline: float,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: Callable[[], float] = random.random,
) -> RouteResult:
    """Push `lettering` to the callee's carrier, trying carriers in turn until one knows the callee."""
    result = RouteResult()
    if deadline - time.monotonic() < MIN_REQUEST_S:
        result.outcome = "expired"  # never start a push after the ring window
        return result
    any_failed = False  # a carrier is down, or carriers were left untried
    carrier_failed = False  # a carrier answered unavailable (not the service being late)
    for name in carrier_sequence(adapters, order, learned):
        if deadline - time.monotonic() < MIN_REQUEST_S:
            any_failed = True  # carriers left untried: we cannot say nobody has the callee
            break
        adapter = adapters[name]
        push = await adapter.push(lettering, deadline)
        result.attempts.append(push)
        if push.outcome is Outcome.throttled:
            wait = push.retry_after_s
            if wait is None:
                wait = full_jitter_backoff(0, THROTTLE_BACKOFF_BASE_S, THROTTLE_BACKOFF_CAP_S, rng)
            if time.monotonic() + wait + MIN_RETRY_BUDGET_S <= deadline:
                await sleep(wait)
                push = await adapter.push(lettering, deadline)
                result.attempts.append(push)
        if push.outcome is Outcome.rejected and push.content_refused:
            push = await _without_refused_content(result, adapter, lettering, push, deadline)
        result.final = push
        if push.outcome is Outcome.accepted:
            result.outcome = "accepted"
            result.subscriber_carrier = name
            return result
        if push.outcome is Outcome.unsupported_device:
            result.outcome = "unsupported_device"
            result.subscriber_carrier = name
            return result
        if push.outcome is Outcome.rejected:
            result.outcome = "rejected"
            return result
        if push.outcome is Outcome.not_subscriber:
            if name == learned:
                result.forget_learned = True
            continue
        any_failed = True  # unavailable, or still throttled: move on to the next carrier
        carrier_failed = carrier_failed or push.code != SERVICE_LATE
    if any_failed and not carrier_failed and result.final is not None and result.final.code == SERVICE_LATE:
        result.outcome = "late"
    else:
        result.outcome = "failed" if any_failed or not result.attempts else "no_subscriber"
    return result
