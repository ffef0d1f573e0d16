"""The AlimTalk client against the dealer simulator, over real HTTP (spec/alimtalk.md).

The simulator checks requests with its own code, so these tests catch a client or a renderer that
disagrees with the spec: the text the simulator fills from the parameters must be the text
`render` produced.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from pydantic import SecretStr

from kakao_fallback.client import (
    AlimtalkClient,
    DealerRefused,
    DealerUnavailable,
    DeliveryResult,
    DuplicateRequest,
    Recipient,
    RecipientResult,
    Resend,
)
from kakao_fallback.templates import Rendered, load_templates, render
from lettering.core.settings import KakaoAgencySettings
from tests.contracts.conftest import ALIMTALK_ACCOUNT, ALIMTALK_PARAMS, AlimtalkSim, kakao_citizen

TIMEOUT_S = 5.0


def _key() -> str:
    return f"test-{uuid.uuid4().hex}"


def _rendered(code: str = "IDENTITY_NOTICE_01") -> tuple[Rendered, dict[str, str]]:
    template = load_templates()[code]
    params = {name: ALIMTALK_PARAMS[name] for name in template.variables}
    return render(template, params), params


def _recipient(
    number: str, code: str = "IDENTITY_NOTICE_01", *, grouping_key: str = "call-1", failover: bool = True
) -> Recipient:
    rendered, params = _rendered(code)
    resend = Resend.from_rendered(rendered, ALIMTALK_ACCOUNT.sender_no) if failover else None
    return Recipient(number, params, grouping_key, resend)


async def _send_one(client: AlimtalkClient, recipient: Recipient, code: str = "IDENTITY_NOTICE_01") -> str:
    result = await client.send(ALIMTALK_ACCOUNT, code, [recipient], _key(), TIMEOUT_S)
    assert [r.result_code for r in result.results] == [0]
    return result.request_id


async def _final(
    client: AlimtalkClient, request_id: str, seq: int = 1, timeout_s: float = 3.0
) -> DeliveryResult:
    deadline = time.monotonic() + timeout_s
    while True:
        result = await client.result(ALIMTALK_ACCOUNT, request_id, seq, TIMEOUT_S)
        if result.final or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


# ---- acceptance ---------------------------------------------------------------------------------


async def test_accepted_send(alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim) -> None:
    rendered, params = _rendered()
    key = _key()
    recipient = Recipient(kakao_citizen(1), params, "call-77", Resend.from_rendered(rendered, "03151802000"))
    result = await alimtalk_client.send(ALIMTALK_ACCOUNT, "IDENTITY_NOTICE_01", [recipient], key, TIMEOUT_S)
    assert result.request_id
    assert result.results == (
        RecipientResult(seq=1, grouping_key="call-77", result_code=0, result_message="SUCCESS"),
    )
    assert result.results[0].accepted
    [row] = alimtalk_sim.messages()
    assert row["request_id"] == result.request_id
    assert row["idempotency_key"] == key
    assert row["template_code"] == "IDENTITY_NOTICE_01"
    assert row["grouping_key"] == "call-77"
    assert row["template_parameter"] == params
    assert row["recipient_no"] == kakao_citizen(1)
    # The dealer fills the template itself: its text is exactly the one `render` produced.
    assert row["text"] == rendered.text
    assert (row["status"], row["resend_type"]) == ("READY", "LMS")
    assert alimtalk_sim.sends() == {key: {"accepted": 1, "duplicates": 0}}


@pytest.mark.parametrize("code", sorted(load_templates()))
async def test_every_shipped_template_is_accepted_as_rendered(
    code: str, alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim
) -> None:
    rendered, _params = _rendered(code)
    await _send_one(alimtalk_client, _recipient(kakao_citizen(1), code), code)
    [row] = alimtalk_sim.messages()
    assert row["text"] == rendered.text
    assert row["resend_type"] == rendered.resend_type


async def test_batch_of_1000(alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim) -> None:
    _rendered_text, params = _rendered("MISSED_CALL_01")
    recipients = [Recipient(f"0100123{i:04d}", params, f"call-{i}") for i in range(1000)]
    result = await alimtalk_client.send(ALIMTALK_ACCOUNT, "MISSED_CALL_01", recipients, _key(), TIMEOUT_S)
    assert [r.seq for r in result.results] == list(range(1, 1001))
    assert [r.grouping_key for r in result.results] == [f"call-{i}" for i in range(1000)]
    assert all(r.result_code == 0 for r in result.results)
    assert len(alimtalk_sim.messages()) == 1000


async def test_more_than_1000_recipients_are_refused_before_sending(
    alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim
) -> None:
    _rendered_text, params = _rendered("MISSED_CALL_01")
    recipients = [Recipient(f"0100123{i:04d}", params, f"call-{i}") for i in range(1001)]
    with pytest.raises(ValueError, match="1001 recipients"):
        await alimtalk_client.send(ALIMTALK_ACCOUNT, "MISSED_CALL_01", recipients, _key(), TIMEOUT_S)
    with pytest.raises(ValueError, match="at least one"):
        await alimtalk_client.send(ALIMTALK_ACCOUNT, "MISSED_CALL_01", [], _key(), TIMEOUT_S)
    assert alimtalk_sim.messages() == []
    assert alimtalk_sim.sends() == {}


async def test_a_per_recipient_refusal_leaves_the_others_accepted(
    alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim
) -> None:
    good, bad = _recipient(kakao_citizen(1), grouping_key="a"), _recipient("0212345678", grouping_key="b")
    result = await alimtalk_client.send(
        ALIMTALK_ACCOUNT, "IDENTITY_NOTICE_01", [good, bad], _key(), TIMEOUT_S
    )
    assert [(r.grouping_key, r.result_code) for r in result.results] == [("a", 0), ("b", 3008)]
    assert "0212345678" not in result.results[1].result_message
    assert [row["grouping_key"] for row in alimtalk_sim.messages()] == ["a"]


# ---- idempotency --------------------------------------------------------------------------------


async def test_duplicate_idempotency_key_is_refused_and_sent_once(
    alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim
) -> None:
    key = _key()
    recipient = _recipient(kakao_citizen(1))
    await alimtalk_client.send(ALIMTALK_ACCOUNT, "IDENTITY_NOTICE_01", [recipient], key, TIMEOUT_S)
    with pytest.raises(DuplicateRequest) as exc:
        await alimtalk_client.send(ALIMTALK_ACCOUNT, "IDENTITY_NOTICE_01", [recipient], key, TIMEOUT_S)
    assert exc.value.code == -1005
    assert not isinstance(exc.value, DealerRefused)
    assert alimtalk_sim.sends() == {key: {"accepted": 1, "duplicates": 1}}
    assert len(alimtalk_sim.messages()) == 1


async def test_idempotency_key_is_forgotten_after_its_window(
    alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim
) -> None:
    alimtalk_sim.configure(idempotency_ttl_s=0.1)
    key = _key()
    recipient = _recipient(kakao_citizen(1))
    await alimtalk_client.send(ALIMTALK_ACCOUNT, "IDENTITY_NOTICE_01", [recipient], key, TIMEOUT_S)
    await asyncio.sleep(0.15)
    await alimtalk_client.send(ALIMTALK_ACCOUNT, "IDENTITY_NOTICE_01", [recipient], key, TIMEOUT_S)
    assert alimtalk_sim.sends() == {key: {"accepted": 2, "duplicates": 0}}


async def test_a_refused_request_does_not_use_up_its_key(
    alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim
) -> None:
    key = _key()
    recipient = _recipient(kakao_citizen(1))
    wrong = ALIMTALK_ACCOUNT.model_copy(update={"sender_key": "X" * 40})
    with pytest.raises(DealerRefused):
        await alimtalk_client.send(wrong, "IDENTITY_NOTICE_01", [recipient], key, TIMEOUT_S)
    alimtalk_sim.configure(outage=True)
    with pytest.raises(DealerUnavailable):
        await alimtalk_client.send(ALIMTALK_ACCOUNT, "IDENTITY_NOTICE_01", [recipient], key, TIMEOUT_S)
    alimtalk_sim.configure(outage=False)
    await alimtalk_client.send(ALIMTALK_ACCOUNT, "IDENTITY_NOTICE_01", [recipient], key, TIMEOUT_S)
    assert alimtalk_sim.sends() == {key: {"accepted": 1, "duplicates": 0}}


# ---- whole-request refusals ------------------------------------------------------------------------


async def test_bad_secret_key(alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim) -> None:
    wrong = ALIMTALK_ACCOUNT.model_copy(update={"secret_key": SecretStr("not-the-secret")})
    with pytest.raises(DealerRefused) as exc:
        await alimtalk_client.send(
            wrong, "IDENTITY_NOTICE_01", [_recipient(kakao_citizen(1))], _key(), TIMEOUT_S
        )
    assert exc.value.code == -1001
    assert "not-the-secret" not in str(exc.value)
    assert alimtalk_sim.messages() == []


async def test_unknown_app_key(alimtalk_client: AlimtalkClient) -> None:
    other = KakaoAgencySettings(app_key="nobody", secret_key=ALIMTALK_ACCOUNT.secret_key)
    with pytest.raises(DealerRefused) as exc:
        await alimtalk_client.send(
            other, "IDENTITY_NOTICE_01", [_recipient(kakao_citizen(1))], _key(), TIMEOUT_S
        )
    assert exc.value.code == -1000


async def test_bad_sender_key_is_3024(alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim) -> None:
    wrong = ALIMTALK_ACCOUNT.model_copy(update={"sender_key": "X" * 40})
    with pytest.raises(DealerRefused) as exc:
        await alimtalk_client.send(
            wrong, "IDENTITY_NOTICE_01", [_recipient(kakao_citizen(1))], _key(), TIMEOUT_S
        )
    assert exc.value.code == 3024
    assert alimtalk_sim.messages() == []


async def test_unregistered_template_is_3033(alimtalk_client: AlimtalkClient) -> None:
    with pytest.raises(DealerRefused) as exc:
        await alimtalk_client.send(
            ALIMTALK_ACCOUNT, "PROMO_01", [_recipient(kakao_citizen(1))], _key(), TIMEOUT_S
        )
    assert exc.value.code == 3033


# ---- per-recipient refusals -------------------------------------------------------------------------


@pytest.mark.parametrize("change", ["missing", "extra"])
async def test_parameters_not_matching_the_template_are_3034(
    change: str, alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim
) -> None:
    _rendered_text, params = _rendered()
    if change == "missing":
        del params["확인코드"]  # what `render` would have refused
    else:
        params["카드뉴스URL"] = ALIMTALK_PARAMS["카드뉴스URL"]
    recipient = Recipient(kakao_citizen(1), params, "call-1")
    result = await alimtalk_client.send(
        ALIMTALK_ACCOUNT, "IDENTITY_NOTICE_01", [recipient], _key(), TIMEOUT_S
    )
    assert [r.result_code for r in result.results] == [3034]
    assert not result.results[0].accepted
    assert alimtalk_sim.messages() == []


async def test_body_over_1000_and_bad_buttons_are_refused_per_recipient(
    alimtalk_client: AlimtalkClient,
) -> None:
    _rendered_text, params = _rendered("POST_CALL_02")
    too_long = Recipient(kakao_citizen(1), params | {"부서명": "가" * 1000}, "long")
    bad_link = Recipient(kakao_citizen(1), params | {"카드뉴스URL": "ftp://x"}, "link")
    result = await alimtalk_client.send(
        ALIMTALK_ACCOUNT, "POST_CALL_02", [too_long, bad_link], _key(), TIMEOUT_S
    )
    assert [r.result_code for r in result.results] == [3032, 3036]


# ---- delivery results -------------------------------------------------------------------------------


async def test_result_is_ready_then_completed(alimtalk_client: AlimtalkClient) -> None:
    request_id = await _send_one(alimtalk_client, _recipient(kakao_citizen(1), failover=False))
    first = await alimtalk_client.result(ALIMTALK_ACCOUNT, request_id, 1, TIMEOUT_S)
    assert first == DeliveryResult("READY", None, None)
    assert not first.final
    final = await _final(alimtalk_client, request_id)
    assert final == DeliveryResult("COMPLETED", "1000", None)


async def test_not_a_kakaotalk_user_fails_over_to_lms(
    alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim
) -> None:
    rendered, _params = _rendered()
    request_id = await _send_one(alimtalk_client, _recipient(kakao_citizen(9)))
    assert (await alimtalk_client.result(ALIMTALK_ACCOUNT, request_id, 1, TIMEOUT_S)).resend_status == "RSC02"
    assert await _final(alimtalk_client, request_id) == DeliveryResult("FAILED", "3019", "RSC04")
    [resend] = alimtalk_sim.resends()
    assert (resend["type"], resend["title"], resend["content"]) == (
        "LMS",
        "[한빛특례시] 전화 안내",
        rendered.resend_text,
    )
    assert resend["send_no"] == "03151802000"
    # Asking again neither changes the result nor sends the SMS/LMS twice.
    assert await _final(alimtalk_client, request_id) == DeliveryResult("FAILED", "3019", "RSC04")
    assert len(alimtalk_sim.resends()) == 1


async def test_not_a_kakaotalk_user_fails_over_to_sms(
    alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim
) -> None:
    request_id = await _send_one(
        alimtalk_client, _recipient(kakao_citizen(9), "MISSED_CALL_01"), "MISSED_CALL_01"
    )
    assert await _final(alimtalk_client, request_id) == DeliveryResult("FAILED", "3019", "RSC04")
    assert [(r["type"], r["title"]) for r in alimtalk_sim.resends()] == [("SMS", None)]
    assert alimtalk_sim.messages()[0]["resend_type"] == "SMS"


async def test_not_a_kakaotalk_user_without_failover(
    alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim
) -> None:
    request_id = await _send_one(alimtalk_client, _recipient(kakao_citizen(9), failover=False))
    assert await _final(alimtalk_client, request_id) == DeliveryResult("FAILED", "3019", None)
    assert alimtalk_sim.resends() == []


async def test_blocked_the_channel_is_3020_without_failover(
    alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim
) -> None:
    request_id = await _send_one(alimtalk_client, _recipient(kakao_citizen(8)))
    assert await _final(alimtalk_client, request_id) == DeliveryResult("FAILED", "3020", "RSC01")
    assert alimtalk_sim.resends() == []
    [row] = alimtalk_sim.messages()
    assert (row["status"], row["result_code"]) == ("FAILED", "3020")


async def test_result_of_an_unknown_message(alimtalk_client: AlimtalkClient) -> None:
    with pytest.raises(DealerRefused) as exc:
        await alimtalk_client.result(ALIMTALK_ACCOUNT, "20261124000000nothing", 1, TIMEOUT_S)
    assert exc.value.code == -4000
    request_id = await _send_one(alimtalk_client, _recipient(kakao_citizen(1)))
    with pytest.raises(DealerRefused):
        await alimtalk_client.result(ALIMTALK_ACCOUNT, request_id, 2, TIMEOUT_S)


# ---- dealer trouble, injected at run time -----------------------------------------------------------


async def test_throttle_outage_and_errors_are_unavailable(
    alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim
) -> None:
    recipient = _recipient(kakao_citizen(1))
    alimtalk_sim.configure(throttle=True, throttle_retry_after_s=2)
    with pytest.raises(DealerUnavailable) as exc:
        await alimtalk_client.send(ALIMTALK_ACCOUNT, "IDENTITY_NOTICE_01", [recipient], _key(), TIMEOUT_S)
    assert (exc.value.reason, exc.value.retry_after_s) == ("http_429", 2.0)
    alimtalk_sim.configure(throttle_retry_after_s=None)
    with pytest.raises(DealerUnavailable) as exc:
        await alimtalk_client.send(ALIMTALK_ACCOUNT, "IDENTITY_NOTICE_01", [recipient], _key(), TIMEOUT_S)
    assert (exc.value.reason, exc.value.retry_after_s) == ("http_429", None)
    alimtalk_sim.configure(throttle=False, outage=True)
    with pytest.raises(DealerUnavailable, match="^http_503$"):
        await alimtalk_client.result(ALIMTALK_ACCOUNT, "any", 1, TIMEOUT_S)
    alimtalk_sim.configure(outage=False, error_rate=1.0)
    with pytest.raises(DealerUnavailable, match="^http_500$"):
        await alimtalk_client.send(ALIMTALK_ACCOUNT, "IDENTITY_NOTICE_01", [recipient], _key(), TIMEOUT_S)
    assert alimtalk_sim.messages() == []


async def test_slow_dealer_times_out(alimtalk_client: AlimtalkClient, alimtalk_sim: AlimtalkSim) -> None:
    alimtalk_sim.configure(latency_min_ms=300, latency_max_ms=300)
    started = time.monotonic()
    with pytest.raises(DealerUnavailable, match="^timeout$"):
        await alimtalk_client.send(
            ALIMTALK_ACCOUNT, "IDENTITY_NOTICE_01", [_recipient(kakao_citizen(1))], _key(), 0.1
        )
    assert time.monotonic() - started < 0.25
    # The dealer still accepts what the client gave up on: why a retry reuses the idempotency key.
    await asyncio.sleep(0.35)
    assert len(alimtalk_sim.messages()) == 1
