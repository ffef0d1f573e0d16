"""All of the SQL on call records and attempts.

The call path's statements are plain functions over a Core `Connection`, built once per dialect:
they run inside the units of the call path's group commit (lettering.core.db.GroupCommitter) or,
from async code, through `run_sync`. The citizen call check, opt-out pages and retention use the
async functions at the end, on the caller's session (they only flush). Rows leave this module as
frozen `CallRecordView`s or plain values, never as table rows.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Executable

from carriers.base import PushResult
from lettering.calls.models import CallAttempt, CallRecord
from lettering.core.db import rows_touched, table_of, utcnow
from lettering.core.db_upsert import insert_of
from lettering.core.keycolumns import HashColumn, SealedColumns

CALL = table_of(CallRecord)
ATTEMPT = table_of(CallAttempt)


@dataclass(frozen=True, slots=True)
class CallRecordView:
    """One call record as other packages see it (a copy: changing it changes nothing)."""

    id: int
    public_id: str
    pbx_id: str
    call_id: str
    created_at: datetime
    verify_code: str | None = None
    agency_id: int | None = None
    extension: str | None = None
    department_id: int | None = None
    caller_e164: str | None = None
    callee_hash: str | None = None
    callee_ciphertext: bytes | None = None
    callee_key_version: int | None = None
    occurred_at: datetime | None = None
    setup_received_at: datetime | None = None
    lettering: str | None = None
    reason: str | None = None
    elapsed_ms: int | None = None
    final_outcome: str | None = None
    final_reason: str | None = None
    carrier: str | None = None
    campaign_id: int | None = None
    fallback: str | None = None
    display_result: str | None = None
    arm: str = "lettered"
    explanation: str = "[]"
    notes: str = "[]"
    answered: bool | None = None
    talk_seconds: int | None = None
    end_cause: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    updated_at: datetime | None = None


_VIEW_COLUMNS = [CALL.c[f.name] for f in dataclasses.fields(CallRecordView)]


def _view(row: Row[Any] | None) -> CallRecordView | None:
    if row is None:
        return None
    values = dict(row._mapping)
    if values["callee_ciphertext"] is not None:
        values["callee_ciphertext"] = bytes(values["callee_ciphertext"])
    return CallRecordView(**values)


@functools.cache
def _insert_call(dialect: str) -> Executable:
    insert = insert_of(dialect, CALL).on_conflict_do_nothing(index_elements=[CALL.c.pbx_id, CALL.c.call_id])
    return insert.returning(CALL.c.id)  # type: ignore[no-any-return]


@functools.cache
def _insert_calls(dialect: str) -> Executable:
    return insert_of(dialect, CALL).on_conflict_do_nothing(  # type: ignore[no-any-return]
        index_elements=[CALL.c.pbx_id, CALL.c.call_id]
    )


_UPDATE = update(CALL).where(CALL.c.id == bindparam("b_record_id"))
_GET = select(*_VIEW_COLUMNS).where(CALL.c.id == bindparam("b_record_id"))
_FIND = select(*_VIEW_COLUMNS).where(
    CALL.c.pbx_id == bindparam("b_pbx"), CALL.c.call_id == bindparam("b_call")
)
_FIND_ID = select(CALL.c.id).where(CALL.c.pbx_id == bindparam("b_pbx"), CALL.c.call_id == bindparam("b_call"))
_DISPLAY_RESULT = select(CALL.c.display_result).where(CALL.c.id == bindparam("b_record_id"))
_SETTLE_ACCEPTED = update(CALL).where(
    CALL.c.id == bindparam("b_record_id"), CALL.c.final_outcome == "accepted"
)
_SETTLE_OPEN = update(CALL).where(CALL.c.id == bindparam("b_record_id"), CALL.c.final_outcome.is_(None))
_OPEN_SETUPS = (
    select(*_VIEW_COLUMNS)
    .where(
        CALL.c.setup_received_at < bindparam("b_before"),
        CALL.c.final_outcome.is_(None),
        CALL.c.agency_id.is_not(None),
        CALL.c.callee_hash.is_not(None),
    )
    .order_by(CALL.c.setup_received_at)  # the partial index's order
    .limit(bindparam("b_limit"))
)
_REPORT = (
    update(CALL)
    .where(CALL.c.public_id == bindparam("b_public_id"), CALL.c.display_result.is_(None))
    .values(display_result=bindparam("b_result"), updated_at=bindparam("b_now"))
)
_ID_OF_PUBLIC = select(CALL.c.id).where(CALL.c.public_id == bindparam("b_public_id"))
_REPORT_ATTEMPT = (
    update(ATTEMPT)
    .where(ATTEMPT.c.call_record_id == bindparam("b_record_id"), ATTEMPT.c.provider_ref == bindparam("b_ref"))
    .values(report_result=bindparam("b_result"), report_at=bindparam("b_at"))
)
_INSERT_ATTEMPTS = ATTEMPT.insert()


def insert_setup(conn: Connection, pbx_id: str, call_id: str, columns: dict[str, Any]) -> int | None:
    """The call's record with these columns; its id, or None when the call is recorded already."""
    now = utcnow()
    inserted = conn.execute(
        _insert_call(conn.dialect.name),
        {"pbx_id": pbx_id, "call_id": call_id, "notes": "[]", "created_at": now, "updated_at": now} | columns,
    ).scalar_one_or_none()
    return None if inserted is None else int(inserted)


