"""POST /v1/pbx/events: authentication, validation, dedupe, order of events, the hold budget."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from lettering.webhook.models import WebhookDelivery
from tests.integration.callpath.conftest import SECRET, TOKEN, Service

pytestmark = pytest.mark.integration


async def post_raw(service: Service, raw: bytes, headers: dict[str, str]) -> Any:
    return await service.client.post("/v1/pbx/events", content=raw, headers=headers)


async def test_missing_credentials_are_refused_saying_what_to_send(service: Service) -> None:
    response = await post_raw(
        service, json.dumps(service.event()).encode(), {"content-type": "application/json"}
    )
    assert response.status_code == 401
    assert "webhook-signature" in response.json()["detail"]


async def test_wrong_signature_is_refused_without_revealing_the_secret(service: Service) -> None:
    raw = json.dumps(service.event()).encode()
    headers = service.signed_headers(raw, secret="whsec_" + "A" * 40)
    response = await post_raw(service, raw, headers)
    assert response.status_code == 401
    assert "does not verify" in response.json()["detail"]
    assert SECRET not in response.text
    assert await service.pushes() == []


async def test_tampered_body_is_refused(service: Service) -> None:
    raw = json.dumps(service.event()).encode()
    headers = service.signed_headers(raw)
    tampered = raw.replace(b"4560", b"4561")
    assert (await post_raw(service, tampered, headers)).status_code == 401


async def test_rotation_one_valid_signature_among_several_is_enough(service: Service) -> None:
    raw = json.dumps(service.event()).encode()
    headers = service.signed_headers(raw)
    stale = service.signed_headers(raw, msg_id=headers["webhook-id"], secret="whsec_" + "B" * 40)
    headers["webhook-signature"] = f"{stale['webhook-signature']} {headers['webhook-signature']}"
    assert (await post_raw(service, raw, headers)).status_code == 200


@pytest.mark.parametrize(("offset", "word"), [(-310, "old"), (310, "future")])  # clear of second rounding
async def test_timestamp_outside_300_seconds_is_refused(service: Service, offset: int, word: str) -> None:
    raw = json.dumps(service.event()).encode()
    response = await post_raw(service, raw, service.signed_headers(raw, at=time.time() + offset))
    assert response.status_code == 401
    assert word in response.json()["detail"]


async def test_pbx_id_of_another_pbx_is_forbidden(service: Service) -> None:
    response = await service.post(service.event(pbx_id="pureun-main"))
    assert response.status_code == 403
    assert "pureun-main" in response.json()["detail"]


async def test_token_auth_from_an_allowed_network(service: Service) -> None:
    body = service.event(pbx_id="hanbit-legacy")
    response = await service.client.post(
        "/v1/pbx/events", json=body, headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["lettering"] == "accepted"
    again = await service.client.post(
        "/v1/pbx/events", json=body, headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert again.json() == response.json()
    assert len(await service.pushes()) == 1  # call_id + type dedupe under token auth


async def test_token_auth_from_another_network_is_forbidden(service: Service) -> None:
    body = service.event(pbx_id="hanbit-remote")
    response = await service.client.post(
        "/v1/pbx/events", json=body, headers={"authorization": f"Bearer {TOKEN}-remote"}
    )
    assert response.status_code == 403
    assert "127.0.0.1" in response.json()["detail"]


async def test_unknown_token_is_unauthorised(service: Service) -> None:
    response = await service.client.post(
        "/v1/pbx/events", json=service.event(pbx_id="hanbit-legacy"), headers={"authorization": "Bearer nope"}
    )
    assert response.status_code == 401


async def test_invalid_body_lists_every_bad_field(service: Service) -> None:
    body = service.event(extension="12a", occurred_at="yesterday", callee_number=None, type="call.setup")
    del body["call_id"]
    response = await service.post(body)
    assert response.status_code == 422
    fields = {tuple(err["loc"]) for err in response.json()["detail"]}
    assert {
        ("body", "call_id"),
        ("body", "extension"),
        ("body", "occurred_at"),
        ("body", "callee_number"),
    } <= fields


async def test_422_never_echoes_the_callee_number(service: Service) -> None:
    response = await service.post(service.event(callee_number="010-01234-5678x", talk_seconds=-1))
    assert response.status_code == 422
    assert "01234" not in response.text
    assert {tuple(e["loc"]) for e in response.json()["detail"]} >= {
        ("body", "callee_number"),
        ("body", "talk_seconds"),
    }


async def test_ended_requires_its_fields(service: Service) -> None:
    response = await service.post(service.event("call.ended"))
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["detail"]} == {
        ("body", "answered"),
        ("body", "talk_seconds"),
        ("body", "end_cause"),
    }


async def test_not_json_is_422(service: Service) -> None:
    raw = b"{not json"
    response = await post_raw(service, raw, service.signed_headers(raw))
    assert response.status_code == 422


async def test_unknown_fields_are_ignored(service: Service) -> None:
    response = await service.post(service.event(vendor_trunk="T1", x_cti={"a": 1}))
    assert response.status_code == 200


async def test_repeated_delivery_returns_the_first_response_and_sends_once(service: Service) -> None:
    raw = json.dumps(service.event(callee_number="010-0140-1230")).encode()
    headers = service.signed_headers(raw)
    first = await post_raw(service, raw, headers)
    second = await post_raw(service, raw, headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(await service.pushes("+821001401230")) == 1


async def test_concurrent_duplicates_push_exactly_once(service: Service) -> None:
    """Three copies of a delivery at once, 100 times over: one carrier push per delivery."""
    for i in range(100):
        raw = json.dumps(service.event(callee_number=f"010-0{i:03d}-1250")).encode()
        headers = service.signed_headers(raw)
        replies = await asyncio.gather(*(post_raw(service, raw, headers) for _ in range(3)))
        assert [r.status_code for r in replies] == [200, 200, 200]
        assert replies[0].json() == replies[1].json() == replies[2].json()
    pushes = await service.pushes()
    assert len(pushes) == 100
    assert len({p["callee"] for p in pushes}) == 100


async def test_stalled_carrier_answers_pending_then_records_the_outcome(service: Service) -> None:
    body = service.event(callee_number="010-0998-1230")
    started = time.monotonic()
    reply = (await service.post(body)).json()
    answered_after = time.monotonic() - started
    assert reply["lettering"] == "pending"
    assert reply["carrier"] is None
    assert answered_after < 2.9  # the stall is 3 s; the test PBX's hold budget is 1.5 s
    record = await service.call(body["call_id"])
    assert record.lettering == "pending"

    async def settled() -> bool:
        return (await service.call(body["call_id"])).final_outcome is not None

    assert await service.wait_for(settled, timeout_s=8)
    record = await service.call(body["call_id"])
    assert (record.final_outcome, record.carrier) == ("accepted", "skt")
    assert record.lettering == "pending"


async def test_answered_and_ended_complete_the_record(service: Service) -> None:
    setup = service.event()
    await service.post(setup)
    answered = await service.post(service.event("call.answered", call_id=setup["call_id"]))
    assert answered.status_code == 202
    assert answered.json() == {"call_id": setup["call_id"], "recorded": True}
    ended = service.event(
        "call.ended", call_id=setup["call_id"], answered=True, talk_seconds=75, end_cause="normal"
    )
    assert (await service.post(ended)).status_code == 202
    record = await service.call(setup["call_id"])
    assert (record.answered, record.talk_seconds, record.end_cause) == (True, 75, "normal")
    assert record.answered_at is not None
    assert record.ended_at is not None
    assert record.lettering == "accepted"


async def test_ended_before_setup_still_ends_complete(service: Service) -> None:
    call_id = "out-of-order-1"
    ended = service.event(
        "call.ended", call_id=call_id, answered=False, talk_seconds=0, end_cause="no_answer"
    )
    assert (await service.post(ended)).status_code == 202
    setup = await service.post(service.event(call_id=call_id))
    assert setup.json()["lettering"] == "accepted"
    record = await service.call(call_id)
    assert (record.answered, record.end_cause, record.lettering, record.final_outcome) == (
        False,
        "no_answer",
        "accepted",
        "accepted",
    )


async def test_event_for_an_unknown_call_is_recorded(service: Service) -> None:
    response = await service.post(service.event("call.answered", call_id="never-set-up"))
    assert response.status_code == 202
    record = await service.call("never-set-up")
    assert record.answered is True
    assert record.lettering is None


async def test_the_same_calls_setup_under_a_new_webhook_id_is_not_pushed_again(service: Service) -> None:
    """A PBX that re-sends a setup with a fresh webhook-id (or retries after a failure) gets the
    first answer and the citizen sees one lettering."""
    body = service.event(callee_number="010-0410-1230")
    first = (await service.post(body)).json()
    again = (await service.post(body)).json()  # a new webhook-id each time
    assert again["lettering"] == first["lettering"] == "accepted"
    assert again["carrier"] == first["carrier"]
    assert len(await service.pushes("+821004101230")) == 1


async def test_missed_call_notice_when_ended_arrives_before_the_setup(service: Service) -> None:
    call_id = "ended-first-missed"
    ended = service.event(
        "call.ended", call_id=call_id, answered=False, talk_seconds=0, end_cause="no_answer"
    )
    assert (await service.post(ended)).status_code == 202
    await service.post(service.event(call_id=call_id, callee_number="010-0411-1230"))

    async def queued() -> bool:

        from kakao_fallback.models import KakaoMessage

        record = await service.call(call_id)
        async with service.sessions() as session:
            row = (
                await session.execute(select(KakaoMessage).where(KakaoMessage.call_record_id == record.id))  # type: ignore[arg-type]
            ).scalar_one_or_none()
        return row is not None and row.kind == "missed_call"

    assert await service.wait_for(queued, timeout_s=5)


async def test_overlong_webhook_id_is_refused_not_a_500(service: Service) -> None:
    raw = json.dumps(service.event()).encode()
    response = await post_raw(service, raw, service.signed_headers(raw, msg_id="m" * 400))
    assert response.status_code == 401
    assert "255" in response.json()["detail"]


async def claims_of(service: Service, msg_id: str) -> int:
    async with service.sessions() as session:
        found = await session.execute(
            select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.dedupe_key == msg_id)  # type: ignore[arg-type]
        )
        return int(found.scalar_one())


async def test_deeply_nested_json_is_a_422_and_its_retry_too_nothing_claimed(service: Service) -> None:
    raw = b"[" * 1100 + b"]" * 1100
    headers = service.signed_headers(raw, msg_id="msg_deeply_nested")
    for _ in range(2):  # the PBX's retry, same webhook-id: refused alike, not poisoned
        response = await post_raw(service, raw, headers)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body"]
        assert "nested" in response.json()["detail"][0]["msg"]
    nested_in_object = json.dumps({**service.event(), "x_cti": None}).encode()
    nested_in_object = nested_in_object.replace(b'"x_cti": null', b'"x_cti": ' + b"[" * 1100 + b"]" * 1100)
    response = await post_raw(service, nested_in_object, service.signed_headers(nested_in_object))
    assert response.status_code == 422, response.text
    assert await claims_of(service, "msg_deeply_nested") == 0


@pytest.mark.parametrize(
    "occurred_at",
    ["9999-12-31T23:59:59-10:00", "0001-01-01T00:30:00+01:00", "2020-01-01T09:00:00+09:00"],
)
async def test_an_event_time_far_from_now_is_refused_naming_the_field(
    service: Service, occurred_at: str
) -> None:
    body = service.event(occurred_at=occurred_at)
    raw = json.dumps(body).encode()
    response = await post_raw(service, raw, service.signed_headers(raw, msg_id="msg_far_time"))
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "occurred_at"]]
    assert "PBX clock" in response.json()["detail"][0]["msg"]
    assert await claims_of(service, "msg_far_time") == 0


async def test_an_event_time_within_the_day_is_taken(service: Service) -> None:
    hours_ago = (datetime.now(UTC) - timedelta(hours=20)).astimezone(timezone(timedelta(hours=-10)))
    response = await service.post(service.event(occurred_at=hours_ago.isoformat()))
    assert response.status_code == 200, response.text
