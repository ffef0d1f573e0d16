"""Content a carrier refused at push time is registered again by the content sync, so later calls
carry the campaign once more (the container wires the dispatcher's hook to the campaigns' sync)."""

from __future__ import annotations

import pytest

from tests.integration.callpath.conftest import Service
from tests.integration.callpath.test_refused_content import (  # noqa: F401 (fixture)
    approved_campaign_with_content,
    service_overrides,
)

pytestmark = pytest.mark.integration


async def test_refused_content_is_registered_again_and_shown_again(service: Service) -> None:
    cid = await approved_campaign_with_content(service)
    await service.sim("DELETE", "/contents")  # the carrier forgets it (a restart)
    await service.sim("DELETE", "/pushes")
    callee, e164 = "010-0300-1230", "+821003001230"
    first = (await service.post(service.event(callee_number=callee))).json()
    assert first["lettering"] == "accepted", first
    assert [p["result"] for p in await service.pushes(e164)] == ["invalid_content", "accepted"]

    async def carried_again() -> bool:
        await service.sim("DELETE", "/pushes")
        reply = (await service.post(service.event(callee_number=callee))).json()
        pushes = await service.pushes(e164)
        return bool(
            reply.get("campaign_id") == cid
            and [p["result"] for p in pushes] == ["accepted"]
            and pushes[0]["content_ref"]
        )

    assert await service.wait_for(carried_again, timeout_s=15)
