"""Rows the tests start from: plain functions with keyword defaults, shared by the test modules.

Each writes what the service itself would have written (the directory as `directory import`
leaves it, outbox rows as the call path queues them), through the application's own models and
services. Fixtures stay in the conftest files and call these.
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from collections.abc import Sequence
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