def insert_setups(conn: Connection, setups: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Records of many calls in one executemany; a call already recorded is left as it is."""
    if not setups:
        return
    now = utcnow()
    conn.execute(
        _insert_calls(conn.dialect.name),
        [
            {"pbx_id": pbx_id, "call_id": call_id, "notes": "[]", "created_at": now, "updated_at": now}
            | columns
            for pbx_id, call_id, columns in setups
        ],
    )


def get_or_create_call(conn: Connection, pbx_id: str, call_id: str) -> int:
    """The id of the call's record, created if this is the first event seen for it (any type)."""
    now = utcnow()
    conn.execute(
        _insert_calls(conn.dialect.name),
        {
            "public_id": uuid.uuid4().hex,
            "pbx_id": pbx_id,
            "call_id": call_id,
            "explanation": "[]",
            "notes": "[]",
            "created_at": now,
            "updated_at": now,
        },
    )
    return int(conn.execute(_FIND_ID, {"b_pbx": pbx_id, "b_call": call_id}).scalar_one())


def update_call(conn: Connection, record_id: int, **values: Any) -> None:
    """Set columns of one call record (only the given ones, so concurrent writers do not clash)."""
    conn.execute(_UPDATE, {"b_record_id": record_id, "updated_at": utcnow(), **values})


def get_call(conn: Connection, record_id: int) -> CallRecordView | None:
    return _view(conn.execute(_GET, {"b_record_id": record_id}).first())


def find_call(conn: Connection, pbx_id: str, call_id: str) -> CallRecordView | None:
    return _view(conn.execute(_FIND, {"b_pbx": pbx_id, "b_call": call_id}).first())


def display_result_of(conn: Connection, record_id: int) -> str | None:
    result: str | None = conn.execute(_DISPLAY_RESULT, {"b_record_id": record_id}).scalar_one()
    return result


def settle_accepted_call(conn: Connection, record_id: int, **values: Any) -> bool:
    """Change the final outcome of a call only while it is still `accepted` (late carrier reports)."""
    changed = conn.execute(_SETTLE_ACCEPTED, {"b_record_id": record_id, "updated_at": utcnow(), **values})
    return bool(changed.rowcount)


def open_setups(conn: Connection, before: datetime, limit: int) -> list[CallRecordView]:
    """Calls set up before `before` whose push never got an outcome recorded (the process that
    held them died between recording the setup and recording the push), oldest first."""
    rows = conn.execute(_OPEN_SETUPS, {"b_before": before, "b_limit": limit}).all()
    return [view for view in map(_view, rows) if view is not None]


def settle_open_call(conn: Connection, record_id: int, **values: Any) -> bool:
    """Set the final outcome of a call that has none yet (False when one was recorded meanwhile)."""
    changed = conn.execute(_SETTLE_OPEN, {"b_record_id": record_id, "updated_at": utcnow(), **values})
    return bool(changed.rowcount)


def add_attempts(
    conn: Connection, record_id: int, attempts: Iterable[PushResult], display_result: str | None = None
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
            "report_at": None,
            "created_at": now,
        }
        for push in attempts
    ]
    if rows:
        conn.execute(_INSERT_ATTEMPTS, rows)


