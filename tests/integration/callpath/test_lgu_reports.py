"""POST /v1/carriers/lgu/reports: signed, applied once, unknown and repeated reports acknowledged."""

from __future__ import annotations

import json

import pytest

from carriers.lgu import SIGNATURE_HEADER, report_signature
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration


async def send_report(
    service: Service, body: dict[str, str], secret: str = "lgu-cb-secret"
) -> tuple[int, dict]:  # type: ignore[type-arg]
    raw = json.dumps(body).encode()
    response = await service.client.post(
        "/v1/carriers/lgu/reports",
        content=raw,
        headers={"content-type": "application/json", SIGNATURE_HEADER: report_signature(raw, secret)},
    )
    return response.status_code, response.json()


async def test_bad_signature_is_refused_and_changes_nothing(service: Service) -> None:
    status, body = await send_report(
        service, {"tid": "x", "result": "UNSUPPORTED", "at": "2026-11-24T00:00:00Z"}, "no"
    )
    assert status == 401
    assert SIGNATURE_HEADER in body["detail"]


async def test_unknown_tid_is_acknowledged(service: Service) -> None:
    status, body = await send_report(
        service, {"tid": "nope", "result": "DISPLAYED", "at": "2026-11-24T00:00:00Z"}
    )
    assert (status, body["status"]) == (200, "unknown")


async def test_malformed_report_is_422(service: Service) -> None:
    status, body = await send_report(service, {"tid": "x", "result": "MAYBE", "at": "2026-11-24T00:00:00Z"})
    assert status == 422
    assert "result" in body["detail"]


async def test_repeated_report_changes_nothing(service: Service) -> None:
    call = service.event(callee_number="010-0170-1257")
    reply = (await service.post(call)).json()
    # On a loaded machine the hold budget may run out first (`pending`); the record says the rest.
    assert reply["carrier"] == "lgu" or reply["lettering"] == "pending", reply

    async def displayed() -> bool:
        return (await service.call(call["call_id"])).display_result == "DISPLAYED"

    assert await service.wait_for(displayed)
    record = await service.call(call["call_id"])
    status, body = await send_report(
        service, {"tid": record.public_id, "result": "UNSUPPORTED", "at": "2026-11-24T00:00:01Z"}
    )
    assert (status, body["status"]) == (200, "repeat")
    record = await service.call(call["call_id"])
    assert (record.display_result, record.final_outcome) == ("DISPLAYED", "accepted")
    attempts = await service.attempts(record.id or 0)
    assert [(a.carrier, a.report_result) for a in attempts] == [
        ("skt", None),
        ("kt", None),
        ("lgu", "DISPLAYED"),
    ]
