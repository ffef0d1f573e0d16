"""The retention sweep on each database, with a moved clock: what goes when, and what stays."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kakao_fallback.models import KakaoMessage
from lettering.audit import service as audit_service
from lettering.audit.models import AuditAccessLog
from lettering.calls.models import CallAttempt, CallRecord
from lettering.core.db import session_scope, utcnow
from lettering.core.phone import PhoneVault
from lettering.keyring.models import PhoneHashAlias
from lettering.optout.models import CitizenNumber, OptoutHistory, OptoutState
from lettering.retention import jobs as retention_jobs
from lettering.retention import service as retention
from lettering.users import service as user_service
from lettering.verify.models import VerifySpoofReport
from lettering.webhook.models import WebhookDelivery
from tests.factories import random_key, seed_directory

pytestmark = pytest.mark.integration


async def seed(sessions: async_sessionmaker[AsyncSession], now: datetime) -> dict[str, int]:
    """Four calls made `now`: a plain one (with attempts), one whose AlimTalk is still pending, one
    whose AlimTalk is delivered, and one still ringing; plus the other records the sweep looks at."""
    agencies = await seed_directory(sessions)
    keys = PhoneVault(random_key(), random_key())
    ids: dict[str, int] = {}
    async with session_scope(sessions) as session:
        for n, name in enumerate(("plain", "pending", "delivered", "ringing")):
            sealed = keys.seal(f"+82100070{n:04d}")
            record = CallRecord.model_validate(
                {
                    "public_id": f"p{n}",
                    "verify_code": f"ABCDE{n + 2}",
                    "pbx_id": "hanbit-main",
                    "call_id": f"c{n}",
                    "agency_id": agencies["HANBIT"],
                    "callee_hash": sealed.hash_hex,
                    "callee_ciphertext": sealed.ciphertext,
                    "callee_key_version": 1,
                    "created_at": now if name != "ringing" else now + timedelta(days=2),
                    "updated_at": now,
                }
            )
            session.add(record)
            await session.flush()
            assert record.id is not None
            ids[name] = record.id
            if name == "plain":
                # This citizen opted out: the register keeps the number while the opt-out is in force.
                session.add(
                    OptoutState(callee_hash=sealed.hash_hex, agency_id=agencies["HANBIT"], scope="all")
                )
                session.add(
                    CallAttempt(
                        call_record_id=record.id, carrier="skt", outcome="accepted", code="0", latency_ms=9
                    )
                )
            if name in ("pending", "delivered"):
                finished = name == "delivered"
                session.add(
                    KakaoMessage.model_validate(
                        {
                            "call_record_id": record.id,
                            "agency_id": agencies["HANBIT"],
                            "kind": "identity_notice",
                            "recipient_hash": sealed.hash_hex,
                            "recipient_ciphertext": None if finished else sealed.ciphertext,
                            "status": "delivered" if finished else "accepted",
                            "idempotency_key": f"call-{record.id}",
                            "finished_at": now if finished else None,
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                )
        session.add(
            WebhookDelivery(
                pbx_id="hanbit-main", dedupe_key="m1", event_type="call.setup", call_id="c0", received_at=now
            )
        )
        session.add(
            OptoutHistory(
                callee_hash="ab" * 32,
                agency_id=agencies["HANBIT"],
                from_scope="none",
                to_scope="all",
                via="link",
                created_at=now,
            )
        )
        session.add(PhoneHashAlias(old_hash="ef" * 32, new_hash="01" * 32, key_version=2, created_at=now))
        session.add(
            VerifySpoofReport(
                shown_number="+823151802114", agency_id=agencies["HANBIT"], ip_hash="cd" * 32, created_at=now
            )
        )
        row = await audit_service.log_access(
            session, 1, "reveal_number", "call_record", ids["plain"], "민원 회신"
        )
        ids["audit"] = row.id or 0
    return ids


async def numbers_kept(sessions: async_sessionmaker[AsyncSession]) -> dict[int, bool]:
    async with sessions() as session:
        rows = await session.execute(select(CallRecord.id, CallRecord.callee_ciphertext))  # type: ignore[call-overload]
        return {i: ct is not None for i, ct in rows.all()}


async def count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_retention_with_a_moved_clock(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = utcnow()
    ids = await seed(sessions, now)
    async with session_scope(sessions) as session:
        user = await user_service.create_user(
            session, "admin@hanbit.go.kr", "관리자", "correct horse battery", "admin", "HANBIT"
        )
        await user_service.start_session(session, user.id, now=now)

    soon = await retention.purge(sessions, now + timedelta(hours=1), 90)
    assert soon == retention.PurgeReport()  # within the ring window + AlimTalk expiry: all kept
    assert all((await numbers_kept(sessions)).values())

    later = await retention.purge(sessions, now + timedelta(days=2), 90, batch=1)
    assert later.numbers_dropped == 2
    assert later.sessions_deleted == 1  # an expired console session
    assert await numbers_kept(sessions) == {
        ids["plain"]: False,
        ids["pending"]: True,  # its AlimTalk is still pending: it needs the number
        ids["delivered"]: False,
        ids["ringing"]: True,  # (made two days later: still in its window)
    }
    assert await count(sessions, CallRecord) == 4
    # The dropped numbers went to the register: an opt-out link sent to them may still be used.
    assert later.register_forgotten == 0
    assert await count(sessions, CitizenNumber) == 2

    after_period = await retention.purge(sessions, now + timedelta(days=91), 90, batch=1)
    assert after_period.calls_deleted == 2  # plain and delivered; pending is still named by its message
    assert after_period.messages_deleted == 1
    assert after_period.webhook_deliveries_deleted == 1
    assert after_period.report_ips_dropped == 1
    assert after_period.access_log_deleted == 0
    # Links have expired (90 days): the register forgets the number nobody's opt-out needs, and
    # the hash alias of an old key goes with the links that could name it.
    assert after_period.register_forgotten == 1
    assert after_period.aliases_deleted == 1
    async with sessions() as session:
        kept = list((await session.execute(select(CitizenNumber.callee_hash))).scalars())  # type: ignore[call-overload]
        opted_out = list((await session.execute(select(OptoutState.callee_hash))).scalars())  # type: ignore[call-overload]
    # Kept: the opted-out citizen's, and the one called two days later (its links still work).
    assert len(kept) == 2
    assert set(opted_out) < set(kept)
    async with sessions() as session:
        left = set((await session.execute(select(CallRecord.id))).scalars())  # type: ignore[call-overload]
        statuses = list((await session.execute(select(KakaoMessage.status))).scalars())  # type: ignore[call-overload]
        report = (await session.execute(select(VerifySpoofReport))).scalar_one()
    assert left == {ids["pending"], ids["ringing"]}
    assert statuses == ["accepted"]
    assert await count(sessions, CallAttempt) == 0
    assert await count(sessions, WebhookDelivery) == 0
    assert report.ip_hash is None  # the count stays, the pseudonym goes
    assert await count(sessions, AuditAccessLog) == 1  # the access log is kept two years
    assert await count(sessions, OptoutHistory) == 1  # and the opt-out history for good

    assert await retention.purge(sessions, now + timedelta(days=92), 90) == retention.PurgeReport(
        numbers_dropped=0
    )  # idempotent

    two_years = await retention.purge(sessions, now + timedelta(days=731), 90)
    assert two_years.access_log_deleted == 1
    assert await count(sessions, AuditAccessLog) == 0
    assert await count(sessions, OptoutHistory) == 1


async def test_purge_job_uses_the_settings(sessions: async_sessionmaker[AsyncSession]) -> None:
    from lettering.core.settings import Settings

    now = utcnow()
    await seed(sessions, now - timedelta(days=100))
    job = retention_jobs.purge_job(sessions, Settings(_env_file=None, retention_days=30))  # type: ignore[call-arg]
    report = await job()
    assert (report.numbers_dropped, report.calls_deleted) == (3, 3)  # all but the pending one
    assert retention_jobs.JOB_ID == "retention.purge"
