"""The identity notice's 발신 확인 button reaches the dealer pointing at this call's /verify page."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.integration.callpath.conftest import Service
from tests.integration.callpath.test_alimtalk_end_to_end import finished

pytestmark = pytest.mark.integration


async def test_the_notice_sent_carries_the_verify_link_of_its_call(service: Service) -> None:
    body = service.event(callee_number="010-0200-1210")  # an iPhone: the fallback goes out
    assert (await service.post(body)).json()["fallback"] == "alimtalk"
    assert await finished(service, body["call_id"]) is not None
    record = await service.call(body["call_id"])
    assert record.verify_code
    sent = await service.alimtalk("GET", "/messages")
    assert len(sent) == 1
    link = sent[0]["template_parameter"]["확인URL"]
    assert link == f"{service.url}/verify?code={quote(record.verify_code, safe='')}"
    page = await service.client.get(link.removeprefix(service.url))
    assert page.status_code == 200
