"""The AlimTalk fallback end to end: outbox row -> relay -> dealer simulator -> delivery result."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kakao_fallback.models import KakaoMessage
from lettering.core.db import session_scope
from lettering.users import service as user_service
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration


async def message_of(service: Service, call_id: str) -> KakaoMessage | None:
    record = await service.call(call_id)
    async with service.sessions() as session:
        return (
            await session.execute(select(KakaoMessage).where(KakaoMessage.call_record_id == record.id))  # type: ignore[arg-type]
        ).scalar_one_or_none()


async def finished(service: Service, call_id: str) -> KakaoMessage | None:
    async def check() -> KakaoMessage | None:
        message = await message_of(service, call_id)
        return message if message is not None and message.finished_at is not None else None

    result: KakaoMessage | None = await service.wait_for(check, timeout_s=10)
    return result


async def test_iphone_call_gets_an_alimtalk_that_is_delivered(service: Service) -> None:
    body = service.event(callee_number="010-0200-1210")
    assert (await service.post(body)).json()["fallback"] == "alimtalk"
    message = await finished(service, body["call_id"])
    assert message is not None
    assert (message.status, message.delivery_status, message.channel) == (
        "delivered",
        "COMPLETED",
        "alimtalk",
    )
    assert message.recipient_ciphertext is None  # dropped once nothing pending needs it
    sent = await service.alimtalk("GET", "/messages")
    assert len(sent) == 1
    assert sent[0]["template_code"] == "IDENTITY_NOTICE_01"
    sends = await service.alimtalk("GET", "/sends")
    assert [use["accepted"] for use in sends.values()] == [1]


async def test_non_kakao_user_ends_as_an_sms_or_lms_failover(service: Service) -> None:
    body = service.event(callee_number="010-0201-1910")  # E = 9: not a KakaoTalk user
    assert (await service.post(body)).json()["fallback"] == "alimtalk"
    message = await finished(service, body["call_id"])
    assert message is not None
    assert message.status == "delivered"
    assert message.result_code == "3019"
    assert message.channel == message.resend_type.lower()  # type: ignore[union-attr]
    assert message.channel in ("sms", "lms")
    resends = await service.alimtalk("GET", "/resends")
    assert len(resends) == 1


async def test_blocked_channel_is_recorded_as_failed_without_failover(service: Service) -> None:
    body = service.event(callee_number="010-0202-1810")  # E = 8: blocked the channel
    await service.post(body)
    message = await finished(service, body["call_id"])
    assert message is not None
    assert (message.status, message.result_code) == ("failed", "3020")
    assert await service.alimtalk("GET", "/resends") == []


async def test_missed_call_notice_on_no_answer(service: Service) -> None:
    setup = service.event(callee_number="010-0203-1230")
    assert (await service.post(setup)).json()["lettering"] == "accepted"
    ended = service.event(
        "call.ended", call_id=setup["call_id"], answered=False, talk_seconds=0, end_cause="no_answer"
    )
    assert (await service.post(ended)).status_code == 202
    message = await finished(service, setup["call_id"])
    assert message is not None
    assert (message.kind, message.status) == ("missed_call", "delivered")
    assert (await service.alimtalk("GET", "/messages"))[0]["template_code"] == "MISSED_CALL_01"


async def test_at_most_one_alimtalk_per_call(service: Service) -> None:
    setup = service.event(callee_number="010-0204-1210")  # iPhone: identity notice
    await service.post(setup)
    ended = service.event(
        "call.ended", call_id=setup["call_id"], answered=False, talk_seconds=0, end_cause="no_answer"
    )
    await service.post(ended)
    message = await finished(service, setup["call_id"])
    assert message is not None
    assert message.kind == "identity_notice"
    assert len(await service.alimtalk("GET", "/messages")) == 1


async def test_answered_call_gets_no_missed_call_notice(service: Service) -> None:
    setup = service.event(callee_number="010-0205-1230")
    await service.post(setup)
    ended = service.event(
        "call.ended", call_id=setup["call_id"], answered=True, talk_seconds=30, end_cause="normal"
    )
    await service.post(ended)
    assert await message_of(service, setup["call_id"]) is None


async def bearer_of(service: Service, email: str, role: str, agency: str | None) -> dict[str, str]:
    async with session_scope(service.sessions) as session:
        department = "HANBIT-0100" if role == "editor" else None
        user = await user_service.create_user(
            session, email, role, "correct horse battery", role, agency, department
        )
        return {"authorization": f"Bearer {await user_service.create_api_token(session, user.id, 'figures')}"}


async def test_agency_figures_count_deliveries_by_channel(service: Service) -> None:
    for callee in ("010-0210-1210", "010-0211-1910"):  # an AlimTalk and a failover
        body = service.event(callee_number=callee)
        await service.post(body)
        assert await finished(service, body["call_id"]) is not None
    unauthorised = await service.client.get("/v1/agencies/HANBIT/alimtalk")
    assert unauthorised.status_code == 401
    platform = await bearer_of(service, "ops@platform.kr", "platform_admin", None)
    figures = (await service.client.get("/v1/agencies/HANBIT/alimtalk", headers=platform)).json()
    assert figures["by_status"]["delivered"] == 2
    assert figures["delivered"]["alimtalk"] == 1
    assert figures["delivered"]["sms"] + figures["delivered"]["lms"] == 1
    other = (await service.client.get("/v1/agencies/PUREUN/alimtalk", headers=platform)).json()
    assert other["total"] == 0
    assert (await service.client.get("/v1/agencies/NOPE/alimtalk", headers=platform)).status_code == 404


async def test_agency_figures_are_the_users_own_agency_only(service: Service) -> None:
    body = service.event(callee_number="010-0212-1210")
    await service.post(body)
    assert await finished(service, body["call_id"]) is not None
    for role in ("editor", "approver", "admin"):
        own = await bearer_of(service, f"{role}@hanbit.go.kr", role, "HANBIT")
        figures = await service.client.get("/v1/agencies/HANBIT/alimtalk", headers=own)
        assert figures.status_code == 200, (role, figures.text)
        assert figures.json()["agency"] == "HANBIT"
        assert figures.json()["delivered"]["alimtalk"] == 1
        foreign = await service.client.get("/v1/agencies/PUREUN/alimtalk", headers=own)
        unknown = await service.client.get("/v1/agencies/NOPE/alimtalk", headers=own)
        # Another agency's code looks exactly like one that does not exist.
        assert (foreign.status_code, foreign.json()) == (unknown.status_code, unknown.json())
        assert foreign.status_code == 404
    pureun = await bearer_of(service, "admin@pureun.go.kr", "admin", "PUREUN")
    assert (await service.client.get("/v1/agencies/HANBIT/alimtalk", headers=pureun)).status_code == 404
    own_pureun = await service.client.get("/v1/agencies/PUREUN/alimtalk", headers=pureun)
    assert own_pureun.status_code == 200
    assert own_pureun.json()["total"] == 0

    # The old global admin token is no credential any more; neither is a bad API token.
    for token in ("test-admin-token", "not-a-token"):
        refused = await service.client.get(
            "/v1/agencies/HANBIT/alimtalk", headers={"authorization": f"Bearer {token}"}
        )
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
