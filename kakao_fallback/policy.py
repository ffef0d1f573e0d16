"""When an AlimTalk may go out: sending hours (Asia/Seoul) and the delivery-result state machine."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from lettering.core.clock import SEOUL

# Delivery results only move up this order: a late READY never overwrites COMPLETED.
DELIVERY_RANK: dict[str, int] = {"READY": 1, "CANCEL": 2, "FAILED": 3, "COMPLETED": 4}
FINAL_STATUSES = frozenset({"CANCEL", "FAILED", "COMPLETED"})

# Kakao result codes (spec/alimtalk.md).
NOT_KAKAO_USER = frozenset({"3019", "3027", "3050"})
BLOCKED = frozenset({"3020", "3044", "3046"})
TEMPLATE_BUG = frozenset({"3032", "3033", "3034", "3036"})
BAD_SENDER_KEY = "3024"


def parse_clock(text: str) -> time:
    """'08:00' -> 08:00; '24:00' is the end of the day."""
    hours, minutes = (int(part) for part in text.split(":"))
    if (hours, minutes) == (24, 0):
        return time.max
    return time(hours, minutes)


def next_send_time(now: datetime, send_from: str, send_until: str) -> datetime | None:
    """None when `now` is inside the sending hours, else the next opening (UTC)."""
    local = now.astimezone(SEOUL)
    start, end = parse_clock(send_from), parse_clock(send_until)
    if start <= local.time() < end:
        return None
    opening = datetime.combine(local.date(), start, tzinfo=SEOUL)
    if local.time() >= end:
        opening += timedelta(days=1)
    return opening.astimezone(UTC)


def merge_delivery(current: str | None, incoming: str) -> str:
    """The state after a result arrives: the higher-precedence one (results come late and twice)."""
    if current is None:
        return incoming
    return incoming if DELIVERY_RANK.get(incoming, 0) > DELIVERY_RANK.get(current, 0) else current


def backoff_s(attempt: int, base_s: float, cap_s: float, rnd: float) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2^attempt)]."""
    return float(rnd * min(cap_s, base_s * (2.0 ** min(attempt, 30))))
