"""Call records: written by the call path, completed by later events in any order."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from lettering.calls import figures, repository
from lettering.calls.repository import AttemptView, CallRecordView

# Unambiguous characters (no 0/O, 1/I/L): read from a phone screen and typed on a web page.
VERIFY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


VERIFY_LENGTH = 6
_VERIFY_CODES = len(VERIFY_ALPHABET) ** VERIFY_LENGTH


def new_verify_code() -> str:
    """A short random code that lets a citizen check this call at /verify: uniform over the
    alphabet's 6-character codes, from one draw of the system's CSPRNG (six `secrets.choice`
    calls cost ~19 µs on the call path)."""
    n = secrets.randbelow(_VERIFY_CODES)
    chars = []
    for _ in range(VERIFY_LENGTH):
        n, i = divmod(n, len(VERIFY_ALPHABET))
        chars.append(VERIFY_ALPHABET[i])
    return "".join(chars)


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
    fallback: str | None = None  # "alimtalk" when a notice is queued with the record (shed calls)
    arm: str = "lettered"  # the holdout arm decide() chose

    def columns(self) -> dict[str, Any]:
        # A shallow copy: dataclasses.asdict deep-copies every value (a profile showed it).
        values = {name: getattr(self, name) for name in _SETUP_COLUMNS}
        values["explanation"] = json.dumps(list(self.explanation), ensure_ascii=False)
        return values


_SETUP_COLUMNS = tuple(f.name for f in fields(SetupFacts))


@dataclass(frozen=True, slots=True)
class OpenedCall:
    """The call record a setup wrote, or found."""

    record_id: int
    public_id: str
    # The call's setup was processed before (a retry after a failure, a new webhook-id): answer
    # what was decided then and never push a second time.
    earlier: CallRecordView | None = None
    # `call.ended` came before the setup: the record as it is now (a missed-call notice may be due).
    ended_first: CallRecordView | None = None


@dataclass(frozen=True, slots=True)
class Told:
    """What the PBX was told at setup (recorded with the push's outcome)."""

    lettering: str
    reason: str | None
    elapsed_ms: int | None


def open_setup(conn: Connection, pbx_id: str, call_id: str, facts: SetupFacts) -> OpenedCall:
    """Record a setup: one `INSERT … ON CONFLICT DO NOTHING RETURNING id` for a call seen first
    here (the common case); an existing record is completed, or reported as set up before."""
    values = facts.columns()
    inserted = repository.insert_setup(conn, pbx_id, call_id, values)
    if inserted is not None:
        return OpenedCall(inserted, facts.public_id)
    seen = repository.find_call(conn, pbx_id, call_id)
    assert seen is not None
    if seen.setup_received_at is not None:
        return OpenedCall(seen.id, seen.public_id, earlier=seen)
    values.pop("public_id")
    repository.update_call(conn, seen.id, **values)
    ended = repository.get_call(conn, seen.id) if seen.end_cause is not None else None
    return OpenedCall(seen.id, seen.public_id, ended_first=ended)


def record_setups(conn: Connection, setups: list[tuple[str, str, SetupFacts]]) -> None:
    """Records of setups answered without any processing (shed), in one executemany; a call
    already recorded is left as it is."""
    repository.insert_setups(conn, [(pbx_id, call_id, facts.columns()) for pbx_id, call_id, facts in setups])


def new_public_id() -> str:
    return uuid.uuid4().hex


def record_progress(
    conn: Connection, pbx_id: str, call_id: str, event_type: str, occurred_at: datetime, **fields: Any
) -> CallRecordView:
    """`call.answered` / `call.ended`: fill in the outcome, whether or not the setup was seen."""
    record_id = repository.get_or_create_call(conn, pbx_id, call_id)
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
    repository.update_call(conn, record_id, **values)
    refreshed = repository.get_call(conn, record_id)
    assert refreshed is not None
    return refreshed


__all__ = ["AttemptView", "CallRecordView"]  # what other packages get: frozen copies

# The call path's statements, for the units of other packages (dispatch, webhook).
update_call = repository.update_call
add_attempts = repository.add_attempts
display_result_of = repository.display_result_of
settle_accepted_call = repository.settle_accepted_call
record_display_result = repository.record_display_result
get_call_in = repository.get_call
find_call_in = repository.find_call
open_setups = repository.open_setups
settle_open_call = repository.settle_open_call


async def get_call(session: AsyncSession, record_id: int) -> CallRecordView | None:
    """The call record with this id, or None (also for an id the database cannot hold)."""
    return await repository.call_by_id(session, record_id)


async def find_call(session: AsyncSession, pbx_id: str, call_id: str) -> CallRecordView | None:
    return await session.run_sync(lambda s: repository.find_call(s.connection(), pbx_id, call_id))


# -- the citizen call check, opt-out pages and retention (lettering.verify, lettering.optout,
#    lettering.retention): their statements live in the repository ------------------------------

find_call_by_verify_code = repository.find_call_by_verify_code
arm_counts = figures.arm_counts  # the dashboard's holdout figures (rollup and raw records)
latest_callee_ciphertext = repository.latest_callee_ciphertext
calls_keeping_numbers = repository.calls_keeping_numbers
callee_numbers = repository.callee_numbers
drop_callee_numbers = repository.drop_callee_numbers
calls_made_before = repository.calls_made_before
delete_calls = repository.delete_calls


# -- the staff console (lettering.console) --------------------------------------------------------

# What the PBX was told at setup (`call_record.lettering`), the console's outcome filter.
OUTCOMES = ("accepted", "pending", "fallback", "suppressed", "skipped", "failed")
CARRIERS = ("skt", "kt", "lgu")


@dataclass(frozen=True, slots=True)
class CallSearch:
    """A search of call records: the range [since, until) and optional exact matches."""

    since: datetime
    until: datetime
    agency_id: int | None = None  # None: every agency (platform admins)
    department_id: int | None = None
    extension: str | None = None
    lettering: str | None = None
    carrier: str | None = None
    verify_code: str | None = None


async def search_calls(
    session: AsyncSession, search: CallSearch, *, before: tuple[datetime, int] | None, limit: int
) -> list[CallRecordView]:
    """One page of calls, newest first, after the keyset cursor (created_at, id) `before`.

    Served by ix_call_record_created_at (or ix_call_record_verify_code with a code): the range is
    required so the scan is bounded. A multi-agency platform would be better served by a composite
    (agency_id, created_at, id) index; none is added here (that needs a migration).
    """
    return await repository.search_calls(
        session,
        agency_id=search.agency_id,
        department_id=search.department_id,
        since=search.since,
        until=search.until,
        before=before,
        extension=search.extension,
        lettering=search.lettering,
        carrier=search.carrier,
        verify_code=search.verify_code,
        limit=limit,
    )


async def attempts_of(session: AsyncSession, record_id: int) -> list[AttemptView]:
    """The carrier pushes made for one call, in order."""
    return await repository.attempts_of(session, record_id)


def call_ids_of_department(agency_id: int, department_id: int) -> Select[Any]:
    """A query (not run here) of the ids of one department's calls, for the AlimTalk summary."""
    return repository.call_ids_of_department(agency_id, department_id)
