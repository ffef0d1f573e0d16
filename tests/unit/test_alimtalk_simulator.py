"""The AlimTalk simulator in-process (ASGI, no network): profile, checks, control API, settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from kakao_fallback.simulator.app import (
    create_alimtalk_simulator,
    create_alimtalk_simulator_from_settings,
    korean_mobile,
    profile_e,
)
from lettering.core.settings import (
    DEV_CARRIER_SECRET,
    KakaoAgencySettings,
    KakaoSettings,
    Settings,
)

DEV = KakaoAgencySettings()
URL = "/alimtalk/v2.3/appkeys/any-app/messages"
PARAMS = {
    "기관명": "한빛특례시",
    "부서명": "민원여권과",
    "통화시각": "11월 24일 14:02",
    "회신번호": "031-5180-2114",
    "수신거부URL": "https://lettering.hanbit.go.kr/o/abc",
}


def _app(**kwargs: Any) -> FastAPI:
    return create_alimtalk_simulator(accounts=None, latency_ms=(0, 0), result_delay_s=(0.0, 0.0), **kwargs)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://sim") as c:
        yield c


def _body(**recipient: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "recipientNo": "01001231234",
        "templateParameter": PARAMS,
        "recipientGroupingKey": "g",
    }
    item.update(recipient)
    return {"senderKey": DEV.sender_key, "templateCode": "MISSED_CALL_01", "recipientList": [item]}


async def _post(client: httpx.AsyncClient, body: Any, key: str | None = None) -> dict[str, Any]:
    headers = {"X-Secret-Key": DEV_CARRIER_SECRET}
    if key is not None:
        headers["X-NC-API-IDEMPOTENCY-KEY"] = key
    response = await client.post(URL, json=body, headers=headers)
    data: dict[str, Any] = response.json()
    return data


async def _recipient_code(client: httpx.AsyncClient, **recipient: Any) -> int:
    data = await _post(client, _body(**recipient))
    assert data["header"]["resultCode"] == 0
    code: int = data["message"]["sendResults"][0]["resultCode"]
    return code


@pytest.mark.parametrize(
    ("number", "e"),
    [("01001231934", 9), ("01001231834", 8), ("01001231034", 0), ("12", None)],
)
def test_profile_digit(number: str, e: int | None) -> None:
    assert profile_e(number) == e


@pytest.mark.parametrize(
    ("number", "national"),
    [
        ("01001231234", "01001231234"),
        ("+821001231234", "01001231234"),
        ("821001231234", "01001231234"),
        ("010-0123-1234", "01001231234"),
        ("0111234567", "0111234567"),
        ("0212345678", None),
        ("0100123", None),
        (1001231234, None),
    ],
)
def test_korean_mobile(number: object, national: str | None) -> None:
    assert korean_mobile(number) == national


async def test_any_app_key_with_dev_credentials(client: httpx.AsyncClient) -> None:
    assert await _recipient_code(client) == 0
    response = await client.post(URL, json=_body(), headers={"X-Secret-Key": "wrong"})
    assert response.json()["header"] == {
        "resultCode": -1001,
        "resultMessage": "Invalid secretKey.",
        "isSuccessful": False,
    }


async def test_malformed_bodies(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, content=b"{not json", headers={"X-Secret-Key": DEV_CARRIER_SECRET})
    assert (response.status_code, response.json()["header"]["resultCode"]) == (400, -3002)
    data = await _post(
        client, {"senderKey": DEV.sender_key, "templateCode": "MISSED_CALL_01", "recipientList": []}
    )
    assert data["header"]["resultCode"] == -2004


@pytest.mark.parametrize(
    ("resend", "code"),
    [
        ({"isResend": True, "resendType": "SMS", "resendContent": "안내", "resendSendNo": "03151802000"}, 0),
        ({"isResend": False}, 0),
        ({"isResend": True, "resendType": "SMS", "resendContent": "가" * 46, "resendSendNo": "0315"}, -2000),
        ({"isResend": True, "resendType": "LMS", "resendContent": "가" * 46, "resendSendNo": "0315"}, 0),
        ({"isResend": True, "resendType": "LMS", "resendContent": "똠양꿍", "resendSendNo": "0315"}, -2000),
        ({"isResend": True, "resendType": "MMS", "resendContent": "안내", "resendSendNo": "0315"}, -2000),
        ({"isResend": True, "resendType": "SMS", "resendContent": "안내", "resendSendNo": "031-5180"}, -1003),
        (
            {
                "isResend": True,
                "resendType": "LMS",
                "resendContent": "안내",
                "resendTitle": "가" * 21,
                "resendSendNo": "1",
            },
            -2000,
        ),
        ({"isResend": "yes"}, -2000),
    ],
    ids=[
        "sms",
        "no-resend",
        "sms-too-long",
        "lms",
        "not-euc-kr",
        "mms",
        "send-no",
        "title-too-long",
        "not-bool",
    ],
)
async def test_resend_parameter_checks(client: httpx.AsyncClient, resend: dict[str, Any], code: int) -> None:
    assert await _recipient_code(client, resendParameter=resend) == code


async def test_button_and_parameter_checks(client: httpx.AsyncClient) -> None:
    assert await _recipient_code(client, templateParameter={**PARAMS, "회신번호": "+82-31-5180-2114"}) == 3036
    assert await _recipient_code(client, templateParameter={**PARAMS, "수신거부URL": ""}) == 3036
    assert await _recipient_code(client, templateParameter={**PARAMS, "부서명": 7}) == 3034
    assert await _recipient_code(client, templateParameter=None) == 3034
    assert await _recipient_code(client, recipientNo="+821001231234") == 0


async def test_control_config(client: httpx.AsyncClient) -> None:
    config = (await client.get("/_control/config")).json()
    assert config["result_delay_s"] == [0.0, 0.0]
    changed = await client.put("/_control/config", json={"result_delay_s": 0.5, "throttle": True})
    assert changed.json()["result_delay_s"] == [0.5, 0.5]
    assert (await client.post(URL, json=_body())).status_code == 429
    bad = await client.put("/_control/config", json={"result_delay_s": [2, 1]})
    assert bad.status_code == 422
    assert (await client.put("/_control/config", json={"nope": 1})).status_code == 422
    assert (await client.put("/_control/config", content=b"[]")).status_code == 422


async def test_messages_and_sends_are_cleared(client: httpx.AsyncClient) -> None:
    await _post(client, _body(), key="k-1")
    assert len((await client.get("/_control/messages")).json()) == 1
    assert (await client.get("/_control/sends")).json() == {"k-1": {"accepted": 1, "duplicates": 0}}
    assert (await client.delete("/_control/messages")).status_code == 204
    assert (await client.get("/_control/messages")).json() == []
    assert (await client.get("/_control/sends")).json() == {}
    # Forgotten keys can be used again.
    assert (await _post(client, _body(), key="k-1"))["header"]["resultCode"] == 0


async def test_without_an_idempotency_key_nothing_is_deduplicated(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        assert (await _post(client, _body()))["header"]["resultCode"] == 0
    assert len((await client.get("/_control/messages")).json()) == 2


async def test_simulators_share_nothing() -> None:
    first, second = _app(), _app()
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b") as b,
    ):
        await _post(a, _body(), key="k")
        assert (await _post(b, _body(), key="k"))["header"]["resultCode"] == 0
        assert len((await b.get("/_control/messages")).json()) == 1


async def test_from_settings_registers_every_agency_account() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        kakao=KakaoSettings(
            agencies={
                "*": KakaoAgencySettings(),
                "HANBIT": KakaoAgencySettings(
                    app_key="hanbit", secret_key=SecretStr("h-secret"), sender_key="H" * 40
                ),
            }
        ),
    )
    app = create_alimtalk_simulator_from_settings(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as c:
        await c.put("/_control/config", json={"latency_min_ms": 0, "latency_max_ms": 0})
        body = _body() | {"senderKey": "H" * 40}
        ok = await c.post(
            "/alimtalk/v2.3/appkeys/hanbit/messages", json=body, headers={"X-Secret-Key": "h-secret"}
        )
        assert ok.json()["header"]["resultCode"] == 0
        unknown = await c.post(
            "/alimtalk/v2.3/appkeys/other/messages", json=body, headers={"X-Secret-Key": "h-secret"}
        )
        assert unknown.json()["header"]["resultCode"] == -1000
