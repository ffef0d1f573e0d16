"""The citizen-number register: one encrypted copy per citizen, while something still needs it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession

from kakao_fallback import service as kakao_service
from lettering.calls import service as call_service
from lettering.core.phone import PhoneVault
from lettering.optout import repository


@dataclass(frozen=True, slots=True)
class RetainedNumber:
    ciphertext: bytes
    key_version: int
    agency_id: int | None
    at: datetime


async def retained_number(session: AsyncSession, callee_hash: str) -> RetainedNumber | None:
    """The newest encrypted copy of this citizen's number kept by a call, a message or the register."""
    kept = await repository.kept_number(session, callee_hash)
    found = [
        RetainedNumber(bytes(row[0]), int(row[1]), row[2], row[3])
        for row in (
            await call_service.latest_callee_ciphertext(session, callee_hash),
            await kakao_service.latest_recipient_ciphertext(session, callee_hash),
        )
        if row is not None
    ]
    if kept is not None:
        found.append(RetainedNumber(kept.ciphertext, kept.key_version, kept.agency_id, kept.last_contact_at))
    return max(found, key=lambda r: r.at) if found else None


async def keep_number(
    session: AsyncSession,
    *,
    callee_hash: str,
    ciphertext: bytes,
    key_version: int,
    agency_id: int | None,
    contact_at: datetime,
) -> None:
    """Keep (or refresh) a citizen's encrypted number in the register; the newest contact wins."""
    await repository.keep_number(
        session,
        callee_hash=callee_hash,
        ciphertext=ciphertext,
        key_version=key_version,
        agency_id=agency_id,
        contact_at=contact_at,
    )


async def forget_numbers(session: AsyncSession, older_than: datetime, *, batch: int = 1000) -> int:
    """Delete register rows last contacted before `older_than` that no opt-out in force needs."""
    return await repository.forget_numbers(session, older_than, batch=batch)


def open_number(vault: PhoneVault, retained: RetainedNumber | None) -> str | None:
    """The E.164 number of a retained copy, or None (none kept, or sealed under a retired key)."""
    if retained is None:
        return None
    try:
        return vault.open(retained.ciphertext, retained.key_version)
    except (InvalidTag, ValueError):
        return None