def record_display_result(conn: Connection, public_id: str, result: str, at: datetime) -> int | str:
    """Record a carrier's display report once: the call's id, or 'repeat' / 'unknown'.

    The call row is updated first, so this serialises with the push's own final write.
    """
    changed = conn.execute(_REPORT, {"b_public_id": public_id, "b_result": result, "b_now": utcnow()})
    record_id = conn.execute(_ID_OF_PUBLIC, {"b_public_id": public_id}).scalar_one_or_none()
    if record_id is None:
        return "unknown"
    if not changed.rowcount:
        return "repeat"
    conn.execute(
        _REPORT_ATTEMPT, {"b_record_id": record_id, "b_ref": public_id, "b_result": result, "b_at": at}
    )
    return int(record_id)


# -- the admin views, the citizen call check, opt-out pages and retention (through the service) --

# Row ids are INTEGER columns: 32 bits on PostgreSQL (64 on SQLite). A larger id names no row, and
# asking PostgreSQL for it is an error there, not an empty answer.
MAX_ROW_ID = 2**31 - 1


async def call_by_id(session: AsyncSession, record_id: int) -> CallRecordView | None:
    """The call record with this id (None for an id no row can have)."""
    if not 1 <= record_id <= MAX_ROW_ID:
        return None
    return await session.run_sync(lambda s: get_call(s.connection(), record_id))


async def find_call_by_verify_code(
    session: AsyncSession, code: str, since: datetime
) -> CallRecordView | None:
    """The most recent call shown with this verify code, made since `since` (the retention period)."""
    query = (
        select(*_VIEW_COLUMNS)
        .where(CALL.c.verify_code == code, CALL.c.created_at >= since)
        .order_by(CALL.c.created_at.desc(), CALL.c.id.desc())
        .limit(1)
    )
    return _view((await session.execute(query)).first())


async def latest_callee_ciphertext(
    session: AsyncSession, callee_hash: str
) -> tuple[bytes, int, int | None, datetime] | None:
    """(ciphertext, key version, agency id, when) of the newest call still keeping this citizen's number."""
    query = (
        select(CALL.c.callee_ciphertext, CALL.c.callee_key_version, CALL.c.agency_id, CALL.c.created_at)
        .where(CALL.c.callee_hash == callee_hash, CALL.c.callee_ciphertext.is_not(None))
        .order_by(CALL.c.created_at.desc(), CALL.c.id.desc())
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
        select(CALL.c.id)
        .where(CALL.c.created_at < older_than, CALL.c.callee_ciphertext.is_not(None), CALL.c.id > after_id)
        .order_by(CALL.c.id)
        .limit(limit)
    )
    return [int(i) for i in (await session.execute(query)).scalars()]


async def callee_numbers(
    session: AsyncSession, ids: Sequence[int]
) -> list[tuple[str, bytes, int, int | None, datetime]]:
    """(hash, ciphertext, key version, agency id, when) of these calls' numbers, oldest call first."""
    if not ids:
        return []
    query = (
        select(
            CALL.c.callee_hash,
            CALL.c.callee_ciphertext,
            CALL.c.callee_key_version,
            CALL.c.agency_id,
            CALL.c.created_at,
        )
        .where(
            CALL.c.id.in_(list(ids)),
            CALL.c.callee_ciphertext.is_not(None),
            CALL.c.callee_hash.is_not(None),
        )
        .order_by(CALL.c.created_at, CALL.c.id)
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
        update(CALL)
        .where(CALL.c.id.in_(list(ids)), CALL.c.callee_ciphertext.is_not(None))
        .values(callee_ciphertext=None, callee_key_version=None, updated_at=utcnow())
    )
    return rows_touched(result)


