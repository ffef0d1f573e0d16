"""Re-indexing meets rows the running service already wrote under the new hash: they are merged
by each table's rule, on each database, and the rotation can be interrupted and resumed."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaigns.models import Campaign, CampaignImpression
from carriers.models import CarrierRoute
from lettering.core.db import session_scope, utcnow
from lettering.core.phone import PhoneVault
from lettering.keyring import service as keyring_service
from lettering.optout.models import CitizenNumber, OptoutHistory, OptoutState
from lettering.users import service as user_service
from tests.factories import random_key, seed_directory

pytestmark = pytest.mark.integration

NUMBER = "+821004561234"
OTHER = "+821004561235"


@pytest.fixture
def vaults() -> tuple[PhoneVault, PhoneVault]:
    old_hash, old_enc = random_key(), random_key()
    rotated = PhoneVault(random_key(), random_key(), 2, {1: (old_hash, old_enc)})
    return PhoneVault(old_hash, old_enc, 1), rotated


async def test_reindex_merges_by_each_tables_rule(
    sessions: async_sessionmaker[AsyncSession], vaults: tuple[PhoneVault, PhoneVault]
) -> None:
    v1, v2 = vaults
    agencies = await seed_directory(sessions)
    hanbit, pureun = agencies["HANBIT"], agencies["PUREUN"]
    now = utcnow()
    earlier, later = now - timedelta(hours=2), now - timedelta(hours=1)
    old, new = v1.seal(NUMBER), v2.seal(NUMBER)
    other_old = v1.seal(OTHER)
    today = date.today()
    async with session_scope(sessions) as session:
        author = await user_service.create_user(
            session, "author@hanbit.go.kr", "작성자", "correct horse battery", "approver", "HANBIT"
        )
        campaign = Campaign(
            agency_id=hanbit,
            title="캠페인",
            state="approved",
            slug="merge-test",
            starts_on=today,
            ends_on=today,
            post_call_card_news=False,
            created_by=author.id,
        )
        session.add(campaign)
        await session.flush()
        assert campaign.id is not None
        # The register: the older copy under v1, a newer one the service wrote under v2.
        session.add(
            CitizenNumber(
                callee_hash=old.hash_hex,
                ciphertext=old.ciphertext,
                key_version=1,
                agency_id=hanbit,
                last_contact_at=earlier,
            )
        )
        session.add(
            CitizenNumber(
                callee_hash=new.hash_hex,
                ciphertext=new.ciphertext,
                key_version=2,
                agency_id=pureun,
                last_contact_at=later,
            )
        )
        session.add(
            CitizenNumber(
                callee_hash=other_old.hash_hex,
                ciphertext=other_old.ciphertext,
                key_version=1,
                agency_id=hanbit,
                last_contact_at=earlier,
            )
        )
        # Opt-outs: HANBIT chosen twice (the later word wins), PUREUN only under v1 (moves).
        session.add(OptoutState(callee_hash=old.hash_hex, agency_id=hanbit, scope="all", updated_at=earlier))
        session.add(OptoutState(callee_hash=new.hash_hex, agency_id=hanbit, scope="promo", updated_at=later))
        session.add(OptoutState(callee_hash=old.hash_hex, agency_id=pureun, scope="all", updated_at=earlier))
        session.add(
            OptoutHistory(
                callee_hash=old.hash_hex,
                agency_id=hanbit,
                from_scope="none",
                to_scope="all",
                via="link",
                created_at=earlier,
            )
        )
        # Learned routes: the v1 row is the newer knowledge here.
        session.add(
            CarrierRoute(
                callee_hash=old.hash_hex, carrier="kt", learned_at=later, expires_at=now + timedelta(days=30)
            )
        )
        session.add(
            CarrierRoute(
                callee_hash=new.hash_hex,
                carrier="skt",
                learned_at=earlier,
                expires_at=now + timedelta(days=30),
            )
        )
        # Caps: today's impressions under both hashes add up.
        session.add(CampaignImpression(campaign_id=campaign.id, callee_hash=old.hash_hex, day=today, count=2))
        session.add(CampaignImpression(campaign_id=campaign.id, callee_hash=new.hash_hex, day=today, count=1))

    steps: list[str] = []

    def stop_in_the_middle(step: str, done: int, total: int) -> None:
        steps.append(step)
        if done == 1 and step == "re-encrypt citizen_number":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await keyring_service.rotate(sessions, v2, batch=1, progress=stop_in_the_middle)
    assert not (await keyring_service.status(sessions, v2)).done
    report = await keyring_service.rotate(sessions, v2, batch=1)
    assert (await keyring_service.status(sessions, v2)).done

    async with sessions() as session:
        register = {r.callee_hash: r for r in (await session.execute(select(CitizenNumber))).scalars()}
        states = {
            (r.callee_hash, r.agency_id): r.scope
            for r in (await session.execute(select(OptoutState))).scalars()
        }
        history = list((await session.execute(select(OptoutHistory.callee_hash))).scalars())  # type: ignore[call-overload]
        routes = {r.callee_hash: r.carrier for r in (await session.execute(select(CarrierRoute))).scalars()}
        impressions = [
            (r.callee_hash, r.count) for r in (await session.execute(select(CampaignImpression))).scalars()
        ]
    other_new = v2.hash(OTHER)
    assert set(register) == {new.hash_hex, other_new}
    assert register[new.hash_hex].agency_id == pureun  # the newer copy won
    assert v2.open(register[other_new].ciphertext, register[other_new].key_version) == OTHER
    assert register[other_new].key_version == 2
    assert states == {(new.hash_hex, hanbit): "promo", (new.hash_hex, pureun): "all"}
    assert history == [new.hash_hex]
    assert routes == {new.hash_hex: "kt"}
    assert impressions == [(new.hash_hex, 3)]
    assert report.merged["optout_state"] == 1
    assert report.merged["carrier_route"] == 1
    assert report.merged["campaign_impression"] == 1
    # The old link's hash still finds the citizen.
    async with sessions() as session:
        assert await keyring_service.current_hash(session, old.hash_hex) == new.hash_hex


async def test_a_missing_key_version_stops_the_rotation_with_a_clear_message(
    sessions: async_sessionmaker[AsyncSession], vaults: tuple[PhoneVault, PhoneVault]
) -> None:
    v1, _ = vaults
    sealed = v1.seal(NUMBER)
    async with session_scope(sessions) as session:
        session.add(
            CitizenNumber(
                callee_hash=sealed.hash_hex,
                ciphertext=sealed.ciphertext,
                key_version=1,
                last_contact_at=utcnow(),
            )
        )
    without_v1 = PhoneVault(random_key(), random_key(), 2)
    with pytest.raises(keyring_service.RotationError, match="key version 1, which is not configured"):
        await keyring_service.rotate(sessions, without_v1)
    wrong_v1 = PhoneVault(random_key(), random_key(), 2, {1: (random_key(), random_key())})
    with pytest.raises(keyring_service.RotationError, match="does not open it") as refused:
        await keyring_service.rotate(sessions, wrong_v1)
    assert "4561234" not in str(refused.value)  # rows and versions are named, never the number
    async with sessions() as session:
        row = (await session.execute(select(CitizenNumber))).scalar_one()
    assert (row.key_version, row.callee_hash) == (1, sealed.hash_hex)  # untouched


async def test_a_hash_only_opt_out_keeps_the_old_key_needed(
    sessions: async_sessionmaker[AsyncSession], vaults: tuple[PhoneVault, PhoneVault]
) -> None:
    """An opt-out whose number nobody keeps cannot be re-indexed: status never calls that done."""
    v1, v2 = vaults
    agencies = await seed_directory(sessions)
    async with session_scope(sessions) as session:
        session.add(OptoutState(callee_hash=v1.hash(OTHER), agency_id=agencies["HANBIT"], scope="all"))
    await keyring_service.rotate(sessions, v2)
    state = await keyring_service.status(sessions, v2)
    assert state.optouts_by_hash_only == 1
    assert not state.done  # version 1 must stay configured: its hash key still finds that opt-out
    v2_alone = PhoneVault(random_key(), random_key(), 2)
    assert (await keyring_service.status(sessions, v2_alone)).optouts_by_hash_only == 1


async def test_a_change_during_the_key_window_applies_to_the_choice_in_force(
    sessions: async_sessionmaker[AsyncSession], vaults: tuple[PhoneVault, PhoneVault]
) -> None:
    """Opted out under the old hash; an admin opts the citizen back in after the keys switched."""
    from lettering.optout import service as optout_service

    v1, v2 = vaults
    agencies = await seed_directory(sessions)
    hanbit = agencies["HANBIT"]
    async with session_scope(sessions) as session:
        session.add(OptoutState(callee_hash=v1.hash(NUMBER), agency_id=hanbit, scope="all"))
    async with session_scope(sessions) as session:
        result = await optout_service.apply_change(
            session,
            v2,
            subject=optout_service.OptoutSubject(v2.hash(NUMBER), hanbit),
            to_scope="none",
            via="admin",
            now=utcnow(),
            admin_id=1,
            number_e164=NUMBER,
            reason="전화 요청",
        )
    assert (result.change.from_scope, result.change.to_scope) == ("all", "none")
    async with sessions() as session:
        states = [(r.callee_hash, r.scope) for r in (await session.execute(select(OptoutState))).scalars()]
        history = [
            (r.callee_hash, r.to_scope) for r in (await session.execute(select(OptoutHistory))).scalars()
        ]
        assert await keyring_service.current_hash(session, v1.hash(NUMBER)) == v2.hash(NUMBER)
    assert states == [(v2.hash(NUMBER), "none")]
    assert history == [(v2.hash(NUMBER), "none")]


async def test_a_change_to_what_is_already_in_force_leaves_no_row(
    sessions: async_sessionmaker[AsyncSession], vaults: tuple[PhoneVault, PhoneVault]
) -> None:
    from lettering.optout import service as optout_service

    _, v2 = vaults
    agencies = await seed_directory(sessions)
    async with session_scope(sessions) as session:
        change = await optout_service.change_optout(
            session,
            callee_hash=v2.hash(NUMBER),
            agency_id=agencies["HANBIT"],
            to_scope="none",
            via="link",
            now=utcnow(),
        )
    assert not change.changed
    async with sessions() as session:
        assert list((await session.execute(select(OptoutState))).scalars()) == []


async def test_a_row_written_meanwhile_stops_the_batch_cleanly_and_a_rerun_finishes(
    sessions: async_sessionmaker[AsyncSession],
    vaults: tuple[PhoneVault, PhoneVault],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sqlalchemy.exc import IntegrityError

    v1, v2 = vaults
    agencies = await seed_directory(sessions)
    async with session_scope(sessions) as session:
        sealed = v1.seal(NUMBER)
        session.add(
            CitizenNumber(
                callee_hash=sealed.hash_hex,
                ciphertext=sealed.ciphertext,
                key_version=1,
                last_contact_at=utcnow(),
            )
        )
        session.add(OptoutState(callee_hash=sealed.hash_hex, agency_id=agencies["HANBIT"], scope="all"))
    original = keyring_service._reindex_table

    async def collide_once(*args, **kwargs):  # type: ignore[no-untyped-def]
        monkeypatch.setattr(keyring_service, "_reindex_table", original)
        raise IntegrityError("UPDATE optout_state", {}, Exception("unique constraint"))

    monkeypatch.setattr(keyring_service, "_reindex_table", collide_once)
    with pytest.raises(keyring_service.RotationError, match="run `lettering keys rotate` again"):
        await keyring_service.rotate(sessions, v2)
    await keyring_service.rotate(sessions, v2)
    assert (await keyring_service.status(sessions, v2)).done
    async with sessions() as session:
        state = (await session.execute(select(OptoutState))).scalar_one()
    assert (state.callee_hash, state.scope) == (v2.hash(NUMBER), "all")
