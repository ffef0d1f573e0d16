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
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    delete,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement, Executable, Select

from carriers.base import PushResult
from lettering.calls.models import (
    CallAttempt,
    CallCampaignDay,
    CallDay,
    CallHour,
    CallRecord,
    CallRollupMark,
)
from lettering.core.db import UTCDateTime, rows_touched, table_of, utcnow
from lettering.core.db_upsert import insert_of
from lettering.core.keycolumns import HashColumn, SealedColumns
from lettering.core.prepared import execute

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
    inserted = execute(
        conn,
        _insert_call(conn.dialect.name),
        {"pbx_id": pbx_id, "call_id": call_id, "notes": "[]", "created_at": now, "updated_at": now} | columns,
    ).scalar_one_or_none()
    return None if inserted is None else int(inserted)


def insert_setups(conn: Connection, setups: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Records of many calls in one executemany; a call already recorded is left as it is."""
    if not setups:
        return
    now = utcnow()
    execute(
        conn,
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
    execute(
        conn,
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
    return int(execute(conn, _FIND_ID, {"b_pbx": pbx_id, "b_call": call_id}).scalar_one())


def update_call(conn: Connection, record_id: int, **values: Any) -> None:
    """Set columns of one call record (only the given ones, so concurrent writers do not clash)."""
    execute(conn, _UPDATE, {"b_record_id": record_id, "updated_at": utcnow(), **values})


def get_call(conn: Connection, record_id: int) -> CallRecordView | None:
    return _view(execute(conn, _GET, {"b_record_id": record_id}).first())


def find_call(conn: Connection, pbx_id: str, call_id: str) -> CallRecordView | None:
    return _view(execute(conn, _FIND, {"b_pbx": pbx_id, "b_call": call_id}).first())


def display_result_of(conn: Connection, record_id: int) -> str | None:
    result: str | None = execute(conn, _DISPLAY_RESULT, {"b_record_id": record_id}).scalar_one()
    return result


def settle_accepted_call(conn: Connection, record_id: int, **values: Any) -> bool:
    """Change the final outcome of a call only while it is still `accepted` (late carrier reports)."""
    changed = execute(conn, _SETTLE_ACCEPTED, {"b_record_id": record_id, "updated_at": utcnow(), **values})
    return bool(changed.rowcount)


def open_setups(conn: Connection, before: datetime, limit: int) -> list[CallRecordView]:
    """Calls set up before `before` whose push never got an outcome recorded (the process that
    held them died between recording the setup and recording the push), oldest first."""
    rows = execute(conn, _OPEN_SETUPS, {"b_before": before, "b_limit": limit}).all()
    return [view for view in map(_view, rows) if view is not None]


def settle_open_call(conn: Connection, record_id: int, **values: Any) -> bool:
    """Set the final outcome of a call that has none yet (False when one was recorded meanwhile)."""
    changed = execute(conn, _SETTLE_OPEN, {"b_record_id": record_id, "updated_at": utcnow(), **values})
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
        execute(conn, _INSERT_ATTEMPTS, rows)


def record_display_result(conn: Connection, public_id: str, result: str, at: datetime) -> int | str:
    """Record a carrier's display report once: the call's id, or 'repeat' / 'unknown'.

    The call row is updated first, so this serialises with the push's own final write.
    """
    changed = execute(conn, _REPORT, {"b_public_id": public_id, "b_result": result, "b_now": utcnow()})
    record_id = execute(conn, _ID_OF_PUBLIC, {"b_public_id": public_id}).scalar_one_or_none()
    if record_id is None:
        return "unknown"
    if not changed.rowcount:
        return "repeat"
    execute(
        conn, _REPORT_ATTEMPT, {"b_record_id": record_id, "b_ref": public_id, "b_result": result, "b_at": at}
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


# -- the dashboard's rollup (lettering.calls.rollup keeps it, lettering.calls.figures reads it) ---

DAY = table_of(CallDay)
HOUR = table_of(CallHour)
CAMPAIGN_DAY = table_of(CallCampaignDay)
MARK = table_of(CallRollupMark)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _seoul_date(dialect: str, column: Any) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return cast(func.timezone("Asia/Seoul", column), Date)
    return func.date(column, "+9 hours")


def _seoul_hour(dialect: str, column: Any) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return cast(func.extract("hour", func.timezone("Asia/Seoul", column)), Integer)
    return cast(func.strftime("%H", column, "+9 hours"), Integer)


def _reached_arm() -> ColumnElement[bool]:
    """The calls `arm_counts` counts: the setup reached the arm's choice (not suppressed, and not
    skipped for another reason than the holdout)."""
    return and_(
        CALL.c.lettering.is_not(None),
        CALL.c.lettering != "suppressed",
        or_(CALL.c.lettering != "skipped", CALL.c.reason == "holdout"),
    )


def _count_if(condition: ColumnElement[bool], value: Any = 1) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


async def rebuild_rollup(
    session: AsyncSession, first_day: date, last_day: date, since: datetime, until: datetime, now: datetime
) -> None:
    """Replace the rollup's rows of the Seoul days [first_day, last_day] (the call records created in
    [since, until), the same span in UTC) by the counts of the records as they are now."""
    dialect = _dialect(session)
    for table in (DAY, HOUR, CAMPAIGN_DAY):
        await session.execute(delete(table).where(table.c.day >= first_day, table.c.day <= last_day))
    day = _seoul_date(dialect, CALL.c.created_at).label("day")
    hour = _seoul_hour(dialect, CALL.c.created_at).label("hour")
    answered = CALL.c.answered.is_(True)
    ended = and_(_reached_arm(), CALL.c.answered.is_not(None))
    talk = func.coalesce(CALL.c.talk_seconds, 0)
    where = (
        CALL.c.created_at >= since,
        CALL.c.created_at < until,
        CALL.c.setup_received_at.is_not(None),
        CALL.c.agency_id.is_not(None),
    )
    for whole in (False, True):
        department = cast(null(), Integer) if whole else CALL.c.department_id
        dims = [day, CALL.c.agency_id, department, CALL.c.carrier, CALL.c.lettering, CALL.c.final_outcome]
        dims += [CALL.c.arm]
        by_day = select(
            *dims,
            literal(whole),
            func.count(),
            _count_if(answered),
            func.coalesce(func.sum(talk), 0),
            _count_if(ended),
            _count_if(and_(ended, answered)),
            _count_if(and_(ended, answered), talk),
            literal(now, UTCDateTime),
        ).where(*where)
        columns = ["day", "agency_id", "department_id", "carrier", "lettering", "final_outcome", "arm"]
        columns += ["whole_agency", "calls", "answered", "talk_seconds", "ended"]
        columns += ["ended_answered", "ended_talk_seconds", "built_at"]
        group = [day, CALL.c.agency_id, CALL.c.carrier, CALL.c.lettering, CALL.c.final_outcome, CALL.c.arm]
        group += [] if whole else [CALL.c.department_id]
        await session.execute(DAY.insert().from_select(columns, by_day.group_by(*group)))
        by_hour = select(
            day,
            hour,
            CALL.c.agency_id,
            department,
            literal(whole),
            func.count(),
            _count_if(answered),
            func.coalesce(func.sum(talk), 0),
        ).where(*where)
        by_campaign = select(
            day,
            CALL.c.campaign_id,
            CALL.c.agency_id,
            department,
            literal(whole),
            func.count(),
            _count_if(CALL.c.final_outcome == "accepted"),
        ).where(*where, CALL.c.campaign_id.is_not(None))
        campaign_group = [day, CALL.c.campaign_id, CALL.c.agency_id] + (
            [] if whole else [CALL.c.department_id]
        )
        await session.execute(
            CAMPAIGN_DAY.insert().from_select(
                ["day", "campaign_id", "agency_id", "department_id", "whole_agency", "calls", "shown"],
                by_campaign.group_by(*campaign_group),
            )
        )
        hour_group = [day, hour, CALL.c.agency_id] + ([] if whole else [CALL.c.department_id])
        await session.execute(
            HOUR.insert().from_select(
                [
                    "day",
                    "hour",
                    "agency_id",
                    "department_id",
                    "whole_agency",
                    "calls",
                    "answered",
                    "talk_seconds",
                ],
                by_hour.group_by(*hour_group),
            )
        )


async def rollup_mark(session: AsyncSession) -> datetime | None:
    """When the rollup was last brought up to date (None: never)."""
    return (await session.execute(select(func.max(MARK.c.built_at)))).scalar_one_or_none()  # type: ignore[no-any-return]


async def set_rollup_mark(session: AsyncSession, at: datetime) -> None:
    await session.execute(delete(MARK))
    await session.execute(MARK.insert().values(id=1, built_at=at))


async def days_touched(session: AsyncSession, created_since: datetime, updated_after: datetime) -> list[date]:
    """The Seoul days of the records created since `created_since` and changed after `updated_after`
    (a call.ended or a push result arriving after the rollup's last run)."""
    day = _seoul_date(_dialect(session), CALL.c.created_at)
    query = (
        select(day).where(CALL.c.created_at >= created_since, CALL.c.updated_at > updated_after).group_by(day)
    )
    return [_as_date(d) for (d,) in (await session.execute(query)).all()]


async def rollup_has_day(session: AsyncSession, day: date) -> bool:
    """Whether the rollup has rows for the Seoul day."""
    return (await session.execute(select(DAY.c.id).where(DAY.c.day == day).limit(1))).first() is not None


async def call_time_span(session: AsyncSession) -> tuple[datetime | None, datetime | None]:
    """The first and last `created_at` of the call records (a backfill's range)."""
    row = (await session.execute(select(func.min(CALL.c.created_at), func.max(CALL.c.created_at)))).one()
    return _aware(row[0]), _aware(row[1])


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite's min/max lose the column's type
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _rollup_where(
    query: Any, table: Any, agency_id: int, first: date | None, last: date | None, department_id: int | None
) -> Any:
    query = query.where(table.c.agency_id == agency_id)
    if department_id is None:
        query = query.where(table.c.whole_agency == true())
    else:
        query = query.where(table.c.whole_agency == false(), table.c.department_id == department_id)
    if first is not None:
        query = query.where(table.c.day >= first)
    if last is not None:
        query = query.where(table.c.day <= last)
    return query


async def rollup_outcome_counts(
    session: AsyncSession, agency_id: int, first: date | None, last: date | None, department_id: int | None
) -> list[tuple[str | None, str | None, str | None, int]]:
    """`outcome_counts` from the rollup, over the Seoul days [first, last]."""
    query = _rollup_where(
        select(DAY.c.carrier, DAY.c.lettering, DAY.c.final_outcome, func.sum(DAY.c.calls)),
        DAY,
        agency_id,
        first,
        last,
        department_id,
    ).group_by(DAY.c.carrier, DAY.c.lettering, DAY.c.final_outcome)
    return [(c, le, f, int(n)) for c, le, f, n in (await session.execute(query)).all()]


async def rollup_period_counts(
    session: AsyncSession,
    agency_id: int,
    part: str,
    first: date | None,
    last: date | None,
    department_id: int | None,
) -> list[tuple[str, int, int, int]]:
    """`period_counts` from the rollup, over the Seoul days [first, last]."""
    table = DAY if part == "day" else HOUR
    key = table.c.day if part == "day" else table.c.hour
    query = _rollup_where(
        select(key, func.sum(table.c.calls), func.sum(table.c.answered), func.sum(table.c.talk_seconds)),
        table,
        agency_id,
        first,
        last,
        department_id,
    ).group_by(key)
    rows = (await session.execute(query)).all()
    return [
        (_as_date(k).isoformat() if part == "day" else f"{int(k):02d}", int(n), int(a), int(t))
        for k, n, a, t in rows
    ]


async def rollup_arm_counts(
    session: AsyncSession, agency_id: int, first: date | None, last: date | None, department_id: int | None
) -> dict[str, tuple[int, int, int]]:
    """`arm_counts` from the rollup, over the Seoul days [first, last]."""
    ended = func.sum(DAY.c.ended)
    query = _rollup_where(
        select(DAY.c.arm, ended, func.sum(DAY.c.ended_answered), func.sum(DAY.c.ended_talk_seconds)),
        DAY,
        agency_id,
        first,
        last,
        department_id,
    ).group_by(DAY.c.arm)
    return {
        str(arm): (int(n), int(a), int(t))
        for arm, n, a, t in (await session.execute(query)).all()
        if int(n) > 0
    }


async def campaign_counts(
    session: AsyncSession,
    agency_id: int,
    since: datetime | None,
    until: datetime | None,
    department_id: int | None,
) -> list[tuple[int, int, int]]:
    """(campaign id, calls carrying it, shown by a carrier) of the agency's setups in [since, until)."""
    query = _figures_where(
        select(CALL.c.campaign_id, func.count(), _count_if(CALL.c.final_outcome == "accepted")),
        agency_id,
        since,
        until,
        department_id,
    ).where(CALL.c.campaign_id.is_not(None))
    rows = (await session.execute(query.group_by(CALL.c.campaign_id))).all()
    return [(int(c), int(n), int(s)) for c, n, s in rows]


async def rollup_campaign_counts(
    session: AsyncSession, agency_id: int, first: date | None, last: date | None, department_id: int | None
) -> list[tuple[int, int, int]]:
    """`campaign_counts` from the rollup, over the Seoul days [first, last]."""
    table = CAMPAIGN_DAY
    query = _rollup_where(
        select(table.c.campaign_id, func.sum(table.c.calls), func.sum(table.c.shown)),
        table,
        agency_id,
        first,
        last,
        department_id,
    )
    rows = (await session.execute(query.group_by(table.c.campaign_id))).all()
    return [(int(c), int(n), int(s)) for c, n, s in rows]


def _fallback(outcome: Any, lettering: Any) -> ColumnElement[bool]:
    return or_(outcome == "fallback", and_(outcome.is_(None), lettering == "fallback"))


async def agency_counts(
    session: AsyncSession, since: datetime | None, until: datetime | None
) -> list[tuple[int, int, int, int]]:
    """(agency id, calls, answered, fallbacks) of every agency's setups in [since, until)."""
    query = select(
        CALL.c.agency_id,
        func.count(),
        _count_if(CALL.c.answered.is_(True)),
        _count_if(_fallback(CALL.c.final_outcome, CALL.c.lettering)),
    ).where(CALL.c.agency_id.is_not(None), CALL.c.setup_received_at.is_not(None))
    if since is not None:
        query = query.where(CALL.c.created_at >= since)
    if until is not None:
        query = query.where(CALL.c.created_at < until)
    rows = (await session.execute(query.group_by(CALL.c.agency_id))).all()
    return [(int(a), int(n), int(x), int(f)) for a, n, x, f in rows]


async def rollup_agency_counts(
    session: AsyncSession, first: date | None, last: date | None
) -> list[tuple[int, int, int, int]]:
    """`agency_counts` from the rollup, over the Seoul days [first, last]."""
    fallbacks = func.sum(case((_fallback(DAY.c.final_outcome, DAY.c.lettering), DAY.c.calls), else_=0))
    query = select(DAY.c.agency_id, func.sum(DAY.c.calls), func.sum(DAY.c.answered), fallbacks).where(
        DAY.c.whole_agency == true()
    )
    if first is not None:
        query = query.where(DAY.c.day >= first)
    if last is not None:
        query = query.where(DAY.c.day <= last)
    rows = (await session.execute(query.group_by(DAY.c.agency_id))).all()
    return [(int(a), int(n), int(x), int(f or 0)) for a, n, x, f in rows]


def call_ids_of_department(agency_id: int, department_id: int) -> Select[Any]:
    """A query of the ids of one department's calls (to filter another package's rows by call)."""
    return select(CALL.c.id).where(CALL.c.agency_id == agency_id, CALL.c.department_id == department_id)
