"""call.setup through the HTTP API: every outcome of the spec's table, recorded as it happened."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from kakao_fallback.models import KakaoMessage
from tests.factories import PASSPORT_GUIDANCE
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration


async def outbox_rows(service: Service, record_id: int) -> list[KakaoMessage]:
    async with service.sessions() as session:
        rows = await session.execute(select(KakaoMessage).where(KakaoMessage.call_record_id == record_id))  # type: ignore[arg-type]
        return list(rows.scalars())


async def test_skt_subscriber_is_accepted_and_recorded(service: Service) -> None:
    body = service.event(callee_number="010-0123-4560")
    response = await service.post(body)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["lettering"] == "accepted"
    assert reply["carrier"] == "skt"
    assert reply["reason"] is None
    assert reply["fallback"] is None
    assert reply["call_id"] == body["call_id"]
    assert set(reply) == {
        "call_id",
        "lettering",
        "reason",
        "carrier",
        "campaign_id",
        "fallback",
        "elapsed_ms",
    }
    pushes = await service.pushes("+821001234560")
    assert len(pushes) == 1
    record = await service.call(body["call_id"])
    assert pushes[0]["display"] == {
        "name": "한빛특례시",
        "subtitle": "민원여권과",
        # The call's code follows the guidance, for the citizen's check at /verify.
        "message": f"{PASSPORT_GUIDANCE} 확인코드 {record.verify_code}",
    }
    assert pushes[0]["caller"] == "+823151802114"
    assert record.lettering == "accepted"
    assert record.final_outcome == "accepted"
    assert record.carrier == "skt"
    assert record.callee_hash == service.vault.hash("+821001234560")
    assert record.callee_ciphertext is not None
    assert b"1001234560" not in record.callee_ciphertext
    assert service.vault.open(record.callee_ciphertext, record.callee_key_version or 1) == "+821001234560"
    assert any("민원여권과" in line for line in json.loads(record.explanation))
    attempts = await service.attempts(record.id or 0)
    assert [(a.carrier, a.outcome) for a in attempts] == [("skt", "accepted")]


async def test_department_without_guidance_gets_the_agency_default(service: Service) -> None:
    body = service.event(extension="2000", caller_number=None, callee_number="010-0124-4561")
    answer = (await service.post(body)).json()
    assert answer["lettering"] == "accepted"
    (push,) = await service.pushes("+821001244561")
    code = (await service.call(answer["call_id"])).verify_code
    assert push["display"]["message"] == f"한빛특례시 공식 안내 전화입니다 확인코드 {code}"
    assert push["caller"] == "+823151802000"


async def test_kt_subscriber_is_found_then_its_route_is_learned(service: Service) -> None:
    first = service.event(callee_number="010-0125-1254")
    reply = (await service.post(first)).json()
    assert (reply["lettering"], reply["carrier"]) == ("accepted", "kt")
    record = await service.call(first["call_id"])
    assert [(a.carrier, a.outcome) for a in await service.attempts(record.id or 0)] == [
        ("skt", "not_subscriber"),
        ("kt", "accepted"),
    ]
    second = service.event(callee_number="+821001251254")
    assert (await service.post(second)).json()["carrier"] == "kt"
    record = await service.call(second["call_id"])
    assert [a.carrier for a in await service.attempts(record.id or 0)] == ["kt"]


async def test_iphone_falls_back_to_alimtalk_with_one_outbox_row(service: Service) -> None:
    body = service.event(callee_number="010-0126-1210")
    reply = (await service.post(body)).json()
    assert reply["lettering"] == "fallback"
    assert reply["fallback"] == "alimtalk"
    assert reply["reason"] == "unsupported_device"
    record = await service.call(body["call_id"])
    (message,) = await outbox_rows(service, record.id or 0)
    assert message.kind == "identity_notice"
    assert message.status in ("queued", "sending", "accepted", "delivered")  # the relay may have it already
    assert message.recipient_hash == record.callee_hash
    assert json.loads(message.variables)["department"] == "민원여권과"


async def test_no_subscriber_anywhere_falls_back(service: Service) -> None:
    body = service.event(callee_number="010-0127-1259")
    reply = (await service.post(body)).json()
    assert (reply["lettering"], reply["reason"], reply["fallback"]) == (
        "fallback",
        "no_subscriber",
        "alimtalk",
    )
    record = await service.call(body["call_id"])
    assert [a.outcome for a in await service.attempts(record.id or 0)] == ["not_subscriber"] * 3


async def test_no_subscriber_without_fallback_policy_fails(service: Service) -> None:
    await service.set_agency("HANBIT", fallback_no_subscriber=False)
    await service.wait_for(lambda: _policy_seen(service), timeout_s=3)
    body = service.event(callee_number="010-0128-1259")
    reply = (await service.post(body)).json()
    assert (reply["lettering"], reply["reason"], reply["fallback"]) == ("failed", "no_subscriber", None)
    record = await service.call(body["call_id"])
    assert await outbox_rows(service, record.id or 0) == []


async def _policy_seen(service: Service) -> bool:
    health = (await service.client.get("/healthz")).json()
    return bool(health["snapshots"].get("directory", 0) >= 2)


async def test_carrier_failure_falls_back_by_policy(service: Service) -> None:
    body = service.event(callee_number="010-0999-1230")
    reply = (await service.post(body)).json()
    # Every carrier answers 5xx, retried within the ring window: on a loaded machine that can
    # outlast the hold budget, and the PBX is then told `pending` (the hold budget's own tests
    # cover that). Either way the call ends in the fallback the policy names, and says why.
    if reply["lettering"] != "pending":
        assert (reply["lettering"], reply["reason"], reply["fallback"]) == (
            "fallback",
            "carrier_failure",
            "alimtalk",
        )

    async def settled() -> bool:
        return (await service.call(body["call_id"])).final_outcome is not None

    assert await service.wait_for(settled)
    record = await service.call(body["call_id"])
    assert (record.final_outcome, record.final_reason, record.fallback) == (
        "fallback",
        "carrier_failure",
        "alimtalk",
    )


async def test_lgu_unsupported_report_triggers_fallback_after_the_answer(service: Service) -> None:
    body = service.event(callee_number="010-0129-1217")
    reply = (await service.post(body)).json()
    if reply["lettering"] != "pending":  # the hold budget may run out on a loaded machine
        assert (reply["lettering"], reply["carrier"]) == ("accepted", "lgu")

    async def fell_back() -> bool:
        record = await service.call(body["call_id"])
        return record.final_outcome == "fallback"

    assert await service.wait_for(fell_back)
    record = await service.call(body["call_id"])
    assert record.display_result == "UNSUPPORTED"
    assert record.lettering == reply["lettering"]  # what the PBX was told stays as it was
    assert record.carrier == "lgu"
    assert len(await outbox_rows(service, record.id or 0)) == 1


async def test_lgu_displayed_report_is_recorded(service: Service) -> None:
    body = service.event(callee_number="010-0130-1257")
    assert (await service.post(body)).json()["carrier"] == "lgu"

    async def displayed() -> bool:
        return (await service.call(body["call_id"])).display_result == "DISPLAYED"

    assert await service.wait_for(displayed)
    record = await service.call(body["call_id"])
    assert record.final_outcome == "accepted"
    assert await outbox_rows(service, record.id or 0) == []


@pytest.mark.parametrize(
    "callee",
    ["031-5180-2000", "02-123-4567", "+14155550100", "112", "119", "1588-1234", "070-1234-5678"],
)
async def test_non_mobile_callees_are_skipped(service: Service, callee: str) -> None:
    body = service.event(callee_number=callee)
    response = await service.post(body)
    assert response.status_code == 200
    assert (response.json()["lettering"], response.json()["reason"]) == ("skipped", "callee_not_mobile")
    assert await service.pushes() == []
    record = await service.call(body["call_id"])
    assert record.callee_ciphertext is None


async def test_unknown_extension_is_suppressed(service: Service) -> None:
    reply = (await service.post(service.event(extension="9999"))).json()
    assert (reply["lettering"], reply["reason"]) == ("suppressed", "extension_unknown")
    assert await service.pushes() == []


async def test_extension_of_another_agency_is_unknown_to_this_pbx(service: Service) -> None:
    reply = (await service.post(service.event(extension="7000"))).json()
    assert (reply["lettering"], reply["reason"]) == ("suppressed", "extension_unknown")


async def test_disabled_agency_is_suppressed_within_two_seconds(service: Service) -> None:
    await service.set_agency("HANBIT", enabled=False)

    async def suppressed() -> bool:
        reply = (await service.post(service.event())).json()
        return reply["lettering"] == "suppressed" and reply["reason"] == "agency_disabled"

    assert await service.wait_for(suppressed, timeout_s=2.5)


async def test_count_of_records_matches_requests(service: Service) -> None:
    for digit in "0123":
        await service.post(service.event(callee_number=f"010-0131-125{digit}"))
    async with service.sessions() as session:
        from lettering.calls.models import CallRecord

        count = (await session.execute(select(func.count()).select_from(CallRecord))).scalar_one()
    assert count == 4


async def test_directory_change_reaches_the_next_call_within_two_seconds(service: Service) -> None:
    from sqlalchemy import update

    from lettering.core.db import session_scope
    from lettering.directory.models import DirectoryDepartment
    from lettering.snapshots.service import bump

    async with session_scope(service.sessions) as session:
        await session.execute(
            update(DirectoryDepartment)
            .where(DirectoryDepartment.code == "HANBIT-0100")  # type: ignore[arg-type]
            .values(guidance="여권 수령 안내 전화입니다")
        )
        await bump(session, "directory")

    async def shows_new_guidance() -> bool:
        body = service.event(callee_number="010-0150-1230")
        await service.post(body)
        pushes = await service.pushes("+821001501230")
        return bool(pushes) and pushes[-1]["display"]["message"].startswith(
            "여권 수령 안내 전화입니다 확인코드 "
        )

    assert await service.wait_for(shows_new_guidance, timeout_s=2.0)
