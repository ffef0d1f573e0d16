"""A campaign's impression is counted only when its content reached the phone: a carrier push that
was accepted with the content, or an AlimTalk notice delivered with the card-news button (which
carries the citizen's token, as the carrier's post-call link does)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from campaigns.models import Campaign, CampaignImpression
from tests.integration.callpath.conftest import Service
from tests.integration.callpath.test_alimtalk_end_to_end import finished
from tests.integration.callpath.test_refused_content import approved_campaign_with_content

pytestmark = pytest.mark.integration


@pytest.fixture
def service_overrides(tmp_path: Path) -> dict[str, Any]:
    return {"media_dir": str(tmp_path / "media"), "content_sync_interval_s": 0.2}


async def impressions_of(service: Service, call_id: str, campaign_id: int) -> int:
    """The impressions of this campaign counted for this call's callee (every day)."""
    record = await service.call(call_id)
    async with service.sessions() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(CampaignImpression.count), 0)).where(
                CampaignImpression.campaign_id == campaign_id,  # type: ignore[arg-type]
                CampaignImpression.callee_hash == record.callee_hash,  # type: ignore[arg-type]
            )
        )
    return int(total or 0)


async def campaign_total(service: Service, campaign_id: int) -> int:
    async with service.sessions() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.impressions


async def settled(service: Service, call_id: str) -> None:
    async def recorded() -> bool:
        return (await service.call(call_id)).final_outcome is not None

    assert await service.wait_for(recorded)


async def test_an_accepted_push_with_the_content_counts_one(service: Service) -> None:
    cid = await approved_campaign_with_content(service)
    before = await campaign_total(service, cid)
    body = service.event(callee_number="010-0310-1230")  # SKT, content approved there
    reply = (await service.post(body)).json()
    assert (reply["lettering"], reply["campaign_id"]) == ("accepted", cid), reply
    await settled(service, body["call_id"])
    pushes = await service.pushes("+821003101230")
    assert pushes[-1]["content_ref"]
    assert await impressions_of(service, body["call_id"], cid) == 1
    assert await campaign_total(service, cid) == before + 1


async def test_an_identity_only_push_after_a_refusal_counts_nothing(service: Service) -> None:
    cid = await approved_campaign_with_content(service)
    await service.sim("DELETE", "/contents")  # the carrier forgot the content: identity alone
    body = service.event(callee_number="010-0313-1230")
    reply = (await service.post(body)).json()
    assert (reply["lettering"], reply["campaign_id"]) == ("accepted", cid), reply
    await settled(service, body["call_id"])
    pushes = await service.pushes("+821003131230")
    assert [p["content_ref"] is None for p in pushes] == [False, True]
    assert await impressions_of(service, body["call_id"], cid) == 0


async def test_a_delivered_alimtalk_with_the_card_news_button_counts_one(service: Service) -> None:
    cid = await approved_campaign_with_content(service)
    body = service.event(callee_number="010-0311-1210")  # an iPhone: the AlimTalk notice
    reply = (await service.post(body)).json()
    assert (reply["fallback"], reply["campaign_id"]) == ("alimtalk", cid), reply
    await settled(service, body["call_id"])
    # Not shown yet: nothing is counted for the push the phone could not show.
    assert await impressions_of(service, body["call_id"], cid) == 0
    message = await finished(service, body["call_id"])
    assert message is not None
    assert (message.status, message.channel) == ("delivered", "alimtalk")
    stored = json.loads(message.variables or "{}")
    assert "?t=" not in stored["card_news_url"]  # the token is made when it is sent, never stored
    sent = [m for m in await service.alimtalk("GET", "/messages") if m["recipient_no"] == "01003111210"]
    assert [m["template_code"] for m in sent] == ["IDENTITY_NOTICE_02"]
    link = sent[0]["template_parameter"]["카드뉴스URL"]
    slug = stored["card_news_url"].rsplit("/c/", 1)[1]
    assert link.startswith(f"{service.url}/c/{slug}?t=")  # the carrier's post-call link form
    assert "1003111210" not in link
    page = await service.client.get(link.removeprefix(service.url))
    assert page.status_code == 200
    assert 'href="/o/' in page.text  # the citizen's own token: the page offers their opt-out
    assert await impressions_of(service, body["call_id"], cid) == 1


async def test_an_undelivered_alimtalk_counts_nothing(service: Service) -> None:
    cid = await approved_campaign_with_content(service)
    body = service.event(callee_number="010-0312-1810")  # an iPhone that blocked the channel
    reply = (await service.post(body)).json()
    assert (reply["fallback"], reply["campaign_id"]) == ("alimtalk", cid), reply
    message = await finished(service, body["call_id"])
    assert message is not None
    assert message.status == "failed"
    sent = [m for m in await service.alimtalk("GET", "/messages") if m["recipient_no"] == "01003121810"]
    assert [m["template_code"] for m in sent] == ["IDENTITY_NOTICE_02"]
    assert await impressions_of(service, body["call_id"], cid) == 0
