"""The console's call pages, opt-outs on request, spoof reports and the access log, on the whole
service with real call setups (tests/integration/callpath's `service`): search filters and keyset
pages, numbers masked everywhere but the reveal, the reveal and opt-out changes access-logged,
roles and the agency scope (another agency's call is a 404)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from lettering.audit import service as audit_service
from lettering.calls import service as call_service
from lettering.console import calls as console_calls
from lettering.core.clock import SEOUL
from lettering.core.db import session_scope
from lettering.optout.models import OptoutState
from lettering.users import service as user_service
from tests.integration.callpath import conftest as callpath
from tests.integration.callpath.conftest import SECRET, Service

# The whole service on a real socket, as the call path tests run it (their fixtures, reused).
service = callpath.service
service_overrides = callpath.service_overrides

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SUBJECT = re.compile(r'name="subject" value="([^"]+)"')
PUREUN_SECRET = SECRET.replace("a", "b")

ACCEPTED = "010-0123-4560"  # the simulators' profile: SKT subscriber, shown
FALLBACK = "010-0126-1210"  # unsupported device: AlimTalk instead
PUREUN_CALLEE = "010-0124-4561"
OPTOUT_CITIZEN = "010-0500-1230"


def forms_of(national: str) -> list[str]:
    """Every clear form of a number a page or log could carry."""
    digits = national.replace("-", "")
    return [national, digits, "+82" + digits[1:], "+82 10-" + national[4:]]


def assert_no_clear_number(text: str, *numbers: str) -> None:
    for number in numbers:
        for form in forms_of(number):
            assert form not in text, f"{form} in the page"


@dataclass
class Calls:
    service: Service
    ids: dict[str, int]
    codes: dict[str, str]


async def setup_call(service: Service, name: str, **fields: str) -> str:
    secret = fields.pop("secret", SECRET)
    body = service.event(**fields)
    response = await service.post(body, secret=secret)
    assert response.status_code == 200, response.text
    return str(body["call_id"])


@pytest.fixture
async def seeded(service: Service) -> Calls:
    async with session_scope(service.sessions) as session:
        for email, name, role, agency, department in (
            ("admin@hanbit.go.kr", "한관리", "admin", "HANBIT", None),
            ("approver@hanbit.go.kr", "이승인", "approver", "HANBIT", None),
            ("editor@hanbit.go.kr", "김편집", "editor", "HANBIT", "HANBIT-0100"),
            ("admin@pureun.go.kr", "박관리", "admin", "PUREUN", None),
            ("ops@lettering.kr", "운영자", "platform_admin", None, None),
        ):
            await user_service.create_user(session, email, name, PASSWORD, role, agency, department)
    accepted = await setup_call(service, "accepted", extension="2114", callee_number=ACCEPTED)
    fallback = await setup_call(
        service, "fallback", extension="2000", caller_number=None, callee_number=FALLBACK
    )
    pureun = await setup_call(
        service,
        "pureun",
        pbx_id="pureun-main",
        extension="7000",
        caller_number="061-530-7000",
        callee_number=PUREUN_CALLEE,
        secret=PUREUN_SECRET,
    )
    ended = service.event("call.ended", call_id=accepted, answered=True, talk_seconds=42, end_cause="normal")
    assert (await service.post(ended)).status_code in (200, 202)

    async def settled() -> bool:
        record = await service.call(fallback)
        return record.fallback is not None and (await service.call(accepted)).talk_seconds == 42

    assert await service.wait_for(settled)
    ids, codes = {}, {}
    for name, call_id, pbx in (
        ("accepted", accepted, "hanbit-main"),
        ("fallback", fallback, "hanbit-main"),
        ("pureun", pureun, "pureun-main"),
    ):
        record = await service.call(call_id, pbx)
        assert record.id is not None
        assert record.verify_code is not None
        ids[name], codes[name] = record.id, record.verify_code
    return Calls(service, ids, codes)


async def browser_for(service: Service, email: str) -> tuple[httpx.AsyncClient, str]:
    client = httpx.AsyncClient(base_url=service.url, timeout=15)
    login = await client.post("/admin/login", data={"email": email, "password": PASSWORD})
    assert login.status_code == 303, login.text
    page = await client.get("/admin/calls")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return client, found.group(1)


def listed(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'href="/admin/calls/(\d+)"', html)}


async def test_search_filters_pages_and_masks(seeded: Calls, monkeypatch: pytest.MonkeyPatch) -> None:
    admin, _ = await browser_for(seeded.service, "admin@hanbit.go.kr")
    ids = seeded.ids
    everything = await admin.get("/admin/calls")
    assert everything.status_code == 200
    assert listed(everything.text) == {ids["accepted"], ids["fallback"]}  # not PUREUN's call
    assert "010-****-4560" in everything.text
    assert "010-****-1210" in everything.text
    assert_no_clear_number(everything.text, ACCEPTED, FALLBACK, PUREUN_CALLEE)
    assert everything.headers["cache-control"] == "no-store"
    assert "받음 (42초)" in everything.text

    async def only(**query: str) -> set[int]:
        response = await admin.get("/admin/calls", params=query)
        assert response.status_code == 200, response.text
        return listed(response.text)

    assert await only(extension="2000") == {ids["fallback"]}
    assert await only(department="HANBIT-0100") == {ids["accepted"]}
    assert await only(outcome="fallback") == {ids["fallback"]}
    assert await only(outcome="accepted") == {ids["accepted"]}
    assert await only(outcome="skipped") == set()
    assert await only(code=seeded.codes["accepted"].lower()) == {ids["accepted"]}
    assert await only(code=seeded.codes["pureun"]) == set()  # another agency's code finds nothing
    # A window of the day that excludes now (the calls were just made).
    window = ("00:00", "00:00") if datetime.now(SEOUL).hour >= 1 else ("23:00", "23:59")
    assert await only(time_from=window[0], time_until=window[1]) == set()
    assert await only(day_from="2026-01-01", day_until="2026-01-02") == set()

    for query, message in (
        ({"day_from": "어제"}, "날짜를 2026-12-03 형식으로 입력해 주세요"),
        ({"day_from": "2026-01-01", "day_until": "2026-03-01"}, "한 번에 31일까지 찾을 수 있습니다"),
        ({"code": "XYZ"}, "확인 코드는 6자리입니다"),
        ({"outcome": "bogus"}, "결과를 목록에서 골라 주세요"),
        ({"department": "PUREUN-0001"}, "선택한 부서를 찾을 수 없습니다"),
        ({"time_from": "25:00"}, "시각을 09:30 형식으로 입력해 주세요"),
    ):
        refused = await admin.get("/admin/calls", params=query)
        assert refused.status_code == 422, query
        assert message in refused.text

    for cursor in ("99999999999999999-1", "1-99999999999", "abc", "-"):  # never a 500
        odd = await admin.get("/admin/calls", params={"before": cursor})
        assert odd.status_code == 200, cursor

    # Keyset pages, newest first: one call a page.
    monkeypatch.setattr(console_calls, "PAGE_SIZE", 1)
    first = await admin.get("/admin/calls")
    assert listed(first.text) == {ids["fallback"]}
    link = re.search(r'href="/admin/calls\?([^"]+)"', first.text)
    assert link is not None
    assert "before=" in link.group(1)
    second = await admin.get("/admin/calls?" + link.group(1).replace("&amp;", "&"))
    assert listed(second.text) == {ids["accepted"]}
    assert "다음 1건 보기" not in second.text
    await admin.aclose()


async def test_a_call_page_and_the_reveal(seeded: Calls, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    service, ids = seeded.service, seeded.ids
    admin, csrf = await browser_for(service, "admin@hanbit.go.kr")
    call = await admin.get(f"/admin/calls/{ids['fallback']}")
    assert call.status_code == 200
    text = call.text
    assert "결정 설명" in text
    assert "알림톡 대체" in text
    assert "발신 안내" in text
    assert "지원하지 않는 단말" in text  # the carrier attempt's outcome
    assert seeded.codes["fallback"] in text
    assert "010-****-1210" in text
    assert "열람 사유 (필수)" in text
    assert_no_clear_number(text, FALLBACK)
    answered = await admin.get(f"/admin/calls/{ids['accepted']}")
    assert "받음 (42초)" in answered.text
    assert "레터링 표시" in answered.text

    no_reason = await admin.post(
        f"/admin/calls/{ids['fallback']}/number", data={"csrf_token": csrf, "reason": " "}
    )
    assert no_reason.status_code == 422
    assert "열람 사유를 2자 이상 300자 이하로 입력해 주세요" in no_reason.text
    assert_no_clear_number(no_reason.text, FALLBACK)
    no_csrf = await admin.post(f"/admin/calls/{ids['fallback']}/number", data={"reason": "민원 회신"})
    assert no_csrf.status_code == 403

    revealed = await admin.post(
        f"/admin/calls/{ids['fallback']}/number", data={"csrf_token": csrf, "reason": "민원 회신"}
    )
    assert revealed.status_code == 200
    assert FALLBACK in revealed.text
    assert revealed.headers["cache-control"] == "no-store"
    assert "「민원 회신」과 함께 접속 기록에 남았습니다" in revealed.text
    again = await admin.get(f"/admin/calls/{ids['fallback']}")
    assert_no_clear_number(again.text, FALLBACK)  # once: the call's page masks it again

    async with service.sessions() as session:
        rows = await audit_service.access_log(session, record_kind="call_record")
        admin_id = (await user_service.find_user(session, "admin@hanbit.go.kr")).id  # type: ignore[union-attr]
    assert [(r.user_id, r.action, r.record_id, r.reason) for r in rows] == [
        (admin_id, "reveal_number", ids["fallback"], "민원 회신")
    ]
    log_page = await admin.get("/admin/access-log")
    assert log_page.status_code == 200
    assert "한관리" in log_page.text
    assert "통화 번호 열람" in log_page.text
    assert "민원 회신" in log_page.text
    assert f'href="/admin/calls/{ids["fallback"]}"' in log_page.text
    assert_no_clear_number(log_page.text, FALLBACK, ACCEPTED)

    # A platform admin's reveal of this agency's call is in the agency's log too.
    platform, platform_csrf = await browser_for(service, "ops@lettering.kr")
    by_platform = await platform.post(
        f"/admin/calls/{ids['accepted']}/number", data={"csrf_token": platform_csrf, "reason": "장애 조사"}
    )
    assert by_platform.status_code == 200
    assert "장애 조사" in (await admin.get("/admin/access-log")).text
    await platform.aclose()

    # Another agency's admin: the log shows none of this; the call does not exist for them.
    pureun, pureun_csrf = await browser_for(service, "admin@pureun.go.kr")
    theirs = (await pureun.get("/admin/access-log")).text
    assert "민원 회신" not in theirs
    assert "장애 조사" not in theirs
    assert (await pureun.get(f"/admin/calls/{ids['fallback']}")).status_code == 404
    foreign = await pureun.post(
        f"/admin/calls/{ids['fallback']}/number", data={"csrf_token": pureun_csrf, "reason": "민원 회신"}
    )
    assert foreign.status_code == 404
    assert "찾을 수 없습니다" in foreign.text
    assert (await pureun.get("/admin/calls/99999999999")).status_code == 404
    assert (await pureun.get("/admin/calls/abc")).status_code == 404
    for record in caplog.records:
        assert_no_clear_number(record.getMessage(), FALLBACK, ACCEPTED)
    await admin.aclose()
    await pureun.aclose()


async def test_roles_and_scope(seeded: Calls) -> None:
    service, ids = seeded.service, seeded.ids
    editor, csrf = await browser_for(service, "editor@hanbit.go.kr")
    page = await editor.get("/admin/calls")
    assert listed(page.text) == {ids["accepted"]}  # only the editor's own department
    assert "접속 기록" not in page.text
    assert "수신 거부" not in page.text
    assert (await editor.get(f"/admin/calls/{ids['fallback']}")).status_code == 404
    own = await editor.get(f"/admin/calls/{ids['accepted']}")
    assert own.status_code == 200
    assert "열람 사유" not in own.text
    refused = await editor.post(
        f"/admin/calls/{ids['accepted']}/number", data={"csrf_token": csrf, "reason": "궁금"}
    )
    assert refused.status_code == 403
    assert ACCEPTED not in refused.text
    other_department = await editor.get("/admin/calls", params={"department": "HANBIT-0001"})
    assert other_department.status_code == 422
    for path in ("/admin/access-log", "/admin/optouts", "/admin/spoof-reports"):
        assert (await editor.get(path)).status_code == 403, path

    approver, _ = await browser_for(service, "approver@hanbit.go.kr")
    assert listed((await approver.get("/admin/calls")).text) == {ids["accepted"], ids["fallback"]}
    assert (await approver.get("/admin/access-log")).status_code == 403

    platform, _ = await browser_for(service, "ops@lettering.kr")
    assert listed((await platform.get("/admin/calls")).text) == set(ids.values())
    assert (await platform.get(f"/admin/calls/{ids['pureun']}")).status_code == 200
    for client in (editor, approver, platform):
        await client.aclose()


async def test_optout_lookup_and_change_are_logged(seeded: Calls, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    service = seeded.service
    admin, csrf = await browser_for(service, "admin@hanbit.go.kr")
    form = await admin.get("/admin/optouts")
    assert form.status_code == 200
    assert "번호 조회" in form.text

    for data, message in (
        ({"number": OPTOUT_CITIZEN, "reason": ""}, "사유를 2자 이상 300자 이하로 입력해 주세요"),
        ({"number": "031-5180-2114", "reason": "전화 요청"}, "휴대전화 번호가 아닙니다"),
        ({"number": "아무거나", "reason": "전화 요청"}, "휴대전화 번호가 아닙니다"),
    ):
        refused = await admin.post("/admin/optouts/lookup", data={"csrf_token": csrf, **data})
        assert refused.status_code == 422
        assert message in refused.text
        assert_no_clear_number(refused.text, OPTOUT_CITIZEN)

    found = await admin.post(
        "/admin/optouts/lookup",
        data={"csrf_token": csrf, "number": OPTOUT_CITIZEN, "reason": "전화 수신 거부 요청"},
    )
    assert found.status_code == 200
    assert "010-****-1230" in found.text
    assert "모두 받기" in found.text
    assert "변경 이력이 없습니다" in found.text
    assert_no_clear_number(found.text, OPTOUT_CITIZEN)
    subject = SUBJECT.search(found.text)
    assert subject is not None

    for data, message in (
        ({"subject": subject.group(1), "scope": "all", "reason": ""}, "사유를 2자 이상"),
        (
            {"subject": subject.group(1), "scope": "bogus", "reason": "전화 요청"},
            "바꿀 수신 설정을 골라 주세요",
        ),
        (
            {"subject": subject.group(1)[:-3] + "abc", "scope": "all", "reason": "전화 요청"},
            "다시 조회해 주세요",
        ),
    ):
        refused = await admin.post("/admin/optouts/change", data={"csrf_token": csrf, **data})
        assert refused.status_code == 422
        assert message in refused.text

    changed = await admin.post(
        "/admin/optouts/change",
        data={
            "csrf_token": csrf,
            "subject": subject.group(1),
            "scope": "all",
            "reason": "전화 요청 (민원 2026-1203)",
        },
    )
    assert changed.status_code == 200
    assert "수신 설정을 「모두 받지 않기」로 바꿨습니다" in changed.text
    assert "전화 요청 (민원 2026-1203)" in changed.text
    assert "한관리" in changed.text
    assert_no_clear_number(changed.text, OPTOUT_CITIZEN)

    async with service.sessions() as session:
        state = (await session.execute(select(OptoutState))).scalar_one()
        entries = await audit_service.access_log(session, record_kind="optout")
    assert (state.callee_hash, state.agency_id, state.scope) == (
        service.vault.hash("+821005001230"),
        service.agencies["HANBIT"],
        "all",
    )
    assert [(e.action, e.reason) for e in reversed(entries)] == [
        ("optout_lookup", "전화 수신 거부 요청"),
        ("optout_change", "전화 요청 (민원 2026-1203)"),
    ]
    log_page = await admin.get("/admin/access-log")
    assert "수신 거부 조회" in log_page.text
    assert "수신 거부 변경" in log_page.text
    assert_no_clear_number(log_page.text, OPTOUT_CITIZEN)

    # PUREUN's admin: their own agency's choice (none), none of HANBIT's history.
    pureun, pureun_csrf = await browser_for(service, "admin@pureun.go.kr")
    theirs = await pureun.post(
        "/admin/optouts/lookup",
        data={"csrf_token": pureun_csrf, "number": OPTOUT_CITIZEN, "reason": "전화 요청"},
    )
    assert theirs.status_code == 200
    assert "푸른군" in theirs.text
    assert "변경 이력이 없습니다" in theirs.text
    assert "전화 요청 (민원 2026-1203)" not in theirs.text
    # HANBIT's form token is for HANBIT: PUREUN cannot use it.
    stolen = await pureun.post(
        "/admin/optouts/change",
        data={"csrf_token": pureun_csrf, "subject": subject.group(1), "scope": "none", "reason": "전화 요청"},
    )
    assert stolen.status_code == 404
    for record in caplog.records:
        assert_no_clear_number(record.getMessage(), OPTOUT_CITIZEN)
    await admin.aclose()
    await pureun.aclose()


async def test_spoof_reports_marked_handled(seeded: Calls) -> None:
    service = seeded.service
    report = await service.client.post(
        "/verify/report",
        data={"shown_number": "031-5180-2114", "note": "검찰이라며 010-9999-1234로 전화하래요"},
    )
    assert report.status_code in (200, 303), report.text
    admin, csrf = await browser_for(service, "admin@hanbit.go.kr")
    listing = await admin.get("/admin/spoof-reports")
    assert listing.status_code == 200
    assert "031-5180-2114" in listing.text
    assert "처리 전" in listing.text
    assert "010-9999-1234" not in listing.text  # the note's number was scrubbed at the report
    found = re.search(r'action="/admin/spoof-reports/(\d+)/handled"', listing.text)
    assert found is not None
    report_id = int(found.group(1))

    pureun, pureun_csrf = await browser_for(service, "admin@pureun.go.kr")
    assert "031-5180-2114" not in (await pureun.get("/admin/spoof-reports")).text
    foreign = await pureun.post(f"/admin/spoof-reports/{report_id}/handled", data={"csrf_token": pureun_csrf})
    assert foreign.status_code == 404

    done = await admin.post(
        f"/admin/spoof-reports/{report_id}/handled", data={"csrf_token": csrf, "memo": "경찰청 통보"}
    )
    assert done.status_code == 303
    after = await admin.get("/admin/spoof-reports")
    assert "처리함" in after.text
    assert "한관리" in after.text
    assert "경찰청 통보" in after.text
    twice = await admin.post(f"/admin/spoof-reports/{report_id}/handled", data={"csrf_token": csrf})
    assert twice.status_code == 409
    assert "이미 처리한 신고입니다" in twice.text
    assert (
        await admin.post("/admin/spoof-reports/999999/handled", data={"csrf_token": csrf})
    ).status_code == 404
    await admin.aclose()
    await pureun.aclose()


async def test_a_number_no_longer_kept(seeded: Calls) -> None:
    """After retention drops a call's number: the hash prefix is shown, a reveal is refused in Korean."""
    service, ids = seeded.service, seeded.ids
    async with session_scope(service.sessions) as session:
        assert await call_service.drop_callee_numbers(session, [ids["accepted"]]) == 1
    callee_hash = service.vault.hash("+821001234560")
    admin, csrf = await browser_for(service, "admin@hanbit.go.kr")
    listing = await admin.get("/admin/calls", params={"extension": "2114"})
    assert f"#{callee_hash[:12]}" in listing.text
    page = await admin.get(f"/admin/calls/{ids['accepted']}")
    assert "보관 기간이 지나 이 통화의 번호는 삭제되었습니다" in page.text
    refused = await admin.post(
        f"/admin/calls/{ids['accepted']}/number", data={"csrf_token": csrf, "reason": "민원 회신"}
    )
    assert refused.status_code == 410
    assert "이 통화의 전화번호는 보관 기간이 지나 삭제되었습니다" in refused.text
    async with service.sessions() as session:
        assert await audit_service.access_log(session, record_kind="call_record") == []

    platform, platform_csrf = await browser_for(service, "ops@lettering.kr")
    no_agency = await platform.post(
        "/admin/optouts/lookup",
        data={"csrf_token": platform_csrf, "number": OPTOUT_CITIZEN, "reason": "전화 요청"},
    )
    assert no_agency.status_code == 422
    assert "대상 기관을 골라 주세요" in no_agency.text
    every = await platform.post(
        "/admin/optouts/lookup",
        data={"csrf_token": platform_csrf, "number": OPTOUT_CITIZEN, "reason": "전화 요청", "agency": "*"},
    )
    assert every.status_code == 200
    assert "이 플랫폼의 모든 기관" in every.text
    await admin.aclose()
    await platform.aclose()


async def test_the_search_reads_one_page_by_index(database_url: str, engine: AsyncEngine) -> None:
    """The search's plan on SQLite: the created_at index in order (no sort of the agency's calls),
    or the verify-code index when a code is given."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the plan checked is SQLite's")
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, params))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    since = datetime(2026, 12, 1, tzinfo=UTC)
    async with AsyncSession(engine) as session:
        for code in (None, "K7M2QX"):
            search = call_service.CallSearch(
                since=since, until=since + timedelta(days=31), agency_id=1, verify_code=code
            )
            await call_service.search_calls(session, search, before=(since + timedelta(days=1), 5), limit=51)
    event.remove(engine.sync_engine, "before_cursor_execute", capture)
    plans = []
    async with engine.connect() as conn:
        for statement, params in statements:
            rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            plans.append([row[-1] for row in rows])
    assert plans[0] == [
        "SEARCH call_record USING INDEX ix_call_record_created_at (created_at>? AND created_at<?)"
    ]
    assert plans[1][0] == "SEARCH call_record USING INDEX ix_call_record_verify_code (verify_code=?)"
