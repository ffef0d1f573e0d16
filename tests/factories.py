"""Rows the tests start from: plain functions with keyword defaults, shared by the test modules.

Each writes what the service itself would have written (the directory as `directory import`
leaves it, outbox rows as the call path queues them), through the application's own models and
services. Fixtures stay in the conftest files and call these.
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kakao_fallback.models import KakaoMessage
from kakao_fallback.service import NOTICE_EXPIRY, call_notice_variables, enqueue_call_notice
from lettering.core.db import session_scope, utcnow
from lettering.core.phone import PhoneVault
from lettering.directory.models import DirectoryAgency, DirectoryDepartment, DirectoryExtension
from lettering.snapshots.service import bump
from lettering.users import service as user_service

PASSPORT_GUIDANCE = "여권 발급 관련 안내 전화입니다"


def random_key() -> str:
    """A fresh base64 32-byte key (a phone hash or encryption key)."""
    return base64.b64encode(os.urandom(32)).decode()


def citizen_numbers(count: int, *, ending: str) -> list[str]:
    """`count` fictional test numbers +82 10-0ABC-<ending>, in the simulators' profile (README.md)."""
    return [f"+82100{i:03d}{ending}" for i in range(count)]


# -- the directory --------------------------------------------------------------------------


@dataclass(frozen=True)
class Department:
    """A department to seed: its code, name, guidance and extensions."""

    code: str
    name: str
    guidance: str
    extensions: tuple[str, ...]


@dataclass(frozen=True)
class Agency:
    """An agency to seed: its code, name, the prefix of its caller numbers and its departments."""

    code: str
    name: str
    caller_prefix: str
    departments: tuple[Department, ...]


HANBIT_DEPARTMENTS = (
    Department("HANBIT-0100", "민원여권과", PASSPORT_GUIDANCE, ("2114", "2115")),
    Department("HANBIT-0001", "기획예산과", "", ("2000",)),
)
DIRECTORY = (
    Agency("HANBIT", "한빛특례시", "031-5180-", HANBIT_DEPARTMENTS),
    Agency("PUREUN", "푸른군", "061-530-", (Department("PUREUN-0001", "민원과", "", ("7000",)),)),
)


async def add_agency(
    session: AsyncSession,
    *,
    code: str = "HANBIT",
    name: str = "한빛특례시",
    default_guidance: str | None = None,
) -> int:
    """A directory agency, flushed; guidance by default "<name> 공식 안내 전화입니다". Returns its id."""
    guidance = f"{name} 공식 안내 전화입니다" if default_guidance is None else default_guidance
    agency = DirectoryAgency(code=code, name=name, default_guidance=guidance)
    session.add(agency)
    await session.flush()
    assert agency.id is not None
    return agency.id


async def seed_directory(
    sessions: async_sessionmaker[AsyncSession], agencies: Sequence[Agency] = DIRECTORY
) -> dict[str, int]:
    """The agencies with their departments and extensions, snapshot bumped; returns agency ids by code."""
    ids: dict[str, int] = {}
    async with session_scope(sessions) as session:
        for agency in agencies:
            agency_id = await add_agency(session, code=agency.code, name=agency.name)
            ids[agency.code] = agency_id
            for dept in agency.departments:
                row = DirectoryDepartment(
                    agency_id=agency_id, code=dept.code, name=dept.name, guidance=dept.guidance
                )
                session.add(row)
                await session.flush()
                assert row.id is not None
                for ext in dept.extensions:
                    session.add(
                        DirectoryExtension(
                            agency_id=agency_id,
                            department_id=row.id,
                            extension=ext,
                            caller_number=agency.caller_prefix + ext,
                        )
                    )
        await bump(session, "directory")
    return ids


# -- the AlimTalk outbox --------------------------------------------------------------------


async def queue_notices(
    session: AsyncSession,
    vault: PhoneVault,
    numbers: Sequence[str],
    *,
    agency_id: int,
    at: datetime | None = None,
    first: int = 0,
    verify_prefix: str = "V",
    key_prefix: str = "m-",
    expires_in: timedelta = NOTICE_EXPIRY,
    variables: dict[str, Any] | None = None,
) -> None:
    """An identity notice (unsupported device) queued to each number, counted from `first`, at `at`/now."""
    for i, number in enumerate(numbers, first):
        when = at or utcnow()
        sealed = vault.seal(number)
        notice = call_notice_variables(
            agency="한빛특례시",
            department="민원여권과",
            guidance=PASSPORT_GUIDANCE,
            caller_e164="+823151802114",
            occurred_at=when,
            verify_code=f"{verify_prefix}{i:05d}",
        )
        notice.update(variables or {})
        await enqueue_call_notice(
            session,
            call_record_id=None,
            agency_id=agency_id,
            kind="identity_notice",
            reason="unsupported_device",
            recipient_hash=sealed.hash_hex,
            recipient_ciphertext=sealed.ciphertext,
            key_version=sealed.key_version,
            variables=notice,
            now=when,
            idempotency_key=f"{key_prefix}{i}",
            expires_in=expires_in,
        )


