"""The campaign sweeps on a real database (both backends): files of long-ended campaigns go,
files another campaign still shows stay, and pending renditions follow the carrier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaigns import jobs, repository
from campaigns import service as campaign_service
from campaigns.models import Campaign, CampaignImage, CampaignRendition
from carriers.base import CarrierAdapter, ContentStatus
from lettering.core.db import session_scope, utcnow
from lettering.directory.models import DirectoryAgency
from lettering.users.models import UserAccount

pytestmark = pytest.mark.integration


@dataclass
class FakeStore:
    files: dict[str, bytes] = field(default_factory=dict)

    def get(self, sha256: str) -> bytes:
        return self.files[sha256]

    def delete(self, sha256: str) -> bool:
        return self.files.pop(sha256, None) is not None


class FakeCarrier:
    def __init__(self) -> None:
        self.registered: list[str] = []

    async def register_content(self, data: bytes, mime_type: str, name: str) -> str | None:
        self.registered.append(name)
        return "ref-1"

    async def content_status(self, ref: str) -> ContentStatus:
        return ContentStatus.approved


async def seed(session: AsyncSession) -> tuple[int, int]:
    agency = DirectoryAgency(code="HANBIT", name="한빛특례시", default_guidance="안내")
    session.add(agency)
    await session.flush()
    assert agency.id is not None
    user = UserAccount(
        email="a@example.kr", display_name="a", password_hash="x", role="approver", agency_id=agency.id
    )
    session.add(user)
    await session.flush()
    assert user.id is not None
    return agency.id, user.id


def campaign(agency_id: int, user_id: int, slug: str, **changes: object) -> Campaign:
    return Campaign.model_validate(
        {
            "agency_id": agency_id,
            "title": slug,
            "slug": slug,
            "starts_on": date(2026, 1, 1),
            "ends_on": date(2026, 1, 31),
            "created_by": user_id,
            **changes,
        }
    )


def image(campaign_id: int, clean: str, original: str, position: int = 0) -> CampaignImage:
    return CampaignImage(
        campaign_id=campaign_id,
        position=position,
        alt_text="포스터",
        original_sha256=original,
        clean_sha256=clean,
        mime_type="image/jpeg",
        width=720,
        height=1280,
    )


def rendition(clean: str, sha: str, carrier: str = "skt") -> CampaignRendition:
    return CampaignRendition(
        clean_sha256=clean,
        carrier=carrier,
        sha256=sha,
        mime_type="image/jpeg",
        width=720,
        height=1280,
        byte_size=3,
    )


async def test_files_of_long_ended_campaigns_are_deleted_unless_still_shown(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    long_ago = utcnow() - timedelta(days=120)
    async with session_scope(sessions) as session:
        agency_id, user_id = await seed(session)
        old = campaign(agency_id, user_id, "old", state="ended", ended_at=long_ago)
        recent = campaign(agency_id, user_id, "recent", state="ended", ended_at=utcnow())
        live = campaign(agency_id, user_id, "live", state="approved")
        session.add_all([old, recent, live])
        await session.flush()
        assert old.id is not None
        assert recent.id is not None
        assert live.id is not None
        session.add_all(
            [
                image(old.id, "c-old", "o-old"),
                image(old.id, "c-shared", "o-shared-old", position=1),
                image(live.id, "c-shared", "o-shared-live"),
                image(recent.id, "c-recent", "o-recent"),
                rendition("c-old", "r-old"),
                rendition("c-shared", "r-shared"),  # the live campaign's carrier rendition
                rendition("c-recent", "r-recent"),
            ]
        )
    names = (
        "c-old",
        "o-old",
        "r-old",
        "c-shared",
        "r-shared",
        "o-shared-old",
        "o-shared-live",
        "c-recent",
        "o-recent",
        "r-recent",
    )
    store = FakeStore(dict.fromkeys(names, b"x"))
    assert await jobs.expire_ended_files(sessions, store, retention_days=90) == 3
    assert sorted(store.files) == sorted(set(names) - {"c-old", "o-old", "r-old"})
    assert await jobs.expire_ended_files(sessions, store, retention_days=90) == 0  # idempotent


async def test_nothing_ended_long_ago_deletes_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    store = FakeStore({"a": b"x"})
    assert await jobs.expire_ended_files(sessions, store, retention_days=90) == 0
    assert store.files == {"a": b"x"}


async def test_pending_renditions_are_registered_then_follow_the_carrier(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with session_scope(sessions) as session:
        session.add(rendition("c-1", "r-1"))
    carrier = FakeCarrier()
    adapters: Mapping[str, CarrierAdapter] = {"skt": carrier}  # type: ignore[dict-item]
    store = FakeStore({"r-1": b"jpeg"})
    assert await jobs.sync_carrier_content(sessions, adapters, store) == 0  # registered, not decided
    assert carrier.registered == ["r-1.jpg"]
    assert await jobs.sync_carrier_content(sessions, adapters, store) == 1  # the carrier approved
    async with sessions() as session:
        row = await session.get(CampaignRendition, 1)
        assert row is not None
        assert (row.carrier_ref, row.carrier_status) == ("ref-1", "approved")
    assert await jobs.sync_carrier_content(sessions, adapters, store) == 0  # nothing pending any more


async def test_content_a_carrier_refused_is_registered_again(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with session_scope(sessions) as session:
        approved = rendition("c-1", "r-1")
        approved.carrier_ref, approved.carrier_status = "c_old", "approved"
        other = rendition("c-2", "r-2", carrier="kt")
        other.carrier_ref, other.carrier_status = "c_old", "approved"  # the same ref at another carrier
        session.add_all([approved, other])
    async with session_scope(sessions) as session:
        marked = await session.run_sync(
            lambda s: campaign_service.mark_content_refused(s.connection(), "skt", "c_old")
        )
        again = await session.run_sync(
            lambda s: campaign_service.mark_content_refused(s.connection(), "skt", "c_old")
        )
    assert (marked, again) == (1, 0)  # idempotent: a second refusal of the old ref changes nothing
    async with sessions() as session:
        rows = {r.carrier: r for r in await repository.renditions_for(session, ["c-1", "c-2"])}
    assert (rows["skt"].carrier_ref, rows["skt"].carrier_status) == (None, "pending")
    assert "refused at push time" in (rows["skt"].carrier_reason or "")
    assert (rows["kt"].carrier_ref, rows["kt"].carrier_status) == ("c_old", "approved")
    carrier = FakeCarrier()
    adapters: Mapping[str, CarrierAdapter] = {"skt": carrier}  # type: ignore[dict-item]
    await jobs.sync_carrier_content(sessions, adapters, FakeStore({"r-1": b"jpeg"}))
    assert carrier.registered == ["r-1.jpg"]
