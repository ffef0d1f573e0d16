"""Promo freezes through the running service: the API (roles, the election preset, 422 naming the
field, 404 across agencies), `freeze_overlaps`, and a freeze taking the promo off the next call."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lettering.core.clock import SEOUL
from lettering.core.db import session_scope
from lettering.directory import service as directory_service
from tests.integration.callpath.conftest import Service
from tests.integration.callpath.test_holdout import bearer
from tests.integration.callpath.test_refused_content import approved_campaign_with_content

pytestmark = pytest.mark.integration


@pytest.fixture
def service_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"media_dir": str(tmp_path / "media"), "content_sync_interval_s": 0.2}


async def test_freeze_api_roles_preset_and_validation(service: Service) -> None:
    admin = await bearer(service, "admin")
    editor = await bearer(service, "editor")
    platform = await bearer(service, "platform_admin", None)
    foreign = await bearer(service, "admin", "PUREUN")

    preset = await service.client.post(
        "/v1/agencies/HANBIT/freezes",
        json={"reason": "제9회 전국동시지방선거", "election_day": "2026-06-03"},
        headers=admin,
    )
    assert preset.status_code == 201, preset.text
    body = preset.json()
    # 공직선거법 §86 ⑤: 180 days before the election day to the election day.
    assert (body["starts_on"], body["ends_on"], body["election_day"]) == (
        "2025-12-05",
        "2026-06-03",
        "2026-06-03",
    )
    edited = await service.client.put(
        f"/v1/agencies/HANBIT/freezes/{body['id']}",
        json={"reason": "지방선거", "election_day": "2026-06-03", "starts_on": "2026-01-01"},
        headers=platform,
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["starts_on"], edited.json()["ends_on"]) == ("2026-01-01", "2026-06-03")

    listed = await service.client.get("/v1/agencies/HANBIT/freezes", headers=editor)
    assert [f["reason"] for f in listed.json()] == ["지방선거"]

    for bad, field in (
        ({"reason": "x", "starts_on": "2026-02-01", "ends_on": "2026-01-01"}, "ends_on"),
        ({"reason": "x", "starts_on": "2026-02-01"}, "ends_on"),
        ({"reason": "x"}, "starts_on"),
        ({"reason": "", "starts_on": "2026-01-01", "ends_on": "2026-01-02"}, "reason"),
        ({"reason": "x", "starts_on": "2026-13-01", "ends_on": "2026-01-02"}, "starts_on"),
        ({"reason": "x", "election_day": "0001-03-01"}, "election_day"),
        ({"reason": "x" * 121, "election_day": "2026-06-03"}, "reason"),
    ):
        refused = await service.client.post("/v1/agencies/HANBIT/freezes", json=bad, headers=admin)
        assert refused.status_code == 422, (bad, refused.text)
        assert any(e["loc"][-1] == field for e in refused.json()["detail"]), (bad, refused.json())

    new = {"reason": "x", "starts_on": "2026-01-01", "ends_on": "2026-01-02"}
    assert (
        await service.client.post("/v1/agencies/HANBIT/freezes", json=new, headers=editor)
    ).status_code == 403
    assert (
        await service.client.post("/v1/agencies/HANBIT/freezes", json=new, headers=foreign)
    ).status_code == 404
    assert (await service.client.get("/v1/agencies/HANBIT/freezes", headers=foreign)).status_code == 404
    for freeze_id in (body["id"], 99999, 2**40):
        gone = await service.client.delete(f"/v1/agencies/PUREUN/freezes/{freeze_id}", headers=foreign)
        assert gone.status_code == 404
    assert (
        await service.client.delete(f"/v1/agencies/HANBIT/freezes/{body['id']}", headers=editor)
    ).status_code == 403

    async with service.sessions() as session:
        hanbit = service.agencies["HANBIT"]
        overlapping = await directory_service.freeze_overlaps(
            session, hanbit, date(2026, 6, 3), date(2026, 7, 1)
        )
        assert [f.reason for f in overlapping] == ["지방선거"]
        assert (
            await directory_service.freeze_overlaps(session, hanbit, date(2026, 6, 4), date(2026, 7, 1)) == []
        )
        assert (
            await directory_service.freeze_overlaps(
                session, service.agencies["PUREUN"], date(2026, 1, 1), date(2026, 12, 31)
            )
            == []
        )

    deleted = await service.client.delete(f"/v1/agencies/HANBIT/freezes/{body['id']}", headers=admin)
    assert deleted.status_code == 204
    assert (await service.client.get("/v1/agencies/HANBIT/freezes", headers=admin)).json() == []


async def test_a_new_freeze_takes_the_promo_off_the_next_call(service: Service) -> None:
    cid = await approved_campaign_with_content(service)
    admin = await bearer(service, "admin")
    today = datetime.now(SEOUL).date()
    created = await service.client.post(
        "/v1/agencies/HANBIT/freezes",
        json={
            "reason": "보궐선거",
            "starts_on": str(today - timedelta(days=1)),
            "ends_on": str(today + timedelta(days=1)),
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    until = str(today + timedelta(days=1))

    async def frozen() -> Any:
        body = service.event(callee_number="010-0600-1230")
        reply = (await service.post(body)).json()
        return body["call_id"] if reply["lettering"] == "accepted" and reply["campaign_id"] is None else None

    call_id = await service.wait_for(frozen, timeout_s=5)
    assert call_id, "the snapshot did not pick up the freeze"
    record = await service.call(call_id)
    explanation = json.loads(record.explanation)
    assert f"promo freeze: 보궐선거 until {until}" in explanation
    assert any("1 promo frozen" in line for line in explanation)
    push = (await service.pushes("+821006001230"))[-1]
    assert push["display"]["subtitle"] == "민원여권과"  # identity still shown

    async with session_scope(service.sessions) as session:
        assert await directory_service.delete_freeze(
            session, service.agencies["HANBIT"], created.json()["id"]
        )

    async def promo_back() -> bool:
        reply = (await service.post(service.event(callee_number="010-0600-1230"))).json()
        return bool(reply["campaign_id"] == cid)

    assert await service.wait_for(promo_back, timeout_s=5)
