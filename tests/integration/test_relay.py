"""The AlimTalk relay against the dealer simulator on a real socket, on each database."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kakao_fallback.client import build_client
from kakao_fallback.models import KakaoMessage
from kakao_fallback.relay import Relay, RelayStats
from kakao_fallback.service import NOTICE_EXPIRY, retry_messages
from kakao_fallback.simulator.app import create_alimtalk_simulator
from lettering.core.clock import SEOUL
from lettering.core.db import session_scope, utcnow
from lettering.core.phone import PhoneVault
from lettering.core.settings import KakaoAgencySettings, KakaoSettings, Settings
from lettering.directory.models import DirectoryAgency
from lettering.optout import service as optout_service
from lettering.optout.models import CitizenNumber, OptoutState
from tests.factories import add_agency, citizen_numbers, queue_notices
from tests.live import LiveServer, serve, stop

pytestmark = pytest.mark.integration

APP_KEY, SECRET, SENDER = "relay-app", "relay-secret", "r" * 40
VAULT = PhoneVault(base64.b64encode(b"h" * 32).decode(), base64.b64encode(b"e" * 32).decode())
NOON = datetime(2026, 11, 24, 12, 0, tzinfo=SEOUL)


@pytest.fixture
def dealer() -> Iterator[LiveServer]:
    live = serve(
        create_alimtalk_simulator(
            accounts={APP_KEY: (SECRET, SENDER)}, latency_ms=(0, 2), result_delay_s=(0, 0)
        )
    )
    yield live
    stop(live)


def relay_settings(dealer_url: str, **kakao: Any) -> Settings:
    values: dict[str, Any] = {
        "base_url": dealer_url,
        "agencies": {
            "*": KakaoAgencySettings(app_key=APP_KEY, secret_key=SecretStr(SECRET), sender_key=SENDER)
        },
        "batch_size": 3,
        "retry_base_s": 1.0,
        "result_poll_base_s": 0.0,
    }
    values.update(kakao)
    return Settings(_env_file=None, env="dev", kakao=KakaoSettings(**values))  # type: ignore[call-arg]


@pytest.fixture
async def relay_for(sessions: async_sessionmaker[AsyncSession], dealer: LiveServer) -> AsyncIterator[Any]:
    made: list[Relay] = []
    clients: list[Any] = []

    def make(vault: PhoneVault = VAULT, **kakao: Any) -> Relay:
        settings = relay_settings(dealer.url, **kakao)
        client = build_client(settings)
        clients.append(client)
        relay = Relay(sessions, client, settings, vault, hooks=optout_service.relay_hooks(), rng=lambda: 1.0)
        made.append(relay)
        return relay

    yield make
    for client in clients:
        await client.aclose()


async def dealer_control(dealer: LiveServer, method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=dealer.url) as client:
        response = await client.request(method, f"/_control{path}", **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


async def queue(
    sessions: async_sessionmaker[AsyncSession],
    count: int,
    *,
    e_digit: int = 1,
    at: datetime = NOON,
    vault: PhoneVault = VAULT,
    expires_in: timedelta = NOTICE_EXPIRY,
    **overrides: Any,
) -> list[str]:
    """Queue identity notices to test citizens 010-0ABC-1{E}10 (E decides the dealer's answer)."""
    numbers = citizen_numbers(count, ending=f"1{e_digit}10")
    async with session_scope(sessions) as session:
        existing = (await session.execute(select(DirectoryAgency.id))).scalars().first()  # type: ignore[call-overload]
        agency_id = existing or await add_agency(session, default_guidance="안내 전화입니다")
        base = (await session.execute(select(KakaoMessage.id))).all()  # type: ignore[call-overload]
        await queue_notices(
            session,
            vault,
            numbers,
            agency_id=agency_id,
            at=at,
            first=len(base),
            expires_in=expires_in,
            variables=overrides.pop("variables", {}),
        )
    return numbers


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[KakaoMessage]:
    async with sessions() as session:
        return list((await session.execute(select(KakaoMessage).order_by(KakaoMessage.id))).scalars())  # type: ignore[arg-type]


async def test_batches_of_at_most_batch_size_and_results_to_completed(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer
) -> None:
    await queue(sessions, 7)
    relay: Relay = relay_for()
    stats = await relay.relay_once(NOON)
    assert (stats.sent, stats.accepted) == (7, 7)
    sends = await dealer_control(dealer, "GET", "/sends")
    assert sorted(use["accepted"] for use in sends.values()) == [1, 1, 1]  # 3 + 3 + 1
    assert {len({r.batch_key for r in await rows(sessions)})} == {3}
    await relay.poll_once(utcnow() + timedelta(seconds=1))
    assert {(r.status, r.delivery_status, r.channel) for r in await rows(sessions)} == {
        ("delivered", "COMPLETED", "alimtalk")
    }


async def test_a_posted_link_keeps_its_number_in_the_register_from_the_post(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer
) -> None:
    """The opt-out link in the message works from the post on: the register keeps the number."""
    (number,) = await queue(sessions, 1)
    later = NOON + timedelta(hours=3)  # posted three hours after the call (sending hours, retries)
    assert (await relay_for().relay_once(later)).accepted == 1
    async with sessions() as session:
        kept = (await session.execute(select(CitizenNumber))).scalar_one()
    assert kept.callee_hash == VAULT.hash(number)
    assert VAULT.open(kept.ciphertext, kept.key_version) == number
    assert kept.last_contact_at >= later


async def test_dealer_trouble_is_retried_with_the_same_idempotency_key(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer
) -> None:
    await queue(sessions, 2)
    relay: Relay = relay_for()
    await dealer_control(dealer, "PUT", "/config", json={"throttle": True, "throttle_retry_after_s": 7})
    stats = await relay.relay_once(NOON)
    assert stats.retried == 2
    (first, second) = await rows(sessions)
    assert first.status == "queued"
    assert first.batch_key == second.batch_key
    key = first.batch_key
    assert first.next_attempt_at >= NOON + timedelta(seconds=7)  # Retry-After honoured
    assert "429" in (first.last_error or "")
    await dealer_control(dealer, "PUT", "/config", json={"throttle": False, "outage": True})
    assert (await relay.relay_once(first.next_attempt_at + timedelta(seconds=1))).retried == 2
    await dealer_control(dealer, "PUT", "/config", json={"outage": False})
    later = (await rows(sessions))[0].next_attempt_at + timedelta(seconds=1)
    assert (await relay.relay_once(later)).accepted == 2
    sends = await dealer_control(dealer, "GET", "/sends")
    assert list(sends) == [key]
    assert sends[key]["accepted"] == 1
    assert {r.attempts for r in await rows(sessions)} == {3}


async def test_dealer_trouble_past_expiry_ends_in_the_dead_letters(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer
) -> None:
    await queue(sessions, 1)
    relay: Relay = relay_for(retry_base_s=100_000.0, retry_cap_s=100_000.0)
    await dealer_control(dealer, "PUT", "/config", json={"outage": True})
    await relay.relay_once(NOON)
    (row,) = await rows(sessions)
    assert row.status == "dead"
    assert "expired" in (row.last_error or "")
    assert "503" in (row.last_error or "")
    assert row.recipient_ciphertext is None


async def test_outside_sending_hours_the_notice_waits_for_the_window(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer
) -> None:
    late = datetime(2026, 11, 24, 22, 30, tzinfo=SEOUL)
    await queue(sessions, 1, at=late)
    relay: Relay = relay_for()
    stats = await relay.relay_once(late)
    assert (stats.sent, stats.deferred) == (0, 1)
    (row,) = await rows(sessions)
    assert row.status == "queued"
    assert row.next_attempt_at == datetime(2026, 11, 25, 8, 0, tzinfo=SEOUL)
    assert await dealer_control(dealer, "GET", "/messages") == []


async def test_a_notice_older_than_its_expiry_is_dropped_not_sent(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer
) -> None:
    await queue(sessions, 1, at=NOON - timedelta(days=2))
    stats = await relay_for().relay_once(NOON)
    assert stats.dead == 1
    (row,) = await rows(sessions)
    assert (row.status, row.recipient_ciphertext) == ("dead", None)
    assert "expired" in (row.last_error or "")
    assert await dealer_control(dealer, "GET", "/messages") == []


async def test_never_to_a_citizen_opted_out_of_everything(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer
) -> None:
    (number,) = await queue(sessions, 1)
    async with session_scope(sessions) as session:
        session.add(OptoutState(callee_hash=VAULT.hash(number), agency_id=0, scope="all"))
    stats = await relay_for().relay_once(NOON)
    assert stats.dropped == 1
    (row,) = await rows(sessions)
    assert row.status == "dropped"
    assert await dealer_control(dealer, "GET", "/messages") == []


async def test_a_broken_template_rule_sends_nothing_and_names_the_rule(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer
) -> None:
    await queue(sessions, 1, variables={"guidance": "가" * 1000})
    stats = await relay_for().relay_once(NOON)
    assert stats.dead == 1
    (row,) = await rows(sessions)
    assert row.status == "dead"
    assert "body_too_long" in (row.last_error or "")
    assert await dealer_control(dealer, "GET", "/messages") == []


async def test_bad_sender_key_is_a_configuration_dead_letter(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer
) -> None:
    await queue(sessions, 1)
    wrong = KakaoAgencySettings(app_key=APP_KEY, secret_key=SecretStr(SECRET), sender_key="x" * 40)
    stats = await relay_for(agencies={"*": wrong}).relay_once(NOON)
    assert stats.dead == 1
    (row,) = await rows(sessions)
    assert row.status == "dead"
    assert "configuration" in (row.last_error or "")
    assert "3024" in (row.last_error or "")


async def test_two_relays_at_once_send_each_message_once(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer
) -> None:
    import asyncio

    await queue(sessions, 12)
    a: Relay = relay_for()
    b: Relay = relay_for()
    for _ in range(3):
        await asyncio.gather(a.relay_once(NOON), b.relay_once(NOON))
    messages = await dealer_control(dealer, "GET", "/messages")
    assert sorted(m["grouping_key"] for m in messages) == sorted(f"m-{i}" for i in range(12))
    assert {r.status for r in await rows(sessions)} == {"accepted"}


async def test_a_late_ready_never_overwrites_completed(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any
) -> None:
    await queue(sessions, 1)
    relay: Relay = relay_for()
    await relay.relay_once(NOON)
    (row,) = await rows(sessions)
    assert row.id is not None
    assert await relay.record_result(row.id, "COMPLETED", "1000", None, utcnow())
    assert not await relay.record_result(row.id, "READY", None, None, utcnow())
    (row,) = await rows(sessions)
    assert (row.status, row.delivery_status) == ("delivered", "COMPLETED")


# -- every attempt checks again, right before it posts ------------------------------------------

ROTATING = PhoneVault(  # keys being rotated: version 2 is current, version 1 (VAULT's) still configured
    base64.b64encode(b"H" * 32).decode(),
    base64.b64encode(b"E" * 32).decode(),
    2,
    {1: (base64.b64encode(b"h" * 32).decode(), base64.b64encode(b"e" * 32).decode())},
)


class CountingVault(PhoneVault):
    """VAULT's keys, counting how often a number is opened."""

    def __init__(self) -> None:
        super().__init__(base64.b64encode(b"h" * 32).decode(), base64.b64encode(b"e" * 32).decode())
        self.opened = 0

    def open(self, ciphertext: bytes, key_version: int) -> str:
        self.opened += 1
        return super().open(ciphertext, key_version)


async def lose_the_answer(sessions: async_sessionmaker[AsyncSession]) -> None:
    """What a relay killed right after the dealer accepted its post leaves: rows still `sending`
    under a lease that runs out a minute after NOON, the acceptance never recorded."""
    async with session_scope(sessions) as session:
        await session.execute(
            update(KakaoMessage).values(
                status="sending",
                lease_until=NOON + timedelta(seconds=60),
                request_id=None,
                recipient_seq=None,
                accepted_at=None,
                next_poll_at=None,
            )
        )


async def test_a_batch_first_posted_11_minutes_ago_is_not_posted_again(
    sessions: async_sessionmaker[AsyncSession],
    relay_for: Any,
    dealer: LiveServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    numbers = await queue(sessions, 2)
    relay: Relay = relay_for()
    assert (await relay.relay_once(NOON)).accepted == 2
    first = (await rows(sessions))[0]
    key, first_sent_at = first.batch_key, first.first_sent_at
    assert first_sent_at is not None
    assert NOON <= first_sent_at < NOON + timedelta(seconds=10)
    await lose_the_answer(sessions)
    # Eleven minutes on, the dealer no longer remembers the key: a second post would be sent again.
    await dealer_control(dealer, "PUT", "/config", json={"idempotency_ttl_s": 0})
    with caplog.at_level(logging.INFO, logger="kakao_fallback.relay"):
        stats = await relay.relay_once(NOON + timedelta(minutes=11))
    assert (stats.sent, stats.accepted) == (0, 2)
    assert await dealer_control(dealer, "GET", "/sends") == {key: {"accepted": 1, "duplicates": 0}}
    assert len(await dealer_control(dealer, "GET", "/messages")) == 2
    for row in await rows(sessions):
        assert (row.status, row.recipient_ciphertext, row.lease_until) == ("sent_unknown", None, None)
        assert row.first_sent_at == first_sent_at
        assert "10-minute idempotency memory" in (row.last_error or "")
    assert "not posted again" in caplog.text
    for number in numbers:
        assert number not in caplog.text
        assert "0" + number[3:] not in caplog.text


@pytest.mark.parametrize("first_attempt", ["answer_lost", "throttled"])
async def test_a_batch_first_posted_2_minutes_ago_is_posted_again_with_the_same_key(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer, first_attempt: str
) -> None:
    await queue(sessions, 2)
    relay: Relay = relay_for()
    if first_attempt == "answer_lost":
        assert (await relay.relay_once(NOON)).accepted == 2
        await lose_the_answer(sessions)
    else:
        await dealer_control(dealer, "PUT", "/config", json={"throttle": True})
        assert (await relay.relay_once(NOON)).retried == 2
        await dealer_control(dealer, "PUT", "/config", json={"throttle": False})
    first = (await rows(sessions))[0]
    key, first_sent_at = first.batch_key, first.first_sent_at
    if first_attempt == "answer_lost":
        assert first_sent_at is not None
    else:  # a 429 is refused before processing: nothing for the dealer to remember
        assert first_sent_at is None
    stats = await relay.relay_once(NOON + timedelta(minutes=2))
    assert stats.sent == 2  # posted again, with the key of the first post
    sends = await dealer_control(dealer, "GET", "/sends")
    if first_attempt == "answer_lost":  # the dealer still remembers the key and refuses the copy
        assert sends == {key: {"accepted": 1, "duplicates": 1}}
        expected = "sent_unknown"
    else:  # the dealer never accepted the first post: this one goes out
        assert sends == {key: {"accepted": 1, "duplicates": 0}}
        expected = "accepted"
    assert len(await dealer_control(dealer, "GET", "/messages")) == 2
    for row in await rows(sessions):
        assert (row.status, row.batch_key) == (expected, key)
        if first_sent_at is not None:
            assert row.first_sent_at == first_sent_at
        else:  # the post two minutes later was the first one
            assert row.first_sent_at is not None
            assert timedelta(0) <= row.first_sent_at - (NOON + timedelta(minutes=2)) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("trouble", "after_15_minutes"), [("throttle", "accepted"), ("outage", "sent_unknown")]
)
async def test_a_long_outage_loses_only_what_the_dealer_may_have_taken(
    sessions: async_sessionmaker[AsyncSession],
    relay_for: Any,
    dealer: LiveServer,
    trouble: str,
    after_15_minutes: str,
) -> None:
    """15 minutes of 429s: the dealer never took the batch, so it is posted when it recovers.
    15 minutes of 503s: the first post may have been processed, so it is never posted again."""
    await queue(sessions, 2)
    relay: Relay = relay_for(retry_base_s=60.0, retry_cap_s=60.0)
    await dealer_control(dealer, "PUT", "/config", json={trouble: True})
    for minute in range(0, 15, 2):
        await relay.relay_once(NOON + timedelta(minutes=minute, seconds=5))
    await dealer_control(dealer, "PUT", "/config", json={trouble: False})
    await relay.relay_once(NOON + timedelta(minutes=16))
    assert {r.status for r in await rows(sessions)} == {after_15_minutes}
    sends = await dealer_control(dealer, "GET", "/sends")
    assert sum(use["accepted"] for use in sends.values()) == (1 if after_15_minutes == "accepted" else 0)


async def test_a_batch_leased_by_a_relay_that_died_before_posting_is_posted_however_late(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer
) -> None:
    await queue(sessions, 2)
    relay: Relay = relay_for()
    (batch,) = await relay._claim(NOON, RelayStats())  # leased, then the relay died: never posted
    assert {row.first_sent_at for row in await rows(sessions)} == {None}
    stats = await relay.relay_once(NOON + timedelta(hours=1))
    assert stats.accepted == 2
    assert await dealer_control(dealer, "GET", "/sends") == {batch.key: {"accepted": 1, "duplicates": 0}}


async def test_a_message_sent_again_by_an_operator_is_a_new_batch_posted_at_once(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer
) -> None:
    (number,) = await queue(sessions, 1)
    wrong = KakaoAgencySettings(app_key=APP_KEY, secret_key=SecretStr(SECRET), sender_key="x" * 40)
    assert (await relay_for(agencies={"*": wrong}).relay_once(NOON)).dead == 1
    (row,) = await rows(sessions)
    assert row.first_sent_at is None  # the dealer refused the whole request: nothing was taken
    assert row.id is not None
    old_key, later = row.batch_key, NOON + timedelta(hours=1)
    async with session_scope(sessions) as session:
        # Only a message whose number is still kept can be sent again.
        await session.execute(update(KakaoMessage).values(recipient_ciphertext=VAULT.seal(number).ciphertext))
        assert await retry_messages(session, [row.id], later) == 1
    # The first post of the old batch says nothing about the new batch's key.
    assert (await relay_for().relay_once(later)).accepted == 1
    (row,) = await rows(sessions)
    assert row.status == "accepted"
    assert row.batch_key != old_key
    assert row.first_sent_at is not None
    assert row.first_sent_at >= later
    assert await dealer_control(dealer, "GET", "/sends") == {row.batch_key: {"accepted": 1, "duplicates": 0}}


async def test_a_message_that_expired_after_an_uncertain_post_is_never_sent_again(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer
) -> None:
    """503 on the first post: the dealer may have taken it. Expired before the retry, the message
    ends as sent_unknown (not dead), and an operator's retry does not send it a second time."""
    (number,) = await queue(sessions, 1, expires_in=timedelta(minutes=5))
    relay: Relay = relay_for()
    await dealer_control(dealer, "PUT", "/config", json={"outage": True})
    assert (await relay.relay_once(NOON)).retried == 1
    await dealer_control(dealer, "PUT", "/config", json={"outage": False})
    await relay.relay_once(NOON + timedelta(minutes=6))
    (row,) = await rows(sessions)
    assert row.status == "sent_unknown"
    assert row.first_sent_at is not None
    async with session_scope(sessions) as session:
        await session.execute(update(KakaoMessage).values(status="dead"))  # even if marked dead
        await session.execute(update(KakaoMessage).values(recipient_ciphertext=VAULT.seal(number).ciphertext))
        assert await retry_messages(session, [row.id or 0], NOON + timedelta(hours=1)) == 0
    assert await dealer_control(dealer, "GET", "/messages") == []


@pytest.mark.parametrize("interrupted_by", ["dealer_trouble", "relay_died"])
async def test_a_batch_retried_after_its_messages_expired_is_dead_not_posted(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer, interrupted_by: str
) -> None:
    await queue(sessions, 2, expires_in=timedelta(minutes=5))
    relay: Relay = relay_for()
    if interrupted_by == "dealer_trouble":
        await dealer_control(dealer, "PUT", "/config", json={"throttle": True})
        assert (await relay.relay_once(NOON)).retried == 2
        await dealer_control(dealer, "PUT", "/config", json={"throttle": False})
    else:
        await relay._claim(NOON, RelayStats())  # leased, then the relay died before posting
    assert {(row.status, row.batch_key is not None) for row in await rows(sessions)} <= {
        ("queued", True),
        ("sending", True),
    }
    stats = await relay.relay_once(NOON + timedelta(minutes=6))
    assert (stats.sent, stats.dead) == (0, 2)
    for row in await rows(sessions):
        assert (row.status, row.recipient_ciphertext, row.lease_until) == ("dead", None, None)
        assert "expired" in (row.last_error or "")
    assert await dealer_control(dealer, "GET", "/messages") == []
    assert await dealer_control(dealer, "GET", "/sends") == {}


async def test_a_citizen_who_opts_out_before_the_retry_is_dropped_not_sent(
    sessions: async_sessionmaker[AsyncSession], relay_for: Any, dealer: LiveServer
) -> None:
    (number, _) = await queue(sessions, 2)
    vault = CountingVault()
    relay: Relay = relay_for(vault=vault)
    await dealer_control(dealer, "PUT", "/config", json={"throttle": True})
    assert (await relay.relay_once(NOON)).retried == 2
    await dealer_control(dealer, "PUT", "/config", json={"throttle": False})
    (first, second) = await rows(sessions)
    async with session_scope(sessions) as session:
        session.add(OptoutState(callee_hash=VAULT.hash(number), agency_id=first.agency_id, scope="all"))
    stats = await relay.relay_once(NOON + timedelta(minutes=1))
    assert (stats.sent, stats.accepted, stats.dropped) == (1, 1, 1)
    assert vault.opened == 4  # each number once per attempt
    messages = await dealer_control(dealer, "GET", "/messages")
    assert [m["grouping_key"] for m in messages] == [second.idempotency_key]
    (first, second) = await rows(sessions)
    assert (first.status, first.recipient_ciphertext) == ("dropped", None)
    assert "opted out" in (first.last_error or "")
    assert second.status == "accepted"


@pytest.mark.parametrize(("sealed_under", "optout_under"), [(2, 1), (1, 2)])
async def test_an_opt_out_indexed_under_any_key_version_drops_the_message(
    sessions: async_sessionmaker[AsyncSession],
    relay_for: Any,
    dealer: LiveServer,
    sealed_under: int,
    optout_under: int,
) -> None:
    (number, other) = await queue(sessions, 2, vault=ROTATING if sealed_under == 2 else VAULT)
    hash_under = dict(zip(ROTATING.versions, ROTATING.hashes(number), strict=True))
    (row, _) = await rows(sessions)
    assert row.key_version == sealed_under
    assert row.recipient_hash == hash_under[sealed_under] != hash_under[optout_under]
    async with session_scope(sessions) as session:
        session.add(OptoutState(callee_hash=hash_under[optout_under], agency_id=0, scope="all"))
    stats = await relay_for(vault=ROTATING).relay_once(NOON)
    assert (stats.dropped, stats.accepted) == (1, 1)
    (row, kept) = await rows(sessions)
    assert row.status == "dropped"
    messages = await dealer_control(dealer, "GET", "/messages")
    assert [m["grouping_key"] for m in messages] == [kept.idempotency_key]
    assert messages[0]["recipient_no"] == "0" + other[3:]
