"""Until IDENTITY_NOTICE_02 is approved by the dealer (`kakao.card_news_button`, off by default), a
call whose campaign has card news still gets its identity notice, the approved IDENTITY_NOTICE_01:
an unapproved template would be refused at the dealer and the notice lost with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lettering.core.settings import KakaoSettings
from tests.integration.callpath.conftest import Service, service_settings
from tests.integration.callpath.test_alimtalk_end_to_end import finished
from tests.integration.callpath.test_refused_content import approved_campaign_with_content

pytestmark = pytest.mark.integration


@pytest.fixture
def service_overrides(tmp_path: Path) -> dict[str, Any]:
    kakao = service_settings("sqlite+aiosqlite://", "http://127.0.0.1:1").kakao
    return {
        "media_dir": str(tmp_path / "media"),
        "content_sync_interval_s": 0.2,
        "kakao": KakaoSettings.model_validate({**kakao.model_dump(), "card_news_button": False}),
    }


async def test_without_the_button_the_approved_notice_goes(service: Service) -> None:
    assert KakaoSettings().card_news_button is False  # the default
    cid = await approved_campaign_with_content(service)
    body = service.event(callee_number="010-0311-1210")  # an iPhone: the AlimTalk notice
    reply = (await service.post(body)).json()
    assert (reply["fallback"], reply["campaign_id"]) == ("alimtalk", cid), reply
    message = await finished(service, body["call_id"])
    assert message is not None
    assert (message.status, message.channel) == ("delivered", "alimtalk")
    sent = [m for m in await service.alimtalk("GET", "/messages") if m["recipient_no"] == "01003111210"]
    assert [m["template_code"] for m in sent] == ["IDENTITY_NOTICE_01"]
