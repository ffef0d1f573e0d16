"""The citizen-number register: one encrypted copy per citizen, while something still needs it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kakao_fallback import service as kakao_service
from lettering.calls import service as call_service
from lettering.core.db import rows_touched, table_of, utcnow
from lettering.core.db_upsert import insert_for
from lettering.core.phone import PhoneVault
from lettering.optout.models import CitizenNumber, OptoutState


@dataclass(frozen=True, slots=True)
class RetainedNumber:
    ciphertext: bytes
    key_version: int
    agency_id: int | None
    at: datetime


async def retained_number(session: AsyncSession, callee_hash: str) -> RetainedNumber | None:
    """The newest encrypted copy of this citizen's number kept by a call, a message or the register."""
    kept = await session.execute(
        select(  # type: ignore[call-overload]
            CitizenNumber.ciphertext,
            CitizenNumber.key_version,
            CitizenNumber.agency_id,
            CitizenNumber.last_contact_at,
        ).where(col(CitizenNumber.callee_hash) == callee_hash)
    )
    found = [
        RetainedNumber(bytes(row[0]), int(row[1]), row[2], row[3])
        for row in (
            await call_service.latest_callee_ciphertext(session, callee_hash),
            await kakao_service.latest_recipient_ciphertext(session, callee_hash),
            kept.first(),
        )
        if row is not None
    ]
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
    table = table_of(CitizenNumber)
    await session.execute(
        insert_for(session, table)
        .values(
            callee_hash=callee_hash,
            ciphertext=ciphertext,
            key_version=key_version,
            agency_id=agency_id,
            last_contact_at=contact_at,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[table.c.callee_hash])
    )
    await session.execute(
        update(CitizenNumber)
        .where(col(CitizenNumber.callee_hash) == callee_hash, col(CitizenNumber.last_contact_at) < contact_at)
        .values(
            ciphertext=ciphertext, key_version=key_version, agency_id=agency_id, last_contact_at=contact_at
        )
    )


async def forget_numbers(session: AsyncSession, older_than: datetime, *, batch: int = 1000) -> int:
    """Delete register rows last contacted before `older_than` that no opt-out in force needs."""
    needed = select(col(OptoutState.callee_hash)).where(col(OptoutState.scope) != "none")
    ids = (
        (
            await session.execute(
                select(CitizenNumber.id)  # type: ignore[call-overload]
                .where(
                    col(CitizenNumber.last_contact_at) < older_than,
                    col(CitizenNumber.callee_hash).not_in(needed),
                )
                .limit(batch)
            )
        )
        .scalars()
        .all()
    )
    if not ids:
        return 0
    result = await session.execute(delete(CitizenNumber).where(col(CitizenNumber.id).in_(list(ids))))
    return rows_touched(result)


def open_number(vault: PhoneVault, retained: RetainedNumber | None) -> str | None:
    """The E.164 number of a retained copy, or None (none kept, or sealed under a retired key)."""
    if retained is None:
        return None
    try:
        return vault.open(retained.ciphertext, retained.key_version)
    except (InvalidTag, ValueError):
        return None
