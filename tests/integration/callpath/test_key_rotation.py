"""Key rotation end to end: after `keys rotate` every lookup, opt-out and pending message works.

The service runs under key version 1, then under version 2 with version 1 still configured (the
rotation window: nothing is missed before the rows are rewritten), the rotation is interrupted
and resumed, and finally the service runs under version 2 alone.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from carriers.models import CarrierRoute
from kakao_fallback.models import KakaoMessage
from lettering.app import create_app
from lettering.calls.models import CallRecord
from lettering.core.db import utcnow
from lettering.core.phone import make_vault
from lettering.core.settings import KakaoAgencySettings, KakaoSettings, PhoneKeyPair, Settings
from lettering.keyring import service as keyring_service
from lettering.keyring.models import PhoneHashAlias
from lettering.optout.models import CitizenNumber, OptoutHistory, OptoutState
from lettering.retention.service import drop_numbers
from lettering.webhook.models import WebhookPbx
from tests.integration.callpath.conftest import Service
from tests.integration.callpath.test_optout_links import choose, e164, link
from tests.live import free_socket, serve, stop

pytestmark = pytest.mark.integration

ANDROID_OPTED_OUT = "010-0300-4561"
ANDROID_PROMO = "010-0301-4562"
IPHONE_PENDING = "010-0302-1210"
ANDROID_REGISTER = "010-0303-4563"
EVERYONE = (ANDROID_OPTED_OUT, ANDROID_PROMO, IPHONE_PENDING, ANDROID_REGISTER)


@pytest.fixture
def service_overrides() -> dict[str, Any]:
    # No relay in the first service: the iPhone's AlimTalk stays queued across the rotation.
    account = KakaoAgencySettings(secret_key=SecretStr("kakao-test-secret"))
    return {
        "kakao": KakaoSettings(
            agencies={"*": account}, relay_in_process=False, send_from="00:00", send_until="24:00"
        )
    }


def new_key() -> SecretStr:
    return SecretStr(base64.b64encode(os.urandom(32)).decode())


NEW_HASH_KEY, NEW_ENC_KEY = new_key(), new_key()


def next_version(settings: Settings, base_url: str, *, keep_old: bool, **changes: Any) -> Settings:
    old = (
        {1: PhoneKeyPair(hash_key=settings.phone_hash_key, enc_key=settings.phone_enc_key)}
        if keep_old
        else {}
    )
    values = settings.model_dump()
    values.update(
        public_base_url=base_url,
        key_version=2,
        phone_hash_key=NEW_HASH_KEY,
        phone_enc_key=NEW_ENC_KEY,
        phone_keys_old=old,
        # model_dump() reveals SecretStr as '**********': pass every secret again.
        link_secret=settings.link_secret,
        carriers=settings.carriers,
        kakao=settings.kakao,
    )
    values.update(changes)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Running:
    """Another instance of the service on the same database, with settings made for its address."""

    def __init__(self, service: Service, make_settings: Callable[[str], Settings]) -> None:
        self.service = service
        self.sock = free_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.settings = make_settings(self.url)

    async def __aenter__(self) -> Service:
        self.live = serve(create_app(self.settings), self.sock)
        self.client = httpx.AsyncClient(base_url=self.url, timeout=15)
        svc = Service(
            self.live,
            self.settings,
            self.service.sessions,
            make_vault(self.settings),
            self.service.agencies,
            self.client,
        )
        await svc.alimtalk("PUT", "/config", json={"result_delay_s": [0.1, 0.3], "latency_max_ms": 5})
        return svc

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        stop(self.live)


async def setup(service: Service, national: str) -> dict[str, Any]:
    reply: dict[str, Any] = (await service.post(service.event(callee_number=national))).json()
    return reply


async def count_where(service: Service, model: Any, *where: Any) -> int:
    async with service.sessions() as session:
        query = select(func.count()).select_from(model).where(*where)
        return int((await session.execute(query)).scalar_one())


async def wait_for(check: Any, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


class Interrupt(Exception):
    pass


async def test_rotation_keeps_every_lookup_optout_and_pending_message(service: Service) -> None:
    v1 = service.vault
    # -- under key version 1 --------------------------------------------------------------------
    for citizen in (ANDROID_OPTED_OUT, ANDROID_PROMO, ANDROID_REGISTER):
        assert (await setup(service, citizen))["lettering"] == "accepted"
    old_link = link(service, ANDROID_OPTED_OUT)  # names the version-1 hash
    assert (await choose(service, old_link, "all")).status_code == 200
    assert (await choose(service, link(service, ANDROID_PROMO), "promo")).status_code == 200
    iphone = await setup(service, IPHONE_PENDING)
    assert iphone["fallback"] == "alimtalk"
    # A day later the calls no longer need the numbers: they move to the register.
    await drop_numbers(service.sessions, utcnow() + timedelta(days=1))
    assert await count_where(service, CitizenNumber) == 3  # the iPhone's number is still on its call
    routes_v1 = await count_where(service, CarrierRoute)
    assert routes_v1 == 4  # the iPhone's carrier is known too
    stop(service.live)

    # -- version 2 with version 1 still configured: the rotation window --------------------------
    async with Running(service, lambda url: next_version(service.settings, url, keep_old=True)) as rotating:
        v2 = rotating.vault
        assert v2.hash(e164(ANDROID_OPTED_OUT)) != v1.hash(e164(ANDROID_OPTED_OUT))
        # Nothing rewritten yet, and still the opt-out holds: found by the version-1 hash.
        reply = await setup(rotating, ANDROID_OPTED_OUT)
        assert (reply["lettering"], reply["reason"]) == ("suppressed", "opted_out")

        # The rotation, interrupted after its second batch, then resumed.
        seen: list[tuple[str, int, int]] = []

        def interrupting(step: str, done: int, total: int) -> None:
            seen.append((step, done, total))
            if len([s for s in seen if s[1]]) == 2:
                raise Interrupt

        with pytest.raises(Interrupt):
            await keyring_service.rotate(service.sessions, v2, batch=1, progress=interrupting)
        halfway = await keyring_service.status(service.sessions, v2)
        assert not halfway.done
        assert 1 in halfway.old_versions_in_use
        report = await keyring_service.rotate(service.sessions, v2, batch=2)
        # Two of the three register rows were done before the interruption; the rest now.
        # Queued: the iPhone's identity notice and the two opt-out result notices.
        assert report.resealed == {"citizen_number": 1, "call_record": 1, "kakao_message": 3}
        assert report.secrets == {"webhook_pbx": 2}  # the two signed PBXs (the others use tokens)
        assert report.reindexed["optout_state"] == 2
        assert report.reindexed["carrier_route"] == routes_v1
        finished = await keyring_service.status(service.sessions, v2)
        assert finished.done, finished
        assert finished.sealed["webhook_pbx"] == {2: 2}

    # Every row is under version 2 now, and the hash-only tables moved with it.
    new_hashes = {v2.hash(e164(n)) for n in EVERYONE}
    old_hashes = {v1.hash(e164(n)) for n in EVERYONE}
    assert await count_where(service, CallRecord, CallRecord.callee_key_version == 1) == 0  # type: ignore[arg-type]
    assert await count_where(service, KakaoMessage, KakaoMessage.recipient_hash.in_(old_hashes)) == 0  # type: ignore[attr-defined]
    for model in (CarrierRoute, OptoutState, OptoutHistory, CitizenNumber):
        assert await count_where(service, model, model.callee_hash.in_(old_hashes)) == 0, model  # type: ignore[attr-defined]
    assert await count_where(service, CallRecord, CallRecord.callee_hash.in_(old_hashes)) == 0  # type: ignore[union-attr]
    assert await count_where(service, CarrierRoute, CarrierRoute.callee_hash.in_(new_hashes)) == routes_v1  # type: ignore[attr-defined]
    assert await count_where(service, PhoneHashAlias) >= 4
    signed_v1 = (WebhookPbx.secret_key_version == 1, WebhookPbx.secret_sealed.is_not(None))  # type: ignore[union-attr]
    assert await count_where(service, WebhookPbx, *signed_v1) == 0

    # -- version 2 alone: the old key is gone from the configuration ------------------------------
    relay_on = KakaoSettings(
        agencies=service.settings.kakao.agencies,
        send_from="00:00",
        send_until="24:00",
        relay_interval_s=0.1,
        result_poll_base_s=0.2,
        retry_base_s=0.1,
    )
    retired = Running(
        service, lambda url: next_version(service.settings, url, keep_old=False, kakao=relay_on)
    )
    async with retired as after:
        assert after.vault.versions == (2,)
        # The signed webhook still verifies (its secret was re-sealed), the opt-out still holds.
        reply = await setup(after, ANDROID_OPTED_OUT)
        assert (reply["lettering"], reply["reason"]) == ("suppressed", "opted_out")
        # A promo opt-out shows the identity; the learned routes (re-indexed) take the first try.
        for citizen in (ANDROID_PROMO, ANDROID_REGISTER):
            reply = await setup(after, citizen)
            assert reply["lettering"] == "accepted"
            async with service.sessions() as session:
                route = await session.get(CarrierRoute, v2.hash(e164(citizen)))
            assert route is not None
            assert reply["carrier"] == route.carrier
            record = await after.call(reply["call_id"])
            assert len(await after.attempts(record.id or 0)) == 1

        # The AlimTalk queued under version 1 is sent under version 2.
        iphone_hash = v2.hash(e164(IPHONE_PENDING))

        async def delivered() -> bool:
            async with service.sessions() as session:
                query = select(KakaoMessage.status).where(KakaoMessage.recipient_hash == iphone_hash)  # type: ignore[call-overload]
                status = (await session.execute(query)).scalar_one()
            return bool(status in ("accepted", "delivered"))

        await wait_for(delivered)

        # The link signed before the rotation still opens the page and changes the choice.
        page = await after.client.get(old_link)
        assert page.status_code == 200
        assert "010-****-4561" in page.text  # from the register, re-encrypted under version 2
        assert (await choose(after, old_link, "none")).status_code == 200
        async with service.sessions() as session:
            state = (
                await session.execute(
                    select(OptoutState).where(OptoutState.callee_hash == v2.hash(e164(ANDROID_OPTED_OUT)))  # type: ignore[arg-type]
                )
            ).scalar_one()
        assert state.scope == "none"

        async def lettered_again() -> bool:
            return (await setup(after, ANDROID_OPTED_OUT))["lettering"] == "accepted"

        await wait_for(lettered_again, timeout_s=5)
