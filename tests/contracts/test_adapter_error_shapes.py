"""Every answer shape in spec/carriers.md, mocked with respx, maps to the right outcome.

Whatever the gateway does (status, result code, malformed body, refused connection, timeout),
push() returns a PushResult and never raises.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from carriers.base import ContentStatus, Outcome
from carriers.breaker import Breaker
from carriers.http import CarrierError
from carriers.kt import KtAdapter
from carriers.lgu import LguAdapter
from carriers.skt import SktAdapter
from tests.contracts.conftest import (
    KT_SETTINGS,
    LGU_SETTINGS,
    SKT_SETTINGS,
    citizen_number,
    image_bytes,
    lettering_for,
)

SKT = "https://skt.gw.test"
KT = "https://kt.gw.test"
LGU = "https://lgu.gw.test"
LETTERING = lettering_for(citizen_number("skt"), request_id="req-42")
TOKEN = {"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=0.5)) as c:
        yield c


@pytest.fixture
def breaker() -> Breaker:
    return Breaker(5, 30.0)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def _deadline(seconds: float = 2.0) -> float:
    return time.monotonic() + seconds


def _headers(headers: dict[str, str]) -> dict[str, str]:
    return {name.replace("_", "-"): value for name, value in headers.items()}


def _json(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=_headers(headers))


def _raw(status: int, content: bytes = b"", **headers: str) -> httpx.Response:
    return httpx.Response(status, content=content, headers=_headers(headers))


HTTP_DATE_IN_30S = "<an HTTP-date 30 s from now>"

TRANSPORT_FAILURES = [
    pytest.param(httpx.ConnectError("refused"), "connect_error", id="connect-error"),
    pytest.param(httpx.ConnectTimeout("connect timeout"), "timeout", id="connect-timeout"),
    pytest.param(httpx.ReadTimeout("read timeout"), "timeout", id="read-timeout"),
    pytest.param(httpx.RemoteProtocolError("peer closed"), "transport_error", id="protocol-error"),
    pytest.param(httpx.ReadError("reset"), "transport_error", id="read-error"),
    pytest.param(RuntimeError("bug in the transport"), "internal_error", id="unexpected-exception"),
]


async def _slow(request: httpx.Request) -> httpx.Response:
    await asyncio.sleep(2)
    return httpx.Response(202, json={"lettering_id": "late"})


# ---- SKT --------------------------------------------------------------------------------------


@pytest.fixture
def skt(client: httpx.AsyncClient, breaker: Breaker) -> SktAdapter:
    return SktAdapter(SKT_SETTINGS, SKT, client, breaker)


SKT_ANSWERS = [
    pytest.param(_json(202, {"lettering_id": "L1", "status": "accepted"}), Outcome.accepted, "202", id="202"),
    pytest.param(_raw(202, b"<html>"), Outcome.accepted, "202", id="202-malformed-body"),
    pytest.param(_json(404, {"error": "NOT_SUBSCRIBER"}), Outcome.not_subscriber, "404", id="404"),
    pytest.param(_raw(404, b"Not Found"), Outcome.unavailable, "404", id="404-not-the-gateway"),
    pytest.param(_json(422, {"error": "UNSUPPORTED_DEVICE"}), Outcome.unsupported_device, "422", id="422"),
    pytest.param(_json(422, {"error": "OTHER"}), Outcome.rejected, "422", id="422-other"),
    pytest.param(
        _json(400, {"error": "INVALID_CONTENT", "detail": "message too long"}),
        Outcome.rejected,
        "400",
        id="400",
    ),
    pytest.param(_raw(400, b"bad"), Outcome.rejected, "400", id="400-malformed-body"),
    pytest.param(_json(403, {"error": "CALLER_NOT_REGISTERED"}), Outcome.rejected, "403", id="403"),
    pytest.param(_raw(429, Retry_After="2"), Outcome.throttled, "429", id="429"),
    pytest.param(_raw(500, b"boom"), Outcome.unavailable, "500", id="500"),
    pytest.param(_raw(502), Outcome.unavailable, "502", id="502"),
    pytest.param(_json(503, {"error": "UNAVAILABLE"}), Outcome.unavailable, "503", id="503"),
    pytest.param(_raw(504), Outcome.unavailable, "504", id="504"),
    pytest.param(_raw(200, b"{}"), Outcome.unavailable, "200", id="200-unexpected"),
    pytest.param(_raw(302, Location="https://elsewhere"), Outcome.unavailable, "302", id="302"),
]


@pytest.mark.parametrize(("response", "outcome", "code"), SKT_ANSWERS)
async def test_skt_status_mapping(
    skt: SktAdapter, mock: respx.MockRouter, response: httpx.Response, outcome: Outcome, code: str
) -> None:
    mock.post(f"{SKT}/oauth2/token").mock(return_value=_json(200, TOKEN))
    mock.post(f"{SKT}/v1/letterings").mock(return_value=response)
    result = await skt.push(LETTERING, _deadline())
    assert (result.outcome, result.code) == (outcome, code)
    if outcome is Outcome.accepted:
        assert result.provider_ref in ("L1", "req-42")
    if outcome is Outcome.rejected:
        assert result.notes
        assert result.notes[0].startswith("skt rejected:")
    if outcome is Outcome.throttled:
        assert result.retry_after_s == 2.0
    assert skt.breaker.consecutive_failures == (1 if outcome is Outcome.unavailable else 0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0", 0.0), (HTTP_DATE_IN_30S, 30.0), ("soon", None), (None, None)],
)
async def test_skt_retry_after_forms(
    skt: SktAdapter, mock: respx.MockRouter, header: str | None, expected: float | None
) -> None:
    mock.post(f"{SKT}/oauth2/token").mock(return_value=_json(200, TOKEN))
    if header == HTTP_DATE_IN_30S:
        header = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    headers = {"Retry-After": header} if header is not None else {}
    mock.post(f"{SKT}/v1/letterings").mock(return_value=httpx.Response(429, headers=headers))
    result = await skt.push(LETTERING, _deadline())
    assert result.outcome is Outcome.throttled
    if expected is None:
        assert result.retry_after_s is None
    else:
        assert result.retry_after_s == pytest.approx(expected, abs=1.5)


async def test_skt_request_shape(skt: SktAdapter, mock: respx.MockRouter) -> None:
    token = mock.post(f"{SKT}/oauth2/token").mock(return_value=_json(200, TOKEN))
    send = mock.post(f"{SKT}/v1/letterings").mock(return_value=_json(202, {"lettering_id": "L1"}))
    lettering = lettering_for(
        citizen_number("skt"), request_id="req-7", content_refs={"skt": "c_1", "kt": "K1"}
    )
    await skt.push(lettering, _deadline())
    form = dict(x.split("=", 1) for x in token.calls.last.request.content.decode().split("&"))
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "sim-client",
        "client_secret": "skt-test-secret",
    }
    request = send.calls.last.request
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert json.loads(request.content) == {
        "request_id": "req-7",
        "caller": "+823151802114",
        "callee": lettering.callee,
        "display": {
            "name": "한빛특례시",
            "subtitle": "민원여권과",
            "message": "여권 발급 관련 안내 전화입니다",
        },
        "content_id": "c_1",
        "post_call": {"title": "이달의 시정소식", "url": "https://example.org/news"},
        "ttl_seconds": 60,
    }


async def test_skt_token_reused_then_refreshed_before_expiry(skt: SktAdapter, mock: respx.MockRouter) -> None:
    token = mock.post(f"{SKT}/oauth2/token").mock(
        side_effect=[
            _json(200, {"access_token": "short", "expires_in": 0.2}),
            _json(200, {"access_token": "next", "expires_in": 3600}),
        ]
    )
    send = mock.post(f"{SKT}/v1/letterings").mock(return_value=_json(202, {}))
    await skt.push(LETTERING, _deadline())
    await skt.push(LETTERING, _deadline())
    assert token.call_count == 1
    await asyncio.sleep(0.12)  # past expires_in minus the margin (half of a very short lifetime)
    await skt.push(LETTERING, _deadline())
    assert token.call_count == 2
    assert send.calls.last.request.headers["Authorization"] == "Bearer next"


async def test_skt_401_refreshes_once_and_retries(skt: SktAdapter, mock: respx.MockRouter) -> None:
    token = mock.post(f"{SKT}/oauth2/token").mock(
        side_effect=[
            _json(200, {**TOKEN, "access_token": "old"}),
            _json(200, {**TOKEN, "access_token": "new"}),
        ]
    )
    send = mock.post(f"{SKT}/v1/letterings").mock(side_effect=[_raw(401), _json(202, {"lettering_id": "L2"})])
    result = await skt.push(LETTERING, _deadline())
    assert (result.outcome, result.provider_ref) == (Outcome.accepted, "L2")
    assert token.call_count == 2
    assert [c.request.headers["Authorization"] for c in send.calls] == ["Bearer old", "Bearer new"]


async def test_skt_second_401_is_unavailable_without_a_loop(skt: SktAdapter, mock: respx.MockRouter) -> None:
    token = mock.post(f"{SKT}/oauth2/token").mock(return_value=_json(200, TOKEN))
    send = mock.post(f"{SKT}/v1/letterings").mock(return_value=_raw(401))
    result = await skt.push(LETTERING, _deadline())
    assert (result.outcome, result.code) == (Outcome.unavailable, "401")
    assert (token.call_count, send.call_count) == (2, 2)


@pytest.mark.parametrize(
    ("response", "code"),
    [
        pytest.param(_json(401, {"error": "invalid_client"}), "token_401", id="401"),
        pytest.param(_raw(503), "token_503", id="503"),
        pytest.param(_raw(200, b"not json"), "token_200", id="malformed"),
        pytest.param(_json(200, {"token_type": "Bearer"}), "token_200", id="no-token"),
    ],
)
async def test_skt_token_failures_are_unavailable(
    skt: SktAdapter, mock: respx.MockRouter, response: httpx.Response, code: str
) -> None:
    mock.post(f"{SKT}/oauth2/token").mock(return_value=response)
    send = mock.post(f"{SKT}/v1/letterings").mock(return_value=_json(202, {}))
    result = await skt.push(LETTERING, _deadline())
    assert (result.outcome, result.code) == (Outcome.unavailable, code)
    assert send.call_count == 0


@pytest.mark.parametrize(("error", "code"), TRANSPORT_FAILURES)
async def test_skt_transport_failures(
    skt: SktAdapter, mock: respx.MockRouter, error: Exception, code: str
) -> None:
    mock.post(f"{SKT}/oauth2/token").mock(return_value=_json(200, TOKEN))
    mock.post(f"{SKT}/v1/letterings").mock(side_effect=error)
    result = await skt.push(LETTERING, _deadline())
    assert (result.outcome, result.code) == (Outcome.unavailable, code)
    assert skt.breaker.consecutive_failures == 1


async def test_skt_slow_gateway_cut_at_the_deadline(skt: SktAdapter, mock: respx.MockRouter) -> None:
    mock.post(f"{SKT}/oauth2/token").mock(return_value=_json(200, TOKEN))
    mock.post(f"{SKT}/v1/letterings").mock(side_effect=_slow)
    deadline = _deadline(0.3)
    result = await skt.push(LETTERING, deadline)
    assert (result.outcome, result.code) == (Outcome.unavailable, "timeout")
    assert time.monotonic() <= deadline + 0.02
    assert skt.breaker.consecutive_failures == 1  # it had its chance: the carrier's failure


async def _answer_while_the_loop_is_blocked(request: httpx.Request) -> httpx.Response:
    """The carrier answers in 250 ms, but a blocked event loop reads it 200 ms later."""
    await asyncio.sleep(0.25)
    time.sleep(0.2)  # noqa: ASYNC251 - the worker is busy past the push's deadline
    await asyncio.sleep(0.01)  # the answer is read in the loop's next turn: after the deadline's timer
    return httpx.Response(202, json={"lettering_id": "L1", "status": "accepted"})


@pytest.mark.parametrize(
    ("seconds_left", "side_effect"),
    [
        pytest.param(0.3, _answer_while_the_loop_is_blocked, id="deadline-noticed-late"),
        pytest.param(0.1, _slow, id="sent-with-too-little-time"),
    ],
)
async def test_skt_push_the_service_was_too_late_for_does_not_charge_the_breaker(
    client: httpx.AsyncClient, mock: respx.MockRouter, seconds_left: float, side_effect: Any
) -> None:
    breaker = Breaker(1, 30.0)
    adapter = SktAdapter(SKT_SETTINGS, SKT, client, breaker)
    mock.post(f"{SKT}/oauth2/token").mock(return_value=_json(200, TOKEN))
    mock.post(f"{SKT}/v1/letterings").mock(side_effect=side_effect)
    result = await adapter.push(LETTERING, _deadline(seconds_left))
    assert (result.outcome, result.code) == (Outcome.unavailable, "service_late")
    assert any("not answered in time by this service" in note for note in result.notes)
    assert breaker.consecutive_failures == 0
    assert breaker.allow()  # one failure would have opened it


async def test_skt_open_breaker_sends_nothing(client: httpx.AsyncClient, mock: respx.MockRouter) -> None:
    breaker = Breaker(1, 30.0)
    breaker.record_failure()
    adapter = SktAdapter(SKT_SETTINGS, SKT, client, breaker)
    route = mock.route().mock(return_value=_raw(500))
    result = await adapter.push(LETTERING, _deadline())
    assert (result.outcome, result.code) == (Outcome.unavailable, "circuit_open")
    assert route.call_count == 0


async def test_skt_content_calls(skt: SktAdapter, mock: respx.MockRouter) -> None:
    mock.post(f"{SKT}/oauth2/token").mock(return_value=_json(200, TOKEN))
    upload = mock.post(f"{SKT}/v1/contents").mock(
        return_value=_json(201, {"content_id": "c_9", "status": "pending"})
    )
    jpeg = image_bytes("JPEG", (720, 1280))
    assert await skt.register_content(jpeg, "image/jpeg", "a.jpg") == "c_9"
    assert b'name="file"' in upload.calls.last.request.content
    for status, expected in [("pending", ContentStatus.pending), ("approved", ContentStatus.approved)]:
        mock.get(f"{SKT}/v1/contents/c_9").mock(return_value=_json(200, {"status": status, "reason": None}))
        assert await skt.content_status("c_9") is expected
    mock.get(f"{SKT}/v1/contents/c_9").mock(return_value=_json(200, {"status": "rejected", "reason": "x"}))
    assert await skt.content_status("c_9") is ContentStatus.rejected
    mock.get(f"{SKT}/v1/contents/gone").mock(return_value=_json(404, {"error": "NOT_FOUND"}))
    assert await skt.content_status("gone") is ContentStatus.rejected
    mock.get(f"{SKT}/v1/contents/c_9").mock(return_value=_raw(503))
    with pytest.raises(CarrierError):
        await skt.content_status("c_9")
    mock.post(f"{SKT}/v1/contents").mock(return_value=_raw(500))
    with pytest.raises(CarrierError):
        await skt.register_content(jpeg, "image/jpeg", "a.jpg")


# ---- KT ---------------------------------------------------------------------------------------


@pytest.fixture
def kt(client: httpx.AsyncClient, breaker: Breaker) -> KtAdapter:
    return KtAdapter(KT_SETTINGS, KT, client, breaker)


def _kt(code: str, **extra: Any) -> httpx.Response:
    return _json(200, {"resultCode": code, "resultMsg": "msg", **extra})


KT_ANSWERS = [
    pytest.param(_kt("0000"), Outcome.accepted, "0000", id="0000"),
    pytest.param(_kt("3001"), Outcome.not_subscriber, "3001", id="3001"),
    pytest.param(_kt("3002"), Outcome.unsupported_device, "3002", id="3002"),
    pytest.param(_kt("3003"), Outcome.rejected, "3003", id="3003"),
    pytest.param(_kt("4001"), Outcome.rejected, "4001", id="4001"),
    pytest.param(_kt("4002"), Outcome.rejected, "4002", id="4002"),
    pytest.param(_kt("4003"), Outcome.rejected, "4003", id="4003"),
    pytest.param(_kt("9001"), Outcome.throttled, "9001", id="9001"),
    pytest.param(_kt("9999"), Outcome.unavailable, "9999", id="9999"),
    pytest.param(_kt("1234"), Outcome.unavailable, "1234", id="unknown-code"),
    pytest.param(_raw(200, b"<html>busy</html>"), Outcome.unavailable, "malformed", id="200-not-json"),
    pytest.param(_json(200, ["0000"]), Outcome.unavailable, "malformed", id="200-json-array"),
    pytest.param(_json(200, {"resultMsg": "?"}), Outcome.unavailable, "malformed", id="200-no-code"),
    pytest.param(_json(200, {"resultCode": 0}), Outcome.unavailable, "malformed", id="200-numeric-code"),
    pytest.param(_raw(500), Outcome.unavailable, "500", id="500"),
    pytest.param(_raw(503), Outcome.unavailable, "503", id="503"),
    pytest.param(_raw(429, Retry_After="1"), Outcome.unavailable, "429", id="429-non-200"),
    pytest.param(_raw(401), Outcome.unavailable, "401", id="401-non-200"),
    pytest.param(_kt("0000"), Outcome.accepted, "0000", id="0000-again"),
]


@pytest.mark.parametrize(("response", "outcome", "code"), KT_ANSWERS)
async def test_kt_result_code_mapping(
    kt: KtAdapter, mock: respx.MockRouter, response: httpx.Response, outcome: Outcome, code: str
) -> None:
    mock.post(f"{KT}/api/v2/lettering/send").mock(return_value=response)
    result = await kt.push(LETTERING, _deadline())
    assert (result.outcome, result.code) == (outcome, code)
    if outcome is Outcome.accepted:
        assert result.provider_ref == "req-42"
    assert kt.breaker.consecutive_failures == (1 if outcome is Outcome.unavailable else 0)


async def test_kt_9001_with_retry_after(kt: KtAdapter, mock: respx.MockRouter) -> None:
    response = httpx.Response(200, json={"resultCode": "9001"}, headers={"Retry-After": "3"})
    mock.post(f"{KT}/api/v2/lettering/send").mock(return_value=response)
    result = await kt.push(LETTERING, _deadline())
    assert (result.outcome, result.retry_after_s) == (Outcome.throttled, 3.0)


async def test_kt_signs_the_exact_bytes_sent(client: httpx.AsyncClient, mock: respx.MockRouter) -> None:
    kt = KtAdapter(KT_SETTINGS, KT, client, Breaker(5, 30), wall_clock=lambda: 1_700_000_000.123)
    send = mock.post(f"{KT}/api/v2/lettering/send").mock(return_value=_kt("0000"))
    await kt.push(LETTERING, _deadline())
    request = send.calls.last.request
    assert request.headers["X-Api-Key"] == "kt-test-key"
    assert request.headers["X-Timestamp"] == "1700000000123"
    expected = hmac.new(b"kt-test-secret", b"1700000000123\n" + request.content, hashlib.sha256).hexdigest()
    assert request.headers["X-Signature"] == expected
    body = json.loads(request.content)
    assert "한빛특례시".encode() in request.content  # UTF-8 as sent, not \u escapes
    assert body == {
        "msgKey": "req-42",
        "callingNumber": "+823151802114",
        "calledNumber": LETTERING.callee,
        "callerName": "한빛특례시",
        "deptName": "민원여권과",
        "guideText": "여권 발급 관련 안내 전화입니다",
        "afterCall": {"linkTitle": "이달의 시정소식", "linkUrl": "https://example.org/news"},
    }


@pytest.mark.parametrize(("error", "code"), TRANSPORT_FAILURES)
async def test_kt_transport_failures(
    kt: KtAdapter, mock: respx.MockRouter, error: Exception, code: str
) -> None:
    mock.post(f"{KT}/api/v2/lettering/send").mock(side_effect=error)
    result = await kt.push(LETTERING, _deadline())
    assert (result.outcome, result.code) == (Outcome.unavailable, code)


async def test_kt_slow_gateway_cut_at_the_deadline(kt: KtAdapter, mock: respx.MockRouter) -> None:
    mock.post(f"{KT}/api/v2/lettering/send").mock(side_effect=_slow)
    deadline = _deadline(0.3)
    result = await kt.push(LETTERING, deadline)
    assert (result.outcome, result.code) == (Outcome.unavailable, "timeout")
    assert time.monotonic() <= deadline + 0.02


async def test_kt_content_calls(kt: KtAdapter, mock: respx.MockRouter) -> None:
    register = mock.post(f"{KT}/api/v2/content/register").mock(
        return_value=_kt("0000", contentKey="K1", approval="WAIT")
    )
    png = image_bytes("PNG", (1080, 1920))
    assert await kt.register_content(png, "image/png", "a.png") == "K1"
    sent = json.loads(register.calls.last.request.content)
    assert sent["mimeType"] == "image/png"
    assert base64.b64decode(sent["data"]) == png
    for approval, expected in [
        ("WAIT", ContentStatus.pending),
        ("OK", ContentStatus.approved),
        ("DENY", ContentStatus.rejected),
    ]:
        mock.post(f"{KT}/api/v2/content/status").mock(
            return_value=_kt("0000", contentKey="K1", approval=approval)
        )
        assert await kt.content_status("K1") is expected
    mock.post(f"{KT}/api/v2/content/status").mock(return_value=_kt("4001"))
    with pytest.raises(CarrierError, match="4001"):
        await kt.content_status("K1")
    mock.post(f"{KT}/api/v2/content/register").mock(return_value=_kt("4003"))
    with pytest.raises(CarrierError, match="4003"):
        await kt.register_content(png, "image/png", "a.png")


# ---- LG U+ ------------------------------------------------------------------------------------


@pytest.fixture
def lgu(client: httpx.AsyncClient, breaker: Breaker) -> LguAdapter:
    return LguAdapter(LGU_SETTINGS, LGU, client, breaker)


LGU_ANSWERS = [
    pytest.param(_json(200, {"code": "ACCEPTED", "tid": "req-42"}), Outcome.accepted, "ACCEPTED", id="200"),
    pytest.param(_json(200, {"code": "ACCEPTED"}), Outcome.accepted, "ACCEPTED", id="200-no-tid"),
    pytest.param(_raw(200, b"OK"), Outcome.unavailable, "malformed", id="200-not-json"),
    pytest.param(_json(200, {"code": "QUEUED"}), Outcome.unavailable, "malformed", id="200-other-code"),
    pytest.param(_json(404, {"code": "NOT_SUBSCRIBER"}), Outcome.not_subscriber, "NOT_SUBSCRIBER", id="404"),
    pytest.param(_raw(404, b"<html>"), Outcome.unavailable, "404", id="404-not-the-gateway"),
    pytest.param(_json(400, {"code": "INVALID", "detail": "title"}), Outcome.rejected, "INVALID", id="400"),
    pytest.param(_raw(400, b"nope"), Outcome.rejected, "400", id="400-malformed"),
    pytest.param(_json(401, {"code": "UNAUTHORIZED"}), Outcome.unavailable, "401", id="401"),
    pytest.param(_raw(429, Retry_After="4"), Outcome.throttled, "429", id="429"),
    pytest.param(_raw(500), Outcome.unavailable, "500", id="500"),
    pytest.param(_raw(503), Outcome.unavailable, "503", id="503"),
]


@pytest.mark.parametrize(("response", "outcome", "code"), LGU_ANSWERS)
async def test_lgu_status_mapping(
    lgu: LguAdapter, mock: respx.MockRouter, response: httpx.Response, outcome: Outcome, code: str
) -> None:
    mock.post(f"{LGU}/lettering/v1/requests").mock(return_value=response)
    result = await lgu.push(LETTERING, _deadline())
    assert (result.outcome, result.code) == (outcome, code)
    if outcome is Outcome.accepted:
        assert result.provider_ref == "req-42"
    if outcome is Outcome.throttled:
        assert result.retry_after_s == 4.0


async def test_lgu_request_shape(lgu: LguAdapter, mock: respx.MockRouter) -> None:
    send = mock.post(f"{LGU}/lettering/v1/requests").mock(return_value=_json(200, {"code": "ACCEPTED"}))
    jpeg = image_bytes("JPEG", (640, 960))
    lettering = lettering_for(
        citizen_number("lgu"), request_id="t-1", inline_image_jpeg=jpeg, callback_url="https://svc/cb"
    )
    result = await lgu.push(lettering, _deadline())
    assert result.notes == ()
    request = send.calls.last.request
    assert request.headers["Authorization"] == "ApiKey lgu-test-key"
    body = json.loads(request.content)
    assert base64.b64decode(body.pop("image")) == jpeg
    assert body == {
        "tid": "t-1",
        "from": "+823151802114",
        "to": lettering.callee,
        "title": "한빛특례시 민원여권과",
        "body": "여권 발급 관련 안내 전화입니다",
        "link": "https://example.org/news",
        "callback_url": "https://svc/cb",
    }


@pytest.mark.parametrize(("error", "code"), TRANSPORT_FAILURES)
async def test_lgu_transport_failures(
    lgu: LguAdapter, mock: respx.MockRouter, error: Exception, code: str
) -> None:
    mock.post(f"{LGU}/lettering/v1/requests").mock(side_effect=error)
    result = await lgu.push(LETTERING, _deadline())
    assert (result.outcome, result.code) == (Outcome.unavailable, code)


async def test_lgu_slow_gateway_cut_at_the_deadline(lgu: LguAdapter, mock: respx.MockRouter) -> None:
    mock.post(f"{LGU}/lettering/v1/requests").mock(side_effect=_slow)
    deadline = _deadline(0.3)
    result = await lgu.push(LETTERING, deadline)
    assert (result.outcome, result.code) == (Outcome.unavailable, "timeout")
    assert time.monotonic() <= deadline + 0.02
