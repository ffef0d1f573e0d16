"""The dashboard's figures beyond calls, with known data on each database: opt-outs over time,
spoofing reports per day, impressions per campaign, AlimTalk/SMS/LMS counts and their estimated
cost, and the per-agency table only platform admins get; each as a CSV (UTF-8 with BOM)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kakao_fallback.models import KakaoMessage
from lettering.calls import rollup
from lettering.calls.models import CallRecord
from lettering.core.clock import SEOUL
from lettering.core.db import session_scope, table_of, utcnow
from lettering.core.phone import PhoneVault
from lettering.directory import service as directory_service
from lettering.optout.models import ALL_AGENCIES, OptoutHistory
from lettering.verify.models import VerifySpoofReport
from tests.factories import citizen_numbers, queue_notices, random_key
from tests.integration.test_console import log_in, running

pytestmark = pytest.mark.integration


def call(n: int, agency_id: int, at: datetime, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "public_id": f"f{n}",
        "pbx_id": "p",
        "call_id": f"c{n}",
        "agency_id": agency_id,
        "created_at": at,
        "updated_at": at,
        "setup_received_at": at,
        "lettering": "accepted",
        "final_outcome": "accepted",
        "carrier": "skt",
        "arm": "lettered",
        "explanation": "[]",
        "notes": "[]",
        "campaign_id": None,
        "answered": None,
        "talk_seconds": None,
    }
    return {**row, **values}


async def seed(sessions: async_sessionmaker[AsyncSession], agencies: dict[str, int]) -> tuple[str, str]:
    hanbit, pureun = agencies["HANBIT"], agencies["PUREUN"]
    now = utcnow()
    past = now - timedelta(days=3)  # a whole past day: from the rollup
    calls = [
        call(1, hanbit, past, campaign_id=501, answered=True, talk_seconds=30),
        call(2, hanbit, past, campaign_id=501, final_outcome="fallback", lettering="pending"),
        call(3, hanbit, now, campaign_id=502, answered=False),  # today: from the records
        call(4, hanbit, now, campaign_id=501, final_outcome="failed", lettering="pending"),
        call(5, pureun, past, campaign_id=777, final_outcome="fallback", lettering="fallback"),
    ]
    history = [
        (hanbit, "none", "all", past),
        (hanbit, "none", "promo", now),
        (hanbit, "promo", "none", now),  # back in
        (ALL_AGENCIES, "none", "all", now),  # for every agency: counts for HANBIT too
        (pureun, "none", "all", now),
    ]
    async with session_scope(sessions) as session:
        await session.execute(insert(table_of(CallRecord)), calls)
        for n, (agency_id, before, after, at) in enumerate(history):
            session.add(
                OptoutHistory(
                    callee_hash=f"{n:064d}",
                    agency_id=agency_id,
                    from_scope=before,
                    to_scope=after,
                    via="link",
                    created_at=at,
                )
            )
        for agency_id, at in ((hanbit, past), (hanbit, past), (hanbit, now), (pureun, now)):
            session.add(VerifySpoofReport(shown_number="+823151802114", agency_id=agency_id, created_at=at))
        vault = PhoneVault(random_key(), random_key())
        await queue_notices(session, vault, citizen_numbers(4, ending="1"), agency_id=hanbit)
        await session.flush()
        ids = [m.id for m in (await session.execute(KakaoMessage.__table__.select())).all()]  # type: ignore[attr-defined]
        for message_id, channel in zip(ids, ("alimtalk", "alimtalk", "sms", "lms"), strict=True):
            await session.execute(
                update(KakaoMessage)
                .where(KakaoMessage.id == message_id)
                .values(status="delivered", channel=channel)  # type: ignore[arg-type]
            )
    await rollup.refresh(sessions, now)
    return past.astimezone(SEOUL).date().isoformat(), now.astimezone(SEOUL).date().isoformat()


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def test_the_figures_beyond_calls_and_their_csv(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running(database_url, sessions) as console:
        async with session_scope(sessions) as session:
            agencies = {
                code: agency_id
                for code in ("HANBIT", "PUREUN")
                if (agency_id := await directory_service.agency_id_for_code(session, code)) is not None
            }
        past, today = await seed(sessions, agencies)
        query = f"since={past}&until={today}"
        async with console.client() as admin:
            await log_in(admin, "admin@hanbit.go.kr")
            page = (await admin.get(f"/admin/dashboard?{query}")).text
            assert 'lang="ko"' in page
            assert "기관별 현황" not in page  # an agency admin has no per-agency table
            optouts = read_csv((await admin.get(f"/admin/dashboard/optouts.csv?{query}")).content)
            assert optouts[0] == ["날짜", "수신거부", "수신거부 해제"]
            assert optouts[1] == [past, "1", "0"]
            assert optouts[-1] == [today, "2", "1"]  # its own promo, the all-agencies one; one back in
            spoof = read_csv((await admin.get(f"/admin/dashboard/spoof.csv?{query}")).content)
            assert spoof[1] == [past, "2"]
            assert spoof[-1] == [today, "1"]
            campaigns = read_csv((await admin.get(f"/admin/dashboard/campaigns.csv?{query}")).content)
            assert campaigns[1:] == [["캠페인 501", "501", "3", "1"], ["캠페인 502", "502", "1", "1"]]
            assert all(row[1] != "777" for row in campaigns)  # another agency's campaign
            alimtalk = read_csv((await admin.get(f"/admin/dashboard/alimtalk.csv?{query}")).content)
            assert ["예상 비용(원): 알림톡 8원씩", "16"] in alimtalk
            assert ["예상 비용(원): SMS 12원씩", "12"] in alimtalk
            assert ["예상 비용(원): LMS 35원씩", "35"] in alimtalk
            assert "63원</strong> (추정)" in page
            missing = await admin.get(f"/admin/dashboard/agencies.csv?{query}")
            assert missing.status_code == 404
        async with console.client() as platform:
            await log_in(platform, "platform@lettering.kr")
            page = (await platform.get(f"/admin/dashboard?{query}&agency=HANBIT")).text
            assert "기관별 현황" in page
            table = read_csv(
                (await platform.get(f"/admin/dashboard/agencies.csv?{query}&agency=HANBIT")).content
            )
            assert table[0] == ["기관", "기관 코드", "통화", "응답률", "알림톡 대체율", "수신거부"]
            assert ["한빛특례시", "HANBIT", "4", "0.25", "0.25", "2"] in table
            assert ["푸른군", "PUREUN", "1", "0.0", "1.0", "1"] in table


def message(
    n: int, agency_id: int, call_record_id: int | None, at: datetime, channel: str
) -> dict[str, object]:
    return {
        "call_record_id": call_record_id,
        "agency_id": agency_id,
        "kind": "identity_notice",
        "reason": "unsupported_device",
        "recipient_hash": f"{n:064d}",
        "variables": "{}",
        "status": "delivered",
        "channel": channel,
        "idempotency_key": f"k-{n}",
        "next_attempt_at": at,
        "created_at": at,
        "updated_at": at,
    }


async def test_the_alimtalk_figures_keep_to_the_range_and_the_department(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The AlimTalk counts (API and console) take `until` and the department like every other figure:
    a message queued after the range, or for another department's call, is not counted."""
    async with running(database_url, sessions) as console:
        async with session_scope(sessions) as session:
            hanbit = await directory_service.agency_id_for_code(session, "HANBIT")
            assert hanbit is not None
            passport = await directory_service.department_of_agency(session, hanbit, "HANBIT-0100")
            planning = await directory_service.department_of_agency(session, hanbit, "HANBIT-0001")
            assert passport is not None
            assert planning is not None
            now = utcnow()
            past, later = now - timedelta(days=3), now + timedelta(days=3)
            calls = [
                call(11, hanbit, past, department_id=passport),
                call(12, hanbit, past, department_id=planning),
                call(13, hanbit, later, department_id=passport),
            ]
            await session.execute(insert(table_of(CallRecord)), calls)
            rows = (await session.execute(select(CallRecord.id, CallRecord.call_id))).all()  # type: ignore[call-overload]
            by_call = {str(call_id): int(record_id) for record_id, call_id in rows}
            await session.execute(
                insert(table_of(KakaoMessage)),
                [
                    message(1, hanbit, by_call["c11"], past, "alimtalk"),
                    message(2, hanbit, by_call["c12"], past, "sms"),
                    message(3, hanbit, by_call["c13"], later, "lms"),  # after `until`
                    message(4, hanbit, None, past, "alimtalk"),  # an opt-out notice: no department
                ],
            )
        first = past.astimezone(SEOUL).date().isoformat()
        last = now.astimezone(SEOUL).date().isoformat()
        async with console.client() as admin:
            await log_in(admin, "admin@hanbit.go.kr")

            async def delivered(**params: str) -> dict[str, int]:
                response = await admin.get("/v1/agencies/HANBIT/alimtalk", params=params)
                assert response.status_code == 200, response.text
                return dict(response.json()["delivered"])

            since = past.replace(hour=0, minute=0).isoformat()
            until = (now + timedelta(hours=1)).isoformat()
            assert await delivered(since=since) == {"alimtalk": 2, "sms": 1, "lms": 1}
            assert await delivered(since=since, until=until) == {"alimtalk": 2, "sms": 1, "lms": 0}
            assert await delivered(since=since, until=until, department="HANBIT-0100") == {
                "alimtalk": 1,
                "sms": 0,
                "lms": 0,
            }
            missing = await admin.get("/v1/agencies/HANBIT/alimtalk", params={"department": "PUREUN-0100"})
            assert missing.status_code == 404, missing.text

            def cost_rows(body: bytes) -> dict[str, str]:
                return {row[0]: row[1] for row in read_csv(body) if row and row[0].startswith("예상 비용")}

            query = f"since={first}&until={last}"
            whole = cost_rows((await admin.get(f"/admin/dashboard/alimtalk.csv?{query}")).content)
            assert whole["예상 비용(원): 알림톡 8원씩"] == "16"
            assert whole["예상 비용(원): SMS 12원씩"] == "12"
            assert whole["예상 비용(원): LMS 35원씩"] == "0"
            passport_only = cost_rows(
                (await admin.get(f"/admin/dashboard/alimtalk.csv?{query}&department=HANBIT-0100")).content
            )
            assert passport_only["예상 비용(원): 알림톡 8원씩"] == "8"
            assert passport_only["예상 비용(원): SMS 12원씩"] == "0"
