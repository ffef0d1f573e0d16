"""The simulator in-process (ASGI, no network): profile table, control API, isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from carriers.simulator.app import (
    Profile,
    create_simulator_app,
    create_simulator_app_from_settings,
    profile_for,
)
from lettering.core.settings import Settings


def _app() -> FastAPI:
    return create_simulator_app(
        lgu_callback_secret="cb",
        skt_client_id="id",
        skt_client_secret="secret",
        kt_api_key="key",
        kt_secret="kt-secret",
        lgu_api_key="lgu-key",
        latency_ms=(0, 0),
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://sim") as c:
        yield c


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+821001230050", Profile("skt", False, "normal")),
        ("+821001230033", Profile("skt", False, "normal")),
        ("+821001230054", Profile("kt", False, "normal")),
        ("+821001230066", Profile("kt", False, "normal")),
        ("+821001230057", Profile("lgu", False, "normal")),
        ("+821001230058", Profile("lgu", False, "normal")),
        ("+821001230059", Profile(None, False, "normal")),
        ("+821001230000", Profile("skt", True, "normal")),
        ("+821001230027", Profile("lgu", True, "normal")),
        ("+821009990050", Profile("skt", False, "error")),
        ("+821009980054", Profile("kt", False, "stall")),
        ("+821009970057", Profile("lgu", False, "throttle")),
        ("010-0997-0011", Profile("skt", True, "throttle")),
        ("+821012345678", Profile("lgu", False, "normal")),  # not a test number: same digit rules
        ("+821019995678", Profile("lgu", False, "error")),
        ("", Profile(None, False, "normal")),
    ],
)
def test_profile_table(number: str, expected: Profile) -> None:
    assert profile_for(number) == expected


async def test_config_get_put_merges_and_validates(client: httpx.AsyncClient) -> None:
    config = (await client.get("/_control/config")).json()
    assert config["latency_min_ms"] == 0
    assert config["error_rate"] == {"skt": 0.0, "kt": 0.0, "lgu": 0.0}
    response = await client.put(
        "/_control/config", json={"error_rate": {"kt": 0.5}, "lgu_report_delay_ms": 5}
    )
    assert response.status_code == 200
    config = response.json()
    assert config["error_rate"] == {"skt": 0.0, "kt": 0.5, "lgu": 0.0}
    assert config["lgu_report_delay_ms"] == [5, 5]
    for bad in ({"error_rate": {"kt": 1.5}}, {"latency_min_ms": 10, "latency_max_ms": 5}, {"nope": 1}):
        assert (await client.put("/_control/config", json=bad)).status_code == 422
    assert (await client.put("/_control/config", content=b"[]")).status_code == 422
    assert (await client.get("/_control/config")).json()["error_rate"]["kt"] == 0.5


async def test_two_simulators_share_no_state() -> None:
    first, second = _app(), _app()
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b") as b,
    ):
        await a.put("/_control/config", json={"outage": {"skt": True}})
        assert (await b.get("/_control/config")).json()["outage"]["skt"] is False
        token = await a.post(
            "/skt/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": "id", "client_secret": "secret"},
        )
        assert token.status_code == 503  # outage on the first simulator only
        token = await b.post(
            "/skt/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": "id", "client_secret": "secret"},
        )
        assert token.status_code == 200
        assert (await b.get("/_control/skt/tokens")).json() == {"issued": 1, "active": 1}
        assert (await a.get("/_control/skt/tokens")).json() == {"issued": 0, "active": 0}


async def test_skt_gateway_checks_auth_and_lengths(client: httpx.AsyncClient) -> None:
    lettering = {
        "request_id": "r",
        "caller": "+823151802114",
        "callee": "+821001230050",
        "display": {"name": "한빛특례시", "subtitle": "민원여권과", "message": "가" * 41},
        "ttl_seconds": 60,
    }
    assert (await client.post("/skt/v1/letterings", json=lettering)).status_code == 401
    bad_client = await client.post(
        "/skt/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "id", "client_secret": "x"},
    )
    assert bad_client.status_code == 401
    token = (
        await client.post(
            "/skt/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": "id", "client_secret": "secret"},
        )
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    too_long = await client.post("/skt/v1/letterings", json=lettering, headers=headers)
    assert too_long.status_code == 400
    assert too_long.json() == {
        "error": "INVALID_CONTENT",
        "detail": "display.message longer than 40 characters",
    }
    lettering["display"]["message"] = "가" * 40  # type: ignore[index]
    ok = await client.post("/skt/v1/letterings", json=lettering, headers=headers)
    assert ok.status_code == 202
    pushes = (await client.get("/_control/pushes")).json()
    assert [(p["carrier"], p["result"]) for p in pushes] == [("skt", "invalid_content"), ("skt", "accepted")][
        1:
    ]
    assert (await client.delete("/_control/pushes")).status_code == 204
    assert (await client.get("/_control/pushes")).json() == []


async def test_lgu_gateway_checks_api_key_and_lengths(client: httpx.AsyncClient) -> None:
    body = {"tid": "t", "from": "+823151802114", "to": "+821001230057", "title": "가" * 31, "body": "b"}
    assert (await client.post("/lgu/lettering/v1/requests", json=body)).status_code == 401
    headers = {"Authorization": "ApiKey lgu-key"}
    response = await client.post("/lgu/lettering/v1/requests", json=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID"
    body["title"] = "가" * 30
    response = await client.post("/lgu/lettering/v1/requests", json=body, headers=headers)
    assert response.json() == {"code": "ACCEPTED", "tid": "t"}


async def test_kt_gateway_refuses_unsigned_requests(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/kt/api/v2/lettering/send", json={"msgKey": "m"}, headers={"X-Api-Key": "key"}
    )
    assert response.status_code == 200
    assert response.json()["resultCode"] == "4003"


def test_app_from_settings() -> None:
    app = create_simulator_app_from_settings(Settings(_env_file=None))
    assert app.state.sim.config.latency_min_ms == 20
    assert app.state.sim.credentials.kt_api_key == "lettering-dev"
