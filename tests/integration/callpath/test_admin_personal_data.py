"""Administrators and a citizen's number: opt-out on the citizen's request, and revealing a call's
number, each tenant-scoped and each leaving its trace (history, access log)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from kakao_fallback.models import KakaoMessage
from lettering.audit.models import AuditAccessLog
from lettering.core.db import session_scope
from lettering.optout.models import OptoutHistory, OptoutState
from lettering.users import service as user_service
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


async def tokens(service: Service) -> dict[str, dict[str, str]]:
    """Bearer headers of a HANBIT admin, a PUREUN admin, a platform admin and a HANBIT editor."""
    out: dict[str, dict[str, str]] = {}
    async with session_scope(service.sessions) as session:
        for key, email, role, agency, department in (
            ("hanbit", "admin@hanbit.go.kr", "admin", "HANBIT", None),
            ("pureun", "admin@pureun.go.kr", "admin", "PUREUN", None),
            ("platform", "ops@platform.go.kr", "platform_admin", None, None),
            ("editor", "editor@hanbit.go.kr", "editor", "HANBIT", "HANBIT-0100"),
        ):
            user = await user_service.create_user(
                session, email, "관리자", PASSWORD, role, agency, department
            )
            token = await user_service.create_api_token(session, user.id, "test")
            out[key] = {"authorization": f"Bearer {token}"}
            out[key + "_id"] = {"id": str(user.id)}
    return out


def e164(national: str) -> str:
    return "+82" + national.replace("-", "")[1:]


async def test_admin_opts_a_citizen_out_on_request(service: Service) -> None:
    people = await tokens(service)
    citizen = "010-0500-1230"
    body: dict[str, Any] = {"number": citizen, "scope": "all", "reason": "전화 요청 (민원 2026-1124)"}
    response = await service.client.post("/v1/optouts", json=body, headers=people["hanbit"])
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer == {
        "changed": True,
        "from_scope": "none",
        "to_scope": "all",
        "agency_code": "HANBIT",
        "masked_number": "010-****-1230",
        "history_id": answer["history_id"],
        "notice": "queued",
    }
    again = await service.client.post("/v1/optouts", json=body, headers=people["hanbit"])
    assert again.json()["changed"] is False
    assert again.json()["notice"] == "unchanged"

    async with service.sessions() as session:
        rows = list((await session.execute(select(OptoutHistory))).scalars())
        audit = list((await session.execute(select(AuditAccessLog))).scalars())
        notice = (
            await session.execute(select(KakaoMessage).where(KakaoMessage.kind == "optout_notice"))  # type: ignore[arg-type]
        ).scalar_one()
    assert [(r.via, r.admin_id, r.from_scope, r.to_scope, r.agency_id) for r in rows] == [
        ("admin", int(people["hanbit_id"]["id"]), "none", "all", service.agencies["HANBIT"])
    ]
    assert rows[0].callee_hash == service.vault.hash(e164(citizen))
    assert (rows[0].reason, rows[0].notice) == ("전화 요청 (민원 2026-1124)", "queued")
    assert [(a.action, a.record_kind, a.record_id, a.reason) for a in audit] == [
        ("optout_change", "optout", rows[0].id, "전화 요청 (민원 2026-1124)")
    ]
    assert notice.idempotency_key == f"optout-{rows[0].id}"
    assert notice.agency_id == service.agencies["HANBIT"]

    async def suppressed() -> bool:
        reply = (await service.post(service.event(callee_number=citizen))).json()
        return bool(reply["lettering"] == "suppressed")

    assert await service.wait_for(suppressed, timeout_s=2.5)


async def test_admin_optout_is_tenant_scoped(service: Service) -> None:
    people = await tokens(service)
    body: dict[str, Any] = {"number": "010-0501-1230", "scope": "promo", "reason": "전화 요청"}
    foreign = await service.client.post(
        "/v1/optouts", json={**body, "agency_code": "PUREUN"}, headers=people["hanbit"]
    )
    assert foreign.status_code == 404
    everyone = await service.client.post(
        "/v1/optouts", json={**body, "agency_code": "*"}, headers=people["hanbit"]
    )
    assert everyone.status_code == 403
    editor = await service.client.post("/v1/optouts", json=body, headers=people["editor"])
    assert editor.status_code == 403
    unnamed = await service.client.post("/v1/optouts", json=body, headers=people["platform"])
    assert unnamed.status_code == 400
    landline = await service.client.post(
        "/v1/optouts", json={**body, "number": "031-5180-2114"}, headers=people["hanbit"]
    )
    assert landline.status_code == 422
    no_reason = await service.client.post(
        "/v1/optouts", json={k: v for k, v in body.items() if k != "reason"}, headers=people["hanbit"]
    )
    assert no_reason.status_code == 422
    async with service.sessions() as session:
        assert list((await session.execute(select(OptoutState))).scalars()) == []

    chosen = await service.client.post(
        "/v1/optouts", json={**body, "agency_code": "PUREUN"}, headers=people["platform"]
    )
    assert chosen.status_code == 200
    assert chosen.json()["agency_code"] == "PUREUN"
    platform = await service.client.post(
        "/v1/optouts", json={**body, "agency_code": "*"}, headers=people["platform"]
    )
    assert platform.status_code == 200
    assert platform.json()["agency_code"] == "*"
    async with service.sessions() as session:
        states = {(s.agency_id, s.scope) for s in (await session.execute(select(OptoutState))).scalars()}
    assert states == {(service.agencies["PUREUN"], "promo"), (0, "promo")}


async def test_console_session_needs_csrf(service: Service) -> None:
    await tokens(service)
    login = await service.client.post(
        "/v1/auth/login", json={"email": "admin@hanbit.go.kr", "password": PASSWORD}
    )
    assert login.status_code == 200
    body = {"number": "010-0502-1230", "scope": "all", "reason": "전화 요청"}
    refused = await service.client.post("/v1/optouts", json=body)
    assert refused.status_code == 403
    accepted = await service.client.post(
        "/v1/optouts", json=body, headers={"x-csrf-token": login.json()["csrf_token"]}
    )
    assert accepted.status_code == 200, accepted.text
    service.client.cookies.clear()


async def test_revealing_a_number_is_logged_and_tenant_scoped(service: Service) -> None:
    people = await tokens(service)
    body = service.event(callee_number="010-0503-1230")
    assert (await service.post(body)).json()["lettering"] == "accepted"
    record = await service.call(body["call_id"])
    path = f"/v1/calls/{record.id}/number"

    missing_reason = await service.client.get(path, headers=people["hanbit"])
    assert missing_reason.status_code == 422
    for who in ("pureun", "editor"):
        refused = await service.client.get(path, params={"reason": "확인"}, headers=people[who])
        assert refused.status_code == (404 if who == "pureun" else 403), who
    unknown = await service.client.get(
        "/v1/calls/999999/number", params={"reason": "확인"}, headers=people["hanbit"]
    )
    assert unknown.status_code == 404
    assert (
        unknown.json()
        == (await service.client.get(path, params={"reason": "확인"}, headers=people["pureun"])).json()
    )
    async with service.sessions() as session:
        assert list((await session.execute(select(AuditAccessLog))).scalars()) == []

    shown = await service.client.get(
        path, params={"reason": "민원 회신 (접수 2026-1124)"}, headers=people["hanbit"]
    )
    assert shown.status_code == 200, shown.text
    assert shown.json()["number"] == "010-0503-1230"
    assert shown.headers["cache-control"] == "no-store"
    async with service.sessions() as session:
        audit = list((await session.execute(select(AuditAccessLog))).scalars())
    assert [(a.user_id, a.action, a.record_kind, a.record_id, a.reason) for a in audit] == [
        (
            int(people["hanbit_id"]["id"]),
            "reveal_number",
            "call_record",
            record.id,
            "민원 회신 (접수 2026-1124)",
        )
    ]
    platform = await service.client.get(path, params={"reason": "운영 점검"}, headers=people["platform"])
    assert platform.status_code == 200
