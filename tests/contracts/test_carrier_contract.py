"""One contract suite run over every adapter against the live simulator (real sockets).

Every row of the simulator profile (spec/carriers.md) gives the same outcome through each adapter;
what differs per carrier (token, signature, callback) has its own tests below.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from carriers.base import ContentStatus, Outcome
from carriers.breaker import Breaker
from carriers.http import ContentRefused
from carriers.kt import KtAdapter
from carriers.lgu import parse_report, verify_report_signature
from tests.contracts.conftest import (
    CARRIERS,
    KT_SETTINGS,
    LGU_SETTINGS,
    CarrierUnderTest,
    Receiver,
    Sim,
    citizen_number,
    image_bytes,
    lettering_for,
    make_adapter,
)

ACCEPTED_CODE = {"skt": "202", "kt": "0000", "lgu": "ACCEPTED"}
CONTENT_IMAGES = {"skt": ("JPEG", (720, 1280)), "kt": ("PNG", (1080, 1920))}


def _deadline(seconds: float = 2.0) -> float:
    return time.monotonic() + seconds


async def test_subscriber_is_accepted(carrier: CarrierUnderTest) -> None:
    lettering = lettering_for(citizen_number(carrier.name), request_id=f"acc-{carrier.name}")
    result = await carrier.adapter.push(lettering, _deadline())
    assert result.outcome is Outcome.accepted, result
    assert result.carrier == carrier.name
    assert result.code == ACCEPTED_CODE[carrier.name]
    assert result.provider_ref
    assert result.notes == ()
    assert 0 <= result.latency_ms < 2000
    [row] = carrier.sim.pushes(carrier.name)
    assert row["request_id"] == lettering.request_id
    assert row["callee"] == lettering.callee
    assert row["result"] == "accepted"
    texts = set(row["display"].values())
    assert "여권 발급 관련 안내 전화입니다" in texts


async def test_other_carriers_numbers_are_not_subscribers(carrier: CarrierUnderTest) -> None:
    for subscriber_of in [c for c in CARRIERS if c != carrier.name] + [None]:
        lettering = lettering_for(citizen_number(subscriber_of))
        result = await carrier.adapter.push(lettering, _deadline())
        assert result.outcome is Outcome.not_subscriber, (subscriber_of, result)
    assert carrier.breaker.consecutive_failures == 0


async def test_iphone_is_unsupported_device(carrier: CarrierUnderTest) -> None:
    lettering = lettering_for(citizen_number(carrier.name, iphone=True))
    result = await carrier.adapter.push(lettering, _deadline())
    if carrier.name == "lgu":
        # LG U+ accepts; the phone's refusal arrives later by callback (see the LG U+ tests).
        assert result.outcome is Outcome.accepted
    else:
        assert result.outcome is Outcome.unsupported_device, result


async def test_broken_gateway_is_unavailable(carrier: CarrierUnderTest) -> None:
    lettering = lettering_for(citizen_number(carrier.name, abc="999"))
    result = await carrier.adapter.push(lettering, _deadline())
    assert result.outcome is Outcome.unavailable, result
    assert result.code == "503"
    assert carrier.breaker.consecutive_failures == 1


async def test_five_xx_only_from_the_subscribers_carrier(carrier: CarrierUnderTest) -> None:
    other = next(c for c in CARRIERS if c != carrier.name)
    result = await carrier.adapter.push(lettering_for(citizen_number(other, abc="999")), _deadline())
    assert result.outcome is Outcome.not_subscriber


async def test_throttle_carries_retry_after(carrier: CarrierUnderTest) -> None:
    lettering = lettering_for(citizen_number(carrier.name, abc="997"))
    result = await carrier.adapter.push(lettering, _deadline())
    assert result.outcome is Outcome.throttled, result
    assert result.retry_after_s == 1.0
    assert result.code == ("9001" if carrier.name == "kt" else "429")
    assert carrier.breaker.consecutive_failures == 0


async def test_stalled_gateway_times_out_within_the_deadline(carrier: CarrierUnderTest) -> None:
    lettering = lettering_for(citizen_number(carrier.name, abc="998"))
    started = time.monotonic()
    deadline = started + 0.25
    result = await carrier.adapter.push(lettering, deadline)
    finished = time.monotonic()
    assert result.outcome is Outcome.unavailable, result
    assert result.code == "timeout"
    assert finished <= deadline + 0.03, f"push outlived its deadline by {finished - deadline:.3f}s"
    assert finished - started >= 0.2
    assert carrier.breaker.consecutive_failures == 1


async def test_no_request_with_less_than_5ms_left(carrier: CarrierUnderTest) -> None:
    result = await carrier.adapter.push(lettering_for(citizen_number(carrier.name)), time.monotonic() + 0.002)
    assert result.outcome is Outcome.unavailable
    assert result.code == "timeout"
    assert carrier.sim.pushes() == []


FIT_EXPECTATIONS: dict[str, dict[str, Any]] = {
    "skt": {
        "notes": {
            "skt name cut 25->16 chars",
            "skt subtitle cut 25->20 chars",
            "skt message cut 70->40 chars",
            "skt post_call.title cut 35->30 chars",
        },
        "limits": {"name": 16, "subtitle": 20, "message": 40},
    },
    "kt": {
        "notes": {
            "kt callerName cut 25->20 chars",
            "kt deptName cut 25->20 chars",
            "kt guideText cut 70->60 chars",
            "kt linkTitle cut 35->20 chars",
        },
        "limits": {"callerName": 20, "deptName": 20, "guideText": 60},
    },
    "lgu": {
        "notes": {"lgu title cut 51->30 chars", "lgu body cut 70->60 chars"},
        "limits": {"title": 30, "body": 60},
    },
}


async def test_long_texts_are_fitted_and_noted(carrier: CarrierUnderTest) -> None:
    from carriers.base import PostCall

    lettering = lettering_for(
        citizen_number(carrier.name),
        agency_name="가" * 25,
        department_name="나" * 25,
        guidance="다" * 70,
        post_call=PostCall(title="라" * 35, url="https://example.org/x"),
    )
    result = await carrier.adapter.push(lettering, _deadline())
    assert result.outcome is Outcome.accepted, result
    expected = FIT_EXPECTATIONS[carrier.name]
    assert set(result.notes) == expected["notes"]
    [row] = carrier.sim.pushes(carrier.name)
    for field_name, limit in expected["limits"].items():
        value = row["display"][field_name]
        assert len(value) == limit
        assert value.endswith("\u2026")


async def test_outage_opens_the_breaker_and_then_nothing_is_sent(carrier: CarrierUnderTest) -> None:
    carrier.sim.configure(outage={carrier.name: True})
    lettering = lettering_for(citizen_number(carrier.name))
    for _ in range(3):
        result = await carrier.adapter.push(lettering, _deadline())
        assert result.outcome is Outcome.unavailable
        assert result.code in ("503", "token_503")  # SKT: the token endpoint is down too
    carrier.sim.configure(outage={carrier.name: False})
    carrier.sim.control("DELETE", "/pushes")
    result = await carrier.adapter.push(lettering, _deadline())
    assert result.outcome is Outcome.unavailable
    assert result.code == "circuit_open"
    assert result.latency_ms < 50
    assert carrier.sim.pushes() == []


async def test_injected_error_rate_is_unavailable(carrier: CarrierUnderTest) -> None:
    carrier.sim.configure(error_rate={carrier.name: 1.0})
    result = await carrier.adapter.push(lettering_for(citizen_number(carrier.name)), _deadline())
    assert result.outcome is Outcome.unavailable


async def test_unregistered_caller_is_rejected(carrier: CarrierUnderTest) -> None:
    carrier.sim.configure(unregistered_callers=["+823100000000"])
    lettering = lettering_for(citizen_number(carrier.name), caller="+823100000000")
    result = await carrier.adapter.push(lettering, _deadline())
    assert result.outcome is Outcome.rejected, result
    assert {"skt": "403", "kt": "3003", "lgu": "INVALID"}[carrier.name] == result.code
    assert result.notes


async def test_refused_connection_is_unavailable(carrier: CarrierUnderTest) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    adapter = make_adapter(carrier.name, f"http://127.0.0.1:{dead_port}/x", carrier.client, Breaker(3, 30))
    result = await adapter.push(lettering_for(citizen_number(carrier.name)), _deadline())
    assert result.outcome is Outcome.unavailable
    assert result.code == "connect_error"


@pytest.mark.parametrize("name", ["skt", "kt"])
async def test_content_registration_and_use(name: str, sim: Sim, http_client: httpx.AsyncClient) -> None:
    adapter = make_adapter(name, f"{sim.url}/{name}", http_client, Breaker(3, 30))
    fmt, size = CONTENT_IMAGES[name]
    sim.configure(content_approval_delay_s=0.2)
    ref = await adapter.register_content(image_bytes(fmt, size), f"image/{fmt.lower()}", "promo.img")
    assert ref
    assert await adapter.content_status(ref) is ContentStatus.pending
    # A content not yet approved is refused by the gateway.
    pending = await adapter.push(lettering_for(citizen_number(name), content_refs={name: ref}), _deadline())
    assert pending.outcome is Outcome.rejected
    sim.configure(content_approval_delay_s=0.0)
    assert await adapter.content_status(ref) is ContentStatus.approved
    result = await adapter.push(lettering_for(citizen_number(name), content_refs={name: ref}), _deadline())
    assert result.outcome is Outcome.accepted, result
    assert sim.pushes(name)[-1]["content_ref"] == ref


@pytest.mark.parametrize("name", ["skt", "kt"])
async def test_wrong_image_is_refused_before_sending(
    name: str, sim: Sim, http_client: httpx.AsyncClient
) -> None:
    adapter = make_adapter(name, f"{sim.url}/{name}", http_client, Breaker(3, 30))
    with pytest.raises(ContentRefused, match="expected"):
        await adapter.register_content(image_bytes("JPEG", (100, 100)), "image/jpeg", "small.jpg")
    with pytest.raises(ContentRefused, match="not decodable"):
        await adapter.register_content(b"not an image", "image/jpeg", "junk.jpg")


async def test_lgu_registers_nothing(sim: Sim, http_client: httpx.AsyncClient) -> None:
    adapter = make_adapter("lgu", f"{sim.url}/lgu", http_client, Breaker(3, 30))
    assert await adapter.register_content(image_bytes("JPEG", (640, 960)), "image/jpeg", "a.jpg") is None
    assert await adapter.content_status("anything") is ContentStatus.approved


# ---- SKT: OAuth2 token ------------------------------------------------------------------------


async def test_skt_token_is_reused(sim: Sim, http_client: httpx.AsyncClient) -> None:
    before = sim.skt_tokens()["issued"]
    adapter = make_adapter("skt", f"{sim.url}/skt", http_client, Breaker(3, 30))
    for i in range(3):
        result = await adapter.push(lettering_for(citizen_number("skt"), request_id=f"r{i}"), _deadline())
        assert result.outcome is Outcome.accepted
    assert sim.skt_tokens()["issued"] == before + 1


async def test_skt_401_refreshes_the_token_once_and_retries(sim: Sim, http_client: httpx.AsyncClient) -> None:
    adapter = make_adapter("skt", f"{sim.url}/skt", http_client, Breaker(3, 30))
    assert (await adapter.push(lettering_for(citizen_number("skt")), _deadline())).outcome is Outcome.accepted
    issued = sim.skt_tokens()["issued"]
    sim.control("DELETE", "/skt/tokens")  # the gateway forgets every token: next call is a 401
    result = await adapter.push(lettering_for(citizen_number("skt"), request_id="after-revoke"), _deadline())
    assert result.outcome is Outcome.accepted, result
    assert sim.skt_tokens()["issued"] == issued + 1
    assert [row["request_id"] for row in sim.pushes("skt")] == ["req-1", "after-revoke"]


async def test_skt_wrong_client_secret_is_unavailable(sim: Sim, http_client: httpx.AsyncClient) -> None:
    adapter = make_adapter(
        "skt", f"{sim.url}/skt", http_client, Breaker(3, 30), client_secret=SecretStr("wrong")
    )
    result = await adapter.push(lettering_for(citizen_number("skt")), _deadline())
    assert result.outcome is Outcome.unavailable
    assert result.code == "token_401"
    assert sim.pushes() == []


# ---- KT: signature ----------------------------------------------------------------------------


async def test_kt_signature_is_checked_by_the_gateway(sim: Sim, http_client: httpx.AsyncClient) -> None:
    wrong = make_adapter("kt", f"{sim.url}/kt", http_client, Breaker(3, 30), secret=SecretStr("wrong"))
    result = await wrong.push(lettering_for(citizen_number("kt")), _deadline())
    assert result.outcome is Outcome.rejected
    assert result.code == "4003"
    assert sim.pushes() == []


async def test_kt_timestamp_outside_five_minutes_is_refused(sim: Sim, http_client: httpx.AsyncClient) -> None:
    skewed = KtAdapter(
        KT_SETTINGS, f"{sim.url}/kt", http_client, Breaker(3, 30), wall_clock=lambda: time.time() - 301
    )
    result = await skewed.push(lettering_for(citizen_number("kt")), _deadline())
    assert (result.outcome, result.code) == (Outcome.rejected, "4003")
    nearly = KtAdapter(
        KT_SETTINGS, f"{sim.url}/kt", http_client, Breaker(3, 30), wall_clock=lambda: time.time() - 290
    )
    assert (await nearly.push(lettering_for(citizen_number("kt")), _deadline())).outcome is Outcome.accepted


# ---- LG U+: callback --------------------------------------------------------------------------


@pytest.mark.parametrize(("iphone", "expected"), [(False, "DISPLAYED"), (True, "UNSUPPORTED")])
async def test_lgu_report_is_delivered_signed(
    sim: Sim, receiver: Receiver, http_client: httpx.AsyncClient, iphone: bool, expected: str
) -> None:
    adapter = make_adapter("lgu", f"{sim.url}/lgu", http_client, Breaker(3, 30))
    lettering = lettering_for(
        citizen_number("lgu", iphone=iphone),
        request_id=f"tid-{expected}",
        callback_url=receiver.url,
        inline_image_jpeg=image_bytes("JPEG", (640, 960)),
    )
    result = await adapter.push(lettering, _deadline())
    assert result.outcome is Outcome.accepted
    assert result.provider_ref == lettering.request_id
    [(headers, raw)] = receiver.wait_for(1, timeout_s=15.0)
    secret = LGU_SETTINGS.callback_secret.get_secret_value()
    assert verify_report_signature(raw, headers.get("x-lgu-signature"), secret)
    assert not verify_report_signature(raw, headers.get("x-lgu-signature"), "other-secret")
    assert not verify_report_signature(raw + b" ", headers.get("x-lgu-signature"), secret)
    report = parse_report(raw)
    assert report.tid == lettering.request_id
    assert report.result == expected
    assert report.at.tzinfo is not None
    [row] = sim.pushes("lgu")
    assert row["image_bytes"] > 0
    [sent] = sim.reports()
    assert sent["status"] == 204


async def test_lgu_wrong_image_is_dropped_with_a_note(sim: Sim, http_client: httpx.AsyncClient) -> None:
    adapter = make_adapter("lgu", f"{sim.url}/lgu", http_client, Breaker(3, 30))
    lettering = lettering_for(citizen_number("lgu"), inline_image_jpeg=image_bytes("JPEG", (720, 1280)))
    result = await adapter.push(lettering, _deadline())
    assert result.outcome is Outcome.accepted
    assert result.notes == ("lgu image dropped: image is 720x1280, expected 640x960",)
    assert sim.pushes("lgu")[0]["image_bytes"] == 0


async def test_lgu_undeliverable_report_is_recorded_not_raised(
    sim: Sim, http_client: httpx.AsyncClient
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/reports"
    adapter = make_adapter("lgu", f"{sim.url}/lgu", http_client, Breaker(3, 30))
    lettering = lettering_for(citizen_number("lgu"), callback_url=dead)
    assert (await adapter.push(lettering, _deadline())).outcome is Outcome.accepted
    for _ in range(300):
        if sim.reports():
            break
        await asyncio.sleep(0.01)
    [sent] = sim.reports()
    assert sent["status"] is None
    assert sent["error"] == "ConnectError"


async def test_lgu_wrong_api_key_is_unavailable(sim: Sim, http_client: httpx.AsyncClient) -> None:
    adapter = make_adapter("lgu", f"{sim.url}/lgu", http_client, Breaker(3, 30), api_key=SecretStr("nope"))
    result = await adapter.push(lettering_for(citizen_number("lgu")), _deadline())
    assert (result.outcome, result.code) == (Outcome.unavailable, "401")


# ---- no phone numbers in logs -----------------------------------------------------------------


async def test_no_phone_number_in_logs(carrier: CarrierUnderTest, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    numbers = [citizen_number(carrier.name, abc=abc) for abc in ("123", "999", "997")]
    for number in numbers:
        await carrier.adapter.push(lettering_for(number), _deadline())
    await carrier.adapter.push(
        lettering_for(citizen_number(carrier.name, abc="998")), time.monotonic() + 0.05
    )
    text = caplog.text
    for number in numbers:
        assert number not in text
        assert number[3:] not in text
        assert "0" + number[3:] not in text
