"""A carrier that no longer knows a campaign's content (the simulator forgets it on a restart) still
shows who is calling: the identity goes again alone, in the same ring window, to the same carrier."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.callpath.conftest import Service
from tests.integration.callpath.test_campaign_end_to_end import login, people, poster

pytestmark = pytest.mark.integration


@pytest.fixture
def service_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"media_dir": str(tmp_path / "media"), "content_sync_interval_s": 0.2}


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def dispatch_warnings() -> Iterator[list[logging.LogRecord]]:
    handler = Kept()
    logger = logging.getLogger("lettering.dispatch.service")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


async def approved_campaign_with_content(service: Service) -> int:
    """A campaign whose SKT rendition the simulator has approved and calls carry; its id."""
    tokens = await people(service)
    csrf = await login(service, "editor@hanbit.go.kr")
    created = await service.client.post(
        "/v1/campaigns",
        json={
            "title": "한빛 빛축제",
            "starts_on": "2026-01-01",
            "ends_on": "2027-12-31",
            "target_departments": ["HANBIT-0100"],
            "priority": 5,
        },
        headers=csrf,
    )
    assert created.status_code == 201, created.text
    cid = int(created.json()["id"])
    uploaded = await service.client.post(
        f"/v1/campaigns/{cid}/images",
        files={"file": ("poster.jpg", poster(), "image/jpeg")},
        data={"alt_text": "한빛 빛축제 포스터"},
        headers=csrf,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert (await service.client.post(f"/v1/campaigns/{cid}/submit", headers=csrf)).status_code == 200
    approver = {"authorization": f"Bearer {tokens['approver_token']}"}
    assert (await service.client.post(f"/v1/campaigns/{cid}/approve", headers=approver)).status_code == 200

    for callee in ("010-0300-1230", "010-0300-1234"):  # an SKT and a KT subscriber

        async def content_pushed(callee: str = callee) -> bool:
            reply = (await service.post(service.event(callee_number=callee))).json()
            pushes = await service.pushes("+8210" + callee.removeprefix("010").replace("-", ""))
            return bool(reply.get("campaign_id") == cid and pushes and pushes[-1]["content_ref"])

        assert await service.wait_for(content_pushed, timeout_s=10)
    return cid


async def test_content_the_carrier_forgot_still_shows_the_identity(
    service: Service, dispatch_warnings: list[logging.LogRecord]
) -> None:
    await approved_campaign_with_content(service)
    # The simulator restarts: every registered content is forgotten (the service's rows still say approved).
    await service.sim("DELETE", "/contents")
    await service.sim("DELETE", "/pushes")
    dispatch_warnings.clear()

    calls = []
    for callee in ("010-0300-1230", "010-0300-2230"):
        reply = (await service.post(service.event(callee_number=callee))).json()
        assert reply["lettering"] == "accepted", reply
        assert reply["carrier"] == "skt"
        calls.append(reply["call_id"])

    for call_id, callee in zip(calls, ("+821003001230", "+821003002230"), strict=True):

        async def recorded(call_id: str = call_id) -> Any:
            record = await service.call(call_id)
            return record if record.final_outcome is not None else None

        record = await service.wait_for(recorded)
        assert record is not None
        assert (record.final_outcome, record.carrier, record.fallback) == ("accepted", "skt", None)
        assert record.id is not None
        attempts = await service.attempts(record.id)
        assert [(a.carrier, a.outcome) for a in attempts] == [("skt", "rejected"), ("skt", "accepted")]
        first, second = (json.loads(a.notes) for a in attempts)
        assert any("INVALID_CONTENT" in note for note in first)
        assert any("refused: sending the identity alone" in note for note in first)
        assert any(note.startswith("identity only: skt refused campaign content") for note in second)
        pushes = await service.pushes(callee)
        assert [(p["result"], p["content_ref"] is None, p["post_call"] is None) for p in pushes] == [
            ("invalid_content", False, False),
            ("accepted", True, True),
        ]

    refused = [r for r in dispatch_warnings if "refused campaign" in r.getMessage()]
    assert len(refused) == 1, [r.getMessage() for r in dispatch_warnings]
    assert refused[0].levelno == logging.WARNING

    # KT forgot its content too: the same, with its own WARNING (one per content).
    reply = (await service.post(service.event(callee_number="010-0300-1234"))).json()
    assert (reply["lettering"], reply["carrier"]) == ("accepted", "kt"), reply
    pushes = await service.pushes("+821003001234")
    assert [p["result"] for p in pushes] == ["content_not_approved", "accepted"]
    refused = [r for r in dispatch_warnings if "refused campaign" in r.getMessage()]
    assert [r.getMessage().split()[0] for r in refused] == ["skt", "kt"]