async def calls_made_before(
    session: AsyncSession, older_than: datetime, limit: int = 1000, after_id: int = 0
) -> list[int]:
    """Ids (ascending, above `after_id`) of calls recorded before `older_than` (to delete them)."""
    query = (
        select(CALL.c.id)
        .where(CALL.c.created_at < older_than, CALL.c.id > after_id)
        .order_by(CALL.c.id)
        .limit(limit)
    )
    return [int(i) for i in (await session.execute(query)).scalars()]


async def delete_calls(session: AsyncSession, ids: Sequence[int]) -> int:
    """Delete these call records with their carrier attempts; the number of records deleted."""
    if not ids:
        return 0
    await session.execute(delete(ATTEMPT).where(ATTEMPT.c.call_record_id.in_(list(ids))))
    result = await session.execute(delete(CALL).where(CALL.c.id.in_(list(ids))))
    return rows_touched(result)


async def arm_counts(
    session: AsyncSession,
    agency_id: int,
    since: datetime | None,
    until: datetime | None,
    department_id: int | None,
) -> dict[str, tuple[int, int, int]]:
    """Arm -> (calls with call.ended recorded, answered, talk seconds of the answered) of the
    agency's calls recorded in [since, until). Counted: the calls whose setup reached the arm's
    choice, i.e. not suppressed and not skipped for another reason than the holdout."""
    answered = case((CALL.c.answered.is_(True), 1), else_=0)
    talk = case((CALL.c.answered.is_(True), func.coalesce(CALL.c.talk_seconds, 0)), else_=0)
    query = (
        select(CALL.c.arm, func.count(), func.sum(answered), func.sum(talk))
        .where(
            CALL.c.agency_id == agency_id,
            CALL.c.setup_received_at.is_not(None),
            CALL.c.answered.is_not(None),
            CALL.c.lettering.is_not(None),
            CALL.c.lettering != "suppressed",
            or_(CALL.c.lettering != "skipped", and_(CALL.c.reason == "holdout")),
        )
        .group_by(CALL.c.arm)
    )
    if since is not None:
        query = query.where(CALL.c.created_at >= since)
    if until is not None:
        query = query.where(CALL.c.created_at < until)
    if department_id is not None:
        query = query.where(CALL.c.department_id == department_id)
    return {
        str(arm): (int(calls), int(ans or 0), int(secs or 0))
        for arm, calls, ans, secs in (await session.execute(query)).all()
    }


# Where this package keeps citizens' numbers, for `lettering keys rotate` (lettering/keyring, which
# reaches them through this declaration, never through this package's models).
KEY_COLUMNS = (
    SealedColumns(
        table_of(CallRecord),
        id="id",
        hash="callee_hash",
        ciphertext="callee_ciphertext",
        version="callee_key_version",
    ),
    HashColumn(table_of(CallRecord), hash="callee_hash"),
)


# -- the dashboard's figures (lettering.calls.figures) ------------------------------------------


def _seoul(dialect: str, column: Any, part: str) -> ColumnElement[Any]:
    """The Seoul day ('YYYY-MM-DD') or hour ('HH') of a UTC timestamp column, in SQL."""
    if dialect == "postgresql":
        local = func.timezone("Asia/Seoul", column)
        return func.to_char(local, "YYYY-MM-DD" if part == "day" else "HH24")
    return func.strftime("%Y-%m-%d" if part == "day" else "%H", column, "+9 hours")


def _figures_where(
    query: Any, agency_id: int, since: datetime | None, until: datetime | None, department_id: int | None
) -> Any:
    query = query.where(CALL.c.agency_id == agency_id, CALL.c.setup_received_at.is_not(None))
    if since is not None:
        query = query.where(CALL.c.created_at >= since)
    if until is not None:
        query = query.where(CALL.c.created_at < until)
    if department_id is not None:
        query = query.where(CALL.c.department_id == department_id)
    return query


