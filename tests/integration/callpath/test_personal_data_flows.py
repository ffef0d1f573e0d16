"""After the opt-out, call-check and admin flows, no citizen's number is in any table or log line."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import select

from kakao_fallback.models import KakaoMessage
from lettering.core.db import session_scope
from lettering.optout import service as optout_service
from lettering.users import service as user_service
from tests.integration.callpath.conftest import Service
from tests.integration.callpath.test_personal_data import _dump, forms

pytestmark = pytest.mark.integration

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINKED = "010-0700-1230"  # opts out by link (promo, then all)
IPHONE = "010-0700-1210"  # opts out by link; gets the notice by AlimTalk
ASKED = "010-0700-1234"  # asks an admin on the phone
TYPED = "010-0700-9876"  # typed into a report's note and as the shown number


def e164(national: str) -> str:
    return "+82" + national.replace("-", "")[1:]


async def test_no_number_in_clear_after_the_flows(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with session_scope(service.sessions) as session:
        admin = await user_service.create_user(
            session, "admin@hanbit.go.kr", "관리자", "correct horse battery", "admin", "HANBIT"
        )
        bearer = {"authorization": f"Bearer {await user_service.create_api_token(session, admin.id, 't')}"}

    call_ids = []
    for national in (LINKED, IPHONE):
        body = service.event(callee_number=national)
        assert (await service.post(body)).status_code == 200
        call_ids.append(body["call_id"])
    keys = optout_service.link_keys(service.settings)
    for national, scopes in ((LINKED, ("promo", "all")), (IPHONE, ("all",))):
        path = "/o/" + optout_service.optout_token(
            keys, service.vault.hash(e164(national)), service.agencies["HANBIT"]
        )
        for scope in scopes:
            page = await service.client.get(path)
            found = CSRF.search(page.text)
            assert found is not None
            posted = await service.client.post(path, data={"csrf_token": found.group(1), "scope": scope})
            assert posted.status_code == 200
    admin_change = await service.client.post(
        "/v1/optouts", json={"number": ASKED, "scope": "all", "reason": "전화 요청"}, headers=bearer
    )
    assert admin_change.status_code == 200
    record = await service.call(call_ids[0])
    assert (await service.client.get("/verify", params={"code": record.verify_code})).status_code == 200
    assert (await service.client.post("/verify", data={"number": "031-5180-2114"})).status_code == 200
    report = await service.client.post(
        "/verify/report", data={"shown_number": "031-5180-2114", "note": f"제 번호는 {TYPED} 입니다"}
    )
    assert report.status_code == 200
    assert (await service.client.post("/verify/report", data={"shown_number": TYPED})).status_code == 200
    revealed = await service.client.get(
        f"/v1/calls/{record.id}/number", params={"reason": "민원 회신"}, headers=bearer
    )
    assert revealed.json()["number"] == LINKED  # the one place it is shown, to an admin, logged

    async def notices_finished() -> bool:
        async with service.sessions() as session:
            rows = await session.execute(
                select(KakaoMessage.status).where(KakaoMessage.kind == "optout_notice")  # type: ignore[call-overload, arg-type]
            )
            statuses = [status for (status,) in rows.all()]
        return len(statuses) == 4 and all(s in ("delivered", "failed") for s in statuses)

    assert await service.wait_for(notices_finished, timeout_s=10)
    messages = await service.alimtalk("GET", "/messages")
    assert sum(m["template_code"] == "OPTOUT_NOTICE_01" for m in messages) == 4

    logged = caplog.text
    assert "opt-out" in logged
    assert "HANBIT" in logged
    dump = await _dump(service)
    for national in (LINKED, IPHONE, ASKED, TYPED):
        for form in forms(national):
            assert form not in logged, f"{form} in logs"
            assert form not in dump, f"{form} in the database"
