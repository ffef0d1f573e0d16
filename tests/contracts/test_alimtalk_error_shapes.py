"""Every answer shape of the dealer, mocked with respx, maps to the right result or exception.

DealerUnavailable (retry with the same key): 429 with or without Retry-After, 5xx, timeouts,
refused connections, bodies that are not the dealer's JSON. DealerRefused: a non-zero
`header.resultCode`. DuplicateRequest: header -1005. No exception or log line carries a number.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from kakao_fallback.client import (
    AlimtalkClient,
    AlimtalkError,
    DealerRefused,
    DealerUnavailable,
    DeliveryResult,
    DuplicateRequest,
    Recipient,
    Resend,
    build_client,
    national_mobile,
)
from lettering.core.settings import KakaoAgencySettings, KakaoSettings, Settings

BASE = "https://dealer.test"
ACCOUNT = KakaoAgencySettings(
    app_key="app key/1", secret_key=SecretStr("s3cret"), sender_key="K" * 40, sender_no="03151802000"
)
SEND_URL = f"{BASE}/alimtalk/v2.3/appkeys/app%20key%2F1/messages"
RESULT_URL = f"{SEND_URL}/20261124140200abc/1"
NUMBER = "01001231234"
PARAMS = {"기관명": "한빛특례시", "부서명": "민원여권과", "회신번호": "031-5180-2114"}
ACCEPTED = {
    "header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": True},
    "message": {
        "requestId": "20261124140200abc",
        "sendResults": [
            {
                "recipientSeq": 1,
                "recipientNo": NUMBER,
                "resultCode": 0,
                "resultMessage": "SUCCESS",
                "recipientGroupingKey": "call-1",
            }
        ],
    },
}


def _refused(code: int, message: str) -> dict[str, Any]:
    return {"header": {"resultCode": code, "resultMessage": message, "isSuccessful": False}}


@pytest.fixture
async def client() -> AsyncIterator[AlimtalkClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=0.5)) as http:
        yield AlimtalkClient(BASE, http)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def _recipient(resend: Resend | None = None) -> Recipient:
    return Recipient(NUMBER, dict(PARAMS), "call-1", resend)


async def _send(client: AlimtalkClient, timeout_s: float = 2.0) -> Any:
    return await client.send(ACCOUNT, "MISSED_CALL_01", [_recipient()], "key-1", timeout_s)


# ---- the request ----------------------------------------------------------------------------------


async def test_send_request_shape(client: AlimtalkClient, mock: respx.MockRouter) -> None:
    route = mock.post(SEND_URL).mock(return_value=httpx.Response(200, json=ACCEPTED))
    lms = Resend("LMS", "긴 안내문", "03151802000", title="[한빛특례시] 전화 안내")
    sms = Resend("SMS", "짧은 안내", "03151802000", title="ignored for SMS")
    recipients = [
        Recipient(NUMBER, dict(PARAMS), "call-1", lms),
        Recipient("01001231235", dict(PARAMS), "call-2", sms),
        Recipient("01001231236", dict(PARAMS), "call-3", None),
    ]
    result = await client.send(ACCOUNT, "MISSED_CALL_01", recipients, "call-1-attempt", 2.0)
    assert result.request_id == "20261124140200abc"
    request = route.calls.last.request
    assert request.headers["X-Secret-Key"] == "s3cret"
    assert request.headers["X-NC-API-IDEMPOTENCY-KEY"] == "call-1-attempt"
    assert request.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert json.loads(request.content) == {
        "senderKey": "K" * 40,
        "templateCode": "MISSED_CALL_01",
        "recipientList": [
            {
                "recipientNo": NUMBER,
                "templateParameter": PARAMS,
                "resendParameter": {
                    "isResend": True,
                    "resendType": "LMS",
                    "resendTitle": "[한빛특례시] 전화 안내",
                    "resendContent": "긴 안내문",
                    "resendSendNo": "03151802000",
                },
                "recipientGroupingKey": "call-1",
            },
            {
                "recipientNo": "01001231235",
                "templateParameter": PARAMS,
                "resendParameter": {
                    "isResend": True,
                    "resendType": "SMS",
                    "resendContent": "짧은 안내",
                    "resendSendNo": "03151802000",
                },
                "recipientGroupingKey": "call-2",
            },
            {
                "recipientNo": "01001231236",
                "templateParameter": PARAMS,
                "resendParameter": {"isResend": False},
                "recipientGroupingKey": "call-3",
            },
        ],
    }


async def test_result_request_shape(client: AlimtalkClient, mock: respx.MockRouter) -> None:
    body = {"header": ACCEPTED["header"], "message": {"messageStatus": "COMPLETED", "resultCode": "1000"}}
    route = mock.get(RESULT_URL).mock(return_value=httpx.Response(200, json=body))
    assert await client.result(ACCOUNT, "20261124140200abc", 1, 2.0) == DeliveryResult(
        "COMPLETED", "1000", None
    )
    assert route.calls.last.request.headers["X-Secret-Key"] == "s3cret"


async def test_request_is_refused_client_side(client: AlimtalkClient, mock: respx.MockRouter) -> None:
    route = mock.post(SEND_URL).mock(return_value=httpx.Response(200, json=ACCEPTED))
    with pytest.raises(ValueError, match="1001 recipients"):
        await client.send(ACCOUNT, "MISSED_CALL_01", [_recipient()] * 1001, "k", 2.0)
    with pytest.raises(ValueError, match="idempotency key"):
        await client.send(ACCOUNT, "MISSED_CALL_01", [_recipient()], "", 2.0)
    with pytest.raises(DealerUnavailable, match="^timeout$"):
        await client.send(ACCOUNT, "MISSED_CALL_01", [_recipient()], "k", 0.0)
    assert not route.called


# ---- answers that mean: try again later ------------------------------------------------------------

IN_30S = "<an HTTP-date 30 s from when the test runs>"

UNAVAILABLE = [
    pytest.param(httpx.Response(429, headers={"Retry-After": "7"}), "http_429", 7.0, id="429-retry-after"),
    pytest.param(httpx.Response(429, headers={"Retry-After": IN_30S}), "http_429", 30.0, id="429-http-date"),
    pytest.param(httpx.Response(429), "http_429", None, id="429-no-retry-after"),
    pytest.param(
        httpx.Response(429, headers={"Retry-After": "soon"}), "http_429", None, id="429-bad-retry-after"
    ),
    pytest.param(httpx.Response(500, text="boom"), "http_500", None, id="500"),
    pytest.param(httpx.Response(502), "http_502", None, id="502"),
    pytest.param(httpx.Response(503, headers={"Retry-After": "3"}), "http_503", 3.0, id="503-retry-after"),
    pytest.param(httpx.Response(503, json=_refused(-1, "maintenance")), "http_503", None, id="503-json"),
    pytest.param(httpx.Response(504), "http_504", None, id="504"),
    pytest.param(httpx.Response(200, text="<html>ok</html>"), "malformed", None, id="200-not-json"),
    pytest.param(httpx.Response(200, json=[ACCEPTED]), "malformed", None, id="200-json-array"),
    pytest.param(
        httpx.Response(200, json={"message": ACCEPTED["message"]}), "malformed", None, id="no-header"
    ),
    pytest.param(
        httpx.Response(200, json={"header": {"resultCode": "0"}, "message": ACCEPTED["message"]}),
        "malformed",
        None,
        id="header-code-not-int",
    ),
    pytest.param(
        httpx.Response(200, json={"header": ACCEPTED["header"]}), "malformed", None, id="no-message"
    ),
    pytest.param(
        httpx.Response(200, json={"header": ACCEPTED["header"], "message": {"sendResults": []}}),
        "malformed",
        None,
        id="no-request-id",
    ),
    pytest.param(
        httpx.Response(
            200,
            json={
                "header": ACCEPTED["header"],
                "message": {"requestId": "r", "sendResults": [{"recipientSeq": 1}]},
            },
        ),
        "malformed",
        None,
        id="send-result-without-code",
    ),
    pytest.param(httpx.Response(404, text="Not Found"), "http_404", None, id="404-not-the-dealer"),
    pytest.param(httpx.Response(302, headers={"Location": "https://elsewhere"}), "http_302", None, id="302"),
]


@pytest.mark.parametrize(("response", "reason", "retry_after"), UNAVAILABLE)
async def test_unavailable_answers(
    client: AlimtalkClient,
    mock: respx.MockRouter,
    response: httpx.Response,
    reason: str,
    retry_after: float | None,
) -> None:
    if response.headers.get("Retry-After") == IN_30S:
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
        response = httpx.Response(response.status_code, headers={"Retry-After": when})
    mock.post(SEND_URL).mock(return_value=response)
    with pytest.raises(DealerUnavailable) as exc:
        await _send(client)
    assert exc.value.reason == reason
    if retry_after is None:
        assert exc.value.retry_after_s is None
    else:
        assert exc.value.retry_after_s == pytest.approx(retry_after, abs=2.0)


TRANSPORT_FAILURES = [
    pytest.param(httpx.ConnectError("refused"), "connect_error", id="connect-error"),
    pytest.param(httpx.ConnectTimeout("connect timeout"), "timeout", id="connect-timeout"),
    pytest.param(httpx.ReadTimeout("read timeout"), "timeout", id="read-timeout"),
    pytest.param(
        httpx.RemoteProtocolError("peer closed"), "transport_error RemoteProtocolError", id="protocol"
    ),
    pytest.param(httpx.ReadError("reset"), "transport_error ReadError", id="read-error"),
]


@pytest.mark.parametrize(("error", "reason"), TRANSPORT_FAILURES)
async def test_transport_failures(
    client: AlimtalkClient, mock: respx.MockRouter, error: Exception, reason: str
) -> None:
    mock.post(SEND_URL).mock(side_effect=error)
    with pytest.raises(DealerUnavailable) as exc:
        await _send(client)
    assert (exc.value.reason, exc.value.retry_after_s) == (reason, None)
    mock.get(RESULT_URL).mock(side_effect=error)
    with pytest.raises(DealerUnavailable):
        await client.result(ACCOUNT, "20261124140200abc", 1, 2.0)


async def test_timeout_bounds_the_whole_exchange(client: AlimtalkClient, mock: respx.MockRouter) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(2)
        return httpx.Response(200, json=ACCEPTED)

    mock.post(SEND_URL).mock(side_effect=slow)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DealerUnavailable, match="^timeout$"):
        await _send(client, timeout_s=0.1)
    assert loop.time() - started < 0.5


# ---- answers that mean: refused ---------------------------------------------------------------------

REFUSED = [
    pytest.param(200, -1000, "Invalid appKey.", id="unknown-appkey"),
    pytest.param(200, -1001, "Invalid secretKey.", id="bad-secret"),
    pytest.param(401, -1001, "Invalid secretKey.", id="bad-secret-401"),
    pytest.param(200, 3024, "Invalid sender key.", id="bad-sender-key"),
    pytest.param(200, 3033, "Template does not exist.", id="no-template"),
    pytest.param(400, -3002, "Field is not valid.", id="bad-body-400"),
    pytest.param(404, -4000, "Message not found.", id="not-found-404"),
]


@pytest.mark.parametrize(("status", "code", "message"), REFUSED)
async def test_header_result_code_refuses(
    client: AlimtalkClient, mock: respx.MockRouter, status: int, code: int, message: str
) -> None:
    mock.post(SEND_URL).mock(return_value=httpx.Response(status, json=_refused(code, message)))
    with pytest.raises(DealerRefused) as exc:
        await _send(client)
    assert (exc.value.code, exc.value.message) == (code, message)
    assert str(exc.value) == f"dealer refused: {code} {message}"
    mock.get(RESULT_URL).mock(return_value=httpx.Response(status, json=_refused(code, message)))
    with pytest.raises(DealerRefused):
        await client.result(ACCOUNT, "20261124140200abc", 1, 2.0)


async def test_duplicate_idempotency_key(client: AlimtalkClient, mock: respx.MockRouter) -> None:
    body = _refused(-1005, "The same 'X-NC-API-IDEMPOTENCY-KEY' was used within the last 10 minute.")
    mock.post(SEND_URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(DuplicateRequest) as exc:
        await _send(client)
    assert exc.value.code == -1005
    assert not isinstance(exc.value, DealerRefused | DealerUnavailable)
    assert isinstance(exc.value, AlimtalkError)


async def test_per_recipient_results(client: AlimtalkClient, mock: respx.MockRouter) -> None:
    results = [
        {"recipientSeq": 1, "resultCode": 0, "resultMessage": "SUCCESS", "recipientGroupingKey": "a"},
        {"recipientSeq": 2, "resultCode": 3034, "resultMessage": f"bad params for {NUMBER}"},
    ]
    body = {"header": ACCEPTED["header"], "message": {"requestId": "r-1", "sendResults": results}}
    mock.post(SEND_URL).mock(return_value=httpx.Response(200, json=body))
    result = await _send(client)
    assert [(r.seq, r.grouping_key, r.result_code, r.accepted) for r in result.results] == [
        (1, "a", 0, True),
        (2, None, 3034, False),
    ]
    assert NUMBER not in result.results[1].result_message


# ---- delivery results ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            {"messageStatus": "READY", "resultCode": None, "resendStatus": None},
            DeliveryResult("READY", None, None),
        ),
        ({"messageStatus": "COMPLETED", "resultCode": "1000"}, DeliveryResult("COMPLETED", "1000", None)),
        (
            {"messageStatus": "FAILED", "resultCode": "3019", "resendStatus": "RSC04"},
            DeliveryResult("FAILED", "3019", "RSC04"),
        ),
        ({"messageStatus": "FAILED", "resultCode": 3020}, DeliveryResult("FAILED", "3020", None)),
        (
            {"messageStatus": "CANCEL", "resultCode": "", "resendStatus": ""},
            DeliveryResult("CANCEL", None, None),
        ),
    ],
)
async def test_result_states(
    client: AlimtalkClient, mock: respx.MockRouter, message: dict[str, Any], expected: DeliveryResult
) -> None:
    body = {"header": ACCEPTED["header"], "message": message}
    mock.get(RESULT_URL).mock(return_value=httpx.Response(200, json=body))
    result = await client.result(ACCOUNT, "20261124140200abc", 1, 2.0)
    assert result == expected
    assert result.final is (expected.status != "READY")


@pytest.mark.parametrize(
    "message",
    [{"messageStatus": "SENT"}, {"messageStatus": "COMPLETED", "resultCode": ["1000"]}, {}],
    ids=["unknown-status", "code-not-text", "empty"],
)
async def test_malformed_result(
    client: AlimtalkClient, mock: respx.MockRouter, message: dict[str, Any]
) -> None:
    body = {"header": ACCEPTED["header"], "message": message}
    mock.get(RESULT_URL).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(DealerUnavailable, match="^malformed$"):
        await client.result(ACCOUNT, "20261124140200abc", 1, 2.0)


# ---- no number in exceptions or logs ------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json=_refused(-2000, f"The recipientNo {NUMBER} is invalid")),
        httpx.Response(200, json=_refused(-1005, f"duplicate for 010-0123-1234 ({NUMBER})")),
        httpx.Response(500, text=f"error for {NUMBER}"),
        httpx.Response(200, text=f"<html>{NUMBER}</html>"),
        httpx.ConnectError(f"cannot send to {NUMBER}"),
        httpx.ReadError(f"reset while sending {NUMBER}"),
    ],
    ids=["refused", "duplicate", "500", "not-json", "connect", "read"],
)
async def test_no_number_in_exceptions_or_logs(
    client: AlimtalkClient,
    mock: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
    answer: httpx.Response | Exception,
) -> None:
    caplog.set_level(logging.DEBUG)
    if isinstance(answer, Exception):
        mock.post(SEND_URL).mock(side_effect=answer)
    else:
        mock.post(SEND_URL).mock(return_value=answer)
    with pytest.raises(AlimtalkError) as exc:
        await _send(client)
    # Transport errors are not chained: their text (which may name the request) stays out.
    assert exc.value.__cause__ is None
    for text in (str(exc.value), repr(exc.value), caplog.text):
        assert NUMBER not in text
        assert "1231234" not in text
    assert NUMBER not in repr(_recipient())


# ---- wiring --------------------------------------------------------------------------------------------


async def test_build_client_uses_the_settings() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=ACCEPTED)

    settings = Settings(_env_file=None, kakao=KakaoSettings(connect_timeout_s=0.7))  # type: ignore[call-arg]
    client = build_client(settings, transport=httpx.MockTransport(handler))
    try:
        assert client.base_url == "http://127.0.0.1:8000/sim/alimtalk"
        await client.send(ACCOUNT, "MISSED_CALL_01", [_recipient()], "k", 3.0)
    finally:
        await client.aclose()
    [request] = seen
    assert (
        str(request.url) == "http://127.0.0.1:8000/sim/alimtalk/alimtalk/v2.3/appkeys/app%20key%2F1/messages"
    )
    timeout = request.extensions["timeout"]
    assert (timeout["connect"], timeout["read"]) == (0.7, 3.0)
    configured = Settings(_env_file=None, kakao=KakaoSettings(base_url="https://api-alimtalk.example/"))  # type: ignore[call-arg]
    dealer = build_client(configured)
    assert dealer.base_url == "https://api-alimtalk.example"
    await dealer.aclose()


@pytest.mark.parametrize(
    ("number", "national"),
    [("+821001231234", "01001231234"), ("+82 10-0123-1234", "01001231234"), ("010-0123-1234", "01001231234")],
)
def test_national_mobile(number: str, national: str) -> None:
    assert national_mobile(number) == national