async def outcome_counts(
    session: AsyncSession,
    agency_id: int,
    since: datetime | None,
    until: datetime | None,
    department_id: int | None = None,
) -> list[tuple[str | None, str | None, str | None, int]]:
    """(carrier, lettering, final outcome, calls) of the agency's setups recorded in [since, until)."""
    query = _figures_where(
        select(CALL.c.carrier, CALL.c.lettering, CALL.c.final_outcome, func.count()),
        agency_id,
        since,
        until,
        department_id,
    ).group_by(CALL.c.carrier, CALL.c.lettering, CALL.c.final_outcome)
    rows = (await session.execute(query)).all()
    return [(carrier, lettering, final, int(n)) for carrier, lettering, final, n in rows]


async def period_counts(
    session: AsyncSession,
    agency_id: int,
    part: str,
    since: datetime | None,
    until: datetime | None,
    department_id: int | None = None,
) -> list[tuple[str, int, int, int]]:
    """(Seoul day 'YYYY-MM-DD' or hour 'HH', calls, answered, talk seconds) per day or hour."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    key = _seoul(dialect, CALL.c.created_at, part).label("key")
    answered = func.sum(case((CALL.c.answered.is_(True), 1), else_=0))
    talk = func.sum(func.coalesce(CALL.c.talk_seconds, 0))
    query = _figures_where(select(key, func.count(), answered, talk), agency_id, since, until, department_id)
    rows = (await session.execute(query.group_by(key).order_by(key))).all()
    return [(str(k), int(n), int(a or 0), int(t or 0)) for k, n, a, t in rows]


# -- the staff console's call search (lettering.console, through the service) -------------------


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One push to one carrier, as the console shows it."""

    carrier: str
    outcome: str
    code: str
    latency_ms: int
    report_result: str | None
    created_at: datetime


async def search_calls(
    session: AsyncSession,
    *,
    agency_id: int | None,
    department_id: int | None,
    since: datetime,
    until: datetime,
    before: tuple[datetime, int] | None,
    extension: str | None,
    lettering: str | None,
    carrier: str | None,
    verify_code: str | None,
    limit: int,
) -> list[CallRecordView]:
    """Calls recorded in [since, until), newest first, after the keyset cursor `before`.

    The range and the order are on `created_at` (ix_call_record_created_at: a backward range scan
    that stops after `limit` rows); with a verify code, ix_call_record_verify_code finds the few
    rows first. The other conditions filter the rows those indexes yield.
    """
    query = select(*_VIEW_COLUMNS).where(CALL.c.created_at >= since, CALL.c.created_at < until)
    if agency_id is not None:
        # `agency_id + 0`: not a column the planner can serve from ix_call_record_agency_id. Left
        # to itself (SQLite always, PostgreSQL for a single-agency service) it reads every call of
        # the agency by that index and sorts them, where the created_at index yields the newest
        # rows in order and stops after one page.
        query = query.where(CALL.c.agency_id + 0 == agency_id)
    if department_id is not None:
        query = query.where(CALL.c.department_id == department_id)
    if before is not None:
        at, record_id = before
        query = query.where((CALL.c.created_at < at) | ((CALL.c.created_at == at) & (CALL.c.id < record_id)))
    if extension:
        query = query.where(CALL.c.extension == extension)
    if lettering:
        query = query.where(CALL.c.lettering == lettering)
    if carrier:
        query = query.where(CALL.c.carrier == carrier)
    if verify_code:
        query = query.where(CALL.c.verify_code == verify_code)
    query = query.order_by(CALL.c.created_at.desc(), CALL.c.id.desc()).limit(limit)
    return [view for view in map(_view, (await session.execute(query)).all()) if view is not None]


async def attempts_of(session: AsyncSession, record_id: int) -> list[AttemptView]:
    """The call's pushes, in the order they were made."""
    query = (
        select(
            ATTEMPT.c.carrier,
            ATTEMPT.c.outcome,
            ATTEMPT.c.code,
            ATTEMPT.c.latency_ms,
            ATTEMPT.c.report_result,
            ATTEMPT.c.created_at,
        )
        .where(ATTEMPT.c.call_record_id == record_id)
        .order_by(ATTEMPT.c.id)
    )
    return [AttemptView(*row) for row in (await session.execute(query)).all()]
