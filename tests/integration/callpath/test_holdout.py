"""Holdout arms through the running service: the settings API (roles, validation, tenants), a
held-out call answered skipped/holdout with no push and no AlimTalk (not even the missed-call
notice), the identity_only arm without a campaign, and the arm kept on every call record."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select

from kakao_fallback.models import KakaoMessage
from lettering.core.db import session_scope
from lettering.decision.arms import assign_arm
from lettering.directory.models import DirectoryAgency, DirectoryDepartment
from lettering.users import service as user_service
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


async def bearer(service: Service, role: str, agency: str | None = "HANBIT") -> dict[str, str]:
    async with session_scope(service.sessions) as session:
        user = await user_service.create_user(
            session,
            f"{role}-{agency or 'platform'}@example.go.kr".lower(),
            role,
            PASSWORD,
            role,
            agency,
            "HANBIT-0100" if role == "editor" else None,
        )
        token = await user_service.create_api_token(session, user.id, "test")
    return {"authorization": f"Bearer {token}"}


async def salt_of(service: Service, code: str = "HANBIT") -> bytes:
    async with service.sessions() as session:
        agency = (
            await session.execute(select(DirectoryAgency).where(DirectoryAgency.code == code))  # type: ignore[arg-type]
        ).scalar_one()
        return bytes.fromhex(agency.holdout_salt)


def call_ids_in(
    arm: str, salt: bytes, holdout_bp: int, identity_only_bp: int = 0, count: int = 1
) -> list[str]:
    found: list[str] = []
    i = 0
    while len(found) < count:
        call_id = f"h-{i}"
        if assign_arm(call_id, salt, holdout_bp, identity_only_bp)[0] == arm:
            found.append(call_id)
        i += 1
    return found


async def set_shares(service: Service, headers: dict[str, str], **body: Any) -> None:
    response = await service.client.put("/v1/agencies/HANBIT/holdout-settings", json=body, headers=headers)
    assert response.status_code == 200, response.text


async def test_settings_api_roles_validation_and_tenants(service: Service) -> None:
    admin = await bearer(service, "admin")
    platform = await bearer(service, "platform_admin", None)
    editor = await bearer(service, "editor")
    foreign_admin = await bearer(service, "admin", "PUREUN")

    got = await service.client.get("/v1/agencies/HANBIT/holdout-settings", headers=admin)
    assert got.status_code == 200, got.text
    assert got.json() == {
        "agency": "HANBIT",
        "holdout_percent": 0.0,
        "identity_only_percent": 0.0,
        "departments": [],
    }
    assert "salt" not in got.text

    await set_shares(service, admin, holdout_percent=10, identity_only_percent=5.5)
    await set_shares(service, platform, holdout_percent=10, identity_only_percent=5.25)
    shown = (await service.client.get("/v1/agencies/HANBIT/holdout-settings", headers=platform)).json()
    assert (shown["holdout_percent"], shown["identity_only_percent"]) == (10.0, 5.25)

    for body, field in (
        ({"holdout_percent": 20.5}, "holdout_percent"),
        ({"holdout_percent": -1}, "holdout_percent"),
        ({"holdout_percent": 15, "identity_only_percent": 6}, "identity_only_percent"),
        ({"holdout_percent": 1.234}, "holdout_percent"),
        ({"holdout_percent": "lots"}, "holdout_percent"),
        ({}, "holdout_percent"),
        ({"holdout_percent": 1, "salt": "00"}, "salt"),
    ):
        refused = await service.client.put("/v1/agencies/HANBIT/holdout-settings", json=body, headers=admin)
        assert refused.status_code == 422, (body, refused.text)
        assert any(e["loc"][-1] == field for e in refused.json()["detail"]), (body, refused.json())

    department = await service.client.put(
        "/v1/agencies/HANBIT/departments/HANBIT-0001/holdout-settings",
        json={"holdout_percent": 20},
        headers=admin,
    )
    assert department.status_code == 200, department.text
    assert department.json()["department"] == "HANBIT-0001"
    listed = (await service.client.get("/v1/agencies/HANBIT/holdout-settings", headers=admin)).json()
    assert [(d["department"], d["holdout_percent"]) for d in listed["departments"]] == [("HANBIT-0001", 20.0)]
    # Another agency's department, and an unknown one, are the same 404.
    for code in ("PUREUN-0001", "NOPE"):
        missing = await service.client.put(
            f"/v1/agencies/HANBIT/departments/{code}/holdout-settings",
            json={"holdout_percent": 1},
            headers=admin,
        )
        assert missing.status_code == 404, missing.text
    cleared = await service.client.delete(
        "/v1/agencies/HANBIT/departments/HANBIT-0001/holdout-settings", headers=admin
    )
    assert cleared.status_code == 204
    async with service.sessions() as session:
        row = (
            await session.execute(
                select(DirectoryDepartment).where(DirectoryDepartment.code == "HANBIT-0001")
            )  # type: ignore[arg-type]
        ).scalar_one()
        assert (row.holdout_bp, row.identity_only_bp) == (None, None)

    assert (
        await service.client.get("/v1/agencies/HANBIT/holdout-settings", headers=editor)
    ).status_code == 403
    put = await service.client.put(
        "/v1/agencies/HANBIT/holdout-settings", json={"holdout_percent": 1}, headers=editor
    )
    assert put.status_code == 403
    for method in ("GET", "PUT"):
        foreign = await service.client.request(
            method, "/v1/agencies/HANBIT/holdout-settings", json={"holdout_percent": 1}, headers=foreign_admin
        )
        assert foreign.status_code == 404, foreign.text
    assert (
        await service.client.get("/v1/agencies/NOPE/holdout-settings", headers=platform)
    ).status_code == 404


async def outbox_of(service: Service, record_id: int) -> list[KakaoMessage]:
    async with service.sessions() as session:
        rows = await session.execute(select(KakaoMessage).where(KakaoMessage.call_record_id == record_id))  # type: ignore[arg-type]
        return list(rows.scalars())


async def test_held_out_calls_get_nothing_not_even_alimtalk(service: Service) -> None:
    admin = await bearer(service, "admin")
    await set_shares(service, admin, holdout_percent=20)
    salt = await salt_of(service)
    # The snapshot takes the new shares within a poll (1 s); wait until a held-out id is skipped.
    probes = iter(call_ids_in("holdout", salt, 2000, count=50))

    async def holdout_in_force() -> bool:
        reply = (
            await service.post(service.event(call_id=next(probes), callee_number="010-0500-1230"))
        ).json()
        return bool(reply["lettering"] == "skipped")

    assert await service.wait_for(holdout_in_force, timeout_s=5)
    await service.sim("DELETE", "/pushes")

    held, iphone = call_ids_in("holdout", salt, 2000, count=60)[-2:]
    for call_id, callee in ((held, "010-0501-1230"), (iphone, "010-0501-1210")):  # SKT; an iPhone
        reply = (await service.post(service.event(call_id=call_id, callee_number=callee))).json()
        assert (reply["lettering"], reply["reason"], reply["carrier"], reply["fallback"]) == (
            "skipped",
            "holdout",
            None,
            None,
        ), reply
        ended = service.event(
            "call.ended", call_id=call_id, answered=False, talk_seconds=0, end_cause="no_answer"
        )
        assert (await service.post(ended)).status_code == 202
        record = await service.call(call_id)
        assert (record.arm, record.lettering, record.final_outcome) == ("holdout", "skipped", "skipped")
        assert record.callee_ciphertext is None  # nothing will ever be sent: only the keyed hash
        assert any(
            line.startswith("holdout: bucket") and "(20 % held out)" in line
            for line in json.loads(record.explanation)
        )
        assert await outbox_of(service, record.id or 0) == []
    assert await service.pushes() == []
    # call.ended first, then the setup: still no missed-call notice.
    first = call_ids_in("holdout", salt, 2000, count=61)[-1]
    await service.post(
        service.event("call.ended", call_id=first, answered=False, talk_seconds=0, end_cause="no_answer")
    )
    reply = (await service.post(service.event(call_id=first, callee_number="010-0502-1230"))).json()
    assert reply["reason"] == "holdout"
    await asyncio.sleep(0.3)
    assert await outbox_of(service, (await service.call(first)).id or 0) == []

    lettered = call_ids_in("lettered", salt, 2000)[0]
    reply = (await service.post(service.event(call_id=lettered, callee_number="010-0503-1230"))).json()
    assert reply["lettering"] == "accepted"
    record = await service.call(lettered)
    assert record.arm == "lettered"
    assert any(line.startswith("arm: lettered: bucket") for line in json.loads(record.explanation))


async def test_identity_only_arm_has_identity_without_campaign(service: Service) -> None:
    admin = await bearer(service, "admin")
    await set_shares(service, admin, holdout_percent=0, identity_only_percent=20)
    salt = await salt_of(service)
    probes = iter(call_ids_in("identity_only", salt, 0, 2000, count=50))
    tried: list[str] = []

    async def identity_only_in_force() -> bool:
        tried.append(next(probes))
        await service.post(service.event(call_id=tried[-1], callee_number="010-0504-1230"))
        return (await service.call(tried[-1])).arm == "identity_only"

    assert await service.wait_for(identity_only_in_force, timeout_s=5)
    record = await service.call(tried[-1])
    assert record.lettering == "accepted"
    assert record.campaign_id is None
    assert "content: none (identity_only arm)" in json.loads(record.explanation)
