"""Call records: written by the call path, completed by later events in any order."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from carriers.base import PushResult
from lettering.calls.models import CallAttempt, CallRecord
from lettering.db import utcnow
from lettering.db_upsert import insert_for
from lettering.keyring.columns import HashColumn, SealedColumns

# What other packages get to read of a call record (they never query the table themselves).
CallRecordView = CallRecord

# Where this package keeps numbers, for `lettering keys rotate` (lettering/keyring).
KEY_COLUMNS = (
    SealedColumns(
        CallRecord.__table__,  # type: ignore[attr-defined]
        id="id",
        hash="callee_hash",
        ciphertext="callee_ciphertext",
        version="callee_key_version",
    ),
    HashColumn(CallRecord.__table__, hash="callee_hash"),  # type: ignore[attr-defined]
)


# Unambiguous characters (no 0/O, 1/I/L): read from a phone screen and typed on a web page.
VERIFY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_verify_code() -> str:
    """A short random code that lets a citizen check this call at /verify."""
    return "".join(secrets.choice(VERIFY_ALPHABET) for _ in range(6))


@dataclass(frozen=True, slots=True)
class SetupFacts:
    """What a `call.setup` establishes about a call, written before any push is made."""

    public_id: str  # the request id sent to carriers (kept from an earlier record of the call)
    verify_code: str
    agency_id: int
    extension: str
    occurred_at: datetime
    setup_received_at: datetime
    explanation: tuple[str, ...]
    department_id: int | None = None
    caller_e164: str | None = None
    callee_hash: str | None = None
    callee_ciphertext: bytes | None = None
    callee_key_version: int | None = None
    campaign_id: int | None = None
    # Set when the setup is answered without a push (skipped, suppressed, shed).
    lettering: str | None = None
    reason: str | None = None
    final_outcome: str | None = None
    final_reason: str | None = None
    elapsed_ms: int | None = None

    def columns(self) -> dict[str, Any]:
        values = asdict(self)
        values["explanation"] = json.dumps(list(self.explanation), ensure_ascii=False)
        return values


@dataclass(frozen=True, slots=True)
class OpenedCall:
    """The call record a setup wrote, or found."""

    record_id: int
    public_id: str
    # The call's setup was processed before (a retry after a failure, a new webhook-id): answer
    # what was decided then and never push a second time.
    earlier: CallRecord | None = None
    # `call.ended` came before the setup: the record as it is now (a missed-call notice may be due).
    ended_first: CallRecord | None = None


@dataclass(frozen=True, slots=True)
class Told:
    """What the PBX was told at setup (recorded with the push's outcome)."""

    lettering: str
    reason: str | None
    elapsed_ms: int | None


async def open_setup(session: AsyncSession, pbx_id: str, call_id: str, facts: SetupFacts) -> OpenedCall:
    """Record a setup: one `INSERT … ON CONFLICT DO NOTHING RETURNING id` for a call seen first
    here (the common case); an existing record is completed, or reported as set up before."""
    table = CallRecord.__table__  # type: ignore[attr-defined]
    now = utcnow()
    values = facts.columns()
    inserted = (
        await session.execute(
            insert_for(session, table)
            .values(pbx_id=pbx_id, call_id=call_id, notes="[]", created_at=now, updated_at=now, **values)
            .on_conflict_do_nothing(index_elements=[table.c.pbx_id, table.c.call_id])
            .returning(table.c.id)
        )
    ).scalar_one_or_none()
    if inserted is not None:
        return OpenedCall(int(inserted), facts.public_id)
    seen = await find_call(session, pbx_id, call_id)
    assert seen is not None
    assert seen.id is not None
    if seen.setup_received_at is not None:
        return OpenedCall(seen.id, seen.public_id, earlier=seen)
    values.pop("public_id")
    await update_call(session, seen.id, **values)
    ended = await get_call(session, seen.id) if seen.end_cause is not None else None
    return OpenedCall(seen.id, seen.public_id, ended_first=ended)


async def record_setups(session: AsyncSession, setups: list[tuple[str, str, SetupFacts]]) -> None:
    """Records of setups answered without any processing (shed), in one executemany; a call
    already recorded is left as it is."""
    if not setups:
        return
    table = CallRecord.__table__  # type: ignore[attr-defined]
    now = utcnow()
    await session.execute(
        insert_for(session, table).on_conflict_do_nothing(index_elements=[table.c.pbx_id, table.c.call_id]),
        [
            {"pbx_id": pbx_id, "call_id": call_id, "notes": "[]", "created_at": now, "updated_at": now}
            | facts.columns()
            for pbx_id, call_id, facts in setups
        ],
    )


def new_public_id() -> str:
    return uuid.uuid4().hex


async def get_or_create_call(session: AsyncSession, pbx_id: str, call_id: str) -> CallRecord:
    """The call's record, created if this is the first event seen for it (any event type)."""
    table = CallRecord.__table__  # type: ignore[attr-defined]
    now = utcnow()
    await session.execute(
        insert_for(session, table)
        .values(
            public_id=uuid.uuid4().hex,
            pbx_id=pbx_id,
            call_id=call_id,
            explanation="[]",
            notes="[]",
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[table.c.pbx_id, table.c.call_id])
    )
    row = (
        await session.execute(
            select(CallRecord)
            .where(CallRecord.pbx_id == pbx_id, CallRecord.call_id == call_id)  # type: ignore[arg-type]
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    return row


async def update_call(session: AsyncSession, record_id: int, **values: Any) -> None:
    """Set columns of one call record (only the given ones, so concurrent writers do not clash)."""
    values["updated_at"] = utcnow()
    await session.execute(update(CallRecord).where(CallRecord.id == record_id).values(**values))  # type: ignore[arg-type]


async def record_setup(
    session: AsyncSession,
    pbx_id: str,
    call_id: str,
    *,
    explanation: Sequence[str],
    **values: Any,
) -> CallRecord:
    """Record what the setup decided (before any push is made)."""
    record = await get_or_create_call(session, pbx_id, call_id)
    assert record.id is not None
    await update_call(
        session, record.id, explanation=json.dumps(list(explanation), ensure_ascii=False), **values
    )
    return record


async def record_progress(
    session: AsyncSession, pbx_id: str, call_id: str, event_type: str, occurred_at: datetime, **fields: Any
) -> CallRecord:
    """`call.answered` / `call.ended`: fill in the outcome, whether or not the setup was seen."""
    record = await get_or_create_call(session, pbx_id, call_id)
    assert record.id is not None
    values: dict[str, Any] = {}
    if event_type == "call.answered":
        values.update(answered=True, answered_at=occurred_at)
    else:
        values.update(
            answered=bool(fields["answered"]),
            talk_seconds=fields["talk_seconds"],
            end_cause=fields["end_cause"],
            ended_at=occurred_at,
        )
    await update_call(session, record.id, **values)
    refreshed = await get_call(session, record.id)
    assert refreshed is not None
    return refreshed


async def add_attempts(
    session: AsyncSession, record_id: int, attempts: Iterable[PushResult], display_result: str | None = None
) -> None:
    """Store the pushes; a display report that came before them is copied to the push it reports on."""
    now = utcnow()
    rows = [
        {
            "call_record_id": record_id,
            "carrier": push.carrier,
            "outcome": push.outcome.value,
            "code": push.code[:32],
            "latency_ms": push.latency_ms,
            "provider_ref": push.provider_ref,
            "notes": json.dumps(list(push.notes), ensure_ascii=False),
            "report_result": display_result
            if push.outcome.value == "accepted" and push.carrier == "lgu"
            else None,
            "created_at": now,
        }
        for push in attempts
    ]
    if rows:
        # One Core INSERT (executemany): no table-row objects on the call path.
        await session.execute(CallAttempt.__table__.insert(), rows)  # type: ignore[attr-defined]


async def find_attempt(session: AsyncSession, carrier: str, provider_ref: str) -> CallAttempt | None:
    return (
        await session.execute(
            select(CallAttempt)
            .where(CallAttempt.carrier == carrier, CallAttempt.provider_ref == provider_ref)  # type: ignore[arg-type]
            .order_by(CallAttempt.id.desc())  # type: ignore[union-attr]
            .limit(1)
        )
    ).scalar_one_or_none()


async def get_call(session: AsyncSession, record_id: int) -> CallRecord | None:
    return await session.get(CallRecord, record_id, populate_existing=True)


async def find_call(session: AsyncSession, pbx_id: str, call_id: str) -> CallRecord | None:
    return (
        await session.execute(
            select(CallRecord)
            .where(CallRecord.pbx_id == pbx_id, CallRecord.call_id == call_id)  # type: ignore[arg-type]
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def attempts_of(session: AsyncSession, record_id: int) -> list[CallAttempt]:
    rows = await session.execute(
        select(CallAttempt).where(CallAttempt.call_record_id == record_id).order_by(CallAttempt.id)  # type: ignore[arg-type]
    )
    return list(rows.scalars())


async def display_result_of(session: AsyncSession, record_id: int) -> str | None:
    result: str | None = (
        await session.execute(select(CallRecord.display_result).where(CallRecord.id == record_id))  # type: ignore[call-overload]
    ).scalar_one()
    return result


async def settle_accepted_call(session: AsyncSession, record_id: int, **values: Any) -> bool:
    """Change the final outcome of a call only while it is still `accepted` (late carrier reports)."""
    changed = await session.execute(
        update(CallRecord)
        .where(CallRecord.id == record_id, CallRecord.final_outcome == "accepted")  # type: ignore[arg-type]
        .values(updated_at=utcnow(), **values)
    )
    return bool(changed.rowcount)  # type: ignore[attr-defined]


async def record_display_result(
    session: AsyncSession, public_id: str, result: str, at: datetime
) -> int | str:
    """Record a carrier's display report once: the call's id, or 'repeat' / 'unknown'.

    The call row is updated first, so this serialises with the push's own final write.
    """
    changed = await session.execute(
        update(CallRecord)
        .where(CallRecord.public_id == public_id, col(CallRecord.display_result).is_(None))  # type: ignore[arg-type]
        .values(display_result=result, updated_at=utcnow())
    )
    record_id = (
        await session.execute(select(CallRecord.id).where(CallRecord.public_id == public_id))  # type: ignore[call-overload]
    ).scalar_one_or_none()
    if record_id is None:
        return "unknown"
    if not changed.rowcount:  # type: ignore[attr-defined]
        return "repeat"
    await session.execute(
        update(CallAttempt)
        .where(
            col(CallAttempt.call_record_id) == record_id,
            col(CallAttempt.provider_ref) == public_id,
        )
        .values(report_result=result, report_at=at)
    )
    return int(record_id)


# -- the citizen call check, opt-out pages and retention (lettering.verify, lettering.optout,
#    lettering.retention) ----------------------------------------------------------------------


async def find_call_by_verify_code(session: AsyncSession, code: str, since: datetime) -> CallRecord | None:
    """The most recent call shown with this verify code, made since `since` (the retention period)."""
    query = (
        select(CallRecord)
        .where(col(CallRecord.verify_code) == code, col(CallRecord.created_at) >= since)
        .order_by(col(CallRecord.created_at).desc(), col(CallRecord.id).desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def latest_callee_ciphertext(
    session: AsyncSession, callee_hash: str
) -> tuple[bytes, int, int | None, datetime] | None:
    """(ciphertext, key version, agency id, when) of the newest call still keeping this citizen's number."""
    query = (
        select(  # type: ignore[call-overload]
            CallRecord.callee_ciphertext,
            CallRecord.callee_key_version,
            CallRecord.agency_id,
            CallRecord.created_at,
        )
        .where(col(CallRecord.callee_hash) == callee_hash, col(CallRecord.callee_ciphertext).is_not(None))
        .order_by(col(CallRecord.created_at).desc(), col(CallRecord.id).desc())
        .limit(1)
    )
    row = (await session.execute(query)).first()
    if row is None:
        return None
    ciphertext, key_version, agency_id, created_at = row
    return bytes(ciphertext), int(key_version or 1), agency_id, created_at


async def calls_keeping_numbers(
    session: AsyncSession, older_than: datetime, limit: int = 1000, after_id: int = 0
) -> list[int]:
    """Ids (ascending, above `after_id`) of calls before `older_than` that still keep the number."""
    query = (
        select(CallRecord.id)  # type: ignore[call-overload]
        .where(
            col(CallRecord.created_at) < older_than,
            col(CallRecord.callee_ciphertext).is_not(None),
            col(CallRecord.id) > after_id,
        )
        .order_by(col(CallRecord.id))
        .limit(limit)
    )
    return [int(i) for (i,) in (await session.execute(query)).all()]


async def callee_numbers(
    session: AsyncSession, ids: Sequence[int]
) -> list[tuple[str, bytes, int, int | None, datetime]]:
    """(hash, ciphertext, key version, agency id, when) of these calls' numbers, oldest call first."""
    if not ids:
        return []
    query = (
        select(  # type: ignore[call-overload]
            CallRecord.callee_hash,
            CallRecord.callee_ciphertext,
            CallRecord.callee_key_version,
            CallRecord.agency_id,
            CallRecord.created_at,
        )
        .where(
            col(CallRecord.id).in_(list(ids)),
            col(CallRecord.callee_ciphertext).is_not(None),
            col(CallRecord.callee_hash).is_not(None),
        )
        .order_by(col(CallRecord.created_at), col(CallRecord.id))
    )
    return [
        (str(h), bytes(ct), int(v or 1), agency, at)
        for h, ct, v, agency, at in (await session.execute(query)).all()
    ]


async def drop_callee_numbers(session: AsyncSession, ids: Sequence[int]) -> int:
    """Forget the encrypted number of these calls (the keyed hash stays for counts and opt-outs)."""
    if not ids:
        return 0
    result = await session.execute(
        update(CallRecord)
        .where(col(CallRecord.id).in_(list(ids)), col(CallRecord.callee_ciphertext).is_not(None))
        .values(callee_ciphertext=None, callee_key_version=None, updated_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def calls_made_before(
    session: AsyncSession, older_than: datetime, limit: int = 1000, after_id: int = 0
) -> list[int]:
    """Ids (ascending, above `after_id`) of calls recorded before `older_than` (to delete them)."""
    query = (
        select(CallRecord.id)  # type: ignore[call-overload]
        .where(col(CallRecord.created_at) < older_than, col(CallRecord.id) > after_id)
        .order_by(col(CallRecord.id))
        .limit(limit)
    )
    return [int(i) for (i,) in (await session.execute(query)).all()]


async def delete_calls(session: AsyncSession, ids: Sequence[int]) -> int:
    """Delete these call records with their carrier attempts; the number of records deleted."""
    if not ids:
        return 0
    await session.execute(delete(CallAttempt).where(col(CallAttempt.call_record_id).in_(list(ids))))
    result = await session.execute(delete(CallRecord).where(col(CallRecord.id).in_(list(ids))))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
