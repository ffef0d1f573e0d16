"""The console's dashboard over calls driven through the running service: the counts per day and
hour (Asia/Seoul, on both databases' SQL), outcomes per carrier, the holdout table, and each
table as a CSV Excel opens; another agency's admin sees none of it."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest

from lettering.core.clock import SEOUL
from lettering.core.db import session_scope
from lettering.users import service as user_service
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
# The simulator's profile (spec/carriers.md): in 010-0ABC-DEFG, G says the carrier, F 0-2 an iPhone.
CALLEES = {
    "010-0601-1230": "skt",  # SKT subscriber, shows lettering
    "010-0602-1264": "kt",
    "010-0603-1277": "lgu",
    "010-0604-1012": "iphone",  # an iPhone: AlimTalk fallback
}


@contextlib.asynccontextmanager
async def console_client(service: Service, email: str, agency: str) -> AsyncIterator[httpx.AsyncClient]:
    """An agency admin logged in to the console (a browser of their own: its own cookies)."""
    async with session_scope(service.sessions) as session:
        await user_service.create_user(session, email, email.split("@")[0], PASSWORD, "admin", agency)
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        response = await client.post("/admin/login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 303, response.text
        yield client


async def test_the_dashboard_counts_the_calls_and_gives_each_table_as_csv(service: Service) -> None:
    answered = 0
    for n, callee in enumerate(CALLEES):
        setup = service.event(call_id=f"dash-{n}", callee_number=callee)
        assert (await service.post(setup)).status_code == 200
        picked_up = n % 2 == 0
        answered += picked_up
        ended = service.event(
            "call.ended",
            call_id=f"dash-{n}",
            callee_number=None,
            extension=None,
            caller_number=None,
            answered=picked_up,
            talk_seconds=60 if picked_up else 0,
            end_cause="normal" if picked_up else "no_answer",
        )
        assert (await service.post(ended)).status_code == 202
    today = datetime.now(SEOUL)
    async with console_client(service, "admin@hanbit.go.kr", "HANBIT") as admin:
        page = await admin.get("/admin/dashboard")
        assert page.status_code == 200, page.text
        assert f"<strong>{len(CALLEES)}</strong>통" in page.text
        assert f"받은 통화 <strong>{answered}</strong>통" in page.text
        for words in ("SKT", "KT", "LG U+", "표시됨", "알림톡으로 대체", "레터링 효과"):
            assert words in page.text, words
        assert "<svg" in page.text
        assert "<script>" not in page.text  # no inline script (the charts are SVG drawn on the server)

        daily = await admin.get("/admin/dashboard/daily.csv")
        assert daily.status_code == 200
        assert daily.headers["content-type"].startswith("text/csv")
        assert daily.content.startswith("\ufeff".encode())
        assert f"\r\n{today.date().isoformat()},{len(CALLEES)},{answered},{60 * answered}\r\n" in daily.text
        hourly = await admin.get("/admin/dashboard/hourly.csv")
        assert f"\r\n{today.hour:02d},{len(CALLEES)},{answered}," in hourly.text
        outcomes = (await admin.get("/admin/dashboard/outcomes.csv")).text
        assert re.search(r"SKT,표시됨,[^,]*,1\r\n", outcomes), outcomes
        holdout = (await admin.get("/admin/dashboard/holdout.csv")).text
        assert f"레터링,{len(CALLEES)},{answered}," in holdout

        refused = await admin.get("/admin/dashboard?since=2026-13-01&department=NO-SUCH")
        assert refused.status_code == 200
        assert "시작 날짜를 YYYY-MM-DD 형식으로 입력해 주세요" in refused.text
        assert "NO-SUCH 부서를 찾을 수 없습니다" in refused.text
        assert (await admin.get("/admin/dashboard/nothing.csv")).status_code == 404

    async with console_client(service, "admin@pureun.go.kr", "PUREUN") as other:
        page = await other.get("/admin/dashboard")
        assert "<strong>0</strong>통" in page.text
        assert "민원여권과" not in page.text
