"""Opt-out by link, end to end: only the POST from the page changes anything, bad links all look
alike, the change reaches the next call within two seconds, and the citizen is told the result."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from pydantic import SecretStr
from sqlalchemy import func, select

from campaigns.models import Campaign, CampaignTarget
from kakao_fallback.models import KakaoMessage
from lettering.calls.models import CallRecord
from lettering.core.db import session_scope
from lettering.optout import service as optout_service
from lettering.optout.models import OptoutHistory, OptoutState
from lettering.snapshots.service import bump
from lettering.users import service as user_service
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration

OLD_SECRET = "previous-link-secret"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def service_overrides() -> dict[str, Any]:
    return {"link_secrets_old": [SecretStr(OLD_SECRET)]}


def e164(national: str) -> str:
    return "+82" + national.replace("-", "")[1:]


def link(service: Service, national: str, agency: str = "HANBIT", keys: list[str] | None = None) -> str:
    """The path of the opt-out link a message to this citizen carries."""
    keys = keys or optout_service.link_keys(service.settings)
    token = optout_service.optout_token(keys, service.vault.hash(e164(national)), service.agencies[agency])
    return f"/o/{token}"


class _Backdated(TimestampSigner):
    """Signs as if it were `AGE_S` seconds ago (an expired link or form, without waiting)."""

    AGE_S = 200 * 86_400

    def get_timestamp(self) -> int:
        return int(time.time()) - self.AGE_S


def backdated(keys: list[str], salt: str, payload: Any) -> str:
    serializer = URLSafeTimedSerializer(list(reversed(keys)), salt=salt, signer=_Backdated)
    return str(serializer.dumps(payload))


async def call(service: Service, national: str) -> dict[str, Any]:
    reply: dict[str, Any] = (await service.post(service.event(callee_number=national))).json()
    return reply


async def csrf_of(service: Service, path: str) -> str:
    page = await service.client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


async def choose(service: Service, path: str, scope: str, target: str = "agency") -> httpx.Response:
    token = await csrf_of(service, path)
    return await service.client.post(path, data={"csrf_token": token, "scope": scope, "target": target})


async def history(service: Service, national: str) -> list[OptoutHistory]:
    async with service.sessions() as session:
        rows = await session.execute(
            select(OptoutHistory)
            .where(OptoutHistory.callee_hash == service.vault.hash(e164(national)))  # type: ignore[arg-type]
            .order_by(OptoutHistory.id)  # type: ignore[arg-type]
        )
        return list(rows.scalars())


async def count(service: Service, model: Any) -> int:
    async with service.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def optout_version(service: Service) -> int | None:
    versions: dict[str, int] = (await service.client.get("/healthz")).json()["snapshots"]
    return versions.get("optout")


def pushes_to(rows: list[dict[str, Any]], national: str) -> list[dict[str, Any]]:
    tail = national.replace("-", "")[-8:]
    return [r for r in rows if str(r["callee"]).replace("-", "").endswith(tail)]


async def test_two_hundred_gets_and_heads_change_nothing(service: Service) -> None:
    """What link scanners and prefetchers do to a link (each visit renders the page: ~25 ms)."""
    citizen = "010-0400-1230"
    assert (await call(service, citizen))["lettering"] == "accepted"
    path = link(service, citizen)
    version = await optout_version(service)

    page = await service.client.get(path)
    assert page.status_code == 200
    assert "010-****-1230" in page.text  # the retained ciphertext, decrypted and masked
    assert "한빛특례시" in page.text
    assert "홍보만 받지 않기" in page.text
    assert "모두 받지 않기" in page.text
    assert "다시 받기" in page.text
    assert "이 플랫폼의 모든 기관" in page.text  # two agencies: a province platform
    assert page.headers["cache-control"] == "no-store"
    assert "<script" not in page.text

    async def visit(i: int) -> int:
        response = await (service.client.head(path) if i % 2 else service.client.get(path))
        return response.status_code

    for start in range(0, 200, 50):
        statuses = await asyncio.gather(*(visit(i) for i in range(start, start + 50)))
        assert set(statuses) == {200}
    assert await history(service, citizen) == []
    assert await count(service, OptoutState) == 0
    assert await count(service, OptoutHistory) == 0
    assert await optout_version(service) == version
    assert (await call(service, citizen))["lettering"] == "accepted"


async def test_post_needs_the_pages_csrf_token(service: Service) -> None:
    citizen = "010-0401-1230"
    path = link(service, citizen)
    other = link(service, "010-0401-1231")
    keys = optout_service.link_keys(service.settings)
    token = path.removeprefix("/o/")
    attempts = [
        {"scope": "all"},  # none
        {"scope": "all", "csrf_token": "not-a-token"},
        {"scope": "all", "csrf_token": await csrf_of(service, other)},  # another link's form
        {"scope": "all", "csrf_token": backdated(keys, optout_service.FORM_SALT, "x")},
        {  # this link's, but expired
            "scope": "all",
            "csrf_token": backdated(keys, optout_service.FORM_SALT, optout_service._token_digest(token)),
        },
    ]
    for data in attempts:
        response = await service.client.post(path, data=data)
        assert response.status_code == 403, data
        assert "아무것도 바뀌지 않았습니다" in response.text
    assert await history(service, citizen) == []
    assert await count(service, OptoutState) == 0

    bad_scope = await choose(service, path, "everything")
    assert bad_scope.status_code == 400
    assert await count(service, OptoutHistory) == 0


async def test_bad_links_all_get_the_same_neutral_page(service: Service) -> None:
    citizen = "010-0402-1230"
    await call(service, citizen)
    good = link(service, citizen)
    keys = optout_service.link_keys(service.settings)
    payload = [service.vault.hash(e164(citizen)), service.agencies["HANBIT"]]
    head, _, signature = good.rpartition(".")
    # Not the last character: its low bits are base64 padding, so changing it may change nothing.
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    bad = {
        "tampered signature": f"{head}.{flipped}",
        "tampered payload": "/o/" + ("x" + good[4:] if good[4] != "x" else "y" + good[4:]),
        "expired": "/o/" + backdated(keys, optout_service.LINK_SALT, payload),
        "unknown key": link(service, citizen, keys=["a-key-this-service-never-had"]),
        "wrong salt": "/o/" + str(URLSafeTimedSerializer(keys[0], salt="other").dumps(payload)),
        "not a token": "/o/hello",
        "unknown agency": "/o/" + optout_service.optout_token(keys, payload[0], 999_999),
        "bad payload": "/o/" + str(URLSafeTimedSerializer(keys[0], salt="optout").dumps({"s": "x"})),
        "very long": "/o/" + "a" * 5000,
    }
    answers: dict[str, tuple[int, bytes]] = {}
    for name, path in bad.items():
        response = await service.client.get(path)
        answers[name] = (response.status_code, response.content)
        posted = await service.client.post(path, data={"scope": "all", "csrf_token": "x"})
        assert (posted.status_code, posted.content) == answers[name], name
        head_response = await service.client.head(path)
        assert head_response.status_code == answers[name][0]
    assert len(set(answers.values())) == 1, {k: v[0] for k, v in answers.items()}
    status, body = next(iter(answers.values()))
    assert status == 404
    assert "사용할 수 없는 링크" in body.decode()
    assert b"010-" not in body
    assert "한빛특례시".encode() not in body
    assert await count(service, OptoutHistory) == 0

    # A link signed with the previous key still works (keys rotate without breaking links).
    rotated = await service.client.get(link(service, citizen, keys=[OLD_SECRET]))
    assert rotated.status_code == 200
    assert "010-****-1230" in rotated.text


async def wait_for_reply(
    service: Service, national: str, check: Any, timeout_s: float = 2.0
) -> tuple[dict[str, Any] | None, float]:
    """Call until `check(reply)`; the reply and how long it took (None if it never came)."""
    started = time.monotonic()
    seen: dict[str, Any] = {}

    async def probe() -> bool:
        seen["reply"] = await call(service, national)
        return bool(check(seen["reply"]))

    ok = await service.wait_for(probe, timeout_s=timeout_s)
    return (seen["reply"] if ok else None), time.monotonic() - started


async def optout_notices(service: Service) -> list[dict[str, Any]]:
    def done(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if r["template_code"] == "OPTOUT_NOTICE_01"]

    rows: list[dict[str, Any]] = await service.alimtalk("GET", "/messages")
    return done(rows)


async def test_all_stops_every_carrier_and_alimtalk_and_the_same_link_opts_back_in(service: Service) -> None:
    citizens = {"skt": "010-0410-1230", "kt": "010-0410-1234", "lgu": "010-0410-1237"}
    iphone = "010-0410-1210"  # F = 1: an iPhone, reached by AlimTalk
    for carrier, national in citizens.items():
        reply = await call(service, national)
        assert (reply["lettering"], reply["carrier"]) == ("accepted", carrier)
    first = await call(service, iphone)
    assert first["fallback"] == "alimtalk"

    for national in [*citizens.values(), iphone]:
        response = await choose(service, link(service, national), "all")
        assert response.status_code == 200, response.text
        assert "모두 받지 않기" in response.text
        assert "변경했습니다" in response.text
        assert "알림톡" in response.text  # the notice is on its way
        rows = await history(service, national)
        assert [(r.from_scope, r.to_scope, r.via, r.agency_id) for r in rows] == [
            ("none", "all", "link", service.agencies["HANBIT"])
        ]
        assert rows[0].ip_hash is not None
        assert len(rows[0].ip_hash) == 64
        assert rows[0].user_agent_hash is not None
        assert rows[0].ip_hash != "127.0.0.1"

    for national in [*citizens.values(), iphone]:
        reply, took = await wait_for_reply(
            service, national, lambda r: r["lettering"] == "suppressed" and r["reason"] == "opted_out"
        )
        assert reply is not None, f"{national} still gets lettering {took:.1f} s after opting out"

    # The notice of the result (§50 ⑦) goes out although the citizen now refuses everything.
    async def notices_delivered() -> list[tuple[str, str | None]]:
        async with service.sessions() as session:
            rows = await session.execute(
                select(KakaoMessage.status, KakaoMessage.recipient_ciphertext).where(  # type: ignore[call-overload]
                    KakaoMessage.kind == "optout_notice"  # type: ignore[arg-type]
                )
            )
            found = [(status, ct) for status, ct in rows.all()]
        return found if len(found) == 4 and all(s == "delivered" and ct is None for s, ct in found) else []

    assert await service.wait_for(notices_delivered, timeout_s=10)
    notices = await optout_notices(service)
    assert len(notices) == 4
    assert {n["recipient_no"] for n in notices} == {n.replace("-", "") for n in [*citizens.values(), iphone]}
    assert all("모든 안내 수신 거부" in n["text"] for n in notices)

    await service.sim("DELETE", "/pushes")
    before = len(await service.alimtalk("GET", "/messages"))
    for national in [*citizens.values(), iphone]:
        setup = service.event(callee_number=national)
        assert (await service.post(setup)).json()["lettering"] == "suppressed"
        await service.post(
            service.event(
                "call.ended", call_id=setup["call_id"], answered=False, talk_seconds=0, end_cause="no_answer"
            )
        )
    await asyncio.sleep(1.0)  # the relay would have sent anything queued by now
    assert await service.sim("GET", "/pushes") == []
    assert len(await service.alimtalk("GET", "/messages")) == before

    # Back in, from the same link; the next call shows the lettering again within two seconds.
    skt = citizens["skt"]
    response = await choose(service, link(service, skt), "none")
    assert response.status_code == 200
    assert [(r.from_scope, r.to_scope) for r in await history(service, skt)] == [
        ("none", "all"),
        ("all", "none"),
    ]
    reply, took = await wait_for_reply(service, skt, lambda r: r["lettering"] == "accepted")
    assert reply is not None, f"still suppressed {took:.1f} s after opting back in"
    page = await service.client.get(link(service, skt))
    assert "<dd>모두 받기</dd>" in page.text


async def add_campaign(service: Service) -> int:
    """An approved, agency-wide campaign with a post-call policy link (no image needed)."""
    async with session_scope(service.sessions) as session:
        author = await user_service.create_user(
            session, "author@hanbit.go.kr", "작성자", "correct horse battery", "approver", "HANBIT"
        )
        today = date.today()
        campaign = Campaign(
            agency_id=service.agencies["HANBIT"],
            title="한빛 빛축제",
            state="approved",
            slug="festival-2026",
            starts_on=today - timedelta(days=2),
            ends_on=today + timedelta(days=30),
            post_call_card_news=False,
            policy_url="https://www.hanbit.go.kr/festival",
            created_by=author.id,
            decided_by=author.id,
        )
        session.add(campaign)
        await session.flush()
        assert campaign.id is not None
        session.add(CampaignTarget(campaign_id=campaign.id, kind="agency"))
        await bump(session, "campaigns")
        return campaign.id


async def test_promo_keeps_identity_and_drops_the_content(service: Service) -> None:
    cid = await add_campaign(service)
    citizens = ["010-0420-1230", "010-0420-1234", "010-0420-1237"]
    for national in citizens:
        reply, _ = await wait_for_reply(service, national, lambda r: r.get("campaign_id") == cid, 5.0)
        assert reply is not None
        assert reply["lettering"] == "accepted"
        push = pushes_to(await service.pushes(), national)[-1]
        assert push["post_call"] is not None  # the promotion goes with the call before opting out

    for national in citizens:
        assert (await choose(service, link(service, national), "promo")).status_code == 200
    for national in citizens:
        reply, took = await wait_for_reply(
            service, national, lambda r: r["lettering"] == "accepted" and r.get("campaign_id") is None
        )
        assert reply is not None, f"{national}: promotion still sent {took:.1f} s after opting out"
        record = await service.call(reply["call_id"])
        assert "content: none (callee opted out of promotion)" in record.explanation
        push = pushes_to(await service.pushes(), national)[-1]
        assert push["post_call"] is None
        assert push["content_ref"] is None
        shown = " ".join(str(v) for v in push["display"].values())
        assert "한빛특례시" in shown  # identity still shown: it protects the citizen


async def test_every_agency_on_the_platform(service: Service) -> None:
    citizen = "010-0430-1230"
    await call(service, citizen)
    response = await choose(service, link(service, citizen), "all", target="platform")
    assert response.status_code == 200
    assert "이 플랫폼의 모든 기관" in response.text
    assert [(r.agency_id, r.to_scope) for r in await history(service, citizen)] == [(0, "all")]
    pureun = service.event(callee_number=citizen, pbx_id="pureun-main", extension="7000", caller_number=None)

    async def suppressed_at_pureun() -> bool:
        body = dict(pureun, call_id=f"p-{time.monotonic_ns()}")
        raw = (await service.post(body, secret=_pureun_secret())).json()
        return bool(raw.get("lettering") == "suppressed" and raw.get("reason") == "opted_out")

    assert await service.wait_for(suppressed_at_pureun, timeout_s=2.5)


def _pureun_secret() -> str:
    from tests.integration.callpath.conftest import SECRET

    return SECRET.replace("a", "b")


async def test_without_a_kept_number_the_page_says_this_number_and_no_notice_is_sent(
    service: Service,
) -> None:
    citizen = "010-0440-1230"  # never called: nothing keeps the number
    path = link(service, citizen)
    page = await service.client.get(path)
    assert page.status_code == 200
    assert "<dd>이 번호</dd>" in page.text
    assert "****" not in page.text
    response = await choose(service, path, "promo")
    assert response.status_code == 200
    assert "보관 중인 연락처가 없어" in response.text
    assert [(r.from_scope, r.to_scope) for r in await history(service, citizen)] == [("none", "promo")]
    assert await count(service, KakaoMessage) == 0


async def test_platform_wide_notice_goes_out_from_the_links_agency(service: Service) -> None:
    citizen = "010-0441-1230"
    await call(service, citizen)
    assert (await choose(service, link(service, citizen), "promo", target="platform")).status_code == 200
    async with service.sessions() as session:
        notice = (
            await session.execute(select(KakaoMessage).where(KakaoMessage.kind == "optout_notice"))  # type: ignore[arg-type]
        ).scalar_one()
    assert notice.agency_id == service.agencies["HANBIT"]
    assert "이 플랫폼의 모든 기관 - 홍보 메시지 수신 거부" in notice.variables


async def test_a_link_used_days_later_still_gets_its_notice(service: Service) -> None:
    """The call dropped the number long ago; the register kept it for the link's lifetime."""
    from lettering.core.db import utcnow
    from lettering.retention.service import drop_numbers

    citizen = "010-0430-1230"
    assert (await call(service, citizen))["lettering"] == "accepted"
    await drop_numbers(service.sessions, utcnow() + timedelta(days=3))
    async with service.sessions() as session:
        record_ct = (
            await session.execute(
                select(func.count()).select_from(CallRecord).where(CallRecord.callee_ciphertext.is_not(None))  # type: ignore[union-attr]
            )
        ).scalar_one()
    assert record_ct == 0  # no call keeps the number any more
    page = await service.client.get(link(service, citizen))
    assert "010-****-1230" in page.text
    response = await choose(service, link(service, citizen), "promo")
    assert response.status_code == 200
    assert "알림톡" in response.text
    rows = await history(service, citizen)
    assert [(r.to_scope, r.notice) for r in rows] == [("promo", "queued")]
    key = f"optout-{rows[0].id}"
    async with service.sessions() as session:
        query = select(KakaoMessage).where(KakaoMessage.idempotency_key == key)  # type: ignore[arg-type]
        notice = (await session.execute(query)).scalar_one()
    assert notice.kind == "optout_notice"

    async def reached_the_phone() -> list[dict[str, Any]]:
        return [n for n in await optout_notices(service) if n["recipient_no"] == citizen.replace("-", "")]

    sent = await service.wait_for(reached_the_phone, timeout_s=10)
    assert len(sent) == 1
    assert "홍보 메시지 수신 거부" in sent[0]["text"]


async def test_without_any_copy_of_the_number_the_history_says_not_sent(service: Service) -> None:
    citizen = "010-0431-1230"
    # A link for a number this service never called (so nothing keeps it): no notice can go.
    response = await choose(service, link(service, citizen), "all")
    assert response.status_code == 200
    rows = await history(service, citizen)
    assert [(r.to_scope, r.notice) for r in rows] == [("all", "not_sent")]


def checked_scope(html: str) -> list[str]:
    return re.findall(r'name="scope" value="(\w+)" checked', html)


async def test_the_form_starts_on_opting_out_not_on_receiving_again(service: Service) -> None:
    national = "010-0700-1234"
    await call(service, national)
    path = link(service, national)
    # A citizen who receives everything came by the 수신거부 link: the form starts on 홍보만 받지 않기.
    assert checked_scope((await service.client.get(path)).text) == ["promo"]
    # One who opted out starts on the choice in force; 다시 받기 is never preselected for them.
    assert (await choose(service, path, "all")).status_code == 200
    assert checked_scope((await service.client.get(path)).text) == ["all"]
    assert (await choose(service, path, "none")).status_code == 200
    assert checked_scope((await service.client.get(path)).text) == ["promo"]