async def seed_outbox(
    sessions: async_sessionmaker[AsyncSession],
    vault: PhoneVault,
    numbers: Sequence[str],
    *,
    verify_prefix: str = "V",
    key_prefix: str = "m-",
) -> None:
    """Agency HANBIT and one queued identity notice to each number."""
    async with session_scope(sessions) as session:
        agency_id = await add_agency(session)
        await queue_notices(
            session, vault, numbers, agency_id=agency_id, verify_prefix=verify_prefix, key_prefix=key_prefix
        )


async def outbox_statuses(sessions: async_sessionmaker[AsyncSession]) -> Counter[str]:
    """How many outbox rows are in each status."""
    async with sessions() as session:
        rows = await session.execute(select(KakaoMessage.status))  # type: ignore[call-overload]
        return Counter(status for (status,) in rows.all())


async def admin_headers(
    sessions: async_sessionmaker[AsyncSession], agency_code: str = "HANBIT"
) -> dict[str, str]:
    """An agency admin and the bearer header of an API token acting as them."""
    async with session_scope(sessions) as session:
        user = await user_service.create_user(
            session,
            f"admin@{agency_code.lower()}.go.kr",
            "관리자",
            "correct horse battery",
            "admin",
            agency_code,
        )
        token = await user_service.create_api_token(session, user.id, "test")
    return {"authorization": f"Bearer {token}"}


# -- call records in bulk (the dashboard's rollup tests and bench/dashboard.py) ---------------

# Outcomes as the call path records them: (what the PBX was told, reason, final outcome, weight).
CALL_OUTCOMES: tuple[tuple[str, str | None, str | None, int], ...] = (
    ("accepted", None, "accepted", 52),
    ("pending", None, "accepted", 10),
    ("pending", None, "fallback", 4),
    ("pending", None, None, 1),  # still open
    ("fallback", "unsupported_device", "fallback", 18),
    ("suppressed", "optout_all", "suppressed", 3),
    ("skipped", "no_department", "skipped", 2),
    ("skipped", "holdout", "skipped", 6),
    ("pending", None, "failed", 1),
)
# Calls per hour of a Seoul working day (a city's desk phones: office hours, a lunch dip).
HOUR_WEIGHTS = (0, 0, 0, 0, 0, 0, 0, 1, 4, 12, 14, 12, 5, 9, 13, 13, 11, 7, 3, 1, 1, 0, 0, 0)


def synthetic_calls(
    rng: Any,
    *,
    count: int,
    first: datetime,
    days: int,
    agencies: dict[int, Sequence[int | None]],
    campaigns: Sequence[int] = (),
    start_id: int = 0,
) -> Iterator[dict[str, Any]]:
    """`count` call-record rows (column -> value, for a bulk insert) spread over `days` days from
    `first` (a Seoul midnight): weekdays busier than weekends, office hours, departments of uneven
    size (`agencies`: agency id -> its department ids, None for an unknown extension), the three
    carriers and iPhones, the outcomes of CALL_OUTCOMES, the holdout arms, answered about 60 %
    with talk times, some calls still without call.ended, and a campaign on some setups."""
    outcomes = [o[:3] for o in CALL_OUTCOMES]
    outcome_weights = [o[3] for o in CALL_OUTCOMES]
    day_weights = [1.0 if (first + timedelta(days=d)).weekday() < 5 else 0.15 for d in range(days)]
    agency_ids = list(agencies)
    for n in range(start_id, start_id + count):
        day = rng.choices(range(days), day_weights)[0]
        hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
        created = first + timedelta(days=day, hours=hour, seconds=rng.randrange(3600))
        agency_id = agency_ids[min(int(rng.paretovariate(1.2)) - 1, len(agency_ids) - 1)]
        departments = agencies[agency_id]
        department = departments[min(int(rng.expovariate(4 / len(departments))), len(departments) - 1)]
        lettering, reason, final = rng.choices(outcomes, outcome_weights)[0]
        arm = "holdout" if reason == "holdout" else rng.choices(("lettered", "identity_only"), (19, 1))[0]
        carrier = None if lettering in ("suppressed", "skipped") else rng.choice(("skt", "skt", "kt", "lgu"))
        ended = rng.random() < 0.95
        answered = (rng.random() < (0.61 if arm == "lettered" else 0.52)) if ended else None
        yield {
            "public_id": f"b{n:x}",
            "pbx_id": "bench-pbx",
            "call_id": f"c{n}",
            "agency_id": agency_id,
            "department_id": department,
            "extension": f"{n % 4000 + 1000}",
            "created_at": created,
            "updated_at": created + timedelta(minutes=5),
            "setup_received_at": created,
            "lettering": lettering,
            "reason": reason,
            "final_outcome": final,
            "carrier": carrier,
            "campaign_id": rng.choice(campaigns)
            if campaigns and lettering != "suppressed" and rng.random() < 0.4
            else None,
            "arm": arm,
            "explanation": "[]",
            "notes": "[]",
            "answered": answered,
            "talk_seconds": int(rng.expovariate(1 / 150)) if answered else (0 if ended else None),
            "end_cause": None if not ended else ("normal" if answered else "no_answer"),
        }
