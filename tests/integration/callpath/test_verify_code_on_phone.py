"""The call's verify code is on the ringing phone, after the guidance and within each carrier's
limit, so the citizen can check it at /verify before answering; it is the code the record keeps."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from lettering.directory.models import DirectoryDepartment
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration

# A subscriber of each carrier (simulator profile: the last digit picks the carrier).
CALLEES = {"skt": "010-0300-1230", "kt": "010-0300-1234", "lgu": "010-0300-1237"}
SHOWN_IN = {"skt": "message", "kt": "guideText", "lgu": "body"}
LIMIT = {"skt": 40, "kt": 60, "lgu": 60}


@pytest.mark.parametrize("carrier", ["skt", "kt", "lgu"])
async def test_the_phone_shows_the_calls_verify_code(service: Service, carrier: str) -> None:
    callee = CALLEES[carrier]
    reply = (await service.post(service.event(callee_number=callee))).json()
    assert (reply["lettering"], reply["carrier"]) == ("accepted", carrier), reply
    record = await service.call(reply["call_id"])
    assert record.verify_code
    pushes = await service.pushes("+8210" + callee.removeprefix("010").replace("-", ""))
    (push,) = [p for p in pushes if p["carrier"] == carrier]
    shown = push["display"][SHOWN_IN[carrier]]
    assert shown.endswith(f" 확인코드 {record.verify_code}"), shown
    assert len(shown) <= LIMIT[carrier]
    assert shown.split(" 확인코드 ")[0], shown  # the guidance comes first


async def test_a_long_guidance_is_cut_before_the_code(service: Service) -> None:
    long = "여권 발급 관련 안내 전화입니다. 접수하신 서류 중 보완이 필요한 부분이 있어 연락드렸습니다"
    async with service.sessions() as session:  # every department falls back to the agency's phrase
        await session.execute(update(DirectoryDepartment).values(guidance=""))
        await session.commit()
    await service.set_agency("HANBIT", default_guidance=long)  # and the directory snapshot is bumped

    async def long_guidance_shown() -> bool:
        await service.sim("DELETE", "/pushes")
        reply = (await service.post(service.event(callee_number=CALLEES["skt"]))).json()
        pushes = await service.pushes("+821003001230")
        return bool(reply["lettering"] == "accepted" and pushes and "…" in pushes[0]["display"]["message"])

    assert await service.wait_for(long_guidance_shown, timeout_s=10)
    (push,) = await service.pushes("+821003001230")
    message = push["display"]["message"]
    assert 30 < len(message) <= 40  # the guidance is cut (at a character boundary), the code is whole
    assert message.rsplit(" 확인코드 ", 1)[1].isalnum()
